"""Fitting many small networks of one architecture at once, each as if alone.

:func:`fit_members` trains ``M`` models whose parameters have the same names and
shapes (for example the subspace networks of many units, or of many initialisations
of one unit) as one batched computation: their parameters are stacked along a leading
member axis, their forward passes run under :func:`torch.func.vmap`, and each member
has its own data, batch order (its own seeded generator), Adam state, early stopping,
stage lengths and :class:`~.training.FitRecord`. The sum of the members' losses has,
for each member, the gradient of that member's loss alone, and Adam acts element by
element, so every member follows the schedule of :func:`~.training.fit_model` (two
stages, L2, early stopping on the held-out sounds, stage 2 on all estimation sounds
for as many epochs as stage 1 needed) and ends with the same weights up to float
rounding. A member whose stage has ended is frozen (no update, no Adam step) while
the others go on.

Small networks are dominated by per-step overhead; batching ``M`` of them costs about
as much per step as one, which is where the speed comes from.

A member's forward pass must not depend on training mode (no dropout or batch
normalisation): members run functionally, from their stacked parameters.

Fits that need a per-member rollback (``nan_policy="rollback"``) or mixed precision
run one after the other through :func:`~.training.fit_model` instead.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..errors import ConfigError, InvalidDataError, TrainingError
from .schedule import (
    FitRecord,
    TrainingParams,
    _check_data,
    _has_stages,
    _segment,
    _versions,
    fit_model,
    resolve_device,
)

__all__ = ["fit_members"]

_EVAL_ROWS = 64


class _Core(nn.Module):
    """``model.core`` as a module's forward (for :func:`functional_call`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m.core(x)


class _Full(_Core):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


class _MemberAdam:
    """Adam (``torch.optim.Adam`` defaults) on stacked parameters, one step count per member."""

    def __init__(self, params: dict[str, torch.Tensor], lr: float, n: int,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        self.t = torch.zeros(n, dtype=torch.float64)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += active.cpu().double()
        t = self.t.clamp_min(1.0)
        dev = next(iter(self.params.values())).device
        step_size = (self.lr / (1.0 - b1 ** t)).float().to(dev)
        bc2_sqrt = ((1.0 - b2 ** t) ** 0.5).float().to(dev)
        for name, p in self.params.items():
            g = p.grad
            if g is None:
                continue
            shape = (-1,) + (1,) * (p.ndim - 1)
            a = active.view(shape)
            m_new = torch.lerp(self.m[name], g, 1.0 - b1)
            v_new = self.v[name] * b2 + (1.0 - b2) * g * g
            denom = v_new.sqrt() / bc2_sqrt.view(shape) + self.eps
            p_new = p - step_size.view(shape) * m_new / denom
            self.m[name] = torch.where(a, m_new, self.m[name])
            self.v[name] = torch.where(a, v_new, self.v[name])
            p.copy_(torch.where(a, p_new, p))

    def select(self, keep: torch.Tensor, params: dict[str, torch.Tensor]) -> None:
        """Keep the state of the members ``keep`` (bool), now stacked in ``params``."""
        self.params = params
        self.m = {k: v[keep] for k, v in self.m.items()}
        self.v = {k: v[keep] for k, v in self.v.items()}
        self.t = self.t[keep.cpu()]


def _l2_names(model: nn.Module) -> list[str]:
    """Parameter names penalised by L2, as in :func:`~.training.fit_model`."""
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) or (getattr(m, "l2_penalised", False) and not hasattr(m, "linear")):
            out.append(f"{name}.weight" if name else "weight")
    return out


def _check_models(models: Sequence[nn.Module]) -> None:
    if not models:
        raise ConfigError("fit_members needs at least one model")
    ref = {k: tuple(v.shape) for k, v in models[0].state_dict().items()}
    rf = getattr(models[0], "receptive_field", None)
    for i, m in enumerate(models[1:], 1):
        shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        if shapes != ref or type(m) is not type(models[0]):
            raise ConfigError(
                f"fit_members: model {i} ({type(m).__name__}) differs from model 0 "
                f"({type(models[0]).__name__}) in type or parameter shapes"
            )
        if getattr(m, "receptive_field", None) != rf:
            raise ConfigError(f"fit_members: model {i} has another receptive field than model 0")


def fit_members(
    models: Sequence[nn.Module],
    inputs: Sequence[Sequence[np.ndarray]],
    targets: Sequence[Sequence[np.ndarray]],
    params: TrainingParams | None = None,
    seeds: Sequence[int] | None = None,
) -> list[FitRecord]:
    """Train ``models`` in place, each on its own data, as :func:`~.training.fit_model` would.

    Parameters
    ----------
    models : sequence of nn.Module
        Same type and parameter shapes (``[batch, time, inputs] -> [batch, time, units]``).
    inputs, targets : one list of arrays per model
        Each model's estimation sounds, ``[time, inputs]`` and ``[time, units]``; the
        sounds must have the same lengths for every model.
    params : TrainingParams
        Shared by every member, except the seed.
    seeds : sequence of int, optional
        Seed of each member's batch order (default ``params.seed`` for all); recorded in
        its :class:`~.training.FitRecord`.

    Returns
    -------
    list of FitRecord
        One per model, in order.
    """
    params = params or TrainingParams()
    n = len(models)
    seeds = [params.seed] * n if seeds is None else [int(s) for s in seeds]
    if len(inputs) != n or len(targets) != n or len(seeds) != n:
        raise ConfigError(
            f"fit_members: {n} models need as many input and target lists and seeds, got "
            f"{len(inputs)}, {len(targets)} and {len(seeds)}"
        )
    _check_models(models)
    ins = [[np.asarray(a, dtype=np.float32) for a in x] for x in inputs]
    outs = [[np.asarray(t, dtype=np.float32) for t in y] for y in targets]
    for x, y in zip(ins, outs):
        _check_data(x, y)
        if [a.shape[0] for a in x] != [a.shape[0] for a in ins[0]]:
            raise InvalidDataError("fit_members: every model's sounds must have the same lengths")
    device = resolve_device(params.device)
    if params.nan_policy == "rollback" or (params.mixed_precision and device.type == "cuda"):
        return [fit_model(m, x, y, params.replace(seed=s)) for m, x, y, s in zip(models, ins, outs, seeds)]
    return _Batched(models, ins, outs, params, seeds, device).run()


class _Batched:
    """State of one batched fit (see :func:`fit_members`)."""

    def __init__(self, models, inputs, targets, params: TrainingParams, seeds, device) -> None:
        self.models, self.params, self.seeds, self.device = list(models), params, seeds, device
        n_sounds = len(inputs[0])
        n_hold = min(n_sounds - 1, max(1, int(round(params.early_stop_fraction * n_sounds))))
        self.fit_idx = list(range(n_sounds - n_hold))
        self.hold_idx = list(range(n_sounds - n_hold, n_sounds))
        rf = getattr(models[0], "receptive_field", None)
        self.context, length = (int(rf) - 1, params.segment_length) if isinstance(rf, int) else (0, None)
        segs = [_segment(x, y, self.context, length) for x, y in zip(inputs, targets)]
        self.x = torch.stack([s.x for s in segs]).to(device)  # [M, S, T, in]
        self.y = torch.stack([s.y for s in segs]).to(device)  # [M, S, L, U]
        self.mask = segs[0].m.to(device)  # [S, L], the same for every member
        sound = segs[0].sound
        self.rows = {
            "fit": torch.as_tensor(np.flatnonzero(np.isin(sound, self.fit_idx)), device=device),
            "hold": torch.as_tensor(np.flatnonzero(np.isin(sound, self.hold_idx)), device=device),
            "all": torch.arange(len(sound), device=device),
        }
        var = []
        for y in targets:
            v = np.concatenate(y, axis=0).var(axis=0)
            var.append(np.where(v > 0, v, 1.0))
        self.inv_var = 1.0 / torch.as_tensor(np.stack(var), dtype=torch.float32, device=device)
        self.kind = params.loss
        for m in self.models:
            m.to(device)
        self.staged = params.two_stage and _has_stages(models[0])
        template = copy.deepcopy(models[0]).to("meta")
        self.fns = {True: _Core(template), False: _Full(template)}
        p, b = stack_module_state(self.models)
        self.p = {f"m.{k}": v.detach().clone() for k, v in p.items()}
        self.b = {f"m.{k}": v for k, v in b.items()}
        self.l2 = [f"m.{k}" for k in _l2_names(models[0]) if f"m.{k}" in self.p]
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        n = len(models)
        self.hist: list[dict[str, list]] = [{"stage": [], "train_loss": [], "val_loss": []} for _ in range(n)]

    # --- forward and losses (``live``: positions of the members in the working stack) ---
    def forward(self, params: dict[str, torch.Tensor], live: torch.Tensor, x: torch.Tensor,
                linear: bool) -> torch.Tensor:
        fn = self.fns[linear]
        buffers = {k: v[live] for k, v in self.b.items()}
        out = vmap(lambda p, b, xi: functional_call(fn, (p, b), (xi,)))(params, buffers, x)
        return out[:, :, self.context:, :].float()

    def losses(self, live: torch.Tensor, out, y, m, linear: bool) -> torch.Tensor:
        """Masked mean loss of each live member (``m`` is ``[live, B, L]``)."""
        count = m.sum(dim=(1, 2)).clamp_min(1.0)
        if self.kind == "nmse":
            err = ((out - y) ** 2 * self.inv_var[live][:, None, None, :]).mean(dim=-1)
        else:
            p = nn.functional.softplus(out) if linear else out.clamp_min(1e-6)
            err = (p - y * torch.log(p)).mean(dim=-1)
        return (err * m).sum(dim=(1, 2)) / count

    def evaluate(self, params: dict[str, torch.Tensor], live: torch.Tensor, which: str,
                 linear: bool) -> np.ndarray:
        idx = self.rows[which]
        total = torch.zeros(len(live), dtype=torch.float64)
        count = 0.0
        with torch.no_grad():
            for b in range(0, len(idx), _EVAL_ROWS):
                sel = idx[b: b + _EVAL_ROWS]
                m = self.mask[sel]
                out = self.forward(params, live, self.x[live[:, None], sel[None, :]], linear)
                loss = self.losses(live, out, self.y[live[:, None], sel[None, :]],
                                   m.expand(len(live), *m.shape), linear)
                total += loss.double().cpu() * float(m.sum())
                count += float(m.sum())
        return (total / max(count, 1.0)).numpy()

    def stats(self):
        """Per member: mean and sd of the targets and of the core output over the fitting bins."""
        idx = self.rows["fit"]
        every = torch.arange(len(self.models), device=self.device)
        with torch.no_grad():
            out = torch.cat([self.forward(self.p, every, self.x[:, idx[b: b + _EVAL_ROWS]], True)
                             for b in range(0, len(idx), _EVAL_ROWS)], dim=1)
        keep = self.mask[idx].reshape(-1) > 0
        u = out.shape[-1]
        out = out.reshape(len(self.models), -1, u)[:, keep]
        y = self.y[:, idx].reshape(len(self.models), -1, u)[:, keep]
        return y.mean(1), y.std(1, unbiased=False), out.mean(1), out.std(1, unbiased=False)

    # --- schedule ---------------------------------------------------------------------
    def run(self) -> list[FitRecord]:
        params, n = self.params, len(self.models)
        first = "stage1" if self.staged else "single"
        best_epoch, best_loss = self.run_stage(first, np.full(n, params.max_epochs), early_stop=True)
        stage1_best_epoch, stage1_best_loss = best_epoch, best_loss
        if self.staged:
            self.init_output()
            if params.stage2 == "all_data":
                limits = np.maximum(1, stage1_best_epoch + 1)
                self.run_stage("stage2", limits, early_stop=False)
                selection = stage1_best_loss
            else:
                _, selection = self.run_stage("stage2", np.full(n, params.max_epochs), early_stop=True)
        else:
            selection = stage1_best_loss
        self.unstack()
        records = []
        for i in range(n):
            h = self.hist[i]
            records.append(FitRecord(
                stage=list(h["stage"]), train_loss=list(h["train_loss"]), val_loss=list(h["val_loss"]),
                epochs=len(h["stage"]), best_epoch=int(stage1_best_epoch[i]),
                stage2_epochs=sum(1 for s in h["stage"] if s == "stage2"),
                selection_loss=float(selection[i]), seed=self.seeds[i],
                fit_sounds=list(self.fit_idx), early_stop_sounds=list(self.hold_idx), rollbacks=0,
                device=str(self.device), params=params.replace(seed=self.seeds[i]).to_dict(),
                versions=_versions(),
            ))
        return records

    def run_stage(self, stage: str, limits: np.ndarray, early_stop: bool):
        """Train until every member has ended the stage; returns best epochs and losses.

        Members whose stage has ended are frozen; once they are half of the working
        stack, the stack is rebuilt from the others, so that finished members stop
        costing compute.
        """
        params, n, dev = self.params, len(self.models), self.device
        linear = stage == "stage1"
        lr = params.lr_stage2 if stage == "stage2" else params.lr_stage1
        rows = self.rows["all" if stage == "stage2" and not early_stop else "fit"]
        epoch = np.zeros(n, dtype=np.int64)
        bad = np.zeros(n, dtype=np.int64)
        best_epoch = np.full(n, -1, dtype=np.int64)
        best_loss = np.full(n, math.inf)
        best = {k: v.detach().clone() for k, v in self.p.items()}
        live = np.arange(n)
        live_t = torch.arange(n, device=dev)
        work = {k: v.detach().clone().requires_grad_(True) for k, v in self.p.items()}
        opt = _MemberAdam(work, lr, n)
        if stage == "stage2" and early_stop:
            best_loss = self.evaluate(work, live_t, "hold", False)
        active = np.ones(n, dtype=bool)
        x, y = self.x, self.y
        while active.any():
            if active[live].sum() * 2 <= len(live):
                keep = torch.as_tensor(active[live], device=dev)
                self._store(work, live_t)
                work = {k: v.detach()[keep].clone().requires_grad_(True) for k, v in work.items()}
                opt.select(keep, work)
                live = live[active[live]]
                live_t = torch.as_tensor(live, device=dev)
                x, y = self.x[live_t], self.y[live_t]
            act = torch.as_tensor(active[live], device=dev)
            perms = torch.stack([
                torch.randperm(len(rows), generator=self.gens[i]) if active[i]
                else torch.arange(len(rows)) for i in live
            ]).to(dev)
            perm = rows[perms]  # [live, rows]
            members = torch.arange(len(live), device=dev)[:, None]
            run = torch.zeros(len(live), device=dev)
            for b in range(0, perm.shape[1], params.batch_size):
                sel = perm[:, b: b + params.batch_size]
                out = self.forward(work, live_t, x[members, sel], linear)
                loss = self.losses(live_t, out, y[members, sel], self.mask[sel], linear)
                total = loss.sum()
                if params.l2 > 0:
                    total = total + params.l2 * sum((work[k].float() ** 2).sum() for k in self.l2)
                for p in work.values():
                    p.grad = None
                total.backward()
                opt.step(act)
                run = run + loss.detach() * sel.shape[1]
            train = (run / perm.shape[1]).double().cpu().numpy()
            val = self.evaluate(work, live_t, "hold", linear)
            improved = np.zeros(len(live), dtype=bool)
            for j, i in enumerate(live):
                if not active[i]:
                    continue
                if not (math.isfinite(train[j]) and math.isfinite(val[j])):
                    raise TrainingError(
                        f"model {type(self.models[i]).__name__} (member {i} of {n}): non-finite loss "
                        f"(train {train[j]}, held-out {val[j]}) in {stage} epoch {epoch[i]} "
                        f"(seed {self.seeds[i]})"
                    )
                h = self.hist[i]
                h["stage"].append(stage)
                h["train_loss"].append(float(train[j]))
                h["val_loss"].append(float(val[j]))
                if early_stop:
                    if val[j] < best_loss[i] - params.min_delta:
                        best_loss[i], best_epoch[i], bad[i] = val[j], epoch[i], 0
                        improved[j] = True
                    else:
                        bad[i] += 1
                epoch[i] += 1
            if improved.any():
                imp = torch.as_tensor(np.flatnonzero(improved), device=dev)
                with torch.no_grad():
                    for k, v in work.items():
                        best[k][live_t[imp]] = v.detach()[imp]
            active &= (epoch < limits) & ~(early_stop & (bad >= params.patience))
        self._store(work, live_t)
        if early_stop:
            with torch.no_grad():
                found = torch.as_tensor(best_epoch >= 0 if stage != "stage2" else np.ones(n, bool),
                                        device=dev)
                for k, v in self.p.items():
                    v.copy_(torch.where(found.view((-1,) + (1,) * (v.ndim - 1)), best[k], v))
        return best_epoch, best_loss

    def _store(self, work: dict[str, torch.Tensor], live: torch.Tensor) -> None:
        """Copy the working stack back to the members' places."""
        with torch.no_grad():
            for k, v in work.items():
                self.p[k][live] = v.detach()

    def init_output(self) -> None:
        """Initialise each member's output nonlinearity from its response statistics."""
        stats = self.stats()
        self.unstack()
        for i, model in enumerate(self.models):
            model.output.init_from_response(*(s[i] for s in stats))
        with torch.no_grad():
            p, _ = stack_module_state(self.models)
            for k, v in p.items():
                self.p[f"m.{k}"].copy_(v)

    def unstack(self) -> None:
        """Write the stacked parameters back into the member models."""
        with torch.no_grad():
            for i, model in enumerate(self.models):
                for name, param in model.named_parameters():
                    param.copy_(self.p[f"m.{name}"][i])
