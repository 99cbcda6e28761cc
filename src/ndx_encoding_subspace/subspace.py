"""Tuning subspaces: per-unit PCA of dSTRFs (METHOD.md section 4), in memory or streamed.

Outlier filter
--------------
The paper drops "samples whose deviation from the mean dSTRF exceeds 5 standard
deviations". We read this as a test on the size of each sample's deviation: with ``m``
the unit's mean dSTRF and ``d_i = ||x_i - m||`` (Euclidean norm over frequency x lag),
sample ``i`` is dropped when ``d_i > outlier_sd * sqrt(mean_j d_j^2)``, i.e. when its
deviation exceeds ``outlier_sd`` times the root-mean-square deviation of all samples (the
standard deviation of the samples around the mean, pooled over elements). One pass, no
iteration; by Markov's inequality at most ``1 / outlier_sd^2`` of the samples (4% at 5)
can be dropped. A per-element z-score (any element beyond 5 SD) was rejected because it
drops many samples of heavy-tailed but valid dSTRFs; a threshold on the *mean's* own
spread would drop most samples of phase-invariant units, whose mean dSTRF is near zero.

Choice of k
-----------
``k`` is the smallest number of components whose cumulative variance reaches
``variance_threshold`` of the variance of the first ``n_components`` components (the
paper's "0.95 of the 25"); ``k90`` and ``k95`` use 0.90 and 0.95.

Noise floor
-----------
Each element (frequency, lag) is shuffled independently across samples, which keeps
every element's variance (so the total variance) and destroys their covariance; PCA of
the shuffled samples gives the floor, averaged over ``noise_repeats`` shuffles.
Leading components whose explained variance ratio exceeds the floor are significant.

Streaming
---------
:class:`MomentAccumulator` keeps, per unit, the count, mean and centred scatter matrix
in float64 and merges chunks with Chan et al.'s update, so memory depends on
``frequency x lag`` and not on the number of bins. The outlier filter needs the mean and
RMS deviation first: ``outliers="two_pass"`` computes them in a first pass over the same
chunks (exact: equal to the in-memory result), ``outliers="reference"`` takes them from
an in-memory sample (for example the paper's every-47th-bin sample) and needs one pass.
The noise floor is computed on a uniform random subset (reservoir) of at most
``noise_max_samples`` samples, equal to all samples when there are fewer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.linalg

from .errors import ConfigError, InvalidDataError
from .params import Params, check_choice, check_range

__all__ = [
    "SubspaceParams",
    "TuningSubspace",
    "outlier_keep",
    "fit_subspace",
    "fit_subspaces",
    "choose_k",
    "MomentAccumulator",
    "streaming_subspaces",
]


@dataclasses.dataclass(frozen=True)
class SubspaceParams(Params):
    """Parameters of the tuning-subspace step.

    Parameters
    ----------
    n_components : int
        Principal components kept (paper: 25).
    outlier_sd : float
        Outlier threshold in RMS deviations (paper: 5); ``inf`` keeps every sample.
    variance_threshold : float
        Cumulative variance fraction (of the first ``n_components``) that defines k.
    noise_repeats : int
        Shuffles for the noise floor (paper: 10); 0 skips it.
    noise_max_samples : int
        Streaming only: samples kept (at random) for the noise floor.
    seed : int
        Seed of the shuffles and of the reservoir.
    """

    n_components: int = 25
    outlier_sd: float = 5.0
    variance_threshold: float = 0.95
    noise_repeats: int = 10
    noise_max_samples: int = 3000
    seed: int = 0

    def validate(self) -> None:
        for name in ("n_components", "noise_max_samples"):
            check_range(f"SubspaceParams.{name}", getattr(self, name), 1)
        check_range("SubspaceParams.noise_repeats", self.noise_repeats, 0)
        check_range("SubspaceParams.outlier_sd", self.outlier_sd, 0.0, low_open=True)
        check_range("SubspaceParams.variance_threshold", self.variance_threshold, 0.0, 1.0,
                    low_open=True)
        for name in ("n_components", "noise_repeats", "noise_max_samples", "seed"):
            if not isinstance(getattr(self, name), int):
                raise ConfigError(f"SubspaceParams.{name} must be an integer, "
                                  f"got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True)
class TuningSubspace:
    """One unit's tuning subspace.

    Attributes
    ----------
    unit : int
        Position of the unit at the site (-1 for a pooled, site-wide subspace).
    components : ndarray [n_components, frequency, lag]
        Orthonormal principal components (flattened), sign: sum positive.
    explained_variance : ndarray [n_components]
        Variance along each component.
    explained_variance_ratio : ndarray [n_components]
        Fraction of the total variance.
    noise_floor : ndarray [n_components]
        Explained variance ratio of shuffled samples (mean over shuffles; NaN if skipped).
    k, k90, k95 : int
        Subspace dimension at ``variance_threshold``, 0.90 and 0.95.
    n_significant : int
        Leading components above the noise floor.
    mean : ndarray [frequency, lag]
        Mean dSTRF of the retained samples.
    n_samples, n_outliers : int
        Samples used and samples dropped.
    """

    unit: int
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    noise_floor: np.ndarray
    k: int
    k90: int
    k95: int
    n_significant: int
    mean: np.ndarray
    n_samples: int
    n_outliers: int

    @property
    def filters(self) -> np.ndarray:
        """The first ``k`` components, ``[k, frequency, lag]``."""
        return self.components[: self.k]

    def basis(self, k: int | None = None) -> np.ndarray:
        """First ``k`` (default ``self.k``) components flattened, ``[frequency*lag, k]``."""
        k = self.k if k is None else k
        return self.components[:k].reshape(k, -1).T


def choose_k(variance: np.ndarray, threshold: float) -> int:
    """Smallest count whose cumulative share of ``variance.sum()`` reaches ``threshold``."""
    variance = np.clip(np.asarray(variance, dtype=np.float64), 0.0, None)
    total = variance.sum()
    if total <= 0:
        return 1
    cum = np.cumsum(variance) / total
    return int(min(np.searchsorted(cum, threshold - 1e-12) + 1, len(variance)))


def outlier_keep(x: np.ndarray, outlier_sd: float, mean: np.ndarray | None = None,
                 rms: float | None = None) -> np.ndarray:
    """Boolean mask of samples kept by the outlier filter (see the module docstring).

    ``x`` is ``[samples, features]``; ``mean`` and ``rms`` default to those of ``x``.
    """
    if mean is None:
        mean = x.mean(axis=0, dtype=np.float64)
    dev = np.sqrt(((x - mean) ** 2).sum(axis=1, dtype=np.float64))
    if rms is None:
        rms = float(np.sqrt(np.mean(dev**2)))
    if not np.isfinite(outlier_sd):
        return np.ones(len(x), dtype=bool)
    return dev <= outlier_sd * rms


def _orient(components: np.ndarray) -> np.ndarray:
    signs = np.where(components.sum(axis=1) < 0, -1.0, 1.0)
    return components * signs[:, None]


def _noise_floor(x: np.ndarray, params: SubspaceParams, total: float) -> np.ndarray:
    nc = params.n_components
    if params.noise_repeats == 0 or len(x) < 2 or total <= 0:
        return np.full(nc, np.nan)
    rng = np.random.default_rng(params.seed)
    out = np.zeros((params.noise_repeats, nc))
    for r in range(params.noise_repeats):
        shuffled = rng.permuted(x, axis=0)
        shuffled = shuffled - shuffled.mean(axis=0)
        small = shuffled @ shuffled.T if len(x) < x.shape[1] else shuffled.T @ shuffled
        top = min(nc, len(small))
        ev = scipy.linalg.eigvalsh(small, subset_by_index=[len(small) - top, len(small) - 1])
        ev = ev[::-1] / (len(x) - 1)
        out[r, : len(ev)] = ev / total
    return out.mean(axis=0)


def _finish(unit: int, shape: tuple[int, ...], mean: np.ndarray, eigval: np.ndarray,
            eigvec: np.ndarray, total: float, floor: np.ndarray, n: int, n_out: int,
            params: SubspaceParams) -> TuningSubspace:
    nc = params.n_components
    p = int(np.prod(shape))
    ev = np.zeros(nc)
    comps = np.zeros((nc, p))
    m = min(nc, len(eigval))
    ev[:m] = np.clip(eigval[:m], 0.0, None)
    comps[:m] = _orient(eigvec[:, :m].T)
    ratio = ev / total if total > 0 else np.zeros(nc)
    above = ratio > floor if np.all(np.isfinite(floor)) else np.zeros(nc, dtype=bool)
    n_sig = int(np.argmin(above)) if not above.all() else nc
    return TuningSubspace(
        unit=unit,
        components=comps.reshape(nc, *shape),
        explained_variance=ev,
        explained_variance_ratio=ratio,
        noise_floor=floor,
        k=choose_k(ev, params.variance_threshold),
        k90=choose_k(ev, 0.90),
        k95=choose_k(ev, 0.95),
        n_significant=n_sig,
        mean=mean.reshape(shape),
        n_samples=n,
        n_outliers=n_out,
    )


def fit_subspace(samples: np.ndarray, params: SubspaceParams | None = None,
                 unit: int = 0) -> TuningSubspace:
    """PCA of one unit's dSTRFs ``[samples, frequency, lag]`` held in memory.

    Outlier filter, mean-centred PCA by singular value decomposition, sign convention,
    shuffle noise floor and k, as in the module docstring.
    """
    params = params or SubspaceParams()
    samples = np.asarray(samples)
    if samples.ndim < 2 or len(samples) < 2:
        raise InvalidDataError(f"unit {unit}: need at least 2 dSTRF samples, got {samples.shape}")
    shape = samples.shape[1:]
    x = samples.reshape(len(samples), -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InvalidDataError(f"unit {unit}: dSTRFs hold NaN or inf")
    keep = outlier_keep(x, params.outlier_sd)
    x = x[keep]
    mean = x.mean(axis=0)
    centred = x - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    eigval = s**2 / (len(x) - 1)
    total = float((centred**2).sum() / (len(x) - 1))
    floor = _noise_floor(x, params, total)
    return _finish(unit, shape, mean, eigval, vt.T, total, floor, len(x), int((~keep).sum()),
                   params)


def fit_subspaces(dstrfs: np.ndarray, params: SubspaceParams | None = None) -> list[TuningSubspace]:
    """Subspaces of every unit from dSTRFs ``[samples, units, frequency, lag]``."""
    if dstrfs.ndim != 4:
        raise InvalidDataError(f"dSTRFs must be [samples, units, frequency, lag], got {dstrfs.shape}")
    return [fit_subspace(dstrfs[:, u], params, unit=u) for u in range(dstrfs.shape[1])]


class MomentAccumulator:
    """Per-unit count, mean and centred scatter of flattened samples (float64, Chan merges).

    Parameters
    ----------
    n_units, n_features : int
    scatter : bool
        Keep the full ``[features, features]`` scatter (True) or only its trace.
    """

    def __init__(self, n_units: int, n_features: int, scatter: bool = True) -> None:
        self.count = np.zeros(n_units, dtype=np.int64)
        self.mean = np.zeros((n_units, n_features))
        self.trace = np.zeros(n_units)
        self.m2 = np.zeros((n_units, n_features, n_features)) if scatter else None

    def add(self, unit: int, x: np.ndarray) -> None:
        """Merge samples ``x [n, features]`` of one unit."""
        n_b = len(x)
        if n_b == 0:
            return
        x = np.asarray(x, dtype=np.float64)
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        n_a, n = self.count[unit], self.count[unit] + n_b
        delta = mean_b - self.mean[unit]
        self.mean[unit] += delta * (n_b / n)
        self.trace[unit] += (centred**2).sum() + (delta @ delta) * n_a * n_b / n
        if self.m2 is not None:
            self.m2[unit] += centred.T @ centred + np.outer(delta, delta) * (n_a * n_b / n)
        self.count[unit] = n

    def covariance(self, unit: int) -> np.ndarray:
        """Sample covariance (``n - 1`` normalisation) of one unit."""
        return self.m2[unit] / max(self.count[unit] - 1, 1)


def _values(chunk) -> np.ndarray:
    values = getattr(chunk, "values", chunk)
    values = np.asarray(values)
    if values.ndim != 4:
        raise InvalidDataError(f"dSTRF chunk must be [n, units, frequency, lag], got {values.shape}")
    return values


def streaming_subspaces(
    chunks: Callable[[], Iterable],
    params: SubspaceParams | None = None,
    outliers: str = "two_pass",
    reference: np.ndarray | None = None,
    units: Sequence[int] | None = None,
) -> list[TuningSubspace]:
    """Per-unit subspaces from dSTRF chunks, in memory independent of the number of bins.

    Parameters
    ----------
    chunks : callable returning an iterable
        Each call yields the same sequence of ``[n, units, frequency, lag]`` arrays (or
        :class:`~.dstrf.DSTRFChunk`); called twice with ``outliers="two_pass"``.
    params : SubspaceParams
    outliers : {"two_pass", "reference"}
        Where the outlier filter's mean and RMS deviation come from (module docstring).
    reference : ndarray [samples, units, frequency, lag]
        In-memory sample for ``outliers="reference"``.
    units : sequence of int, optional
        Unit numbers to record in the results (default 0..U-1).
    """
    params = params or SubspaceParams()
    check_choice("outliers", outliers, ("two_pass", "reference"))
    if outliers == "reference":
        if reference is None:
            raise ConfigError("outliers='reference' needs a reference sample of dSTRFs")
        ref = reference.reshape(*reference.shape[:2], -1).astype(np.float64)
        centre = ref.mean(axis=0)
        rms = np.sqrt(((ref - centre) ** 2).sum(axis=2).mean(axis=0))
    else:
        first = None
        for chunk in chunks():
            v = _values(chunk)
            v = v.reshape(*v.shape[:2], -1)
            if first is None:
                first = MomentAccumulator(v.shape[1], v.shape[2], scatter=False)
            for u in range(v.shape[1]):
                first.add(u, v[:, u])
        if first is None:
            raise InvalidDataError("no dSTRF chunks to accumulate")
        centre = first.mean
        rms = np.sqrt(first.trace / np.maximum(first.count, 1))
    acc, shape, n_out = None, None, None
    rng = np.random.default_rng(params.seed)
    cap = params.noise_max_samples
    reservoir: list[np.ndarray] = []  # per-unit kept samples, filled uniformly at random
    seen: np.ndarray | None = None
    for chunk in chunks():
        v = _values(chunk)
        if acc is None:
            shape = v.shape[2:]
            acc = MomentAccumulator(v.shape[1], int(np.prod(shape)))
            n_out = np.zeros(v.shape[1], dtype=np.int64)
            seen = np.zeros(v.shape[1], dtype=np.int64)
            reservoir = [np.zeros((0, acc.mean.shape[1])) for _ in range(v.shape[1])]
        flat = v.reshape(*v.shape[:2], -1)
        for u in range(flat.shape[1]):
            keep = outlier_keep(flat[:, u], params.outlier_sd, centre[u], float(rms[u]))
            kept = flat[keep, u].astype(np.float64)
            acc.add(u, kept)
            n_out[u] += int((~keep).sum())
            reservoir[u] = _reservoir(reservoir[u], kept, int(seen[u]), cap, rng)
            seen[u] += len(kept)
    if acc is None:
        raise InvalidDataError("no dSTRF chunks to accumulate")
    names = list(range(len(acc.count))) if units is None else list(units)
    out = []
    for u in range(len(acc.count)):
        n = int(acc.count[u])
        if n < 2:
            raise InvalidDataError(f"unit {names[u]}: fewer than 2 dSTRF samples after filtering")
        cov = acc.covariance(u)
        top = min(params.n_components, len(cov))
        eigval, eigvec = scipy.linalg.eigh(cov, subset_by_index=[len(cov) - top, len(cov) - 1])
        eigval, eigvec = eigval[::-1], eigvec[:, ::-1]
        total = float(np.trace(cov))
        floor = _noise_floor(reservoir[u], params, total)
        out.append(_finish(names[u], shape, acc.mean[u], eigval, eigvec, total, floor, n,
                           int(n_out[u]), params))
    return out


def _reservoir(current: np.ndarray, new: np.ndarray, seen: int, cap: int,
               rng: np.random.Generator) -> np.ndarray:
    """Reservoir sampling (algorithm R) of rows; rows arrive in order while there is room."""
    room = max(cap - len(current), 0)
    if room:
        current = np.concatenate([current, new[:room]])
        seen += min(room, len(new))
        new = new[room:]
    if len(new):
        slots = rng.integers(0, seen + np.arange(1, len(new) + 1))
        hit = slots < cap
        current[slots[hit]] = new[hit]  # later rows win, as in the sequential algorithm
    return current
