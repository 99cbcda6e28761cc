"""A run interrupted during training (Ctrl-C, or killed) and started again finishes.

The real command line runs in a child process on a small simulated site whose CNN
ensemble's two fits train one after the other. Once the second fit has written a
checkpoint, the run is sent SIGINT (it must end with exit code 130 and one line, no
traceback) or SIGKILL. The same command then resumes: the first fit, finished before
the signal, is not fitted again (its checkpoint is never rewritten), the second goes on
from its last epoch (its checkpoint never holds fewer epochs than at the signal), the
run writes its results, and no temporary file is left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ndx_encoding_subspace.atomic import _HOST

pytestmark = pytest.mark.slow

#: generous: the machine running the tests may be loaded. The waits below fail only after
#: this long without progress (no new epoch in a checkpoint), never on a run that trains
#: slowly: a loaded CI machine trains the first fit's 120 epochs in about a minute, and a
#: deadline on the whole wait would fail a run that is merely slow
DEADLINE_S = 120.0

CONFIG = {
    "cnn": {"mix_channels": 8, "fir_taps": 5, "hidden": [8, 8]},
    "ln": {"enabled": False},
    "training": {"max_epochs": 120, "patience": 120, "device": "cpu", "segment_length": 100},
    "ensemble": {"n_jackknife": 2, "n_init": 1, "batch_members": 1},
    "dstrf": {"n_lags": 12, "device": "cpu"},
    "subspace": {"n_components": 8, "noise_repeats": 2},
    "scoring": {"n_shuffles": 10},
    "compute": {"threads": 1},
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory, small_recording) -> tuple[Path, Path]:
    """A small simulated site and the configuration file of the runs."""
    return small_recording(tmp_path_factory.mktemp("signals"), "signals", CONFIG)


def _start(recording: tuple[Path, Path], out: Path) -> subprocess.Popen:
    """The installed command (``python -m`` of its module when not installed) on the site."""
    path, config = recording
    script = Path(sys.executable).with_name("encoding-subspace")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ndx_encoding_subspace.cli"]
    # a test run started in the background (nohup, CI) inherits SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: the run is given the default back
    return subprocess.Popen([*command, "run", str(path), "--out", str(out), "--config", str(config),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _epochs(path: Path) -> int | None:
    """Epochs a checkpoint holds (None when it cannot be read now)."""
    try:
        meta = json.loads(torch.load(path, weights_only=True)["meta"])
    except Exception:  # absent, or replaced while being read: try again later
        return None
    return len(meta["history"]["stage"])


def _stage(path: Path) -> str:
    return json.loads(torch.load(path, weights_only=True)["meta"])["stage"]


def _when_second_fit_trains(proc: subprocess.Popen, cnn: Path) -> None:
    """Wait until the second fit has a checkpoint of at least 2 epochs."""
    deadline, progress = time.monotonic() + DEADLINE_S, None
    while (_epochs(cnn / "jk1_init0.pt") or 0) < 2:
        assert proc.poll() is None, f"the run ended before the signal: {proc.communicate()}"
        now = (_epochs(cnn / "jk0_init0.pt"), _epochs(cnn / "jk1_init0.pt"))
        if now != progress:  # training goes on, however slowly
            deadline, progress = time.monotonic() + DEADLINE_S, now
        assert time.monotonic() < deadline, f"no new epoch in {DEADLINE_S:g} s before the signal"
        time.sleep(0.05)


def _resume(recording: tuple[Path, Path], out: Path) -> tuple[int, str]:
    """Run again and watch the checkpoints: the finished fit's is never rewritten, the
    other's never holds fewer epochs than before. Returns the exit code and stderr."""
    cnn = out / ".site.work" / "cnn"
    done, partial = cnn / "jk0_init0.pt", cnn / "jk1_init0.pt"
    assert _stage(done) == "done" and _stage(partial) != "done"
    inode, epochs = done.stat().st_ino, _epochs(partial)
    proc = _start(recording, out)
    deadline, seen, last = time.monotonic() + DEADLINE_S, 0, epochs
    while proc.poll() is None:
        assert time.monotonic() < deadline, f"the resumed run made no progress in {DEADLINE_S:g} s"
        try:
            assert done.stat().st_ino == inode, "the finished fit was fitted again"
        except FileNotFoundError:  # the run finished and removed its work folder
            pass
        now = _epochs(partial)
        if now is not None:
            seen += 1
            assert now >= epochs, f"the second fit started again ({now} epochs, {epochs} at the signal)"
            if now > last:  # training goes on, however slowly
                deadline, last = time.monotonic() + DEADLINE_S, now
        time.sleep(0.05)
    _, err = proc.communicate()
    assert seen, "the resumed run was not watched while it trained"
    return proc.returncode, err


def _leftovers(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if ".tmp" in p.name)


@pytest.mark.parametrize(("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_during_training_ends_in_one_line_and_the_rerun_resumes(recording, tmp_path,
                                                                                   sent, code, said):
    out = tmp_path / "out"
    proc = _start(recording, out)
    _when_second_fit_trains(proc, out / ".site.work" / "cnn")
    proc.send_signal(sent)
    _, err = proc.communicate(timeout=DEADLINE_S)
    lines = [line for line in err.splitlines()
             if line.strip() and not line.startswith("encoding-subspace: warning:")]
    assert proc.returncode == code, err
    assert lines == [f"encoding-subspace: {said}"], err
    assert not _leftovers(out) and not list(out.glob("*.results.nwb"))

    code, err = _resume(recording, out)
    assert code == 0 and "Traceback" not in err, err
    assert (out / "site.results.nwb").exists() and not (out / ".site.work").exists()
    assert not _leftovers(out)


def test_a_run_killed_during_training_resumes_and_leaves_no_temporary_file(recording, tmp_path):
    out = tmp_path / "out"
    proc = _start(recording, out)
    _when_second_fit_trains(proc, out / ".site.work" / "cnn")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == -signal.SIGKILL
    # what a kill in the middle of writing leaves: the temporary files of that process
    stale = [out / ".site.work" / "cnn" / f".jk1_init0.{_HOST}-{proc.pid}-0123abcd.tmp.pt",
             out / f".site.results.{_HOST}-{proc.pid}-0123abcd.tmp.nwb"]
    for path in stale:
        path.write_bytes(b"partial")

    code, err = _resume(recording, out)
    assert code == 0 and "Traceback" not in err, err
    assert (out / "site.results.nwb").exists() and not (out / ".site.work").exists()
    assert not _leftovers(out), _leftovers(out)
