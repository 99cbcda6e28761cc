"""Jackknife x random-initialisation ensembles of one model (METHOD.md section 2).

Jackknife ``j`` of ``n_jackknife`` drops the estimation sounds at positions
``j, j + n, j + 2n, ...`` (1/n of them, spread over the list; a sound much longer than
the others counts as pieces of their length, :mod:`.pieces`); the rest are passed to
:func:`~ndx_encoding_subspace.fitting.schedule.fit_model`, which holds out its last
``early_stop_fraction`` for early stopping. Each jackknife is fitted from ``n_init``
random initialisations; the one with the lowest held-out ``selection_loss`` is kept (or,
with ``EnsembleParams.select_by = "final"``, the lowest training loss of its last epoch).
Every kept model (one per jackknife) is a member: predictions average over members, and
the dSTRF step averages over them too. With ``n_jackknife = 1`` nothing is dropped.

Seeds: initialisation ``i`` of jackknife ``j`` uses the seed drawn from
``SeedSequence([training.seed, j, i])`` for both the weights (``make_model`` is called
under a forked, seeded torch RNG) and the batch order, so a member does not depend on
which other members were fitted before it. With ``checkpoint_dir`` every fit writes
``jk{j}_init{i}.pt``; a run started again skips finished fits and resumes the unfinished
ones.

Batched training (the default): every jackknife x initialisation fit trains as a member
of one batched model through the one schedule (:class:`~.memberset.MemberSet`,
:class:`~.schedule.Schedule`), each on its own jackknife's sounds, with its own held-out
sounds, loss normalisation, batch order and early stopping, and ends as the fit alone
would, up to float rounding. The estimation sounds are segmented once and shared. As
many members train at once as fit in the device's memory
(:func:`~.batching.member_groups`; ``EnsembleParams.batch_members`` caps them); the rest
follow in further groups. Members keep their own checkpoint files, which a fit alone
reads as well (and the other way round).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..arrays import summary_repr
from ..compute import flushed_subnormals
from ..data.site import SiteData
from ..errors import ConfigError
from .batching import member_groups
from .checkpoint import Checkpoint
from .memberdata import shared_data
from .memberset import MemberSet, layout
from .pieces import estimation_pieces, piece_arrays
from .schedule import FitRecord, Schedule, TrainingParams, fit_model
from .segments import check_data
from .training_params import EnsembleParams, resolve_device

__all__ = ["EnsembleParams", "Ensemble", "fit_ensemble", "member_seed"]

#: spectrogram and PSTH of each estimation piece, by name
Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


def member_seed(seed: int, jackknife: int, init: int) -> int:
    """Seed of one fit, independent of the order in which fits run."""
    return int(np.random.SeedSequence([seed, jackknife, init]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclasses.dataclass
class Ensemble:
    """Fitted members of one model, with what each was fitted on.

    Attributes
    ----------
    members : list of nn.Module
        One model per jackknife (on CPU, in eval mode).
    records : list of FitRecord
        The fit of each member.
    info : list of dict
        Per member: jackknife, init, seed, dropped / fit / early-stop sound names.
    candidates : list of dict
        Every fit tried (jackknife, init, seed, selection_loss, final_loss, kept).
    """

    members: list[nn.Module]
    records: list[FitRecord]
    info: list[dict[str, Any]]
    candidates: list[dict[str, Any]]

    __repr__ = summary_repr

    def predict_members(self, stim: np.ndarray) -> np.ndarray:
        """Each member's prediction for one spectrogram ``[time, frequency]``: ``[members, time, units]``."""
        x = torch.as_tensor(np.ascontiguousarray(stim, dtype=np.float32))[None]  # a reversed view too
        outs = []
        with torch.no_grad():
            for m in self.members:
                m.eval()
                outs.append(m(x)[0].numpy())
        return np.stack(outs)

    def predict(self, stim: np.ndarray) -> np.ndarray:
        """Mean prediction over members, ``[time, units]``."""
        return self.predict_members(stim).mean(axis=0)


def _jackknife_sets(names: tuple[str, ...], n: int) -> list[tuple[list[str], list[str]]]:
    if n == 1:
        return [([], list(names))]
    if n > len(names):
        raise ConfigError(f"n_jackknife={n} exceeds the {len(names)} estimation sounds")
    return [([s for k, s in enumerate(names) if k % n == j],
             [s for k, s in enumerate(names) if k % n != j]) for j in range(n)]


def _build(make_model: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_model()


def _fit_one_by_one(arrays: Arrays, make_model: Callable[[], nn.Module], training: TrainingParams,
                    ensemble: EnsembleParams, sets: list[tuple[list[str], list[str]]],
                    folder: Path | None, progress: Callable[[dict[str, Any]], None] | None,
                    ) -> tuple[list[nn.Module], list[FitRecord]]:
    """Every fit alone with :func:`fit_model`, jackknife after jackknife."""
    models, records = [], []
    for j, (_, kept) in enumerate(sets):
        inputs = [arrays[n][0] for n in kept]
        targets = [arrays[n][1] for n in kept]
        for i in range(ensemble.n_init):
            seed = member_seed(training.seed, j, i)
            model = _build(make_model, seed)
            report = None
            if progress is not None:
                def report(d, j=j, i=i):
                    progress({"jackknife": j, "init": i, **d})
            ckpt = folder / f"jk{j}_init{i}.pt" if folder is not None else None
            records.append(fit_model(model, inputs, targets, training.replace(seed=seed),
                                     checkpoint_path=ckpt, progress=report))
            models.append(model.to("cpu").eval())
    return models, records


def _fit_batched(arrays: Arrays, make_model: Callable[[], nn.Module], training: TrainingParams,
                 ensemble: EnsembleParams, sets: list[tuple[list[str], list[str]]],
                 folder: Path | None, progress: Callable[[dict[str, Any]], None] | None,
                 ) -> tuple[list[nn.Module], list[FitRecord]]:
    """Every fit as a member of batched models over the shared estimation segments."""
    names = list(arrays)
    where = {n: k for k, n in enumerate(names)}
    inputs = [arrays[n][0] for n in names]
    targets = [arrays[n][1] for n in names]
    who, models, subsets, checkpoints = [], [], [], []
    for j, (_, kept) in enumerate(sets):
        subset = [where[n] for n in kept]
        x, y = [inputs[k] for k in subset], [targets[k] for k in subset]
        check_data(x, y, training.loss)
        for i in range(ensemble.n_init):
            seed = member_seed(training.seed, j, i)
            models.append(_build(make_model, seed))
            who.append((j, i, seed))
            subsets.append(subset)
            checkpoints.append(None if folder is None else Checkpoint(
                folder / f"jk{j}_init{i}.pt", models[-1], x, y, training.replace(seed=seed)))
    device = resolve_device(training.device)
    context, length = layout(models[0], training)
    data = shared_data(inputs, targets, subsets, training.early_stop_fraction, context, length, device)
    records: list[FitRecord | None] = [None] * len(models)
    for group in member_groups(models, training, data, checkpoints, device, ensemble.batch_members):
        report = None
        if progress is not None:
            def report(d: dict[str, Any], group: list[int] = group) -> None:
                j, i, _ = who[group[d["member"]]]
                progress({"jackknife": j, "init": i, **{k: v for k, v in d.items() if k != "member"}})
        members = MemberSet([models[k] for k in group], data.select(group), training,
                            [who[k][2] for k in group], device)
        fitted = Schedule(members, training, checkpoints=[checkpoints[k] for k in group],
                          progress=report).run()
        for k, rec in zip(group, fitted):
            records[k] = rec
            models[k].to("cpu").eval()
    return models, records


@flushed_subnormals()
def fit_ensemble(
    site: SiteData,
    make_model: Callable[[], nn.Module],
    training: TrainingParams | None = None,
    ensemble: EnsembleParams | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    batched: bool = True,
) -> Ensemble:
    """Fit ``n_jackknife x n_init`` models on the site's estimation sounds.

    Parameters
    ----------
    site : SiteData
        Only its estimation sounds are used (targets: PSTHs).
    make_model : callable
        Returns a fresh, randomly initialised model (called under a seeded torch RNG).
    training, ensemble : params
    checkpoint_dir : path, optional
        Folder of per-fit checkpoints (created); makes the ensemble resumable.
    progress : callable, optional
        Receives the epoch dict of :func:`fit_model` plus ``jackknife`` and ``init``.
    batched : bool
        True (default): the fits train as members of batched models (see the module
        docstring); False: one after another through :func:`fit_model`. Both give the
        same ensemble, up to float rounding.
    """
    training = TrainingParams.of(training)
    ensemble = EnsembleParams.of(ensemble)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    pieces = estimation_pieces(site)
    sets = _jackknife_sets(tuple(p.name for p in pieces), ensemble.n_jackknife)
    fit = _fit_batched if batched else _fit_one_by_one
    models, records = fit(piece_arrays(site, pieces), make_model, training, ensemble, sets, folder, progress)
    members, kept_records, info, candidates = [], [], [], []
    loss = (lambda r: r.train_loss[-1]) if ensemble.select_by == "final" else (lambda r: r.selection_loss)
    for j, (dropped, kept) in enumerate(sets):
        best = None
        for i in range(ensemble.n_init):
            k = j * ensemble.n_init + i
            rec = records[k]
            candidates.append({"jackknife": j, "init": i, "seed": rec.seed,
                               "selection_loss": rec.selection_loss, "final_loss": rec.train_loss[-1],
                               "kept": False})
            if best is None or loss(rec) < loss(records[best]):
                best = k
        rec = records[best]
        candidates[best]["kept"] = True
        members.append(models[best])
        kept_records.append(rec)
        info.append({
            "jackknife": j, "init": best - j * ensemble.n_init, "seed": rec.seed, "dropped_sounds": dropped,
            "fit_sounds": [kept[k] for k in rec.fit_sounds],
            "early_stop_sounds": [kept[k] for k in rec.early_stop_sounds],
        })
    return Ensemble(members=members, records=kept_records, info=info, candidates=candidates)
