"""The per-unit tuning subspace table: filters, variance fractions, k, mean dSTRF, and
(extension version 0.2.0) k by significance, reliability and per-dimension confidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData
from hdmf.utils import docval, get_docval, popargs_to_dict
from pynwb import register_class

from ._namespace import _KW, _TABLE_ARGS, NAMESPACE
from .columns import _describe, _UnitRowsMixin, checked_row, ragged_column
from .models import EncodingModels
from .reliability import (
    DIMENSION_CONFIDENCE,
    K_SIGNIFICANT,
    RELIABILITY,
    RELIABILITY_RULE,
    RULE_UNKNOWN,
    choose_k,
    count_significant,
)


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
        {"name": "threshold", "description": "Cumulative explained-variance threshold (k by it where the "
         "parameters' subspace.k_rule is variance; else k_significant is k).", "required": True},
        {"name": "k90", "description": "Components reaching 90% of the variance.", "required": False},
        {"name": "k95", "description": "Components reaching 95% of the variance.", "required": False},
        {"name": "mean_dstrf", "description": "Mean dSTRF, frequency x lag.", "required": True},
        {"name": "n_samples", "description": "dSTRF samples used.", "required": False},
        {"name": "n_outliers", "description": "dSTRF samples dropped.", "required": False},
        {"name": K_SIGNIFICANT, "description": "Leading components above the noise floor.",
         "required": False},
        {"name": RELIABILITY, "description": "Stability of the subspace across the "
         "ensemble's members (or split halves of the samples), in [0, 1].", "required": False},
        {"name": RELIABILITY_RULE, "description": "Rule that measured the reliability.",
         "required": False},
        {"name": DIMENSION_CONFIDENCE, "description": "Confidence of every component, "
         "in [0, 1].", "required": False, "index": True},
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
        k90: Sequence[int] | None = None,
        k95: Sequence[int] | None = None,
        k_significant: Sequence[int] | None = None,
        reliability: Sequence[float] | None = None,
        reliability_rule: Sequence[str] | None = None,
        dimension_confidence: Sequence[np.ndarray] | None = None,
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
        k90, k95 : sequence of int, optional
            Components reaching 90% and 95% of each unit's variance.
        k_significant : sequence of int, optional
            Leading components above the noise floor, per unit.
        reliability : sequence of float, optional
            Reliability of each unit's subspace (NaN: not measured).
        reliability_rule : sequence of str, optional
            Rule that measured each reliability (see :mod:`.reliability`).
        dimension_confidence : sequence of ndarray (n_i,), optional
            Confidence of every component of each unit.
        **kwargs
            Passed to the constructor (name, description, parameters, source_models).
        """
        n = len(unit_rows)
        columns: list[VectorData] = [
            DynamicTableRegion(name="units", description="The unit of each row.",
                               data=np.asarray(unit_rows, dtype=np.int64), table=units),
        ]
        ragged = [("filters", filters, np.float32),
                  ("explained_variance", explained_variance, np.float64),
                  ("noise_floor_variance", noise_floor_variance, np.float64)]
        if dimension_confidence is not None:
            ragged.append((DIMENSION_CONFIDENCE, dimension_confidence, np.float64))
        for name, arrays, dtype in ragged:
            columns.extend(ragged_column(name, _describe(cls, name), arrays, dtype))
        fixed = {"k": np.array([len(f) for f in filters], dtype=np.int32),
                 "threshold": np.asarray(threshold, dtype=np.float64),
                 "mean_dstrf": np.asarray(mean_dstrf, dtype=np.float32)}
        if n_samples is not None:
            fixed["n_samples"] = np.asarray(n_samples, dtype=np.int64)
        if n_outliers is not None:
            fixed["n_outliers"] = np.asarray(n_outliers, dtype=np.int64)
        for name, counts in (("k90", k90), ("k95", k95), (K_SIGNIFICANT, k_significant)):
            if counts is not None:
                fixed[name] = np.asarray(counts, dtype=np.int32)
        if reliability is not None:
            fixed[RELIABILITY] = np.asarray(reliability, dtype=np.float64)
        if reliability_rule is not None:
            fixed[RELIABILITY_RULE] = [str(rule) for rule in reliability_rule]
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

    def get_k_significant(self, row: int) -> int:
        """Leading components of ``row`` above the noise floor: the stored column, else
        (files of version 0.1.0) counted from the stored variances and floor."""
        if K_SIGNIFICANT in self.colnames:
            return int(self._fixed(K_SIGNIFICANT, row))
        return count_significant(self.get_explained_variance(row),
                                 self.get_noise_floor_variance(row))

    def get_k_at(self, row: int, share: float) -> int:
        """Components of ``row`` reaching ``share`` of its variance: the stored ``k90`` or
        ``k95`` column for 0.9 and 0.95, else (a file without it) counted from the stored
        variances; 0 where none was stored."""
        if not 0.0 < float(share) <= 1.0:
            raise ValueError(f"{self.name}: share must be a fraction of the variance in (0, 1], "
                             f"got {share!r}")
        name = {0.9: "k90", 0.95: "k95"}.get(round(float(share), 6))
        if name in self.colnames:
            return int(self._fixed(name, row))
        variance = self.get_explained_variance(row)
        return choose_k(variance, share) if np.size(variance) else 0

    def get_reliability(self, row: int) -> float:
        """Reliability of ``row``'s subspace; NaN where it was not stored."""
        if RELIABILITY not in self.colnames:  # a row that is not there is refused all the same
            checked_row(row, len(self), f"{self.name!r}.{RELIABILITY}")
            return float("nan")
        return float(self._fixed(RELIABILITY, row))

    def get_reliability_rule(self, row: int) -> str:
        """Rule that measured ``row``'s reliability; ``"unknown"`` where not stored."""
        row = checked_row(row, len(self), f"{self.name!r}.{RELIABILITY_RULE}")
        if RELIABILITY_RULE not in self.colnames:
            return RULE_UNKNOWN
        value = self[RELIABILITY_RULE].data[row]
        return value.decode() if isinstance(value, bytes) else str(value)

    def get_dimension_confidence(self, row: int) -> np.ndarray:
        """Confidence of every component of ``row``; NaN where it was not stored."""
        if DIMENSION_CONFIDENCE not in self.colnames:
            return np.full(len(self.get_explained_variance(row)), np.nan)
        return self._ragged(DIMENSION_CONFIDENCE, row)
