"""Stacked parameters of many members and the Adam that trains them, member by member.

:class:`StackedParameters` keeps the parameters of ``M`` models of one architecture in
one ``[M, P]`` tensor, the only leaf autograd sees; each model's own parameters become
views of its row, so whatever writes into a model (loading a state dict, initialising
its output nonlinearity) writes into the stack, and every update of the stack is at once
in the models. A step then costs a handful of operations on one tensor, whatever the
number of members and parameters, where stacking each member's tensors anew costs one
operation per member and parameter, twice.

:class:`MemberAdam` is Adam (torch's defaults for betas and eps, no weight decay) over
the stack, with each member's own learning rate and step count: a member that takes no
part in a step is left untouched (no update, no step count), as an Adam of its own
would be. Its state cuts out, per member, as the state dict of a
:class:`torch.optim.Adam` over that model's parameters alone, and goes back in from one
(checkpoints are the same whether a member trained alone or with others).
:class:`ModelAdam` is torch's Adam of one model behind the same interface, for a set of
one member, so the schedule treats both alike.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["StackedParameters", "MemberAdam", "ModelAdam"]


class StackedParameters:
    """The parameters of ``models`` (same names, shapes and dtype) in one ``[M, P]`` leaf.

    Parameters
    ----------
    models : sequence of nn.Module
        Already on their device; their parameters are made views of the stack until
        :meth:`release`.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        named = [dict(m.named_parameters()) for m in models]
        first = named[0]
        dtypes = {p.dtype for p in first.values()}
        if len(dtypes) != 1:
            raise ConfigError(f"members' parameters must share one dtype, not {sorted(map(str, dtypes))}")
        self.names = list(first)
        self.shapes = [tuple(first[k].shape) for k in self.names]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        with torch.no_grad():
            rows = [torch.cat([p[k].detach().reshape(-1) for k in self.names]) for p in named]
            self.flat = torch.stack(rows).requires_grad_(True)
        self.models = list(models)
        for i, params in enumerate(named):
            for k, p in params.items():
                p.data = self._part(self.flat.data[i], self.names.index(k))

    def __len__(self) -> int:
        return self.flat.shape[0]

    def _part(self, rows: torch.Tensor, j: int) -> torch.Tensor:
        """Parameter ``j`` of ``rows`` (``[P]`` or ``[n, P]``), shaped as the model's."""
        lo, hi = self.offsets[j], self.offsets[j + 1]
        return rows[..., lo:hi].view(*rows.shape[:-1], *self.shapes[j])

    def weights(self, rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every parameter with a leading member dimension, as differentiable views of
        the stack (of its ``rows`` when given, an index tensor)."""
        base = self.flat if rows is None else self.flat.index_select(0, rows)
        # split, not slices: its backward pass writes every part's gradient into one
        # [M, P] tensor, where each slice's would fill and add a [M, P] tensor of its own
        parts = base.split(self.sizes, dim=-1)
        return {k: part.view(*part.shape[:-1], *shape)
                for k, part, shape in zip(self.names, parts, self.shapes)}

    def member(self, i: int, state: torch.Tensor) -> list[torch.Tensor]:
        """Row ``i`` of a ``[M, P]`` tensor cut into the model's parameters, in order."""
        return [self._part(state[i], j) for j in range(len(self.names))]

    def release(self) -> None:
        """Give every model's parameters their own storage again (the stack is no longer
        read by them)."""
        for m in self.models:
            for p in m.parameters():
                p.data = p.data.clone()


@functools.cache
def _adam_settings() -> dict[str, Any]:
    """The settings of a parameter group of a default :class:`torch.optim.Adam` (for the
    state dicts of members, as a fit alone would write them)."""
    group = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).param_groups[0]
    return {k: v for k, v in group.items() if k != "params"}


class MemberAdam:
    """Adam over a :class:`StackedParameters`, each member at its own learning rate.

    Parameters
    ----------
    stack : StackedParameters
    lrs : sequence of float
        Learning rate of each member.
    """

    def __init__(self, stack: StackedParameters, lrs: Sequence[float]) -> None:
        if len(lrs) != len(stack):
            raise ConfigError(f"{len(lrs)} learning rates for {len(stack)} members")
        self.stack = stack
        self.lrs = np.asarray(lrs, dtype=np.float64)
        self.steps = np.zeros(len(stack), dtype=np.int64)
        settings = _adam_settings()
        self.beta1, self.beta2 = settings["betas"]
        self.eps = settings["eps"]
        self.exp_avg = torch.zeros_like(stack.flat, memory_format=torch.contiguous_format)
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)

    def set_lrs(self, lrs: Sequence[float]) -> None:
        self.lrs = np.asarray(lrs, dtype=np.float64)

    def zero_grad(self) -> None:
        self.stack.flat.grad = None

    @torch.no_grad()
    def step(self, members: Sequence[int]) -> None:
        """One Adam step of ``members`` (positions in the stack), from the gradient of
        the stack; the other members are left as they are."""
        grad = self.stack.flat.grad
        if grad is None or not len(members):
            return
        every = len(members) == len(self.stack)
        take = np.arange(len(self.stack)) if every else np.asarray(members, dtype=np.int64)
        self.steps[take] += 1
        steps = self.steps[take].astype(np.float64)
        coef = np.stack([self.lrs[take] / (1.0 - self.beta1 ** steps), np.sqrt(1.0 - self.beta2 ** steps)])
        coef_t = torch.as_tensor(coef, dtype=grad.dtype).to(grad.device, non_blocking=True)[:, :, None]
        flat = self.stack.flat.data
        if every:
            m, v, g = self.exp_avg, self.exp_avg_sq, grad
        else:
            index = torch.as_tensor(take, device=grad.device)
            m, v, g = self.exp_avg[index], self.exp_avg_sq[index], grad[index]
        m.lerp_(g, 1.0 - self.beta1)
        v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
        denom = (v.sqrt() / coef_t[1]).add_(self.eps)
        update = m / denom * coef_t[0]
        if every:
            flat.sub_(update)
        else:
            self.exp_avg.index_copy_(0, index, m)
            self.exp_avg_sq.index_copy_(0, index, v)
            flat.index_add_(0, index, update, alpha=-1.0)

    def member_state(self, i: int) -> dict[str, Any]:
        """Member ``i``'s state as the state dict of an Adam over its parameters alone
        (empty state before its first step; step counts on the CPU)."""
        n = len(self.stack.names)
        state: dict[int, dict[str, torch.Tensor]] = {}
        if self.steps[i]:
            step = torch.tensor(float(self.steps[i]), dtype=torch.float32)
            for k, (m, v) in enumerate(zip(self.stack.member(i, self.exp_avg),
                                           self.stack.member(i, self.exp_avg_sq))):
                state[k] = {"step": step.clone(), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
        return {"state": state,
                "param_groups": [{**_adam_settings(), "lr": float(self.lrs[i]), "params": list(range(n))}]}

    @torch.no_grad()
    def load_member_state(self, i: int, saved: dict[str, Any]) -> None:
        """Put member ``i``'s Adam state dict ``saved`` (from :meth:`member_state` or an
        Adam of that model alone) into the stack's state; the learning rate is the
        schedule's."""
        values = saved.get("state", {})
        steps = [int(round(float(v["step"]))) for v in values.values() if "step" in v]
        self.steps[i] = max(steps, default=0)
        for key, target in (("exp_avg", self.exp_avg), ("exp_avg_sq", self.exp_avg_sq)):
            for k, part in enumerate(self.stack.member(i, target)):
                value = values.get(k, {}).get(key)
                if value is None:
                    part.zero_()
                else:
                    part.copy_(value.to(device=part.device, dtype=part.dtype))


class ModelAdam:
    """:class:`torch.optim.Adam` over one model's parameters, with :class:`MemberAdam`'s
    interface (the set of one member that a fit alone is).

    Parameters
    ----------
    model : nn.Module
    lr : float
    """

    def __init__(self, model: nn.Module, lr: float) -> None:
        self.adam = torch.optim.Adam(model.parameters(), lr=lr)

    def set_lrs(self, lrs: Sequence[float]) -> None:
        for group in self.adam.param_groups:
            group["lr"] = float(lrs[0])

    def zero_grad(self) -> None:
        self.adam.zero_grad()

    def step(self, members: Sequence[int]) -> None:
        """One Adam step, when the member took part in the batch."""
        if len(members):
            self.adam.step()

    def member_state(self, i: int) -> dict[str, Any]:
        """The Adam's state dict."""
        return self.adam.state_dict()

    def load_member_state(self, i: int, saved: dict[str, Any]) -> None:
        """Put the state dict ``saved`` into the Adam (an empty one clears its state); the
        learning rate is the schedule's."""
        lrs = [group["lr"] for group in self.adam.param_groups]
        self.adam.state.clear()
        if saved:
            self.adam.load_state_dict(saved)
        self.set_lrs(lrs)
