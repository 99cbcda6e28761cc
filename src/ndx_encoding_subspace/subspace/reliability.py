"""Reliability of a tuning subspace: how far it stays the same when the model or the samples change.

Rules
-----
``members``
    Each member of the CNN ensemble (a jackknife fit) gives its own dSTRFs for the unit
    at the same bins; each is put through the same outlier filter and PCA
    (:func:`.pca.fit_subspace`) and keeps as many dimensions as the ensemble's subspace
    (``k``). Needs two members or more.
``split_halves``
    With a single member, the dSTRF samples (in time order) are cut into their first
    and second halves, each put through the same PCA and the same ``k``. This measures
    only how well the samples determine the model's subspace, not how far another fit
    would differ: a single model, even a poorly fitted one, has smooth gradients that
    both halves agree on, so the rule rarely flags a unit (the barely trained CNN of a
    quick demo scores 0.97-1.0). Fit two members or more to flag unreliable fits.

Either way the compared subspaces ("parts") are ``S_1 ... S_M``: each part's first
``r = min(k, k_r)`` components (orthonormal bases ``Q_a``), with ``k`` the unit's
subspace dimension and ``k_r`` the count of the unit's components that reaches
``SubspaceParams.reliability_variance`` (0.90) of its variance.

Unit reliability
----------------
``reliability = mean over pairs a < b of s(S_a, S_b)``, with ``s`` the mean squared
cosine of the principal angles between two r-dimensional subspaces,
``s = ||Q_a^T Q_b||_F^2 / r``: 1 for identical subspaces, 0 for orthogonal ones, about
``r / P`` for random ones in ``P = frequency x lag`` dimensions.

Why ``min(k, k_90)`` and not ``k`` at 0.95: the last components that 0.95 adds hold a
few percent of the variance each and differ between members for every unit, so the
similarity at ``k`` is about the same for every unit (0.64-0.69 on the simulated site of
``benchmarks/bench_recovery.py``). There (16 units, 4 jackknife fits) its Spearman
correlation with each unit's recovery of the true subspace was -0.02 and -0.33 on two
seeds; compared at ``min(k, k_90)``, +0.68 and -0.12. Neither predicts recovery well
on that site, where every unit is well fitted: members trained on overlapping data
share the CNN's systematic departures from the truth (docs/ground-truth.md). What the
reliability does flag is members that disagree, as poorly constrained fits do.

Per-dimension confidence
------------------------
For component ``j`` (unit vector ``c_j``) of the unit's subspace, with explained-variance
fraction ``v_j`` and noise floor ``f_j``:

* stability ``t_j = mean over parts a of ||Q_a(m_j)^T c_j||^2``, where ``Q_a(m_j)`` holds
  the first ``m_j = max(r, j + 1)`` components of part ``a``: the share of the direction
  that each part's subspace holds (for the first r, the part's compared subspace;
  beyond, its leading ``j + 1`` components);
* significance ``g_j = clip(1 - f_j / v_j, 0, 1)``: 0 at or below the floor, towards 1
  far above it;
* confidence ``g_j * t_j``, in [0, 1]; NaN where the floor was not computed.

Which samples
-------------
:func:`reliability_times` thins the subspace step's sample bins to at most
``SubspaceParams.reliability_max_samples``, evenly spaced (all of them at the paper's
sample of at most 3000): the reliability of a site too large for memory is measured on
this bounded subsample, member by member, so its cost does not grow with the bins the
streamed subspaces use.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from ..dstrf import DSTRFParams, sample_times
from ..errors import ConfigError, InvalidDataError
from ..extension.reliability import RULE_MEMBERS, RULE_SPLIT_HALVES, RULE_UNKNOWN
from .pca import SubspaceParams, TuningSubspace, choose_k, fit_subspace

__all__ = [
    "SubspaceReliability",
    "mean_squared_cosine",
    "parts_reliability",
    "dimension_confidence",
    "split_halves",
    "unit_reliability",
    "compared_dimension",
    "resolve_rule",
    "reliability_times",
]


@dataclasses.dataclass(frozen=True)
class SubspaceReliability:
    """Reliability of one unit's tuning subspace (module docstring).

    Attributes
    ----------
    unit : int
        Position of the unit at the site.
    reliability : float
        Mean pairwise similarity of the parts' subspaces, in [0, 1] (NaN: not measured).
    rule : str
        ``"members"``, ``"split_halves"`` or ``"unknown"``.
    stability, confidence : ndarray [n_components]
        Per-component stability across the parts and confidence.
    agreement : float
        Mean similarity of the parts' subspaces with the unit's own.
    n_parts, n_samples : int
        Subspaces compared and dSTRF samples per part (before outliers).
    """

    unit: int
    reliability: float
    rule: str
    stability: np.ndarray
    confidence: np.ndarray
    agreement: float = float("nan")
    n_parts: int = 0
    n_samples: int = 0

    @classmethod
    def unknown(cls, subspace: TuningSubspace) -> SubspaceReliability:
        """The record of a subspace whose reliability was not measured."""
        nan = np.full(len(subspace.explained_variance), np.nan)
        return cls(subspace.unit, float("nan"), RULE_UNKNOWN, nan, nan.copy())


def _orthonormal(basis: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(np.asarray(basis, dtype=np.float64))
    return q


def mean_squared_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared cosine of the principal angles between the spans of bases
    ``a [features, k_a]`` and ``b [features, k_b]`` (columns; orthonormalised here),
    over ``min(k_a, k_b)`` angles."""
    qa, qb = _orthonormal(a), _orthonormal(b)
    if qa.shape[0] != qb.shape[0]:
        raise InvalidDataError(f"subspaces of different sizes: {qa.shape[0]} and {qb.shape[0]}")
    n = min(qa.shape[1], qb.shape[1])
    if n == 0:
        return float("nan")
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)[:n]
    return float(np.mean(np.clip(cosines, 0.0, 1.0) ** 2))


def parts_reliability(parts: Sequence[np.ndarray], components: np.ndarray,
                      k: int) -> tuple[float, np.ndarray, float]:
    """Reliability, per-component stability and agreement from the parts' components.

    Parameters
    ----------
    parts : sequence of ndarray [n_components, features]
        Orthonormal components of each part, leading first (at least two parts).
    components : ndarray [n_components, features]
        The unit's own (ensemble) components, leading first.
    k : int
        Dimension compared (``r`` of the module docstring).

    Returns
    -------
    (float, ndarray [n_components], float)
        Mean pairwise similarity of the parts' first ``k`` components, the stability
        ``t_j`` of every component, the mean similarity of each part with the unit's
        first ``k`` components.
    """
    parts = [np.asarray(p, dtype=np.float64).reshape(len(p), -1) for p in parts]
    own = np.asarray(components, dtype=np.float64).reshape(len(components), -1)
    if len(parts) < 2:
        raise InvalidDataError(f"reliability needs at least two subspaces, got {len(parts)}")
    k = int(min(max(k, 1), len(own)))
    pairs = itertools.combinations(range(len(parts)), 2)
    reliability = float(np.mean([mean_squared_cosine(parts[a][:k].T, parts[b][:k].T)
                                 for a, b in pairs]))
    agreement = float(np.mean([mean_squared_cosine(p[:k].T, own[:k].T) for p in parts]))
    stability = np.zeros(len(own))
    for j, c in enumerate(own):
        m = max(k, j + 1)
        stability[j] = np.mean([np.sum((p[:m] @ c) ** 2) for p in parts])
    norm = np.sum(own**2, axis=1)
    stability = np.where(norm > 0, stability / np.where(norm > 0, norm, 1.0), 0.0)
    return reliability, np.clip(stability, 0.0, 1.0), agreement


def dimension_confidence(ratio: np.ndarray, floor: np.ndarray,
                         stability: np.ndarray) -> np.ndarray:
    """``clip(1 - floor / ratio, 0, 1) * stability`` per component (NaN where the floor
    or the stability is NaN); 0 where the ratio is 0."""
    ratio = np.asarray(ratio, dtype=np.float64)
    floor = np.asarray(floor, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = np.where(ratio > 0, 1.0 - floor / np.where(ratio > 0, ratio, 1.0), 0.0)
    significance = np.where(np.isfinite(floor), np.clip(significance, 0.0, 1.0), np.nan)
    return significance * np.asarray(stability, dtype=np.float64)


def split_halves(samples: np.ndarray) -> list[np.ndarray]:
    """The first and second half of ``samples`` (time order: the halves share no bin)."""
    samples = np.asarray(samples)
    if len(samples) < 4:
        raise InvalidDataError(f"split halves need at least 4 dSTRF samples, got {len(samples)}")
    half = len(samples) // 2
    return [samples[:half], samples[half:]]


def unit_reliability(parts: Sequence[np.ndarray], subspace: TuningSubspace,
                     params: SubspaceParams, rule: str) -> SubspaceReliability:
    """Reliability of one unit's subspace from the dSTRF samples of each part.

    Parameters
    ----------
    parts : sequence of ndarray [samples, frequency, lag]
        One array per member (``rule="members"``) or per half (``"split_halves"``).
    subspace : TuningSubspace
        The unit's subspace (its ``k``, components, variances and noise floor).
    params : SubspaceParams
        The PCA rule (outlier filter, components) applied to every part.
    rule : str
        Recorded with the result.
    """
    quiet = params.replace(noise_repeats=0, k_rule="variance")
    fits = [fit_subspace(p, quiet, unit=subspace.unit) for p in parts]
    reliability, stability, agreement = parts_reliability(
        [f.components for f in fits], subspace.components, compared_dimension(subspace, params))
    confidence = dimension_confidence(subspace.explained_variance_ratio, subspace.noise_floor,
                                      stability)
    return SubspaceReliability(subspace.unit, reliability, rule, stability, confidence,
                               agreement, len(parts), int(min(len(p) for p in parts)))


def compared_dimension(subspace: TuningSubspace, params: SubspaceParams) -> int:
    """``min(k, k_r)``: the components compared, ``k_r`` reaching
    ``params.reliability_variance`` of the unit's variance."""
    return max(1, min(subspace.k, choose_k(subspace.explained_variance,
                                           params.reliability_variance)))


def resolve_rule(requested: str, n_members: int) -> str:
    """The rule that ``SubspaceParams.reliability_rule`` names for an ensemble of
    ``n_members``: ``"members"``, ``"split_halves"`` or ``"none"``."""
    if requested == "auto":
        return RULE_MEMBERS if n_members >= 2 else RULE_SPLIT_HALVES
    if requested == RULE_MEMBERS and n_members < 2:
        raise ConfigError("SubspaceParams.reliability_rule='members' needs an ensemble of "
                          f"two members or more, got {n_members}; use 'auto' or 'split_halves'")
    if requested not in (RULE_MEMBERS, RULE_SPLIT_HALVES, "none"):
        raise ConfigError(f"unknown reliability rule {requested!r}")
    return requested


def reliability_times(lengths: Sequence[int], dstrf: DSTRFParams,
                      max_samples: int) -> list[np.ndarray]:
    """The subspace step's sample bins (:func:`~..dstrf.sample_times`), thinned evenly
    to at most ``max_samples``; one array per stimulus."""
    times = sample_times(lengths, dstrf)
    total = sum(len(t) for t in times)
    if total <= max_samples:
        return times
    keep = np.zeros(total, dtype=bool)
    keep[np.unique(np.linspace(0, total - 1, max_samples).round().astype(int))] = True
    out, start = [], 0
    for t in times:
        out.append(t[keep[start:start + len(t)]])
        start += len(t)
    return out
