"""The per-unit tuning subspace table: filters, variance fractions, k, mean dSTRF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData
from hdmf.utils import docval, get_docval, popargs_to_dict
from pynwb import register_class

from ._namespace import _KW, _TABLE_ARGS, NAMESPACE
from .columns import _describe, _UnitRowsMixin, ragged_column
from .models import EncodingModels


@register_class("TuningSubspaceTable", NAMESPACE)
class TuningSubspaceTable(_UnitRowsMixin, DynamicTable):
    """Per-unit tuning subspace: ragged filters [k_i, F, D], variances, k, mean dSTRF."""

    __fields__ = ("parameters", "source_models")
    __columns__ = (
        {"name": "units", "description": "The unit of each row.", "required": True,
         "table": True},
        {"name": "filters", "description": "Subspace filters, frequency x lag.",
         "required": True, "index": True},
        {"name": "explained_variance", "description": "Variance fraction of every component.",
         "required": True, "index": True},
        {"name": "noise_floor_variance", "description": "Shuffled variance fractions.",
         "required": True, "index": True},
        {"name": "k", "description": "Subspace dimension.", "required": True},
        {"name": "threshold", "description": "Threshold that chose k.", "required": True},
        {"name": "mean_dstrf", "description": "Mean dSTRF, frequency x lag.", "required": True},
        {"name": "n_samples", "description": "dSTRF samples used.", "required": False},
        {"name": "n_outliers", "description": "dSTRF samples dropped.", "required": False},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.",
             "default": "tuning_subspaces"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Tuning subspace of each unit from its dynamic STRFs."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS),
            {"name": "parameters", "type": str, "doc": "JSON parameters.", "default": None},
            {"name": "source_models", "type": EncodingModels,
             "doc": "Models whose gradients gave the dSTRFs.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(("parameters", "source_models"), kwargs)
        super().__init__(**kwargs)
        for key, value in own.items():
            setattr(self, key, value)

    @classmethod
    def from_arrays(
        cls,
        *,
        units: DynamicTable,
        unit_rows: Sequence[int],
        filters: Sequence[np.ndarray],
        explained_variance: Sequence[np.ndarray],
        noise_floor_variance: Sequence[np.ndarray],
        threshold: Sequence[float],
        mean_dstrf: np.ndarray,
        n_samples: Sequence[int] | None = None,
        n_outliers: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> TuningSubspaceTable:
        """Build the table from one entry per unit.

        Parameters
        ----------
        units : DynamicTable
            The file's Units table.
        unit_rows : sequence of int
            Units table row of each unit.
        filters : sequence of ndarray (k_i, F, D)
            Subspace filters of each unit; ``k`` is taken from their count.
        explained_variance, noise_floor_variance : sequence of ndarray (n_i,)
            Per-component variance fractions of each unit and their noise floor.
        threshold : sequence of float
            Threshold that chose each unit's k.
        mean_dstrf : ndarray (units, F, D)
            Mean dSTRF of each unit.
        n_samples, n_outliers : sequence of int, optional
            dSTRF samples used and dropped per unit.
        **kwargs
            Passed to the constructor (name, description, parameters, source_models).
        """
        n = len(unit_rows)
        columns: list[VectorData] = [
            DynamicTableRegion(name="units", description="The unit of each row.",
                               data=np.asarray(unit_rows, dtype=np.int64), table=units),
        ]
        for name, arrays, dtype in (("filters", filters, np.float32),
                                    ("explained_variance", explained_variance, np.float64),
                                    ("noise_floor_variance", noise_floor_variance, np.float64)):
            columns.extend(ragged_column(name, _describe(cls, name), arrays, dtype))
        fixed = {"k": np.array([len(f) for f in filters], dtype=np.int32),
                 "threshold": np.asarray(threshold, dtype=np.float64),
                 "mean_dstrf": np.asarray(mean_dstrf, dtype=np.float32)}
        if n_samples is not None:
            fixed["n_samples"] = np.asarray(n_samples, dtype=np.int64)
        if n_outliers is not None:
            fixed["n_outliers"] = np.asarray(n_outliers, dtype=np.int64)
        for name, data in fixed.items():
            if len(data) != n:
                raise ValueError(f"{cls.__name__}: {name} has {len(data)} rows, expected {n}")
            columns.append(VectorData(name=name, description=_describe(cls, name), data=data))
        return cls(columns=columns, **kwargs)

    def get_filters(self, row: int) -> np.ndarray:
        """Filters of table row ``row``, shape (k_i, frequency, lag)."""
        return self._ragged("filters", row)

    def get_explained_variance(self, row: int) -> np.ndarray:
        """Explained-variance fraction of every component computed for ``row``."""
        return self._ragged("explained_variance", row)

    def get_noise_floor_variance(self, row: int) -> np.ndarray:
        """Noise-floor variance fraction of every component for ``row``."""
        return self._ragged("noise_floor_variance", row)

    def get_mean_dstrf(self, row: int) -> np.ndarray:
        """Mean dSTRF of ``row``, shape (frequency, lag)."""
        return self._fixed("mean_dstrf", row)
