"""A model's decomposition into stages, their receptive fields, and the plan checked on it.

A stage is a causal module ``[batch, time, channels]`` -> ``[batch, time, channels']``;
their composition is the model (``core`` followed by the output nonlinearity). A stage's
receptive field ``r`` is read from its ``receptive_field`` attribute or measured by
perturbation. Layers without an explicit rule (:mod:`.layers`) fall back to
``torch.func.vmap`` over ``torch.func.vjp``.

Stages are taken from ``model.dstrf_stages()`` when the model defines it, else from
``model.core`` or ``model.layers`` when that is an ``nn.Sequential``/``nn.ModuleList``;
the decomposition is checked numerically against the whole model on the stimulus and
dropped (with a log message) when it does not match. A model with no usable stages is
one stage: the plain batched per-window Jacobian.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, InvalidDataError
from .backward import _jacobian, _Plan, _to_lags, _windows
from .layers import GenericRule, rule_for
from .params import DSTRFParams

__all__ = ["receptive_field"]

log = logging.getLogger(__name__)
Stage = Callable[[torch.Tensor], torch.Tensor]


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



def _plan(model: nn.Module, stim: torch.Tensor, params: DSTRFParams) -> _Plan:
    whole = _model_function(model, params.include_output_nonlinearity)
    n_in, d = stim.shape[1], params.n_lags
    probe_times = torch.linspace(0, stim.shape[0] - 1, min(32, stim.shape[0])).long()
    probes = _windows(stim, probe_times.to(stim.device), d + 1)
    declared = _declared_field(model)
    try:
        found = _measured_field(whole, n_in, d, probes)  # a lower bound, so checks a declaration
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as err:  # the first call of the model: inputs it does not take
        kinds = {p.dtype for p in model.parameters() if p.is_floating_point()} - {stim.dtype}
        if kinds:
            said = ", ".join(sorted(map(str, kinds)))
            raise InvalidDataError(f"{type(model).__name__} holds {said} parameters, and dSTRFs are taken "
                                   f"in {stim.dtype}: convert the model (model.float())") from None
        raise InvalidDataError(f"stimulus of {n_in} channels per bin: {type(model).__name__} does not "
                               f"take them ({str(err).splitlines()[0]})") from None
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
