"""Summaries of any per-unit value by cell type (narrow / regular) and by depth."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..data import UnitInfo
from ..errors import InvalidDataError

__all__ = ["summarise_by_cell_type", "summarise_by_depth"]


def _describe(v: np.ndarray) -> dict[str, float]:
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"n": 0, "median": np.nan, "mean": np.nan, "sem": np.nan}
    sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
    return {"n": len(v), "median": float(np.median(v)), "mean": float(v.mean()), "sem": sem}


def summarise_by_cell_type(values: np.ndarray, units: UnitInfo) -> dict[str, dict[str, float]]:
    """Median, mean and s.e. of a per-unit value for each cell type present
    (``"narrow"``, ``"regular"``); empty when the site has no cell-type labels."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(units):
        raise InvalidDataError(f"{len(values)} values for {len(units)} units")
    labels = np.asarray(units.cell_type, dtype=object)
    return {t: _describe(values[labels == t]) for t in ("narrow", "regular") if np.any(labels == t)}


def summarise_by_depth(values: np.ndarray, units: UnitInfo, bin_um: float = 200.0,
                       ) -> dict[str, object]:
    """Spearman correlation of a per-unit value with depth and its mean per depth bin.

    Returns an empty dictionary when fewer than 3 units have a known depth.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(units),):
        raise InvalidDataError(f"{values.size} values for {len(units)} units")
    number = isinstance(bin_um, int | float) and not isinstance(bin_um, bool)
    if not (number and np.isfinite(bin_um) and bin_um > 0):
        raise InvalidDataError(f"bin_um must be a positive number of micrometres, got {bin_um!r}")
    depth = np.asarray(units.depth_um, dtype=np.float64)
    ok = np.isfinite(depth) & np.isfinite(values)
    if ok.sum() < 3:
        return {}
    rho, p = stats.spearmanr(depth[ok], values[ok])
    bins = np.floor(depth[ok] / bin_um) * bin_um
    per_bin = {float(b): _describe(values[ok][bins == b]) for b in np.unique(bins)}
    return {"spearman_rho": float(rho), "p_value": float(p), "bin_um": bin_um, "bins": per_bin}
