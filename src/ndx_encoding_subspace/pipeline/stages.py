"""The method on one site's data, stage by stage (METHOD.md sections 2 to 7).

:func:`analyse_site` takes a :class:`~.data.site.SiteData` and a
:class:`~.config.PipelineConfig` and returns :class:`~.results.SiteResults` (gathered by
:mod:`.assemble`), ready for :func:`~.results.write_results`. Each stage is also a
function of its own, so that a notebook can run, inspect or replace any one of them.

Models are checkpointed under ``workdir`` (when given), and so are the tuning subspaces
and their reliabilities (:mod:`.stage_cache`) and each finished subspace-model fit
(:mod:`~.cache`), so a run
that is killed and started again resumes where it stopped; the later stages are
deterministic and fast against those, and are recomputed.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import stage_key
from ..data.site import SiteData
from ..dstrf import (
    dstrf,
    ensemble_dstrf,
    ensemble_statistics,
    iter_ensemble_dstrf_chunks,
    model_scales,
    sample_times,
)
from ..errors import InvalidDataError
from ..fitting import Ensemble, UnitScores, fit_ensemble, score_predictions
from ..nonlinearity import SubspaceModel, fit_subspace_models
from ..results import SiteAnalysis, SiteResults, UnitNonlinearity
from ..results.roles import CNN, LN
from ..subspace import (
    SubspaceReliability,
    TuningSubspace,
    fit_subspaces,
    project,
    reliability_times,
    resolve_rule,
    streaming_site_subspaces,
    unit_reliability,
)
from ..subspace.reliability import split_halves
from .assemble import site_results
from .config import PipelineConfig
from .stage_cache import load_reliability, load_subspaces, save_reliability, save_subspaces

__all__ = [
    "analyse_site",
    "fit_encoding_models",
    "score_ensemble",
    "tuning_subspaces",
    "subspace_reliability",
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
    builders = {CNN.name: lambda: config.cnn.build(n_f, n_u)}
    if config.ln.enabled:
        builders = {LN.name: lambda: config.ln.build(n_f, n_u), **builders}
    total = config.ensemble.n_jackknife * config.ensemble.n_init
    out = {}
    for role, build in builders.items():
        seen: set[tuple[int, int]] = set()

        def report(info: dict[str, Any], role: str = role, seen: set = seen) -> None:
            # batched fits report every member at each epoch: the count of fits training
            # and the epoch move, the bar fills when the ensemble is done
            seen.add((info.get("jackknife", 0), info.get("init", 0)))
            progress(f"training {role} ({len(seen)} of {total} fits; {info.get('stage', '')} epoch "
                     f"{info.get('epoch', 0)})", 0, total)

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
                             rng=config.scoring.seed, percentile=config.scoring.floor_percentile,
                             signal_power_rule=config.scoring.signal_power)


def tuning_subspaces(
    ensemble: Ensemble, site: SiteData, config: PipelineConfig, *, progress: Progress = _noop,
) -> tuple[list[TuningSubspace], TuningSubspace]:
    """Per-unit tuning subspaces and the shared site subspace from ensemble dSTRFs.

    The dSTRFs are taken on the estimation stimuli at the bins chosen by
    ``config.dstrf`` (the paper's sample by default). Held in host memory when they are
    computed on the CPU and fit in :data:`IN_MEMORY_DSTRF_BYTES`; else (and always on a
    GPU, where they then never travel to the host) streamed into per-unit moment
    accumulators on their device: one
    pass over the models for their normalisers and the outlier filter's statistics
    (:func:`~.dstrf.ensemble_statistics`), one for the units' and the site's
    subspaces together. ``progress(stage, done, total)`` counts the dSTRF windows of
    every pass.
    """
    stimuli = site.stimuli("estimation")
    params = config.dstrf
    members = ensemble.members
    n_samples = sum(len(t) for t in sample_times([len(s) for s in stimuli], params))
    size = n_samples * site.n_units * site.n_frequencies * params.n_lags * 4
    stage = "dSTRFs and subspaces"
    if size <= IN_MEMORY_DSTRF_BYTES and params.torch_device().type == "cpu":
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


def _subspace_key(ensemble: Ensemble, site: SiteData, config: PipelineConfig,
                  reliability: bool = False) -> str:
    """Key of the kept subspaces (or, with ``reliability``, reliabilities): the models,
    the stimuli, the parameters of the dSTRF and subspace steps (for the subspaces,
    without the ``reliability_*`` ones, which do not change them)."""
    subspace = {k: v for k, v in config.subspace.to_dict().items()
                if reliability or not k.startswith("reliability_")}
    defaults = type(config.dstrf)()  # where and in how many windows: not what is computed
    dstrf = {**config.dstrf.to_dict(), "chunk_size": defaults.chunk_size, "device": defaults.device}
    return stage_key(ensemble.members, site.stimuli("estimation"), {"dstrf": dstrf, "subspace": subspace})


def _resumable_subspaces(
    ensemble: Ensemble, site: SiteData, config: PipelineConfig, workdir: Path | None,
    progress: Progress,
) -> tuple[list[TuningSubspace], TuningSubspace]:
    """:func:`tuning_subspaces`, kept in ``workdir`` for a rerun (see :mod:`.stage_cache`)."""
    if workdir is None:
        return tuning_subspaces(ensemble, site, config, progress=progress)
    key = _subspace_key(ensemble, site, config)
    path = workdir / "subspaces.npz"
    kept = load_subspaces(path, key)
    if kept is None:
        kept = tuning_subspaces(ensemble, site, config, progress=progress)
        save_subspaces(path, key, *kept)
    else:
        progress("dSTRFs and subspaces (kept from the interrupted run)", 1, 1)
    return kept


def _normalised_mean(values: Sequence[np.ndarray]) -> np.ndarray:
    """Members' dSTRFs ``[n, units, F, D]`` each divided by its per-unit standard
    deviation, then averaged (the ensemble dSTRF of :func:`~.dstrf.ensemble_dstrf`,
    without shrinkage)."""
    total = np.zeros(values[0].shape, dtype=np.float64)
    for v in values:
        scale = v.std(axis=(0, 2, 3), dtype=np.float64)
        total += v / np.where(scale > 0, scale, 1.0)[None, :, None, None]
    return (total / len(values)).astype(np.float32)


def subspace_reliability(
    ensemble: Ensemble, site: SiteData, config: PipelineConfig,
    subspaces: Sequence[TuningSubspace], *, progress: Progress = _noop,
) -> list[SubspaceReliability]:
    """Reliability and per-dimension confidence of every unit's subspace
    (:mod:`~.subspace.reliability`).

    The rule is ``config.subspace.reliability_rule`` (``"auto"``: the ensemble's members
    compared when it has two or more, else the two halves of the samples). dSTRFs are
    taken at :func:`~.subspace.reliability_times` (at most
    ``reliability_max_samples`` of the subspace step's bins), one model at a time, for
    as many units at once as keep the models' dSTRFs within
    :data:`IN_MEMORY_DSTRF_BYTES`: memory stays bounded whatever the site's size, and
    large sites (whose subspaces are streamed) are measured on that bounded subsample.
    """
    params = config.subspace
    members = ensemble.members
    rule = resolve_rule(params.reliability_rule, len(members))
    if rule == "none":
        return [SubspaceReliability.unknown(s) for s in subspaces]
    stimuli = site.stimuli("estimation")
    times = reliability_times([len(s) for s in stimuli], config.dstrf,
                              params.reliability_max_samples)
    n = sum(len(t) for t in times)
    if n < 4:  # two halves of two samples each at least
        warnings.warn(f"site {site.name!r}: {n} dSTRF sample(s), too few to measure the subspaces' "
                      "reliability: left unknown (NaN)", stacklevel=2)
        return [SubspaceReliability.unknown(s) for s in subspaces]
    per_unit = len(members) * n * site.n_frequencies * config.dstrf.n_lags * 4
    group = int(max(1, IN_MEMORY_DSTRF_BYTES // max(per_unit, 1)))
    stage = "subspace reliability"
    out: list[SubspaceReliability] = []
    progress(stage, 0, len(subspaces))
    for start in range(0, len(subspaces), group):
        subs = subspaces[start:start + group]
        units = [s.unit for s in subs]
        values = [dstrf(m, stimuli, times, config.dstrf, units=units) for m in members]
        if rule == "split_halves" and len(values) > 1:
            values = [_normalised_mean(values)]
        for i, sub in enumerate(subs):
            parts = ([v[:, i] for v in values] if rule == "members"
                     else split_halves(values[0][:, i]))
            out.append(unit_reliability(parts, sub, params, rule))
        progress(stage, len(out), len(subspaces))
    return out


def _resumable_reliability(
    ensemble: Ensemble, site: SiteData, config: PipelineConfig,
    subspaces: Sequence[TuningSubspace], workdir: Path | None, progress: Progress,
) -> list[SubspaceReliability]:
    """:func:`subspace_reliability`, kept in ``workdir`` for a rerun."""
    if workdir is None:
        return subspace_reliability(ensemble, site, config, subspaces, progress=progress)
    key = _subspace_key(ensemble, site, config, reliability=True)
    path = workdir / "reliability.npz"
    kept = load_reliability(path, key)
    if kept is None or len(kept) != len(subspaces):
        kept = subspace_reliability(ensemble, site, config, subspaces, progress=progress)
        save_reliability(path, key, kept)
    return kept


def subspace_models(
    site: SiteData, subspaces: Sequence[TuningSubspace], config: PipelineConfig,
    *, progress: Progress = _noop, workdir: Path | None = None,
) -> list[SubspaceModel]:
    """One subspace model per unit, fitted like the CNN and scored on validation data.

    Every unit's initialisations are trained together in batched fits
    (:func:`~.nonlinearity.fit_subspace_models`); with ``workdir`` finished fits are
    kept there for a rerun.
    """
    return fit_subspace_models(
        site, subspaces, config.training, config.subspace_model, config.scoring,
        checkpoint_dir=None if workdir is None else Path(workdir) / "subspace_models",
        progress=lambda done, total: progress("subspace models", done, total),
    )


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
    return SiteAnalysis(  # the site's k filters, and at least the tiling's axes
        filters=shared.components[:max(shared.k, n_dims)],
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


def analyse_site(
    site: SiteData, config: PipelineConfig | None = None, *, workdir: str | Path | None = None,
    progress: Progress = _noop, provenance: dict[str, Any] | None = None,
    ensembles: Mapping[str, Ensemble] | None = None,
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
    ensembles : dict, optional
        Encoding models fitted already (role -> :class:`~..fitting.Ensemble`, with this
        site's units as outputs, e.g. a population's cut to the site): not fitted again.

    Returns
    -------
    SiteResults
    """
    if not isinstance(site, SiteData):
        raise TypeError(f"analyse_site: site must be a SiteData (read_site(path) reads one; run_site takes "
                        f"a path), got {type(site).__name__}")
    config = PipelineConfig.of(config)
    workdir = None if workdir is None else Path(workdir)
    if ensembles is None:
        ensembles = fit_encoding_models(site, config, workdir=workdir, progress=progress)
    ensembles = dict(ensembles)
    scores = {role: score_ensemble(e, site, config) for role, e in ensembles.items()}
    cnn = ensembles[CNN.name]
    subs, shared = _resumable_subspaces(cnn, site, config, workdir, progress)
    reliability = _resumable_reliability(cnn, site, config, subs, workdir, progress)
    fitted = subspace_models(site, subs, config, progress=progress, workdir=workdir)
    progress("SSRFs and site analyses", 0, 1)
    nonlin = nonlinearities(site, subs, cnn, config, fitted)
    site_an = site_analysis(site, subs, shared, cnn, config)
    progress("SSRFs and site analyses", 1, 1)
    return site_results(site, config, ensembles, scores, subs, fitted, nonlin, site_an, provenance,
                        reliability=reliability)
