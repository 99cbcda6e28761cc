"""Tuning subspaces from dSTRF chunks, in memory independent of the number of bins.

:class:`MomentAccumulator` keeps, per unit, the count, mean and centred scatter matrix in
float64 and merges chunks with Chan et al.'s update, so memory depends on
``frequency x lag`` and not on the number of bins. The outlier filter
(:mod:`.subspace`) needs each unit's mean dSTRF and RMS deviation before any sample is
accumulated; they come from

* ``outliers="two_pass"``: a first pass over the same chunks (exact: equal to the
  in-memory result);
* ``outliers="reference"``: an in-memory sample (for example the paper's every-47th-bin
  sample), one pass;
* ``outliers="given"``: arrays computed elsewhere, one pass. For an ensemble,
  :func:`~.dstrf_ensemble.ensemble_statistics` gets them exactly, together with the
  models' normalisers, in the pass that the normalisers need anyway.

:func:`streaming_site_subspaces` also accumulates the shared site subspace (every unit's
dSTRFs pooled) in the same pass: the pooled mean and RMS deviation follow from the
per-unit ones, since every chunk holds every unit's dSTRF at each of its bins.

The noise floor is computed on a uniform random subset (reservoir) of at most
``noise_max_samples`` samples, equal to all samples when there are fewer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.linalg

from .errors import ConfigError, InvalidDataError
from .params import check_choice
from .subspace import SubspaceParams, TuningSubspace, _finish, _noise_floor, outlier_keep

__all__ = [
    "MomentAccumulator",
    "streaming_subspaces",
    "streaming_site_subspaces",
    "pooled_outlier_statistics",
]


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


class _Stream:
    """Outlier-filtered moments, outlier counts and noise-floor reservoirs of some units."""

    def __init__(self, n_units: int, n_features: int, params: SubspaceParams) -> None:
        self.params = params
        self.acc = MomentAccumulator(n_units, n_features)
        self.n_out = np.zeros(n_units, dtype=np.int64)
        self.seen = np.zeros(n_units, dtype=np.int64)
        self.reservoir = [np.zeros((0, n_features)) for _ in range(n_units)]
        self.rng = np.random.default_rng(params.seed)

    def add(self, unit: int, x: np.ndarray, centre: np.ndarray, rms: float) -> None:
        keep = outlier_keep(x, self.params.outlier_sd, centre, rms)
        kept = x[keep].astype(np.float64)
        self.acc.add(unit, kept)
        self.n_out[unit] += int((~keep).sum())
        self.reservoir[unit] = _reservoir(self.reservoir[unit], kept, int(self.seen[unit]),
                                          self.params.noise_max_samples, self.rng)
        self.seen[unit] += len(kept)

    def finish(self, names: Sequence[int], shape: tuple[int, ...]) -> list[TuningSubspace]:
        params, acc = self.params, self.acc
        out = []
        for u, name in enumerate(names):
            n = int(acc.count[u])
            if n < 2:
                raise InvalidDataError(f"unit {name}: fewer than 2 dSTRF samples after filtering")
            cov = acc.covariance(u)
            top = min(params.n_components, len(cov))
            eigval, eigvec = scipy.linalg.eigh(cov, subset_by_index=[len(cov) - top, len(cov) - 1])
            eigval, eigvec = eigval[::-1], eigvec[:, ::-1]
            total = float(np.trace(cov))
            floor = _noise_floor(self.reservoir[u], params, total)
            out.append(_finish(name, shape, acc.mean[u], eigval, eigvec, total, floor, n,
                               int(self.n_out[u]), params))
        return out


def _first_pass(chunks: Callable[[], Iterable]) -> tuple[np.ndarray, np.ndarray]:
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
    return first.mean, np.sqrt(first.trace / np.maximum(first.count, 1))


def _outlier_statistics(chunks: Callable[[], Iterable], outliers: str,
                        reference: np.ndarray | None, centre: np.ndarray | None,
                        rms: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    check_choice("outliers", outliers, ("two_pass", "reference", "given"))
    if outliers == "reference":
        if reference is None:
            raise ConfigError("outliers='reference' needs a reference sample of dSTRFs")
        ref = reference.reshape(*reference.shape[:2], -1).astype(np.float64)
        mean = ref.mean(axis=0)
        return mean, np.sqrt(((ref - mean) ** 2).sum(axis=2).mean(axis=0))
    if outliers == "given":
        if centre is None or rms is None:
            raise ConfigError("outliers='given' needs centre [units, features] and rms [units]")
        return np.asarray(centre, dtype=np.float64), np.asarray(rms, dtype=np.float64)
    return _first_pass(chunks)


def pooled_outlier_statistics(centre: np.ndarray, rms: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean and RMS deviation of every unit's samples pooled, from the per-unit ones.

    Exact when every unit has the same number of samples (each dSTRF chunk holds every
    unit at each of its bins): the pooled mean is the mean of the unit means, and the
    pooled mean square deviation adds each unit's squared distance to it.
    """
    centre = np.asarray(centre, dtype=np.float64)
    pooled = centre.mean(axis=0)
    spread = ((centre - pooled) ** 2).sum(axis=1)
    return pooled, float(np.sqrt(np.mean(np.asarray(rms, dtype=np.float64) ** 2 + spread)))


def _stream(chunks: Callable[[], Iterable], params: SubspaceParams, centre: np.ndarray,
            rms: np.ndarray, pooled: bool) -> tuple[_Stream | None, _Stream | None, tuple]:
    units = site = None
    shape: tuple[int, ...] = ()
    p_centre, p_rms = pooled_outlier_statistics(centre, rms) if pooled else (None, 0.0)
    for chunk in chunks():
        v = _values(chunk)
        if units is None:
            shape = v.shape[2:]
            units = _Stream(v.shape[1], int(np.prod(shape)), params)
            site = _Stream(1, int(np.prod(shape)), params) if pooled else None
        flat = v.reshape(*v.shape[:2], -1)
        for u in range(flat.shape[1]):
            units.add(u, flat[:, u], centre[u], float(rms[u]))
        if site is not None:
            site.add(0, flat.reshape(-1, flat.shape[2]), p_centre, p_rms)
    if units is None:
        raise InvalidDataError("no dSTRF chunks to accumulate")
    return units, site, shape


def streaming_subspaces(
    chunks: Callable[[], Iterable],
    params: SubspaceParams | None = None,
    outliers: str = "two_pass",
    reference: np.ndarray | None = None,
    units: Sequence[int] | None = None,
    *,
    centre: np.ndarray | None = None,
    rms: np.ndarray | None = None,
) -> list[TuningSubspace]:
    """Per-unit subspaces from dSTRF chunks, in memory independent of the number of bins.

    Parameters
    ----------
    chunks : callable returning an iterable
        Each call yields the same sequence of ``[n, units, frequency, lag]`` arrays (or
        :class:`~.dstrf.DSTRFChunk`); called twice with ``outliers="two_pass"``.
    params : SubspaceParams
    outliers : {"two_pass", "reference", "given"}
        Where the outlier filter's mean and RMS deviation come from (module docstring).
    reference : ndarray [samples, units, frequency, lag]
        In-memory sample for ``outliers="reference"``.
    units : sequence of int, optional
        Unit numbers to record in the results (default 0..U-1).
    centre, rms : ndarray [units, frequency * lag] and [units]
        The outlier filter's statistics for ``outliers="given"``.
    """
    params = params or SubspaceParams()
    centre, rms = _outlier_statistics(chunks, outliers, reference, centre, rms)
    stream, _, shape = _stream(chunks, params, centre, rms, pooled=False)
    names = list(range(len(stream.acc.count))) if units is None else list(units)
    return stream.finish(names, shape)


def streaming_site_subspaces(
    chunks: Callable[[], Iterable],
    params: SubspaceParams | None = None,
    outliers: str = "two_pass",
    *,
    centre: np.ndarray | None = None,
    rms: np.ndarray | None = None,
) -> tuple[list[TuningSubspace], TuningSubspace]:
    """Per-unit subspaces and the shared site subspace (unit ``-1``) in one pass.

    Equal to :func:`streaming_subspaces` on the chunks and on the chunks with every
    unit's samples pooled, with one pass over the chunks when ``outliers="given"``
    (``centre`` and ``rms`` of every unit), two with ``"two_pass"``.
    """
    params = params or SubspaceParams()
    if outliers == "reference":
        raise ConfigError("streaming_site_subspaces takes outliers='two_pass' or 'given'")
    centre, rms = _outlier_statistics(chunks, outliers, None, centre, rms)
    stream, site, shape = _stream(chunks, params, centre, rms, pooled=True)
    assert site is not None
    units = stream.finish(list(range(len(stream.acc.count))), shape)
    return units, site.finish([-1], shape)[0]
