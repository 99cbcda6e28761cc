"""Similarity of tuning subspaces (METHOD.md section 6), within and between sites.

The similarity of two subspaces is the mean squared cosine of the principal angles
between them (1 for identical, ``~k/P`` for random ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..subspace import TuningSubspace
from ..subspace.reliability import mean_squared_cosine

__all__ = ["subspace_similarity", "similarity_matrix", "within_between"]


def _basis(s: TuningSubspace | np.ndarray) -> np.ndarray:
    if isinstance(s, TuningSubspace):
        return s.basis()
    s = np.asarray(s, dtype=np.float64)
    if s.ndim == 3:  # [k, F, D] filters
        s = s.reshape(len(s), -1).T
    q, _ = np.linalg.qr(s)
    return q


def subspace_similarity(a: TuningSubspace | np.ndarray, b: TuningSubspace | np.ndarray) -> float:
    """Mean squared cosine of the principal angles between two subspaces.

    ``a`` and ``b`` are :class:`TuningSubspace` (their first ``k`` components), filters
    ``[k, frequency, lag]`` or bases ``[features, k]``. Over ``min(k_a, k_b)`` angles.
    """
    return mean_squared_cosine(_basis(a), _basis(b))


def similarity_matrix(subspaces: Sequence[TuningSubspace]) -> np.ndarray:
    """Pairwise :func:`subspace_similarity`, ``[units, units]``."""
    n = len(subspaces)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = subspace_similarity(subspaces[i], subspaces[j])
    return out


def within_between(sites: Sequence[Sequence[TuningSubspace]]) -> dict[str, object]:
    """Similarity of unit pairs within a site against pairs from different sites.

    Returns ``within`` and ``between`` (arrays of pair values), their medians, and a
    two-sided Mann-Whitney U test ``p_value`` (NaN when either set is empty).
    """
    within, between = [], []
    for i, site in enumerate(sites):
        for a in range(len(site)):
            within += [subspace_similarity(site[a], site[b]) for b in range(a + 1, len(site))]
            for other in sites[i + 1:]:
                between += [subspace_similarity(site[a], s) for s in other]
    within_a, between_a = np.asarray(within), np.asarray(between)
    p = (stats.mannwhitneyu(within_a, between_a).pvalue
         if len(within_a) and len(between_a) else np.nan)
    return {
        "within": within_a,
        "between": between_a,
        "within_median": float(np.median(within_a)) if len(within_a) else np.nan,
        "between_median": float(np.median(between_a)) if len(between_a) else np.nan,
        "p_value": float(p),
    }
