"""From :class:`SiteResults` to the extension's objects in the processing module.

Every object of docs/results-layout.md is built here; :mod:`.writer` adds session
metadata and units and writes the file.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData
from pynwb import NWBFile, ProcessingModule
from pynwb.misc import Units

from ..errors import ConfigError, ResultsError
from ..extension import (
    EncodingModel,
    EncodingModels,
    ModelScoresTable,
    SiteSubspace,
    SpectrogramSeries,
    SubspaceNonlinearityTable,
    TrainingLog,
    TuningSubspaceTable,
)
from ..extension._namespace import MODULE
from ..extension.models import SCORE_NAMES
from ..extension.reliability import RULES
from ..models.architecture import state_arrays, to_architecture, validate_architecture
from .bundle import ModelResult, SiteResults, UnitSubspace
from .provenance import flatten, jsonable
from .roles import CNN, ROLES, SUBSPACE

__all__ = ["MODULE", "COLLECTION_DESCRIPTIONS", "add_results", "spectrogram_objects"]

#: Description of the collection of each known role (:mod:`.roles`).
COLLECTION_DESCRIPTIONS = {role.container: role.description for role in ROLES}
_LOG_COLUMNS = {"epoch": np.int32, "stage": np.int32, "training_loss": np.float64,
                "early_stopping_loss": np.float64, "member": np.int32}


def _json(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True)


def _column(name: str, description: str, data: Any) -> VectorData:
    return VectorData(name=name, description=description, data=data)


def _region(units: Units, rows: Any, description: str) -> DynamicTableRegion:
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= len(units)):
        raise ResultsError(f"unit positions {rows.tolist()} outside the site's "
                           f"{len(units)} units ({description})")
    return DynamicTableRegion(name="units", description=description, data=rows, table=units)


def spectrogram_objects(results: SiteResults) -> tuple[SpectrogramSeries, DynamicTable]:
    """Every sound's spectrogram end to end, and the table of where each sound lies."""
    site = results.site
    params = {**site.source.get("spectrogram", {}), **results.spectrogram_parameters}
    freqs = np.asarray(site.frequencies, dtype=np.float64)
    ends = np.cumsum([s.n_bins for s in site.sounds])
    starts = ends - np.array([s.n_bins for s in site.sounds])
    split = ["estimation" if s.name in site.estimation else
             "validation" if s.name in site.validation else "unused" for s in site.sounds]
    log_scale = params.get("log_scale")
    scaling = params.get("scaling") or (
        f"log({log_scale} x + 1); " if log_scale is not None else "") + \
        "per-channel min-max scaling to [0, 1] over all sounds of the site"
    series = SpectrogramSeries(
        name="spectrogram",
        data=np.concatenate([s.spectrogram for s in site.sounds]).astype(np.float32),
        unit="a.u.",
        frequencies=freqs,
        filterbank=str(params.get("filterbank", "unknown")),
        n_channels=int(freqs.size),
        min_frequency=float(freqs.min()),
        max_frequency=float(freqs.max()),
        bin_size=float(site.bin_size),
        window_size=float(params.get("window_size", site.bin_size)),
        compression=float(params["compression"]) if "compression" in params else None,
        scaling=str(scaling),
        rate=1.0 / float(site.bin_size),
        starting_time=0.0,
        description="Spectrograms of every sound of the site, end to end in the order of "
                    "the 'spectrogram_sounds' table (time is stimulus time, not session time).",
    )
    table = DynamicTable(
        name="spectrogram_sounds",
        description="Sound of each stretch of the 'spectrogram' series: bins "
                    "[start_bin, stop_bin), its split and its number of presentations.",
        columns=[
            _column("sound", "Sound name.", [s.name for s in site.sounds]),
            _column("split", "estimation, validation or unused.", split),
            _column("start_bin", "First bin of the sound in 'spectrogram'.",
                    starts.astype(np.int64)),
            _column("stop_bin", "One past the last bin of the sound.", ends.astype(np.int64)),
            _column("n_repeats", "Presentations of the sound.",
                    np.array([s.n_repeats for s in site.sounds], dtype=np.int64)),
        ],
    )
    return series, table


def _training_log(model: ModelResult) -> TrainingLog | None:
    log = model.fit_log
    if not log:
        return None
    missing = [k for k in ("epoch", "stage", "training_loss") if k not in log]
    unknown = sorted(set(log) - set(_LOG_COLUMNS))
    if missing or unknown:
        raise ResultsError(f"model {model.name!r}: fit log missing {missing}, unknown {unknown}")
    n = len(log["epoch"])
    if any(len(v) != n for v in log.values()):
        raise ResultsError(f"model {model.name!r}: fit log columns differ in length")
    columns = [_column(k, next(c["description"] for c in TrainingLog.__columns__
                               if c["name"] == k), np.asarray(log[k], dtype=dtype))
               for k, dtype in _LOG_COLUMNS.items() if k in log]
    return TrainingLog(columns=columns, id=np.arange(n))


def _scores(model: ModelResult) -> ModelScoresTable | None:
    if not model.scores:
        return None
    unknown = sorted(set(model.scores) - set(SCORE_NAMES))
    if "r" not in model.scores or unknown:
        raise ResultsError(f"model {model.name!r}: scores need 'r' and only "
                           f"{SCORE_NAMES}; unknown {unknown}")
    n = model.unit_positions.size
    columns = []
    for key in SCORE_NAMES:
        if key in model.scores:
            values = np.asarray(model.scores[key], dtype=np.float64).reshape(-1)
            if values.size != n:
                raise ResultsError(f"model {model.name!r}: score {key} has {values.size} "
                                   f"values for {n} outputs")
            columns.append(_column(key, next(c["description"] for c in
                                             ModelScoresTable.__columns__
                                             if c["name"] == key), values))
    described = {"description": model.scores_description} if model.scores_description else {}
    return ModelScoresTable(columns=columns, id=np.arange(n), **described)


def _encoding_model(model: ModelResult, results: SiteResults, units: Units,
                    spectrogram: SpectrogramSeries) -> EncodingModel:
    try:
        doc = model.architecture or to_architecture(model.module)
    except ConfigError as err:
        raise ResultsError(f"model {model.name!r} ({model.role}): {err}") from None
    try:
        validate_architecture(doc)
    except ResultsError as err:
        raise ResultsError(f"model {model.name!r} ({model.role}): {err}") from None
    n_lags = model.n_lags or int(getattr(model.module, "receptive_field", 1))
    sounds = {k: list(getattr(model, k)) or None for k in
              ("estimation_sounds", "early_stopping_sounds", "validation_sounds")}
    return EncodingModel(
        name=model.name,
        description=model.description or f"Trained {model.role} model {model.name}.",
        role=model.role,
        architecture=_json(doc),
        bin_size=float(results.site.bin_size),
        n_lags=int(n_lags),
        units=_region(units, model.unit_positions, f"Outputs of model {model.name}, in order."),
        model_parameters=state_arrays(model.module),
        spectrogram=spectrogram,
        training_log=_training_log(model),
        scores=_scores(model),
        training_parameters=_json(model.training_parameters),
        package_versions=_json(model.package_versions),
        seed=model.seed,
        jackknife_index=model.jackknife_index,
        init_index=model.init_index,
        **sounds,
    )


def _rule(rule: str) -> str:
    if rule not in RULES:
        raise ResultsError(f"tuning_subspaces: unknown reliability rule {rule!r}; known: "
                           f"{', '.join(RULES)}")
    return rule


def _reliability(sub: UnitSubspace) -> float:
    value = float(sub.reliability)
    if not (np.isnan(value) or 0.0 <= value <= 1.0):
        raise ResultsError(f"tuning_subspaces: unit {sub.unit_position}: reliability "
                           f"{value} outside [0, 1]")
    return value


def _confidence(sub: UnitSubspace) -> np.ndarray:
    values = sub.confidence()
    n = np.asarray(sub.explained_variance).size
    if values.size != n:
        raise ResultsError(f"tuning_subspaces: unit {sub.unit_position} has {values.size} "
                           f"dimension confidences for {n} components")
    if np.any((values < 0) | (values > 1)):
        raise ResultsError(f"tuning_subspaces: unit {sub.unit_position}: dimension "
                           "confidences must lie in [0, 1]")
    return values


def _tuning_table(results: SiteResults, units: Units,
                  source: EncodingModels | None) -> TuningSubspaceTable:
    subs = results.subspaces
    table = TuningSubspaceTable.from_arrays(
        units=units,
        unit_rows=[int(s.unit_position) for s in subs],
        filters=[np.asarray(s.filters) for s in subs],
        explained_variance=[np.asarray(s.explained_variance) for s in subs],
        noise_floor_variance=[np.asarray(s.noise_floor_variance) for s in subs],
        threshold=[float(s.threshold) for s in subs],
        mean_dstrf=np.stack([np.asarray(s.mean_dstrf) for s in subs]),
        n_samples=[int(s.n_samples) for s in subs],
        n_outliers=[int(s.n_outliers) for s in subs],
        k90=[int(s.k90) for s in subs], k95=[int(s.k95) for s in subs],
        k_significant=[s.significant_count() for s in subs],
        reliability=[_reliability(s) for s in subs],
        reliability_rule=[_rule(s.reliability_rule) for s in subs],
        dimension_confidence=[_confidence(s) for s in subs],
        parameters=_json(results.subspace_parameters),
        source_models=source,
    )
    return table


def _nonlinearity_table(results: SiteResults, units: Units,
                        collection: EncodingModels | None) -> SubspaceNonlinearityTable:
    rows = results.nonlinearities
    names = [r.model_name for r in rows]
    models = None
    if any(n is not None for n in names):
        if collection is None or any(n not in collection.models for n in names):
            missing = [n for n in names if collection is None or n not in collection.models]
            raise ResultsError(f"subspace_nonlinearities: models {missing} are not among the "
                               f"{SUBSPACE.name!r} models")
        models = [collection.get_model(n) for n in names]
    return SubspaceNonlinearityTable.from_arrays(
        units=units,
        unit_rows=[int(r.unit_position) for r in rows],
        min_count=int(results.ssrf_min_count),
        models=models,
        dimension_sign=[r.dimension_sign for r in rows],
        asymmetry_index=[r.asymmetry_index for r in rows],
        **{f"tuning_{k}": [r.tuning[k] for r in rows]
           for k in ("bin_edges", "mean", "sem", "count")},
        **{f"ssrf_{k}": [r.ssrf[k] for r in rows] for k in ("bin_edges", "pairs", "mean", "count")},
        parameters=_json(results.ssrf_parameters),
    )


def _site_subspace(results: SiteResults, units: Units) -> SiteSubspace:
    a = results.site_subspace
    assert a is not None
    positions = np.arange(len(units)) if a.unit_positions is None else a.unit_positions
    arrays = {k: np.asarray(getattr(a, k)) for k in
              ("response_region_size", "region_overlap", "subspace_similarity",
               "response_regions", "tiling_bin_edges") if getattr(a, k) is not None}
    if a.mean_dstrf is not None:
        arrays["mean_dstrf"] = np.asarray(a.mean_dstrf, dtype=np.float32)
    return SiteSubspace(
        description=a.description,
        units=_region(units, positions, "Units of the site, in the order of the arrays."),
        filters=np.asarray(a.filters, dtype=np.float32),
        explained_variance=np.asarray(a.explained_variance, dtype=np.float64),
        similarity_measure=a.similarity_measure,
        parameters=_json(a.parameters),
        **arrays,
    )


def provenance_table(provenance: dict[str, Any]) -> DynamicTable:
    """The provenance dictionary unpacked into JSON-Pointer key / JSON value rows."""
    rows = flatten(provenance)
    return DynamicTable(
        name="provenance",
        description="Provenance of these results, one row per leaf: 'key' is a JSON Pointer "
                    "(RFC 6901) into the provenance document, 'value' the leaf as JSON.",
        columns=[_column("key", "JSON Pointer of the entry.", [k for k, _ in rows]),
                 _column("value", "Value of the entry, as JSON text.", [v for _, v in rows])],
    )


def add_results(nwbfile: NWBFile, results: SiteResults,
                provenance: dict[str, Any]) -> ProcessingModule:
    """Add processing module ``encoding_subspace`` with every result to ``nwbfile``.

    ``nwbfile.units`` must already hold the site's units, in the site's order.
    """
    units = nwbfile.units
    if units is None or len(units) != results.site.n_units:
        raise ResultsError(f"site {results.site.name!r}: the file's Units table must hold "
                           f"the site's {results.site.n_units} units")
    module = nwbfile.create_processing_module(
        name=MODULE, description="Encoding models, dSTRF tuning subspaces, subspace "
                                 "nonlinearities (SSRFs) and site analyses of one site.")
    series, sounds = spectrogram_objects(results)
    module.add(series)
    module.add(sounds)
    collections: dict[str, EncodingModels] = {}
    for model in results.models:
        name = model.container
        if name in collections and model.name in collections[name].models:
            raise ResultsError(f"{name}: two models named {model.name!r}")
        if name not in collections:
            collections[name] = EncodingModels(
                name=name, description=COLLECTION_DESCRIPTIONS.get(
                    name, f"Models of role {model.role!r}."))
        collections[name].add_model(_encoding_model(model, results, units, series))
    for collection in collections.values():
        module.add(collection)
    if results.subspaces:
        module.add(_tuning_table(results, units, collections.get(CNN.container)))
    if results.nonlinearities:
        module.add(_nonlinearity_table(results, units, collections.get(SUBSPACE.container)))
    if results.site_subspace is not None:
        module.add(_site_subspace(results, units))
    module.add(provenance_table(provenance))
    return module
