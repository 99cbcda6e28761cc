"""CPU thread limits: parameters, the context manager, configuration, CLI, pipeline, dask."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from ndx_encoding_subspace import compute
from ndx_encoding_subspace.cli import _config_from_args, build_parser
from ndx_encoding_subspace.compute import ComputeParams, thread_limits
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.pipeline import distributed
from ndx_encoding_subspace.pipeline import run as pipeline
from ndx_encoding_subspace.pipeline.config import SECTIONS, PipelineConfig

threadpoolctl = pytest.importorskip("threadpoolctl")
compute._load_pools()  # the pools a limit loads, loaded before the counts below are compared
USABLE_CPUS = compute.usable_cpus

#: torch's thread count around each test; differs from every limit used below
BEFORE = 5


@pytest.fixture(autouse=True)
def torch_threads():
    """Known torch thread count during a test; the original one restored afterwards."""
    original = torch.get_num_threads()
    torch.set_num_threads(BEFORE)
    yield
    torch.set_num_threads(original)


def _pools() -> dict[str, list[int]]:
    """Thread count of every BLAS / OpenMP library loaded, by API."""
    out: dict[str, list[int]] = {}
    for info in threadpoolctl.threadpool_info():
        out.setdefault(info["user_api"], []).append(info["num_threads"])
    return out


# --- parameters ---------------------------------------------------------------------

def test_params_default_and_valid_values():
    assert ComputeParams().threads == 0
    assert ComputeParams(threads=4).threads == 4
    with pytest.raises(ConfigError, match="expected int, got the text '3'"):  # quoted in a file
        ComputeParams.from_dict({"threads": "3"})


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, True, None, "two"])
def test_params_reject_bad_threads(bad):
    with pytest.raises(ConfigError, match=r"ComputeParams\.threads.*" + repr(bad).replace(".", r"\.")):
        ComputeParams.from_dict({"threads": bad})


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"thread.*\[compute\].*known: threads"):
        ComputeParams.from_dict({"thread": 2}, where="[compute]")
    with pytest.raises(ConfigError, match="nthreads.*known: threads"):
        PipelineConfig.from_dict({"compute": {"nthreads": 2}})


# --- thread_limits ------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _eight_cpus(monkeypatch):
    """As on a machine of 8 CPUs, whatever this one has (limits above them are cut)."""
    monkeypatch.setattr(compute, "usable_cpus", lambda: 8)


@pytest.mark.parametrize("n", [1, 3])
def test_limits_inside_and_restored_after(n):
    pools_before = _pools()
    with thread_limits(n):
        assert torch.get_num_threads() == n
        pools = _pools()
        assert pools.get("blas"), "numpy's BLAS should be reported by threadpoolctl"
        assert all(v == n for v in pools["blas"])
        assert all(v == n for v in pools.get("openmp", []))
    assert torch.get_num_threads() == BEFORE
    assert _pools()["blas"] == pools_before["blas"]


def test_restored_after_an_exception():
    blas_before = _pools()["blas"]
    with pytest.raises(RuntimeError, match="inside"):
        with thread_limits(2):
            assert torch.get_num_threads() == 2
            raise RuntimeError("inside")
    assert torch.get_num_threads() == BEFORE
    assert _pools()["blas"] == blas_before


def test_zero_changes_nothing():
    blas_before = _pools()["blas"]
    with thread_limits(0):
        assert torch.get_num_threads() == BEFORE
        assert _pools()["blas"] == blas_before


def test_nested_limits_restore_the_outer_ones():
    with thread_limits(3):
        with thread_limits(1):
            assert torch.get_num_threads() == 1
            assert set(_pools()["blas"]) == {1}
        assert torch.get_num_threads() == 3
        assert set(_pools()["blas"]) == {3}
    assert torch.get_num_threads() == BEFORE


def test_without_threadpoolctl_torch_is_still_limited(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import raises ImportError
    with thread_limits(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == BEFORE


@pytest.mark.parametrize("bad", [-2, 1.0, False])
def test_limits_reject_bad_counts(bad):
    with pytest.raises(ConfigError, match="threads"):
        with thread_limits(bad):
            pass  # pragma: no cover
    assert torch.get_num_threads() == BEFORE


# --- configuration and command line -------------------------------------------------

def test_config_section_round_trip(tmp_path):
    assert "compute" in SECTIONS
    assert PipelineConfig().compute.threads == 0
    c = PipelineConfig().replace(compute={"threads": 1})
    assert c.compute == ComputeParams(threads=1)
    assert c.to_dict()["compute"] == {"threads": 1}
    assert PipelineConfig.from_dict(c.to_dict()) == c
    toml = tmp_path / "c.toml"
    toml.write_text("[compute]\nthreads = 2\n[training]\nmax_epochs = 7\n")
    yaml = tmp_path / "c.yaml"
    yaml.write_text("compute:\n  threads: 2\ntraining:\n  max_epochs: 7\n")
    a, b = PipelineConfig.from_file(toml), PipelineConfig.from_file(yaml)
    assert a == b and a.compute.threads == 2 and a.training.max_epochs == 7
    bad = tmp_path / "bad.toml"
    bad.write_text("[compute]\nthreads = 2\ncores = 4\n")
    with pytest.raises(ConfigError, match=f"cores.*{bad.name}"):
        PipelineConfig.from_file(bad)
    negative = tmp_path / "negative.toml"
    negative.write_text("[compute]\nthreads = -3\n")
    with pytest.raises(ConfigError, match="ComputeParams.threads.*-3"):
        PipelineConfig.from_file(negative)


def test_cli_flag(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["run", "site.nwb", "--compute.threads", "2"])
    assert _config_from_args(args).compute.threads == 2
    args = parser.parse_args(["run", "site.nwb"])
    assert _config_from_args(args).compute.threads == 0
    cfg = tmp_path / "c.toml"
    cfg.write_text("[compute]\nthreads = 3\n")
    args = parser.parse_args(["run", "site.nwb", "--config", str(cfg)])
    assert _config_from_args(args).compute.threads == 3
    args = parser.parse_args(["run", "site.nwb", "--config", str(cfg), "--compute.threads", "1"])
    assert _config_from_args(args).compute.threads == 1  # flags override the file
    args = parser.parse_args(["run", "site.nwb", "--compute.threads", "-1"])
    with pytest.raises(ConfigError, match="threads.*-1"):
        _config_from_args(args)
    run = parser._subparsers._group_actions[0].choices["run"]
    help_text = run.format_help()
    assert "[compute] parameters" in help_text and "--compute.threads" in help_text


def test_thread_count_does_not_change_the_fingerprint():
    identity = {"path": "site.nwb", "sha256": "0" * 64}
    base = pipeline.config_fingerprint(PipelineConfig(), identity)
    assert pipeline.config_fingerprint(PipelineConfig(compute={"threads": 4}), identity) == base
    assert pipeline.config_fingerprint(PipelineConfig(training={"max_epochs": 7}), identity) != base


def test_memory_settings_and_cell_types_keep_what_they_do_not_change():
    """The dSTRF chunk size (memory) changes no result: finished results stay complete and
    kept subspaces are reused; cell-type settings change no trained model: the training
    checkpoints are kept (the results, which hold the cell types, are made again)."""
    from ndx_encoding_subspace.pipeline.run import TRAINING_SECTIONS

    identity = {"sha256": "0" * 64}
    base = PipelineConfig()
    chunked = PipelineConfig(dstrf={"chunk_size": 7})
    assert pipeline.config_fingerprint(chunked, identity) == pipeline.config_fingerprint(base, identity)
    for cells in (PipelineConfig(celltype={"narrow_threshold_ms": 0.3}),
                  PipelineConfig(reader={"use_waveforms": False}),
                  PipelineConfig(ensemble={"select_by": "final"})):  # which fit is kept, not the fits
        assert pipeline.config_fingerprint(cells, identity) != pipeline.config_fingerprint(base, identity)
        assert (pipeline.config_fingerprint(cells, identity, TRAINING_SECTIONS)
                == pipeline.config_fingerprint(base, identity, TRAINING_SECTIONS))
    assert (pipeline.config_fingerprint(PipelineConfig(cnn={"fir_taps": 9}), identity, TRAINING_SECTIONS)
            != pipeline.config_fingerprint(base, identity, TRAINING_SECTIONS))


def test_new_parameters_at_their_defaults_keep_earlier_results_complete(tmp_path):
    # the fingerprint of the defaults as earlier releases computed it: a parameter added
    # since must be left out at the value that does what they did (run.ADDED_LATER), or
    # every results file made before it would count as made with other parameters
    identity = {"path": "/data/site.nwb", "sha256": "0" * 64}
    # but for CCnorm's signal power, whose earlier rule scored high where the sounds' mean
    # rates differ: its new default makes results of other parameters, on purpose
    earlier = PipelineConfig(scoring={"signal_power": "within_clips"})
    assert pipeline.config_fingerprint(earlier, identity) == "c23f3b56c340f07d"
    assert pipeline.config_fingerprint(PipelineConfig(), identity) != "c23f3b56c340f07d"
    # a file read as earlier releases read it brings no new field into its identity
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.pipeline.run import _identity
    from ndx_encoding_subspace.testing.files import mock_site, write_nwb

    # (sounds sampled fast enough for every channel: slower ones are now read otherwise)
    plain = mock_site(n_units=2, n_sounds=4, seed=1, rate=44100.0).nwbfile
    site = read_site(write_nwb(plain, tmp_path / "plain.nwb"))
    # its content only: the path and name earlier releases hashed too are added back to find
    # their results (tests/test_pipeline.py, a release that kept the input path)
    assert set(_identity(site)) == {"sha256"}


# --- pipeline and dask engine -------------------------------------------------------

def _record_threads(seen: list[int], fail: bool = False):
    def fake_run_site(source, out, config, **kwargs):
        seen.append(torch.get_num_threads())
        if fail:
            raise RuntimeError("site failed")
        return pipeline.RunResult(Path(out) / "site.results.nwb", "site", {})
    return fake_run_site


def test_run_site_runs_inside_the_limits(monkeypatch, tmp_path):
    seen: list[int] = []
    monkeypatch.setattr(pipeline, "_run_site", _record_threads(seen))
    pipeline.run_site("site.nwb", tmp_path, PipelineConfig(compute={"threads": 2}), progress=False)
    pipeline.run_site("site.nwb", tmp_path, progress=False)  # default: unchanged
    assert seen == [2, BEFORE]
    assert torch.get_num_threads() == BEFORE
    monkeypatch.setattr(pipeline, "_run_site", _record_threads(seen, fail=True))
    with pytest.raises(RuntimeError, match="site failed"):
        pipeline.run_site("site.nwb", tmp_path, PipelineConfig(compute={"threads": 1}))
    assert seen[-1] == 1 and torch.get_num_threads() == BEFORE


def test_run_sites_threads_per_site(monkeypatch, tmp_path):
    seen: list[int] = []
    monkeypatch.setattr(pipeline, "_run_site", _record_threads(seen))
    paths = distributed.run_sites(["a.nwb", "b.nwb"], tmp_path, threads_per_site=1)
    assert paths == [tmp_path / "site.results.nwb"] * 2
    assert seen == [1, 1]
    config = PipelineConfig(compute={"threads": 3})
    distributed.run_sites(["a.nwb"], tmp_path, config)  # the configuration's count
    distributed.run_sites(["a.nwb"], tmp_path, config, threads_per_site=2)  # replaced
    assert seen[2:] == [3, 2]
    assert config.compute.threads == 3  # the caller's configuration is not modified
    assert torch.get_num_threads() == BEFORE
    with pytest.raises(ConfigError, match="threads.*-1"):
        distributed.run_sites(["a.nwb"], tmp_path, threads_per_site=-1)


def test_more_threads_than_cpus_are_cut_with_a_warning():
    blas_before = _pools()["blas"]
    with pytest.warns(UserWarning, match="compute.threads 100000 is more than the 8 CPU"):
        with thread_limits(100000):
            assert torch.get_num_threads() == 8
            assert set(_pools()["blas"]) == {8}
    assert torch.get_num_threads() == BEFORE and _pools()["blas"] == blas_before


def test_usable_cpus_is_at_least_one_and_at_most_the_machine():
    assert 1 <= USABLE_CPUS() <= (os.cpu_count() or 1)


def test_subnormals_are_flushed_inside_the_block_and_restored_after() -> None:
    from ndx_encoding_subspace.compute import _flushing, flushed_subnormals

    tiny = torch.tensor([1e-39])
    assert not _flushing() and (tiny * 1.0).item() > 0
    with flushed_subnormals():
        assert (tiny * 1.0).item() == 0.0
        with flushed_subnormals():
            pass
        assert _flushing()  # a nested block restores the outer one's setting
    assert not _flushing() and (tiny * 1.0).item() > 0
    with pytest.raises(RuntimeError), flushed_subnormals():
        raise RuntimeError
    assert not _flushing()


class _Probe(torch.nn.Module):
    """A linear model that records, at every forward pass, whether subnormals are flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(compute._flushing())
        return self.linear(x)


def test_training_runs_with_subnormals_flushed() -> None:
    from ndx_encoding_subspace.fitting import TrainingParams, fit_model

    model = _Probe()
    inputs = [torch.rand(40, 2, generator=torch.Generator().manual_seed(i)).numpy() for i in range(4)]
    fit_model(model, inputs, [x[:, :1].copy() for x in inputs], TrainingParams(max_epochs=2, device="cpu"))
    assert model.seen and all(model.seen) and not compute._flushing()


def test_limits_cover_scipys_blas_loaded_inside_the_block():
    """scipy's own OpenBLAS, loaded only when the pipeline imports scipy.linalg (inside a
    run's limit), runs with the limit too: else a run of 1 thread uses every core there and
    its numbers depend on the machine."""
    import subprocess

    code = ("from threadpoolctl import threadpool_info\n"
            "from ndx_encoding_subspace.compute import thread_limits\n"
            "with thread_limits(1):\n"
            "    import scipy.linalg\n"
            "    print(sorted({i['num_threads'] for i in threadpool_info()}))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}
    env.pop("PYTHONSTARTUP", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1]", out.stdout + out.stderr
