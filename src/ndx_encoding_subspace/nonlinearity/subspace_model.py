"""Subspace models: one small network per unit on its subspace projections (METHOD.md 5).

For unit ``u`` with tuning subspace filters ``[k, F, lag]``, the estimation stimuli are
projected (:func:`~.subspace.project`), each projection is standardised with its
estimation mean and standard deviation (kept with the model and applied to any later
stimulus), and a :class:`~.models.SubspaceNetwork` ``k -> 15 -> 15 -> 1`` with a
double-exponential output is fitted to the unit's estimation PSTH with the schedule of
:func:`~.fitting.schedule.fit_model` (two stages, like the CNN); all units' networks
train together in batched fits (:func:`~.fitting.members.fit_members`), each exactly as
if fitted alone. The validation prediction is scored with
:func:`~.fitting.scores.score_predictions`, the scores used for the CNN and LN.

Each unit's network is fitted from ``n_init`` random initialisations. With ``combine =
"mean"`` (the default) the model averages their predictions (a
:class:`~.models.MemberAverage`), as the CNN's prediction is the average of its fits;
with ``"best"`` the fit with the lowest held-out estimation loss is kept. The widths,
``n_init`` and ``combine`` are :class:`~.models.params.SubspaceModelParams`, the shuffle
floor :class:`~.models.params.ScoringParams`; their defaults are the pipeline's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ..cache import load_fit, save_fit, stage_key
from ..compute import items_per_batch
from ..data.site import SiteData
from ..errors import InvalidDataError
from ..fitting.members import fit_members
from ..fitting.pieces import estimation_pieces
from ..fitting.schedule import FitRecord, TrainingParams, resolve_device
from ..fitting.scores import UnitScores, score_predictions
from ..models import MemberAverage, SubspaceNetwork
from ..models.params import COMBINE, ScoringParams, SubspaceModelParams
from ..params import VOLATILE_NAMES
from ..subspace import TuningSubspace, project

__all__ = ["SubspaceModel", "fit_subspace_model", "fit_subspace_models", "COMBINE"]


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


class _FitStore:
    """Finished fits of :func:`fit_subspace_models` in ``folder`` (nothing when None)."""

    def __init__(self, folder: str | Path | None, params: TrainingParams,
                 hidden: tuple[int, ...]) -> None:
        self.folder = None if folder is None else Path(folder)
        # not the device: fits made on one are kept when a run goes on on another (those of
        # releases that keyed them with the device too are still found)
        self.params = {k: v for k, v in params.to_dict().items() if k not in VOLATILE_NAMES}
        self.earlier = params.to_dict()
        self.hidden = [int(h) for h in hidden]
        self.digests: dict[tuple[int, bool], str] = {}  # per unit: its data hashed once
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def _where(self, prep: _Prepared, init: int, seed: int, earlier: bool = False) -> tuple[Path, str]:
        if (prep.unit, earlier) not in self.digests:
            training = self.earlier if earlier else self.params
            self.digests[prep.unit, earlier] = stage_key([], [prep.filters, *prep.inputs, *prep.targets],
                                                         {"training": training, "hidden": self.hidden})
        return self.folder / f"unit{prep.unit}_init{init}.pt", f"{self.digests[prep.unit, earlier]}:{seed}"

    def load(self, prep: _Prepared, init: int, seed: int) -> tuple[SubspaceNetwork, FitRecord] | None:
        if self.folder is None:
            return None
        got = load_fit(*self._where(prep, init, seed), self._where(prep, init, seed, True)[1])
        if got is None:
            return None
        state, record = got
        net = _blank(int(prep.filters.shape[0]), tuple(self.hidden))
        try:
            net.load_state_dict(state)
            return net.eval(), FitRecord.from_dict(record)
        except (RuntimeError, TypeError, KeyError):
            return None

    def save(self, prep: _Prepared, init: int, seed: int, net: SubspaceNetwork,
             record: FitRecord) -> None:
        if self.folder is not None:
            save_fit(*self._where(prep, init, seed), net.state_dict(), record.to_dict())


def _member_seed(params: TrainingParams, unit: int, i: int) -> int:
    if i == 0:
        return params.seed
    return int(np.random.SeedSequence([params.seed, unit, i]).generate_state(1)[0] & 0x7FFFFFFF)


def _padded(net: SubspaceNetwork, n_dims: int) -> SubspaceNetwork:
    """``net`` taking ``n_dims`` inputs, the extra ones with zero weights.

    Zero inputs on zero weights get zero gradients, so Adam and L2 leave them at zero:
    the padded network trains exactly like ``net``.
    """
    k = net.n_inputs
    wide = _blank(n_dims, _hidden(net))
    state = net.state_dict()
    first = "core_layers.0.linear.weight"
    w = torch.zeros(state[first].shape[0], n_dims)
    w[:, :k] = state[first]
    state[first] = w
    wide.load_state_dict(state)
    return wide


def _trimmed(net: SubspaceNetwork, n_dims: int) -> SubspaceNetwork:
    """Inverse of :func:`_padded`."""
    narrow = _blank(n_dims, _hidden(net))
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    first = "core_layers.0.linear.weight"
    state[first] = state[first][:, :n_dims].contiguous()
    narrow.load_state_dict(state)
    return narrow.eval()


def _blank(n_inputs: int, hidden: tuple[int, ...]) -> SubspaceNetwork:
    """A network whose weights are loaded next: built without drawing from the global
    random state (its initial weights are thrown away)."""
    with torch.random.fork_rng(devices=[]):
        return SubspaceNetwork(n_inputs, hidden=hidden)


def _hidden(net: SubspaceNetwork) -> tuple[int, ...]:
    dense = [m for m in net.core_layers if hasattr(m, "linear")]
    return tuple(int(m.linear.out_features) for m in dense[:-1])


def _member_bytes(site: SiteData, n_dims: int, params: TrainingParams) -> int:
    n_seg = sum(-(-(p.stop - p.first) // params.segment_length) for p in estimation_pieces(site))
    return n_seg * params.segment_length * (n_dims + 2) * 4


def fit_subspace_models(
    site: SiteData,
    subspaces: Sequence[TuningSubspace | tuple[int, np.ndarray]],
    training_params: TrainingParams | None = None,
    model_params: SubspaceModelParams | None = None,
    scoring_params: ScoringParams | None = None,
    *,
    max_batch_bytes: int | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[SubspaceModel]:
    """Fit and score the subspace models of many units at once.

    Every unit's ``n_init`` networks are trained together as members of one batched fit
    (:func:`~.fitting.members.fit_members`), each exactly as if fitted alone. See
    :func:`fit_subspace_model`.

    Parameters
    ----------
    site : SiteData
    subspaces : sequence
        :class:`TuningSubspace` objects (their ``unit`` and first ``k`` components) or
        ``(unit, filters [k, frequency, lag])`` pairs.
    training_params : TrainingParams, optional
        Schedule of every fit (its defaults when None).
    model_params : SubspaceModelParams, optional
        Hidden widths, ``n_init`` and ``combine`` (its defaults when None).
    scoring_params : ScoringParams, optional
        Shuffle floor of the scores (:func:`~.fitting.scores.score_predictions`).
    max_batch_bytes : int, optional
        Groups of members are bounded to about this much training data; by default as
        many members as the training device's free memory holds (the rule of
        :func:`~ndx_encoding_subspace.compute.items_per_batch`, which the ensembles and
        the dSTRF chunks follow too).
    checkpoint_dir : path, optional
        Every finished fit is kept there (:func:`~.cache.save_fit`, keyed by its data,
        filters, parameters and seed) and a later call reuses it: the fits are
        independent, so the others come out as if nothing had been kept.
    progress : callable, optional
        ``progress(done, total)``, with the number of units whose fits have ended.

    Returns
    -------
    list of SubspaceModel
        One per entry of ``subspaces``, in their order.
    """
    params = TrainingParams.of(training_params)
    model_params = SubspaceModelParams.of(model_params)
    scoring_params = ScoringParams.of(scoring_params)
    units = [_prepare(site, *_unit_filters(s)) for s in subspaces]
    n_init = model_params.n_init
    members = [(u, i) for u in range(len(units)) for i in range(n_init)]
    store = _FitStore(checkpoint_dir, params, model_params.hidden)
    fits: dict[tuple[int, int], tuple[SubspaceNetwork, FitRecord]] = {}
    for u, i in members:
        kept = store.load(units[u], i, _member_seed(params, units[u].unit, i))
        if kept is not None:
            fits[u, i] = kept
    members = [m for m in members if m not in fits]
    if progress is not None:
        progress(0, len(units))
    if max_batch_bytes is None and members:
        # twice the data: the layer outputs of an evaluation block come to about as much
        per = _member_bytes(site, max(units[u].filters.shape[0] for u, _ in members), params)
        max_batch_bytes = per * items_per_batch(2 * per, device=resolve_device(params.device),
                                                limit=len(members))
    for group in _groups(members, units, site, params, max_batch_bytes):
        for (u, i), fit, seed in _fit_group(group, units, params, model_params.hidden):
            fits[u, i] = fit
            store.save(units[u], i, seed, *fit)
        if progress is not None:
            progress(sum(1 for u in range(len(units)) if (u, n_init - 1) in fits), len(units))
    return [_finish(site, prep, [fits[u, i] for i in range(n_init)], model_params.combine,
                    scoring_params)
            for u, prep in enumerate(units)]


def _unit_filters(s: TuningSubspace | tuple[int, np.ndarray]) -> tuple[int, np.ndarray]:
    if isinstance(s, TuningSubspace):
        return s.unit, s.filters
    return int(s[0]), np.asarray(s[1])


def _groups(members: list[tuple[int, int]], units: Sequence[_Prepared], site: SiteData,
            params: TrainingParams, max_batch_bytes: int) -> Iterator[list[tuple[int, int]]]:
    """Consecutive groups of ``(unit, init)`` members, each about ``max_batch_bytes`` of
    training data at most (one member at least)."""
    start = 0
    while start < len(members):
        stop, k_max = start, 0
        while stop < len(members):
            k_next = max(k_max, units[members[stop][0]].filters.shape[0])
            if stop > start and (stop + 1 - start) * _member_bytes(site, k_next, params) > max_batch_bytes:
                break
            stop, k_max = stop + 1, k_next
        yield members[start:stop]
        start = stop


def _fit_group(
    group: list[tuple[int, int]], units: Sequence[_Prepared], params: TrainingParams,
    hidden: tuple[int, ...],
) -> list[tuple[tuple[int, int], tuple[SubspaceNetwork, FitRecord], int]]:
    """Fit one group's members in one batched fit, each zero-padded to the group's
    largest ``k``; ``((unit, init), (network, record), seed)`` of each."""
    k_max = max(units[u].filters.shape[0] for u, _ in group)
    nets, seeds = [], []
    for u, i in group:
        seed = _member_seed(params, units[u].unit, i)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SubspaceNetwork(int(units[u].filters.shape[0]), hidden=hidden)
        nets.append(_padded(net, k_max))
        seeds.append(seed)
    padded: dict[int, list[np.ndarray]] = {}  # once per unit, shared by its initialisations
    for u, _ in group:
        if u not in padded:
            k = units[u].filters.shape[0]
            padded[u] = units[u].inputs if k == k_max else \
                [np.pad(a, ((0, 0), (0, k_max - k))) for a in units[u].inputs]
    records = fit_members(nets, [padded[u] for u, _ in group], [units[u].targets for u, _ in group],
                          params, seeds)
    return [((u, i), (_trimmed(net, int(units[u].filters.shape[0])), record), seed)
            for (u, i), net, record, seed in zip(group, nets, records, seeds)]


@dataclasses.dataclass
class _Prepared:
    unit: int
    filters: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    inputs: list[np.ndarray]
    targets: list[np.ndarray]


def _prepare(site: SiteData, unit: int, filters: np.ndarray) -> _Prepared:
    if filters.ndim != 3 or filters.shape[1] != site.n_frequencies:
        raise InvalidDataError(
            f"site {site.name!r}, unit {unit}: filters must be [k, {site.n_frequencies}, lag], "
            f"got {filters.shape}"
        )
    if not 0 <= unit < site.n_units:
        raise InvalidDataError(f"site {site.name!r} has no unit at position {unit}")
    # the pieces the ensembles fit on (a long sound cut by time), each projected with its history
    pieces = estimation_pieces(site)
    whole = {name: project(site.sound(name).spectrogram, filters) for name in {p.sound for p in pieces}}
    raw = [whole[p.sound][p.first:p.stop] for p in pieces]
    joined = np.concatenate(raw)
    offset = joined.mean(axis=0)
    scale = np.where(joined.std(axis=0) > 0, joined.std(axis=0), 1.0)
    inputs = [((p - offset) / scale).astype(np.float32) for p in raw]
    targets = [site.sound(p.sound).psth[p.first:p.stop, [unit]].astype(np.float32) for p in pieces]
    return _Prepared(unit, np.array(filters), offset, scale, inputs, targets)


def _finish(site: SiteData, prep: _Prepared, fits: list[tuple[SubspaceNetwork, FitRecord]],
            combine: str, scoring: ScoringParams) -> SubspaceModel:
    if combine == "best" or len(fits) == 1:
        network, record = min(fits, key=lambda f: f[1].selection_loss)
        records = [record]
    else:
        network, records = MemberAverage([f[0] for f in fits]).eval(), [f[1] for f in fits]
    model = SubspaceModel(prep.unit, prep.filters, prep.offset, prep.scale, network, records, [], None)
    val = site.split("validation")
    model.predictions = [model.predict(s.spectrogram) for s in val]
    model.scores = score_predictions(
        [p[:, None] for p in model.predictions], [s.counts[:, :, [prep.unit]] for s in val],
        n_shuffles=scoring.n_shuffles, rng=scoring.seed, percentile=scoring.floor_percentile,
        signal_power_rule=scoring.signal_power,
    )
    return model


def fit_subspace_model(
    site: SiteData,
    unit: int,
    subspace: TuningSubspace | np.ndarray,
    training_params: TrainingParams | None = None,
    model_params: SubspaceModelParams | None = None,
    scoring_params: ScoringParams | None = None,
) -> SubspaceModel:
    """Fit and score the subspace model of unit ``unit`` of ``site``.

    ``subspace`` is a :class:`TuningSubspace` (its first ``k`` components) or filters
    ``[k, frequency, lag]``. ``model_params.n_init`` networks are fitted from different
    random initialisations. ``combine = "mean"`` keeps them all and predicts their mean
    (a :class:`~.models.MemberAverage`); ``"best"`` keeps the one with the lowest
    held-out (early-stopping) loss. Validation data play no part in either. Initial
    weights come from ``training_params.seed`` (and the initialisation index), without
    touching the global random state. The fits run together (:func:`fit_subspace_models`).
    """
    filters = subspace.filters if isinstance(subspace, TuningSubspace) else np.asarray(subspace)
    (model,) = fit_subspace_models(site, [(unit, filters)], training_params, model_params,
                                   scoring_params)
    return model
