"""Jackknife x random-initialisation ensembles of one model (METHOD.md section 2).

Jackknife ``j`` of ``n_jackknife`` drops the estimation sounds at positions
``j, j + n, j + 2n, ...`` (1/n of them, spread over the list); the rest are passed to
:func:`~ndx_encoding_subspace.fitting.schedule.fit_model`, which holds out its last
``early_stop_fraction`` for early stopping. Each jackknife is fitted from ``n_init``
random initialisations; the one with the lowest held-out ``selection_loss`` is kept.
Every kept model (one per jackknife) is a member: predictions average over members, and
the dSTRF step averages over them too. With ``n_jackknife = 1`` nothing is dropped.

Seeds: initialisation ``i`` of jackknife ``j`` uses the seed drawn from
``SeedSequence([training.seed, j, i])`` for both the weights (``make_model`` is called
under a forked, seeded torch RNG) and the batch order, so a member does not depend on
which other members were fitted before it. With ``checkpoint_dir`` every fit writes
``jk{j}_init{i}.pt``; a run started again skips finished fits and resumes the unfinished
one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.site import SiteData
from ..errors import ConfigError
from ..params import Params, check_range
from .schedule import FitRecord, TrainingParams, fit_model

__all__ = ["EnsembleParams", "Ensemble", "fit_ensemble", "member_seed"]


@dataclasses.dataclass(frozen=True)
class EnsembleParams(Params):
    """Ensemble size (paper: 8 jackknifes x 4 initialisations, best kept per jackknife)."""

    n_jackknife: int = 8
    n_init: int = 4

    def validate(self) -> None:
        for name in ("n_jackknife", "n_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            check_range(name, value, 1)


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
        Every fit tried (jackknife, init, seed, selection_loss, kept).
    """

    members: list[nn.Module]
    records: list[FitRecord]
    info: list[dict[str, Any]]
    candidates: list[dict[str, Any]]

    def predict_members(self, stim: np.ndarray) -> np.ndarray:
        """Each member's prediction for one spectrogram ``[time, frequency]``: ``[members, time, units]``."""
        x = torch.as_tensor(np.asarray(stim, dtype=np.float32))[None]
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


def fit_ensemble(
    site: SiteData,
    make_model: Callable[[], nn.Module],
    training: TrainingParams | None = None,
    ensemble: EnsembleParams | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
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
    """
    training = training or TrainingParams()
    ensemble = ensemble or EnsembleParams()
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    members, records, info, candidates = [], [], [], []
    for j, (dropped, kept) in enumerate(_jackknife_sets(site.estimation, ensemble.n_jackknife)):
        sounds = [site.sound(n) for n in kept]
        inputs = [s.spectrogram for s in sounds]
        targets = [s.psth for s in sounds]
        best: tuple[float, nn.Module, FitRecord, int, int] | None = None
        for i in range(ensemble.n_init):
            seed = member_seed(training.seed, j, i)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = make_model()
            report = None
            if progress is not None:
                def report(d, j=j, i=i):
                    progress({"jackknife": j, "init": i, **d})
            ckpt = folder / f"jk{j}_init{i}.pt" if folder is not None else None
            rec = fit_model(model, inputs, targets, training.replace(seed=seed),
                            checkpoint_path=ckpt, progress=report)
            model.to("cpu").eval()
            candidates.append({"jackknife": j, "init": i, "seed": seed,
                               "selection_loss": rec.selection_loss, "kept": False})
            if best is None or rec.selection_loss < best[0]:
                best = (rec.selection_loss, model, rec, i, len(candidates) - 1)
        _, model, rec, i, where = best
        candidates[where]["kept"] = True
        members.append(model)
        records.append(rec)
        info.append({
            "jackknife": j, "init": i, "seed": rec.seed, "dropped_sounds": dropped,
            "fit_sounds": [kept[k] for k in rec.fit_sounds],
            "early_stop_sounds": [kept[k] for k in rec.early_stop_sounds],
        })
    return Ensemble(members=members, records=records, info=info, candidates=candidates)
