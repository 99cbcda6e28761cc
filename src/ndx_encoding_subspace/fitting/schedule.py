"""The training schedule: two stages, early stopping, L2, rollbacks and checkpoints.

Schedule (METHOD.md section 2) for a model exposing ``core`` and ``output``:

1. **stage1** - the core alone (output nonlinearity skipped), Adam at ``lr_stage1``, on
   the *fitting* sounds (the first 80% of the estimation sounds); early stopping on the
   *held-out* sounds (the last ``early_stop_fraction``); the best weights are kept.
2. The double exponential is initialised from the response statistics of the fitting
   sounds (base = mean - sd, amplitude = 4 sd: ``init_base_sd``, ``init_amplitude_sd``; see
   ``DoubleExponential.init_from_response``).
3. **stage2** - the whole model at ``lr_stage2``. With ``stage2="all_data"`` (the paper's
   choice, default) it trains on *all* estimation sounds for as many epochs as stage 1
   needed to reach its best held-out loss (the held-out loss is still logged, but it is no
   longer a fair stopping signal and is not used); with ``stage2="early_stop"`` it trains on
   the fitting sounds with early stopping on the held-out ones, like stage 1.

Any other module is fitted in one stage (**single**) like stage 1, but through its full
forward pass. Validation sounds are never passed to this module.

Batches are segments of ``segment_length`` bins; each segment carries the
``receptive_field - 1`` preceding bins of its sound as context (zeros before the sound's
start, which is exact for causal models), so segment training equals training on whole
sounds. A module without ``receptive_field`` is trained on whole sounds (zero-padded at
the end, padding masked out of the loss).

Losses: ``nmse`` = mean over units of the squared error divided by the variance of that
unit's response over all estimation sounds; ``poisson`` = mean of ``p - y log p`` (with
``p`` passed through softplus in stage 1, where the core output may be negative). L2:
``l2 * sum(w^2)`` over the weight of every ``nn.Linear`` (the dense layers) and of
every module flagged ``l2_penalised`` (per-unit dense layers).

Non-finite losses (``nan_policy``): ``"raise"`` (default) stops with a
:class:`TrainingError` naming the stage and epoch; ``"rollback"`` restores the state at
the start of the failing epoch, halves the learning rate and retries, up to
``max_rollbacks`` times in the whole fit, then raises.

The schedule is written once, over a :class:`~.memberset.MemberSet`: :func:`fit_model`
runs it on a set of one model, :func:`~.members.fit_members` on many at once. Every
member has its own epochs, early stopping, learning rate and rollbacks; a stage ends
when it has ended for every member, members whose stage ended earlier waiting frozen.

Checkpoints (``checkpoint_path`` of :func:`fit_model`, see :mod:`.checkpoint`): written
after every epoch. A fit started again with the same model initialisation, data and
parameters resumes from it and ends with exactly the weights and losses of an
uninterrupted run. A finished fit leaves a ``done`` checkpoint, from which a new call
returns at once. In a member set each member may have a checkpoint of its own (written
after each epoch it takes part in); members resumed together must stand at the same
stage.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..compute import flushed_subnormals
from ..errors import ConfigError, TrainingError
from .checkpoint import Checkpoint
from .memberdata import own_data
from .memberset import MemberSet, Optimizer, layout
from .record import FitRecord, Progress
from .segments import check_data
from .training_params import TrainingParams, resolve_device

__all__ = ["TrainingParams", "FitRecord", "fit_model", "resolve_device"]


class Schedule:
    """One run of the schedule over ``members`` (see the module docstring)."""

    def __init__(self, members: MemberSet, params: TrainingParams, *,
                 checkpoints: Sequence[Checkpoint | None] | None = None,
                 progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        n = len(members)
        self.checkpoints = list(checkpoints) if checkpoints is not None else [None] * n
        if len(self.checkpoints) != n:
            raise ConfigError(f"{len(self.checkpoints)} checkpoints for {n} members")
        self.ms, self.params, self.progress = members, params, progress
        self.stage = "stage1" if members.staged else "single"
        self.state = [Progress(lr=params.lr_stage1) for _ in range(n)]
        self.best: list[dict[str, torch.Tensor] | None] = [None] * n
        saved = [c.load(members.device) if c is not None else None for c in self.checkpoints]
        stages = {self.stage if blob is None else blob["meta"]["stage"] for blob in saved}
        if len(stages) > 1:
            raise ConfigError(f"members trained together must stand at one stage, not {sorted(stages)}")
        self.stage = stages.pop()
        for i, blob in enumerate(saved):
            if blob is not None:
                self.state[i] = Progress.from_dict(blob["meta"])
                members.load_state(i, blob["model"])
                self.best[i] = blob["best"] or None
                members.gens[i].set_state(blob["rng"])
        self.opt: Optimizer | None = members.optimizer([s.lr for s in self.state])
        for i, blob in enumerate(saved):
            if blob is not None and blob["optimizer"]:
                self.opt.load_member_state(i, blob["optimizer"])

    def run(self) -> list[FitRecord]:
        """Train until every member is done; one record per member."""
        while self.stage != "done":
            live = [i for i, s in enumerate(self.state) if not self._ended(s)]
            reports = self._epoch(live) if live else self._finish_stage()
            self._save(live or range(len(self.ms)))
            if self.progress is not None:
                for report in reports:
                    self.progress(report)
        ms = self.ms
        ms.release()
        return [s.record(seed=seed, fit_sounds=list(fit), early_stop_sounds=list(hold),
                         device=str(ms.device), params=self.params.replace(seed=seed).to_dict())
                for s, seed, (fit, hold) in zip(self.state, ms.seeds, ms.data.sounds)]

    def _save(self, members: Sequence[int]) -> None:
        """Write the checkpoints of ``members`` (those that changed)."""
        ms = self.ms
        for i in members:
            checkpoint = self.checkpoints[i]
            if checkpoint is None:
                continue
            meta = {"stage": self.stage, **self.state[i].to_dict()}
            checkpoint.save(ms.state(i), ms.adam_state(i, self.opt), self.best[i], ms.gens[i], meta)

    def _fixed(self) -> bool:
        """Whether the current stage runs a fixed number of epochs (no early stopping)."""
        return self.stage == "stage2" and self.params.stage2 == "all_data"

    def _ended(self, s: Progress) -> bool:
        if self._fixed():
            return s.epoch >= max(1, s.stage1_best_epoch + 1)
        return s.epoch >= self.params.max_epochs or s.bad >= self.params.patience

    def _epoch(self, live: list[int]) -> list[dict[str, Any]]:
        """One epoch of the members ``live``; returns the progress reports."""
        params, ms, stage, fixed = self.params, self.ms, self.stage, self._fixed()
        linear = stage == "stage1"
        snaps = {i: ms.snapshot(i, self.opt) for i in live} if params.nan_policy == "rollback" else {}
        train = self._train(live, "all" if fixed else "fit", linear)
        val = ms.evaluate(live, "hold", linear)
        reports = []
        for i, train_loss, val_loss in zip(live, train.tolist(), val.tolist()):
            s = self.state[i]
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                self._rollback(i, snaps.get(i), train_loss, val_loss)
                continue
            s.log(stage, train_loss, val_loss)
            if not fixed:
                if val_loss < s.best_loss - params.min_delta:
                    s.best_loss, s.best_epoch, s.bad = val_loss, s.epoch, 0
                    self.best[i] = ms.state(i)
                else:
                    s.bad += 1
            s.epoch += 1
            reports.append({"member": i, "stage": stage, "epoch": s.epoch - 1, "train_loss": train_loss,
                            "val_loss": val_loss, "best_epoch": s.best_epoch})
        return reports

    def _train(self, live: list[int], which: str, linear: bool) -> np.ndarray:
        """One pass of the members ``live`` over their rows ``which`` in their own batch
        orders; returns each member's mean training loss (float64). A member with fewer
        rows than others has fewer steps: it takes no part in the later ones."""
        params, ms = self.params, self.ms
        perm, counts = ms.permutations(live, which)
        run = torch.zeros(len(live), device=ms.device)
        for b in range(0, perm.shape[1], params.batch_size):
            take = [k for k, n in enumerate(counts) if n > b]
            every = len(take) == len(live)
            members = live if every else [live[k] for k in take]
            sel = (perm if every else perm[take])[:, b: b + params.batch_size]
            valid = ms.data.valid([counts[k] for k in take], b, sel.shape[1], ms.device)
            weights = ms.weights(members)
            losses = ms.batch_losses(weights, members, sel, linear, valid)
            total = losses.sum()
            if params.l2 > 0:
                total = total + params.l2 * ms.l2_penalty(weights)
            self.opt.zero_grad()
            total.backward()
            self.opt.step(members)
            rows = sel.shape[1] if valid is None else valid.sum(dim=1)
            if every:
                run = run + losses.detach() * rows
            else:
                run = run.index_add(0, torch.as_tensor(take, device=ms.device), losses.detach() * rows)
        return run.double().cpu().numpy() / np.asarray(counts, dtype=np.float64)

    def _rollback(self, i: int, snap: tuple | None, train_loss: float, val_loss: float) -> None:
        """Restore member ``i`` to the start of the epoch at half its learning rate, or raise."""
        s, n = self.state[i], len(self.ms)
        if snap is None or s.rollbacks >= self.params.max_rollbacks:
            who = type(self.ms.models[i]).__name__ + (f" (member {i} of {n})" if n > 1 else "")
            raise TrainingError(
                f"model {who}: non-finite loss (train {train_loss}, held-out {val_loss}) in "
                f"{self.stage} epoch {s.epoch} (seed {self.ms.seeds[i]}, {s.rollbacks} rollbacks)"
            )
        s.lr /= 2.0
        s.rollbacks += 1
        self.ms.restore(i, snap, self.opt)
        self.opt = self.ms.optimizer([s.lr for s in self.state], carry=self.opt)

    def _finish_stage(self) -> list[dict[str, Any]]:
        """Close the current stage for every member: restore its best weights, move on."""
        params, ms, fixed = self.params, self.ms, self._fixed()
        if not fixed:
            for i, best in enumerate(self.best):
                if best is not None:
                    ms.load_state(i, best)
        if self.stage in ("stage1", "single"):
            for s in self.state:
                s.stage1_best_epoch, s.stage1_best_loss = s.best_epoch, s.best_loss
        if self.stage == "stage1":
            ms.init_outputs()
            self.stage = "stage2"
            for s in self.state:
                s.new_stage(params.lr_stage2)
            self.best = [None] * len(ms)
            if params.stage2 == "early_stop":
                losses = ms.evaluate(list(range(len(ms))), "hold", False)
                for i, s in enumerate(self.state):
                    s.best_loss, self.best[i] = float(losses[i]), ms.state(i)
            self.opt = ms.optimizer([s.lr for s in self.state])
            return []
        for s in self.state:
            s.selection_loss = s.stage1_best_loss if fixed else s.best_loss
        self.stage, self.opt = "done", None
        return []


@flushed_subnormals()
def fit_model(
    model: nn.Module,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    params: TrainingParams | None = None,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> FitRecord:
    """Train ``model`` in place on estimation sounds.

    Parameters
    ----------
    model : nn.Module
        Maps ``[batch, time, frequency]`` to ``[batch, time, units]`` causally. Two-stage
        when it has ``core`` and ``output``; ``receptive_field`` (bins) enables segments.
    inputs : list of ndarray, each (time, frequency)
        Spectrograms of the estimation sounds, in order; the last
        ``early_stop_fraction`` of them are held out for early stopping.
    targets : list of ndarray, each (time, units)
        Responses (PSTHs) of the same sounds.
    params : TrainingParams
    checkpoint_path : path, optional
        File written after every epoch; resumed from when it exists.
    progress : callable, optional
        Called after every epoch with a dict (stage, epoch, train_loss, val_loss, best_epoch).

    Returns
    -------
    FitRecord

    Raises
    ------
    TrainingError
        Non-finite loss (see ``nan_policy``), or a checkpoint from another fit.
    """
    params = TrainingParams.of(params)
    # C order: the response variances that weigh the loss sum in the order numpy takes, which
    # follows the memory layout (a transposed or Fortran-order target would round otherwise)
    inputs = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
    targets = [np.ascontiguousarray(t, dtype=np.float32) for t in targets]
    check_data(inputs, targets, params.loss)
    device = resolve_device(params.device)
    checkpoint = None
    if checkpoint_path is not None:  # the fingerprint is taken before anything moves or trains
        checkpoint = Checkpoint(Path(checkpoint_path), model, inputs, targets, params)
    context, length = layout(model, params)
    data = own_data([inputs], [targets], params.early_stop_fraction, context, length, device)
    members = MemberSet([model], data, params, [params.seed], device)
    report = None
    if progress is not None:
        def report(info: dict[str, Any]) -> None:
            progress({k: v for k, v in info.items() if k != "member"})
    return Schedule(members, params, checkpoints=[checkpoint], progress=report).run()[0]
