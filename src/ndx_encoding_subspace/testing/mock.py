"""Factory functions that build small, valid objects of every type of the extension.

They follow pynwb's mock conventions (:mod:`pynwb.testing.mock`): keyword-only
arguments, each with a working default; given ``nwbfile=``, the object is also added to
it (the Units table as ``nwbfile.units``, the extension's objects to the processing
module ``encoding_subspace``, created when missing). Values are random but reproducible
(``seed``); shapes are small so that files stay tiny. ``mock_results_nwbfile()`` returns
an NWBFile holding one object of every type.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np
from hdmf.common import DynamicTableRegion
from pynwb import NWBFile, ProcessingModule
from pynwb.file import Subject
from pynwb.misc import Units
from pynwb.testing.mock.file import mock_NWBFile

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
from ..extension.reliability import RULE_MEMBERS, RULE_UNKNOWN, choose_k, count_significant
from ..results.roles import CNN, SUBSPACE

__all__ = [
    "mock_units",
    "mock_spectrogram_series",
    "mock_encoding_model",
    "mock_encoding_models",
    "mock_tuning_subspace_table",
    "mock_subspace_nonlinearity_table",
    "mock_site_subspace",
    "mock_results_nwbfile",
    "add_mock_results",
]

N_FREQ = 4
N_LAGS = 5
N_UNITS = 3
#: NCBI taxonomy link of the ferret (nwbinspector wants a binomial or a taxonomy link).
FERRET = "http://purl.obolibrary.org/obo/NCBITaxon_9669"


def mock_units(*, n_units: int = N_UNITS, seed: int = 0, nwbfile: NWBFile | None = None) -> Units:
    """A Units table of ``n_units`` units with a few spikes each (``nwbfile.units`` when given)."""
    rng = np.random.default_rng(seed)
    units = Units(name="units", description="Sorted single units.", resolution=1.0 / 30000.0)
    for _ in range(n_units):
        units.add_unit(spike_times=np.sort(rng.uniform(0.0, 10.0, size=20)))
    if nwbfile is not None:
        nwbfile.units = units
    return units


def _units(units: Units | None, nwbfile: NWBFile | None) -> Units:
    """The given table, else the file's, else a new mock one (added to the file)."""
    if units is not None:
        return units
    if nwbfile is not None and nwbfile.units is not None:
        return nwbfile.units
    return mock_units(nwbfile=nwbfile)


F = TypeVar("F", bound=Callable[..., Any])


def _quiet(factory: F) -> F:
    """``factory`` without hdmf's warning that a region's Units table shares no ancestor
    with it: true until the object is added to the file, as the results writer says."""
    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The linked table for DynamicTableRegion")
            return factory(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _add(obj: Any, nwbfile: NWBFile | None) -> Any:
    if nwbfile is not None:
        module = nwbfile.processing.get(MODULE) or nwbfile.create_processing_module(
            name=MODULE, description="Encoding models, dSTRF tuning subspaces and SSRFs.")
        module.add(obj)
    return obj


def _region(units: Units, rows: list[int], description: str) -> DynamicTableRegion:
    return DynamicTableRegion(name="units", data=rows, description=description, table=units)


def mock_spectrogram_series(
    *, name: str = "spectrogram", n_times: int = 50, n_freq: int = N_FREQ, seed: int = 0,
    nwbfile: NWBFile | None = None,
) -> SpectrogramSeries:
    """A SpectrogramSeries of ``n_times`` bins and ``n_freq`` channels, values in [0, 1]."""
    rng = np.random.default_rng(seed)
    freqs = np.geomspace(200.0, 20000.0, n_freq)
    return _add(SpectrogramSeries(
        name=name,
        data=rng.uniform(0.0, 1.0, size=(n_times, n_freq)).astype(np.float32),
        unit="a.u.",
        frequencies=freqs,
        filterbank="gammatone",
        n_channels=n_freq,
        min_frequency=float(freqs[0]),
        max_frequency=float(freqs[-1]),
        bin_size=0.01,
        window_size=0.01,
        compression=0.25,
        scaling="log(10x+1); per-channel min-max to [0, 1] over all sounds",
        rate=100.0,
        starting_time=0.0,
        description="Gammatone spectrogram of the stimulus.",
    ), nwbfile)


@_quiet
def mock_encoding_model(
    *,
    units: Units | None = None,
    name: str = "cnn_jk0_init0",
    rows: list[int] | None = None,
    role: str = CNN.name,
    spectrogram: SpectrogramSeries | None = None,
    seed: int = 0,
    nwbfile: NWBFile | None = None,
) -> EncodingModel:
    """An EncodingModel predicting ``rows`` of ``units``: a small LN model (3 channels,
    ``N_LAGS`` taps) that :func:`~ndx_encoding_subspace.results.load_results` rebuilds.

    A model lives in an :class:`EncodingModels` collection, so ``nwbfile`` only supplies
    the Units table (see :func:`mock_encoding_models` to add models to a file)."""
    units = _units(units, nwbfile)
    rng = np.random.default_rng(seed)
    rows = list(range(len(units))) if rows is None else rows
    n_out = len(rows)
    import torch  # the package import stays light: torch only when a model is built

    from ..models import LNPopulation
    from ..models.architecture import state_arrays, to_architecture

    torch.manual_seed(seed)
    net = LNPopulation(N_FREQ, n_out, channels=3, taps=N_LAGS)
    tensors = state_arrays(net)
    epochs = np.arange(4)
    log = TrainingLog()
    for epoch, loss in zip(epochs, np.linspace(1.0, 0.5, epochs.size)):
        log.add_row(epoch=int(epoch), stage=1, training_loss=float(loss),
                    early_stopping_loss=float(loss) + 0.1)
    scores = ModelScoresTable()
    for _ in range(n_out):
        scores.add_row(r=float(rng.uniform(0.2, 0.8)), ccnorm=float(rng.uniform(0.3, 0.9)),
                       noise_ceiling=0.9, shuffle_floor=0.05)
    architecture = to_architecture(net)
    return EncodingModel(
        name=name,
        description=f"Example {role} model.",
        role=role,
        architecture=json.dumps(architecture),
        bin_size=0.01,
        n_lags=N_LAGS,
        units=_region(units, rows, "Units the model predicts, in output order."),
        model_parameters=tensors,
        spectrogram=spectrogram,
        training_log=log,
        scores=scores,
        training_parameters=json.dumps({"learning_rate": 1e-3, "max_epochs": 4}),
        package_versions=json.dumps({"numpy": np.__version__}),
        estimation_sounds=["sound_a", "sound_b"],
        early_stopping_sounds=["sound_c"],
        validation_sounds=["sound_d"],
        seed=seed,
        jackknife_index=0,
        init_index=0,
    )


@_quiet
def mock_encoding_models(
    *, units: Units | None = None, name: str = CNN.container, n_models: int = 2,
    spectrogram: SpectrogramSeries | None = None, nwbfile: NWBFile | None = None,
) -> EncodingModels:
    """A jackknife-style collection of ``n_models`` EncodingModel objects of role ``cnn``."""
    units = _units(units, nwbfile)
    models = [
        mock_encoding_model(units=units, name=f"cnn_jk{i}_init0", spectrogram=spectrogram, seed=i)
        for i in range(n_models)
    ]
    return _add(EncodingModels(name=name, description="Example jackknife ensemble.", models=models), nwbfile)


@_quiet
def mock_tuning_subspace_table(
    *, units: Units | None = None, source_models: EncodingModels | None = None, seed: int = 0,
    nwbfile: NWBFile | None = None,
) -> TuningSubspaceTable:
    """A TuningSubspaceTable with k = 1, 2, 3 filters for the first three units."""
    units = _units(units, nwbfile)
    rng = np.random.default_rng(seed)
    rows = list(range(min(len(units), 3)))
    n_comp = 6
    variances = [np.sort(rng.dirichlet(np.ones(n_comp)))[::-1] for _ in rows]
    return _add(TuningSubspaceTable.from_arrays(
        units=units,
        unit_rows=rows,
        filters=[rng.normal(size=(k + 1, N_FREQ, N_LAGS)) for k in rows],
        explained_variance=variances,
        noise_floor_variance=[np.full(n_comp, 1.0 / n_comp) for _ in rows],
        threshold=[0.95] * len(rows),
        mean_dstrf=rng.normal(size=(len(rows), N_FREQ, N_LAGS)),
        n_samples=[100] * len(rows),
        n_outliers=[2] * len(rows),
        k90=[choose_k(v, 0.90) for v in variances],
        k95=[choose_k(v, 0.95) for v in variances],
        k_significant=[count_significant(v, np.full(n_comp, 1.0 / n_comp)) for v in variances],
        reliability=[0.9, 0.4, float("nan")][: len(rows)],
        reliability_rule=[RULE_MEMBERS, RULE_MEMBERS, RULE_UNKNOWN][: len(rows)],
        dimension_confidence=[np.linspace(0.9, 0.1, n_comp) for _ in rows],
        parameters=json.dumps({"n_components": n_comp, "threshold": 0.95}),
        source_models=source_models,
    ), nwbfile)


@_quiet
def mock_subspace_nonlinearity_table(
    *, units: Units | None = None, models: list[EncodingModel] | None = None, seed: int = 0,
    nwbfile: NWBFile | None = None,
) -> SubspaceNonlinearityTable:
    """A SubspaceNonlinearityTable for units with k = 1, 2, 3 dimensions (0, 1, 2 maps)."""
    units = _units(units, nwbfile)
    rng = np.random.default_rng(seed)
    dims = [1, 2, 3][: min(len(units), 3)]
    n1, n2 = 10, 6

    def ssrf(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = np.array([[0, j] for j in range(1, k)], dtype=np.int32).reshape(-1, 2)
        count = rng.integers(0, 8, size=(len(pairs), n2, n2))
        mean = np.where(count >= 2, rng.normal(size=count.shape), np.nan)
        return pairs, mean, count

    maps = [ssrf(k) for k in dims]
    return _add(SubspaceNonlinearityTable.from_arrays(
        units=units,
        unit_rows=list(range(len(dims))),
        min_count=2,
        models=models,
        dimension_sign=[np.where(rng.random(k) < 0.5, -1, 1) for k in dims],
        asymmetry_index=[rng.uniform(-1, 1, size=k) for k in dims],
        tuning_bin_edges=[np.tile(np.linspace(-1, 1, n1 + 1), (k, 1)) for k in dims],
        tuning_mean=[rng.normal(size=(k, n1)) for k in dims],
        tuning_sem=[rng.uniform(0.01, 0.1, size=(k, n1)) for k in dims],
        tuning_count=[rng.integers(2, 50, size=(k, n1)) for k in dims],
        ssrf_bin_edges=[np.tile(np.linspace(-1, 1, n2 + 1), (k, 1)) for k in dims],
        ssrf_pairs=[m[0] for m in maps],
        ssrf_mean=[m[1] for m in maps],
        ssrf_count=[m[2] for m in maps],
        parameters=json.dumps({"n_bins_2d": n2, "n_bins_1d": n1}),
    ), nwbfile)


@_quiet
def mock_site_subspace(
    *, units: Units | None = None, seed: int = 0, nwbfile: NWBFile | None = None,
) -> SiteSubspace:
    """A SiteSubspace over every unit with tiling and similarity results."""
    units = _units(units, nwbfile)
    rng = np.random.default_rng(seed)
    n = len(units)
    sim = rng.uniform(0, 1, size=(n, n))
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    grid = 4
    regions = rng.random((n, grid, grid, grid)) < 0.2
    return _add(SiteSubspace(
        description="Shared subspace of the example site.",
        units=_region(units, list(range(n)), "Units of the site."),
        filters=rng.normal(size=(3, N_FREQ, N_LAGS)).astype(np.float32),
        explained_variance=np.array([0.5, 0.3, 0.1]),
        mean_dstrf=rng.normal(size=(N_FREQ, N_LAGS)).astype(np.float32),
        response_region_size=regions.mean(axis=(1, 2, 3)),
        region_overlap=sim * 0.5,
        subspace_similarity=sim,
        response_regions=regions,
        tiling_bin_edges=np.tile(np.linspace(-1, 1, grid + 1), (3, 1)),
        similarity_measure="mean squared cosine of the principal angles",
        parameters=json.dumps({"grid_size": grid, "smoothing_sigma": 0.75}),
    ), nwbfile)


@_quiet
def mock_results_nwbfile(*, seed: int = 0) -> NWBFile:
    """An NWBFile with Units and one object of every type in processing/encoding_subspace."""
    nwbfile = mock_NWBFile(
        session_description="Example results of the encoding-subspace method.",
        identifier="ndx-encoding-subspace-mock",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        experimenter=["Doe, Jane"],
        experiment_description="Simulated site for the encoding-subspace method.",
        institution="Example institution",
        keywords=["auditory cortex", "encoding model"],
        subject=Subject(subject_id="ferret-1", species=FERRET, sex="F", age="P365D",
                        description="Example subject."),
    )
    add_mock_results(nwbfile, seed=seed)
    return nwbfile


@_quiet
def add_mock_results(nwbfile: NWBFile, *, seed: int = 0) -> ProcessingModule:
    """Add a Units table and one object of every type (module ``encoding_subspace``).

    Returns the processing module, holding ``spectrogram`` (SpectrogramSeries),
    ``population_cnn`` and ``subspace_models`` (EncodingModels of roles ``cnn`` and
    ``subspace_nonlinearity``, as the results writer stores them), ``tuning_subspaces``
    (TuningSubspaceTable), ``subspace_nonlinearities`` (SubspaceNonlinearityTable) and
    ``site_subspace`` (SiteSubspace).
    """
    units = mock_units(seed=seed, nwbfile=nwbfile)
    spectrogram = mock_spectrogram_series(seed=seed, nwbfile=nwbfile)
    ensemble = mock_encoding_models(units=units, spectrogram=spectrogram, nwbfile=nwbfile)
    n = min(len(units), 3)
    subspace_models = _add(EncodingModels(
        name=SUBSPACE.container,
        description=SUBSPACE.description,
        models=[mock_encoding_model(units=units, name=f"unit_{row}", rows=[row],
                                    role=SUBSPACE.name, seed=row)
                for row in range(n)],
    ), nwbfile)
    mock_tuning_subspace_table(units=units, source_models=ensemble, seed=seed, nwbfile=nwbfile)
    models = [subspace_models.get_model(f"unit_{row}") for row in range(n)]
    mock_subspace_nonlinearity_table(units=units, models=models, seed=seed, nwbfile=nwbfile)
    mock_site_subspace(units=units, seed=seed, nwbfile=nwbfile)
    return nwbfile.processing[MODULE]
