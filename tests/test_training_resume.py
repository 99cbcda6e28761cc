"""A fit killed with SIGKILL and started again ends exactly like an uninterrupted fit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.errors import TrainingError
from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model

PARAMS = dict(max_epochs=12, patience=4, segment_length=60, batch_size=4, device="cpu",
              lr_stage1=1e-2, lr_stage2=1e-3, seed=3)

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from ndx_encoding_subspace.models import PopulationCNN
    from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model

    def data():
        rng = np.random.default_rng(0)
        x = [rng.random((150, 5)).astype(np.float32) for _ in range(5)]
        y = [np.maximum(a @ rng.normal(size=(5, 3)), 0).astype(np.float32) for a in x]
        return x, y

    def model():
        torch.manual_seed(0)
        return PopulationCNN(5, 3, mix_channels=6, fir_taps=3, hidden=(7, 5))

    if __name__ == "__main__":
        ckpt, kill_stage, kill_epoch, params = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

        def progress(info):
            if info["stage"] == kill_stage and info["epoch"] == kill_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

        x, y = data()
        fit_model(model(), x, y, TrainingParams.from_dict(__import__("json").loads(params)),
                  checkpoint_path=ckpt, progress=progress)
""")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def helper(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "fit_helper.py"
    path.write_text(SCRIPT)
    return path


def _load(helper: Path):
    namespace: dict = {}
    exec(compile(helper.read_text(), str(helper), "exec"), namespace)  # the helper's data and model
    return namespace["data"], namespace["model"]


@pytest.mark.parametrize("kill_stage,kill_epoch,device", [("stage1", 2, "cpu"), ("stage2", 1, "auto")])
def test_resume_after_sigkill_equals_uninterrupted(helper, tmp_path, kill_stage, kill_epoch, device):
    """Also when the device is named otherwise on resuming (``auto`` for the CPU it ran on):
    the device is not part of what a checkpoint is tied to."""
    data, make = _load(helper)
    x, y = data()
    reference = make()
    ref = fit_model(reference, x, y, TrainingParams(**PARAMS))
    assert kill_epoch < ref.stage.count(kill_stage)

    ckpt = tmp_path / "fit.pt"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, str(helper), str(ckpt), kill_stage, str(kill_epoch),
                           json.dumps(PARAMS)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert ckpt.exists()

    if device == "cpu":  # a checkpoint of a release that hashed the device with the rest is resumed too
        from ndx_encoding_subspace.fitting.checkpoint import fingerprint

        blob = torch.load(ckpt, weights_only=True)
        meta = json.loads(blob["meta"])
        meta["fingerprint"] = fingerprint(make(), x, y, TrainingParams(**PARAMS), with_device=True)
        blob["meta"] = json.dumps(meta)
        torch.save(blob, ckpt)
    resumed = make()
    params = TrainingParams(**{**PARAMS, "device": device})
    got = fit_model(resumed, x, y, params, checkpoint_path=ckpt)
    assert got.train_loss == ref.train_loss and got.val_loss == ref.val_loss and got.stage == ref.stage
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key

    # a finished checkpoint returns at once with the same result
    again = make()
    assert fit_model(again, x, y, params, checkpoint_path=ckpt) == got
    for key, value in reference.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_checkpoint_is_plain_and_guarded(helper, tmp_path):
    data, make = _load(helper)
    x, y = data()
    ckpt = tmp_path / "fit.pt"
    fit_model(make(), x, y, TrainingParams(**{**PARAMS, "max_epochs": 2}), checkpoint_path=ckpt)
    blob = torch.load(ckpt, weights_only=True)  # tensors, numbers, strings only
    assert json.loads(blob["meta"])["stage"] == "done"
    with pytest.raises(TrainingError, match="other data"):
        fit_model(make(), x, [v * 2 for v in y], TrainingParams(**{**PARAMS, "max_epochs": 2}),
                  checkpoint_path=ckpt)
    assert np.isfinite(blob["rng"].numpy()).all()


def test_checkpoints_of_other_training_parameters_are_removed_with_a_warning(tmp_path, small_recording,
                                                                            monkeypatch):
    """An unfinished run's work folder made with other training parameters cannot be resumed:
    it is removed, and that is said (hours of training may be in it)."""
    from ndx_encoding_subspace.pipeline import stages
    from ndx_encoding_subspace.pipeline.config import PipelineConfig
    from ndx_encoding_subspace.pipeline.run import run_site

    recording, _ = small_recording(tmp_path, "tiny", {})
    out = tmp_path / "out"
    work = out / ".site.work"
    (work / "cnn").mkdir(parents=True)
    (work / "fingerprint").write_text("0123456789abcdef")  # another run's
    (work / "cnn" / "jk0_init0.pt").write_bytes(b"old")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        assert not (work / "cnn").exists()
        raise Stop

    monkeypatch.setattr(stages, "analyse_site", stop)
    with pytest.warns(UserWarning, match="checkpoints of an unfinished run with other training parameters"):
        with pytest.raises(Stop):
            run_site(recording, out, PipelineConfig(), progress=False)
    # a damaged stamp is no other run's: written again, the checkpoints kept (each has its own fingerprint)
    (work / "cnn").mkdir(parents=True)
    (work / "cnn" / "jk0_init0.pt").write_bytes(b"kept")
    (work / "fingerprint").write_bytes(b"\x00\x17garbage")

    def kept(*args, **kwargs):
        assert (work / "cnn" / "jk0_init0.pt").read_bytes() == b"kept"
        assert len((work / "fingerprint").read_text()) == 16
        raise Stop

    monkeypatch.setattr(stages, "analyse_site", kept)
    with pytest.warns(UserWarning, match="fingerprint: damaged .not a fingerprint.; written again, and the "
                                         "checkpoints kept"):
        with pytest.raises(Stop):
            run_site(recording, out, PipelineConfig(), progress=False)
