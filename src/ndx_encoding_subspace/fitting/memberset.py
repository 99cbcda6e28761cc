"""A set of ``M`` models of one architecture, each with its own data, trained as one.

:class:`MemberSet` is what the schedule (:mod:`~ndx_encoding_subspace.fitting.schedule`)
trains; a single fit is a set of one member. Each member has its own data, loss
normalisation and batch-order generator. A set of one trains the model's own parameters
with :class:`torch.optim.Adam` (:class:`~.member_adam.ModelAdam`). In a larger set the
members' parameters live in one stacked tensor
(:class:`~.member_adam.StackedParameters`, of which each model's parameters are views)
and the forward passes run under :func:`torch.func.vmap`. The sum of the members' losses
has, for each member, the gradient of its own loss alone, and
:class:`~.member_adam.MemberAdam` steps each member with its own learning rate, Adam
state and step count, so each member follows its schedule as if fitted alone. A member
that takes no part in a step is left untouched (no update, no step count).

The data (:mod:`.memberdata`) are either each member's own sounds or one shared set of
segments with each member's own rows. Members with fewer rows than others are padded
(the padding masked out of their losses) and take no part in the steps after their
last batch of an epoch, so each runs exactly its own batches.

With more than one member, a forward pass must not depend on training mode (no dropout
or batch normalisation): the members run functionally, from their stacked parameters.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from ..errors import InvalidDataError
from .member_adam import MemberAdam, ModelAdam, StackedParameters
from .memberdata import MemberData
from .training_params import TrainingParams

__all__ = ["MemberSet", "layout"]

_EVAL_ROWS = 64  # segments per evaluation batch

Stats = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Optimizer = MemberAdam | ModelAdam


class _Core(nn.Module):
    """``model.core`` as a module's forward (for :func:`functional_call`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, x: torch.Tensor, **kwargs: bool) -> torch.Tensor:
        return self.m.core(x, **kwargs)


class _Full(_Core):
    def forward(self, x: torch.Tensor, **kwargs: bool) -> torch.Tensor:
        return self.m(x, **kwargs)


def has_stages(model: nn.Module) -> bool:
    """Whether ``model`` has a ``core`` and an ``output`` module (two-stage fitting)."""
    return callable(getattr(model, "core", None)) and isinstance(getattr(model, "output", None), nn.Module)


def _context_kwargs(model: nn.Module, context: int) -> dict[str, bool]:
    """``{"has_context": True}`` when segments carry ``context`` bins and ``model`` and its
    ``core`` accept the flag (see :meth:`~ndx_encoding_subspace.models.StackedModel.core`),
    else nothing."""
    if not context:
        return {}
    try:
        takes = all("has_context" in inspect.signature(f).parameters
                    for f in (model.forward, model.core))
    except (TypeError, ValueError, AttributeError):
        takes = False
    return {"has_context": True} if takes else {}


def _l2_names(model: nn.Module) -> list[str]:
    """Parameters under L2: the weight of every ``nn.Linear`` and of every module flagged
    ``l2_penalised`` (a per-unit dense layer that does not wrap an ``nn.Linear``)."""
    names = dict(model.named_parameters())
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) or (getattr(m, "l2_penalised", False) and not hasattr(m, "linear")):
            key = f"{name}.weight" if name else "weight"
            if key in names:
                out.append(key)
    return out


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return tensors[0][None] if len(tensors) == 1 else torch.stack(list(tensors))


def layout(model: nn.Module, params: TrainingParams) -> tuple[int, int | None]:
    """Context bins and segment length for ``model``: ``receptive_field - 1`` and
    ``segment_length``, or ``(0, None)`` (whole sounds) for a model without a receptive field."""
    rf = getattr(model, "receptive_field", None)
    return (int(rf) - 1, params.segment_length) if isinstance(rf, int) else (0, None)


class MemberSet:
    """Models of one architecture with their data (see the module docstring).

    Parameters
    ----------
    models : sequence of nn.Module
        Same type, parameter names and shapes, and receptive field; moved to ``device``.
    data : MemberData
        Segments laid out for ``layout(models[0], params)``, one member per model
        (:func:`~.memberdata.own_data` or :func:`~.memberdata.shared_data`).
    params : TrainingParams
    seeds : sequence of int
        Seed of each member's batch order.
    device : torch.device
    """

    def __init__(self, models: Sequence[nn.Module], data: MemberData, params: TrainingParams,
                 seeds: Sequence[int], device: torch.device) -> None:
        self.models, self.seeds, self.device = list(models), [int(s) for s in seeds], device
        self.data = data
        self.context = layout(self.models[0], params)[0]
        self.loss_kind = params.loss
        self.init_sd = {"base_sd": params.init_base_sd, "amplitude_sd": params.init_amplitude_sd}
        for m in self.models:
            m.to(device)
        self.staged = params.two_stage and has_stages(self.models[0])
        self.amp = params.mixed_precision and device.type == "cuda"
        self.given = _context_kwargs(self.models[0], self.context)
        self._check_widths()
        self.l2_names = _l2_names(self.models[0])
        self.gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        # the models' own tensors (views of the stack in a larger set): loading a state
        # dict or initialising the output nonlinearity writes into them in place
        self.leaves = [dict(m.named_parameters()) for m in self.models]
        self.buffers = [dict(m.named_buffers()) for m in self.models]
        self.fns: dict[bool, nn.Module] = {}
        self.stack: StackedParameters | None = None
        if len(self.models) > 1:
            template = copy.deepcopy(self.models[0]).to("meta")
            self.fns = {True: _Core(template), False: _Full(template)}
            self.stack = StackedParameters(self.models)
            self._buffers = {k: torch.stack([b[k] for b in self.buffers]) for k in self.buffers[0]}

    def __len__(self) -> int:
        return len(self.models)

    def _check_widths(self) -> None:
        """Refuse data whose channels the models do not take, or whose units they do not
        give, from one forward pass of the first segment (said, instead of torch's shape
        error in the middle of training)."""
        model, x = self.models[0], self.data.x[0, :1]
        n_in, n_out = int(x.shape[-1]), int(self.data.y.shape[-1])
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                y = model(x, **self.given)
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as err:
            raise InvalidDataError(
                f"training data of {n_in} channels per bin: the model failed on a segment of it "
                f"({x.shape[1]} bins; {str(err).splitlines()[0]})") from None
        finally:
            model.train(was_training)
        if y.shape[-1] != n_out:
            raise InvalidDataError(f"training data: the model gives {y.shape[-1]} outputs per bin, the "
                                   f"targets hold {n_out} units")

    # --- parameters and optimiser ---------------------------------------------------
    def release(self) -> None:
        """End of training: each model's parameters get their own storage again."""
        if self.stack is not None:
            self.stack.release()

    def _index(self, live: Sequence[int]) -> torch.Tensor | None:
        """Index tensor of ``live``, or None when it is every member in order."""
        if len(live) == len(self.models) and list(live) == list(range(len(self.models))):
            return None
        return torch.as_tensor(list(live), device=self.device)

    def weights(self, live: Sequence[int]) -> dict[str, torch.Tensor]:
        """Parameters of the members ``live``: the model's own in a set of one, else
        views of the stack with a leading member dimension."""
        if self.stack is None:
            return self.leaves[live[0]]
        return self.stack.weights(self._index(live))

    def l2_penalty(self, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum of squares of the penalised weights (over all members in ``weights``)."""
        return sum((weights[k].float() ** 2).sum() for k in self.l2_names)

    def optimizer(self, lrs: Sequence[float], carry: Optimizer | None = None) -> Optimizer:
        """The Adam of the set, member ``i`` at learning rate ``lrs[i]``: torch's over the
        model's parameters for a set of one (:class:`~.member_adam.ModelAdam`), else a
        :class:`~.member_adam.MemberAdam`. ``carry``: an earlier optimiser of this set,
        whose state goes on at the new rates."""
        if carry is not None:
            carry.set_lrs(lrs)
            return carry
        return ModelAdam(self.models[0], lrs[0]) if self.stack is None else MemberAdam(self.stack, lrs)

    def adam_state(self, i: int, opt: Optimizer | None) -> dict:
        """Member ``i``'s Adam state dict, as an Adam of its model alone holds it."""
        return {} if opt is None else opt.member_state(i)

    def state(self, i: int) -> dict[str, torch.Tensor]:
        """A copy of member ``i``'s state dict."""
        return {k: v.detach().clone() for k, v in self.models[i].state_dict().items()}

    def load_state(self, i: int, state: dict[str, torch.Tensor]) -> None:
        self.models[i].load_state_dict(state)

    def snapshot(self, i: int, opt: Optimizer) -> tuple:
        """Member ``i``'s weights, Adam state and generator state (for a rollback)."""
        return self.state(i), copy.deepcopy(self.adam_state(i, opt)), self.gens[i].get_state()

    def restore(self, i: int, snap: tuple, opt: Optimizer) -> None:
        """Return member ``i`` to ``snap`` (from :meth:`snapshot`)."""
        weights, adam, gen = snap
        self.load_state(i, weights)
        opt.load_member_state(i, adam)
        self.gens[i].set_state(gen)

    # --- forward passes and losses ----------------------------------------------------
    def forward(self, weights: dict[str, torch.Tensor], live: Sequence[int], x: torch.Tensor,
                linear: bool, cast: bool = True) -> torch.Tensor:
        """Output of the members ``live`` (``core`` only when ``linear``) for ``x``
        ``[live, batch, context + L, F]``: ``[live, batch, L, U]`` float32."""
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp and cast):
            if self.stack is None:
                model = self.models[live[0]]
                out = (model.core(x[0], **self.given) if linear else model(x[0], **self.given))[None]
            else:
                fn, given = self.fns[linear], self.given
                index = self._index(live)
                stacked = ({f"m.{k}": v for k, v in weights.items()},
                           {f"m.{k}": v if index is None else v.index_select(0, index)
                            for k, v in self._buffers.items()})
                out = vmap(lambda p, xi: functional_call(fn, p, (xi,), given))(stacked, x)
        return out[:, :, self.context:, :].float()

    def losses(self, live: Sequence[int], out: torch.Tensor, y: torch.Tensor, m: torch.Tensor,
               linear: bool) -> torch.Tensor:
        """Mean loss over the masked bins, per member: ``[live]``.

        ``nmse``: squared error over the unit's response variance, averaged over units;
        ``poisson``: ``p - y log p`` (``p`` through softplus for the core alone, whose
        output may be negative). ``m`` is the float mask ``[live, batch, L]``.
        """
        count = m.sum(dim=(1, 2)).clamp_min(1.0)
        if self.loss_kind == "nmse":
            index = self._index(live)
            inv_var = self.data.inv_var if index is None else self.data.inv_var.index_select(0, index)
            err = ((out - y) ** 2 * inv_var[:, None, None, :]).mean(dim=-1)
        else:
            p = F.softplus(out) if linear else out.clamp_min(1e-6)
            err = (p - y * torch.log(p)).mean(dim=-1)
        return (err * m).sum(dim=(1, 2)) / count

    def batch_losses(self, weights: dict[str, torch.Tensor], live: Sequence[int], sel: torch.Tensor,
                     linear: bool, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of each member ``live[j]`` on its segments ``sel[j]`` (``[live, batch]``);
        ``valid`` (``[live, batch]``, from :meth:`~.memberdata.MemberData.valid`) masks
        padding rows out."""
        x, y = self.data.gather(live, sel)
        m = self.data.mask[sel]
        if valid is not None:
            m = m * valid[:, :, None]
        return self.losses(live, self.forward(weights, live, x, linear), y, m, linear)

    def permutations(self, live: Sequence[int], which: str) -> tuple[torch.Tensor, list[int]]:
        """Each member's batch order over its rows ``which`` (from its own generator),
        padded: ``[live, width]`` and the number of real rows of each."""
        rows = [len(self.data.rows[i][which]) for i in live]
        orders = [torch.randperm(n, generator=self.gens[i]) for i, n in zip(live, rows)]
        return self.data.padded(live, which, orders)

    @contextmanager
    def eval_mode(self, live: Sequence[int]) -> Iterator[None]:
        """Members ``live`` in evaluation mode without gradients, in training mode afterwards."""
        modules = [*(self.models[i] for i in live), *self.fns.values()]
        for m in modules:
            m.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for m in modules:
                m.train()

    def _blocks(self, live: Sequence[int], which: str, linear: bool,
                cast: bool = True) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Outputs of the members ``live`` on their rows ``which``, ``_EVAL_ROWS`` rows of
        each at a time: ``(positions in live, output, rows, mask)`` per block, the mask
        ``[taking, rows, L]`` zero on padding."""
        rows, counts = self.data.padded(live, which)
        weights = self.weights(live)
        for b in range(0, rows.shape[1], _EVAL_ROWS):
            take = [k for k, n in enumerate(counts) if n > b]
            members = [live[k] for k in take]
            sel = rows[take, b: b + _EVAL_ROWS] if len(take) < len(live) else rows[:, b: b + _EVAL_ROWS]
            if len(take) < len(live) and self.stack is not None:
                index = torch.as_tensor(take, device=self.device)
                sub = {k: v[index] for k, v in weights.items()}
            else:
                sub = weights
            valid = MemberData.valid([counts[k] for k in take], b, sel.shape[1], self.device)
            m = self.data.mask[sel] if valid is None else self.data.mask[sel] * valid[:, :, None]
            x = self.data.gather(members, sel)[0]
            yield take, self.forward(sub, members, x, linear, cast), sel, m

    def evaluate(self, live: Sequence[int], which: str, linear: bool) -> np.ndarray:
        """Mean loss of each member ``live`` on its segments ``which``: ``[live]`` float64."""
        total, count = np.zeros(len(live)), np.zeros(len(live))
        with self.eval_mode(live):
            for take, out, sel, m in self._blocks(live, which, linear):
                members = [live[k] for k in take]
                loss = self.losses(members, out, self.data.gather(members, sel)[1], m, linear)
                bins = m.sum(dim=(1, 2)).double().cpu().numpy()
                total[take] += loss.double().cpu().numpy() * bins
                count[take] += bins
        return total / np.maximum(count, 1.0)

    def response_stats(self) -> list[Stats]:
        """Per member: mean and sd of the targets and of the core output over the fitting bins."""
        every = list(range(len(self.models)))
        outs: list[list[torch.Tensor]] = [[] for _ in every]
        keeps: list[list[torch.Tensor]] = [[] for _ in every]
        ys: list[list[torch.Tensor]] = [[] for _ in every]
        with self.eval_mode(every):
            for take, out, sel, m in self._blocks(every, "fit", True, cast=False):
                y = self.data.gather([every[k] for k in take], sel)[1]
                for j, k in enumerate(take):
                    n_u = out.shape[-1]
                    outs[k].append(out[j].reshape(-1, n_u))
                    ys[k].append(y[j].reshape(-1, n_u))
                    keeps[k].append(m[j].reshape(-1) > 0)
        stats = []
        for out, y, keep in zip(outs, ys, keeps):
            keep = torch.cat(keep)
            out, y = torch.cat(out)[keep], torch.cat(y)[keep]
            stats.append((y.mean(0), y.std(0, unbiased=False), out.mean(0), out.std(0, unbiased=False)))
        return stats

    def init_outputs(self) -> None:
        """Initialise each member's output nonlinearity from its response statistics."""
        for model, stats in zip(self.models, self.response_stats()):
            model.output.init_from_response(*stats, **self.init_sd)
