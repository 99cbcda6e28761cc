"""A results file from Python, as a notebook uses it: new sounds on the site's scale, scores by
name, models given wrong inputs, subspaces compared, parameters given as mappings."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_CONFIG
from ndx_encoding_subspace.circuit.similarity import similarity_matrix, subspace_similarity
from ndx_encoding_subspace.data.spectrogram import minmax_scale
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.dstrf import DSTRFParams
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError, ResultsError
from ndx_encoding_subspace.nonlinearity.ssrf import asymmetry_index, tuning_curve
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.run import run_site
from ndx_encoding_subspace.results import load_results
from ndx_encoding_subspace.subspace import SubspaceParams
from ndx_encoding_subspace.subspace.projection import project


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A simulated site, its recording and the results of a tiny run on it."""
    folder = tmp_path_factory.mktemp("api")
    params = SimulationParams.quick(n_units=3, n_estimation_sounds=8, n_validation_sounds=2,
                                    validation_repeats=4, n_lags=8, max_dim=3, seed=3)
    site = simulate_site(params)
    recording = site.write_nwb(folder / "site.nwb")
    result = run_site(recording, folder / "out", PipelineConfig.from_dict(TINY_CONFIG), progress=False)
    return site, recording, folder / "out", load_results(result.path)


def test_a_new_sound_is_put_on_the_site_scale(run):
    site, _, _, loaded = run
    name = loaded.spectrogram.sounds["sound"][-1]
    stored = loaded.spectrogram.sound(name)
    again = loaded.spectrogram_of(site.sounds[name], site.sample_rate, name=name)
    np.testing.assert_allclose(again, stored, atol=1e-5)
    cnn = loaded.ensemble("cnn")
    np.testing.assert_allclose(cnn.predict(again), cnn.predict(stored), atol=1e-5)
    louder = loaded.spectrogram_of(site.sounds[name] * 4.0, site.sample_rate)
    assert louder.max() > 1.0  # the site's scale, not the new sound's own
    scale = loaded.provenance["spectrogram_scale"]
    assert len(scale["min"]) == len(scale["max"]) == stored.shape[1]


def test_a_new_sound_of_integer_samples_is_read_as_the_reader_reads_them(run):
    """A WAV file's int16 samples are fractions of their full scale (32768), as the reader
    reads the recording's integer sounds; a sound sampled too slowly is said."""
    import warnings

    site, _, _, loaded = run
    name = loaded.spectrogram.sounds["sound"][-1]
    wave = np.asarray(site.sounds[name], dtype=np.float64)
    wave = wave / np.abs(wave).max() * 0.5
    as_int = np.round(wave * 32768).astype(np.int16)
    np.testing.assert_allclose(loaded.spectrogram_of(as_int, site.sample_rate),
                               loaded.spectrogram_of(as_int / 32768.0, site.sample_rate), atol=1e-6)
    centred = (np.round(wave * 128) + 128).astype(np.uint8)
    np.testing.assert_allclose(loaded.spectrogram_of(centred, site.sample_rate),
                               loaded.spectrogram_of((centred - 128.0) / 128.0, site.sample_rate), atol=1e-6)
    with pytest.raises(InvalidDataError, match="complex numbers"):
        loaded.spectrogram_of(wave + 1j, site.sample_rate)
    top = loaded.provenance["spectrogram_parameters"]["max_frequency"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded.spectrogram_of(wave[::4], top / 2)
    assert any("hold no power" in str(w.message) for w in caught)
    lowest = loaded.provenance["spectrogram_parameters"]["min_frequency"]
    with warnings.catch_warnings():  # refused, as the run refuses such sounds of its own
        warnings.simplefilter("error")
        with pytest.raises(ConfigError, match=r"slow: sampled at .* below twice every channel .* empty"):
            loaded.spectrogram_of(wave[::8], lowest, name="slow")
    for rate in (0, -16000.0, float("nan"), "16000"):  # refused, before any other word of it
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ConfigError, match="new sound: the sample rate must be a positive number"):
                loaded.spectrogram_of(wave, rate)


def test_a_new_sound_loses_its_dc_offset_only_where_the_run_removed_offsets(run):
    import dataclasses

    site, _, _, loaded = run
    wave = np.asarray(site.sounds[loaded.spectrogram.sounds["sound"][0]], dtype=np.float64)
    wave = wave - wave.mean()
    shifted = wave + 3.0 * np.sqrt(np.mean(wave**2))
    config = dict(loaded.provenance["config"])
    reader = {**config.get("reader", {}), "remove_offset": True}
    provenance = {**loaded.provenance, "config": {**config, "reader": reader}}
    removing = dataclasses.replace(loaded, provenance=provenance)
    centred = loaded.spectrogram_of(wave, site.sample_rate)
    np.testing.assert_allclose(removing.spectrogram_of(shifted, site.sample_rate), centred, atol=1e-4)
    assert not np.allclose(loaded.spectrogram_of(shifted, site.sample_rate), centred, atol=1e-3)


def test_a_new_sound_gets_the_silence_the_run_appended_to_its_sounds(run):
    import dataclasses

    site, _, _, loaded = run
    wave = np.asarray(site.sounds[loaded.spectrogram.sounds["sound"][0]], dtype=np.float64)
    config = dict(loaded.provenance["config"])
    reader = {**config.get("reader", {}), "response_tail_s": 0.2}
    provenance = {**loaded.provenance, "config": {**config, "reader": reader}}
    tailed = dataclasses.replace(loaded, provenance=provenance)
    plain = loaded.spectrogram_of(wave, site.sample_rate)
    longer = tailed.spectrogram_of(wave, site.sample_rate)
    bin_s = loaded.spectrogram.bin_size
    assert longer.shape[0] == plain.shape[0] + int(round(0.2 / bin_s))
    differ = np.abs(longer[: plain.shape[0] - 3] - plain[:-3])  # the same sound on a longer FFT grid
    assert differ.max() < 0.05 and differ.mean() < 0.005


def test_a_file_without_the_scale_says_so(run):
    import dataclasses

    loaded = run[3]
    kept = {k: v for k, v in loaded.provenance.items() if k != "spectrogram_scale"}
    older = dataclasses.replace(loaded, provenance=kept)
    with pytest.raises(ResultsError, match="keeps no spectrogram scale"):
        older.spectrogram_of(np.zeros(1000), 16000.0)


def test_scores_and_splits_are_asked_for_by_their_names(run):
    loaded = run[3]
    with pytest.raises(KeyError, match=r"no score 'CCnorm'; scores: r, ccnorm, noise_ceiling"):
        loaded.unit_scores("CCnorm")
    assert set(loaded.unit_scores("noise_ceiling")) == set(loaded.collections)
    with pytest.raises(KeyError, match="'estimation' or 'validation'"):
        loaded.spectrogram.split("train")
    frame = loaded.units_frame()
    assert list(frame["id"]) == list(loaded.units["id"]) and "n_spikes" in frame
    assert (frame["n_spikes"] > 0).all()


def test_models_refuse_inputs_of_another_shape_naming_what_they_take(run):
    loaded = run[3]
    cnn = loaded.ensemble("cnn").members[0]
    stim = loaded.spectrogram.split("validation")[0]
    said = rf"{cnn.name}.*with {stim.shape[1]} inputs \(frequencies\).*transposed"
    with pytest.raises(InvalidDataError, match=said):
        cnn.predict(stim.T)
    with pytest.raises(InvalidDataError, match=r"got shape \(\d+, 16\)$"):
        cnn.predict(stim[:, :16])
    with pytest.raises(InvalidDataError, match="NaN or infinite"):
        cnn.predict(np.where(np.arange(stim.shape[1]) == 3, np.nan, stim))
    sub = loaded.subspaces[0]
    model = next(m for m in loaded.models if m.role == "subspace_nonlinearity"
                 and int(m.unit_positions[0]) == sub.unit_position)
    assert model.n_inputs == sub.k
    with pytest.raises(InvalidDataError, match=rf"with {sub.k} inputs \(projections onto its subspace\)"):
        model.predict(stim)
    assert model.predict(project(stim, sub.filters)).shape == (len(stim), 1)


def test_subspaces_compare_however_they_are_given(run):
    loaded = run[3]
    a, b = loaded.subspace(0), loaded.subspace(1)
    value = subspace_similarity(a, b)
    assert value == pytest.approx(subspace_similarity(a.filters, b.filters))
    basis = a.filters.reshape(a.k, -1).T
    assert subspace_similarity(basis, b) == pytest.approx(value)
    matrix = similarity_matrix(loaded.subspaces)
    assert matrix.shape == (3, 3) and matrix[0, 1] == pytest.approx(value)
    with pytest.raises(InvalidDataError, match="more columns than rows.*transpose"):
        subspace_similarity(basis.T, b)
    longer = np.pad(a.filters, ((0, 0), (0, 0), (0, 4)))
    with pytest.raises(InvalidDataError, match=rf"filters \(32, {longer.shape[2]}\) against.*pad or cut"):
        subspace_similarity(longer, b)
    rng = np.random.default_rng(0)  # random 3-D subspaces of 960 dimensions are nearly orthogonal
    assert subspace_similarity(rng.standard_normal((960, 3)), rng.standard_normal((960, 3))) < 0.05


def test_parameters_may_be_given_as_mappings_and_numpy_integers(run):
    _, recording, out, _ = run
    assert run_site(recording, out, TINY_CONFIG, progress=False).resumed  # a mapping, not a PipelineConfig
    assert SubspaceParams(n_components=np.int64(5)).n_components == 5
    assert type(SubspaceParams(n_components=np.int64(5)).n_components) is int
    assert PipelineConfig().replace(subspace=SubspaceParams(n_components=5)).subspace.n_components == 5
    with pytest.raises(ConfigError, match="section 'training' needs TrainingParams or a mapping"):
        PipelineConfig(training=5)
    with pytest.raises(ConfigError, match="expected SSRFParams or a mapping of its parameters, got int"):
        tuning_curve(np.arange(10.0), np.arange(10.0), 3)
    centres, *_ = tuning_curve(np.arange(100.0), np.arange(100.0), {"n_bins_1d": 5})
    assert len(centres) == 5


def test_arrays_of_the_wrong_shape_get_a_message_not_a_numpy_error():
    with pytest.raises(InvalidDataError, match=r"2-D \(time, channels\)"):
        minmax_scale([np.arange(5.0)])
    with pytest.raises(InvalidDataError, match="tuning_curve needs one projection"):
        tuning_curve(np.zeros((10, 2)), np.zeros(10))
    with pytest.raises(InvalidDataError, match="flank_changes needs one projection"):
        asymmetry_index(np.zeros(10), np.zeros(9))
    with pytest.raises(InvalidDataError, match="stimulus hold NaN"):
        project(np.full((10, 4), np.nan), np.ones((2, 4, 3)))
    assert project(np.zeros((0, 4)), np.ones((2, 4, 3))).shape == (0, 2)


def test_a_device_torch_does_not_see_is_refused_by_name():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="'cuda' requested but torch sees no CUDA device"):
        DSTRFParams(device="cuda").torch_device()
    with pytest.raises(ConfigError, match="DSTRFParams.device must be"):
        DSTRFParams(device="gpu")


def test_fitting_and_dstrfs_name_data_the_model_does_not_take(one_thread):
    from ndx_encoding_subspace.dstrf import dstrf
    from ndx_encoding_subspace.fitting.schedule import fit_model
    from ndx_encoding_subspace.models.cnn import PopulationCNN

    model = PopulationCNN(32, 4, mix_channels=4, fir_taps=3, hidden=(4, 4))
    rng = np.random.default_rng(0)
    narrow = [rng.random((60, 16), dtype=np.float32) for _ in range(3)]
    counts = [rng.random((60, 4), dtype=np.float32) for _ in range(3)]
    with pytest.raises(InvalidDataError, match="16 channels per bin: the model failed on a segment of it"):
        fit_model(model, narrow, counts, {"max_epochs": 1, "device": "cpu"})
    wide = [rng.random((60, 32), dtype=np.float32) for _ in range(3)]
    with pytest.raises(InvalidDataError, match="the model gives 4 outputs per bin, the targets hold 5"):
        fit_model(model, wide, [c[:, [0, 1, 2, 3, 3]] for c in counts], {"max_epochs": 1, "device": "cpu"})
    with pytest.raises(InvalidDataError, match="16 channels per bin: PopulationCNN does not take them"):
        list(dstrf(model, narrow[0], params={"n_lags": 12, "device": "cpu"}))


def test_batched_ensembles_name_data_the_model_does_not_take(one_thread):
    from ndx_encoding_subspace.fitting.members import fit_members
    from ndx_encoding_subspace.models.cnn import PopulationCNN

    models = [PopulationCNN(32, 4, mix_channels=4, fir_taps=3, hidden=(4, 4)) for _ in range(2)]
    rng = np.random.default_rng(1)
    narrow = [rng.random((60, 16), dtype=np.float32) for _ in range(3)]
    counts = [rng.random((60, 4), dtype=np.float32) for _ in range(3)]
    with pytest.raises(InvalidDataError, match="16 channels per bin: the model failed on a segment"):
        fit_members(models, [narrow, narrow], [counts, counts], {"max_epochs": 1, "device": "cpu"})


def test_concentration_is_the_share_of_the_first_components(run):
    loaded = run[3]
    for sub in loaded.subspaces:
        ev = np.asarray(sub.explained_variance)
        assert sub.concentration() == pytest.approx(ev[0] + ev[1])
        assert sub.concentration(1) == pytest.approx(ev[0]) and 0 < sub.concentration(1) <= 1
        assert sub.concentration(len(ev) + 5) == pytest.approx(ev.sum())


def test_a_site_similarity_that_is_not_square_is_refused(run, tmp_path):
    import shutil

    import h5py

    source = run[3].path
    path = tmp_path / "edited.results.nwb"
    shutil.copyfile(source, path)
    with h5py.File(path, "r+") as f:
        where = next(k for k in _datasets(f) if k.endswith("site_subspace/subspace_similarity"))
        n = f[where].shape[0]
        del f[where]
        f[where] = np.zeros((n, n + 2))
    with pytest.raises(ResultsError, match=r"subspace_similarity of shape \(\d+, \d+\) is not square"):
        load_results(path)


def _datasets(f) -> list[str]:
    found: list[str] = []
    f.visit(found.append)
    return found


def test_a_site_another_run_is_writing_is_refused_before_any_fitting(run, tmp_path):
    import os

    from ndx_encoding_subspace.atomic import _HOST

    _, recording, _, loaded = run
    out = tmp_path / "busy"
    out.mkdir()
    (out / ".site.lock").write_text(f"{_HOST} {os.getpid()}")
    with pytest.raises(ConfigError, match=rf"another run \(process {os.getpid()} on host"):
        run_site(recording, out, PipelineConfig.from_dict(TINY_CONFIG), progress=False)
    assert sorted(p.name for p in out.iterdir()) == [".site.lock"]


@pytest.mark.parametrize(("edit", "said"), [
    ("site_filters_nan", r"site_subspace: filters holds NaN or infinite values"),
    ("site_filters_fewer_frequencies", r"site_subspace: filters of shape \(\d+, \d+\) \(frequency, lag\)"),
    ("bin_size", r"provenance: spectrogram_parameters/bin_size 0.5 s differs from the stored spectrogram's"),
])
def test_a_pipeline_results_file_edited_against_itself_is_refused(run, tmp_path, edit, said):
    import shutil

    import h5py

    path = tmp_path / "edited.results.nwb"
    shutil.copyfile(run[3].path, path)
    root = "processing/encoding_subspace"
    with h5py.File(path, "r+") as f:
        if edit == "bin_size":
            keys = [k.decode() if isinstance(k, bytes) else k for k in f[f"{root}/provenance/key"][()]]
            f[f"{root}/provenance/value"][keys.index("/spectrogram_parameters/bin_size")] = "0.5"
        else:
            filters = f[f"{root}/site_subspace/filters"][()]
            attrs = dict(f[f"{root}/site_subspace/filters"].attrs)
            del f[f"{root}/site_subspace/filters"]
            nan = edit == "site_filters_nan"
            f[f"{root}/site_subspace/filters"] = filters * np.nan if nan else filters[:, 1:]
            f[f"{root}/site_subspace/filters"].attrs.update(attrs)
    with pytest.raises(ResultsError, match=said):
        load_results(path)


def test_reprs_of_loaded_results_fit_a_notebook_cell(run):
    """Arrays, spike times and logs are described by shape and length, not printed."""
    _, _, _, loaded = run
    shown = (loaded, loaded.subspaces[0], loaded.models[0], loaded.site_subspace, loaded.nonlinearities[0])
    for obj in shown:
        text = repr(obj)
        assert len(text) < 2000 and text.startswith(type(obj).__name__ + "("), text[:200]
    assert "filters=<ndarray " in repr(loaded.subspaces[0]) and f"k90={loaded.subspaces[0].k90}" in repr(
        loaded.subspaces[0])
    config = PipelineConfig.from_dict(TINY_CONFIG)
    assert repr(PipelineConfig()) == "PipelineConfig(the defaults)"
    assert "training.max_epochs=" in repr(config) and len(repr(config)) < 600


def test_a_site_and_an_ensemble_print_in_a_line_and_loading_draws_no_random_number(run, tmp_path):
    """A notebook's seeded analysis stays reproducible across a load; a site or an ensemble
    shown in a cell is a summary, not every array and every epoch."""
    import torch

    from ndx_encoding_subspace.fitting.ensemble import EnsembleParams, fit_ensemble
    from ndx_encoding_subspace.fitting.schedule import TrainingParams
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.models import LNPopulation

    _, recording, _, loaded = run
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load_results(loaded.path)
    assert torch.equal(torch.rand(3), expected)
    site = read_site(recording)
    ens = fit_ensemble(site, lambda: LNPopulation(site.n_frequencies, site.n_units, channels=2, taps=3),
                       TrainingParams(max_epochs=1, device="cpu"), EnsembleParams(n_jackknife=2, n_init=1))
    for obj in (site, site.sounds[0], ens):
        text = repr(obj)
        assert len(text) < 600 and "\n" not in text and text.startswith(type(obj).__name__ + "("), text[:300]


def test_a_site_read_from_an_open_nwbfile_knows_the_file_it_came_from(run):
    """A notebook opens the file itself: the site has the same name and identity as when
    read from the path, so results written from it copy the input's units and session."""
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.pipeline.run import input_identity

    _, recording, _, _ = run
    by_path = read_site(recording)
    with NWBHDF5IO(str(recording), "r") as io:
        nwbfile = io.read()
        opened = read_site(nwbfile)
    assert opened.name == by_path.name
    assert input_identity(opened.source) == input_identity(by_path.source)
    assert opened.source["path"] == by_path.source["path"] and opened.source["nwbfile"] == nwbfile.identifier


def test_the_site_analysis_keeps_every_axis_it_tiled_on(run):
    """A site subspace of k = 1 still tiles 3 dimensions: the stored shared filters define
    every axis of the stored response regions."""
    from ndx_encoding_subspace.fitting.ensemble import EnsembleParams, fit_ensemble
    from ndx_encoding_subspace.fitting.schedule import TrainingParams
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.models import LNPopulation
    from ndx_encoding_subspace.pipeline.stages import site_analysis
    from ndx_encoding_subspace.subspace.pca import TuningSubspace

    _, recording, _, _ = run
    site = read_site(recording)
    ens = fit_ensemble(site, lambda: LNPopulation(site.n_frequencies, site.n_units, channels=2, taps=3),
                       TrainingParams(max_epochs=1, device="cpu"), EnsembleParams(n_jackknife=1, n_init=1))
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(site.n_frequencies * 6, 5)))[0].T.reshape(5, site.n_frequencies, 6)

    def subspace(unit: int) -> TuningSubspace:
        variance = np.arange(5.0, 0, -1)
        return TuningSubspace(unit, basis, variance, variance / 15, np.zeros(5), 1, 1, 1, 1, basis[0], 100, 0)

    config = PipelineConfig.from_dict(TINY_CONFIG)
    analysis = site_analysis(site, [subspace(u) for u in range(site.n_units)], subspace(-1), ens, config)
    dims = config.tiling.n_dims
    assert analysis.response_regions.ndim == 1 + dims and len(analysis.tiling_bin_edges) == dims
    np.testing.assert_array_equal(analysis.filters, basis[:dims])


def test_a_site_built_by_hand_is_checked_when_it_is_built(run):
    """Arrays given as lists are taken; a bin size, an empty sound or NaN counts are refused
    naming the site or the sound, before any fitting."""
    from ndx_encoding_subspace.data.site import SiteData, Sound
    from ndx_encoding_subspace.io import read_site

    _, recording, _, _ = run
    site = read_site(recording)
    first = site.sounds[0]
    listed = Sound(first.name, first.spectrogram.tolist(), first.counts.tolist())
    np.testing.assert_array_equal(listed.counts, first.counts)
    for size in (0, -0.01, float("nan"), "0.01", True):
        with pytest.raises(InvalidDataError, match=f"site {site.name!r}: bin_size must be a positive number"):
            SiteData(site.name, site.sounds, site.frequencies, size, site.units, site.estimation,
                     site.validation)
    with pytest.raises(InvalidDataError, match="sound 'x': no presentation"):
        Sound("x", first.spectrogram, first.counts[:0])
    with pytest.raises(InvalidDataError, match="sound 'x': no time bin"):
        Sound("x", first.spectrogram[:0], first.counts[:, :0])
    bad = first.counts.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidDataError, match="sound 'x': counts hold NaN"):
        Sound("x", first.spectrogram, bad)


def test_a_summary_says_when_the_cnn_predicts_too_little_to_read_its_subspaces():
    from ndx_encoding_subspace.pipeline.run import WEAK_CNN_R, format_summary

    def summary(r_cnn: float) -> dict:
        scores = {"r_median": r_cnn, "ccnorm_median": r_cnn, "ccnorm_mean": r_cnn, "n_r": 4, "n_ccnorm": 4}
        return {"units": 4, "scores": {"cnn": scores, "subspace_nonlinearity": dict(scores)},
                "ss_cnn_r2_ratio_median": 7.4, "ss_cnn_r2_ratio_n": 4, "k": {"values": [1, 2, 2, 3]}}

    weak, fine = format_summary(summary(0.006)), format_summary(summary(0.6))
    assert f"the CNN predicts little here (median r 0.006 < {WEAK_CNN_R:g})" in weak
    assert "predicts little" not in fine and "over the 4 units with r_CNN > 0" in fine


def test_a_slow_new_sound_is_made_by_the_rule_its_file_was_made_by(run):
    """Channels above a new sound's Nyquist frequency are silent, as the reader now makes a
    site's own; a file made before (no ``spectrogram_rule`` in its provenance) keeps the
    filters' skirts there, as its models were trained on."""
    import warnings

    from ndx_encoding_subspace.data.spectrogram import (
        SpectrogramParams,
        filterbank_frequencies,
        scale_channels,
    )
    from ndx_encoding_subspace.results.new_sounds import site_spectrogram

    site, _, _, loaded = run
    assert loaded.provenance["spectrogram_rule"] == "above-nyquist-silent"
    params = SpectrogramParams.from_dict(loaded.provenance["spectrogram_parameters"])
    rate = params.max_frequency  # Nyquist at half the top channel
    wave = np.random.default_rng(0).uniform(-0.5, 0.5, int(rate))
    above = filterbank_frequencies(params) > rate / 2
    scale = loaded.provenance["spectrogram_scale"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        now = loaded.spectrogram_of(wave, rate)
        before = site_spectrogram({k: v for k, v in loaded.provenance.items() if k != "spectrogram_rule"},
                                  wave, rate, "new sound", loaded.path)
    silent = scale_channels(np.zeros((1, above.size), np.float32), np.asarray(scale["min"]),
                            np.asarray(scale["max"]))
    np.testing.assert_allclose(now[:, above], np.broadcast_to(silent[:, above], now[:, above].shape))
    assert not np.allclose(before[:, above], now[:, above])
    np.testing.assert_allclose(before[:, ~above], now[:, ~above])


def test_a_site_built_by_hand_at_its_own_bin_size_is_written(run, tmp_path):
    """``run_site(site=...)`` with a site binned otherwise than the configuration's
    spectrogram (50 ms against 10 ms): the results record the site's own bins and channels,
    instead of the whole fit being refused at writing."""
    import dataclasses

    from ndx_encoding_subspace.data.site import SiteData, Sound
    from ndx_encoding_subspace.io import read_site

    _, recording, _, _ = run
    site = read_site(recording)
    coarse = [Sound(s.name, s.spectrogram[: len(s.spectrogram) // 5 * 5:5],
                    s.counts[:, : s.counts.shape[1] // 5 * 5].reshape(len(s.counts), -1, 5, s.counts.shape[2])
                    .sum(axis=2)) for s in site.sounds]
    source = {k: v for k, v in site.source.items() if k != "spectrogram"}
    coarse_site = SiteData(site.name, tuple(coarse), site.frequencies, 0.05, site.units, site.estimation,
                           site.validation, source=source)
    result = run_site(recording, tmp_path, PipelineConfig.from_dict(TINY_CONFIG), progress=False,
                      site=coarse_site)
    loaded = load_results(result.path)
    assert loaded.spectrogram.bin_size == pytest.approx(0.05)
    assert loaded.provenance["spectrogram_parameters"]["bin_size"] == pytest.approx(0.05)
    assert loaded.provenance["spectrogram_parameters"]["n_channels"] == site.n_frequencies
    assert dataclasses.is_dataclass(loaded.subspaces[0])


def test_the_above_nyquist_note_counts_channels_not_the_top_frequency():
    """One channel centred at 2 kHz and a sound sampled at 16 kHz: no channel lies above
    8 kHz, so nothing is said, though ``max_frequency`` (20 kHz) does."""
    from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
    from ndx_encoding_subspace.io.samples import above_nyquist_note, channels_above_nyquist

    one = SpectrogramParams(n_channels=1)
    assert channels_above_nyquist(16000.0, one) == 0
    assert channels_above_nyquist(1000.0, one) == 1
    full = SpectrogramParams()
    assert 0 < channels_above_nyquist(16000.0, full) < full.n_channels
    assert "their 0 spectrogram" not in above_nyquist_note(["s"], 16000.0, full)


def test_a_unit_is_asked_by_its_position_and_a_share_of_variance_is_a_fraction(run):
    _, _, _, loaded = run
    assert loaded.subspace(np.int64(0)).unit_position == 0
    with pytest.raises(TypeError, match="by its position at the site \\(an integer\\), got '0'"):
        loaded.subspace("0")
    with pytest.raises(TypeError, match="an integer"):
        loaded.nonlinearity(0.0)
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(loaded.path), "r") as io:
        table = io.read().processing["encoding_subspace"]["tuning_subspaces"]
        assert table.get_k_at(0, 1.0) >= table.get_k_at(0, 0.9) >= 1
        for share in (1.5, 0.0, -0.2):
            with pytest.raises(ValueError, match="share must be a fraction of the variance in \\(0, 1\\]"):
                table.get_k_at(0, share)


def test_the_package_version_recorded_is_that_of_the_code_that_ran(monkeypatch):
    """Not the environment's metadata: an editable install keeps the version it was
    installed at, and a source tree on PYTHONPATH may sit beside another installed one."""
    import ndx_encoding_subspace
    from ndx_encoding_subspace.fitting.record import versions
    from ndx_encoding_subspace.results import package_versions

    monkeypatch.setattr(ndx_encoding_subspace, "__version__", "9.9.9")
    assert package_versions()["ndx-encoding-subspace"] == "9.9.9"
    # and each model's training record (EncodingModel.package_versions) says the same
    assert versions()["ndx-encoding-subspace"] == "9.9.9"


def test_the_above_nyquist_note_of_a_fitted_site_says_what_it_costs():
    """Of sounds a site's models are fitted on, the note says that the silent channels'
    weights are fitted to nothing and still enter the dSTRFs; of a new sound it does not."""
    from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
    from ndx_encoding_subspace.io.samples import above_nyquist_note

    params = SpectrogramParams()
    fitted = above_nyquist_note(["s"], 16000.0, params, fitted=True)
    assert "fitted to no data, yet its dSTRFs and subspaces take them in; lower " \
           "--spectrogram.max_frequency to 8000" in fitted
    assert "fitted to no data" not in above_nyquist_note(["s"], 16000.0, params)


def test_the_above_nyquist_note_says_fitted_to_no_data_only_where_no_sound_fills_the_channels():
    """One slow sound among full-band ones: the others' samples fit the top channels."""
    from pynwb.testing.mock.base import mock_TimeSeries

    from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
    from ndx_encoding_subspace.io.inventory import Presentation, SoundSeries
    from ndx_encoding_subspace.io.reader_params import ReaderParams
    from ndx_encoding_subspace.io.samples import read_spectrograms

    def notes(rates):
        rng, out = np.random.default_rng(0), []
        for i, rate in enumerate(rates):
            n = int(rate * 0.3)
            data = mock_TimeSeries(name=f"s{i}", data=rng.normal(size=n), rate=rate, unit="Pa")
            series = SoundSeries(f"s{i}", f"/stimulus/templates/s{i}", "TimeSeries", "template", rate, 0.0,
                                 n, 1, series=data)
            out.append(Presentation(f"s{i}", 0.0, 0.3, i, series, 0, n))
        return " ".join(read_spectrograms(out, ReaderParams(), SpectrogramParams(), "site.nwb")[1])

    some = notes([48000.0, 48000.0, 16000.0])
    assert "above 8000 Hz" in some and "fitted to no data" not in some
    every = notes([20000.0, 16000.0, 16000.0])  # 8-10 kHz filled by the 20 kHz sound
    assert "sampled at 20000 Hz" in every and every.count("fitted to no data") == 1
    assert "above 10000 Hz (of 32, up to spectrogram.max_frequency = 20000 Hz) hold no power: a model's" \
        in every
