"""Subspace models: one small network per unit on its subspace projections (METHOD.md 5).

For unit ``u`` with tuning subspace filters ``[k, F, lag]``, the estimation stimuli are
projected (:func:`.projection.project`), each projection is standardised with its
estimation mean and standard deviation (kept with the model and applied to any later
stimulus), and a :class:`~.models.SubspaceNetwork` ``k -> 15 -> 15 -> 1`` with a
double-exponential output is fitted to the unit's estimation PSTH by
:func:`~.training.fit_model` (two stages, like the CNN). The validation prediction is
scored with :func:`~.scores.score_predictions`, the scores used for the CNN and LN.

Each unit's network is fitted from ``n_init`` random initialisations. With ``combine =
"mean"`` (the default) the model averages their predictions (a
:class:`~.models.MemberAverage`), as the CNN's prediction is the average of its fits;
with ``"best"`` the fit with the lowest held-out estimation loss is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from .errors import ConfigError, InvalidDataError
from .models import MemberAverage, SubspaceNetwork
from .projection import project
from .scores import UnitScores, score_predictions
from .site import SiteData
from .subspace import TuningSubspace
from .training import FitRecord, TrainingParams, fit_model

__all__ = ["SubspaceModel", "fit_subspace_model", "fit_subspace_models", "COMBINE"]

COMBINE = ("mean", "best")


@dataclasses.dataclass
class SubspaceModel:
    """A fitted subspace model of one unit.

    Attributes
    ----------
    unit : int
        Position of the unit at the site.
    filters : ndarray [k, frequency, lag]
    offset, scale : ndarray [k]
        Standardisation of the projections (estimation mean and standard deviation).
    network : SubspaceNetwork or MemberAverage
        One network, or the average of several (``combine = "mean"``).
    records : list of FitRecord
        One training record per network (per member of a :class:`MemberAverage`).
    predictions : list of ndarray [time]
        Prediction for each validation sound.
    scores : UnitScores
        Validation scores (arrays of length 1).
    """

    unit: int
    filters: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    network: SubspaceNetwork | MemberAverage
    records: list[FitRecord]
    predictions: list[np.ndarray]
    scores: UnitScores

    @property
    def record(self) -> FitRecord:
        """The record of the fit with the lowest held-out loss."""
        return min(self.records, key=lambda r: r.selection_loss)

    @property
    def k(self) -> int:
        """Subspace dimension."""
        return int(self.filters.shape[0])

    def inputs(self, stimulus: np.ndarray) -> np.ndarray:
        """Standardised projections ``[time, k]`` (float32) of a spectrogram."""
        return ((project(stimulus, self.filters) - self.offset) / self.scale).astype(np.float32)

    def predict(self, stimulus: np.ndarray) -> np.ndarray:
        """Predicted response ``[time]`` to a spectrogram ``[time, frequency]``."""
        x = torch.from_numpy(self.inputs(stimulus))[None]
        device = next(self.network.parameters()).device
        with torch.no_grad():
            return self.network(x.to(device))[0, :, 0].cpu().numpy().astype(np.float64)


def fit_subspace_model(
    site: SiteData,
    unit: int,
    subspace: TuningSubspace | np.ndarray,
    training_params: TrainingParams | None = None,
    hidden: tuple[int, ...] = (15, 15),
    n_shuffles: int = 100,
    n_init: int = 1,
    combine: str = "mean",
) -> SubspaceModel:
    """Fit and score the subspace model of unit ``unit`` of ``site``.

    ``subspace`` is a :class:`TuningSubspace` (its first ``k`` components) or filters
    ``[k, frequency, lag]``. ``n_init`` networks are fitted from different random
    initialisations. ``combine = "mean"`` keeps them all and predicts their mean (a
    :class:`~.models.MemberAverage`); ``"best"`` keeps the one with the lowest held-out
    (early-stopping) loss. Validation data play no part in either. Initial weights come
    from ``training_params.seed`` (and the initialisation index), without touching the
    global random state.
    """
    params = training_params or TrainingParams()
    filters = subspace.filters if isinstance(subspace, TuningSubspace) else np.asarray(subspace)
    if filters.ndim != 3 or filters.shape[1] != site.n_frequencies:
        raise InvalidDataError(
            f"site {site.name!r}, unit {unit}: filters must be [k, {site.n_frequencies}, lag], "
            f"got {filters.shape}"
        )
    if not 0 <= unit < site.n_units:
        raise InvalidDataError(f"site {site.name!r} has no unit at position {unit}")
    est = site.split("estimation")
    raw = [project(s.spectrogram, filters) for s in est]
    joined = np.concatenate(raw)
    offset = joined.mean(axis=0)
    scale = np.where(joined.std(axis=0) > 0, joined.std(axis=0), 1.0)
    inputs = [((p - offset) / scale).astype(np.float32) for p in raw]
    targets = [s.psth[:, [unit]].astype(np.float32) for s in est]
    if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
        raise ConfigError(f"n_init must be a positive integer, got {n_init!r}")
    if combine not in COMBINE:
        raise ConfigError(f"combine must be one of {COMBINE}, got {combine!r}")
    fits = []
    for i in range(n_init):
        seed = params.seed if i == 0 else int(
            np.random.SeedSequence([params.seed, unit, i]).generate_state(1)[0] & 0x7FFFFFFF)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            candidate = SubspaceNetwork(int(filters.shape[0]), hidden=hidden)
        record = fit_model(candidate, inputs, targets, params.replace(seed=seed))
        fits.append((candidate.eval(), record))
    if combine == "best" or n_init == 1:
        network, record = min(fits, key=lambda f: f[1].selection_loss)
        records = [record]
    else:
        network, records = MemberAverage([f[0] for f in fits]).eval(), [f[1] for f in fits]
    model = SubspaceModel(unit, np.array(filters), offset, scale, network, records, [], None)
    val = site.split("validation")
    model.predictions = [model.predict(s.spectrogram) for s in val]
    model.scores = score_predictions(
        [p[:, None] for p in model.predictions], [s.counts[:, :, [unit]] for s in val],
        n_shuffles=n_shuffles,
    )
    return model


def fit_subspace_models(
    site: SiteData,
    subspaces: Sequence[TuningSubspace],
    training_params: TrainingParams | None = None,
    hidden: tuple[int, ...] = (15, 15),
    n_shuffles: int = 100,
    n_init: int = 1,
    combine: str = "mean",
) -> list[SubspaceModel]:
    """:func:`fit_subspace_model` for each subspace (its ``unit`` names the unit)."""
    return [
        fit_subspace_model(site, s.unit, s, training_params, hidden, n_shuffles, n_init, combine)
        for s in subspaces
    ]
