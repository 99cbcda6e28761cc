"""Dynamic STRFs: exact gradients of a causal model's outputs (METHOD.md section 3).

The dSTRF of unit ``n`` at bin ``t`` is the Jacobian of output ``n`` at ``t`` with
respect to the ``D``-bin input window ending at ``t``, the stimulus being zero before
its first bin (so the windows of early bins are exact, not truncated). The package's
models predict the same way (:meth:`.models.StackedModel.core`), so at every bin the
dSTRF is the gradient of the model's own prediction; a model that pads inside its
layers instead differs from it in its first ``receptive field - 1`` bins. It is returned
as an array ``[F, D]`` whose last axis is the *lag*: ``dstrf[f, d]`` is the weight of
``stim[t - d, f]`` (``d = 0`` is the current bin). This is the convention of
:mod:`..subspace.projection`.

How it is computed
------------------
The model is split into stages and its plan checked on the first stimulus
(:mod:`.stages`); the requested bins are then taken in chunks of windows, each
differentiated by one batched backward pass (:mod:`.backward`). On the CPU a chunk is
processed in pieces of about :data:`CPU_COLUMNS` windows x units so that the widest
cotangent stays in the last-level cache.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..arrays import real_array
from ..compute import flushed_subnormals, full_float32
from ..errors import ConfigError, InvalidDataError
from .backward import _Plan, _to_lags, _window_jacobian, _windows
from .layers import Workspace
from .params import DSTRFChunk, DSTRFParams, sample_times, window_bytes
from .stages import _plan

__all__ = ["dstrf", "iter_dstrf_chunks"]


def _prepare(model: nn.Module, params: DSTRFParams) -> nn.Module:
    device = params.torch_device()
    first = next(model.parameters(), None)
    same = first is None or first.device == device
    if model.training or not same:
        model = copy.deepcopy(model).to(device).eval()
    return model


def _as_list(stimulus: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(stimulus, np.ndarray | torch.Tensor) or getattr(stimulus, "ndim", None) == 2:
        stimulus = [stimulus]  # one stimulus (a pandas DataFrame too), not a list of them
    out = []
    for i, s in enumerate(stimulus):
        # real numbers in C order: a tensor needing gradients, a reversed view, complex values
        arr = np.ascontiguousarray(real_array(s, f"stimulus {i}"), dtype=np.float32)
        if arr.ndim != 2:
            raise InvalidDataError(f"stimulus {i}: expected [time, frequency], got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise InvalidDataError(f"stimulus {i}: holds NaN or inf")
        out.append(arr)
    return out


def _resolve_times(stims: list[np.ndarray], times, params: DSTRFParams) -> list[np.ndarray]:
    if times is None:
        return sample_times([len(s) for s in stims], params)
    if isinstance(times, str):
        if times != "all":
            raise ConfigError(f"times must be None, 'all' or bin indices, got {times!r}")
        return [np.arange(len(s)) for s in stims]
    if len(stims) == 1 and hasattr(times, "__iter__") and not any(hasattr(t, "__len__") for t in times):
        times = [times]
    if not hasattr(times, "__len__") or len(times) != len(stims):
        raise InvalidDataError(f"times: {len(times) if hasattr(times, '__len__') else 'a number, not'} "
                               f"arrays for {len(stims)} stimuli (one array of bins per stimulus)")
    out = []
    for i, (s, t) in enumerate(zip(stims, times)):
        t = np.asarray(t)
        if t.dtype == bool:  # a mask of the stimulus's bins
            if t.shape != (len(s),):
                raise InvalidDataError(f"times for stimulus {i}: a mask of {t.shape} for {len(s)} bins")
            t = np.flatnonzero(t)
        if t.size and t.dtype.kind == "f" and np.all(np.isfinite(t)) and np.all(t == np.round(t)):
            t = t.astype(np.int64)  # whole numbers kept as floats
        if t.ndim != 1 or (t.size and not np.issubdtype(t.dtype, np.integer)):
            raise InvalidDataError(f"times for stimulus {i}: bin indices (whole numbers) or a mask, got "
                                   f"{t.dtype} of shape {t.shape}")
        t = t.astype(np.int64)
        if t.size and (t.min() < 0 or t.max() >= len(s)):
            raise InvalidDataError(f"times for stimulus {i} fall outside 0..{len(s) - 1}")
        out.append(t)
    return out


def iter_dstrf_chunks(
    model: nn.Module,
    stimulus: np.ndarray | Sequence[np.ndarray],
    times: None | str | np.ndarray | Sequence[np.ndarray] = None,
    params: DSTRFParams | None = None,
    units: Sequence[int] | None = None,
    as_tensor: bool = False,
) -> Iterator[DSTRFChunk]:
    """dSTRFs in chunks of at most ``params.windows_per_chunk()`` bins (memory bounded by it).

    Parameters
    ----------
    model : torch.nn.Module
        Causal model ``[batch, time, frequency] -> [batch, time, units]``; not modified.
    stimulus : ndarray [time, frequency] or list of them
    times : None, "all", array of bins, or one array per stimulus
        None: the paper's sample (:func:`sample_times`); "all": every bin. An array of
        bins may be a boolean mask of the stimulus's bins.
    params : DSTRFParams
    units : sequence of int, optional
        Output units to differentiate (default all).
    as_tensor : bool
        Yield ``values`` as torch tensors left on the dSTRF device (no copy to the host),
        for consumers that work there; each chunk's tensor is a new one.

    Yields
    ------
    DSTRFChunk
        ``values`` of shape ``[n, units, frequency, n_lags]`` (last axis: lag).
    """
    params = DSTRFParams.of(params)
    stims = _as_list(stimulus)
    bins = _resolve_times(stims, times, params)
    plan = _start(model, stims[0], params)
    for chunk in _chunks(plan, stims, bins, params, units, None):
        if not as_tensor:
            chunk = dataclasses.replace(chunk, values=chunk.values.cpu().numpy())
        yield chunk


def _start(model: nn.Module, first: np.ndarray, params: DSTRFParams) -> _Plan:
    """The plan for ``model`` on the target device, made on the first stimulus."""
    stim = torch.from_numpy(first).to(params.torch_device())
    with full_float32(stim.device):
        return _plan(_prepare(model, params), stim, params)


def _chunks(plan: _Plan, stims: list[np.ndarray], bins: list[np.ndarray], params: DSTRFParams,
            units: Sequence[int] | None, out: np.ndarray | None) -> Iterator[DSTRFChunk]:
    """Chunks of validated inputs, values as tensors on the device; written into
    consecutive row blocks of ``out`` if given.

    A chunk holds the bins of one stimulus; the bins of several short stimuli are
    computed together, up to ``params.windows_per_chunk()`` windows at a time (the
    paper's sample takes a few bins of each of hundreds of sounds), and handed out
    stimulus by stimulus as views of the values.
    """
    device = params.torch_device()
    unit_index = None if units is None else torch.as_tensor(_valid_units(units, plan.n_outputs),
                                                            device=device)
    d, row, workspace = params.n_lags, 0, Workspace()
    n_units = plan.n_outputs if units is None else len(units)
    step = params.windows_per_chunk(window_bytes(n_units, stims[0].shape[1], max(d, plan.total)))
    pieces = [(k, t_np[a:a + step]) for k, t_np in enumerate(bins) for a in range(0, len(t_np), step)]
    group: list[tuple[int, np.ndarray]] = []
    on_device: dict[int, torch.Tensor] = {}  # the sounds of the group, each moved once

    def stim(k: int) -> torch.Tensor:
        if k not in on_device:
            on_device.clear()  # a sound's pieces are consecutive: keep the last one only
            on_device[k] = torch.from_numpy(stims[k]).to(device)
        return on_device[k]

    for i, piece in enumerate(pieces):
        group.append(piece)
        size = sum(len(t) for _, t in group)
        if i + 1 < len(pieces) and size + len(pieces[i + 1][1]) <= step:
            continue
        block = None if out is None else out[row:row + size]
        row += size
        # not across the yield: the caller's code is its own
        with full_float32(device), flushed_subnormals():
            windows = torch.cat([_windows(stim(k), torch.as_tensor(t, device=device), plan.total)
                                 for k, t in group])
            values = _chunk_values(plan, windows, unit_index, d, block, workspace)
        start = 0
        for k, t in group:
            yield DSTRFChunk(k, t.copy(), values[start:start + len(t)])
            start += len(t)
        group = []


def _valid_units(units: Sequence[int], n_outputs: int) -> list[int]:
    chosen = [int(u) for u in units]
    wrong = [u for u in chosen if not 0 <= u < n_outputs]
    if not chosen:
        raise ConfigError(f"units: none chosen; the model has outputs 0 to {n_outputs - 1}")
    if wrong:
        raise ConfigError(f"units {wrong}: the model has outputs 0 to {n_outputs - 1}")
    return chosen


#: Cotangent columns (windows x units) per product on the CPU: larger batches of the
#: paper CNN's layer-1 cotangents fall out of the last-level cache and run slower.
CPU_COLUMNS = 2048


def _chunk_values(plan: _Plan, windows: torch.Tensor, units: torch.Tensor | None,
                  n_lags: int, out: np.ndarray | None = None,
                  workspace: Workspace | None = None) -> torch.Tensor:
    """dSTRFs ``[n, units, F, n_lags]`` of the windows ``[n, plan.total, F]`` on their
    device (copied into ``out`` too if given), in cache-sized pieces on the CPU, reusing
    the buffers of ``workspace``."""
    n_units = plan.n_outputs if units is None else len(units)
    shape = (len(windows), n_units, windows.shape[2], n_lags)
    on_cpu = windows.device.type == "cpu"
    if out is not None and on_cpu:
        values = torch.from_numpy(out)  # written in place
    else:
        values = torch.empty(shape, dtype=torch.float32, device=windows.device)
    step = len(windows) if not on_cpu else max(1, CPU_COLUMNS // max(1, n_units))
    for a in range(0, len(windows), step):
        with torch.no_grad():
            grads = _window_jacobian(plan, windows[a:a + step], units, workspace)
        _to_lags(grads, n_lags, values[a:a + step])
    if out is not None and not on_cpu:
        out[...] = values.cpu().numpy()
    return values


def dstrf(
    model: nn.Module,
    stimulus: np.ndarray | Sequence[np.ndarray],
    times: None | str | np.ndarray | Sequence[np.ndarray] = None,
    params: DSTRFParams | None = None,
    units: Sequence[int] | None = None,
) -> np.ndarray:
    """dSTRFs of one model, ``[n_times, units, frequency, n_lags]`` float32.

    See :func:`iter_dstrf_chunks` for the arguments; rows follow the stimuli in order,
    then the requested bins in order.
    """
    params = DSTRFParams.of(params)
    stims = _as_list(stimulus)
    bins = _resolve_times(stims, times, params)
    n = sum(len(t) for t in bins)
    if n == 0:
        raise InvalidDataError("no time bins requested for the dSTRF")
    plan = _start(model, stims[0], params)
    n_units = plan.n_outputs if units is None else len(units)
    # Chunks are written in place: concatenating them afterwards would copy every value again.
    out = np.empty((n, n_units, stims[0].shape[1], params.n_lags), dtype=np.float32)
    for _ in _chunks(plan, stims, bins, params, units, out):
        pass
    return out
