"""Dynamic STRFs: exact gradients of a causal model's outputs (METHOD.md section 3).

The dSTRF of unit ``n`` at bin ``t`` is the Jacobian of output ``n`` at ``t`` with
respect to the ``D``-bin input window ending at ``t``, the stimulus being zero before
its first bin (so the windows of early bins are exact, not truncated). The package's
models predict the same way (:meth:`.models.StackedModel.core`), so at every bin the
dSTRF is the gradient of the model's own prediction; a model that pads inside its
layers instead differs from it in its first ``receptive field - 1`` bins. It is returned
as an array ``[F, D]`` whose last axis is the *lag*: ``dstrf[f, d]`` is the weight of
``stim[t - d, f]`` (``d = 0`` is the current bin). This is the convention of
:mod:`.projection`.

How it is computed
------------------
A model is split into *stages*, causal modules ``[batch, time, channels]`` ->
``[batch, time, channels']`` whose composition is the model (``core`` followed by the
output nonlinearity). A stage's receptive field ``r`` is read from its
``receptive_field`` attribute or measured by perturbation. Output ``n`` at ``t`` needs
the last stage's input at 1 bin, the stage before it at ``r_L`` bins, and so on: each
stage is evaluated (and differentiated) only on the bins it influences. The forward
pass runs on a batch of windows; the backward pass carries one cotangent per (window,
unit), all at once, laid out feature-major (:mod:`.dstrf_layers`): channel-linear maps
are single matrix products over every bin, window and unit, depthwise FIR filters are
one batched Toeplitz product, a FIR read at one bin is folded into the channel map
before it, and the model's first two layers write the result directly in lag order.
Time-pointwise layers (the dense tail of the paper's CNN) cost one bin instead of
``D``. On the CPU a chunk is processed in pieces of about :data:`CPU_COLUMNS`
windows x units so that the widest cotangent stays in the last-level cache. Layers
without an explicit rule fall back to ``torch.func.vmap`` over ``torch.func.vjp``.

Stages are taken from ``model.dstrf_stages()`` when the model defines it, else from
``model.core`` or ``model.layers`` when that is an ``nn.Sequential``/``nn.ModuleList``;
the decomposition is checked numerically against the whole model on the stimulus and
dropped (with a log message) when it does not match. A model with no usable stages is
one stage: the plain batched per-window Jacobian.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..compute import full_float32
from ..errors import ConfigError, InvalidDataError
from ..params import Params, check_range
from .layers import (
    FIRRule,
    GenericRule,
    LayerRule,
    LinearRule,
    Workspace,
    fused_fir_linear,
    input_fir_linear,
    rule_for,
)

__all__ = [
    "DSTRFParams",
    "DSTRFChunk",
    "sample_times",
    "receptive_field",
    "dstrf",
    "iter_dstrf_chunks",
]

log = logging.getLogger(__name__)
Stage = Callable[[torch.Tensor], torch.Tensor]

#: Default windows per chunk on the CPU: a chunk's dSTRFs stay within a few tens of MB.
CPU_CHUNK = 256
#: Default windows per chunk on a GPU: fewer, larger batches keep the card busy
#: (the paper CNN's 50 units: about 0.8 GB of float32 dSTRFs per chunk and model).
DEVICE_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class DSTRFParams(Params):
    """Parameters of the dSTRF step.

    Parameters
    ----------
    n_lags : int
        Window length ``D`` in bins (paper: 30); at least the model's receptive field.
    sample_step : int
        Every ``sample_step``-th bin of the concatenated stimuli is sampled (paper: 47).
    max_samples : int
        At most this many sampled bins, evenly thinned (paper: 3000).
    include_output_nonlinearity : bool
        Differentiate the model's output (True, paper) or ``model.core`` (False).
    chunk_size : int or None
        Windows per batch; bounds memory (about ``chunk_size * units * D * channels``
        floats for the widest stage). None: :data:`CPU_CHUNK` on the CPU,
        :data:`DEVICE_CHUNK` on a GPU (see :meth:`windows_per_chunk`).
    shrinkage : float
        Ensemble shrinkage strength (0: plain mean); see :func:`shrink`.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    n_lags: int = 30
    sample_step: int = 47
    max_samples: int = 3000
    include_output_nonlinearity: bool = True
    chunk_size: int | None = None
    shrinkage: float = 0.0
    device: str = "auto"

    def validate(self) -> None:
        for name in ("n_lags", "sample_step", "max_samples", "chunk_size"):
            value = getattr(self, name)
            if name == "chunk_size" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"DSTRFParams.{name} must be an integer, got {value!r}")
            check_range(f"DSTRFParams.{name}", value, 1)
        check_range("DSTRFParams.shrinkage", self.shrinkage, 0.0)
        if not isinstance(self.include_output_nonlinearity, bool):
            raise ConfigError(
                "DSTRFParams.include_output_nonlinearity must be true or false, "
                f"got {self.include_output_nonlinearity!r}"
            )
        ok = self.device in ("auto", "cpu", "cuda") or (
            isinstance(self.device, str) and self.device.startswith("cuda:")
        )
        if not ok:
            raise ConfigError(
                f"DSTRFParams.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"
            )

    def windows_per_chunk(self) -> int:
        """``chunk_size``, or the default for the device when it is None."""
        if self.chunk_size is not None:
            return self.chunk_size
        return CPU_CHUNK if self.torch_device().type == "cpu" else DEVICE_CHUNK

    def torch_device(self) -> torch.device:
        """The device to compute on."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclasses.dataclass(frozen=True)
class DSTRFChunk:
    """dSTRFs of consecutive requested bins of one sound.

    Attributes
    ----------
    sound : int
        Index of the stimulus in the list given.
    times : ndarray of int, shape (n,)
        Bins of that stimulus.
    values : ndarray or torch.Tensor, shape (n, units, frequency, lag), float32
        A tensor on the dSTRF device when the iterator was asked for tensors.
    """

    sound: int
    times: np.ndarray
    values: np.ndarray | torch.Tensor


def sample_times(lengths: Sequence[int], params: DSTRFParams | None = None) -> list[np.ndarray]:
    """The paper's sample: every ``sample_step``-th bin of the concatenated stimuli.

    At most ``max_samples`` bins are kept, evenly spaced over the sample. Returns one
    array of bins per stimulus (bins local to that stimulus).
    """
    params = params or DSTRFParams()
    lengths = [int(n) for n in lengths]
    picked = np.arange(0, sum(lengths), params.sample_step)
    if len(picked) > params.max_samples:
        keep = np.linspace(0, len(picked) - 1, params.max_samples).round().astype(int)
        picked = picked[np.unique(keep)]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return [picked[(picked >= a) & (picked < b)] - a for a, b in zip(starts[:-1], starts[1:])]


# ----------------------------------------------------------------------------- stages


def _model_function(model: nn.Module, include_output: bool) -> Stage:
    if include_output:
        return model
    if not hasattr(model, "core"):
        raise ConfigError(
            f"DSTRFParams.include_output_nonlinearity=False needs a model with core(x); "
            f"{type(model).__name__} has none"
        )
    return model.core


def _flatten(modules: list[nn.Module]) -> list[nn.Module]:
    out: list[nn.Module] = []
    for m in modules:
        if isinstance(m, nn.Sequential | nn.ModuleList):
            out.extend(_flatten(list(m)))
        else:
            out.append(m)
    return out


def _candidate_stages(model: nn.Module, include_output: bool) -> list[nn.Module] | None:
    stages: list[nn.Module] | None = None
    if callable(getattr(model, "dstrf_stages", None)):
        stages = list(model.dstrf_stages())
    else:
        for name in ("core_layers", "core", "layers"):
            part = getattr(model, name, None)
            if isinstance(part, nn.Sequential | nn.ModuleList):
                stages = list(part)
                break
    if not stages:
        return None
    if include_output:
        if not isinstance(getattr(model, "output", None), nn.Module):
            return None
        stages.append(model.output)
    return _flatten(stages)


def _first_dependence(fn: Stage, probes: torch.Tensor) -> int:
    """Earliest input bin that output at the last bin depends on, over all probes."""
    x = probes.detach().clone().requires_grad_(True)
    out = fn(x)
    if out.ndim != 3 or out.shape[1] != x.shape[1]:
        raise InvalidDataError(
            f"model output must be [batch, time, units] with time = {x.shape[1]}, "
            f"got {tuple(out.shape)}"
        )
    gen = torch.Generator(device="cpu").manual_seed(0)
    weights = torch.rand(out.shape[0], out.shape[2], generator=gen).to(out) + 0.5
    (grad,) = torch.autograd.grad((out[:, -1] * weights).sum(), x)
    used = grad.abs().sum(dim=(0, 2)) > 0
    nz = torch.nonzero(used)
    return int(nz[0]) if len(nz) else x.shape[1] - 1


def receptive_field(
    model: Stage, n_inputs: int, max_bins: int, probes: torch.Tensor | None = None
) -> int:
    """Receptive field in bins: ``model.receptive_field`` or measured by perturbation.

    The measurement differentiates the output at the last bin of ``max_bins + 1``-bin
    probes (``probes`` when given, plus uniform and Gaussian noise) and finds the
    earliest input bin with a non-zero gradient. It is a lower bound that is exact for
    models whose every input bin matters somewhere in the probes; a value above
    ``max_bins`` is reported as ``max_bins + 1``.
    """
    declared = _declared_field(model)
    return declared if declared is not None else _measured_field(model, n_inputs, max_bins, probes)


def _declared_field(model: Stage) -> int | None:
    declared = getattr(model, "receptive_field", None)
    if isinstance(declared, int | np.integer) and not isinstance(declared, bool):
        return int(declared)
    return None


def _measured_field(model: Stage, n_inputs: int, max_bins: int,
                    probes: torch.Tensor | None = None) -> int:
    length = max_bins + 1
    gen = torch.Generator(device="cpu").manual_seed(1234)
    noise = torch.cat([torch.rand(8, length, n_inputs, generator=gen),
                       torch.randn(8, length, n_inputs, generator=gen)])
    device = next((p.device for p in _params(model)), torch.device("cpu"))
    batch = noise.to(device)
    if probes is not None:
        batch = torch.cat([batch, probes[:, -length:].to(device=device, dtype=batch.dtype)])
    with torch.enable_grad():
        first = _first_dependence(model, batch)
    return length - first


def _params(fn: Stage) -> Iterator[torch.Tensor]:
    owner = getattr(fn, "__self__", fn)  # a bound method such as model.core
    return owner.parameters() if isinstance(owner, nn.Module) else iter(())


@dataclasses.dataclass
class _Plan:
    rules: list[LayerRule]
    total: int  # receptive field of the whole model
    n_outputs: int

    @property
    def needed(self) -> list[int]:
        """Bins of each layer's output that the last output bin depends on."""
        lengths, q = [], 1
        for rule in reversed(self.rules):
            lengths.append(q)
            q += rule.field - 1
        return lengths[::-1]


def _windows(stim: torch.Tensor, times: torch.Tensor, length: int) -> torch.Tensor:
    """Windows [n, length, F] ending at ``times`` of ``stim`` padded with zeros before."""
    padded = torch.cat([stim.new_zeros(length - 1, stim.shape[1]), stim])
    index = times[:, None] + torch.arange(length, device=stim.device)[None, :]
    return padded[index]


def _plan(model: nn.Module, stim: torch.Tensor, params: DSTRFParams) -> _Plan:
    whole = _model_function(model, params.include_output_nonlinearity)
    n_in, d = stim.shape[1], params.n_lags
    probe_times = torch.linspace(0, stim.shape[0] - 1, min(32, stim.shape[0])).long()
    probes = _windows(stim, probe_times.to(stim.device), d + 1)
    declared = _declared_field(model)
    found = _measured_field(whole, n_in, d, probes)  # a lower bound, so checks a declaration
    if declared is not None and found > declared:
        raise ConfigError(
            f"{type(model).__name__}.receptive_field is {declared} bins, but its output depends "
            f"on {'more than ' + str(d) if found > d else found} bins (measured by perturbation); "
            "correct the declaration"
        )
    measured = declared is None
    total = found if measured else declared
    if total > d:
        how = "measured by perturbation" if measured else "declared by the model"
        raise ConfigError(
            f"DSTRFParams.n_lags={d} is smaller than the receptive field of "
            f"{type(model).__name__} ({'more than ' + str(d) if measured else total} bins, "
            f"{how}); increase n_lags"
        )
    if measured:
        log.info("receptive field of %s measured by perturbation: %d bins",
                 type(model).__name__, total)
    with torch.no_grad():
        n_outputs = int(whole(probes[:1]).shape[2])
    single = _Plan([GenericRule(whole, total)], total, n_outputs)
    stages = _candidate_stages(model, params.include_output_nonlinearity)
    if stages is None:
        return single
    try:
        rules, x = [], probes
        with torch.no_grad():
            reference = whole(probes)
        for stage in stages:
            rule = rule_for(stage)
            if rule is None:
                rule = GenericRule(stage, receptive_field(stage, x.shape[2], d, x))
            rules.append(rule)
            with torch.no_grad():
                x = stage(x)
        # compared where the probe holds a whole receptive field: before that, a model
        # may pad its input (StackedModel.core) where the stages pad each layer
        if not torch.allclose(x[:, total - 1:], reference[:, total - 1:], rtol=1e-4, atol=1e-5):
            raise InvalidDataError("layers do not compose to the model")
        staged = _Plan(rules, 1 + sum(r.field - 1 for r in rules), n_outputs)
        if staged.total > d:
            raise InvalidDataError("layer receptive fields exceed n_lags")
        check = probe_times[:: max(1, len(probe_times) // 6)].to(stim.device)
        with torch.no_grad():
            fast = _to_lags(_jacobian(staged, stim, check, None), d)
            slow = _to_lags(_jacobian(single, stim, check, None), d)
        if not torch.allclose(fast, slow, rtol=1e-3, atol=1e-5 * float(slow.abs().max() + 1)):
            raise InvalidDataError("per-layer gradients differ from the whole-model gradients")
    except (InvalidDataError, RuntimeError) as err:
        log.info("%s: per-layer dSTRF not used (%s); using whole-model windows",
                 type(model).__name__, err)
        return single
    log.info("%s: per-layer dSTRF over %d layers (%d generic), receptive fields %s",
             type(model).__name__, len(rules), sum(isinstance(r, GenericRule) for r in rules),
             [r.field for r in rules])
    return staged


def _jacobian(
    plan: _Plan, stim: torch.Tensor, times: torch.Tensor, units: torch.Tensor | None,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Gradients of outputs at ``times`` wrt their input windows, ``[n, units, F,
    plan.total]`` in lag order (often a strided view, valid until ``workspace`` is
    used again)."""
    x = _windows(stim, times, plan.total)
    for rule, q in zip(plan.rules, plan.needed):
        x = rule.forward(x, q)
    n, n_out = x.shape[0], x.shape[2]
    chosen = torch.arange(n_out, device=x.device) if units is None else units
    g = x.new_zeros(n_out, 1, n, len(chosen))  # feature-major cotangents, see dstrf_layers
    g[chosen, 0, :, torch.arange(len(chosen), device=x.device)] = 1.0
    rules = plan.rules
    i = len(rules) - 1
    while i >= 0:
        rule = rules[i]
        if isinstance(rule, FIRRule) and rule.q == 1 and i > 0 and isinstance(rules[i - 1], LinearRule):
            g = fused_fir_linear(rule, rules[i - 1], g, workspace)
            i -= 2
        elif i == 1 and isinstance(rule, FIRRule) and isinstance(rules[0], LinearRule):
            return input_fir_linear(rule, rules[0], g, workspace)
        elif i == 0 and isinstance(rule, LinearRule):
            return rule.backward_last(g).flip(0).permute(1, 2, 3, 0)
        else:
            g = rule.backward(g)
            i -= 1
    return g.flip(1).permute(2, 3, 0, 1)


def _to_lags(grads: torch.Tensor, n_lags: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """``[n, units, F, r]`` -> zero-padded ``[n, units, F, n_lags]`` (into ``out`` if given)."""
    if out is None:
        out = grads.new_empty(*grads.shape[:3], n_lags)
    r = grads.shape[3]
    out[..., :r].copy_(grads)
    out[..., r:].zero_()
    return out


# ----------------------------------------------------------------------------- public API


def _prepare(model: nn.Module, params: DSTRFParams) -> nn.Module:
    device = params.torch_device()
    first = next(model.parameters(), None)
    same = first is None or first.device == device
    if model.training or not same:
        model = copy.deepcopy(model).to(device).eval()
    return model


def _as_list(stimulus: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(stimulus, np.ndarray | torch.Tensor):
        stimulus = [stimulus]
    out = []
    for i, s in enumerate(stimulus):
        arr = np.asarray(s, dtype=np.float32)
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
    if len(stims) == 1 and np.ndim(times) == 1:
        times = [times]
    if len(times) != len(stims):
        raise InvalidDataError(f"times: {len(times)} arrays for {len(stims)} stimuli")
    out = []
    for i, (s, t) in enumerate(zip(stims, times)):
        t = np.asarray(t, dtype=np.int64)
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
        None: the paper's sample (:func:`sample_times`); "all": every bin.
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
    params = params or DSTRFParams()
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
    consecutive row blocks of ``out`` if given."""
    device = params.torch_device()
    unit_index = None if units is None else torch.as_tensor(_valid_units(units, plan.n_outputs),
                                                            device=device)
    d, row, workspace = params.n_lags, 0, Workspace()
    step = params.windows_per_chunk()
    for k, (stim_np, t_np) in enumerate(zip(stims, bins)):
        stim = torch.from_numpy(stim_np).to(device)
        for start in range(0, len(t_np), step):
            t_chunk = t_np[start:start + step]
            block = None if out is None else out[row:row + len(t_chunk)]
            row += len(t_chunk)
            with full_float32(device):  # not across the yield: the caller's code is its own
                values = _chunk_values(plan, stim, t_chunk, unit_index, d, block, workspace)
            yield DSTRFChunk(k, t_chunk.copy(), values)


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


def _chunk_values(plan: _Plan, stim: torch.Tensor, times: np.ndarray, units: torch.Tensor | None,
                  n_lags: int, out: np.ndarray | None = None,
                  workspace: Workspace | None = None) -> torch.Tensor:
    """dSTRFs ``[n, units, F, n_lags]`` of one chunk on the stimulus' device (copied into
    ``out`` too if given), in cache-sized pieces on the CPU, reusing the buffers of
    ``workspace``."""
    n_units = plan.n_outputs if units is None else len(units)
    shape = (len(times), n_units, stim.shape[1], n_lags)
    on_cpu = stim.device.type == "cpu"
    if out is not None and on_cpu:
        values = torch.from_numpy(out)  # written in place
    else:
        values = torch.empty(shape, dtype=torch.float32, device=stim.device)
    step = len(times) if not on_cpu else max(1, CPU_COLUMNS // max(1, n_units))
    for a in range(0, len(times), step):
        piece = torch.as_tensor(times[a:a + step], device=stim.device)
        with torch.no_grad():
            grads = _jacobian(plan, stim, piece, units, workspace)
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
    params = params or DSTRFParams()
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
