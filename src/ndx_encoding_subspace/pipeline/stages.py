"""The method on one site's data, stage by stage (METHOD.md sections 2 to 7).

:func:`analyse_site` takes a :class:`~.site.SiteData` and a
:class:`~.config.PipelineConfig` and returns :class:`~.results.SiteResults`, ready for
:func:`~.results.write_results`. Each stage is also a function of its own, so that a
notebook can run, inspect or replace any one of them.

Models are checkpointed under ``workdir`` (when given), and so are the tuning subspaces
and each finished subspace-model fit (:mod:`.stage_cache`), so a run that is killed and
started again resumes where it stopped; the later stages are deterministic and fast
against those, and are recomputed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.site import SiteData
from ..dstrf import (
    ensemble_dstrf,
    ensemble_statistics,
    iter_ensemble_dstrf_chunks,
    model_scales,
    sample_times,
)
from ..errors import InvalidDataError
from ..fitting.ensemble import Ensemble, fit_ensemble
from ..fitting.scores import UnitScores, score_predictions
from ..nonlinearity.subspace_model import SubspaceModel, fit_subspace_models
from ..results import ModelResult, SiteAnalysis, SiteResults, UnitNonlinearity, UnitSubspace
from ..subspace import TuningSubspace, fit_subspaces, project, streaming_site_subspaces
from .config import PipelineConfig
from .stage_cache import load_subspaces, save_subspaces, stage_key

__all__ = [
    "analyse_site",
    "fit_encoding_models",
    "score_ensemble",
    "tuning_subspaces",
    "subspace_models",
    "nonlinearities",
    "site_analysis",
]

Progress = Callable[[str, int, int], None]

#: dSTRF samples held in memory at once before the subspace step streams instead (bytes);
#: the in-memory route peaks at a few times this (the ensemble average, float64 copies)
IN_MEMORY_DSTRF_BYTES = 1024**3


def _noop(stage: str, done: int, total: int) -> None:
    return None


def fit_encoding_models(
    site: SiteData, config: PipelineConfig, *, workdir: Path | None = None,
    progress: Progress = _noop,
) -> dict[str, Ensemble]:
    """Fit the population CNN ensemble and (unless disabled) the LN baseline ensemble."""
    n_f, n_u = site.n_frequencies, site.n_units
    builders = {"cnn": lambda: config.cnn.build(n_f, n_u)}
    if config.ln.enabled:
        builders = {"ln": lambda: config.ln.build(n_f, n_u), **builders}
    total = config.ensemble.n_jackknife * config.ensemble.n_init
    out = {}
    for role, build in builders.items():
        seen: set[tuple[int, int]] = set()

        def report(info: dict[str, Any], role: str = role, seen: set = seen) -> None:
            seen.add((info.get("jackknife", 0), info.get("init", 0)))
            progress(f"training {role} ({info.get('stage', '')} epoch {info.get('epoch', 0)})",
                     len(seen) - 1, total)

        out[role] = fit_ensemble(
            site, build, config.training, config.ensemble,
            checkpoint_dir=None if workdir is None else workdir / role, progress=report,
        )
        progress(f"training {role}", total, total)
    return out


def score_ensemble(ensemble: Ensemble, site: SiteData, config: PipelineConfig) -> UnitScores:
    """Validation scores of the ensemble's mean prediction."""
    val = site.split("validation")
    preds = [ensemble.predict(s.spectrogram) for s in val]
    return score_predictions(preds, [s.counts for s in val], n_shuffles=config.scoring.n_shuffles,
                             rng=config.scoring.seed, percentile=config.scoring.floor_percentile)


def tuning_subspaces(
    ensemble: Ensemble, site: SiteData, config: PipelineConfig, *, progress: Progress = _noop,
) -> tuple[list[TuningSubspace], TuningSubspace]:
    """Per-unit tuning subspaces and the shared site subspace from ensemble dSTRFs.

    The dSTRFs are taken on the estimation stimuli at the bins chosen by
    ``config.dstrf`` (the paper's sample by default). Held in memory when they fit in
    :data:`IN_MEMORY_DSTRF_BYTES`, else streamed into per-unit moment accumulators: one
    pass over the models for their normalisers and the outlier filter's statistics
    (:func:`~.dstrf_ensemble.ensemble_statistics`), one for the units' and the site's
    subspaces together. ``progress(stage, done, total)`` counts the dSTRF windows of
    every pass.
    """
    stimuli = site.stimuli("estimation")
    params = config.dstrf
    members = ensemble.members
    n_samples = sum(len(t) for t in sample_times([len(s) for s in stimuli], params))
    size = n_samples * site.n_units * site.n_frequencies * params.n_lags * 4
    stage = "dSTRFs and subspaces"
    if size <= IN_MEMORY_DSTRF_BYTES:
        progress(stage, 0, 1)
        dstrfs = ensemble_dstrf(members, stimuli, None, params)
        units = fit_subspaces(dstrfs, config.subspace)
        shared = fit_subspaces(dstrfs.reshape(-1, 1, *dstrfs.shape[2:]), config.subspace)[0]
        progress(stage, 1, 1)
        return units, dataclasses.replace(shared, unit=-1)
    shrinking = params.shrinkage > 0 and len(members) > 1
    # shrinkage is nonlinear: the outlier statistics need a pass of their own
    passes = 3 if shrinking else 2
    total = passes * n_samples

    def at(index: int, per: int = 1) -> Callable[[int], None]:
        label = f"{stage} (pass {index + 1} of {passes})"
        return lambda done: progress(label, index * n_samples + done // per, total)

    started = []

    def chunks(scales: np.ndarray) -> Iterator[Any]:
        report = at(1 + len(started))
        started.append(True)
        done = 0
        for chunk in iter_ensemble_dstrf_chunks(members, stimuli, None, params, scales,
                                                as_tensor=True):
            yield chunk
            done += len(chunk.times)
            report(done)

    if shrinking:
        scales = model_scales(members, stimuli, params, progress=at(0, len(members)))
        return streaming_site_subspaces(lambda: chunks(scales), config.subspace)
    stats = ensemble_statistics(members, stimuli, params, progress=at(0))
    return streaming_site_subspaces(lambda: chunks(stats.scales), config.subspace, "given",
                                    centre=stats.centre, rms=stats.rms)


def _resumable_subspaces(
    ensemble: Ensemble, site: SiteData, config: PipelineConfig, workdir: Path | None,
    progress: Progress,
) -> tuple[list[TuningSubspace], TuningSubspace]:
    """:func:`tuning_subspaces`, kept in ``workdir`` for a rerun (see :mod:`.stage_cache`)."""
    if workdir is None:
        return tuning_subspaces(ensemble, site, config, progress=progress)
    key = stage_key(ensemble.members, site.stimuli("estimation"),
                    {"dstrf": config.dstrf.to_dict(), "subspace": config.subspace.to_dict()})
    path = workdir / "subspaces.npz"
    kept = load_subspaces(path, key)
    if kept is None:
        kept = tuning_subspaces(ensemble, site, config, progress=progress)
        save_subspaces(path, key, *kept)
    else:
        progress("dSTRFs and subspaces (kept from the interrupted run)", 1, 1)
    return kept


def subspace_models(
    site: SiteData, subspaces: Sequence[TuningSubspace], config: PipelineConfig,
    *, progress: Progress = _noop, workdir: Path | None = None,
) -> list[SubspaceModel]:
    """One subspace model per unit, fitted like the CNN and scored on validation data.

    Every unit's initialisations are trained together in batched fits
    (:func:`~.subspace_model.fit_subspace_models`); with ``workdir`` finished fits are
    kept there for a rerun.
    """
    fitted = fit_subspace_models(
        site, subspaces, config.training, tuple(config.subspace_model.hidden),
        config.scoring.n_shuffles, config.subspace_model.n_init, config.subspace_model.combine,
        shuffle_seed=config.scoring.seed, floor_percentile=config.scoring.floor_percentile,
        checkpoint_dir=None if workdir is None else Path(workdir) / "subspace_models",
        progress=lambda done, total: progress("subspace models", done, total),
    )
    return fitted


def _responses(site: SiteData, ensemble: Ensemble, config: PipelineConfig) -> list[np.ndarray]:
    if config.subspace_model.ssrf_response == "cnn":
        return [ensemble.predict(s.spectrogram) for s in site.sounds]
    return [s.psth for s in site.sounds]


def nonlinearities(
    site: SiteData, subspaces: Sequence[TuningSubspace], ensemble: Ensemble,
    config: PipelineConfig, models: Sequence[SubspaceModel] = (),
) -> list[UnitNonlinearity]:
    """SSRF maps, tuning curves and asymmetry indices of every unit (every sound)."""
    from ..nonlinearity.ssrf import ssrf

    responses = _responses(site, ensemble, config)
    names = {m.unit: f"unit_{int(site.units.ids[m.unit])}" for m in models}
    out = []
    for sub in subspaces:
        u = sub.unit
        x = np.concatenate([project(s.spectrogram, sub.filters) for s in site.sounds])
        r = np.concatenate([resp[:, u] for resp in responses])
        try:
            m = ssrf(x, r, config.ssrf)
        except InvalidDataError as err:
            raise InvalidDataError(f"site {site.name}, unit {int(site.units.ids[u])}: {err}") from None
        k = x.shape[1]
        out.append(UnitNonlinearity(
            unit_position=u,
            model_name=names.get(u),
            dimension_sign=m.signs,
            asymmetry_index=m.asymmetry,
            tuning={"bin_edges": _centres_to_edges(m.curve_centres), "mean": m.curve_mean,
                    "sem": m.curve_sem, "count": m.curve_count},
            ssrf={"bin_edges": m.edges, "pairs": np.array([(0, j) for j in range(1, k)],
                                                           dtype=np.int64).reshape(-1, 2),
                  "mean": m.maps, "count": m.counts},
        ))
    return out


def _centres_to_edges(centres: np.ndarray) -> np.ndarray:
    centres = np.atleast_2d(centres)
    step = np.diff(centres, axis=1)
    step = np.concatenate([step[:, :1], step], axis=1) if step.shape[1] else np.ones_like(centres)
    return np.concatenate([centres - step / 2, centres[:, -1:] + step[:, -1:] / 2], axis=1)


def site_analysis(
    site: SiteData, subspaces: Sequence[TuningSubspace], shared: TuningSubspace,
    ensemble: Ensemble, config: PipelineConfig,
) -> SiteAnalysis:
    """Shared site subspace, tiling of the shared space, pairwise subspace similarity."""
    from ..circuit import similarity_matrix, tiling

    n_dims = config.tiling.n_dims
    stims = [s.spectrogram for s in site.sounds]
    x = np.concatenate([project(s, shared.components[:n_dims]) for s in stims])
    preds = np.concatenate([ensemble.predict(s) for s in stims])
    bad = ~np.isfinite(preds).all(axis=0)
    if bad.any():
        raise InvalidDataError(f"site {site.name}, unit {int(site.units.ids[int(np.argmax(bad))])}: "
                               "the CNN's predictions hold NaN or inf")
    tiles = tiling(x, preds, config.tiling)
    return SiteAnalysis(
        filters=shared.filters,
        explained_variance=shared.explained_variance_ratio,
        mean_dstrf=shared.mean,
        response_region_size=tiles.region_size,
        region_overlap=tiles.overlap,
        subspace_similarity=similarity_matrix(subspaces),
        response_regions=tiles.regions,
        tiling_bin_edges=tiles.edges,
        similarity_measure="mean squared cosine of the principal angles",
        parameters={"tiling": config.tiling.to_dict(), "subspace": config.subspace.to_dict()},
    )


def _model_results(role: str, ensemble: Ensemble, site: SiteData, scores: UnitScores,
                   config: PipelineConfig) -> list[ModelResult]:
    out = []
    positions = np.arange(site.n_units)
    for member, record, info in zip(ensemble.members, ensemble.records, ensemble.info):
        j, i = int(info.get("jackknife", 0)), int(info.get("init", 0))
        out.append(ModelResult(
            name=f"{role}_jk{j}", role=role, module=member, unit_positions=positions,
            fit_log=_fit_log(record), scores=_score_dict(scores), seed=int(info.get("seed", 0)),
            jackknife_index=j, init_index=i,
            estimation_sounds=tuple(info.get("fit_sounds", ())),
            early_stopping_sounds=tuple(info.get("early_stop_sounds", ())),
            validation_sounds=tuple(site.validation),
            training_parameters=config.training.to_dict(),
            package_versions=dict(getattr(record, "versions", {}) or {}),
        ))
    return out


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


def _fit_log(*records: Any) -> dict[str, np.ndarray]:
    """Training log of one fit; of several (one per member) with a ``member`` column."""
    stages = {"stage1": 1, "stage2": 2, "single": 0}
    logs = [{
        "epoch": np.arange(len(record.train_loss)),
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


def analyse_site(
    site: SiteData, config: PipelineConfig | None = None, *, workdir: str | Path | None = None,
    progress: Progress = _noop, provenance: dict[str, Any] | None = None,
) -> SiteResults:
    """Run every stage of the method on one site.

    Parameters
    ----------
    site : SiteData
        The site (from :func:`~.io.read_site`, the simulator, or built by hand).
    config : PipelineConfig, optional
        Parameters of every stage (the paper's by default).
    workdir : path, optional
        Folder for training checkpoints, the tuning subspaces and the subspace-model
        fits; a rerun with the same folder resumes.
    progress : callable, optional
        ``progress(stage, done, total)``, called as stages advance.
    provenance : dict, optional
        Input identity and anything else to record with the results.

    Returns
    -------
    SiteResults
    """
    config = config or PipelineConfig()
    workdir = None if workdir is None else Path(workdir)
    ensembles = fit_encoding_models(site, config, workdir=workdir, progress=progress)
    scores = {role: score_ensemble(e, site, config) for role, e in ensembles.items()}
    cnn = ensembles["cnn"]
    subs, shared = _resumable_subspaces(cnn, site, config, workdir, progress)
    fitted = subspace_models(site, subs, config, progress=progress, workdir=workdir)
    progress("SSRFs and site analyses", 0, 1)
    nonlin = nonlinearities(site, subs, cnn, config, fitted)
    site_an = site_analysis(site, subs, shared, cnn, config)
    progress("SSRFs and site analyses", 1, 1)

    models: list[ModelResult] = []
    for role, ens in ensembles.items():
        models += _model_results(role, ens, site, scores[role], config)
    for m in fitted:
        models.append(ModelResult(
            name=f"unit_{int(site.units.ids[m.unit])}", role="subspace_nonlinearity",
            module=raw_projection_network(m), unit_positions=np.array([m.unit]), fit_log=_fit_log(*m.records),
            scores=_score_dict(m.scores), seed=config.training.seed,
            estimation_sounds=tuple(site.estimation), validation_sounds=tuple(site.validation),
            training_parameters=config.training.to_dict(),
            package_versions=dict(getattr(m.record, "versions", {}) or {}),
            n_lags=int(m.filters.shape[2]),
        ))
    unit_subs = [UnitSubspace(
        unit_position=s.unit, filters=s.filters, explained_variance=s.explained_variance_ratio,
        noise_floor_variance=s.noise_floor, threshold=config.subspace.variance_threshold,
        mean_dstrf=s.mean, n_samples=s.n_samples, n_outliers=s.n_outliers, k90=s.k90, k95=s.k95,
    ) for s in subs]
    return SiteResults(
        site=site,
        spectrogram_parameters=dict(site.source.get("spectrogram", config.spectrogram.to_dict())),
        models=models,
        subspaces=unit_subs,
        nonlinearities=nonlin,
        site_subspace=site_an,
        provenance={"config": config.to_dict(), **(provenance or {})},
        subspace_parameters=config.subspace.to_dict(),
        ssrf_parameters=config.ssrf.to_dict(),
        ssrf_min_count=int(config.ssrf.min_count),
    )
