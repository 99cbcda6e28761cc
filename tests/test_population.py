"""One population across sites (``--population dataset``).

Three tiny simulated sites that heard the same sounds share one CNN and one LN fitted on
all their units; each site's results file holds that model cut to its own units, whose
predictions equal the population model's. Sites that heard other sounds are refused
before anything runs, a broken input among them is one recorded failure, and a rerun
finds everything done. The pieces underneath (joining sites, cutting a model to some
units, the reader's unit column and count smoothing) are checked against references.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import TINY_CONFIG
from ndx_encoding_subspace.data.population import join_sites, smooth_counts
from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.errors import ConfigError, InputError, SitesFailedError
from ndx_encoding_subspace.io import ReaderParams, read_site
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN, select_units
from ndx_encoding_subspace.pipeline.cluster import ClusterParams
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.dataset import RECORD, run_dataset
from ndx_encoding_subspace.pipeline.population import MODELS, load_population
from ndx_encoding_subspace.results import load_results
from ndx_encoding_subspace.results.roles import CNN, LN
from ndx_encoding_subspace.testing.files import mock_site, write_nwb

TINY = {**TINY_CONFIG, "compute": {"threads": 1}}
SERIAL = ClusterParams(kind="serial")
SITES = ("site_a", "site_b", "site_c")


def _simulate(path, seed: int, sound_seed: int = 11, n_units: int = 2):
    params = SimulationParams.quick(n_units=n_units, n_estimation_sounds=6, n_validation_sounds=2,
                                    validation_repeats=3, n_lags=8, max_dim=2, seed=seed,
                                    sound_seed=sound_seed)
    return simulate_site(params).write_nwb(path)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("same-sounds")
    for seed, name in enumerate(SITES):
        _simulate(folder / f"{name}.nwb", seed, n_units=2 + seed)
    return folder


@pytest.fixture(scope="module")
def config():
    return PipelineConfig.from_dict(TINY)


@pytest.fixture(scope="module")
def pooled(recordings, config, tmp_path_factory):
    """The three sites with one population, run one after another."""
    out = tmp_path_factory.mktemp("population")
    result = run_dataset([recordings], out, config, cluster=SERIAL, progress=False, population="dataset")
    assert result.exit_code == 0, result.format()
    return out, result


# --- the pieces -------------------------------------------------------------------------

def test_smoothing_equals_a_convolution():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (3, 40, 5)).astype(np.float32)
    for kernel in ((0.5, 1.0, 0.5), (1.0,), (0.2, 0.3, 0.5, 0.1), (1.0, 2.0)):
        got = smooth_counts(counts, kernel)
        centre = len(kernel) // 2
        want = np.zeros_like(counts)
        for r in range(3):
            for u in range(5):
                full = np.convolve(counts[r, :, u], kernel)  # full[t + k] = sum w[k] x[t]
                want[r, :, u] = full[centre:centre + 40]
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert got.dtype == counts.dtype
    assert smooth_counts(counts, ()) is counts


def _site(name: str, n_units: int, sounds: dict[str, np.ndarray], repeats: int = 2) -> SiteData:
    rng = np.random.default_rng(n_units)
    made = tuple(Sound(s, spec, rng.poisson(1.0, (repeats, len(spec), n_units)).astype(np.float32))
                 for s, spec in sounds.items())
    return SiteData(name, made, np.linspace(200, 20000, 4), 0.01, UnitInfo.from_ids(np.arange(n_units)),
                    estimation=("a", "b"), validation=("c",))


def test_join_sites_puts_units_side_by_side_and_refuses_other_sounds():
    rng = np.random.default_rng(1)
    sounds = {s: rng.random((30, 4)).astype(np.float32) for s in "abc"}
    one, two = _site("one", 2, sounds), _site("two", 3, sounds, repeats=3)
    joined = join_sites([one, two])
    assert joined.n_units == 5 and joined.units.ids.tolist() == [0, 1, 0, 1, 2]
    np.testing.assert_array_equal(joined.sound("a").psth[:, 2:], two.sound("a").psth)
    np.testing.assert_allclose(joined.sound("c").psth[:, :2], one.sound("c").psth)
    assert joined.source["averaged_sounds"] == ["a", "b", "c"]  # 2 and 3 presentations
    assert [e["first"] for e in joined.source["population"]] == [0, 2]

    other = dict(sounds, b=sounds["b"] + 0.1)
    with pytest.raises(ConfigError, match=r"'one' and 'three'.*sound 'b' has another spectrogram"):
        join_sites([one, _site("three", 1, other)])
    shorter = dict(sounds, c=sounds["c"][:20])
    with pytest.raises(ConfigError, match="sound 'c' has 30 bins at one and 20"):
        join_sites([one, _site("four", 1, shorter)])


@pytest.mark.parametrize("make", [lambda: PopulationCNN(12, 6, mix_channels=4, hidden=(4, 4)),
                                  lambda: LNPopulation(12, 6, channels=3)])
def test_a_model_cut_to_some_units_predicts_as_the_whole(make):
    torch.manual_seed(0)
    model = make()
    for p in model.output.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 40, 12)
    part = select_units(model, [4, 0, 2])
    assert part.n_units == part.output.n_units == 3 and part.core_layers[-1].n_out == 3
    with torch.no_grad():
        torch.testing.assert_close(part(x), model(x)[..., [4, 0, 2]], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="positions must lie in 0..5"):
        select_units(model, [6])
    with pytest.raises(ConfigError, match="no dense read-out"):
        select_units(torch.nn.Linear(3, 3), [0])


def test_reader_keeps_the_units_a_column_marks_and_smooths_counts(tmp_path):
    site = mock_site(n_units=4, seed=3)
    site.nwbfile.units.add_column("is_good", "curated as good", data=[True, False, True, False])
    path = write_nwb(site.nwbfile, tmp_path / "curated.nwb")
    every = read_site(path)
    kept = read_site(path, reader=ReaderParams(unit_column="is_good", response_kernel=(0.5, 1.0, 0.5)))
    assert kept.units.ids.tolist() == [int(every.units.ids[0]), int(every.units.ids[2])]
    for a, b in zip(every.sounds, kept.sounds):
        np.testing.assert_array_equal(b.counts, smooth_counts(a.counts[:, :, [0, 2]], (0.5, 1.0, 0.5)))
    assert any("2 units left out by reader.unit_column 'is_good'" in note
               for note in kept.source["units_notes"])
    with pytest.raises(InputError, match=r"curated.*no column 'good'.*is_good"):
        read_site(path, reader=ReaderParams(unit_column="good"))
    with pytest.raises(ConfigError, match="response_kernel"):
        ReaderParams(response_kernel=(float("nan"),))
    with pytest.raises(ConfigError, match="negative"):
        ReaderParams(response_kernel=(-0.5, 1.0, -0.5))


# --- a dataset with one population ---------------------------------------------------

def _predict(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.as_tensor(x)[None])[0].numpy()


def test_one_population_serves_every_site(recordings, pooled, config):
    out, result = pooled
    assert [s.status for s in result.sites] == ["done"] * 3
    assert result.population["units"] == 2 + 3 + 4 and result.population["sites"] == list(SITES)
    assert "one population: 9 units of 3 sites" in result.format()
    record = json.loads((out / RECORD).read_text())
    assert record["population"]["status"] == "done"
    models, sites = load_population(out / MODELS)
    assert set(models) == {CNN.name, LN.name}
    x = np.random.default_rng(0).random((50, 32)).astype(np.float32)
    for name in SITES:
        entry = next(e for e in sites.values() if e["site"] == name)
        loaded = load_results(out / f"{name}.results.nwb")
        assert len(loaded.units["id"]) == len(entry["unit_ids"])
        assert loaded.provenance["population"]["sites"] == list(SITES)
        cnn = [m for m in loaded.models if m.role == CNN.name]
        assert len(cnn) == len(models[CNN.name].members) == TINY["ensemble"]["n_jackknife"]
        span = slice(entry["first"], entry["first"] + len(entry["unit_ids"]))
        for stored, member in zip(cnn, models[CNN.name].members):
            np.testing.assert_allclose(_predict(stored.module, x), _predict(member, x)[:, span],
                                       rtol=1e-5, atol=1e-6)


def test_a_rerun_finds_the_population_and_the_sites_done(recordings, pooled, config):
    out, _ = pooled
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")}
    again = run_dataset([recordings], out, config, cluster=SERIAL, progress=False, population="dataset")
    assert [s.status for s in again.sites] == ["skipped"] * 3 and again.exit_code == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")} == mtimes
    # per-site populations change the results: they are not taken for the pooled ones, and
    # the run is refused before anything runs
    with pytest.raises(ConfigError, match="results of site_a were made with other parameters; "
                                          "pass --overwrite"):
        run_dataset([recordings / "site_a.nwb"], out, config, cluster=SERIAL, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")} == mtimes


def test_sites_that_heard_other_sounds_are_refused_before_anything_runs(recordings, config, tmp_path):
    other = _simulate(tmp_path / "site_z.nwb", seed=5, sound_seed=99)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"did not hear the same sounds.*--population site"):
        run_dataset([recordings / "site_a.nwb", other], out, config, cluster=SERIAL, progress=False,
                    population="dataset")
    assert not list(out.glob("*.results.nwb"))
    # no site left listed as pending, and no summary folder left empty
    assert not (out / "summary").exists() and sorted(p.name for p in out.iterdir()) == []
    record = out / "summary" / "sites.json"
    record.parent.mkdir()
    record.write_text('{"sites": []}\n')  # an earlier run's record is put back as it was
    with pytest.raises(ConfigError, match=r"did not hear the same sounds"):
        run_dataset([recordings / "site_a.nwb", other], out, config, cluster=SERIAL, progress=False,
                    population="dataset")
    assert record.read_text() == '{"sites": []}\n'
    with pytest.raises(ConfigError, match="population must be one of site, dataset"):
        run_dataset([other], out, config, cluster=SERIAL, progress=False, population="all")


def test_a_broken_input_is_left_out_of_the_population(recordings, config, tmp_path, capsys):
    from ndx_encoding_subspace.cli import main

    broken = tmp_path / "site_x.nwb"
    broken.write_bytes(b"this is no HDF5 file" * 50)
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    argv = ["run", str(recordings / "site_a.nwb"), str(recordings / "site_b.nwb"), str(broken),
            "--out", str(out), "--config", str(config_file), "--cluster.kind", "serial", "--no-progress",
            "--population", "dataset"]
    assert main(argv) == SitesFailedError.exit_code
    printed = capsys.readouterr()
    assert "site_x: failed (NotNWBError" in printed.err
    assert "one population: 5 units of 2 sites" in printed.out
    assert sorted(p.name for p in out.glob("*.results.nwb")) == ["site_a.results.nwb", "site_b.results.nwb"]
    # the broken input mended: its population would not be theirs; refused before any fit
    broken.unlink()
    _simulate(broken, seed=7)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")}
    assert main(argv) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "the results of site_a, site_b were made with a population of 2 sites (site_a, site_b), and " \
           "this run's population would hold 3; pass --overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")} == mtimes
    # sites of other sounds: one line, exit 2, nothing written
    other = _simulate(tmp_path / "site_z.nwb", seed=5, sound_seed=99)
    elsewhere = [*argv[:3], str(other), "--out", str(tmp_path / "other"), *argv[6:]]
    assert main(elsewhere) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "did not hear the same sounds" in err and "Traceback" not in err
    # another population in the same folder: refused naming the sites whose results it would replace
    assert main([*argv[:3], str(other), *argv[4:]]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "the results of site_a, site_b were made with another population of sites or other " in err


def test_a_site_that_cannot_be_analysed_is_left_out_of_the_population(recordings, config, tmp_path):
    from ndx_encoding_subspace.pipeline.population import fit_population

    once = tmp_path / "site_once.nwb"
    params = SimulationParams.quick(n_units=2, n_estimation_sounds=1, n_validation_sounds=2,
                                    estimation_duration=0.05, validation_repeats=3, n_lags=8, max_dim=2,
                                    seed=7, sound_seed=11)
    simulate_site(params).write_nwb(once)
    result = fit_population([str(recordings / "site_a.nwb"), str(once)], tmp_path / "out", config)
    assert list(result["failed"]) == [str(once)]
    assert "fewer than 2 dSTRF samples" in result["failed"][str(once)]["error"]
    assert result["units"] == 2 and [e["site"] for e in result["sites"].values()] == ["site_a"]


def test_a_population_fit_asked_to_stop_stops_as_ctrl_c_and_says_so_as_a_task(recordings, config, tmp_path):
    """The population's fit on a worker asks the run's stop as it trains (an interrupted
    dataset run sets it): it stops, writes no models, and as a task says why in its error."""
    from ndx_encoding_subspace.errors import Stopped
    from ndx_encoding_subspace.pipeline import population as module

    sources = [str(recordings / f"{name}.nwb") for name in SITES]
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2  # the first epochs train, then the run is interrupted

    with pytest.raises(Stopped, match="asked to stop while training"):
        module.fit_population(sources, tmp_path / "out", config, stop=stop)
    assert not (tmp_path / "out" / module.MODELS).exists()
    assert (tmp_path / "out" / ".population.work").is_dir()  # its checkpoints, for the rerun
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=None) as client:
        distributed.Event("stop-now", client=client).set()
        said = client.submit(module.fit_population_task, sources, str(tmp_path / "again"), config.to_dict(),
                             "stop-now", pure=False).result()
    assert said["error"]["error_type"] == "Stopped"
