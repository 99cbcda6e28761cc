"""The batched backward pass: dSTRFs of a batch of windows under a per-layer plan.

A model is split into *stages* (:mod:`.stages`), causal modules ``[batch, time,
channels]`` -> ``[batch, time, channels']`` whose composition is the model, each with a
rule of :mod:`.layers`. Output ``n`` at ``t`` needs the last stage's input at 1 bin, the
stage before it at ``r_L`` bins, and so on: each stage is evaluated (and differentiated)
only on the bins it influences. The forward pass runs on a batch of windows; the backward
pass carries one cotangent per (window, unit), all at once, laid out feature-major
(:mod:`.layers`): channel-linear maps are single matrix products over every bin, window
and unit, depthwise FIR filters are one batched Toeplitz product, a FIR read at one bin
is folded into the channel map before it, and the model's first two layers write the
result directly in lag order. Time-pointwise layers (the dense tail of the paper's CNN)
cost one bin instead of ``D``.
"""

from __future__ import annotations

import dataclasses

import torch

from .layers import (
    FIRRule,
    LayerRule,
    LinearRule,
    Workspace,
    fused_fir_linear,
    input_fir_linear,
)


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



def _jacobian(
    plan: _Plan, stim: torch.Tensor, times: torch.Tensor, units: torch.Tensor | None,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Gradients of outputs at ``times`` wrt their input windows, ``[n, units, F,
    plan.total]`` in lag order (often a strided view, valid until ``workspace`` is
    used again)."""
    return _window_jacobian(plan, _windows(stim, times, plan.total), units, workspace)


def _window_jacobian(
    plan: _Plan, x: torch.Tensor, units: torch.Tensor | None, workspace: Workspace | None = None,
) -> torch.Tensor:
    """:func:`_jacobian` of windows ``x [n, plan.total, F]`` (from any stimuli)."""
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
