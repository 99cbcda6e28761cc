"""Whole datasets: inputs expanded, sites on a local dask pool, failures recorded, reruns.

Three tiny simulated sites run once in this process (the reference) and once on a pool
of two worker processes, with a broken input among them; the pool's results equal the
reference's array for array, the broken input is one recorded failure, and a rerun
retries only that one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from conftest import TINY_CONFIG
from ndx_encoding_subspace.dataset.sites import read_site_record
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.errors import ConfigError, InputError, RemoteError, SitesFailedError
from ndx_encoding_subspace.io import ReaderParams
from ndx_encoding_subspace.pipeline.cluster import ClusterParams, PinGPUs, site_resources, slurm_cluster
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.dataset import RECORD, _outcome, _worker_config, run_dataset
from ndx_encoding_subspace.pipeline.distributed import SiteStatus
from ndx_encoding_subspace.pipeline.run import config_fingerprint
from ndx_encoding_subspace.pipeline.sources import expand_inputs
from ndx_encoding_subspace.results import results_path

distributed = pytest.importorskip("distributed")

TINY = {**TINY_CONFIG, "compute": {"threads": 1}}  # the same threads here and on the workers
SITES = ("site_a", "site_b", "site_c")


def _simulate(path, seed: int):
    params = SimulationParams.quick(n_units=2, n_estimation_sounds=6, n_validation_sounds=2,
                                    validation_repeats=3, n_lags=8, max_dim=2, seed=seed)
    return simulate_site(params).write_nwb(path, overwrite=True)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recordings")
    for seed, name in enumerate(SITES):
        _simulate(folder / f"{name}.nwb", seed)
    broken = tmp_path_factory.mktemp("broken") / "site_x.nwb"
    broken.write_bytes(b"this is no HDF5 file" * 50)
    return folder, broken


@pytest.fixture(scope="module")
def config():
    return PipelineConfig.from_dict(TINY)


@pytest.fixture(scope="module")
def reference(recordings, config, tmp_path_factory):
    """The three sites run one after another in this process."""
    out = tmp_path_factory.mktemp("serial")
    result = run_dataset([recordings[0]], out, config, cluster=ClusterParams(kind="serial"), progress=False)
    assert result.exit_code == 0, result.format()
    return out


def _arrays(path) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}

    def keep(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub":
            found[name] = obj[()]

    with h5py.File(path, "r") as f:
        f["processing/encoding_subspace"].visititems(keep)
    return found


def _assert_same_results(a, b) -> None:
    first, second = _arrays(a), _arrays(b)
    assert first.keys() == second.keys()
    assert any("/parameters/" in k for k in first) and any("/scores/" in k for k in first)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


# --- a dataset on a local pool ------------------------------------------------------

@pytest.mark.slow
def test_pool_equals_serial_and_failures_stay_local(recordings, reference, config, tmp_path):
    folder, broken = recordings
    out = tmp_path / "out"
    lines: list[SiteStatus] = []
    pool = ClusterParams(kind="local", workers=2)
    inputs = [str(folder / "site_a.nwb"), str(broken), str(folder / "*.nwb")]  # site_a named twice
    result = run_dataset(inputs, out, config, cluster=pool, progress=True, on_site=lines.append)

    states = {s.site: s for s in result.sites}
    assert list(states) == ["site_a", "site_x", "site_b", "site_c"]
    assert [states[s].status for s in SITES] == ["done"] * 3
    failed = states["site_x"]
    assert failed.status == "failed" and failed.error_type == "NotNWBError"
    assert failed.exit_code == 3 and "site_x.nwb" in failed.error
    assert result.exit_code == SitesFailedError.exit_code == 9
    assert sorted(p.name for p in out.glob("*.results.nwb")) == [f"{s}.results.nwb" for s in SITES]
    for name in SITES:
        _assert_same_results(out / f"{name}.results.nwb", reference / f"{name}.results.nwb")
        assert states[name].device == "cpu" and states[name].worker.startswith("tcp://")
    assert {s.worker for s in result.sites if s.status == "done"} <= {s.worker for s in lines}
    assert {(s.site, s.status) for s in lines} >= {(s, "running") for s in SITES} | {("site_x", "failed")}

    record = json.loads((out / RECORD).read_text())
    assert [s["status"] for s in record["sites"]] == ["done", "failed", "done", "done"]
    assert record["counts"]["failed"] == 1
    first, failed_row = record["sites"][0], record["sites"][1]
    assert failed_row["error_type"] == "NotNWBError" and failed_row["exit_code"] == 3
    assert first["seconds"] > 0 and first["device"] == "cpu" and first["results"].endswith(".results.nwb")

    # a rerun retries only the failed site; the finished ones are skipped, unchanged
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")}
    again: list[SiteStatus] = []
    serial = ClusterParams(kind="serial")
    rerun = run_dataset(inputs, out, config, cluster=serial, progress=False, on_site=again.append)
    assert {s.site for s in again} == {"site_x"}
    assert [s.status for s in rerun.sites] == ["skipped", "failed", "skipped", "skipped"]
    assert rerun.sites[0].seconds == first["seconds"]  # how long it took, kept
    assert rerun.exit_code == 9
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")} == mtimes

    # once the input is repaired, the rerun finishes it, and everything is done
    _simulate(broken, seed=7)
    fixed = run_dataset(inputs, out, config, cluster=serial, progress=False)
    assert [s.status for s in fixed.sites] == ["skipped", "done", "skipped", "skipped"]
    assert fixed.exit_code == 0 and (out / "site_x.results.nwb").is_file()
    assert "4 sites: 1 done, 3 skipped" in fixed.format()


def test_results_say_the_device_the_models_trained_on(reference):
    from ndx_encoding_subspace.dataset.units import site_units
    from ndx_encoding_subspace.results import load_results

    res = load_results(reference / "site_a.results.nwb")
    assert res.provenance["devices"] == {"cnn": "cpu", "ln": "cpu"}
    assert res.provenance["config"]["training"]["device"] in ("auto", "cpu")
    assert site_units(res).device == "cpu"


def test_a_copied_output_folder_reruns_the_sites_whose_results_it_lacks(recordings, reference, config,
                                                                        tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(reference, out)  # its record names the results files of the first folder
    (out / "site_b.results.nwb").unlink()
    (out / ".site_b.work").mkdir()
    (out / ".site_b.work" / "fingerprint").write_bytes(b"\xff")  # not text: another run's, made anew
    result = run_dataset([recordings[0]], out, config, cluster=ClusterParams(kind="serial"), progress=False)
    assert [s.status for s in result.sites] == ["skipped", "done", "skipped"], result.format()
    assert {s.results for s in result.sites} == {str(out / f"{n}.results.nwb") for n in SITES}
    _assert_same_results(out / "site_b.results.nwb", reference / "site_b.results.nwb")


def test_a_rerun_of_some_sites_keeps_the_others_in_the_record(recordings, reference, config, tmp_path):
    """Running one site again into a folder of three leaves the record of the other two, so
    that a later run with other parameters still knows their results and refuses them."""
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    again = run_dataset([recordings[0] / "site_a.nwb"], out, config, cluster=ClusterParams(kind="serial"),
                        progress=False)
    assert [s.status for s in again.sites] == ["skipped"]
    record = json.loads((out / RECORD).read_text())
    assert [s["site"] for s in record["sites"]] == ["site_a"]
    assert sorted(s["site"] for s in record["earlier"]) == ["site_b", "site_c"]
    assert set(read_site_record(out / "summary")) == set(SITES)
    other = config.replace(training={"max_epochs": config.training.max_epochs + 1})
    with pytest.raises(ConfigError, match="the results of site_b, site_c were made with other parameters"):
        run_dataset([recordings[0] / "site_b.nwb", recordings[0] / "site_c.nwb"], out, other,
                    cluster=ClusterParams(kind="serial"), progress=False)


def test_a_site_run_alone_with_other_parameters_is_neither_skipped_nor_refused_by_the_record(
        recordings, reference, config, tmp_path):
    """The record speaks of the results file it saw finished: once a run of one site alone
    (``run_site``, the command line with one input) replaced it with other parameters, a
    rerun with the record's parameters does not call it skipped, and a rerun with the new
    parameters does not refuse it as made with others."""
    from ndx_encoding_subspace.pipeline.record import stored_fingerprint
    from ndx_encoding_subspace.pipeline.run import run_site

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    record = {s["site"]: s for s in json.loads((out / RECORD).read_text())["sites"]}
    assert record["site_a"]["made"] == stored_fingerprint(out / "site_a.results.nwb") != ""
    other = config.replace(training={"max_epochs": config.training.max_epochs + 1})
    run_site(recordings[0] / "site_a.nwb", out, other, progress=False, overwrite=True)
    serial = ClusterParams(kind="serial")
    before = run_dataset([recordings[0]], out, config, cluster=serial, progress=False)
    assert [s.status for s in before.sites] == ["failed", "skipped", "skipped"], before.format()
    assert "other parameters" in before.sites[0].error and before.exit_code == 9
    now = run_dataset([recordings[0] / "site_a.nwb"], out, other, cluster=serial, progress=False)
    assert [s.status for s in now.sites] == ["skipped"], now.format()


def test_the_record_of_an_earlier_release_still_skips_and_refuses(recordings, reference, config, tmp_path):
    """A record written before it kept the results files' fingerprints: any readable results
    file it calls finished is skipped, and other parameters are refused, as they were."""
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    body = json.loads((out / RECORD).read_text())
    for entry in body["sites"]:
        entry.pop("made"), entry.pop("made_with")
    body["sites"][1]["status"] = "failed"  # a site that failed on a rerun keeps its results file
    (out / RECORD).write_text(json.dumps(body))
    other = config.replace(training={"max_epochs": config.training.max_epochs + 1})
    with pytest.raises(ConfigError, match="the results of site_a, site_b, site_c were made with other"):
        run_dataset([recordings[0]], out, other, cluster=ClusterParams(kind="serial"), progress=False)
    again = run_dataset([recordings[0]], out, config, cluster=ClusterParams(kind="serial"), progress=False)
    assert [s.status for s in again.sites] == ["skipped", "skipped", "skipped"], again.format()


def test_a_damaged_results_file_the_record_calls_done_is_not_skipped(recordings, reference, config, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    damaged = out / "site_b.results.nwb"
    damaged.write_bytes(damaged.read_bytes()[:300_000])  # truncated
    result = run_dataset([recordings[0]], out, config, cluster=ClusterParams(kind="serial"), progress=False)
    assert [s.status for s in result.sites] == ["skipped", "failed", "skipped"], result.format()
    assert "site_b.results.nwb" in result.sites[1].error and result.exit_code == 9


def test_sites_running_when_the_run_is_interrupted_are_recorded_so(recordings, config, tmp_path, monkeypatch):
    import ndx_encoding_subspace.pipeline.dataset as dataset

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "run_site_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_dataset([recordings[0]], tmp_path, config, cluster=ClusterParams(kind="serial"), progress=False)
    record = json.loads((tmp_path / RECORD).read_text())
    assert [s["status"] for s in record["sites"]] == ["interrupted", "pending", "pending"]


def test_a_touched_input_is_checked_by_content_not_refused(recordings, reference, config, tmp_path):
    from ndx_encoding_subspace.pipeline.run import run_site

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy2(recordings[0] / "site_a.nwb", inputs)
    out = tmp_path / "out"
    first = run_dataset([inputs], out, config, cluster=ClusterParams(kind="serial"), progress=False)
    assert [s.status for s in first.sites] == ["done"]
    written = (out / "site_a.results.nwb").stat().st_mtime_ns
    os.utime(inputs / "site_a.nwb")  # a copy without its times, a sync: the same content
    again = run_dataset([inputs], out, config, cluster=ClusterParams(kind="serial"), progress=False)
    assert [s.status for s in again.sites] == ["skipped"], again.format()
    # --overwrite keeps a complete results file of the same input and parameters
    assert run_site(inputs / "site_a.nwb", out, config, progress=False, overwrite=True).resumed
    assert (out / "site_a.results.nwb").stat().st_mtime_ns == written


def test_every_site_failing_gives_its_own_exit_code(config, tmp_path):
    broken = tmp_path / "broken.nwb"
    broken.write_bytes(b"no HDF5")
    result = run_dataset([broken], tmp_path / "out", config, cluster=ClusterParams(kind="serial"),
                         progress=False)
    assert [s.status for s in result.sites] == ["failed"] and result.exit_code == 3
    # every site failed, for errors of different kinds: 9, whichever came first
    from ndx_encoding_subspace.pipeline.record import DatasetResult

    mixed = [SiteStatus("a", "a.nwb", status="failed", exit_code=4),
             SiteStatus("b", "b.nwb", status="failed", exit_code=3)]
    assert DatasetResult(mixed, tmp_path, tmp_path / "r").exit_code == 9
    same = [dataclasses.replace(s, exit_code=4) for s in mixed]
    assert DatasetResult(same, tmp_path, tmp_path / "r").exit_code == 4


def test_a_lost_worker_is_a_recorded_failure():
    from distributed.scheduler import KilledWorker

    class Lost:
        def result(self):
            raise KilledWorker("site-a", SimpleNamespace(address="tcp://127.0.0.1:1"), 3)

    status = _outcome(Lost(), SiteStatus("a", "a.nwb", status="running"))
    assert (status.status, status.error_type, status.exit_code) == ("failed", "KilledWorker", 1)
    assert "a: failed (KilledWorker" in status.line()


# --- GPU workers ----------------------------------------------------------------------

def test_sites_that_need_a_gpu_are_submitted_with_the_resource(recordings, reference, config, tmp_path):
    assert site_resources(config) == {}
    assert site_resources(config.replace(training={"device": "cuda"})) == {"GPU": 1}
    assert site_resources(config.replace(dstrf={"device": "cuda"})) == {"GPU": 1}
    with pytest.raises(ConfigError, match="gpus_per_worker"):
        run_dataset([recordings[0] / "site_a.nwb"], tmp_path, config.replace(training={"device": "cuda"}),
                    progress=False)

    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(reference / "site_a.results.nwb", out)  # complete: the worker only checks it
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  resources={"GPU": 1}, dashboard_address=None) as pool, \
            distributed.Client(pool) as client:
        client.register_plugin(PinGPUs(["3"], 1))
        assert set(client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES")).values()) == {"3"}
        submitted: list[dict] = []
        submit = client.submit

        def spy(*args, **kwargs):
            submitted.append(kwargs)
            return submit(*args, **kwargs)

        client.submit = spy
        result = run_dataset([recordings[0] / "site_a.nwb"], out, config, client=client,
                             resources={"GPU": 1}, progress=False)
    assert [s.status for s in result.sites] == ["skipped"], result.format()
    assert [k["resources"] for k in submitted] == [{"GPU": 1}]
    assert result.sites[0].device == "cpu"


def test_gpu_pinning_gives_each_worker_its_own_devices():
    pin = PinGPUs(["0", "1", "2", "3"], 2)
    assert pin.devices_of(0) == "0,1" and pin.devices_of(1) == "2,3"
    with pytest.raises(ConfigError, match="needs 2 GPU.*4 are visible"):
        pin.devices_of(2)


# --- SLURM and the [cluster] section ----------------------------------------------------

def test_slurm_job_script():
    pytest.importorskip("dask_jobqueue")
    params = ClusterParams(kind="slurm", queue="gpu", account="lab", cores=4, memory="16GB",
                           walltime="02:00:00", gpus_per_worker=1,
                           job_extra_directives=("--constraint=a100",),
                           job_script_prologue=("module load cuda",))
    with slurm_cluster(params) as jobs:
        script = jobs.job_script()
    for expected in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=15G",
                     "#SBATCH -t 02:00:00", "#SBATCH --gres=gpu:1", "#SBATCH --constraint=a100",
                     "module load cuda", "--nthreads 1", "--resources GPU=1"):
        assert expected in script, (expected, script)
    with pytest.raises(ConfigError, match="exceeds the 4 CPUs"):
        slurm_cluster(params, threads=8)


def _fake_sbatch(folder, answer: str, status: int) -> str:
    """A ``sbatch`` that records its arguments and answers as told; the PATH holding it."""
    folder.mkdir(exist_ok=True)
    script = folder / "sbatch"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\necho "{answer}" >&2\nexit {status}\n')
    script.chmod(0o755)
    return f"{folder}:/usr/bin:/bin"


def test_slurm_jobs_are_checked_before_any_is_submitted(tmp_path, monkeypatch):
    """Where sbatch is missing, or SLURM refuses the job script, one line says so before a
    job is submitted (dask-jobqueue would only log it and the run would wait for ever)."""
    pytest.importorskip("dask_jobqueue")
    from ndx_encoding_subspace.pipeline.cluster import check_submission

    params = ClusterParams(kind="slurm", queue="gpu", cores=2)
    with slurm_cluster(params) as jobs:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(ConfigError, match="sbatch is not on the PATH"):
            check_submission(jobs)
        refused = "sbatch: error: invalid partition specified: gpu"
        monkeypatch.setenv("PATH", _fake_sbatch(tmp_path / "no", refused, 1))
        with pytest.raises(ConfigError, match=r"refuses the job script \(sbatch: error: invalid partition"):
            check_submission(jobs)
        monkeypatch.setenv("PATH", _fake_sbatch(tmp_path / "yes", "sbatch: Job 7 to start at now", 0))
        check_submission(jobs)
    calls = (tmp_path / "yes" / "calls").read_text().split()
    assert calls[0] == "--test-only" and len(calls) == 2  # tested, never submitted


def test_a_run_on_slurm_without_slurm_ends_at_once(tmp_path, monkeypatch, capsys):
    pytest.importorskip("dask_jobqueue")
    from ndx_encoding_subspace.cli import main
    from ndx_encoding_subspace.testing.files import mock_site

    monkeypatch.setenv("PATH", _fake_sbatch(tmp_path / "bin", "sbatch: error: invalid account", 1))
    sites = [str(tmp_path / f"s{k}.nwb") for k in range(2)]
    for path in sites:
        mock_site(n_units=2, n_sounds=3, duration=0.5, seed=1).write(path)
    code = main(["run", *sites, "--out", str(tmp_path / "out"), "--cluster.kind", "slurm", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "SLURM refuses the job script (sbatch: error: invalid account)" in err
    assert "Traceback" not in err


def test_a_run_whose_jobs_slurm_refuses_ends_instead_of_waiting(tmp_path, monkeypatch, capsys, caplog):
    """sbatch --test-only accepts the script but every submission is refused (a QOS limit):
    dask-jobqueue only logs it; the run ends in one line, its sites interrupted for a rerun."""
    pytest.importorskip("dask_jobqueue")
    from ndx_encoding_subspace.cli import main
    from ndx_encoding_subspace.pipeline import dataset
    from ndx_encoding_subspace.testing.files import mock_site

    folder = tmp_path / "bin"
    folder.mkdir()
    sbatch = folder / "sbatch"
    sbatch.write_text('#!/bin/sh\nif [ "$1" = "--test-only" ]; then echo "Job 1 to start" >&2; exit 0; fi\n'
                      'echo "sbatch: error: QOSMaxSubmitJobPerUserLimit" >&2\nexit 1\n')
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    monkeypatch.setattr(dataset, "NO_WORKER_S", 1.0)
    sites = [str(tmp_path / f"s{k}.nwb") for k in range(2)]
    for path in sites:
        mock_site(n_units=2, n_sounds=3, duration=0.5, seed=1).write(path)
    out = tmp_path / "out"
    code = main(["run", *sites, "--out", str(out), "--cluster.kind", "slurm", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 4 and "no dask worker is left and the cluster refuses new jobs" in err
    assert "QOSMaxSubmitJobPerUserLimit" in err and "2 site(s) not finished" in err
    assert "Traceback" not in err and "Exception in callback" not in err, err  # the refusal said once
    assert not [r for r in caplog.records if r.name == "tornado.application"]  # its log and traceback
    record = json.loads((out / "summary" / "sites.json").read_text())
    assert [s["status"] for s in record["sites"]] == ["interrupted", "interrupted"]


def test_cluster_section(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[cluster]\nkind = "slurm"\nworkers = 4\njob_extra_directives = ["--gres=gpu:1"]\n')
    c = PipelineConfig.from_file(toml)
    assert c.cluster.kind == "slurm" and c.cluster.job_extra_directives == ("--gres=gpu:1",)
    assert PipelineConfig.from_dict(c.to_dict()) == c
    assert "cluster" not in PipelineConfig().to_dict()  # provenance of earlier files unchanged
    identity = {"path": "site.nwb", "sha256": "0" * 64}
    base = config_fingerprint(PipelineConfig(), identity)
    sent = _worker_config(PipelineConfig(cluster={"kind": "slurm", "cores": 8}), threads=8)
    assert "cluster" not in sent.to_dict() and config_fingerprint(sent, identity) == base
    for bad, match in (({"kind": "pbs"}, "kind"), ({"workers": -1}, "workers"), ({"cpus": 2}, "cpus"),
                       ({"kind": "scheduler"}, "scheduler")):
        with pytest.raises(ConfigError, match=match):
            PipelineConfig.from_dict({"cluster": bad})


def test_a_pool_never_has_more_workers_than_sites():
    from ndx_encoding_subspace.pipeline.cluster import local_workers

    assert local_workers(ClusterParams(kind="local", workers=5), n_sites=1, threads=1) == 1
    assert local_workers(ClusterParams(kind="local", workers=2), n_sites=9, threads=1) == 2
    assert local_workers(ClusterParams(kind="local"), n_sites=1000, threads=1) == (os.cpu_count() or 1)


# --- inputs -----------------------------------------------------------------------------

def test_inputs_folders_globs_and_duplicates(recordings, tmp_path):
    folder, broken = recordings
    nested = tmp_path / "data"
    (nested / "sub-2").mkdir(parents=True)
    (nested / ".hidden").mkdir()
    for name in ("sub-2/b.nwb", "a.nwb", "C.NWB", ".hidden/c.nwb", "a.results.nwb", "d.Results.NWB",
                 "notes.txt"):
        (nested / name).write_bytes(b"x")
    sites = expand_inputs([nested, str(nested / "a.nwb"), str(folder / "site_[ab].nwb")])
    assert [s.site for s in sites] == ["C", "a", "b", "site_a", "site_b"]
    assert sites[1].source == str((nested / "a.nwb").resolve()) and sites[1].input == str(nested)
    with pytest.raises(InputError, match="'missing.nwb' matches nothing"):
        expand_inputs([folder, "missing.nwb"])
    with pytest.raises(InputError, match="matches no NWB file"):
        expand_inputs([str(tmp_path / "none*.nwb")])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.nwb").write_bytes(b"y")
    with pytest.raises(ConfigError, match="both site 'a'"):
        expand_inputs([nested, tmp_path / "other"])
    with pytest.raises(ConfigError, match="no input"):
        expand_inputs([])
    scripts = tmp_path / "scripts"  # sites named in other scripts keep their names, and their files too
    scripts.mkdir()
    for name in ("Älfeld.nwb", "Ölfeld.nwb", "日本.nwb", "A\u0308rm.nwb", "किता.nwb", "कीता.nwb"):
        (scripts / name).write_bytes(b"z")
    named = expand_inputs([scripts])
    assert sorted(results_path(tmp_path, s.site).name for s in named) == sorted(
        ["Älfeld.results.nwb", "Ärm.results.nwb", "Ölfeld.results.nwb", "日本.results.nwb",
         "किता.results.nwb", "कीता.results.nwb"])


def test_inputs_say_one_file_under_two_names(recordings, tmp_path):
    folder = recordings[0]
    copy = tmp_path / "backup" / "renamed.nwb"
    copy.parent.mkdir()
    shutil.copyfile(folder / "site_a.nwb", copy)
    with pytest.warns(UserWarning, match=r"site_a\.nwb and .*renamed\.nwb are one NWB file \(object_id"):
        sites = expand_inputs([copy, folder])
    assert [s.site for s in sites] == ["renamed", *SITES]  # both still run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expand_inputs([folder])  # files of other recordings: no word


def test_inputs_from_dandi(tmp_path, monkeypatch):
    from ndx_encoding_subspace.testing.dandi_server import MockDandiServer
    from ndx_encoding_subspace.testing.files import mock_site

    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    files = {f"sub-{i}/sub-{i}_ses-1.nwb": mock_site(waveforms=False, seed=i).write(tmp_path / f"{i}.nwb")
             for i in (1, 2)}
    files["sub-1/notes.txt"] = tmp_path / "notes.txt"
    files["sub-1/notes.txt"].write_text("notes")
    with MockDandiServer(files) as server:
        reader = ReaderParams(dandi_api_url=server.api_url, retries=1, retry_backoff_s=0.01)
        every = expand_inputs(["DANDI:000123", "DANDI:000123/sub-1/sub-1_ses-1.nwb"], reader=reader)
        assert [s.site for s in every] == ["sub-1_ses-1", "sub-2_ses-1"]  # one site named twice
        assert [s.source for s in every] == [f"DANDI:000123@0.230101.1234/sub-{i}/sub-{i}_ses-1.nwb"
                                             for i in (1, 2)]
        globbed = expand_inputs(["DANDI:000123@draft/sub-2/*.nwb"], reader=reader)
        assert [s.source for s in globbed] == ["DANDI:000123@draft/sub-2/sub-2_ses-1.nwb"]
        # a draft asset replaced (a new asset id under the same path) is a new input to a rerun
        listed = json.loads(every[0].version)
        assert listed["asset_id"] and listed["size"] == files["sub-1/sub-1_ses-1.nwb"].stat().st_size
        from dataclasses import replace

        from ndx_encoding_subspace.pipeline.record import initial_states

        # (its content is another: another checksum); the same content under another asset id
        # (the asset in another version of the Dandiset) is the same input
        etag = {"dandi:dandi-etag": "aaa-1"}
        same = [replace(every[0], version=json.dumps({**listed, "asset_id": a, "digest": etag}))
                for a in ("one", "another")]
        replaced = replace(every[0], version=json.dumps({**listed, "asset_id": "another",
                                                         "digest": {"dandi:dandi-etag": "bbb-1"}}))
        keys = [s.key for s in initial_states([*same, replaced], tmp_path / "o", PipelineConfig())]
        assert keys[0] == keys[1] != keys[2]
        with pytest.raises(InputError, match="no NWB asset matches"):
            expand_inputs(["DANDI:000123/sub-9/*.nwb"], reader=reader)


def test_the_command_runs_many_inputs_records_a_failure_and_summarises(recordings, reference, tmp_path,
                                                                         capsys):
    from ndx_encoding_subspace.cli import main

    folder = recordings[0]
    broken = tmp_path / "site_x.nwb"  # its own: another test repairs the shared one
    broken.write_bytes(b"this is no HDF5 file" * 50)
    out = tmp_path / "out"
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps(TINY))  # YAML reads JSON
    argv = ["run", str(folder), str(broken), "--out", str(out), "--config", str(config_file),
            "--cluster.kind", "serial", "--no-progress"]
    # the failed site is one line on stderr and in the table; the others are written
    assert main(argv) == SitesFailedError.exit_code
    printed = capsys.readouterr()
    assert "site_x" in printed.err and "failed" in printed.out
    assert sorted(p.name for p in out.glob("*.results.nwb")) == [f"{s}.results.nwb" for s in SITES]
    assert (out / "summary" / "units.csv").is_file() and (out / "summary" / "report.html").is_file()
    # the same parameters as the reference run: the same arrays
    for site in SITES:
        ref, got = _arrays(reference / f"{site}.results.nwb"), _arrays(out / f"{site}.results.nwb")
        for name in ref:
            if "model_parameters" in name:
                np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
    assert main(["summarize", str(out)]) == 0
    assert "pairs.csv" in capsys.readouterr().out
    # other parameters: refused before any site runs, unless the results are to be made again
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")}
    changed = [*argv, "--training.max_epochs", "2"]
    assert main(changed) == ConfigError.exit_code
    said = capsys.readouterr().err
    assert "the results of site_a, site_b, site_c were made with other parameters" in said
    assert "pass --overwrite" in said and "Traceback" not in said
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")} == mtimes
    assert main([*changed, "--overwrite", "--report"]) == SitesFailedError.exit_code
    printed = capsys.readouterr().out
    assert all(p.stat().st_mtime_ns != mtimes[p.name] for p in out.glob("*.results.nwb"))
    assert sorted(p.name for p in out.glob("*.results.html")) == [f"{s}.results.html" for s in SITES]
    assert printed.count("report: ") == 3
    # a site's report name taken by a file of the user's: refused before any site runs
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")}
    (out / "site_b.results.html").write_text("<p>my notes</p>")
    assert main([*changed, "--overwrite", "--report"]) == ConfigError.exit_code
    assert "site_b.results.html: exists and is not a report of this package" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.results.nwb")} == mtimes
    # one input with a cluster of the configuration's: run there, not in this process
    one = ["run", str(folder / "site_a.nwb"), "--out", str(tmp_path / "one"), "--config", str(config_file),
           "--cluster.kind", "scheduler", "--cluster.scheduler", "tcp://127.0.0.1:9", "--no-progress"]
    assert main(one) == RemoteError.exit_code
    assert "tcp://127.0.0.1:9: connection refused" in capsys.readouterr().err


def _scheduler_address(file: Path, scheduler, within: float = 120.0) -> str:
    """The address in the scheduler file that ``scheduler`` (a process) writes once it
    listens; waited for (a loaded machine may take many seconds to start dask)."""
    deadline = time.monotonic() + within
    while True:
        assert scheduler.poll() is None, f"the dask scheduler ended at once (exit {scheduler.returncode})"
        try:
            return json.loads(file.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not written yet, or being written
            assert time.monotonic() < deadline, f"no dask scheduler file {file} within {within:g} s"
            time.sleep(0.1)


def _external_cluster(folder: Path):
    """A dask scheduler and one worker of one thread, started as their own processes (a
    cluster the run did not start): its address and the two processes, returned once the
    scheduler listens and the worker has joined it. The scheduler picks its own port (no
    port probed free and then raced for) and says it in a scheduler file in ``folder``."""
    import subprocess

    file = folder / "scheduler.json"
    bin_dir = Path(sys.executable).parent
    scheduler = subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(file)], stderr=subprocess.DEVNULL)
    worker = None
    try:
        where = _scheduler_address(file, scheduler)
        worker = subprocess.Popen([str(bin_dir / "dask"), "worker", where, "--nthreads", "1",
                                   "--no-dashboard"], stderr=subprocess.DEVNULL)
        with distributed.Client(where, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
    except BaseException:
        for process in (worker, scheduler):
            if process is not None:
                process.kill()
                process.wait(timeout=30)
        raise
    return where, scheduler, worker


def test_a_scheduler_lost_mid_run_interrupts_the_sites_left(recordings, config, tmp_path,
                                                            tmp_path_factory):
    """The cluster's scheduler killed while sites run: one RemoteError (exit 4) saying how
    many sites are left, those sites recorded as interrupted for a rerun, none as failed."""
    import signal

    dask = pytest.importorskip("dask")
    where, scheduler, worker = _external_cluster(tmp_path_factory.mktemp("cluster"))
    slow = config.replace(training={"max_epochs": 40, "patience": 40})

    def kill_after_first(status: SiteStatus) -> None:
        if status.status == "done":
            scheduler.send_signal(signal.SIGKILL)

    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "3s"}), \
                pytest.raises(RemoteError, match=f"lost the dask scheduler at {where}, with 2 site"):
            run_dataset([recordings[0]], tmp_path, slow, progress=False, on_site=kill_after_first,
                        cluster=ClusterParams(kind="scheduler", scheduler=where))
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(timeout=30)
    record = json.loads((tmp_path / RECORD).read_text())
    statuses = sorted(site["status"] for site in record["sites"])
    assert statuses == ["done", "interrupted", "interrupted"], statuses


def test_a_scheduler_lost_before_the_run_looks_is_still_named(tmp_path):
    """A client that gave up reconnecting holds no scheduler any more (dask drops it on
    closing): the error names the address the run began with, and the sites left are
    interrupted."""
    import signal
    import subprocess

    from ndx_encoding_subspace.pipeline.dataset import _address, _scheduler_lost
    from ndx_encoding_subspace.pipeline.record import Tracker

    dask = pytest.importorskip("dask")
    scheduler = subprocess.Popen([str(Path(sys.executable).parent / "dask"), "scheduler", "--host",
                                  "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(tmp_path / "scheduler.json")],
                                 stderr=subprocess.DEVNULL)
    try:
        address = _scheduler_address(tmp_path / "scheduler.json", scheduler)  # written once it listens
        with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
            client = distributed.Client(address)
            where = _address(client)
            scheduler.send_signal(signal.SIGKILL)
            deadline = time.monotonic() + 60
            while client.status != "closed" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.status == "closed" and _address(client) is None
            sites = [SiteStatus(site=name, source=f"{name}.nwb", status="pending") for name in ("a", "b")]
            tracker = Tracker(sites, tmp_path / "out", None, progress=False, started="now")
            error = _scheduler_lost(client, tracker, where=where)
            client.close()
    finally:
        scheduler.kill()
        scheduler.wait(timeout=30)
    assert f"lost the dask scheduler at {where}, with 2 site(s)" in str(error)
    assert [s.status for s in tracker.order] == ["interrupted", "interrupted"]


def test_a_relative_output_folder_is_the_clients_for_workers_started_elsewhere(recordings, reference, config,
                                                                                tmp_path, monkeypatch):
    """Workers of a cluster started in another folder write into the output folder the
    command named, not into one of the same name under their own folder."""
    inputs = [(recordings[0] / "site_a.nwb").resolve()]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as pool, distributed.Client(pool) as client:
        monkeypatch.chdir(tmp_path)  # the workers stay in the folder they started in
        out = Path(f"relative-out-{os.getpid()}")
        out.mkdir()
        shutil.copy(reference / "site_a.results.nwb", out)  # complete: found only where it lies
        result = run_dataset(inputs, out, config, client=client, progress=False)
    assert [s.status for s in result.sites] == ["skipped"], result.format()


def test_a_second_dataset_run_into_one_folder_is_refused_before_any_site(tmp_path):
    """Two runs into one folder would each find the other's sites locked and record them
    failed; the second is refused at once, the first's lock naming its process."""
    from ndx_encoding_subspace.atomic import _HOST
    from ndx_encoding_subspace.pipeline.dataset import RUN_LOCK
    from ndx_encoding_subspace.testing.files import mock_site

    site = mock_site(n_units=2, n_sounds=3, duration=0.5, seed=1).write(tmp_path / "s.nwb")
    out = tmp_path / "out"
    out.mkdir()
    (out / RUN_LOCK).write_text(f"{_HOST} {os.getppid()}")  # a live process of this host
    with pytest.raises(ConfigError, match=rf"another run \(process {os.getppid()} on host"):
        run_dataset([str(site)], out, PipelineConfig.from_dict(TINY_CONFIG), progress=False)
    assert not (out / RECORD).exists()


def test_a_local_pool_serves_a_dashboard_only_when_asked(monkeypatch):
    """cluster.dashboard empty: no dashboard, and the scheduler's health server on a free
    port (dask's default 8787 would clash with, or warn about, another pool)."""
    import urllib.error
    import urllib.request

    from ndx_encoding_subspace.pipeline.cluster import open_client

    for dashboard, status in (("", 404), (":0", 200)):
        with open_client(ClusterParams(kind="local", workers=1, dashboard=dashboard), n_sites=1) as client:
            port = client.scheduler_info()["services"]["dashboard"]
            assert port != 8787
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10).status
            except urllib.error.HTTPError as err:
                answer = err.code
            assert answer == status


def test_results_of_a_dandi_asset_copy_its_session_and_spikes_not_a_local_file(tmp_path, monkeypatch):
    """The writer opens the asset itself (through the run's API URL), never a file that the
    current folder holds at the asset's path."""
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.pipeline.run import run_site
    from ndx_encoding_subspace.testing.dandi_server import MockDandiServer
    from ndx_encoding_subspace.testing.files import mock_site

    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    params = SimulationParams.quick(n_units=3, n_estimation_sounds=8, n_validation_sounds=2,
                                    validation_repeats=4, n_lags=8, max_dim=3, seed=3)
    asset = simulate_site(params).write_nwb(tmp_path / "asset.nwb")
    decoy = tmp_path / "cwd" / "sub-1" / "sub-1_ses-1.nwb"
    decoy.parent.mkdir(parents=True)
    mock_site(waveforms=False, seed=2, n_units=3).write(decoy)
    monkeypatch.chdir(tmp_path / "cwd")
    with MockDandiServer({"sub-1/sub-1_ses-1.nwb": asset}) as server:
        reader = {"dandi_api_url": server.api_url, "retries": 1, "retry_backoff_s": 0.01}
        config = PipelineConfig.from_dict({**TINY, "reader": reader})
        done = run_site("DANDI:000123/sub-1/sub-1_ses-1.nwb", tmp_path / "out", config, progress=False)
    with NWBHDF5IO(str(asset), "r") as io_in, NWBHDF5IO(str(done.path), "r", load_namespaces=True) as io_out:
        given, written = io_in.read(), io_out.read()
        assert written.session_start_time == given.session_start_time
        kept = list(written.units["source_row"][:])
        for row, source in enumerate(kept):
            np.testing.assert_array_equal(written.units["spike_times"][row],
                                          given.units["spike_times"][source])


def test_a_link_names_its_site_after_the_file_it_leads_to(tmp_path):
    """The site reader names a site after the file read; the record must name it alike (a
    link of another name left the record waiting for results under the link's name)."""
    from ndx_encoding_subspace.testing.files import mock_site

    (tmp_path / "data").mkdir()
    (tmp_path / "other").mkdir()
    target = mock_site(seed=1).write(tmp_path / "other" / "site_b.nwb")
    (tmp_path / "data" / "alias.nwb").symlink_to(target)
    assert [s.site for s in expand_inputs([str(tmp_path / "data")])] == ["site_b"]
    mock_site(seed=2).write(tmp_path / "data" / "site_b.nwb")  # another file of that name
    with pytest.raises(ConfigError, match="are both site 'site_b' and would write the same results file"):
        run_dataset([str(tmp_path / "data")], tmp_path / "out", PipelineConfig.from_dict(TINY_CONFIG),
                    progress=False)


def test_a_broken_link_in_an_input_folder_is_said(tmp_path):
    from ndx_encoding_subspace.testing.files import mock_site

    mock_site(seed=1).write(tmp_path / "site_a.nwb")
    (tmp_path / "gone.nwb").symlink_to(tmp_path / "moved" / "gone.nwb")
    with pytest.warns(UserWarning, match=r"gone\.nwb: a link to .*moved/gone\.nwb, which does not exist"):
        assert [s.site for s in expand_inputs([str(tmp_path)])] == ["site_a"]


def test_workers_elsewhere_read_from_the_archive_the_sites_were_listed_from(monkeypatch, tmp_path):
    """$DANDI_API_URL of the run is given to its workers, whose environment may lack it (they
    would read a DANDI identifier from the public archive); a given reader.dandi_api_url
    stays; neither changes the fingerprint."""
    from ndx_encoding_subspace.pipeline.dataset import pinned

    identity = {"sha256": "0" * 64}
    monkeypatch.setenv("DANDI_API_URL", "http://127.0.0.1:9/api")
    sent = pinned(PipelineConfig(reader={"sound_folder": "sounds"}))
    assert sent.reader.dandi_api_url == "http://127.0.0.1:9/api"
    assert Path(sent.reader.sound_folder).is_absolute()
    assert config_fingerprint(sent, identity) == config_fingerprint(
        PipelineConfig(reader={"sound_folder": "sounds"}), identity)
    given = pinned(PipelineConfig(reader={"dandi_api_url": "http://elsewhere/api"}))
    assert given.reader.dandi_api_url == "http://elsewhere/api"
    monkeypatch.delenv("DANDI_API_URL")
    assert pinned(PipelineConfig()).reader.dandi_api_url == ""


def test_an_interrupted_run_stops_the_sites_running_on_a_cluster_it_did_not_start(
        recordings, config, tmp_path, tmp_path_factory):
    """Ctrl-C with --scheduler: cancelling a task does not stop it in a worker's thread, so
    the run asks its sites to stop (a dask Event) and waits for their locks; the worker
    writes no results after the run has said 'interrupted', and a rerun is not refused."""
    from ndx_encoding_subspace.pipeline.workdir import lock_path

    where, scheduler, worker = _external_cluster(tmp_path_factory.mktemp("cluster"))
    slow = config.replace(training={"max_epochs": 2000, "patience": 2000})
    started = []

    def interrupt_once_training(status: SiteStatus) -> None:
        if status.status == "running" and not started:
            started.append(status.site)
            end = time.monotonic() + 120
            while not (tmp_path / f".{status.site}.work").exists() and time.monotonic() < end:
                time.sleep(0.2)  # the site read, its lock taken: training
            time.sleep(2)
            raise KeyboardInterrupt

    cluster = ClusterParams(kind="scheduler", scheduler=where)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_dataset([recordings[0]], tmp_path, slow, progress=False, on_site=interrupt_once_training,
                        cluster=cluster)
        site = started[0]
        assert (tmp_path / f".{site}.work").exists()  # its checkpoints kept for the rerun
        assert not lock_path(tmp_path, site).exists()  # the site stopped and let its lock go
        time.sleep(5)
        assert not results_path(tmp_path, site).exists()  # nothing finished behind the user's back
        record = json.loads((tmp_path / RECORD).read_text())
        assert {s["site"]: s["status"] for s in record["sites"]}[site] == "interrupted"
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(timeout=30)
