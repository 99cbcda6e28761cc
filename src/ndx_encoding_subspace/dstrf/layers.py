"""Reverse-mode rules for one layer evaluated on a batch of windows (used by :mod:`.backward`).

A rule wraps one causal layer ``[batch, time, C] -> [batch, time, C']`` whose output
depends on ``field`` input bins. ``forward(x, q)`` receives the layer's input on the
``q + field - 1`` bins that the wanted outputs depend on and returns its output on the
last ``q`` bins, keeping what the backward step needs.

``backward(g)`` maps cotangents to the layer's input, one cotangent per (window, unit),
all at once. Cotangents are kept *feature-major*: ``g[C', q, N, U]`` (channel, bin,
window, unit), so that a channel-linear map is one matrix product ``W^T @ g`` over all
bins, windows and units, and a depthwise FIR filter is one batched product over
channels, without any transposition between layers. The result is ``[C, q + field - 1,
N, U]``.

Known layers (channel-linear maps, depthwise causal FIR filters, element-wise
nonlinearities) use explicit tensor operations; any other module uses
``torch.func.vmap`` over ``torch.func.vjp`` with its receptive field measured by
perturbation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..models import layers as L

__all__ = ["LayerRule", "rule_for", "fused_fir_linear", "input_fir_linear", "Workspace"]


class Workspace:
    """Buffers reused from one batch of windows to the next.

    The largest cotangents of a batch (tens of MB for the paper CNN) would otherwise be
    fresh allocations each time, which the C allocator returns to the operating system
    and takes back page by page. A buffer is handed out again only once the previous
    batch's values have been consumed, as :mod:`.gradients` does.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A contiguous tensor of ``shape`` (contents undefined), the dtype and device of ``like``."""
        n = 1
        for size in shape:
            n *= size
        flat = self._buffers.get(name)
        if flat is None or flat.numel() < n or flat.dtype != like.dtype or flat.device != like.device:
            flat = like.new_empty(n)
            self._buffers[name] = flat
        return flat[:n].view(shape)


def _empty(workspace: Workspace | None, name: str, shape: tuple[int, ...],
           like: torch.Tensor) -> torch.Tensor:
    return like.new_empty(shape) if workspace is None else workspace.get(name, shape, like)


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
        c_out, q, n, u = g.shape
        w = self.weight  # [C', C]
        return (w.T @ g.reshape(c_out, -1)).view(w.shape[1], q, n, u)

    def backward_last(self, g: torch.Tensor) -> torch.Tensor:
        """:meth:`backward` laid out ``[q, N, U, C]``, for the first layer of a model.

        ``g^T W`` is the faster product when ``C`` is small (the model's input).
        """
        c_out, q, n, u = g.shape
        return (g.reshape(c_out, -1).T @ self.weight).view(q, n, u, -1)


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
        """``hw[c, p]``: weight of input position ``p`` of a ``field``-bin window."""
        return self.h.flip(1)

    def toeplitz_t(self) -> torch.Tensor:
        """``T[c, p, o]``: weight of input position ``p`` in output bin ``o``, per channel."""
        r, q = self.field, self.q
        hw = self.window_filters()  # [C, r]
        out = hw.new_zeros(hw.shape[0], q + r - 1, q)
        for o in range(q):
            out[:, o:o + r, o] = hw
        return out

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        c, q, n, u = g.shape
        if q == 1:
            return g * self.window_filters()[:, :, None, None]
        out = torch.bmm(self.toeplitz_t(), g.reshape(c, q, n * u))
        return out.view(c, q + self.field - 1, n, u)


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
        self.slope = slope.permute(2, 1, 0)[..., None].contiguous()  # [C, q, N, 1]
        return y.detach()

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        return g.mul_(self.slope)


class GenericRule(LayerRule):
    """Any causal module: ``vmap`` of its vector-Jacobian product over the units."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], field: int) -> None:
        self.fn, self.field = fn, int(field)
        self.vjp: Callable | None = None

    def forward(self, x: torch.Tensor, q: int) -> torch.Tensor:
        y, self.vjp = torch.func.vjp(lambda v: self.fn(v)[:, -q:], x)
        return y

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        batch_major = g.permute(2, 3, 1, 0)  # [N, U, q, C']
        (out,) = torch.func.vmap(self.vjp, in_dims=1, out_dims=1)(batch_major)
        return out.permute(3, 2, 0, 1).contiguous()


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


def fused_fir_linear(fir: FIRRule, linear: LinearRule, g: torch.Tensor,
                     workspace: Workspace | None = None) -> torch.Tensor:
    """``linear.backward(fir.backward(g))`` for a FIR evaluated at one output bin.

    The two maps are one matrix ``K[(c, p), c'] = W[c', c] hw[c', p]`` applied to
    ``g[C', 1, N, U]``; the result lives in ``workspace`` when one is given.
    """
    if fir.q != 1:
        raise ValueError("fused_fir_linear needs a FIR evaluated at one output bin")
    c_out, _, n, u = g.shape
    w = linear.weight  # [C', C]
    hw = fir.window_filters()  # [C', r]
    kernel = (w.T[:, None, :] * hw.T[None, :, :]).reshape(-1, c_out)  # [(C, r), C']
    out = _empty(workspace, "fused_fir_linear", (kernel.shape[0], n * u), g)
    torch.mm(kernel, g.reshape(c_out, -1), out=out)
    return out.view(w.shape[1], fir.field, n, u)


#: Cotangent columns (windows x units) per block of :func:`input_fir_linear` on the CPU:
#: a block's Toeplitz product (``C x columns x lags`` floats) then stays in the core's
#: L2 cache between its two products instead of going through memory.
CPU_INPUT_COLUMNS = 256


def input_fir_linear(fir: FIRRule, linear: LinearRule, g: torch.Tensor,
                     workspace: Workspace | None = None) -> torch.Tensor:
    """``linear.backward_last(fir.backward(g))`` for the first two layers of a model.

    The Toeplitz product is taken window-major with its positions in *lag* order
    (``[C, N*U, lag]``, the faster layout for few taps) and the channel map is applied
    to it directly, a few windows at a time on the CPU; the result is a view ``[N, U,
    C_in, q + field - 1]`` in lag order, living in ``workspace`` when one is given.
    """
    c, q, n, u = g.shape
    t = fir.toeplitz_t().flip(1).transpose(1, 2)  # [C, q, lag]
    lags, w = t.shape[2], linear.weight
    out = _empty(workspace, "input_fir_linear", (n, u, lags, w.shape[1]), g)
    step = n if g.device.type != "cpu" else max(1, CPU_INPUT_COLUMNS // u)
    z = _empty(workspace, "input_fir_linear_block", (c * min(step, n) * u * lags,), g)
    for a in range(0, n, step):
        block = g[:, :, a:a + step]
        cols = block.shape[2] * u
        zb = z[:c * cols * lags].view(c, cols, lags)  # contiguous, also for a short last block
        torch.bmm(block.reshape(c, q, cols).transpose(1, 2), t, out=zb)
        torch.mm(zb.view(c, -1).T, w, out=out[a:a + step].view(-1, w.shape[1]))
    return out.transpose(2, 3)
