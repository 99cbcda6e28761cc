"""Batched ensemble training equals fitting every jackknife x initialisation alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ndx_encoding_subspace import compute
from ndx_encoding_subspace.compute import full_float32
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.fitting import batching
from ndx_encoding_subspace.fitting.ensemble import Ensemble, EnsembleParams, fit_ensemble, member_seed
from ndx_encoding_subspace.fitting.memberdata import shared_data
from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model

TRAIN = dict(max_epochs=10, patience=3, segment_length=40, batch_size=3, device="cpu",
             lr_stage1=1e-2, lr_stage2=1e-3)
SIZES = EnsembleParams(n_jackknife=3, n_init=2)

SITE = textwrap.dedent("""
    import numpy as np
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
    from ndx_encoding_subspace.models import LNPopulation, PopulationCNN

    def site(n_est=7, n_f=5, units=2):
        # sounds of different lengths: the jackknifes hold different numbers of segments
        rng = np.random.default_rng(0)
        w = rng.normal(size=(n_f, units))
        sounds = []
        for k in range(n_est + 1):
            x = rng.random((90 + 23 * k, n_f)).astype(np.float32)
            rate = 2 * np.maximum(x @ w, 0) + 0.5
            sounds.append(Sound(f"s{k}", x, rng.poisson(rate[None].repeat(4, 0)).astype(np.float32)))
        names = tuple(s.name for s in sounds)
        return SiteData("sim", tuple(sounds), np.arange(n_f, dtype=float), 0.01,
                        UnitInfo.from_ids(range(units)), names[:-1], names[-1:])

    MAKERS = {"ln": lambda: LNPopulation(5, 2, channels=4, taps=3),
              "cnn": lambda: PopulationCNN(5, 2, mix_channels=6, fir_taps=3, hidden=(12, 10))}
""")

KILLER = SITE + textwrap.dedent("""
    if __name__ == "__main__":
        import json, os, signal, sys
        import torch
        torch.set_num_threads(1)
        from ndx_encoding_subspace.fitting.ensemble import EnsembleParams, fit_ensemble
        from ndx_encoding_subspace.fitting.schedule import TrainingParams

        folder, kind, stage, epoch, train = sys.argv[1:6]
        epoch = int(epoch)

        def progress(info):
            if (info["jackknife"], info["init"], info["stage"], info["epoch"]) == (1, 0, stage, epoch):
                os.kill(os.getpid(), signal.SIGKILL)

        fit_ensemble(site(), MAKERS[kind], TrainingParams(**json.loads(train)),
                     EnsembleParams(n_jackknife=3, n_init=2), checkpoint_dir=folder, progress=progress)
""")

namespace: dict = {}
exec(compile(SITE, "site", "exec"), namespace)  # the killed run's site and models
_site, MAKERS = namespace["site"], namespace["MAKERS"]

pytestmark = pytest.mark.usefixtures("one_thread")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run in the GPU checks)")


def assert_same(got: Ensemble, ref: Ensemble, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Same kept starts, records and weights (up to float rounding)."""
    assert [c["kept"] for c in got.candidates] == [c["kept"] for c in ref.candidates]
    assert [(c["jackknife"], c["init"], c["seed"]) for c in got.candidates] == \
        [(c["jackknife"], c["init"], c["seed"]) for c in ref.candidates]
    np.testing.assert_allclose([c["selection_loss"] for c in got.candidates],
                               [c["selection_loss"] for c in ref.candidates], rtol=rtol)
    assert got.info == ref.info
    for g, r in zip(got.records, ref.records):
        assert (g.stage, g.epochs, g.best_epoch, g.stage2_epochs, g.seed, g.params, g.fit_sounds,
                g.early_stop_sounds) == (r.stage, r.epochs, r.best_epoch, r.stage2_epochs, r.seed,
                                         r.params, r.fit_sounds, r.early_stop_sounds)
        np.testing.assert_allclose(g.train_loss, r.train_loss, rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(g.val_loss, r.val_loss, rtol=rtol, atol=1e-6)
    for g, r in zip(got.members, ref.members):
        for (name, p), q in zip(r.state_dict().items(), g.state_dict().values()):
            np.testing.assert_allclose(q.cpu().numpy(), p.cpu().numpy(), rtol=1e-3, atol=atol, err_msg=name)


@pytest.mark.parametrize("kind", ["ln", "cnn"])
def test_batched_ensemble_equals_fits_one_by_one(kind):
    site, train = _site(), TrainingParams(**TRAIN)
    ref = fit_ensemble(site, MAKERS[kind], train, SIZES, batched=False)
    seen = []
    got = fit_ensemble(site, MAKERS[kind], train, SIZES, progress=seen.append)
    assert_same(got, ref)
    assert {(d["jackknife"], d["init"]) for d in seen} == {(j, i) for j in range(3) for i in range(2)}
    assert {"stage", "epoch", "train_loss", "val_loss", "best_epoch"} <= set(seen[0])
    # the members really differ in their number of segments (padded batches)
    rows = [len(r["all"]) for r in shared_data(
        [s.spectrogram for s in site.split("estimation")], [s.psth for s in site.split("estimation")],
        [[0, 1, 3, 4, 6], [0, 2, 3, 5, 6], [1, 2, 4, 5]], 0.2, 0, 40, torch.device("cpu")).rows]
    assert len(set(rows)) > 1, rows


def test_groups_split_by_memory_give_the_same_ensemble(monkeypatch):
    site, train = _site(), TrainingParams(**TRAIN)
    make = MAKERS["ln"]
    whole = fit_ensemble(site, make, train, SIZES)
    capped = fit_ensemble(site, make, train, EnsembleParams(n_jackknife=3, n_init=2, batch_members=4))
    assert_same(capped, whole)
    groups = []
    original = batching.member_groups

    def spy(*args, **kwargs):
        groups.append(original(*args, **kwargs))
        return groups[-1]

    monkeypatch.setattr(compute, "available_memory", lambda device="cpu": 1024)
    monkeypatch.setattr("ndx_encoding_subspace.fitting.ensemble.member_groups", spy)
    tiny = fit_ensemble(site, make, train, SIZES)
    assert groups == [[[k] for k in range(6)]]
    assert_same(tiny, whole)


def test_cpu_groups_keep_a_training_batch_within_the_cache(monkeypatch):
    site, train = _site(), TrainingParams(**TRAIN)
    model = MAKERS["cnn"]()
    est = site.split("estimation")
    data = shared_data([s.spectrogram for s in est], [s.psth for s in est], [list(range(len(est)))] * 6,
                       train.early_stop_fraction, model.receptive_field - 1, train.segment_length,
                       torch.device("cpu"))
    one = batching.step_bytes(model, train, data)
    assert one > 0
    cpu = torch.device("cpu")
    monkeypatch.setattr(batching, "cache_bytes", lambda: 3 * one + 1)
    assert batching.members_per_batch(model, train, data, cpu) == 3
    monkeypatch.setattr(batching, "cache_bytes", lambda: one // 2)
    assert batching.members_per_batch(model, train, data, cpu) == 1  # alone, never none
    monkeypatch.setattr(batching, "cache_bytes", lambda: 100 * one)
    assert batching.members_per_batch(model, train, data, cpu) == 6
    assert batching.members_per_batch(model, train, data, cpu, limit=2) == 2


def test_cache_size_is_read_from_the_system_or_assumed():
    size = compute.cache_bytes()
    assert size >= 256 * 1024 and size % 1024 == 0


def test_batch_members_is_checked():
    assert EnsembleParams().batch_members == 0
    with pytest.raises(ConfigError, match="batch_members"):
        EnsembleParams(batch_members=-1)


@pytest.fixture(scope="module")
def killer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batched") / "kill_ensemble.py"
    path.write_text(KILLER)
    return path


def _kill(killer: Path, folder: Path, kind: str, stage: str, epoch: int) -> None:
    import json

    proc = subprocess.run([sys.executable, str(killer), str(folder), kind, stage, str(epoch),
                           json.dumps(TRAIN)], env={**os.environ, "PYTHONHASHSEED": "0"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list(folder.glob("jk*_init*.pt"))) == 6


@pytest.fixture(scope="module")
def cnn_reference() -> Ensemble:
    return fit_ensemble(_site(), MAKERS["cnn"], TrainingParams(**TRAIN), SIZES)


def test_batched_run_resumes_after_sigkill(killer, tmp_path, cnn_reference):
    site, train, make = _site(), TrainingParams(**TRAIN), MAKERS["cnn"]
    _kill(killer, tmp_path, "cnn", "stage2", 1)
    resumed = fit_ensemble(site, make, train, SIZES, checkpoint_dir=tmp_path)
    assert_same(resumed, cnn_reference, rtol=1e-5, atol=1e-6)
    again = fit_ensemble(site, make, train, SIZES, checkpoint_dir=tmp_path)  # every fit done
    assert_same(again, resumed, rtol=0, atol=0)


def test_batched_checkpoints_resume_fits_alone(killer, tmp_path, cnn_reference):
    _kill(killer, tmp_path, "cnn", "stage1", 2)
    alone = fit_ensemble(_site(), MAKERS["cnn"], TrainingParams(**TRAIN), SIZES, checkpoint_dir=tmp_path,
                         batched=False)
    assert_same(alone, cnn_reference)


def test_members_at_different_stages_resume_batched(killer, tmp_path, cnn_reference):
    site, train, make = _site(), TrainingParams(**TRAIN), MAKERS["cnn"]
    _kill(killer, tmp_path, "cnn", "stage1", 2)
    seed = member_seed(train.seed, 0, 0)  # jackknife 0, start 0 finished alone
    torch.manual_seed(seed)
    kept = [site.sound(n) for n in site.estimation if n not in ("s0", "s3", "s6")]
    fit_model(make(), [s.spectrogram for s in kept], [s.psth for s in kept], train.replace(seed=seed),
              checkpoint_path=tmp_path / "jk0_init0.pt")
    mixed = fit_ensemble(site, make, train, SIZES, checkpoint_dir=tmp_path)
    assert_same(mixed, cnn_reference)


@CUDA
@pytest.mark.parametrize("kind", ["ln", "cnn"])
def test_batched_ensemble_equals_fits_one_by_one_on_cuda(kind):
    site, train = _site(), TrainingParams(**{**TRAIN, "device": "cuda"})
    with full_float32("cuda"):
        ref = fit_ensemble(site, MAKERS[kind], train, SIZES, batched=False)
        got = fit_ensemble(site, MAKERS[kind], train, SIZES)
    assert_same(got, ref, rtol=1e-3, atol=1e-4)
