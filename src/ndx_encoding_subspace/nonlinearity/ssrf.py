"""Subspace receptive fields (SSRF), tuning curves and nonlinearity shape (METHOD.md section 5).

Given a unit's stimulus projections ``x [time, k]`` (:mod:`.projection`) and a response
``r [time]`` (measured or predicted), each dimension is first sign-flipped so that it
correlates positively with ``r``. The SSRF is the mean response over the subspace: 2-D
maps of dimension 1 against each dimension j, and 1-D tuning curves along each dimension.

Asymmetry index (see docs/asymmetry.md)
----------------------------------------
Along one dimension, with ``c`` the mean projection and ``h`` the largest half-width
around ``c`` that stays inside the 2.5th-97.5th percentile range
(``h = min(c - p2.5, p97.5 - c)``), compare the mean response in three value bands:

* centre: ``|x - c| <= h / 4``
* positive flank: ``c + h / 2 <= x <= c + h``
* negative flank: ``c - h <= x <= c - h / 2``

``d_plus`` and ``d_minus`` are the flanks' mean responses minus the centre's. The index is
``AI = (d_plus - d_minus) / (|d_plus| + |d_minus|)`` in [-1, 1]: near 0 when both flanks
move the response the same way (an even nonlinearity), near 1 when only the positive
flank does or when they move in opposite directions (rectifying or linear).
:func:`classify_shape` names the shape: ``"flat"`` when ``|d_plus| + |d_minus|`` is below
``flat_threshold`` response standard deviations, else ``"symmetric-up"`` (both flanks
up: phase invariance) or ``"symmetric-down"`` (both down: contrast gain control) when
``|AI| < symmetry_threshold``, else ``"rectifying"``.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..arrays import real_array
from ..errors import InvalidDataError
from ..params import Params, check_range

__all__ = [
    "SSRFParams",
    "SSRF",
    "orient",
    "tuning_curve",
    "flank_changes",
    "asymmetry_index",
    "classify_shape",
    "ssrf",
    "classify_stored_curve",
    "curve_response_sd",
    "axis_edges",
]

SHAPES = ("flat", "symmetric-up", "symmetric-down", "rectifying")


#: the most bins per axis of the SSRF maps, and of the tuning curves
MAX_BINS_2D, MAX_BINS_1D = 500, 10_000


@dataclasses.dataclass(frozen=True)
class SSRFParams(Params):
    """Parameters of SSRF maps, tuning curves and the shape classification.

    Parameters
    ----------
    n_bins_2d : int
        Bins per axis of the 2-D maps (paper: 20).
    percentiles : tuple of float
        Range of each axis, in percentiles of the projection (paper: 2.5, 97.5).
    min_count : int
        Bins with fewer samples are masked (paper: 2-4).
    n_bins_1d : int
        Bins of the tuning curves (paper: 10).
    symmetry_threshold : float
        ``|AI|`` below this is a symmetric shape.
    flat_threshold : float
        Flank modulation below this many response standard deviations is ``"flat"``.
    """

    n_bins_2d: int = 20
    percentiles: tuple[float, float] = (2.5, 97.5)
    min_count: int = 3
    n_bins_1d: int = 10
    symmetry_threshold: float = 0.5
    flat_threshold: float = 0.1

    def validate(self) -> None:
        # every map holds n_bins_2d ** 2 bins per unit and dimension, in memory and in the results file
        check_range("SSRFParams.n_bins_2d", self.n_bins_2d, 2, MAX_BINS_2D)
        check_range("SSRFParams.n_bins_1d", self.n_bins_1d, 2, MAX_BINS_1D)
        check_range("SSRFParams.min_count", self.min_count, 1)
        lo, hi = self.percentiles
        check_range("SSRFParams.percentiles[0]", lo, 0.0, 50.0, high_open=True)
        check_range("SSRFParams.percentiles[1]", hi, 50.0, 100.0, low_open=True)
        check_range("SSRFParams.symmetry_threshold", self.symmetry_threshold, 0.0, 1.0)
        check_range("SSRFParams.flat_threshold", self.flat_threshold, 0.0)


@dataclasses.dataclass(frozen=True)
class SSRF:
    """A unit's SSRF.

    Attributes
    ----------
    signs : ndarray [k]
        +1 or -1: the flip applied to each projection.
    edges : ndarray [k, n_bins_2d + 1]
        Bin edges of each dimension for the maps.
    maps : ndarray [k - 1, n_bins_2d, n_bins_2d]
        Mean response, dimension 1 along rows and dimension j + 2 along columns; NaN where
        fewer than ``min_count`` samples.
    counts : ndarray [k - 1, n_bins_2d, n_bins_2d]
    curve_centres, curve_mean, curve_sem, curve_count : ndarray [k, n_bins_1d]
        Tuning curves: bin centres, mean response, its standard error, samples.
    asymmetry : ndarray [k]
        Asymmetry index of each dimension.
    shapes : tuple of str
        :func:`classify_shape` of each dimension.
    """

    signs: np.ndarray
    edges: np.ndarray
    maps: np.ndarray
    counts: np.ndarray
    curve_centres: np.ndarray
    curve_mean: np.ndarray
    curve_sem: np.ndarray
    curve_count: np.ndarray
    asymmetry: np.ndarray
    shapes: tuple[str, ...]


def _check(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = real_array(x, "SSRF: projections").astype(np.float64)
    r = real_array(r, "SSRF: response").astype(np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or r.ndim != 1 or len(x) != len(r) or not len(x) or not x.shape[1]:
        raise InvalidDataError(
            f"SSRF needs projections [time, k] and a response [time] of the same length, at least one "
            f"bin and one dimension, got {x.shape} and {r.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(r))):
        raise InvalidDataError("SSRF: projections or response hold NaN or inf")
    return x, r


def _check_1d(x: np.ndarray, r: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """One projection ``x [time]`` and the response ``r [time]``, checked."""
    x = real_array(x, f"{what}: projection").astype(np.float64)
    r = real_array(r, f"{what}: response").astype(np.float64)
    if x.ndim != 1 or r.ndim != 1 or len(x) != len(r) or not len(x):
        raise InvalidDataError(f"{what} needs one projection [time] and a response [time] of the same "
                               f"length, got {x.shape} and {r.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(r))):
        raise InvalidDataError(f"{what}: the projection or the response holds NaN or inf")
    return x, r


def orient(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip dimensions so each correlates positively with ``r``; returns (x, signs)."""
    x, r = _check(x, r)
    xc, rc = x - x.mean(axis=0), r - r.mean()
    signs = np.where(xc.T @ rc < 0, -1.0, 1.0)
    return x * signs, signs


def axis_edges(x: np.ndarray, percentiles: tuple[float, float], n_bins: int) -> np.ndarray:
    """``n_bins + 1`` equally spaced edges between the percentiles of ``x``; between its
    minimum and maximum where those percentiles coincide (a stimulus silent most of the
    time projects to one value in most bins), and one unit wide around the value where
    ``x`` never varies. Always increasing."""
    lo, hi = np.percentile(x, percentiles)
    if not hi > lo:
        lo, hi = float(np.min(x)), float(np.max(x))
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def tuning_curve(x: np.ndarray, r: np.ndarray, params: SSRFParams | None = None):
    """Mean response in ``n_bins_1d`` bins of ``x`` between the percentiles.

    Returns ``(centres, mean, sem, count)``; mean is NaN where fewer than ``min_count``
    samples, sem NaN where fewer than 2.
    """
    params = SSRFParams.of(params)
    x, r = _check_1d(x, r, "tuning_curve")
    edges = axis_edges(x, params.percentiles, params.n_bins_1d)
    inside = (x >= edges[0]) & (x <= edges[-1])
    index = np.clip(np.searchsorted(edges, x[inside], side="right") - 1, 0, params.n_bins_1d - 1)
    count = np.bincount(index, minlength=params.n_bins_1d).astype(float)
    total = np.bincount(index, r[inside], minlength=params.n_bins_1d)
    square = np.bincount(index, r[inside] ** 2, minlength=params.n_bins_1d)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = (square - count * mean**2) / (count - 1)
        sem = np.sqrt(np.clip(var, 0, None) / count)
    mean[count < params.min_count] = np.nan
    sem[count < 2] = np.nan
    return (edges[:-1] + edges[1:]) / 2, mean, sem, count


def flank_changes(x: np.ndarray, r: np.ndarray,
                  percentiles: tuple[float, float] | None = None) -> tuple[float, float]:
    """``(d_plus, d_minus)``: flank mean responses minus the centre's (module docstring).

    ``percentiles`` bound the flanks (``SSRFParams.percentiles`` when None).
    """
    percentiles = SSRFParams.from_keywords(percentiles=percentiles).percentiles
    x, r = _check_1d(x, r, "flank_changes")
    c = float(np.mean(x))
    lo, hi = np.percentile(x, percentiles)
    h = min(c - lo, hi - c)
    if h <= 0:
        return 0.0, 0.0
    centre = np.abs(x - c) <= h / 4
    plus = (x >= c + h / 2) & (x <= c + h)
    minus = (x <= c - h / 2) & (x >= c - h)
    if not (centre.any() and plus.any() and minus.any()):
        return 0.0, 0.0
    base = r[centre].mean()
    return float(r[plus].mean() - base), float(r[minus].mean() - base)


def asymmetry_index(x: np.ndarray, r: np.ndarray,
                    percentiles: tuple[float, float] | None = None) -> float:
    """``(d_plus - d_minus) / (|d_plus| + |d_minus|)``; 0 when there is no modulation.

    ``percentiles`` as in :func:`flank_changes`.
    """
    dp, dm = flank_changes(x, r, percentiles)
    scale = abs(dp) + abs(dm)
    return 0.0 if scale == 0 else (dp - dm) / scale


def classify_shape(x: np.ndarray, r: np.ndarray, params: SSRFParams | None = None) -> str:
    """One of ``"flat"``, ``"symmetric-up"``, ``"symmetric-down"``, ``"rectifying"``.

    ``x`` is one (sign-oriented) projection and ``r`` the response; see the module
    docstring for the rule.
    """
    params = SSRFParams.of(params)
    dp, dm = flank_changes(x, r, params.percentiles)
    sd = float(np.std(r))
    if abs(dp) + abs(dm) <= params.flat_threshold * sd or sd == 0:
        return "flat"
    ai = (dp - dm) / (abs(dp) + abs(dm))
    if abs(ai) < params.symmetry_threshold:
        return "symmetric-up" if dp + dm > 0 else "symmetric-down"
    return "rectifying"


def ssrf(projections: np.ndarray, response: np.ndarray, params: SSRFParams | None = None) -> SSRF:
    """SSRF maps, tuning curves, asymmetry indices and shapes of one unit.

    Parameters
    ----------
    projections : ndarray [time, k]
        The unit's stimulus projections.
    response : ndarray [time]
        Its response (measured PSTH or a model's prediction) in the same bins.
    params : SSRFParams
    """
    params = SSRFParams.of(params)
    x, signs = orient(projections, response)
    r = np.asarray(response, dtype=np.float64)
    k, nb = x.shape[1], params.n_bins_2d
    edges = np.stack([axis_edges(x[:, j], params.percentiles, nb) for j in range(k)])
    maps = np.full((max(k - 1, 0), nb, nb), np.nan)
    counts = np.zeros((max(k - 1, 0), nb, nb))
    for j in range(1, k):
        bins = (edges[0], edges[j])
        count, _, _ = np.histogram2d(x[:, 0], x[:, j], bins=bins)
        total, _, _ = np.histogram2d(x[:, 0], x[:, j], bins=bins, weights=r)
        counts[j - 1] = count
        with np.errstate(invalid="ignore", divide="ignore"):
            maps[j - 1] = np.where(count >= params.min_count, total / count, np.nan)
    curves = [tuning_curve(x[:, j], r, params) for j in range(k)]
    return SSRF(
        signs=signs,
        edges=edges,
        maps=maps,
        counts=counts,
        curve_centres=np.stack([c[0] for c in curves]),
        curve_mean=np.stack([c[1] for c in curves]),
        curve_sem=np.stack([c[2] for c in curves]),
        curve_count=np.stack([c[3] for c in curves]),
        asymmetry=np.array([asymmetry_index(x[:, j], r, params.percentiles) for j in range(k)]),
        shapes=tuple(classify_shape(x[:, j], r, params) for j in range(k)),
    )


def classify_stored_curve(tuning_mean: np.ndarray, asymmetry: float | None = None,
                          symmetry_threshold: float | None = None, *,
                          tuning_sem: np.ndarray | None = None,
                          tuning_count: np.ndarray | None = None,
                          flat_threshold: float | None = None) -> str:
    """Nonlinearity class of one dimension from its stored tuning curve.

    The curve's outer fifth of bins on each side is compared with its middle fifth.
    ``asymmetry`` (the stored asymmetry index, computed on every sample) separates
    symmetric (``|AI| < symmetry_threshold``) from ``"rectifying"`` shapes; without it, the
    curve's own flank asymmetry is used. A symmetric shape with both flanks up is
    ``"symmetric-up"``, else ``"symmetric-down"``. The curve is ``"flat"`` without finite
    modulation and, when ``tuning_sem`` and ``tuning_count`` are given, when the flanks move
    the response by at most ``flat_threshold`` response standard deviations (the rule of
    :func:`classify_shape`, on the curve's bins: the standard deviation is recovered from
    the bins' means, standard errors and counts, over the samples the curve holds).
    Thresholds: :class:`SSRFParams`' when None.
    """
    params = SSRFParams.from_keywords(symmetry_threshold=symmetry_threshold,
                                      flat_threshold=flat_threshold)
    m = np.asarray(tuning_mean, dtype=np.float64).reshape(-1)
    n = len(m)
    if n == 0 or (asymmetry is not None and not np.isfinite(asymmetry)):
        return "flat"
    w = max(1, n // 5)
    mid = slice((n - w) // 2, (n - w) // 2 + w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band of bins without samples
        centre, plus, minus = np.nanmean(m[mid]), np.nanmean(m[-w:]), np.nanmean(m[:w])
    dp, dm = plus - centre, minus - centre
    if not np.isfinite(dp + dm) or abs(dp) + abs(dm) == 0:
        return "flat"
    if tuning_sem is not None and tuning_count is not None:
        sd = curve_response_sd(m, tuning_sem, tuning_count)
        if np.isfinite(sd) and abs(dp) + abs(dm) <= params.flat_threshold * sd:
            return "flat"
    ai = (dp - dm) / (abs(dp) + abs(dm)) if asymmetry is None else asymmetry
    if abs(ai) < params.symmetry_threshold:
        return "symmetric-up" if dp + dm > 0 else "symmetric-down"
    return "rectifying"


def curve_response_sd(mean: np.ndarray, sem: np.ndarray, count: np.ndarray) -> float:
    """Standard deviation of the response over a tuning curve's samples.

    From each bin's mean, standard error (of the unbiased variance) and count, by the law
    of total variance; bins without a finite mean and standard error are left out. NaN
    when fewer than two samples remain.
    """
    m, s, c = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (mean, sem, count))
    if not len(m) == len(s) == len(c):
        return float("nan")
    ok = np.isfinite(m) & np.isfinite(s) & (c >= 2)
    m, s, c = m[ok], s[ok], c[ok]
    total = c.sum()
    if total < 2:
        return float("nan")
    grand = float((c * m).sum() / total)
    within = (s**2 * c * (c - 1)).sum()
    between = (c * (m - grand) ** 2).sum()
    return float(np.sqrt((within + between) / total))
