"""Where a presentation's onset comes from when the file says it twice, and times in ms.

Files written with pynwb as labs write them: rows of a trials table starting before the
sound (the trial's start) while a TimeSeriesReference, or each sound's own series, says
when the sound played; and a file whose table and spike times are both in milliseconds.
The spikes are driven by the sounds, so counts read at the wrong onsets differ.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries
from pynwb.base import TimeSeriesReference
from pynwb.epoch import TimeIntervals

from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.testing.files import write_nwb

RATE, DURATION, LEAD = 16000.0, 0.5, 0.2
NAMES = ("clip00", "clip01", "clip02", "clip03")


def _sounds() -> dict[str, np.ndarray]:
    t = np.arange(int(DURATION * RATE)) / RATE
    rng = np.random.default_rng(0)
    return {n: (np.sin(2 * np.pi * 300 * 1.6 ** k * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t + k))
                + 0.05 * rng.standard_normal(t.size)).astype(np.float32) for k, n in enumerate(NAMES)}


def _schedule() -> tuple[list[str], np.ndarray]:
    order = [n for n, r in zip(NAMES, (1, 1, 1, 6)) for _ in range(r)]
    order = [order[i] for i in np.random.default_rng(0).permutation(len(order))]
    return order, 0.75 + np.arange(len(order)) * 1.0


def _spikes(order: list[str], starts: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
    """Three units, quiet between sounds, firing 20 to 60 spikes per sound heard."""
    rng = np.random.default_rng(1)
    trains = []
    for u in range(3):
        times = [rng.uniform(0, starts[-1] + 2, 5)]
        for name, start in zip(order, starts, strict=True):
            times.append(start + rng.uniform(0, DURATION, 20 + 10 * ((NAMES.index(name) + u) % 4)))
        trains.append(np.sort(np.concatenate(times)) * scale)
    return trains


def _true_counts(order: list[str], starts: np.ndarray, trains: list[np.ndarray]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, start in zip(order, starts, strict=True):
        counts = [int(((t >= start) & (t < start + DURATION)).sum()) for t in trains]
        out[name] = [a + b for a, b in zip(out.get(name, [0, 0, 0]), counts, strict=True)]
    return out


def _templates(nwb: NWBFile, sounds: dict[str, np.ndarray]) -> dict[str, TimeSeries]:
    """Each sound as a template of ``nwb``, by name."""
    made = {name: TimeSeries(name=name, data=wave, unit="Pa", rate=RATE) for name, wave in sounds.items()}
    for series in made.values():
        nwb.add_stimulus_template(series)
    return made


def _nwbfile() -> NWBFile:
    return NWBFile(session_description="onsets", identifier="onsets",
                   session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))


def test_rows_referencing_a_track_start_at_the_referenced_samples(tmp_path):
    sounds, (order, starts) = _sounds(), _schedule()
    track = np.zeros(int((starts[-1] + 1.5) * RATE), np.float32)
    for name, start in zip(order, starts, strict=True):
        at = int(round(start * RATE))
        track[at: at + sounds[name].size] = sounds[name]
    nwb = _nwbfile()
    series = TimeSeries(name="sound", data=track, unit="Pa", rate=RATE)
    nwb.add_stimulus(series)
    table = TimeIntervals(name="sound_presentations", description="trials: the sound 0.2 s after the start")
    for start in starts:  # the trial begins LEAD before the samples its reference points to
        ref = TimeSeriesReference(int(round(start * RATE)), int(DURATION * RATE), series)
        table.add_row(start_time=float(start - LEAD), stop_time=float(start + DURATION), timeseries=[ref])
    nwb.add_time_intervals(table)
    trains = _spikes(order, starts)
    for t in trains:
        nwb.add_unit(spike_times=t)
    said = r"9 rows of intervals/sound_presentations .* start up to 0\.2 s away from the samples"
    with pytest.warns(UserWarning, match=said + r" their references \('timeseries'\) point to"):
        site = read_site(write_nwb(nwb, tmp_path / "ref.nwb"))
    truth = _true_counts(order, starts, trains)
    repeated = next(s for s in site.sounds if s.n_repeats == 6)
    assert repeated.counts.sum(axis=(0, 1)).round().tolist() == truth["clip03"]
    assert "onsets-of-references" in site.source["rules"]


@pytest.mark.parametrize("lead", [LEAD, 0.0])
def test_series_with_their_own_times_move_rows_that_start_before_them(tmp_path, lead):
    sounds, (order, starts) = _sounds(), _schedule()
    nwb = _nwbfile()
    first: dict[str, float] = {}
    for name, start in zip(order, starts, strict=True):
        first.setdefault(name, float(start))
    for name, wave in sounds.items():  # each sound written once, at its first presentation
        nwb.add_stimulus(TimeSeries(name=name, data=wave, unit="Pa", rate=RATE, starting_time=first[name]))
    nwb.add_trial_column("sound", "the sound played")
    for name, start in zip(order, starts, strict=True):
        nwb.add_trial(start_time=float(start - lead), stop_time=float(start + DURATION), sound=name)
    trains = _spikes(order, starts)
    for t in trains:
        nwb.add_unit(spike_times=t)
    path = write_nwb(nwb, tmp_path / f"series_{lead}.nwb")
    if lead:
        said = r"every series in stimulus/presentation begins \+0\.2 s from the row of intervals/trials"
        with pytest.warns(UserWarning, match=said + r" .* moved by that lead"):
            site = read_site(path)
        assert "onsets-of-series" in site.source["rules"]
    else:
        site = read_site(path)
        assert "onsets-of-series" not in site.source.get("rules", [])
    truth = _true_counts(order, starts, trains)
    assert {s.name: s.counts.sum(axis=(0, 1)).round().tolist() for s in site.sounds} == truth


def test_table_and_spikes_both_in_milliseconds_are_refused(tmp_path):
    sounds, (order, starts) = _sounds(), _schedule()
    nwb = _nwbfile()
    for name, wave in sounds.items():
        nwb.add_stimulus_template(TimeSeries(name=name, data=wave, unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "the sound played")
    for name, start in zip(order, starts, strict=True):
        nwb.add_trial(start_time=float(start * 1000), stop_time=float(start * 1000 + DURATION), sound=name)
    for t in _spikes(order, starts, scale=1000.0):
        nwb.add_unit(spike_times=t)
    path = write_nwb(nwb, tmp_path / "ms.nwb")
    said = r"ms\.nwb: presentations lie a median of 1000 s apart while their sounds last 0\.5 s"
    with pytest.raises(InvalidDataError, match=said + r", .* in milliseconds\?"):
        read_site(path)


def test_names_that_contradict_the_rows_references_are_said(tmp_path):
    sounds, (order, starts) = _sounds(), _schedule()
    nwb = _nwbfile()
    templates = _templates(nwb, sounds)
    table = TimeIntervals(name="sound_presentations", description="sounds")
    table.add_column("sound", "the sound played")
    for k, (name, start) in enumerate(zip(order, starts, strict=True)):
        ref = TimeSeriesReference(0, int(DURATION * RATE), templates[name])
        named = "clip01" if k == 2 and name != "clip01" else name  # one row's name is wrong
        table.add_row(start_time=float(start), stop_time=float(start + DURATION), sound=named,
                      timeseries=[ref])
    nwb.add_time_intervals(table)
    for t in _spikes(order, starts):
        nwb.add_unit(spike_times=t)
    with pytest.warns(UserWarning, match=r"1 rows of intervals/sound_presentations \(rows \[2\]\) name other "
                                         r"sounds than their references in column 'timeseries'"):
        read_site(write_nwb(nwb, tmp_path / "disagree.nwb"))


def test_trials_naming_their_template_by_reference_and_name_are_read(tmp_path):
    """pynwb's ``add_trial(timeseries=[template])`` counts the reference from the session's
    start: the name column is read, and agreeing references say nothing."""
    sounds, (order, starts) = _sounds(), _schedule()
    nwb = _nwbfile()
    templates = _templates(nwb, sounds)
    nwb.add_trial_column("sound", "the sound played")
    for name, start in zip(order, starts, strict=True):
        nwb.add_trial(start_time=float(start), stop_time=float(start + DURATION), sound=name,
                      timeseries=[templates[name]])
    trains = _spikes(order, starts)
    for t in trains:
        nwb.add_unit(spike_times=t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*hold no power")
        site = read_site(write_nwb(nwb, tmp_path / "add_trial.nwb"))
    truth = _true_counts(order, starts, trains)
    assert {s.name: s.counts.sum(axis=(0, 1)).round().tolist() for s in site.sounds} == truth


def test_sparse_brief_sounds_in_seconds_are_not_taken_for_milliseconds(tmp_path):
    """0.1 s sounds every 150 s, units firing 5 spikes/s and 30 while a sound plays."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.1 * RATE)) / RATE
    nwb = _nwbfile()
    for k, name in enumerate(NAMES):
        nwb.add_stimulus_template(TimeSeries(name=name, data=np.sin(2 * np.pi * 500 * (k + 1) * t).astype(
            np.float32), unit="Pa", rate=RATE))
    order, starts = [NAMES[i % 4] for i in range(12)], 10 + np.arange(12) * 150.0
    nwb.add_trial_column("sound", "the sound played")
    for name, start in zip(order, starts, strict=True):
        nwb.add_trial(start_time=float(start), stop_time=float(start + 0.1), sound=name)
    for _ in range(3):
        spikes = [rng.uniform(0, starts[-1] + 10, int(5 * (starts[-1] + 10)))]
        spikes += [s + rng.uniform(0, 0.1, 3) for s in starts]
        nwb.add_unit(spike_times=np.sort(np.concatenate(spikes)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        site = read_site(write_nwb(nwb, tmp_path / "sparse.nwb"))
    assert sorted(s.name for s in site.sounds) == sorted(NAMES)
