"""Factory functions that build small, valid objects of every type of the extension.

Values are random but reproducible (``seed``); shapes are small so that files stay tiny.
``mock_results_nwbfile()`` returns an NWBFile holding one object of every type in the
processing module ``encoding_subspace``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
from hdmf.common import DynamicTableRegion
from pynwb import NWBFile, ProcessingModule
from pynwb.file import Subject
from pynwb.misc import Units

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
MODULE = "encoding_subspace"
#: NCBI taxonomy link of the ferret (nwbinspector wants a binomial or a taxonomy link).
FERRET = "http://purl.obolibrary.org/obo/NCBITaxon_9669"


def mock_units(n_units: int = N_UNITS, seed: int = 0) -> Units:
    """A Units table of ``n_units`` units with a few spikes each."""
    rng = np.random.default_rng(seed)
    units = Units(name="units", description="Sorted single units.", resolution=1.0 / 30000.0)
    for _ in range(n_units):
        units.add_unit(spike_times=np.sort(rng.uniform(0.0, 10.0, size=20)))
    return units


def _region(units: Units, rows: list[int], description: str) -> DynamicTableRegion:
    return DynamicTableRegion(name="units", data=rows, description=description, table=units)


def mock_spectrogram_series(
    name: str = "spectrogram", n_times: int = 50, n_freq: int = N_FREQ, seed: int = 0
) -> SpectrogramSeries:
    """A SpectrogramSeries of ``n_times`` bins and ``n_freq`` channels, values in [0, 1]."""
    rng = np.random.default_rng(seed)
    freqs = np.geomspace(200.0, 20000.0, n_freq)
    return SpectrogramSeries(
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
    )


def mock_encoding_model(
    units: Units,
    *,
    name: str = "cnn_jk0_init0",
    rows: list[int] | None = None,
    role: str = CNN.name,
    spectrogram: SpectrogramSeries | None = None,
    seed: int = 0,
) -> EncodingModel:
    """An EncodingModel predicting ``rows`` of ``units``: a small LN model (3 channels,
    ``N_LAGS`` taps) that :func:`~ndx_encoding_subspace.results.load_results` rebuilds."""
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


def mock_encoding_models(
    units: Units, *, name: str = CNN.container, n_models: int = 2,
    spectrogram: SpectrogramSeries | None = None,
) -> EncodingModels:
    """A jackknife-style collection of ``n_models`` EncodingModel objects of role ``cnn``."""
    models = [
        mock_encoding_model(units, name=f"cnn_jk{i}_init0", spectrogram=spectrogram, seed=i)
        for i in range(n_models)
    ]
    return EncodingModels(name=name, description="Example jackknife ensemble.", models=models)


def mock_tuning_subspace_table(
    units: Units, *, source_models: EncodingModels | None = None, seed: int = 0
) -> TuningSubspaceTable:
    """A TuningSubspaceTable with k = 1, 2, 3 filters for the first three units."""
    rng = np.random.default_rng(seed)
    rows = list(range(min(len(units), 3)))
    n_comp = 6
    variances = [np.sort(rng.dirichlet(np.ones(n_comp)))[::-1] for _ in rows]
    return TuningSubspaceTable.from_arrays(
        units=units,
        unit_rows=rows,
        filters=[rng.normal(size=(k + 1, N_FREQ, N_LAGS)) for k in rows],
        explained_variance=variances,
        noise_floor_variance=[np.full(n_comp, 1.0 / n_comp) for _ in rows],
        threshold=[0.95] * len(rows),
        mean_dstrf=rng.normal(size=(len(rows), N_FREQ, N_LAGS)),
        n_samples=[100] * len(rows),
        n_outliers=[2] * len(rows),
        parameters=json.dumps({"n_components": n_comp, "threshold": 0.95}),
        source_models=source_models,
    )


def mock_subspace_nonlinearity_table(
    units: Units, *, models: list[EncodingModel] | None = None, seed: int = 0
) -> SubspaceNonlinearityTable:
    """A SubspaceNonlinearityTable for units with k = 1, 2, 3 dimensions (0, 1, 2 maps)."""
    rng = np.random.default_rng(seed)
    dims = [1, 2, 3][: min(len(units), 3)]
    n1, n2 = 10, 6

    def ssrf(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = np.array([[0, j] for j in range(1, k)], dtype=np.int32).reshape(-1, 2)
        count = rng.integers(0, 8, size=(len(pairs), n2, n2))
        mean = np.where(count >= 2, rng.normal(size=count.shape), np.nan)
        return pairs, mean, count

    maps = [ssrf(k) for k in dims]
    return SubspaceNonlinearityTable.from_arrays(
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
    )


def mock_site_subspace(units: Units, seed: int = 0) -> SiteSubspace:
    """A SiteSubspace over every unit with tiling and similarity results."""
    rng = np.random.default_rng(seed)
    n = len(units)
    sim = rng.uniform(0, 1, size=(n, n))
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    grid = 4
    regions = rng.random((n, grid, grid, grid)) < 0.2
    return SiteSubspace(
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
    )


def mock_results_nwbfile(seed: int = 0) -> NWBFile:
    """An NWBFile with Units and one object of every type in processing/encoding_subspace."""
    nwbfile = NWBFile(
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


def add_mock_results(nwbfile: NWBFile, seed: int = 0) -> ProcessingModule:
    """Add a Units table and one object of every type (module ``encoding_subspace``).

    Returns the processing module, holding ``spectrogram`` (SpectrogramSeries),
    ``population_cnn`` and ``subspace_models`` (EncodingModels of roles ``cnn`` and
    ``subspace_nonlinearity``, as the results writer stores them), ``tuning_subspaces``
    (TuningSubspaceTable), ``subspace_nonlinearities`` (SubspaceNonlinearityTable) and
    ``site_subspace`` (SiteSubspace).
    """
    units = mock_units(seed=seed)
    nwbfile.units = units
    module = nwbfile.create_processing_module(
        name=MODULE, description="Encoding models, dSTRF tuning subspaces and SSRFs."
    )
    spectrogram = mock_spectrogram_series(seed=seed)
    module.add(spectrogram)
    ensemble = mock_encoding_models(units, spectrogram=spectrogram)
    module.add(ensemble)
    n = min(len(units), 3)
    subspace_models = EncodingModels(
        name=SUBSPACE.container,
        description=SUBSPACE.description,
        models=[mock_encoding_model(units, name=f"unit_{row}", rows=[row],
                                    role=SUBSPACE.name, seed=row)
                for row in range(n)],
    )
    module.add(subspace_models)
    module.add(mock_tuning_subspace_table(units, source_models=ensemble, seed=seed))
    models = [subspace_models.get_model(f"unit_{row}") for row in range(n)]
    module.add(mock_subspace_nonlinearity_table(units, models=models, seed=seed))
    module.add(mock_site_subspace(units, seed=seed))
    return module
