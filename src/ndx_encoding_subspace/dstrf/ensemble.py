"""Ensemble dSTRFs (METHOD.md section 3): per-model normalisation, averaging, shrinkage.

Each model's dSTRFs (:mod:`.gradients`) are divided by their per-unit standard deviation on
the paper's sample (:func:`model_scales`), averaged over the ensemble's models, and
optionally shrunk towards zero where the models disagree (:func:`shrink`).
:func:`ensemble_statistics` gets the normalisers and, in the same pass, the mean and RMS
deviation of the (unshrunk) ensemble dSTRFs that the streamed outlier filter needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, InvalidDataError
from .gradients import dstrf, iter_dstrf_chunks
from .params import DSTRFChunk, DSTRFParams

__all__ = ["model_scales", "shrink", "iter_ensemble_dstrf_chunks", "ensemble_dstrf",
           "EnsembleStatistics", "ensemble_statistics"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def model_scales(
    models: Sequence[nn.Module],
    stimulus: np.ndarray | Sequence[np.ndarray],
    params: DSTRFParams | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Per-model, per-unit standard deviation of the dSTRFs at the bins ``params`` samples.

    Returns ``[n_models, units]``; the standard deviation is over samples, frequencies
    and lags. These are the ensemble's normalisers. Accumulated chunk by chunk (memory
    bounded by ``params.windows_per_chunk()``, whatever the number of bins).
    ``progress(windows)`` is called with the windows done, summed over the models.
    """
    params = DSTRFParams.of(params)
    out, done = [], 0
    for m in models:
        count, mean, m2 = 0, None, None
        for chunk in iter_dstrf_chunks(m, stimulus, None, params):
            done += len(chunk.times)
            if progress is not None:
                progress(done)
            v = chunk.values.astype(np.float64).transpose(1, 0, 2, 3).reshape(chunk.values.shape[1], -1)
            n_b = v.shape[1]
            mean_b = v.mean(axis=1)
            m2_b = ((v - mean_b[:, None]) ** 2).sum(axis=1)
            if mean is None:
                count, mean, m2 = n_b, mean_b, m2_b
                continue
            delta = mean_b - mean
            total = count + n_b
            mean = mean + delta * n_b / total
            m2 = m2 + m2_b + delta**2 * count * n_b / total
            count = total
        if mean is None:
            raise InvalidDataError("no time bins requested for the dSTRF")
        out.append(np.sqrt(m2 / count))
    return np.asarray(out)


@dataclasses.dataclass(frozen=True)
class EnsembleStatistics:
    """Normalisers and ensemble-dSTRF moments from one pass (:func:`ensemble_statistics`).

    Attributes
    ----------
    scales : ndarray [models, units]
        As :func:`model_scales`.
    centre : ndarray [units, frequency * lag]
        Mean ensemble dSTRF (models divided by their scales, then averaged).
    rms : ndarray [units]
        Root-mean-square Euclidean deviation of the ensemble dSTRFs from ``centre``.
    count : int
        Bins the statistics are taken over.
    """

    scales: np.ndarray
    centre: np.ndarray
    rms: np.ndarray
    count: int


def ensemble_statistics(
    models: Sequence[nn.Module],
    stimulus: np.ndarray | Sequence[np.ndarray],
    params: DSTRFParams | None = None,
    progress: Callable[[int], None] | None = None,
) -> EnsembleStatistics:
    """The ensemble's normalisers and the mean and RMS deviation of its dSTRFs, one pass.

    Every model's dSTRFs are taken chunk by chunk at the bins ``params`` samples; per
    unit, their means and the co-moments between models (``[models, models]``) are
    merged across chunks (Chan et al.). With ``s_m`` the scales and ``C`` the co-moments,
    the ensemble dSTRF ``mean_m(d_m / s_m)`` has mean ``mean_m(mu_m / s_m)`` and mean
    square deviation ``sum_mm' C_mm' / (s_m s_m') / (M^2 n)``: exact without computing
    the ensemble dSTRFs first. Shrinkage (nonlinear) is not included. Memory is bounded
    by ``params.windows_per_chunk()``; the sums stay on the dSTRF device in float64.
    ``progress(windows)`` is called with the windows done (of every model).
    """
    params = DSTRFParams.of(params)
    if len(models) == 0:
        raise ConfigError("ensemble statistics need at least one model, got none")
    n, mean, com = 0, None, None
    iters = [iter_dstrf_chunks(m, stimulus, None, params, as_tensor=True) for m in models]
    for parts in zip(*iters):
        n_b, n_units = parts[0].values.shape[:2]
        if mean is None:
            n_feat = int(np.prod(parts[0].values.shape[2:]))
            kw = {"dtype": torch.float64, "device": parts[0].values.device}
            mean = torch.zeros((n_units, len(models), n_feat), **kw)
            com = torch.zeros((n_units, len(models), len(models)), **kw)
        total = n + n_b
        for u in range(n_units):
            x = torch.stack([p.values[:, u].reshape(n_b, -1) for p in parts]).double()
            mean_b = x.mean(dim=1)
            centred = (x - mean_b[:, None]).reshape(len(models), -1)
            delta = mean_b - mean[u]
            com[u] += centred @ centred.T + (delta @ delta.T) * (n * n_b / total)
            mean[u] += delta * (n_b / total)
        n = total
        if progress is not None:
            progress(n)
    if mean is None:
        raise InvalidDataError("no time bins requested for the dSTRF")
    mean, com = mean.cpu().numpy(), com.cpu().numpy()
    n_feat = mean.shape[2]
    diag = np.einsum("umm->um", com)
    spread = ((mean - mean.mean(axis=2, keepdims=True)) ** 2).sum(axis=2)
    scales = np.sqrt((diag + n * spread) / (n * n_feat)).T
    inv = 1.0 / np.where(scales > 0, scales, 1.0).T  # [units, models]
    centre = np.einsum("ume,um->ue", mean, inv) / len(models)
    square = np.einsum("umk,um,uk->u", com, inv, inv) / (len(models) ** 2 * n)
    return EnsembleStatistics(scales, centre, np.sqrt(np.maximum(square, 0.0)), n)


def shrink(mean: ArrayT, sem: ArrayT, strength: float) -> ArrayT:
    """Shrink ``mean`` towards zero where it is small against its standard error.

    ``mean * max(0, 1 - (strength * sem / |mean|)^2)`` element by element: elements
    within ``strength`` standard errors of zero become 0; ``strength = 0`` leaves
    ``mean`` unchanged. Arrays or tensors (same type out, in ``mean``'s dtype).
    """
    if isinstance(mean, np.ndarray):
        return shrink(torch.from_numpy(np.require(mean, requirements="C")),
                      torch.from_numpy(np.require(sem, requirements="C")), strength).numpy()
    if strength == 0:
        return mean.clone()
    ratio = torch.where(mean != 0, strength * sem / mean.abs(), torch.inf)
    return (mean * (1.0 - ratio**2).clamp(min=0.0)).to(mean.dtype)


def iter_ensemble_dstrf_chunks(
    models: Sequence[nn.Module],
    stimulus: np.ndarray | Sequence[np.ndarray],
    times: None | str | np.ndarray | Sequence[np.ndarray] = None,
    params: DSTRFParams | None = None,
    scales: np.ndarray | None = None,
    as_tensor: bool = False,
) -> Iterator[DSTRFChunk]:
    """Ensemble dSTRFs chunk by chunk: each model's dSTRFs divided by its per-unit scale
    (:func:`model_scales`, computed on the paper's sample when not given), averaged over
    models and shrunk with ``params.shrinkage`` (standard error over models).

    The averaging runs on the dSTRF device; ``as_tensor`` leaves the values there as
    torch tensors (see :func:`~.dstrf.iter_dstrf_chunks`).
    """
    params = DSTRFParams.of(params)
    if len(models) == 0:
        raise ConfigError("ensemble dSTRF needs at least one model, got none")
    if scales is None:
        scales = model_scales(models, stimulus, params)
    scales = np.where(np.asarray(scales) > 0, scales, 1.0)
    iters = [iter_dstrf_chunks(m, stimulus, times, params, as_tensor=True) for m in models]
    shrinking = params.shrinkage > 0 and len(models) > 1
    inverse = torch.as_tensor(1.0 / scales, dtype=torch.float32,
                              device=params.torch_device())[:, None, :, None, None]
    for parts in zip(*iters):
        if shrinking:
            # float64 moments: the spread between models can be small against the mean
            total = square = None
            for p, inv in zip(parts, inverse):
                x = (p.values * inv).double()
                sq = x.square()
                total = x if total is None else total.add_(x)
                square = sq if square is None else square.add_(sq)
            mean = total / len(models)
            var = (square - total * mean).clamp_(min=0.0) / (len(models) - 1)
            mean = shrink(mean, (var / len(models)).sqrt_(), params.shrinkage).float()
        else:
            # in place, in float32: each chunk's values are fresh tensors of this iterator
            mean = parts[0].values.mul_(inverse[0])
            for p, inv in zip(parts[1:], inverse[1:]):
                mean.add_(p.values.mul_(inv))
            mean.mul_(1.0 / len(models))
        yield DSTRFChunk(parts[0].sound, parts[0].times, mean if as_tensor else mean.cpu().numpy())


def ensemble_dstrf(
    models: Sequence[nn.Module],
    stimulus: np.ndarray | Sequence[np.ndarray],
    times: None | str | np.ndarray | Sequence[np.ndarray] = None,
    params: DSTRFParams | None = None,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """Ensemble dSTRFs ``[n_times, units, frequency, n_lags]`` (see the iterator).

    At the sampled bins (``times=None``) with no ``scales`` given, each model's dSTRFs
    are computed once: its normalisers are read off them and they are added into the
    ensemble sums before the next model's (the iterator would compute them twice).
    """
    params = DSTRFParams.of(params)
    if times is None and scales is None:
        return _ensemble_one_pass(models, stimulus, params)
    parts = [c.values for c in iter_ensemble_dstrf_chunks(models, stimulus, times, params, scales)]
    if not parts:
        raise InvalidDataError("no time bins requested for the dSTRF")
    return np.concatenate(parts)


def _ensemble_one_pass(models: Sequence[nn.Module], stimulus, params: DSTRFParams) -> np.ndarray:
    """:func:`ensemble_dstrf` at the sampled bins, each model's dSTRFs computed once."""
    if len(models) == 0:
        raise ConfigError("ensemble dSTRF needs at least one model, got none")
    total = square = None
    shrinking = params.shrinkage > 0 and len(models) > 1
    for m in models:
        values = dstrf(m, stimulus, None, params)
        scale = values.std(axis=(0, 2, 3), dtype=np.float64)
        values /= np.where(scale > 0, scale, 1.0).astype(np.float32)[None, :, None, None]
        if shrinking:
            # float64 second moments: the spread between models can be small against the mean
            sq = values.astype(np.float64) ** 2
            square = sq if square is None else square + sq
        if total is None:
            total = values
        else:
            total += values
    mean = total / np.float32(len(models))
    if shrinking:
        var = np.maximum(square - total.astype(np.float64) * mean, 0.0) / (len(models) - 1)
        mean = shrink(mean, np.sqrt(var / len(models)), params.shrinkage)
    return mean.astype(np.float32)
