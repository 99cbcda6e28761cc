"""The rows of a results file's tables as the package's records, each checked as it is read.

The loader reads every row through these functions, and the viewers read the row they
show through them, so that a number the loader refuses (``k`` of 50 filters where the
row holds 3, a reliability of infinity) is refused in a view too, with the same message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ResultsError
from .bundle import SiteAnalysis, UnitNonlinearity, UnitSubspace
from .rebuild import json_object, rows_in
from .values import check_curves, check_model_of, check_site, check_subspace, distinct

__all__ = ["subspace_row", "subspace_rows", "nonlinearity_row", "nonlinearity_rows", "site_analysis",
           "check_row_columns"]

#: the columns of a tuning subspace table that hold one number per row
_SCALAR_COLUMNS = ("k", "threshold", "n_samples", "n_outliers", "k90", "k95", "k_significant",
                   "reliability")


def check_row_columns(table: Any, names: tuple[str, ...] = _SCALAR_COLUMNS) -> None:
    """Columns of ``table`` meant to hold one value per row that hold one, else a
    ResultsError naming the column and its shape."""
    for name in names:
        if name in table.colnames:
            shape = tuple(getattr(table[name].data, "shape", np.shape(table[name].data)))
            if len(shape) != 1:
                raise ResultsError(f"{table.name}: column {name!r} of shape {shape}, one value per row "
                                   "expected")


def _column(table: Any, name: str, row: int, default: Any = 0) -> Any:
    return table[name].data[row] if name in table.colnames else default


def subspace_row(table: Any, row: int, unit_position: int) -> UnitSubspace:
    """Row ``row`` of a TuningSubspaceTable, for the unit at ``unit_position``, checked
    (:func:`~.values.check_subspace`)."""
    sub = UnitSubspace(
        unit_position=int(unit_position), filters=table.get_filters(row),
        explained_variance=table.get_explained_variance(row),
        noise_floor_variance=table.get_noise_floor_variance(row),
        threshold=float(table["threshold"].data[row]), mean_dstrf=table.get_mean_dstrf(row),
        n_samples=int(_column(table, "n_samples", row)),
        n_outliers=int(_column(table, "n_outliers", row)),
        k90=table.get_k_at(row, 0.90), k95=table.get_k_at(row, 0.95),
        k_significant=table.get_k_significant(row), reliability=table.get_reliability(row),
        reliability_rule=table.get_reliability_rule(row),
        dimension_confidence=table.get_dimension_confidence(row),
    )
    check_subspace(table.name, row, sub, int(table["k"].data[row]) if "k" in table.colnames else None)
    return sub


def subspace_rows(table: Any, n_units: int) -> list[UnitSubspace]:
    """Every row of a TuningSubspaceTable, units at distinct positions below ``n_units``."""
    check_row_columns(table)
    rows = distinct(table.name, rows_in(table.unit_rows(), n_units, "units"))
    return [subspace_row(table, i, rows[i]) for i in range(len(rows))]


def nonlinearity_row(table: Any, row: int, unit_position: int) -> UnitNonlinearity:
    """Row ``row`` of a SubspaceNonlinearityTable, for the unit at ``unit_position``,
    checked (its model predicts that unit; its curves' shapes agree)."""
    model = table.get_model(row)
    check_model_of(table.name, row, model, int(unit_position))
    out = UnitNonlinearity(
        unit_position=int(unit_position), model_name=None if model is None else model.name,
        dimension_sign=table.get_dimension_sign(row),
        asymmetry_index=table.get_asymmetry_index(row),
        tuning=table.get_tuning_curves(row), ssrf=table.get_ssrf(row))
    check_curves(table.name, row, out.tuning, out.ssrf)
    return out


def nonlinearity_rows(table: Any, n_units: int) -> list[UnitNonlinearity]:
    """Every row of a SubspaceNonlinearityTable, units at distinct positions below ``n_units``."""
    rows = distinct(table.name, rows_in(table.unit_rows(), n_units, "units"))
    return [nonlinearity_row(table, i, rows[i]) for i in range(len(rows))]


def site_analysis(obj: Any, n_units: int | None = None) -> SiteAnalysis:
    """A SiteSubspace's arrays, checked (:func:`~.values.check_site`); ``n_units`` bounds
    its units' positions (None: not bounded, as a viewer without the Units table has it)."""
    arrays = {k: None if getattr(obj, k) is None else np.asarray(getattr(obj, k)[:])
              for k in ("filters", "explained_variance", "mean_dstrf", "response_region_size",
                        "region_overlap", "subspace_similarity", "response_regions",
                        "tiling_bin_edges")}
    similarity = arrays["subspace_similarity"]
    if similarity is not None and (similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]):
        raise ResultsError(f"{obj.name}: subspace_similarity of shape {similarity.shape} is not square")
    found = obj.unit_rows()
    bound = n_units if n_units is not None else int(np.max(found, initial=-1)) + 1
    positions = distinct(obj.name, rows_in(found, bound, "units"))
    check_site(obj.name, arrays, len(positions))
    return SiteAnalysis(**arrays, similarity_measure=obj.similarity_measure,
                        unit_positions=positions,
                        parameters=json_object(obj.parameters, "parameters"),
                        description=obj.description)
