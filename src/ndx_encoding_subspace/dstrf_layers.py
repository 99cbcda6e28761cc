"""Reverse-mode rules for one layer evaluated on a batch of windows (used by :mod:`.dstrf`).

A rule wraps one causal layer ``[batch, time, C] -> [batch, time, C']`` whose output
depends on ``field`` input bins. ``forward(x, q)`` receives the layer's input on the
``q + field - 1`` bins that the wanted outputs depend on and returns its output on the
last ``q`` bins, keeping what the backward step needs. ``backward(g)`` maps cotangents
``[windows, units, q, C']`` to ``[windows, units, q + field - 1, C]``: one cotangent per
unit, all units at once.

Known layers (channel-linear maps, depthwise causal FIR filters, element-wise
nonlinearities) use explicit tensor operations; any other module uses
``torch.func.vmap`` over ``torch.func.vjp`` with its receptive field measured by
perturbation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .models import layers as L

__all__ = ["LayerRule", "rule_for", "fused_fir_linear"]


class LayerRule:
    """Base rule: ``field`` bins of input per output bin."""

    field: int = 1

    def forward(self, x: torch.Tensor, q: int) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def backward(self, g: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class LinearRule(LayerRule):
    """``y = x W^T + b`` at every bin."""

    def __init__(self, module: nn.Module, weight: Callable[[], torch.Tensor]) -> None:
        self.module, self.weight_fn = module, weight
        self.weight: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, q: int) -> torch.Tensor:
        self.weight = self.weight_fn()
        return self.module(x)

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        return torch.matmul(g, self.weight)


class FIRRule(LayerRule):
    """Depthwise causal FIR ``y[t, c] = sum_l h[c, l] x[t - l, c]``."""

    def __init__(self, module: nn.Module, filters: torch.Tensor) -> None:
        self.module, self.h = module, filters  # h[c, lag]
        self.field = int(filters.shape[1])
        self.q = 1

    def forward(self, x: torch.Tensor, q: int) -> torch.Tensor:
        self.q = q
        return self.module(x)[:, -q:]

    def window_filters(self) -> torch.Tensor:
        """``hw[p, c]``: weight of input position ``p`` of a ``field``-bin window."""
        return self.h.flip(1).T

    def toeplitz(self) -> torch.Tensor:
        """``T[c, o, p]``: weight of input position ``p`` in output bin ``o``, per channel."""
        r, q = self.field, self.q
        hw = self.window_filters().T  # [C, r]
        out = hw.new_zeros(hw.shape[0], q, q + r - 1)
        for o in range(q):
            out[:, o, o:o + r] = hw
        return out

    def channel_major_backward(self, g: torch.Tensor) -> torch.Tensor:
        """Cotangents ``[N, U, q, C]`` -> ``[C, N * U, q + field - 1]`` (batched matmul)."""
        n, u, q, c = g.shape
        return torch.bmm(g.permute(3, 0, 1, 2).contiguous().view(c, n * u, q), self.toeplitz())

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        if self.q == 1:
            return g * self.window_filters()
        n, u = g.shape[:2]
        y = self.channel_major_backward(g)
        return y.reshape(y.shape[0], n, u, -1).permute(1, 2, 3, 0)


class ElementwiseRule(LayerRule):
    """``y = f(x)`` element by element; the slope is the gradient of ``sum(f(x))``."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.slope: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, q: int) -> torch.Tensor:
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            y = self.module(leaf)
            (slope,) = torch.autograd.grad(y.sum(), leaf)
        self.slope = slope[:, None]
        return y.detach()

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        return g * self.slope


class GenericRule(LayerRule):
    """Any causal module: ``vmap`` of its vector-Jacobian product over the units."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], field: int) -> None:
        self.fn, self.field = fn, int(field)
        self.vjp: Callable | None = None

    def forward(self, x: torch.Tensor, q: int) -> torch.Tensor:
        y, self.vjp = torch.func.vjp(lambda v: self.fn(v)[:, -q:], x)
        return y

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        (out,) = torch.func.vmap(self.vjp, in_dims=1, out_dims=1)(g)
        return out


_ELEMENTWISE = (L.ShiftedReLU, L.ReLU, L.DoubleExponential, nn.ReLU, nn.Identity)


def rule_for(module: nn.Module) -> LayerRule | None:
    """The explicit rule for a known layer, or None."""
    if isinstance(module, L.Dense):
        return LinearRule(module, lambda m=module: m.linear.weight)
    if isinstance(module, nn.Linear):
        return LinearRule(module, lambda m=module: m.weight)
    if isinstance(module, L.GaussianChannelMix):
        return LinearRule(module, module.weights)
    if isinstance(module, L.DepthwiseCausalFIR):
        return FIRRule(module, module.filters())
    if isinstance(module, _ELEMENTWISE):
        return ElementwiseRule(module)
    return None


def fused_fir_linear(fir: FIRRule, linear: LinearRule, g: torch.Tensor) -> torch.Tensor:
    """``linear.backward(fir.backward(g))`` as matrix products, without the FIR's output.

    One output bin: ``g [N, U, 1, C']`` times ``K[c', (p, c)] = hw[p, c'] W[c', c]``.
    More bins: per-channel Toeplitz products in channel-major layout, then ``W``.
    """
    n, u = g.shape[:2]
    w = linear.weight  # [C', C]
    if fir.q == 1:
        hw = fir.window_filters()  # [r, C']
        kernel = (hw.T[:, :, None] * w[:, None, :]).reshape(w.shape[0], -1)
        return (g.reshape(n * u, -1) @ kernel).reshape(n, u, fir.field, w.shape[1])
    y = fir.channel_major_backward(g)  # [C', N*U, L]
    length = y.shape[2]
    return (y.reshape(y.shape[0], -1).T @ w).reshape(n, u, length, w.shape[1])
