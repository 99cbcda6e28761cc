"""The per-unit response within the tuning subspace: model, SSRF maps, tuning curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData
from hdmf.utils import docval, get_docval, popargs_to_dict
from pynwb import register_class

from ._namespace import _KW, _TABLE_ARGS, NAMESPACE
from .columns import _describe, _UnitRowsMixin, checked_row, ragged_column
from .models import EncodingModel

#: Columns of the 2-D maps, left out of a table none of whose units has two dimensions
#: (empty columns of shape (0, 2) or (0, m, m) trip readers such as nwbinspector's checks).
_MAP_COLUMNS = ("ssrf_pairs", "ssrf_mean", "ssrf_count")


@register_class("SubspaceNonlinearityTable", NAMESPACE)
class SubspaceNonlinearityTable(_UnitRowsMixin, DynamicTable):
    """Per-unit response in the subspace: model, SSRF maps, tuning curves, asymmetry."""

    __fields__ = ("min_count", "parameters")
    __columns__ = (
        {"name": "units", "description": "The unit of each row.", "required": True,
         "table": True},
        {"name": "model", "description": "Fitted subspace nonlinearity model.",
         "required": False},
        {"name": "dimension_sign", "description": "Sign of each dimension.",
         "required": True, "index": True},
        {"name": "asymmetry_index", "description": "Asymmetry index per dimension.",
         "required": True, "index": True},
        {"name": "tuning_bin_edges", "description": "1-D bin edges per dimension.",
         "required": True, "index": True},
        {"name": "tuning_mean", "description": "1-D mean response per bin.",
         "required": True, "index": True},
        {"name": "tuning_sem", "description": "1-D standard error per bin.",
         "required": True, "index": True},
        {"name": "tuning_count", "description": "1-D samples per bin.",
         "required": True, "index": True},
        {"name": "ssrf_bin_edges", "description": "SSRF bin edges per dimension.",
         "required": True, "index": True},
        {"name": "ssrf_pairs", "description": "Dimensions of each SSRF map.",
         "required": False, "index": True},
        {"name": "ssrf_mean", "description": "SSRF mean response per bin.",
         "required": False, "index": True},
        {"name": "ssrf_count", "description": "SSRF samples per bin.",
         "required": False, "index": True},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.",
             "default": "subspace_nonlinearities"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Response of each unit within its tuning subspace."},
            {"name": "min_count", "type": int, "doc": "Bins with fewer samples are masked."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS),
            {"name": "parameters", "type": str, "doc": "JSON parameters.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(("min_count", "parameters"), kwargs)
        super().__init__(**kwargs)
        self.min_count = int(own["min_count"])
        self.parameters = own["parameters"]

    @classmethod
    def from_arrays(
        cls,
        *,
        units: DynamicTable,
        unit_rows: Sequence[int],
        min_count: int,
        dimension_sign: Sequence[np.ndarray],
        asymmetry_index: Sequence[np.ndarray],
        tuning_bin_edges: Sequence[np.ndarray],
        tuning_mean: Sequence[np.ndarray],
        tuning_sem: Sequence[np.ndarray],
        tuning_count: Sequence[np.ndarray],
        ssrf_bin_edges: Sequence[np.ndarray],
        ssrf_pairs: Sequence[np.ndarray],
        ssrf_mean: Sequence[np.ndarray],
        ssrf_count: Sequence[np.ndarray],
        models: Sequence[EncodingModel] | None = None,
        **kwargs: Any,
    ) -> SubspaceNonlinearityTable:
        """Build the table from one entry per unit (``k_i`` dimensions, ``p_i`` maps).

        Parameters
        ----------
        units : DynamicTable
            The file's Units table.
        unit_rows : sequence of int
            Units table row of each unit.
        min_count : int
            Bins with fewer samples are masked (NaN) in the means.
        dimension_sign, asymmetry_index : sequence of ndarray (k_i,)
            Per-dimension sign and asymmetry index.
        tuning_bin_edges : sequence of ndarray (k_i, n + 1)
        tuning_mean, tuning_sem, tuning_count : sequence of ndarray (k_i, n)
            1-D tuning curves along each dimension.
        ssrf_bin_edges : sequence of ndarray (k_i, m + 1)
        ssrf_pairs : sequence of ndarray (p_i, 2)
        ssrf_mean, ssrf_count : sequence of ndarray (p_i, m, m)
            2-D SSRF maps of each pair of dimensions.
        models : sequence of EncodingModel, optional
            Each unit's fitted nonlinearity, stored elsewhere in the file.
        **kwargs
            Passed to the constructor (name, description, parameters).
        """
        columns: list[VectorData] = [
            DynamicTableRegion(name="units", description="The unit of each row.",
                               data=np.asarray(unit_rows, dtype=np.int64), table=units),
        ]
        if models is not None:
            columns.append(VectorData(name="model", description=_describe(cls, "model"),
                                      data=list(models)))
        ragged = (("dimension_sign", dimension_sign, np.int8),
                  ("asymmetry_index", asymmetry_index, np.float64),
                  ("tuning_bin_edges", tuning_bin_edges, np.float64),
                  ("tuning_mean", tuning_mean, np.float64),
                  ("tuning_sem", tuning_sem, np.float64),
                  ("tuning_count", tuning_count, np.int64),
                  ("ssrf_bin_edges", ssrf_bin_edges, np.float64),
                  ("ssrf_pairs", ssrf_pairs, np.int32),
                  ("ssrf_mean", ssrf_mean, np.float64),
                  ("ssrf_count", ssrf_count, np.int64))
        n_bins = next((np.shape(e)[1] - 1 for e in ssrf_bin_edges if np.size(e)), 0)
        shapes = {"ssrf_pairs": (2,), "ssrf_mean": (n_bins, n_bins),
                  "ssrf_count": (n_bins, n_bins)}
        no_maps = all(np.size(p) == 0 for p in ssrf_pairs)
        for name, arrays, dtype in ragged:
            if len(arrays) != len(unit_rows):
                raise ValueError(f"{cls.__name__}: {name} has {len(arrays)} rows, "
                                 f"expected {len(unit_rows)}")
            if no_maps and name in _MAP_COLUMNS:
                continue
            columns.extend(ragged_column(name, _describe(cls, name), arrays, dtype,
                                         shapes.get(name)))
        return cls(columns=columns, min_count=min_count, **kwargs)

    def get_model(self, row: int) -> EncodingModel | None:
        """The subspace nonlinearity model of ``row``, or None without a model column."""
        row = checked_row(row, len(self), f"table {self.name!r}")  # refused with or without models
        if "model" not in self.colnames:
            return None
        return self["model"][row]

    def get_dimension_sign(self, row: int) -> np.ndarray:
        """Sign (+1/-1) of each subspace dimension, shape (k_i,)."""
        return self._ragged("dimension_sign", row)

    def get_asymmetry_index(self, row: int) -> np.ndarray:
        """Asymmetry index of each dimension, shape (k_i,)."""
        return self._ragged("asymmetry_index", row)

    def get_tuning_curves(self, row: int) -> dict[str, np.ndarray]:
        """1-D tuning curves: edges (k_i, n+1), mean, sem and count (k_i, n)."""
        return {key: self._ragged(f"tuning_{key}", row)
                for key in ("bin_edges", "mean", "sem", "count")}

    def get_ssrf(self, row: int) -> dict[str, np.ndarray]:
        """SSRF maps: bin_edges (k_i, m+1), pairs (p_i, 2), mean and count (p_i, m, m);
        no map (``p_i = 0``) in a table written without the map columns."""
        edges = self._ragged("ssrf_bin_edges", row)
        if "ssrf_pairs" in self.colnames:
            maps = {key: self._ragged(f"ssrf_{key}", row) for key in ("pairs", "mean", "count")}
        else:
            m = max(np.shape(edges)[-1] - 1, 0) if np.ndim(edges) == 2 else 0
            maps = {"pairs": np.zeros((0, 2), np.int32), "mean": np.zeros((0, m, m)),
                    "count": np.zeros((0, m, m), np.int64)}
        return {"bin_edges": edges, **maps}
