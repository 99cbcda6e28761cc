"""Per-unit subspace network of METHOD.md section 5: ``k -> 15 -> 15 -> 1``.

The input is the unit's stimulus projections ``[batch, time, k]`` (already causal); the
network acts bin by bin, so its receptive field is one bin.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .cnn import StackedModel
from .layers import Dense, ReLU
from .params import SubspaceModelParams

__all__ = ["SubspaceNetwork", "SubspaceNetworks", "UnitSplit", "UnitDense"]


def _hidden(hidden: Sequence[int] | None) -> tuple[int, ...]:
    """Hidden widths: ``SubspaceModelParams.hidden``, or ``hidden`` checked by it."""
    given = None if hidden is None else tuple(
        int(h) if isinstance(h, numbers.Integral) and not isinstance(h, bool) else h for h in hidden)
    return SubspaceModelParams.from_keywords(hidden=given).hidden


class SubspaceNetwork(StackedModel):
    """One unit's nonlinearity on its ``n_dims`` subspace projections.

    Layers: dense ``n_dims -> hidden[0]``, ReLU, dense ``-> hidden[1]``, ReLU,
    dense ``-> 1``, double exponential. Maps ``[batch, time, n_dims]`` to
    ``[batch, time, 1]``; exposes ``core`` and ``output`` like the CNN, so
    :func:`ndx_encoding_subspace.fitting.schedule.fit_model` fits it in two stages.

    Parameters
    ----------
    n_dims : int
        Subspace dimension k (number of projections).
    hidden : tuple of int, optional
        Hidden widths, one or more layers (``SubspaceModelParams.hidden``, checked there,
        when None).
    """

    def __init__(self, n_dims: int, hidden: tuple[int, ...] | None = None) -> None:
        if isinstance(n_dims, bool) or not isinstance(n_dims, numbers.Integral) or n_dims < 1:
            raise ConfigError(f"n_dims must be a positive integer, got {n_dims!r}")
        n_dims = int(n_dims)
        widths = [n_dims, *_hidden(hidden)]
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [Dense(a, b), ReLU()]
        layers.append(Dense(widths[-1], 1))
        super().__init__(layers, 1)


class UnitSplit(nn.Module):
    """Split concatenated projections into one zero-padded block per unit.

    Shapes: ``[batch, time, sum(dims)] -> [batch, time, units, max(dims)]``.
    """

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = [int(d) for d in dims]
        if not self.dims or any(d < 1 for d in self.dims):
            raise ConfigError(f"dims must be positive integers, got {list(dims)!r}")
        k = max(self.dims)
        index = torch.zeros(len(self.dims), k, dtype=torch.long)
        mask = torch.zeros(len(self.dims), k)
        start = 0
        for u, d in enumerate(self.dims):
            index[u, :d] = torch.arange(start, start + d)
            mask[u, :d] = 1.0
            start += d
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    @property
    def n_in(self) -> int:
        """Total number of input projections."""
        return sum(self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.index] * self.mask


class UnitDense(nn.Module):
    """Independent dense layers, one per unit (L2-penalised in training).

    Shapes: ``[batch, time, units, n_in] -> [batch, time, units, n_out]``; with
    ``squeeze`` and ``n_out = 1`` the last axis is dropped.
    """

    l2_penalised = True

    def __init__(self, n_units: int, n_in: int, n_out: int, squeeze: bool = False) -> None:
        super().__init__()
        self.n_units, self.n_in, self.n_out, self.squeeze = int(n_units), int(n_in), int(n_out), bool(squeeze)
        bound = 1.0 / math.sqrt(self.n_in)
        self.weight = nn.Parameter(torch.empty(self.n_units, self.n_out, self.n_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(self.n_units, self.n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("btui,uoi->btuo", x, self.weight) + self.bias
        return y[..., 0] if self.squeeze else y


class SubspaceNetworks(StackedModel):
    """Many units' subspace networks trained at once (one independent network per unit).

    Input: every unit's projections concatenated, ``[batch, time, sum(dims)]`` (unit 0's
    ``dims[0]`` projections first); output ``[batch, time, units]``. Equivalent to one
    :class:`SubspaceNetwork` per unit, except that early stopping then acts on the mean
    loss over units. ``hidden`` as in :class:`SubspaceNetwork`.
    """

    def __init__(self, dims: Sequence[int], hidden: tuple[int, ...] | None = None) -> None:
        split = UnitSplit(dims)
        n_u, widths = len(split.dims), [max(split.dims), *_hidden(hidden)]
        layers: list[nn.Module] = [split]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [UnitDense(n_u, a, b), ReLU()]
        layers.append(UnitDense(n_u, widths[-1], 1, squeeze=True))
        super().__init__(layers, n_u)
