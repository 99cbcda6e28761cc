"""The site's shared subspace, its tiling by the units and their subspace similarity."""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.common import DynamicTableRegion
from hdmf.utils import docval, popargs_to_dict
from pynwb import register_class
from pynwb.core import NWBDataInterface

from ._namespace import _KW, NAMESPACE
from .columns import checked_row


@register_class("SiteSubspace", NAMESPACE)
class SiteSubspace(NWBDataInterface):
    """Shared site subspace, tiling (region sizes, overlaps) and subspace similarity."""

    _ARRAYS = ("filters", "explained_variance", "mean_dstrf", "response_region_size",
               "region_overlap", "subspace_similarity", "response_regions", "tiling_bin_edges")
    __nwbfields__ = ("description", "similarity_measure", "parameters", *_ARRAYS,
                     {"name": "units", "child": True, "required_name": "units"})

    @docval({"name": "name", "type": str, "doc": "Name.", "default": "site_subspace"},
            {"name": "description", "type": str, "doc": "Description of the analysis."},
            {"name": "units", "type": DynamicTableRegion,
             "doc": "Units of the site, in the order of the per-unit arrays (named 'units')."},
            {"name": "filters", "type": "array_data", "doc": "Shared filters [n, F, D].",
             "shape": (None, None, None)},
            {"name": "explained_variance", "type": "array_data",
             "doc": "Variance fraction per component.", "shape": (None,)},
            {"name": "mean_dstrf", "type": "array_data", "doc": "Mean pooled dSTRF [F, D].",
             "shape": (None, None), "default": None},
            {"name": "response_region_size", "type": "array_data",
             "doc": "Response-region fraction of the volume per unit.", "shape": (None,),
             "default": None},
            {"name": "region_overlap", "type": "array_data",
             "doc": "Pairwise region overlap [units, units].", "shape": (None, None),
             "default": None},
            {"name": "subspace_similarity", "type": "array_data",
             "doc": "Pairwise subspace similarity [units, units].", "shape": (None, None),
             "default": None},
            {"name": "response_regions", "type": "array_data",
             "doc": "Region of each unit on the grid [units, x, y, z].",
             "shape": (None, None, None, None), "default": None},
            {"name": "tiling_bin_edges", "type": "array_data",
             "doc": "Grid edges per dimension.", "shape": (None, None), "default": None},
            {"name": "similarity_measure", "type": str, "doc": "How similarity was computed.",
             "default": None},
            {"name": "parameters", "type": str, "doc": "JSON parameters.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(("description", "units", "similarity_measure", "parameters",
                               *self._ARRAYS), kwargs)
        super().__init__(**kwargs)
        for key, value in own.items():
            setattr(self, key, value)

    def unit_rows(self) -> np.ndarray:
        """Units table row of each unit of the site, shape (units,)."""
        return np.asarray(self.units.data[:], dtype=np.int64)

    def _array(self, field: str, row: int | None = None) -> np.ndarray:
        value = getattr(self, field)
        if value is None:
            raise AttributeError(f"site subspace {self.name!r} has no {field!r}")
        if row is None:
            return np.asarray(value[:])
        return np.asarray(value[checked_row(row, len(value), f"site subspace {self.name!r}.{field}")])

    def get_filters(self) -> np.ndarray:
        """Shared site filters, shape (n, frequency, lag)."""
        return self._array("filters")

    def get_unit_overlap(self, unit: int) -> np.ndarray:
        """Overlap of unit ``unit`` (position in ``units``) with every unit, shape (units,)."""
        return self._array("region_overlap", unit)

    def get_unit_similarity(self, unit: int) -> np.ndarray:
        """Subspace similarity of unit ``unit`` with every unit, shape (units,)."""
        return self._array("subspace_similarity", unit)

    def get_response_region(self, unit: int) -> np.ndarray:
        """Boolean response region of unit ``unit`` on the tiling grid."""
        return self._array("response_regions", unit)
