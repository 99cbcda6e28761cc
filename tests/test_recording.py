"""Writer API: round trip through plain pynwb, nwbinspector, atomic writes, bad input."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from ndx_encoding_subspace.data.recording import SessionInfo, write_recording
from ndx_encoding_subspace.errors import InvalidDataError

SESSION = SessionInfo(
    session_start_time=datetime(2021, 5, 4, 10, 0, tzinfo=timezone.utc),
    identifier="test-recording", experimenter=("Doe, Jane",), institution="Test", lab="Test",
    experiment_description="writer test",
)


@pytest.fixture()
def example() -> dict:
    rng = np.random.default_rng(0)
    return dict(
        sounds={
            "call": (rng.standard_normal(20000).astype(np.float32), 20000.0),
            "sweep": (rng.standard_normal(30000).astype(np.float32), 24000.0),
        },
        presentations=[(1.0, 2.0, "call"), (3.0, 4.25, "sweep"), (5.0, 6.0, "call")],
        spike_times=[rng.uniform(0, 7, n) for n in (40, 55, 13)],  # unsorted on purpose
        unit_ids=[5, 6, 9],
        depths=[100.0, 250.0, np.nan],
        areas=["A1", "A1", "PEG"],
        waveforms_mean=rng.standard_normal((3, 40)).astype(np.float32) * 1e-5,
        waveform_rate=30000.0,
        spike_time_resolution=1 / 30000,
        unit_columns={"label": (["Yes", "No", "Maybe"], "single-unit label")},
        presentation_columns={"repeat": ([0, 0, 1], "repeat index of the sound")},
        session=SESSION,
    )


def test_round_trip_with_plain_pynwb(tmp_path: Path, example: dict):
    path = write_recording(tmp_path / "site.nwb", **example)
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        for name, (wave, rate) in example["sounds"].items():
            ts = nwb.stimulus_template[name]
            np.testing.assert_array_equal(ts.data[:], wave)
            assert ts.rate == rate and ts.starting_time == 0.0
        table = nwb.intervals["sound_presentations"]
        assert list(table["sound"][:]) == ["call", "sweep", "call"]
        np.testing.assert_array_equal(table["start_time"][:], [1.0, 3.0, 5.0])
        np.testing.assert_array_equal(table["stop_time"][:], [2.0, 4.25, 6.0])
        np.testing.assert_array_equal(table["repeat"][:], [0, 0, 1])
        ref = table["timeseries"][1][0]
        assert ref.timeseries.name == "sweep" and ref.count == 30000
        units = nwb.units
        np.testing.assert_array_equal(units.id[:], [5, 6, 9])
        for i, times in enumerate(example["spike_times"]):
            np.testing.assert_array_equal(units["spike_times"][i], np.sort(times))
        np.testing.assert_array_equal(units["depth"][:], [100.0, 250.0, np.nan])
        assert list(units["area"][:]) == ["A1", "A1", "PEG"]
        assert list(units["label"][:]) == ["Yes", "No", "Maybe"]
        np.testing.assert_allclose(units["waveform_mean"][:], example["waveforms_mean"])
        assert units.waveform_rate == 30000.0
        assert list(nwb.electrodes["location"][:]) == ["A1", "A1", "PEG"]
        assert nwb.subject.species.endswith("NCBITaxon_9669")
    assert [p.name for p in tmp_path.iterdir()] == ["site.nwb"]  # no temporary left


def test_multichannel_waveforms_and_scratch(tmp_path: Path, example: dict):
    rng = np.random.default_rng(1)
    example["waveforms_mean"] = rng.standard_normal((3, 40, 4)).astype(np.float32)
    path = write_recording(
        tmp_path / "site.nwb", **example,
        scratch={"truth": (np.arange(6.0).reshape(2, 3), "ground truth"), "meta": ('{"k": 2}', "json")},
    )
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert len(nwb.electrodes) == 4
        np.testing.assert_allclose(nwb.units["waveform_mean"][1], example["waveforms_mean"][1])
        np.testing.assert_array_equal(nwb.scratch["truth"].data[:], np.arange(6.0).reshape(2, 3))
        assert nwb.scratch["meta"].data == '{"k": 2}'


def test_passes_nwbinspector(tmp_path: Path, example: dict):
    nwbinspector = pytest.importorskip("nwbinspector")
    path = write_recording(tmp_path / "site.nwb", **example)
    messages = list(nwbinspector.inspect_nwbfile(
        nwbfile_path=path, importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION,
    ))
    assert messages == [], [m.message for m in messages]


def test_replaces_existing_file_atomically(tmp_path: Path, example: dict):
    target = tmp_path / "site.nwb"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"site\.nwb: file exists \(pass overwrite=True"):
        write_recording(target, **example)
    assert target.read_bytes() == b"old"
    write_recording(target, **example, overwrite=True)
    assert target.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    bad = dict(example, presentations=[(1.0, 2.0, "missing")])
    with pytest.raises(InvalidDataError, match="unknown sound 'missing'"):
        write_recording(target, **bad, overwrite=True)
    assert target.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # untouched by the failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.nwb"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e["sounds"].update(bad=(np.array([0.0, np.nan]), 1000.0)), "sound 'bad' holds NaN"),
        (lambda e: e["sounds"].update(bad=(np.zeros(10), None)), "sound 'bad' has no valid sample rate"),
        (lambda e: e.update(presentations=[(2.0, 1.0, "call")]), "bad times"),
        (lambda e: e.update(depths=[1.0]), "depths has 1 entries for 3 units"),
        (lambda e: e.update(unit_ids=[1, 1, 2]), "not unique"),
        (lambda e: e.update(waveform_rate=None), "waveform_rate"),
        (lambda e: e["spike_times"].__setitem__(0, np.array([np.inf])), "unit 0"),
    ],
)
def test_bad_input_names_file_and_object(tmp_path: Path, example: dict, change, message):
    change(example)
    with pytest.raises(InvalidDataError, match=message) as info:
        write_recording(tmp_path / "bad.nwb", **example)
    assert "bad.nwb" in str(info.value)
    assert not (tmp_path / "bad.nwb").exists()
