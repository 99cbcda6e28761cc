"""Shared fixtures: the real data folder (skipped with a message when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NDX_ES_SHARED_DATA", REPO.parent / "shared" / "data"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (set NDX_ES_SHARED_DATA)")
    return path


#: the smallest configuration that runs every stage (tests import it: ``from conftest import TINY``)
TINY_CONFIG = {
    "cnn": {"mix_channels": 8, "fir_taps": 5, "hidden": [8, 8]},
    "ln": {"channels": 8, "taps": 9},
    "training": {"max_epochs": 3, "patience": 2, "device": "cpu", "segment_length": 100},
    "ensemble": {"n_jackknife": 2, "n_init": 1},
    "dstrf": {"n_lags": 12, "device": "cpu"},
    "subspace": {"n_components": 8, "noise_repeats": 2},
    "scoring": {"n_shuffles": 10},
}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip."""
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def ns1_npz(shared_data: Path) -> Path:
    """The NS1 compact archive, or skip."""
    return _need(shared_data / "ns1" / "ns1_compact.npz")


@pytest.fixture(scope="session")
def real_nwb_files(shared_data: Path) -> list[Path]:
    """The two real NWB files of another lab, or skip."""
    files = sorted(_need(shared_data / "nwb-real").glob("*.nwb"))
    if not files:
        pytest.skip(f"no NWB files in {shared_data / 'nwb-real'}")
    return files


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread (the machine is shared); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small_recording(folder: Path, name: str, config: dict) -> tuple[Path, Path]:
    """A small simulated site written as NWB in ``folder``, and ``config`` as TOML next to it."""
    import json

    from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site

    params = SimulationParams.quick(n_units=3, n_estimation_sounds=8, n_validation_sounds=2,
                                    validation_repeats=4, n_lags=8, max_dim=3, seed=3)
    recording = simulate_site(params).write_nwb(folder / "site.nwb")
    path = folder / f"{name}.toml"
    path.write_text("".join(f"[{section}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
                            for section, table in config.items()))
    return recording, path


@pytest.fixture(scope="session")
def small_recording():
    """``small_recording(folder, name, config)``: a small simulated site as NWB and its
    configuration file (the command line's runs of tests that kill or damage them)."""
    return _small_recording
