"""Results written into NWB and loaded back: values, models, provenance, validity."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from pynwb.file import Subject

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
from ndx_encoding_subspace.errors import ResultsError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.models import LNPopulation, MemberAverage, PopulationCNN, SubspaceNetwork
from ndx_encoding_subspace.results import (
    MODULE,
    ModelResult,
    SiteAnalysis,
    SiteResults,
    UnitNonlinearity,
    UnitSubspace,
    load_results,
    write_results,
)
from ndx_encoding_subspace.testing.files import mock_site

pytestmark = pytest.mark.filterwarnings(
    "ignore:The linked table for DynamicTableRegion:UserWarning"
)

N_LAGS = 6


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return module


def _fit_log(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    loss = np.sort(rng.uniform(0.2, 1.0, n))[::-1]
    stop = loss + 0.05
    stop[n // 2:] = np.nan  # stage 2 has no early-stopping data
    return {"epoch": np.r_[np.arange(n // 2), np.arange(n - n // 2)],
            "stage": np.r_[np.ones(n // 2), 2 * np.ones(n - n // 2)].astype(int),
            "training_loss": loss, "early_stopping_loss": stop}


def make_results(site, seed: int = 0, n_members: int = 2, max_k: int = 3) -> SiteResults:
    """SiteResults of small random models and arrays for ``site`` (unit ``u`` of
    ``1 + u % max_k`` dimensions)."""
    rng = np.random.default_rng(seed)
    n_units, n_freq = site.n_units, site.n_frequencies
    every = np.arange(n_units)
    common = {"estimation_sounds": site.estimation[:-1], "early_stopping_sounds":
              site.estimation[-1:], "validation_sounds": site.validation,
              "package_versions": {"torch": torch.__version__}}
    models = []
    for j in range(n_members):
        cnn = _randomise(PopulationCNN(n_freq, n_units, mix_channels=6, fir_taps=3,
                                       hidden=(5, 4)), seed + j)
        models.append(ModelResult(
            name=f"cnn_jk{j}_init1", role="cnn", module=cnn, unit_positions=every,
            fit_log=_fit_log(8, rng), scores={"r": rng.uniform(0, 1, n_units),
                                              "ccnorm": rng.uniform(0, 1, n_units)},
            seed=100 + j, jackknife_index=j, init_index=1,
            training_parameters={"learning_rate": [1e-3, 1e-4], "batch": {"size": 8}},
            **common))
    models.append(ModelResult(
        name="ln", role="ln", module=_randomise(LNPopulation(n_freq, n_units, channels=5,
                                                             taps=4), seed + 9),
        unit_positions=every, scores={"r": rng.uniform(0, 1, n_units)}, seed=7, **common))
    subspaces, nonlin = [], []
    for u in range(n_units):
        k = 1 + u % max_k
        name = f"unit_{u}"
        if u % 2:  # the average of two fits, with a training log per member
            module = MemberAverage([_randomise(SubspaceNetwork(k, hidden=(3, 3)), seed + 20 + u + i)
                                    for i in range(2)])
            logs = [_fit_log(6, rng), _fit_log(4, rng)]
            log = {key: np.concatenate([g[key] for g in logs]) for key in logs[0]}
            log["member"] = np.repeat([0, 1], [6, 4])
        else:
            module, log = _randomise(SubspaceNetwork(k, hidden=(3, 3)), seed + 20 + u), {}
        models.append(ModelResult(
            name=name, role="subspace_nonlinearity", module=module, fit_log=log,
            unit_positions=[u], scores={"r": rng.uniform(0, 1, 1)}, n_lags=N_LAGS, **common))
        ev = np.sort(rng.dirichlet(np.ones(5)))[::-1]
        subspaces.append(UnitSubspace(
            unit_position=u, filters=rng.normal(size=(k, n_freq, N_LAGS)),
            explained_variance=ev, noise_floor_variance=np.full(5, 0.2), threshold=0.95,
            mean_dstrf=rng.normal(size=(n_freq, N_LAGS)), n_samples=50 + u, n_outliers=u,
            k90=k, k95=k + 1, k_significant=None if u == 0 else k + 2,
            reliability=[0.8, 0.25, np.nan][u % 3],
            reliability_rule=["members", "split_halves", "unknown"][u % 3],
            dimension_confidence=None if u == 2 else rng.uniform(0, 1, 5)))
        pairs = np.array([[0, j] for j in range(1, k)], dtype=np.int32).reshape(-1, 2)
        count = rng.integers(0, 6, size=(len(pairs), 4, 4))
        nonlin.append(UnitNonlinearity(
            unit_position=u, model_name=name, dimension_sign=np.where(rng.random(k) < .5, -1, 1),
            asymmetry_index=rng.uniform(-1, 1, k),
            tuning={"bin_edges": np.tile(np.linspace(-1, 1, 6), (k, 1)),
                    "mean": rng.normal(size=(k, 5)), "sem": rng.uniform(0, .1, (k, 5)),
                    "count": rng.integers(2, 9, (k, 5))},
            ssrf={"bin_edges": np.tile(np.linspace(-1, 1, 5), (k, 1)), "pairs": pairs,
                  "mean": np.where(count >= 2, rng.normal(size=count.shape), np.nan),
                  "count": count}))
    sim = rng.uniform(0, 1, (n_units, n_units))
    site_analysis = SiteAnalysis(
        filters=rng.normal(size=(3, n_freq, N_LAGS)), explained_variance=np.array([.5, .3, .1]),
        response_region_size=rng.uniform(0, .2, n_units), region_overlap=sim / 2,
        subspace_similarity=(sim + sim.T) / 2,
        response_regions=rng.random((n_units, 4, 4, 4)) < 0.3,
        tiling_bin_edges=np.tile(np.linspace(-1, 1, 5), (3, 1)),
        similarity_measure="mean squared cosine of the principal angles",
        parameters={"grid_size": 4})
    return SiteResults(
        site=site, models=models, subspaces=subspaces, nonlinearities=nonlin,
        site_subspace=site_analysis, subspace_parameters={"threshold": 0.95},
        ssrf_parameters={"n_bins_2d": 4}, ssrf_min_count=2,
        provenance={"parameters": {"training": {"seed": seed, "jackknife": 8},
                                   "odd/key~": [{"a": 1}, {}], "empty": {}},
                    "seeds": [100, 101]})


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    """(input path, its bytes, SiteResults, results path)."""
    folder = tmp_path_factory.mktemp("results")
    mock = mock_site(n_units=3, n_sounds=3, duration=0.25, seed=3)
    mock.nwbfile.subject = Subject(subject_id="ferret-1", species="http://purl.obolibrary.org/obo/NCBITaxon_9669",
                                   sex="F", age="P1Y")
    mock.nwbfile.units.resolution = 1 / 30000
    source = mock.write(folder / "in.nwb")
    before = source.read_bytes()
    site = read_site(source, spectrogram=SpectrogramParams(n_channels=6))
    results = make_results(site)
    out = write_results(results, folder / "out.nwb", source=source)
    return source, before, results, out


@pytest.fixture(scope="module")
def loaded(written):
    return load_results(written[3])


def test_input_untouched_and_no_temporary_left(written) -> None:
    source, before, _, out = written
    assert source.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["in.nwb", "out.nwb"]


@pytest.mark.parametrize("container,expected", [("population_cnn", 2), ("ln_baseline", 1),
                                                ("subspace_models", 3)])
def test_loaded_models_predict_like_the_originals(written, loaded, container, expected) -> None:
    results = written[2]
    originals = results.models_of(container)
    members = loaded.ensemble(container).members
    assert [m.name for m in members] == [m.name for m in originals] and len(members) == expected
    rng = np.random.default_rng(1)
    for got, ref in zip(members, originals):
        n_in = ref.module.n_inputs
        stim = rng.uniform(0, 1, size=(2, 40, n_in)).astype(np.float32)
        with torch.no_grad():
            want = ref.module(torch.as_tensor(stim)).numpy()
        np.testing.assert_allclose(got.predict(stim), want, atol=1e-6, rtol=0)
        np.testing.assert_allclose(got.predict(stim[0]), want[0], atol=1e-6, rtol=0)
        assert type(got.module) is not type(ref.module) or container != "population_cnn"
        assert isinstance(got.module, MemberAverage) == isinstance(ref.module, MemberAverage)
        np.testing.assert_array_equal(got.unit_positions, ref.unit_positions)
        for key, value in ref.scores.items():
            np.testing.assert_array_equal(got.scores[key], value)
        assert (got.seed, got.jackknife_index, got.init_index) == \
               (ref.seed, ref.jackknife_index, ref.init_index)
        assert got.estimation_sounds == tuple(ref.estimation_sounds)
        assert got.validation_sounds == tuple(ref.validation_sounds)
        assert got.training_parameters == ref.training_parameters
        assert got.package_versions == ref.package_versions
        for key, value in ref.fit_log.items():
            np.testing.assert_array_equal(got.fit_log[key], value)


def test_ensemble_prediction_is_the_members_mean(written, loaded) -> None:
    stim = np.random.default_rng(2).uniform(0, 1, (30, 6)).astype(np.float32)
    cnn = loaded.ensemble("population_cnn")
    assert loaded.ensemble("cnn") is cnn
    with torch.no_grad():
        want = np.mean([m.module(torch.as_tensor(stim[None])).numpy()[0]
                        for m in written[2].models_of("population_cnn")], axis=0)
    np.testing.assert_allclose(cnn.predict(stim), want, atol=1e-6, rtol=0)
    with pytest.raises(ResultsError, match="different units"):
        loaded.ensemble("subspace_models").predict(stim)
    with pytest.raises(ResultsError, match="no model collection 'nope'"):
        loaded.ensemble("nope")


def test_subspaces_nonlinearities_and_site_analysis_come_back(written, loaded) -> None:
    results = written[2]
    for ref, got in zip(results.subspaces, loaded.subspaces, strict=True):
        for field in ("filters", "explained_variance", "noise_floor_variance", "mean_dstrf"):
            np.testing.assert_allclose(getattr(got, field), getattr(ref, field), rtol=1e-6)
        assert (got.unit_position, got.k, got.k90, got.k95, got.n_samples, got.n_outliers) \
            == (ref.unit_position, ref.k, ref.k90, ref.k95, ref.n_samples, ref.n_outliers)
        # reliability, its rule, the dimensions' confidence and k above the noise floor
        assert got.k_significant == ref.significant_count()
        assert got.reliability_rule == ref.reliability_rule
        np.testing.assert_array_equal(got.reliability, ref.reliability)
        np.testing.assert_array_equal(got.dimension_confidence, ref.confidence())
    # not given: counted from the variances and the floor (0.2); not measured: NaN
    first = results.subspaces[0]
    above = first.explained_variance > 0.2
    assert loaded.subspaces[0].k_significant == (5 if above.all() else int(np.argmin(above)))
    assert np.isnan(loaded.subspaces[2].dimension_confidence).all()
    assert np.isnan(loaded.subspaces[2].reliability)
    for ref, got in zip(results.nonlinearities, loaded.nonlinearities, strict=True):
        assert got.model_name == ref.model_name and got.unit_position == ref.unit_position
        np.testing.assert_array_equal(got.dimension_sign, ref.dimension_sign)
        for key in ref.tuning:
            np.testing.assert_array_equal(got.tuning[key], ref.tuning[key])
        for key in ref.ssrf:
            np.testing.assert_array_equal(got.ssrf[key], ref.ssrf[key])
    unit2 = loaded.nonlinearity(2)
    mean, count = unit2.ssrf_map(2, 0)
    np.testing.assert_array_equal(mean, results.nonlinearities[2].ssrf["mean"][1].T)
    ref, got = results.site_subspace, loaded.site_subspace
    for field in ("subspace_similarity", "region_overlap", "response_regions",
                  "tiling_bin_edges", "response_region_size"):
        np.testing.assert_array_equal(getattr(got, field), getattr(ref, field))
    np.testing.assert_array_equal(got.unit_positions, [0, 1, 2])
    assert got.similarity_measure == ref.similarity_measure and got.parameters == {"grid_size": 4}
    assert loaded.parameters == {"subspace": {"threshold": 0.95},
                                 "ssrf": {"n_bins_2d": 4, "min_count": 2}}
    r = loaded.unit_scores("r")
    np.testing.assert_array_equal(r["subspace_models"],
                                  [m.scores["r"][0] for m in results.models_of("subspace_models")])
    cnn = results.models_of("population_cnn")
    np.testing.assert_allclose(r["population_cnn"], (cnn[0].scores["r"] + cnn[1].scores["r"]) / 2)


def test_units_spectrogram_and_provenance(written, loaded) -> None:
    source, _, results, _ = written
    site = results.site
    site_mock = mock_site(n_units=3, n_sounds=3, duration=0.25, seed=3)
    np.testing.assert_array_equal(loaded.units["id"], site.units.ids)
    for got, want in zip(loaded.units["spike_times"], site_mock.spikes, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded.units["depth_um"], [100.0, 200.0, 300.0])
    assert loaded.units["waveform_mean"].shape == (3, 60)
    for sound in site.sounds:
        np.testing.assert_array_equal(loaded.spectrogram.sound(sound.name), sound.spectrogram)
    assert len(loaded.spectrogram.split("validation")) == len(site.validation)
    np.testing.assert_array_equal(loaded.spectrogram.frequencies, site.frequencies)
    prov = loaded.provenance
    assert prov["parameters"] == {"training": {"seed": 0, "jackknife": 8},
                                  "odd/key~": [{"a": 1}, {}], "empty": {}}
    assert prov["seeds"] == [100, 101]
    assert prov["input_file"]["sha256"] == site.source["sha256"]
    assert prov["input"]["path"] == str(source.resolve())
    assert prov["spectrogram_parameters"]["n_channels"] == 6
    assert prov["package_versions"]["torch"] == torch.__version__


def test_file_validates_and_inspects_clean(written) -> None:
    from pynwb import validate

    out = written[3]
    errors = validate(path=str(out))
    assert errors == [] or errors == ([], 0), errors
    assert _inspect(out) == []


def test_fresh_process_reads_without_the_package(written) -> None:
    code = textwrap.dedent(f"""
        import sys
        from pynwb import NWBHDF5IO
        with NWBHDF5IO({str(written[3])!r}, "r", load_namespaces=True) as io:
            f = io.read()
            m = f.processing["{MODULE}"]
            print(type(m["population_cnn"]["cnn_jk1_init1"]).__name__)
            print(type(m["tuning_subspaces"]).__name__, m["tuning_subspaces"]["k95"].data[:].tolist())
            print(m["subspace_nonlinearities"]["ssrf_mean"][2].shape)
            print(len(f.units), m["provenance"]["key"].data[0])
        assert not any(k.startswith("ndx_encoding_subspace") for k in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=written[3].parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [
        "EncodingModel", "TuningSubspaceTable [2, 3, 4]", "(2, 4, 4)",
        "3 /parameters/training/seed"]


def test_tampered_architecture_is_refused(written, tmp_path: Path) -> None:
    copy = tmp_path / "tampered.nwb"
    copy.write_bytes(written[3].read_bytes())
    where = f"processing/{MODULE}/ln_baseline/ln/architecture"
    with h5py.File(copy, "r+") as f:
        doc = json.loads(f[where][()])
        doc["core"][1]["kind"] = "python_eval"
        del f[where]
        f.create_dataset(where, data=json.dumps(doc), dtype=h5py.string_dtype())
    with pytest.raises(ResultsError, match=r"tampered\.nwb.*ln_baseline/ln.*unknown layer kind "
                                           r"'python_eval'"):
        load_results(copy)


def _inspect(path: Path) -> list[str]:
    from nwbinspector import Importance, inspect_nwbfile

    return [f"{m.check_function_name} {m.location}: {m.message}"
            for m in inspect_nwbfile(nwbfile_path=str(path))
            if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION,
                                Importance.ERROR)]


def test_a_site_of_one_dimension_everywhere_has_no_maps_and_inspects_clean(written) -> None:
    """Where no unit has two dimensions there is no SSRF map: the map columns are left out
    (empty ones stop nwbinspector's checks, and with them ``dandi validate``) and every
    unit reads back with no map."""
    results = make_results(written[2].site, max_k=1)
    out = written[3].parent / "one_dimension.nwb"
    write_results(results, out)
    with h5py.File(out, "r") as f:
        table = f[f"processing/{MODULE}/subspace_nonlinearities"]
        assert "ssrf_pairs" not in table and "ssrf_bin_edges" in table
    from pynwb import validate

    errors = validate(path=str(out))
    assert errors == [] or errors == ([], 0), errors
    assert _inspect(out) == []
    for got in load_results(out).nonlinearities:
        assert got.ssrf["pairs"].shape == (0, 2) and got.ssrf["mean"].shape == (0, 4, 4)
        assert got.ssrf["count"].shape == (0, 4, 4) and got.ssrf["bin_edges"].shape == (1, 5)


def test_without_source_units_carry_metadata_only(written) -> None:
    """Without a source the units have no spike times and the session start is the write
    time; subject and session fields can be given as metadata."""
    results = written[2]
    out = written[3].parent / "no_source.nwb"
    write_results(results, out)  # the site's own local source is found and used
    assert len(load_results(out).units["spike_times"]) == 3
    out.unlink()
    site = dataclasses.replace(results.site, source={
        k: v for k, v in results.site.source.items() if k != "path"})
    results = dataclasses.replace(results, site=site)
    with pytest.warns(UserWarning, match="no subject"), \
            pytest.warns(UserWarning, match="no input file to copy the units' spike times.*source="):
        write_results(results, out)
    out.unlink()
    ferret = "http://purl.obolibrary.org/obo/NCBITaxon_9669"
    write_results(results, out, metadata={
        "subject": {"subject_id": "f1", "species": ferret, "sex": "U", "age": "P1Y"},
        "experimenter": ["Doe, Jane"]})
    assert [m.split()[0] for m in _inspect(out)] == ["check_units_table_has_spikes"]
    got = load_results(out)
    assert "spike_times" not in got.units
    np.testing.assert_array_equal(got.units["source_row"], results.site.units.rows)
    assert got.provenance["input"]["sha256"] == results.site.source["sha256"]
    assert "input_file" not in got.provenance
    out.unlink()


def test_refuses_to_overwrite_or_to_write_over_the_input(written) -> None:
    source, before, results, out = written
    with pytest.raises(ResultsError, match="output file exists"):
        write_results(results, out, source=source)
    with pytest.raises(ResultsError, match="over the input"):
        write_results(results, source, source=source, overwrite=True)
    assert source.read_bytes() == before


def test_unknown_layer_cannot_be_written(written, tmp_path: Path) -> None:
    results = written[2]
    bad = ModelResult(name="mine", role="custom", module=torch.nn.Linear(2, 2),
                      unit_positions=[0, 1])
    results_bad = SiteResults(site=results.site, models=[bad])
    with pytest.raises(ResultsError, match="model 'mine' \\(custom\\)"):
        write_results(results_bad, tmp_path / "x.nwb")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change,match", [
    ({"reliability_rule": "guess"}, "unknown reliability rule 'guess'"),
    ({"reliability": 1.5}, "reliability 1.5 outside"),
    ({"dimension_confidence": np.full(5, 2.0)}, "must lie in \\[0, 1\\]"),
    ({"dimension_confidence": np.zeros(3)}, "3 dimension confidences for 5 components"),
])
def test_bad_reliability_cannot_be_written(written, tmp_path: Path, change, match) -> None:
    results = written[2]
    bad = SiteResults(site=results.site,
                      subspaces=[dataclasses.replace(results.subspaces[0], **change)])
    with pytest.raises(ResultsError, match=match):
        write_results(bad, tmp_path / "x.nwb")
    assert list(tmp_path.iterdir()) == []


def test_training_log_epochs_count_within_their_stage():
    from types import SimpleNamespace

    from ndx_encoding_subspace.pipeline.assemble import _fit_log

    record = SimpleNamespace(train_loss=[5.0, 4.0, 3.0, 2.9, 2.8], val_loss=[6.0, 5.0, 4.0, None, None],
                             stage=["stage1"] * 3 + ["stage2"] * 2)
    log = _fit_log(record, record)
    np.testing.assert_array_equal(log["epoch"], [0, 1, 2, 0, 1] * 2)
    np.testing.assert_array_equal(log["stage"], [1, 1, 1, 2, 2] * 2)
    np.testing.assert_array_equal(log["member"], [0] * 5 + [1] * 5)
