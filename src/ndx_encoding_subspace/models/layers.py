"""Layers of the encoding models (METHOD.md section 2).

Every layer maps ``[batch, time, channels_in]`` to ``[batch, time, channels_out]`` and is
causal in time: the output at bin ``t`` depends on inputs at bins ``<= t`` only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "GaussianChannelMix",
    "DepthwiseCausalFIR",
    "ShiftedReLU",
    "ReLU",
    "Dense",
    "DoubleExponential",
]


class GaussianChannelMix(nn.Module):
    """Channel mixing with Gaussian weights over the input axis.

    Output channel ``o`` is ``sum_f w[o, f] x[..., f]`` with
    ``w[o, f] = exp(-0.5 ((p_f - mu_o) / sigma_o)^2)`` normalised to sum 1 over ``f``,
    where ``p_f`` are the input channels' positions on [0, 1]. ``mu_o`` is learned freely
    (clamped to [0, 1] when used) and ``sigma_o = min_width + softplus(raw_o)`` is always
    at least ``min_width`` (a fraction of the axis: ``CNNParams.min_width`` and
    ``LNParams.min_width`` in :mod:`.params`).

    Shapes: ``[batch, time, n_in] -> [batch, time, n_out]``.
    """

    def __init__(self, n_in: int, n_out: int, min_width: float) -> None:
        super().__init__()
        self.n_in, self.n_out, self.min_width = int(n_in), int(n_out), float(min_width)
        self.mean = nn.Parameter(torch.rand(self.n_out))
        # initial widths spread between 0.05 and 0.2 of the axis above the floor
        init = torch.empty(self.n_out).uniform_(0.05, 0.2)
        self.raw_width = nn.Parameter(torch.log(torch.expm1(init)))
        self.register_buffer("positions", torch.linspace(0.0, 1.0, self.n_in), persistent=False)

    def weights(self) -> torch.Tensor:
        """Mixing matrix, shape ``[n_out, n_in]``, rows summing to 1."""
        mu = self.mean.clamp(0.0, 1.0)[:, None]
        sigma = (self.min_width + F.softplus(self.raw_width))[:, None]
        w = torch.exp(-0.5 * ((self.positions[None, :] - mu) / sigma) ** 2)
        return w / w.sum(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weights().T


class _DepthwiseConv(torch.autograd.Function):
    """``conv1d(z, weight, groups=channels)`` whose weight gradient is itself a forward
    convolution (each batch row's input correlated with its output gradient): on the CPU,
    oneDNN's depthwise weight gradient takes 3-10 times as long as that."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv1d(z, weight, groups=weight.shape[0])

    @staticmethod
    def setup_context(ctx, inputs: tuple[torch.Tensor, torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        z, weight = ctx.saved_tensors
        channels, taps = weight.shape[0], weight.shape[-1]
        dz = F.conv_transpose1d(grad, weight, groups=channels) if ctx.needs_input_grad[0] else None
        dw = None
        if ctx.needs_input_grad[1]:
            rows, _, steps = grad.shape
            dw = F.conv1d(z.reshape(1, rows * channels, -1), grad.reshape(rows * channels, 1, steps),
                          groups=rows * channels).reshape(rows, channels, 1, taps).sum(0)
        return dz, dw


def depthwise_conv(z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.conv1d(z, weight, groups=weight.shape[0])`` (``z [batch, channels, time]``), with
    the faster weight gradient of :class:`_DepthwiseConv` on the CPU."""
    if z.device.type == "cpu" and torch.is_grad_enabled():
        return _DepthwiseConv.apply(z, weight)
    return F.conv1d(z, weight, groups=weight.shape[0])


class DepthwiseCausalFIR(nn.Module):
    """One causal FIR filter per channel (depthwise 1-D convolution, left zero padding).

    ``y[t, c] = sum_{l=0}^{taps-1} h[c, l] x[t - l, c]`` with ``x`` zero before the start.

    Shapes: ``[batch, time, channels] -> [batch, time, channels]``.
    """

    def __init__(self, channels: int, taps: int) -> None:
        super().__init__()
        self.channels, self.taps = int(channels), int(taps)
        bound = 1.0 / math.sqrt(self.taps)
        # weight[c, 0, j] multiplies x[t - (taps - 1 - j)] (conv1d is a correlation)
        self.weight = nn.Parameter(torch.empty(self.channels, 1, self.taps).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.pad(x.transpose(1, 2), (self.taps - 1, 0))
        return depthwise_conv(z, self.weight).transpose(1, 2)

    def filters(self) -> torch.Tensor:
        """Filters as ``h[c, lag]`` (lag 0 first), shape ``[channels, taps]``."""
        return self.weight[:, 0, :].flip(-1)


class ShiftedReLU(nn.Module):
    """``relu(x + s)`` with a learned shift ``s`` per channel.

    Shapes: ``[batch, time, channels] -> [batch, time, channels]``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)
        self.shift = nn.Parameter(torch.zeros(self.channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.shift)


class ReLU(nn.Module):
    """Plain rectification, no parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class Dense(nn.Module):
    """Linear map applied at every time bin independently (L2-penalised in training).

    Shapes: ``[batch, time, n_in] -> [batch, time, n_out]``.
    """

    l2_penalised = True

    def __init__(self, n_in: int, n_out: int, bias: bool = True) -> None:
        super().__init__()
        self.n_in, self.n_out, self.has_bias = int(n_in), int(n_out), bool(bias)
        self.linear = nn.Linear(self.n_in, self.n_out, bias=self.has_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    @property
    def weight(self) -> torch.Tensor:
        """The weight matrix ``[n_out, n_in]`` (what L2 applies to)."""
        return self.linear.weight


# below this u the output is b to float precision; exp(-u) would overflow to inf there and
# its gradient inf * 0 be NaN (a unit whose input barely varies gets a very steep slope)
_U_MIN = -80.0


class DoubleExponential(nn.Module):
    """Per-unit double exponential ``y = b + a exp(-exp(-exp(k) (x + s)))``.

    Parameters per unit: ``base`` (b), ``amplitude`` (a), ``kappa`` (k), ``shift`` (s).

    Shapes: ``[batch, time, units] -> [batch, time, units]``.
    """

    def __init__(self, n_units: int) -> None:
        super().__init__()
        self.n_units = int(n_units)
        self.base = nn.Parameter(torch.zeros(self.n_units))
        self.amplitude = nn.Parameter(torch.ones(self.n_units))
        self.kappa = nn.Parameter(torch.zeros(self.n_units))
        self.shift = nn.Parameter(torch.zeros(self.n_units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = (torch.exp(self.kappa) * (x + self.shift)).clamp_min(_U_MIN)
        return self.base + self.amplitude * torch.exp(-torch.exp(-u))

    @torch.no_grad()
    def init_from_response(
        self,
        mean: np.ndarray | torch.Tensor,
        sd: np.ndarray | torch.Tensor,
        pred_mean: np.ndarray | torch.Tensor | None = None,
        pred_sd: np.ndarray | torch.Tensor | None = None,
        base_sd: float = 1.0,
        amplitude_sd: float = 4.0,
    ) -> None:
        """Initialise from response statistics (paper: base = mean - sd, amplitude = 4 sd).

        The shift and slope are chosen so that, for an input distributed like the
        linear prediction (``pred_mean``, ``pred_sd``; by default the response's own
        statistics), the output equals the response mean at ``x = pred_mean`` with slope
        ``sd / pred_sd`` there: the nonlinearity starts close to the identity map that the
        first training stage learned.

        Parameters
        ----------
        mean, sd : array, shape (units,)
            Mean and standard deviation of each unit's response.
        pred_mean, pred_sd : array, shape (units,), optional
            Mean and standard deviation of the input to this layer.
        base_sd, amplitude_sd : float
            The base starts ``base_sd`` response sds below the mean, the amplitude at
            ``amplitude_sd`` sds (``TrainingParams.init_base_sd``, ``init_amplitude_sd``);
            ``base_sd < amplitude_sd``.
        """
        dev = self.base.device

        def as_t(v: np.ndarray | torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(np.asarray(v, dtype=np.float32) if not torch.is_tensor(v) else v,
                                   dtype=torch.float32, device=dev).reshape(self.n_units)

        mean_t, sd_t = as_t(mean), as_t(sd).clamp_min(1e-6)
        pm = mean_t if pred_mean is None else as_t(pred_mean)
        ps = sd_t if pred_sd is None else as_t(pred_sd).clamp_min(1e-6)
        if not 0.0 < base_sd < amplitude_sd:
            raise ValueError(f"base_sd {base_sd!r} must lie between 0 and amplitude_sd {amplitude_sd!r}")
        self.base.copy_(mean_t - base_sd * sd_t)
        self.amplitude.copy_(amplitude_sd * sd_t)
        # the output is the mean where exp(-exp(-u)) = q, at u0 = -log(-log q), with slope
        # a e^k q (-log q) there; set it to sd / pred_sd
        q = base_sd / amplitude_sd
        gain = 1.0 / (amplitude_sd * q * -math.log(q) * ps)
        self.kappa.copy_(torch.log(gain))
        self.shift.copy_(-math.log(-math.log(q)) / gain - pm)
