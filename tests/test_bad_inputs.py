"""The project's corpus of bad inputs: each refused early, in one line, with its exit code.

Every case goes through the command line as a user would meet it and asserts the exit
code, a one-line message naming the file and the object at fault, no traceback, and an
input left byte for byte as it was (sha256). The files are written by the real writers
(pynwb through the mock factories) and then damaged with h5py, as a faulty converter or
a hostile author would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import warnings

import h5py
import numpy as np
import pytest

from ndx_encoding_subspace.atomic import write_text
from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.pipeline.config import SECTIONS
from ndx_encoding_subspace.testing.files import mock_site, write_nwb

EXIT_CONFIG, EXIT_INPUT = ConfigError.exit_code, InvalidDataError.exit_code


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(argv: list[str], code: int, capsys, *words: str) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines()
             if line.strip() and not line.startswith("encoding-subspace: warning:")]
    assert "Traceback" not in err and len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def recording(tmp_path):
    """A small recording written by pynwb: 4 units, 4 sounds, the last presented 5 times."""
    return write_nwb(mock_site(n_units=4, seed=1, duration=1.0).nwbfile, tmp_path / "rec.nwb")


def _run(path, out) -> list[str]:
    return ["run", str(path), "--out", str(out), "--no-progress"]


# --- parameters ---------------------------------------------------------------------------

def test_no_parameter_takes_nan_or_infinity():
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            if isinstance(getattr(cls(), f.name), float):
                for bad in (math.nan, -math.inf):
                    with pytest.raises(ConfigError, match=f"{f.name} must be a finite number"):
                        cls(**{f.name: bad})


@pytest.mark.parametrize("flag", ["--spectrogram.bin_size", "--training.lr_stage1", "--dstrf.shrinkage"])
def test_a_nan_flag_is_refused_before_reading(flag, recording, tmp_path, capsys):
    before = _sha(recording)
    _refused([*_run(recording, tmp_path / "out"), flag, "nan"], EXIT_CONFIG, capsys,
             flag.lstrip("-").split(".")[1], "finite")
    assert _sha(recording) == before and not (tmp_path / "out").exists()


def test_a_binary_configuration_file_is_refused(recording, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_bytes(bytes(range(256)) * 4)
    _refused([*_run(recording, tmp_path / "out"), "--config", str(config)], EXIT_CONFIG, capsys,
             "config.toml", "cannot parse")


# --- files the reader refuses ---------------------------------------------------------------

def _damage(path, edit) -> str:
    with h5py.File(path, "r+") as f:
        edit(f)
    return _sha(path)


def test_duplicate_unit_ids_are_refused_at_read_time(recording, tmp_path, capsys):
    def twice(f):
        ids = f["units/id"][()]
        ids[2] = ids[0]
        f["units/id"][...] = ids
    before = _damage(recording, twice)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec", "repeats unit ids [0]")
    _refused(["inspect", str(recording)], EXIT_INPUT, capsys, "rec")
    assert _sha(recording) == before and not list((tmp_path / "out").glob("*.results.nwb"))


@pytest.mark.parametrize("damage, what", [
    (lambda ends: ends[::-1].copy(), "goes backwards"),
    (lambda ends: ends + 7, "ending at"),
])
def test_a_damaged_spike_times_index_is_refused(damage, what, recording, tmp_path, capsys):
    def edit(f):
        f["units/spike_times_index"][...] = damage(f["units/spike_times_index"][()])
    before = _damage(recording, edit)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec", "spike_times_index", what)
    assert _sha(recording) == before


def test_silent_sounds_are_refused_at_read_time(recording, tmp_path, capsys):
    def silence(f):
        for name in f["stimulus/templates"]:
            f[f"stimulus/templates/{name}/data"][...] = 0
    before = _damage(recording, silence)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec", "every sound is silent")
    _refused(["inspect", str(recording)], EXIT_INPUT, capsys, "rec")
    assert _sha(recording) == before


# --- sites that cannot be analysed: refused before any computation, listed by inspect --------

def test_validation_sounds_presented_once_are_refused_before_training(tmp_path, capsys):
    path = write_nwb(mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 1, 1), seed=2).nwbfile,
                     tmp_path / "once.nwb")
    line = _refused(_run(path, tmp_path / "out"), EXIT_INPUT, capsys, "once.nwb", "presented once")
    assert "CCnorm" in line
    assert main(["inspect", str(path)]) == EXIT_INPUT
    printed = capsys.readouterr()
    assert "presented once" in printed.out and "usable: yes" not in printed.out


def test_sounds_too_short_for_two_dstrf_samples_are_named(tmp_path, capsys):
    path = write_nwb(mock_site(n_units=3, n_sounds=2, duration=0.2, repeats=(1, 3), seed=3).nwbfile,
                     tmp_path / "short.nwb")
    _refused(_run(path, tmp_path / "out"), EXIT_INPUT, capsys, "short.nwb", "fewer than 2 dSTRF samples",
             "sound_0")


def test_a_sample_rate_below_the_top_channel_is_said(tmp_path):
    path = write_nwb(mock_site(n_units=2, rate=16000.0, seed=4).nwbfile, tmp_path / "slow.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site = read_site(path)
    assert any("sampled at 16000 Hz" in n and "max_frequency" in n for n in site.source["notes"])
    assert any("slow" in str(w.message) and "8000 Hz" in str(w.message) for w in caught)


# --- faults ----------------------------------------------------------------------------------

def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    from ndx_encoding_subspace.atomic import _HOST

    target = tmp_path / "site.results.nwb"
    dead = tmp_path / f".site.results.{_HOST}-{2**22 + 12345}-0123abcd.tmp.nwb"
    alive = tmp_path / f".site.results.{_HOST}-{os.getppid()}-89abcdef.tmp.nwb"
    other = tmp_path / f".other.{_HOST}-{2**22 + 12345}-0123abcd.tmp.nwb"
    for p in (dead, alive, other):
        p.write_bytes(b"partial")
    write_text(target, "done")
    assert target.read_text() == "done"
    assert not dead.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name, other.name])


def test_every_inspected_problem_is_listed_with_the_counts(tmp_path, capsys):
    site = mock_site(n_units=3, n_sounds=4, repeats=(1, 1, 1, 1), seed=5, firing_rate=0.0)
    path = write_nwb(site.nwbfile, tmp_path / "empty.nwb")
    assert main(["inspect", str(path)]) == EXIT_INPUT
    out = capsys.readouterr().out
    assert "problems:" in out and "usable: yes" not in out
    assert np.sum([line.startswith("  - ") for line in out.splitlines()]) >= 1


def test_device_indices_are_accepted_and_checked():
    from ndx_encoding_subspace.dstrf import DSTRFParams
    from ndx_encoding_subspace.fitting.training_params import TrainingParams, resolve_device

    assert TrainingParams(device="cuda:1").device == "cuda:1" == DSTRFParams(device="cuda:1").device
    for bad in ("gpu", "cuda:x", "cuda1"):
        with pytest.raises(ConfigError, match="device must be"):
            TrainingParams(device=bad)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda:1' requested but torch sees no CUDA device"):
            resolve_device("cuda:1")
    else:
        with pytest.raises(ConfigError, match="numbered from 0"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
