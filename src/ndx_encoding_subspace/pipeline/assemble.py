"""The stages' outputs gathered into :class:`~.results.SiteResults` (METHOD.md section 8).

:func:`site_results` takes what :func:`~.pipeline.stages.analyse_site` computed (the
encoding-model ensembles and their scores, the tuning subspaces, the subspace models,
the nonlinearities and the site analysis) and builds the records that
:func:`~.results.write_results` stores: one :class:`~.results.ModelResult` per fitted
network, one :class:`~.results.UnitSubspace` per unit.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..data.site import SiteData
from ..errors import InvalidDataError
from ..fitting import Ensemble, UnitScores
from ..fitting.pieces import estimation_pieces
from ..nonlinearity.subspace_model import SubspaceModel
from ..results import ModelResult, SiteAnalysis, SiteResults, UnitNonlinearity, UnitSubspace
from ..results.roles import SUBSPACE
from ..subspace import SubspaceReliability, TuningSubspace
from .config import PipelineConfig

__all__ = ["site_results", "raw_projection_network"]


def site_results(
    site: SiteData, config: PipelineConfig, ensembles: Mapping[str, Ensemble],
    scores: Mapping[str, UnitScores], subspaces: Sequence[TuningSubspace],
    fitted: Sequence[SubspaceModel], nonlinearities: list[UnitNonlinearity],
    analysis: SiteAnalysis, provenance: dict[str, Any] | None = None,
    *, reliability: Sequence[SubspaceReliability] | None = None,
) -> SiteResults:
    """Everything computed for ``site``, ready for :func:`~.results.write_results`.

    Models are listed role by role in the order of ``ensembles``, then the subspace
    models in unit order. ``reliability`` (one per subspace, in the same order) gives
    each subspace its reliability and per-dimension confidence (unknown when None).
    """
    if reliability is None:
        reliability = [SubspaceReliability.unknown(s) for s in subspaces]
    if len(reliability) != len(subspaces):
        raise InvalidDataError(f"{len(reliability)} reliabilities for {len(subspaces)} subspaces")
    models: list[ModelResult] = []
    for role, ens in ensembles.items():
        models += _ensemble_results(role, ens, site, scores[role], config)
    models += [_subspace_model_result(m, site, config) for m in fitted]
    return SiteResults(
        site=site,
        spectrogram_parameters=_spectrogram_parameters(site, config),
        models=models,
        subspaces=[_unit_subspace(s, config, r) for s, r in zip(subspaces, reliability)],
        nonlinearities=nonlinearities,
        site_subspace=analysis,
        provenance={"config": config.to_dict(), "devices": _devices(ensembles), **(provenance or {})},
        subspace_parameters=config.subspace.to_dict(),
        ssrf_parameters=config.ssrf.to_dict(),
        ssrf_min_count=int(config.ssrf.min_count),
    )


def _spectrogram_parameters(site: SiteData, config: PipelineConfig) -> dict:
    """What made the site's spectrograms: the reader's record, or for a site built
    otherwise (from Python) the configuration's, with the site's own bins and channels."""
    if "spectrogram" in site.source:
        return dict(site.source["spectrogram"])
    return {**config.spectrogram.to_dict(), "bin_size": float(site.bin_size),
            "n_channels": int(site.n_frequencies)}


def _devices(ensembles: Mapping[str, Ensemble]) -> dict[str, str]:
    """The devices each ensemble's members were trained on (``training.device`` may say
    ``auto``), e.g. ``{"cnn": "cuda:0"}``; several joined by commas."""
    return {role: ",".join(sorted({str(getattr(r, "device", "")) for r in ens.records} - {""}))
            for role, ens in ensembles.items()}


#: what the scores of each member of an ensemble are of
_ENSEMBLE_SCORES = ("Prediction scores on the validation data of the ensemble this model is a member of "
                    "(the mean of its members' predictions), one row per output: the same in every member.")


def _ensemble_results(role: str, ensemble: Ensemble, site: SiteData, scores: UnitScores,
                      config: PipelineConfig) -> list[ModelResult]:
    """One record per fitted member of an encoding-model ensemble (``role``: cnn or ln)."""
    out = []
    positions = np.arange(site.n_units)
    for member, record, info in zip(ensemble.members, ensemble.records, ensemble.info):
        j, i = int(info.get("jackknife", 0)), int(info.get("init", 0))
        out.append(ModelResult(
            name=f"{role}_jk{j}", role=role, module=member, unit_positions=positions,
            fit_log=_fit_log(record), scores=_score_dict(scores), seed=int(info.get("seed", 0)),
            scores_description=_ENSEMBLE_SCORES,
            jackknife_index=j, init_index=i,
            estimation_sounds=tuple(info.get("fit_sounds", ())),
            early_stopping_sounds=tuple(info.get("early_stop_sounds", ())),
            validation_sounds=tuple(site.validation),
            training_parameters=config.training.to_dict(),
            package_versions=dict(getattr(record, "versions", {}) or {}),
        ))
    return out


def _subspace_model_result(model: SubspaceModel, site: SiteData,
                           config: PipelineConfig) -> ModelResult:
    """The record of one unit's subspace model, stored as a network on raw projections: the
    sounds its networks were fitted on and stopped early on (the same for each), and the
    seed of its network (of several, the training seed each network's is drawn from)."""
    names = [p.name for p in estimation_pieces(site)]  # the fits' inputs, in order
    first = model.records[0]
    return ModelResult(
        name=f"unit_{int(site.units.ids[model.unit])}", role=SUBSPACE.name,
        module=raw_projection_network(model), unit_positions=np.array([model.unit]),
        fit_log=_fit_log(*model.records), scores=_score_dict(model.scores),
        seed=int(first.seed) if len(model.records) == 1 else config.training.seed,
        estimation_sounds=tuple(names[k] for k in first.fit_sounds),
        early_stopping_sounds=tuple(names[k] for k in first.early_stop_sounds),
        validation_sounds=tuple(site.validation),
        training_parameters=config.training.to_dict(),
        package_versions=dict(getattr(model.record, "versions", {}) or {}),
        n_lags=int(model.filters.shape[2]),
    )


def _unit_subspace(s: TuningSubspace, config: PipelineConfig,
                   reliability: SubspaceReliability) -> UnitSubspace:
    if reliability.unit != s.unit:
        raise InvalidDataError(f"the reliability of unit {reliability.unit} given for the "
                               f"subspace of unit {s.unit}")
    return UnitSubspace(
        unit_position=s.unit, filters=s.filters, explained_variance=s.explained_variance_ratio,
        noise_floor_variance=s.noise_floor, threshold=config.subspace.variance_threshold,
        mean_dstrf=s.mean, n_samples=s.n_samples, n_outliers=s.n_outliers, k90=s.k90, k95=s.k95,
        k_significant=s.n_significant, reliability=reliability.reliability,
        reliability_rule=reliability.rule, dimension_confidence=reliability.confidence,
    )


def raw_projection_network(model: SubspaceModel) -> torch.nn.Module:
    """The unit's network taking raw projections: the standardisation folded into layer 1.

    ``W ((x - offset) / scale) + b = (W / scale) x + (b - W (offset / scale))``, so the
    stored model needs only the tuning subspace's filters to predict from a stimulus.
    Every member of a :class:`~.models.MemberAverage` is folded the same way.
    """
    net = copy.deepcopy(model.network)
    for member in getattr(net, "members", [net]):
        first = member.core_layers[0].linear
        with torch.no_grad():
            scale = torch.as_tensor(model.scale, dtype=first.weight.dtype)
            offset = torch.as_tensor(model.offset, dtype=first.weight.dtype)
            first.bias -= first.weight @ (offset / scale)
            first.weight /= scale[None, :]
    return net.eval()


def _within_stage(stage: Any) -> np.ndarray:
    """Epoch of each entry within its stage, from 0 (the log's stages follow each other)."""
    stage = list(stage)
    epoch = np.zeros(len(stage), dtype=np.int64)
    for i in range(1, len(stage)):
        epoch[i] = epoch[i - 1] + 1 if stage[i] == stage[i - 1] else 0
    return epoch


def _fit_log(*records: Any) -> dict[str, np.ndarray]:
    """Training log of one fit; of several (one per member) with a ``member`` column."""
    stages = {"stage1": 1, "stage2": 2, "single": 0}
    logs = [{
        "epoch": _within_stage(record.stage),
        "stage": np.array([stages.get(s, 0) for s in record.stage], dtype=np.int64),
        "training_loss": np.asarray(record.train_loss, dtype=np.float64),
        "early_stopping_loss": np.asarray(
            [np.nan if v is None else v for v in record.val_loss], dtype=np.float64),
    } for record in records]
    if len(logs) == 1:
        return logs[0]
    out = {key: np.concatenate([log[key] for log in logs]) for key in logs[0]}
    out["member"] = np.concatenate([np.full(len(log["epoch"]), i, dtype=np.int64)
                                    for i, log in enumerate(logs)])
    return out


def _score_dict(scores: UnitScores) -> dict[str, np.ndarray]:
    return {"r": scores.r, "ccnorm": scores.ccnorm, "noise_ceiling": scores.noise_ceiling,
            "shuffle_floor": scores.r_floor}
