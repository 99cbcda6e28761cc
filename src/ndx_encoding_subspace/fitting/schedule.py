"""Fitting one model: two stages, early stopping, L2, checkpoints and resume.

Schedule (METHOD.md section 2) for a model exposing ``core`` and ``output``:

1. **stage1** - the core alone (output nonlinearity skipped), Adam at ``lr_stage1``, on
   the *fitting* sounds (the first 80% of the estimation sounds); early stopping on the
   *held-out* sounds (the last ``early_stop_fraction``); the best weights are kept.
2. The double exponential is initialised from the response statistics of the fitting
   sounds (base = mean - sd, amplitude = 4 sd; see ``DoubleExponential.init_from_response``).
3. **stage2** - the whole model at ``lr_stage2``. With ``stage2="all_data"`` (the paper's
   choice, default) it trains on *all* estimation sounds for as many epochs as stage 1
   needed to reach its best held-out loss (the held-out loss is still logged, but it is no
   longer a fair stopping signal and is not used); with ``stage2="early_stop"`` it trains on
   the fitting sounds with early stopping on the held-out ones, like stage 1.

Any other module is fitted in one stage (**single**) like stage 1, but through its full
forward pass. Validation sounds are never passed to this function.

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

Checkpoints (``checkpoint_path``): after every epoch a ``torch.save`` of a plain dict of
tensors plus a JSON string (read back with ``weights_only=True``; no pickled objects). A
fit started again with the same model initialisation, data and parameters resumes from
it and ends with exactly the weights and losses of an uninterrupted run. A finished fit
leaves a ``done`` checkpoint, from which a new call returns at once.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
import math
import os
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..atomic import write_bytes
from ..errors import ConfigError, InvalidDataError, TrainingError
from ..params import Params, check_choice, check_range

__all__ = ["TrainingParams", "FitRecord", "fit_model", "resolve_device"]


@dataclasses.dataclass(frozen=True)
class TrainingParams(Params):
    """Parameters of one fit (paper values as defaults where the paper gives them)."""

    loss: str = "nmse"
    lr_stage1: float = 1e-3
    lr_stage2: float = 1e-4
    l2: float = 1e-4
    max_epochs: int = 1000
    patience: int = 20
    min_delta: float = 0.0
    early_stop_fraction: float = 0.2
    stage2: str = "all_data"
    two_stage: bool = True
    segment_length: int = 200
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = False
    nan_policy: str = "raise"
    max_rollbacks: int = 3

    def validate(self) -> None:
        check_choice("loss", self.loss, ("nmse", "poisson"))
        check_range("lr_stage1", self.lr_stage1, 0, None, low_open=True)
        check_range("lr_stage2", self.lr_stage2, 0, None, low_open=True)
        check_range("l2", self.l2, 0)
        check_range("max_epochs", self.max_epochs, 1)
        check_range("patience", self.patience, 1)
        check_range("min_delta", self.min_delta, 0)
        check_range("early_stop_fraction", self.early_stop_fraction, 0, 1, low_open=True, high_open=True)
        check_choice("stage2", self.stage2, ("all_data", "early_stop"))
        check_range("segment_length", self.segment_length, 1)
        check_range("batch_size", self.batch_size, 1)
        check_range("seed", self.seed, 0)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_choice("nan_policy", self.nan_policy, ("raise", "rollback"))
        check_range("max_rollbacks", self.max_rollbacks, 0)
        for name in ("max_epochs", "patience", "segment_length", "batch_size", "seed", "max_rollbacks"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be an integer, got {getattr(self, name)!r}")


@dataclasses.dataclass
class FitRecord:
    """What happened during one fit (JSON-able through :meth:`to_dict`).

    ``stage``, ``train_loss`` and ``val_loss`` have one entry per epoch run;
    ``best_epoch`` is the 0-based epoch of stage 1 (or the single stage) with the lowest
    held-out loss; ``selection_loss`` the held-out loss used to compare initialisations.
    ``fit_sounds`` / ``early_stop_sounds`` index the ``inputs`` list.
    """

    stage: list[str]
    train_loss: list[float]
    val_loss: list[float]
    epochs: int
    best_epoch: int
    stage2_epochs: int
    selection_loss: float
    seed: int
    fit_sounds: list[int]
    early_stop_sounds: list[int]
    rollbacks: int
    device: str
    params: dict[str, Any]
    versions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON-compatible)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FitRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(**values)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` must be available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def _versions() -> dict[str, str]:
    out = {"torch": torch.__version__, "numpy": np.__version__}
    try:
        out["ndx-encoding-subspace"] = metadata.version("ndx-encoding-subspace")
    except metadata.PackageNotFoundError:
        out["ndx-encoding-subspace"] = "unknown"
    return out


@dataclasses.dataclass
class _Segments:
    x: torch.Tensor  # [S, context + L, F]
    y: torch.Tensor  # [S, L, U]
    m: torch.Tensor  # [S, L] float mask
    sound: np.ndarray  # [S] sound index of each segment


def _segment(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], context: int,
             length: int | None) -> _Segments:
    n_f, n_u = inputs[0].shape[1], targets[0].shape[1]
    if length is None:
        length = max(a.shape[0] for a in inputs)
    rows = [(i, s) for i, a in enumerate(inputs) for s in range(0, a.shape[0], length)]
    x = np.zeros((len(rows), context + length, n_f), np.float32)
    y = np.zeros((len(rows), length, n_u), np.float32)
    m = np.zeros((len(rows), length), np.float32)
    for k, (i, s) in enumerate(rows):
        a, t = inputs[i], targets[i]
        lo, hi = max(0, s - context), min(a.shape[0], s + length)
        x[k, context - (s - lo): context + hi - s] = a[lo:hi]
        y[k, : hi - s] = t[s:hi]
        m[k, : hi - s] = 1.0
    return _Segments(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(m),
                     np.array([i for i, _ in rows], dtype=np.int64))


def _check_data(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> None:
    if len(inputs) != len(targets) or len(inputs) < 2:
        raise InvalidDataError(
            f"training data: need >= 2 sounds with one target each, got {len(inputs)} inputs "
            f"and {len(targets)} targets"
        )
    for i, (a, t) in enumerate(zip(inputs, targets)):
        if a.ndim != 2 or t.ndim != 2 or a.shape[0] != t.shape[0]:
            raise InvalidDataError(
                f"training data: sound {i} has input {a.shape} and target {t.shape}; expected "
                "[time, frequency] and [time, units] of equal time"
            )
        if a.shape[1] != inputs[0].shape[1] or t.shape[1] != targets[0].shape[1]:
            raise InvalidDataError(f"training data: sound {i} differs in channels or units")
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(t))):
            raise InvalidDataError(f"training data: sound {i} holds NaN or inf")


class _Loss:
    def __init__(self, kind: str, var: torch.Tensor) -> None:
        self.kind, self.inv_var = kind, 1.0 / var

    def __call__(self, out: torch.Tensor, y: torch.Tensor, m: torch.Tensor, linear: bool) -> torch.Tensor:
        """Mean loss over the masked bins of a batch (a 0-d tensor)."""
        count = m.sum().clamp_min(1.0)
        if self.kind == "nmse":
            err = ((out - y) ** 2 * self.inv_var).mean(dim=-1)
        else:
            p = F.softplus(out) if linear else out.clamp_min(1e-6)
            err = (p - y * torch.log(p)).mean(dim=-1)
        return (err * m).sum() / count


def _has_stages(model: nn.Module) -> bool:
    return callable(getattr(model, "core", None)) and isinstance(getattr(model, "output", None), nn.Module)


def _fingerprint(model: nn.Module, inputs, targets, params: TrainingParams) -> str:
    h = hashlib.sha256(json.dumps(params.to_dict(), sort_keys=True).encode())
    for name, v in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(v.shape)).encode())
    for a in (*inputs, *targets):
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()


def _save(path: Path, model, opt, best, gen, meta) -> None:
    blob = {"model": model.state_dict(), "optimizer": opt.state_dict() if opt else {},
            "best": best or {}, "rng": gen.get_state(), "meta": json.dumps(meta)}
    write_bytes(path, lambda handle: torch.save(blob, handle))


def _clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


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
    params = params or TrainingParams()
    inputs = [np.asarray(a, dtype=np.float32) for a in inputs]
    targets = [np.asarray(t, dtype=np.float32) for t in targets]
    _check_data(inputs, targets)
    device = resolve_device(params.device)
    n = len(inputs)
    n_hold = min(n - 1, max(1, int(round(params.early_stop_fraction * n))))
    fit_idx, hold_idx = list(range(n - n_hold)), list(range(n - n_hold, n))
    fingerprint = _fingerprint(model, inputs, targets, params)
    rf = getattr(model, "receptive_field", None)
    context, length = (int(rf) - 1, params.segment_length) if isinstance(rf, int) else (0, None)
    seg = _segment(inputs, targets, context, length)
    seg = _Segments(seg.x.to(device), seg.y.to(device), seg.m.to(device), seg.sound)
    rows = {
        "fit": torch.as_tensor(np.flatnonzero(np.isin(seg.sound, fit_idx)), device=device),
        "hold": torch.as_tensor(np.flatnonzero(np.isin(seg.sound, hold_idx)), device=device),
        "all": torch.arange(len(seg.sound), device=device),
    }
    all_y = np.concatenate(targets, axis=0)
    var = torch.as_tensor(np.where(all_y.var(axis=0) > 0, all_y.var(axis=0), 1.0), device=device)
    loss_fn = _Loss(params.loss, var.float())
    model.to(device)
    staged = params.two_stage and _has_stages(model)
    amp = params.mixed_precision and device.type == "cuda"
    l2_weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)
                  or (getattr(m, "l2_penalised", False) and not hasattr(m, "linear"))]
    gen = torch.Generator().manual_seed(params.seed)
    path = Path(checkpoint_path) if checkpoint_path is not None else None

    meta: dict[str, Any] = {
        "fingerprint": fingerprint, "stage": "stage1" if staged else "single", "epoch": 0,
        "lr": params.lr_stage1, "best_loss": math.inf, "best_epoch": -1, "bad": 0,
        "stage1_best_epoch": -1, "stage1_best_loss": math.inf, "rollbacks": 0,
        "history": {"stage": [], "train_loss": [], "val_loss": []},
    }
    best: dict[str, torch.Tensor] | None = None
    opt_state: dict | None = None
    if path is not None and path.exists():
        blob = torch.load(path, map_location=device, weights_only=True)
        meta = json.loads(blob["meta"])
        if meta.get("fingerprint") != fingerprint:
            raise TrainingError(
                f"checkpoint {path}: written by a fit with other data, parameters or model; "
                "delete it to start again"
            )
        model.load_state_dict(blob["model"])
        best = blob["best"] or None
        opt_state = blob["optimizer"] or None
        gen.set_state(blob["rng"])

    given = _context_kwargs(model, context)

    def forward(x: torch.Tensor, linear: bool) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = model.core(x, **given) if linear else model(x, **given)
        return out[:, context:, :].float()

    def evaluate(which: str, linear: bool) -> float:
        idx, total, count = rows[which], 0.0, 0.0
        model.eval()
        with torch.no_grad():
            for b in range(0, len(idx), 64):
                sel = idx[b: b + 64]
                m = seg.m[sel]
                total += float(loss_fn(forward(seg.x[sel], linear), seg.y[sel], m, linear)) * float(m.sum())
                count += float(m.sum())
        model.train()
        return total / max(count, 1.0)

    def make_opt(lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=lr)

    opt = make_opt(meta["lr"])
    if opt_state:
        opt.load_state_dict(opt_state)
    while meta["stage"] != "done":
        stage = meta["stage"]
        linear = stage == "stage1"
        fixed = stage == "stage2" and params.stage2 == "all_data"
        train_rows = rows["all" if fixed else "fit"]
        limit = max(1, meta["stage1_best_epoch"] + 1) if fixed else params.max_epochs
        if meta["epoch"] >= limit or (not fixed and meta["bad"] >= params.patience):
            meta, best, opt = _finish_stage(model, meta, best, params, staged, evaluate, make_opt,
                                            lambda: _response_stats(model, seg, rows["fit"], context))
            if path is not None:
                _save(path, model, opt, best, gen, meta)
            continue
        snapshot = (_clone(model.state_dict()), copy.deepcopy(opt.state_dict()), gen.get_state()) \
            if params.nan_policy == "rollback" else None
        perm = train_rows[torch.randperm(len(train_rows), generator=gen).to(device)]
        run = torch.zeros((), device=device)
        for b in range(0, len(perm), params.batch_size):
            sel = perm[b: b + params.batch_size]
            loss = loss_fn(forward(seg.x[sel], linear), seg.y[sel], seg.m[sel], linear)
            total = loss + params.l2 * sum((w.float() ** 2).sum() for w in l2_weights) \
                if params.l2 > 0 else loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            run = run + loss.detach() * len(sel)
        train_loss = float(run) / len(perm)
        val_loss = evaluate("hold", linear)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            where = f"{stage} epoch {meta['epoch']}"
            if params.nan_policy == "raise" or meta["rollbacks"] >= params.max_rollbacks:
                raise TrainingError(
                    f"model {type(model).__name__}: non-finite loss (train {train_loss}, held-out "
                    f"{val_loss}) in {where} (seed {params.seed}, {meta['rollbacks']} rollbacks)"
                )
            model.load_state_dict(snapshot[0])
            gen.set_state(snapshot[2])
            meta["lr"] /= 2.0
            meta["rollbacks"] += 1
            opt = make_opt(meta["lr"])
            opt.load_state_dict(snapshot[1])
            for g in opt.param_groups:
                g["lr"] = meta["lr"]
            continue
        hist = meta["history"]
        hist["stage"].append(stage)
        hist["train_loss"].append(train_loss)
        hist["val_loss"].append(val_loss)
        if not fixed:
            if val_loss < meta["best_loss"] - params.min_delta:
                meta.update(best_loss=val_loss, best_epoch=meta["epoch"], bad=0)
                best = _clone(model.state_dict())
            else:
                meta["bad"] += 1
        meta["epoch"] += 1
        if path is not None:
            _save(path, model, opt, best, gen, meta)
        if progress is not None:
            progress({"stage": stage, "epoch": meta["epoch"] - 1, "train_loss": train_loss,
                      "val_loss": val_loss, "best_epoch": meta["best_epoch"]})

    hist = meta["history"]
    return FitRecord(
        stage=list(hist["stage"]), train_loss=list(hist["train_loss"]), val_loss=list(hist["val_loss"]),
        epochs=len(hist["stage"]), best_epoch=int(meta["stage1_best_epoch"]),
        stage2_epochs=sum(1 for s in hist["stage"] if s == "stage2"),
        selection_loss=float(meta["selection_loss"]), seed=params.seed,
        fit_sounds=fit_idx, early_stop_sounds=hold_idx, rollbacks=int(meta["rollbacks"]),
        device=str(device), params=params.to_dict(), versions=_versions(),
    )


def _context_kwargs(model: nn.Module, context: int) -> dict[str, bool]:
    """``{"has_context": True}`` when segments carry ``context`` bins and ``model`` and
    its ``core`` accept the flag (see :meth:`.models.StackedModel.core`), else nothing."""
    if not context:
        return {}
    try:
        takes = all("has_context" in inspect.signature(f).parameters
                    for f in (model.forward, model.core))
    except (TypeError, ValueError, AttributeError):
        takes = False
    return {"has_context": True} if takes else {}


def _response_stats(model, seg: _Segments, idx: torch.Tensor, context: int):
    """Per-unit mean and sd of the targets and of the core output over the fitting bins."""
    given = _context_kwargs(model, context)
    model.eval()
    with torch.no_grad():
        outs, ys, ms = [], [], []
        for b in range(0, len(idx), 64):
            sel = idx[b: b + 64]
            out = model.core(seg.x[sel], **given)
            outs.append(out[:, context:, :].float().reshape(-1, seg.y.shape[-1]))
            ys.append(seg.y[sel].reshape(-1, seg.y.shape[-1]))
            ms.append(seg.m[sel].reshape(-1) > 0)
        mask = torch.cat(ms)
        out, y = torch.cat(outs)[mask], torch.cat(ys)[mask]
    model.train()
    return y.mean(0), y.std(0, unbiased=False), out.mean(0), out.std(0, unbiased=False)


def _finish_stage(model, meta, best, params: TrainingParams, staged: bool, evaluate, make_opt, stats):
    """Close the current stage: restore its best weights, move to the next stage."""
    stage = meta["stage"]
    fixed = stage == "stage2" and params.stage2 == "all_data"
    if not fixed and best is not None:
        model.load_state_dict(best)
    if stage == "stage1":
        meta.update(stage1_best_epoch=meta["best_epoch"], stage1_best_loss=meta["best_loss"])
        model.output.init_from_response(*stats())
        meta.update(stage="stage2", epoch=0, lr=params.lr_stage2, best_loss=math.inf,
                    best_epoch=-1, bad=0)
        if params.stage2 == "early_stop":
            meta["best_loss"] = evaluate("hold", False)
            best = _clone(model.state_dict())
        else:
            best = None
        return meta, best, make_opt(meta["lr"])
    if stage == "single":
        meta.update(stage1_best_epoch=meta["best_epoch"], stage1_best_loss=meta["best_loss"])
    meta["selection_loss"] = meta["stage1_best_loss"] if fixed else meta["best_loss"]
    meta["stage"] = "done"
    return meta, best, None
