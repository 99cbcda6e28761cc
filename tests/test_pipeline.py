"""One site end to end: recording NWB in, results NWB out; reruns resume; input untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from pynwb import NWBHDF5IO

from conftest import TINY_CONFIG
from ndx_encoding_subspace.compute import flushed_subnormals
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.run import run_site
from ndx_encoding_subspace.results import load_results
from ndx_encoding_subspace.subspace.projection import project

TINY = TINY_CONFIG


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    params = SimulationParams.quick(n_units=3, n_estimation_sounds=8, n_validation_sounds=2,
                                    validation_repeats=4, n_lags=8, max_dim=3, seed=3)
    path = tmp_path_factory.mktemp("rec") / "site.nwb"
    return simulate_site(params).write_nwb(path)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def _tables_named(container, name: str) -> list:
    found = []
    for child in container.all_children():
        if getattr(child, "name", None) == name and hasattr(child, "description"):
            found.append(child)
    return found


def test_run_site_writes_loadable_results_and_resumes(recording, tmp_path):
    before = _sha(recording)
    config = PipelineConfig.from_dict(TINY)
    out = tmp_path / "out"
    result = run_site(recording, out, config, progress=False)
    assert result.path.exists() and not result.resumed
    assert _sha(recording) == before  # the input is never modified
    assert not list(out.glob(".*tmp*"))  # no partial files left behind

    loaded = load_results(result.path)
    roles = {m.role for m in loaded.models}
    assert roles == {"cnn", "ln", "subspace_nonlinearity"}
    assert len([m for m in loaded.models if m.role == "cnn"]) == 2
    assert len(loaded.subspaces) == 3 and len(loaded.nonlinearities) == 3
    assert loaded.site_subspace is not None
    assert loaded.site_subspace.subspace_similarity.shape == (3, 3)
    assert loaded.provenance["config"]["training"]["max_epochs"] == 3
    read = loaded.provenance["input"]  # what was read, beside the identity the fingerprint hashes
    assert read["units"] == "units" and read["layout"] and read["split"] and "unit_properties" in read
    assert set(loaded.provenance["identity"]) <= set(read) and "units" not in loaded.provenance["identity"]
    assert set(result.summary["scores"]) == {"ln", "cnn", "subspace_nonlinearity"}
    with NWBHDF5IO(str(result.path), "r") as io:  # what plain pynwb shows of a member's scores
        said = [t.description for t in _tables_named(io.read().processing["encoding_subspace"], "scores")]
    assert any("of the ensemble this model is a member of" in d for d in said), said

    # a stored subspace model predicts from the stored filters' projections alone
    stim = loaded.spectrogram.split("validation")[0]
    sub = loaded.subspaces[0]
    model = next(m for m in loaded.models if m.role == "subspace_nonlinearity"
                 and int(m.unit_positions[0]) == sub.unit_position)
    y = model.predict(project(stim, sub.filters).astype(np.float32))
    assert y.shape == (len(stim), 1) and np.all(np.isfinite(y))
    # it says which sounds it was fitted on and which stopped it, as the ensembles' members do
    table = loaded.spectrogram.sounds
    estimation = [str(n) for n, split in zip(table["sound"], table["split"]) if split == "estimation"]
    fitted, stopped = list(model.estimation_sounds), list(model.early_stopping_sounds)
    assert fitted and stopped and fitted + stopped == estimation, (fitted, stopped)

    mtime = result.path.stat().st_mtime_ns
    again = run_site(recording, out, config, progress=False)
    assert again.resumed and again.path.stat().st_mtime_ns == mtime
    # a run killed after its results file was in place left its work folder and lock: the next removes them
    import subprocess
    import sys

    from ndx_encoding_subspace.atomic import _HOST
    from ndx_encoding_subspace.pipeline.workdir import work_folder

    kept = run_site(recording, tmp_path / "kept", config, progress=False, keep_workdir=True)
    work = work_folder(kept.path.parent, kept.site)
    lock = work.with_suffix(".lock")
    assert run_site(recording, tmp_path / "kept", config, progress=False).resumed
    assert list(work.rglob("*.pt"))  # kept on purpose (no lock): left alone
    stamp = (work / "fingerprint").read_text()
    (work / "fingerprint").write_text("0123456789abcdef")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{_HOST} {dead.pid} hb")  # a run that died
    assert run_site(recording, tmp_path / "kept", config, progress=False).resumed
    assert list(work.rglob("*.pt"))  # another run's checkpoints (another stamp): left alone
    (work / "fingerprint").write_text(stamp)  # this results file's run, killed after writing it
    assert run_site(recording, tmp_path / "kept", config, progress=False).resumed
    assert not work.exists() and not lock.exists()
    moved = tmp_path / "moved" / recording.name  # the same content elsewhere: the same input
    moved.parent.mkdir()
    moved.write_bytes(recording.read_bytes())
    assert run_site(moved, out, config, progress=False).resumed

    with pytest.raises(ConfigError, match=r"other parameters \(training\.max_epochs 3 \(asked: 4\)\)"):
        run_site(recording, out, config.replace(training={"max_epochs": 4}), progress=False)


def test_the_refusal_of_a_results_file_made_otherwise_says_what_differs():
    """From the file's provenance: the input's checksum and the parameters that change
    results (not threads, devices, nor parameters added since, at the value that ran)."""
    from types import SimpleNamespace

    from ndx_encoding_subspace.pipeline.run import _what_differs

    made = PipelineConfig(subspace={"variance_threshold": 0.95}, compute={"threads": 1}).to_dict()
    del made["scoring"]["signal_power"]  # written before it existed: "within_clips" ran
    loaded = SimpleNamespace(provenance={"config": made, "identity": {"sha256": "a" * 64}})
    asked = PipelineConfig(subspace={"variance_threshold": 0.9}, compute={"threads": 2},
                           training={"device": "cpu"}, scoring={"signal_power": "within_clips"})
    said = _what_differs(loaded, asked, {"sha256": "b" * 64})
    assert said == " (input sha256 aaaaaaaaaaaa... (this input: bbbbbbbbbbbb...); " \
                   "subspace.variance_threshold 0.95 (asked: 0.9))"
    assert _what_differs(SimpleNamespace(provenance={}), asked, {}) == ""
    assert _what_differs(SimpleNamespace(provenance={"config": {"bogus": {}}}), asked, {}) == ""


def test_results_of_a_release_that_kept_the_input_path_are_still_found(recording, tmp_path, monkeypatch):
    """Releases before 0.2.0 hashed the input's path and name with its content: their results
    are still found complete, not refused as made from another input."""
    from ndx_encoding_subspace.pipeline import run as run_module

    identity = run_module._identity
    monkeypatch.setattr(run_module, "_identity", lambda site, **kw: {
        **identity(site, **kw), "path": site.source["path"], "name": site.source["name"]})
    config = PipelineConfig.from_dict(TINY)
    first = run_site(recording, tmp_path, config, progress=False)
    assert "path" in load_results(first.path).provenance["identity"]
    monkeypatch.undo()
    assert run_site(recording, tmp_path, config, progress=False).resumed


@pytest.mark.slow
def test_real_run_trains_and_fits_subspaces_inside_the_thread_limit(recording, tmp_path, monkeypatch):
    from ndx_encoding_subspace.pipeline import stages as analysis

    threadpoolctl = pytest.importorskip("threadpoolctl")

    seen = []
    for name in ("fit_encoding_models", "tuning_subspaces", "subspace_models"):
        original = getattr(analysis, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            pools = [p["num_threads"] for p in threadpoolctl.threadpool_info()]
            seen.append((_name, torch.get_num_threads(), pools))
            return _original(*args, **kwargs)

        monkeypatch.setattr(analysis, name, spy)
    before = torch.get_num_threads()
    limit = 1 if before != 1 else 2
    config = PipelineConfig.from_dict({**TINY, "compute": {"threads": limit}})
    run_site(recording, tmp_path / "out", config, progress=False)
    assert [s[0] for s in seen] == ["fit_encoding_models", "tuning_subspaces", "subspace_models"]
    assert all(t == limit and all(p == limit for p in pools) for _, t, pools in seen), seen
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_a_run_killed_after_the_subspaces_resumes_without_recomputing_them(recording, tmp_path,
                                                                            monkeypatch):
    from ndx_encoding_subspace.pipeline import stages as analysis

    config = PipelineConfig.from_dict(TINY)
    out = tmp_path / "out"
    computed = []
    original = analysis.tuning_subspaces

    def spy(*args, **kwargs):
        computed.append(original(*args, **kwargs))
        return computed[-1]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(analysis, "tuning_subspaces", spy)
    monkeypatch.setattr(analysis, "subspace_models", killed)
    with pytest.raises(KeyboardInterrupt):
        run_site(recording, out, config, progress=False)
    assert len(computed) == 1 and list(out.glob(".*.work/subspaces.npz"))

    monkeypatch.undo()
    monkeypatch.setattr(analysis, "tuning_subspaces", killed)  # must not run again
    result = run_site(recording, out, config, progress=False)
    loaded = load_results(result.path)
    units, _ = computed[0]
    for want, got in zip(units, loaded.subspaces):
        with flushed_subnormals():  # cast as the run cast them (subnormal float32 values are zero)
            filters = want.filters.astype(got.filters.dtype)
            floor = want.noise_floor.astype(got.noise_floor_variance.dtype)
        np.testing.assert_array_equal(got.filters, filters)
        np.testing.assert_array_equal(got.noise_floor_variance, floor)
    assert not list(out.glob(".*.work"))  # the work folder goes once the results are written

    # other subspace parameters: the kept subspaces are not used
    monkeypatch.undo()
    monkeypatch.setattr(analysis, "tuning_subspaces", spy)
    run_site(recording, tmp_path / "other", config.replace(subspace={"noise_repeats": 3}),
             progress=False)
    assert len(computed) == 2


def test_fingerprint_stamp_is_written_atomically(recording, tmp_path, monkeypatch):
    # the stamp decides whether checkpoints are resumed: never a half-written one
    from ndx_encoding_subspace import atomic
    from ndx_encoding_subspace.pipeline import stages as analysis

    synced = []
    fsync = atomic.fsync_path
    monkeypatch.setattr(atomic, "fsync_path", lambda p, **kw: (synced.append(Path(p)), fsync(p, **kw)))

    config = PipelineConfig.from_dict(TINY)

    def stop(*args, workdir, provenance, **kwargs):
        from ndx_encoding_subspace.pipeline.run import TRAINING_SECTIONS, config_fingerprint

        stamp = workdir / "fingerprint"  # of the parameters the training checkpoints depend on
        assert stamp.read_text() == config_fingerprint(config, provenance["identity"], TRAINING_SECTIONS)
        assert stamp.read_text() != provenance["fingerprint"]
        assert [p.name for p in workdir.iterdir()] == ["fingerprint"]  # no temporary file left
        assert any(p.parent == workdir and p.name.endswith(".tmp") for p in synced)  # fsynced
        raise KeyboardInterrupt

    monkeypatch.setattr(analysis, "analyse_site", stop)
    with pytest.raises(KeyboardInterrupt):
        run_site(recording, tmp_path / "out", config, progress=False)
    (stamp,) = (tmp_path / "out").glob(".*.work/fingerprint")
    assert len(stamp.read_text()) > 0


def test_one_story_heard_once_beside_repeated_clips_is_analysed_to_the_end(tmp_path):
    """A sole estimation sound is cut by time for every fit: the ensembles' jackknifes and
    early stopping, and the subspace models (which say which pieces they fitted on)."""
    params = SimulationParams.quick(n_units=3, n_estimation_sounds=1, estimation_duration=8.0,
                                    n_validation_sounds=2, validation_repeats=4, n_lags=8, max_dim=2, seed=5)
    recording = simulate_site(params).write_nwb(tmp_path / "story.nwb")
    result = run_site(recording, tmp_path / "out", PipelineConfig.from_dict(TINY), progress=False)
    loaded = load_results(result.path)
    model = next(m for m in loaded.models if m.role == "subspace_nonlinearity")
    fitted, stopped = list(model.estimation_sounds), list(model.early_stopping_sounds)
    assert fitted and stopped and all("[" in name for name in fitted + stopped), (fitted, stopped)
    assert np.all(np.isfinite(model.scores["r"]))


def test_the_refusal_names_no_parameter_that_changes_memory_only():
    """dstrf.chunk_size (hashed at its default: memory, not results) is never what differs."""
    from types import SimpleNamespace

    from ndx_encoding_subspace.pipeline.run import _what_differs

    made = PipelineConfig(scoring={"n_shuffles": 20}).to_dict()
    asked = PipelineConfig(scoring={"n_shuffles": 21}, dstrf={"chunk_size": 64},
                           reader={"dandi_api_url": "https://api.example.org/api"})
    assert _what_differs(SimpleNamespace(provenance={"config": made}), asked, {}) == \
        " (scoring.n_shuffles 20 (asked: 21))"
