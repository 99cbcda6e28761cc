"""Tuning subspaces from dSTRF chunks, in memory independent of the number of bins.

A :class:`~.moments.MomentAccumulator` keeps, per unit, the count, sum and scatter
matrix of the samples' deviations from a fixed point near their mean (the outlier
filter's centre), in float64, so memory depends on ``frequency x lag`` and not on the
number of bins. The outlier filter (:mod:`.pca`) needs each unit's mean dSTRF and RMS
deviation before any sample is accumulated; they come from

* ``outliers="two_pass"``: a first pass over the same chunks (exact: equal to the
  in-memory result);
* ``outliers="reference"``: an in-memory sample (for example the paper's every-47th-bin
  sample), one pass;
* ``outliers="given"``: arrays computed elsewhere, one pass. For an ensemble,
  :func:`~...dstrf.ensemble_statistics` gets them exactly, together with the
  models' normalisers, in the pass that the normalisers need anyway.

:func:`streaming_site_subspaces` also accumulates the shared site subspace (every unit's
dSTRFs pooled) in the same pass: the pooled mean and RMS deviation follow from the
per-unit ones, since every chunk holds every unit's dSTRF at each of its bins.

The noise floor is computed on a uniform random subset (reservoir) of at most
``noise_max_samples`` samples, equal to all samples when there are fewer.

Chunks may be numpy arrays or torch tensors (``as_tensor=True`` in
:func:`~...dstrf.iter_ensemble_dstrf_chunks`): the sums, the reservoirs, the
eigenproblems and the noise floor stay on the device of the first chunk's values, so
on a GPU the dSTRFs of every bin never travel to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from ..errors import ConfigError, InvalidDataError
from ..params import check_choice
from .linalg import top_eigh
from .moments import MomentAccumulator
from .pca import SubspaceParams, TuningSubspace, _finish, _noise_floor

__all__ = [
    "streaming_subspaces",
    "streaming_site_subspaces",
    "pooled_outlier_statistics",
]


def _values(chunk) -> torch.Tensor:
    values = torch.as_tensor(getattr(chunk, "values", chunk))
    if values.ndim != 4:
        raise InvalidDataError(f"dSTRF chunk must be [n, units, frequency, lag], "
                               f"got {tuple(values.shape)}")
    return values


class _Reservoir:
    """A uniform random subset of at most ``cap`` rows per unit (algorithm R), on the
    samples' device.

    Each unit draws from a generator of its own, spawned from ``seed``, one draw per
    row past the first ``cap``: what a unit keeps depends neither on the other units nor
    on where the chunks break, and, drawn on the host, not on the device either. Only the
    chosen rows are copied; the storage grows with the rows kept, up to ``cap``.
    """

    def __init__(self, n_units: int, cap: int, seed: int, dtype: torch.dtype) -> None:
        self.n_units, self.cap, self.dtype = n_units, cap, dtype
        self.rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_units)]
        self.seen = np.zeros(n_units, dtype=np.int64)
        self.rows: torch.Tensor | None = None

    def _room_for(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """Storage for at least ``n`` rows per unit (``n <= cap``), grown by doubling."""
        if self.rows is None or len(self.rows[0]) < n:
            size = min(self.cap, max(n, 2 * (0 if self.rows is None else len(self.rows[0]))))
            grown = torch.zeros((self.n_units, size, like.shape[2]), dtype=self.dtype, device=like.device)
            if self.rows is not None:
                grown[:, : len(self.rows[0])] = self.rows
            self.rows = grown
        return self.rows

    def add(self, x: torch.Tensor, keep: np.ndarray) -> None:
        """Offer the rows of ``x [n, units, features]`` where ``keep [n, units]`` holds."""
        rows = self._room_for(int(min(self.cap, (self.seen + keep.sum(axis=0)).max())), x)
        for u in range(x.shape[1]):
            offered = np.flatnonzero(keep[:, u])
            seen = int(self.seen[u])
            room = max(self.cap - seen, 0)
            src, dst = offered[:room], seen + np.arange(min(room, len(offered)))
            rest = offered[room:]
            if len(rest):
                slots = self.rngs[u].integers(0, seen + len(src) + np.arange(1, len(rest) + 1))
                hit = slots < self.cap
                src, dst = np.concatenate([src, rest[hit]]), np.concatenate([dst, slots[hit]])
                # a slot written twice keeps the later row, as in the sequential algorithm
                dst, last = np.unique(dst[::-1], return_index=True)
                src = src[::-1][last]
            if len(src):
                index = torch.from_numpy(src).to(x.device)
                rows[u, torch.from_numpy(dst).to(x.device)] = x[index, u].to(self.dtype)
            self.seen[u] += len(offered)

    def sample(self, unit: int) -> torch.Tensor:
        """The rows kept for ``unit``."""
        assert self.rows is not None
        return self.rows[unit, : min(int(self.seen[unit]), self.cap)]


class _Stream:
    """Outlier-filtered moments, outlier counts and noise-floor reservoirs of some units."""

    def __init__(self, names: Sequence[int], n_features: int, params: SubspaceParams,
                 centre: np.ndarray, rms: np.ndarray, device: torch.device,
                 dtype: torch.dtype) -> None:
        self.params, self.names = params, list(names)
        centre, rms = np.asarray(centre, dtype=np.float64), np.asarray(rms, dtype=np.float64)
        valid = np.isfinite(centre.reshape(len(rms), -1)).all(axis=1) & np.isfinite(rms) & (rms >= 0)
        if not valid.all():
            raise InvalidDataError(
                f"unit {self.names[int(np.argmin(valid))]}: the outlier filter's centre or RMS "
                "deviation is not a finite number (do its dSTRFs hold NaN or inf?)")
        # sums about the outlier filter's centre: the deviations serve the filter too
        self.acc = MomentAccumulator(len(self.names), n_features, device=device, shift=centre)
        self.n_out = np.zeros(len(self.names), dtype=np.int64)
        # the samples' own precision: float32 dSTRFs are kept exactly in half the memory
        self.reservoir = _Reservoir(len(self.names), params.noise_max_samples, params.seed, dtype)
        limit = np.full(len(rms), np.inf) if np.isinf(params.outlier_sd) else params.outlier_sd * rms
        self.limit = torch.as_tensor(limit, device=device)[:, None]

    def add(self, x: torch.Tensor) -> None:
        """Merge ``x [n, units, features]`` (on the device): the outlier filter of
        :func:`.subspace.outlier_keep`, every unit at once, then the sums and reservoirs."""
        if len(x) == 0:
            return
        d = self.acc.deviations(x)
        size = torch.linalg.vector_norm(d, dim=2)
        finite = torch.isfinite(size).all(dim=1).cpu().numpy()  # NaN or inf reach the norms
        if not finite.all():
            unit = self.names[int(np.argmin(finite))]
            raise InvalidDataError(f"unit {unit}: dSTRFs hold NaN or inf")
        keep = size <= self.limit
        keep_host = keep.T.cpu().numpy()
        self.acc.add_deviations(d, keep)
        self.n_out += (~keep_host).sum(axis=0)
        self.reservoir.add(x, keep_host)

    def finish(self, shape: tuple[int, ...]) -> list[TuningSubspace]:
        params, acc = self.params, self.acc
        count, mean = acc.count, acc.mean
        out = []
        for u, name in enumerate(self.names):
            n = int(count[u])
            if n < 2:
                raise InvalidDataError(f"unit {name}: fewer than 2 dSTRF samples after filtering")
            cov = acc.covariance_tensor(u)
            eigval, eigvec = top_eigh(cov, min(params.n_components, len(cov)))
            total = float(torch.trace(cov))
            floor = _noise_floor(self.reservoir.sample(u), params, total)
            out.append(_finish(name, shape, mean[u], eigval, eigvec, total, floor, n,
                               int(self.n_out[u]), params))
        return out


def _first_pass(chunks: Callable[[], Iterable]) -> tuple[np.ndarray, np.ndarray]:
    first = None
    for chunk in chunks():
        v = _values(chunk)
        v = v.reshape(*v.shape[:2], int(np.prod(v.shape[2:])))
        if first is None:
            first = MomentAccumulator(v.shape[1], v.shape[2], scatter=False, device=v.device)
        first.add(v)
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
            rms: np.ndarray, pooled: bool, names: Sequence[int] | None = None,
            ) -> tuple[_Stream, _Stream | None, tuple]:
    """Accumulate every chunk on the device its values are on (the first chunk's)."""
    units = site = None
    shape: tuple[int, ...] = ()
    for chunk in chunks():
        v = _values(chunk)
        if units is None:
            shape = tuple(v.shape[2:])
            n_feat = int(np.prod(shape))
            kept = v.dtype if v.is_floating_point() else torch.float64
            unit_names = list(range(v.shape[1])) if names is None else list(names)
            if len(unit_names) != v.shape[1]:
                raise InvalidDataError(f"{len(unit_names)} unit numbers for {v.shape[1]} units "
                                       "in the dSTRF chunks")
            units = _Stream(unit_names, n_feat, params, centre, rms, v.device, kept)
            if pooled:
                p_centre, p_rms = pooled_outlier_statistics(centre, rms)
                site = _Stream([-1], n_feat, params, p_centre[None], np.array([p_rms]), v.device,
                               kept)
        flat = v.reshape(*v.shape[:2], int(np.prod(v.shape[2:]))).to(units.acc.device)
        units.add(flat)
        if site is not None:
            site.add(flat.reshape(-1, 1, flat.shape[2]))
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
    params = SubspaceParams.of(params)
    centre, rms = _outlier_statistics(chunks, outliers, reference, centre, rms)
    stream, _, shape = _stream(chunks, params, centre, rms, pooled=False, names=units)
    return stream.finish(shape)


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
    params = SubspaceParams.of(params)
    if outliers == "reference":
        raise ConfigError("streaming_site_subspaces takes outliers='two_pass' or 'given'")
    centre, rms = _outlier_statistics(chunks, outliers, None, centre, rms)
    stream, site, shape = _stream(chunks, params, centre, rms, pooled=True)
    assert site is not None
    return stream.finish(shape), site.finish(shape)[0]
