"""Every tutorial runs end to end at its ``--quick`` size and writes only to ``--out``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NAMES = ("01_quickstart.py", "02_ns1_to_nwb.py", "03_results_and_viewing.py",
         "04_any_pytorch_model.py")


def test_every_tutorial_is_listed() -> None:
    assert sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py")) == sorted(NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_tutorial_runs_quick(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(TUTORIALS / name), "--quick", "--out", str(out)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert list(work.iterdir()) == []  # nothing written outside --out
    if "skipped" not in done.stdout:
        assert out.is_dir() and any(out.iterdir())
