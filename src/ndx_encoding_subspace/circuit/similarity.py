"""Similarity of tuning subspaces (METHOD.md section 6), within and between sites.

The similarity of two subspaces is the mean squared cosine of the principal angles
between them (1 for identical, ``~k/P`` for random ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..arrays import label_codes
from ..errors import InvalidDataError
from ..subspace import TuningSubspace
from ..subspace.reliability import mean_squared_cosine

__all__ = ["subspace_similarity", "similarity_matrix", "within_between", "site_means"]


def _basis(s: Any, which: str) -> tuple[np.ndarray, str]:
    """Basis ``[features, k]`` of a subspace given any way :func:`subspace_similarity`
    takes, and how it was given (for messages)."""
    if isinstance(s, TuningSubspace):
        return s.basis(), f"a TuningSubspace of filters {s.components.shape[1:]}"
    filters = getattr(s, "filters", None)  # a results file's UnitSubspace
    s = np.asarray(s if filters is None else filters, dtype=np.float64)
    if s.ndim == 3:  # [k, F, D] filters
        given = f"filters {s.shape[1:]}"
        s = s.reshape(len(s), -1).T
    elif s.ndim == 2:
        given = f"a basis of {s.shape[0]} features (a single filter [frequency, lag] goes in as [1, F, D])"
        if s.shape[1] > s.shape[0]:
            raise InvalidDataError(
                f"subspace {which}: a basis [features, k] of shape {s.shape} has more columns than "
                "rows; the filters go in its columns (transpose it), or pass filters [k, frequency, lag]")
    else:
        raise InvalidDataError(f"subspace {which}: expected filters [k, frequency, lag] or a basis "
                               f"[features, k], got an array of shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise InvalidDataError(f"subspace {which}: holds NaN or infinite values")
    if s.shape[1] == 0:
        raise InvalidDataError(f"subspace {which}: no filter (k = 0)")
    q, r = np.linalg.qr(s)
    scale = np.abs(np.diag(r))
    if scale.min() <= 1e-10 * max(scale.max(), np.finfo(float).tiny):  # QR would make one up
        raise InvalidDataError(f"subspace {which}: its {s.shape[1]} filters span fewer dimensions (a filter "
                               "of zeros, or one a combination of the others)")
    return q, given


def subspace_similarity(a: Any, b: Any) -> float:
    """Mean squared cosine of the principal angles between two subspaces.

    ``a`` and ``b`` are :class:`TuningSubspace` (their first ``k`` components), a results
    file's ``UnitSubspace`` (``load_results(path).subspace(i)``),
    filters ``[k, frequency, lag]`` or bases ``[features, k]``. Over ``min(k_a, k_b)``
    angles.

    Raises
    ------
    InvalidDataError
        A basis with more columns than rows (filters in its rows), non-finite values, or
        subspaces of different sizes (filters of other lags or frequencies).
    """
    (qa, given_a), (qb, given_b) = _basis(a, "a"), _basis(b, "b")
    if qa.shape[0] != qb.shape[0]:
        raise InvalidDataError(
            f"subspaces of different sizes: {given_a} against {given_b} ({qa.shape[0]} and "
            f"{qb.shape[0]} features); compare filters of the same frequencies and lags (pad or "
            "cut the lags of one)")
    return mean_squared_cosine(qa, qb)


def similarity_matrix(subspaces: Sequence[Any]) -> np.ndarray:
    """Pairwise :func:`subspace_similarity`, ``[units, units]``."""
    n = len(subspaces)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = subspace_similarity(subspaces[i], subspaces[j])
    return out


def site_means(similarity: np.ndarray, first: np.ndarray, second: np.ndarray,
               ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Within- against between-site similarity of unit pairs, site by site.

    ``first`` and ``second`` are the sites of each pair's units. Returns each site's mean
    within-site similarity and the mean of its pairs with other sites (the sites holding
    both), and the Wilcoxon signed-rank test of their differences (statistic, p-value;
    NaN for fewer than 2 sites or no difference): pairs share units and units share their
    site, so sites are what is independent.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    first, second = np.asarray(first), np.asarray(second)
    ok = np.isfinite(sim)
    sim, n = sim[ok], int(ok.sum())
    code = label_codes(np.concatenate([first[ok], second[ok]]))
    one, two = code[:n], code[n:]
    same, sites = one == two, int(code.max()) + 1 if code.size else 0
    # sums and counts by site (millions of pairs: no loop over the sites)
    w_sum = np.bincount(one[same], sim[same], sites)
    w_n = np.bincount(one[same], minlength=sites)
    across = np.concatenate([one[~same], two[~same]])
    b_sum = np.bincount(across, np.tile(sim[~same], 2), sites)
    b_n = np.bincount(across, minlength=sites)
    both = (w_n > 0) & (b_n > 0)
    w_a, b_a = w_sum[both] / w_n[both], b_sum[both] / b_n[both]
    diff = w_a - b_a
    if len(diff) < 2 or not np.any(diff != 0):
        return w_a, b_a, float("nan"), float("nan")
    res = stats.wilcoxon(diff)
    return w_a, b_a, float(res.statistic), float(res.pvalue)


def within_between(sites: Sequence[Sequence[TuningSubspace]]) -> dict[str, object]:
    """Similarity of unit pairs within a site against pairs from different sites.

    Returns ``within`` and ``between`` (arrays of pair values), their medians, and
    ``p_value``: :func:`site_means`' test over sites.
    """
    values, first, second = [], [], []
    flat = [(i, unit) for i, site in enumerate(sites) for unit in site]
    for a in range(len(flat)):
        for b in range(a + 1, len(flat)):
            values.append(subspace_similarity(flat[a][1], flat[b][1]))
            first.append(flat[a][0])
            second.append(flat[b][0])
    sim, first_a, second_a = np.asarray(values, dtype=np.float64), np.asarray(first), np.asarray(second)
    same = first_a == second_a
    within_a, between_a = sim[same], sim[~same]
    p = site_means(sim, first_a, second_a)[3] if len(sim) else float("nan")
    return {
        "within": within_a,
        "between": between_a,
        "within_median": float(np.median(within_a)) if len(within_a) else np.nan,
        "between_median": float(np.median(between_a)) if len(between_a) else np.nan,
        "p_value": float(p),
    }
