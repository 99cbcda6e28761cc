"""Layouts labs publish that the reader once misread: each written with pynwb and read back
with the counts, names and messages checked."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hdmf.common import DynamicTable, VectorData
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.base import TimeSeriesReference
from pynwb.epoch import TimeIntervals

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams, spectrogram
from ndx_encoding_subspace.errors import NotNWBError
from ndx_encoding_subspace.io import locate, open_nwb, read_site
from ndx_encoding_subspace.io.timing import rate_and_start

RATE, DUR = 16000.0, 0.5
NAMES = ["clip01", "clip02", "clip03", "clip04", "val01"]


def _nwbfile() -> NWBFile:
    return NWBFile(session_description="cases", identifier="cases",
                   session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))


def _sound(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(DUR * RATE)) / RATE
    x = rng.standard_normal(t.size) * 0.3 + np.sin(2 * np.pi * (500 + 300 * seed) * t)
    return (x / np.abs(x).max() * 0.9).astype(np.float32)


def _schedule(repeats: int = 4) -> list[tuple[str, float]]:
    names = NAMES[:-1] + [NAMES[-1]] * repeats
    return [(name, 1.0 + i * (DUR + 0.5)) for i, name in enumerate(names)]


def _units(nwb: NWBFile, end: float) -> None:
    rng = np.random.default_rng(0)
    for _ in range(3):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, end, int(20 * end))))


def _templates(nwb: NWBFile, names=NAMES) -> None:
    for i, name in enumerate(names):
        nwb.add_stimulus_template(TimeSeries(name=name, data=_sound(i), unit="Pa", rate=RATE))


def _write(nwb: NWBFile, path) -> str:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


def test_a_track_named_by_a_column_and_referenced_per_row_keeps_its_repeats(tmp_path):
    """A recorded speaker track (noise: repeats not bit-identical) with rows naming the sound
    and referencing the track: the names tell repeats, not the per-row references."""
    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    track = np.random.default_rng(9).standard_normal(int((rows[-1][1] + 2) * RATE)).astype(np.float32) * 1e-3
    for name, start in rows:
        i = int(round(start * RATE))
        track[i:i + int(DUR * RATE)] += _sound(NAMES.index(name))
    series = TimeSeries(name="speaker", data=track, unit="V", rate=RATE)
    nwb.add_stimulus(series)
    table = TimeIntervals(name="sound_presentations", description="sounds")
    table.add_column("sound", "what played")
    for name, start in rows:
        table.add_row(start_time=start, stop_time=start + DUR, sound=name,
                      timeseries=[TimeSeriesReference(int(round(start * RATE)), int(DUR * RATE), series)])
    nwb.add_time_intervals(table)
    site = read_site(_write(nwb, tmp_path / "track.nwb"))
    assert sorted(s.name for s in site.sounds) == sorted(NAMES)
    assert site.validation == ("val01",) and site.sound("val01").counts.shape[0] == 4


def test_a_table_of_stimuli_with_ids_before_names_names_the_sounds(tmp_path):
    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    _templates(nwb)
    order = NAMES[::-1]
    stimuli = DynamicTable(name="stimuli", description="the stimulus set", columns=[
        VectorData(name="stim_id", description="id", data=list(range(100, 100 + len(order)))),
        VectorData(name="label", description="the sound", data=order)])
    nwb.create_processing_module("stimulus_info", "stimuli").add(stimuli)
    table = TimeIntervals(name="sound_presentations", description="sounds")
    table.add_column("stimulus", "row of the stimulus table", table=stimuli)
    for name, start in rows:
        table.add_row(start_time=start, stop_time=start + DUR, stimulus=order.index(name))
    nwb.add_time_intervals(table)
    site = read_site(_write(nwb, tmp_path / "stimuli.nwb"))
    assert site.validation == ("val01",) and site.sound("val01").counts.shape[0] == 4
    assert sorted(site.estimation) == sorted(NAMES[:-1])


def test_whole_number_float_ids_with_nan_baseline_rows_name_sounds(tmp_path):
    """An integer column with NaN rows, as pandas writes it: 1.0, 2.0, ... NaN."""
    ids = [str(i) for i in range(1, 6)]
    rows = [(ids[NAMES.index(n)], s) for n, s in _schedule()]
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 4)
    _templates(nwb, ids)
    nwb.add_trial_column("stim", "stimulus number (NaN: baseline)")
    for name, start in rows:
        nwb.add_trial(start_time=start, stop_time=start + DUR, stim=float(name))
    nwb.add_trial(start_time=rows[-1][1] + 1.0, stop_time=rows[-1][1] + 1.5, stim=float("nan"))
    site = read_site(_write(nwb, tmp_path / "ids.nwb"))
    assert site.validation == ("5",) and site.sound("5").counts.shape[0] == 4


def test_one_sound_at_several_levels_is_read_as_repeats_with_a_warning(tmp_path):
    rows = _schedule(repeats=3)
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    _templates(nwb)
    table = TimeIntervals(name="sound_presentations", description="sounds")
    table.add_column("sound", "what played")
    table.add_column("attenuation_db", "attenuation of the speaker, dB")
    level = iter([0.0, 20.0, 40.0])
    for name, start in rows:
        table.add_row(start_time=start, stop_time=start + DUR, sound=name,
                      attenuation_db=next(level) if name == "val01" else 0.0)
    nwb.add_time_intervals(table)
    with pytest.warns(UserWarning, match=r"differ in level .*'attenuation_db'; e.g. 'val01' at 0, 20, 40 dB"):
        site = read_site(_write(nwb, tmp_path / "levels.nwb"))
    assert site.sound("val01").counts.shape[0] == 3


def test_timestamps_of_a_regular_sound_give_its_rate_and_its_spectrogram(tmp_path):
    nwb = _nwbfile()
    x = _sound(0)
    nwb.add_stimulus_template(TimeSeries(name="by_rate", data=x, unit="Pa", rate=RATE))
    times = np.arange(x.size) / RATE
    nwb.add_stimulus_template(TimeSeries(name="by_times", data=x, unit="Pa", timestamps=times))
    with open_nwb(_write(nwb, tmp_path / "times.nwb")) as opened:
        rate, start = rate_and_start(opened.nwbfile.stimulus_template["by_times"])
    assert rate == RATE and start == 0.0
    params = SpectrogramParams(max_frequency=7000.0)
    np.testing.assert_array_equal(spectrogram(x, 16000.0 * (1 - 1e-15), params), spectrogram(x, RATE, params))


@pytest.mark.parametrize(("rate", "jitter"), [(96_000.0, 0.0), (192_000.0, 0.0), (384_000.0, 0.0),
                                             (16_000.0, 0.13)])
def test_timestamps_rounded_or_jittered_give_the_bins_of_the_rate(rate, jitter):
    """Timestamps rounded to the microsecond (384 kHz: a third of a sample) or jittered by
    a tenth of a sample are evenly spaced, and the sound has the bins its rate gives."""
    from ndx_encoding_subspace.data.spectrogram import n_bins

    n = int(0.3 * rate)
    exact = np.arange(n) / rate
    wobble = np.random.default_rng(0).uniform(-jitter, jitter, n) / rate
    times = np.round(exact + wobble, 6)
    series = TimeSeries(name="s", data=np.zeros(n), unit="Pa", timestamps=times)
    found, start = rate_and_start(series)
    assert found is not None and abs(found - rate) < 1e-4 * rate and start == times[0]
    assert n_bins(n, found, 0.01) == n_bins(n, rate, 0.01) == 30
    dropped = np.delete(times, n // 2)  # a sample missing: every later one a sample early
    assert rate_and_start(TimeSeries(name="d", data=np.zeros(n - 1), unit="Pa", timestamps=dropped))[0] \
        is None


@pytest.mark.parametrize("offset", [1.7e9, 5000.0])
def test_timestamps_in_unix_time_give_the_round_rate_and_the_same_spectrogram(offset):
    """float64 timestamps in Unix time (steps of 0.24 us) leave the rate uncertain by
    1e-6: the round rate, not one a hair off, whose bins would fall a sample apart."""
    x = _sound(0)
    times = offset + np.arange(x.size) / RATE
    rate, start = rate_and_start(TimeSeries(name="s", data=x, unit="Pa", timestamps=times))
    assert rate == RATE and start == times[0]
    assert rate_and_start(TimeSeries(name="s", data=x, unit="Pa", timestamps=offset + np.arange(x.size)
                                     / 24414.0625))[0] == pytest.approx(24414.0625, rel=2e-7)


def test_a_rate_a_hair_off_a_round_one_bins_as_the_round_one():
    params = SpectrogramParams(max_frequency=7000.0)
    x = _sound(1)
    np.testing.assert_array_equal(spectrogram(x, RATE * (1 + 1e-11), params), spectrogram(x, RATE, params))


def _site_timed(path, times_of):
    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    for i, name in enumerate(NAMES):
        x = _sound(i)
        nwb.add_stimulus_template(TimeSeries(name=name, data=x, unit="Pa", **times_of(x.size)))
    table = TimeIntervals(name="sound_presentations", description="sounds")
    table.add_column("sound", "what played")
    for name, start in rows:
        table.add_row(start_time=start, stop_time=start + DUR, sound=name)
    nwb.add_time_intervals(table)
    return _write(nwb, path)


def test_float32_timestamps_an_hour_in_are_read_with_a_warning(tmp_path):
    """At 1000 s a float32 step is 61 us, coarser than half a 62.5-us sample: the sounds
    are evenly sampled all the same, their rate taken from the whole span."""
    coarse = _site_timed(tmp_path / "f32.nwb", lambda n: {
        "timestamps": (1000.0 + np.arange(n) / RATE).astype(np.float32)})
    said = r"timestamps stored to 61 us \(float32\), coarser than half a sample"
    with pytest.warns(UserWarning, match=said):
        site = read_site(coarse)
    plain = read_site(_site_timed(tmp_path / "rate.nwb", lambda n: {"rate": RATE}))
    for a, b in zip(site.sounds, plain.sounds, strict=True):
        np.testing.assert_array_equal(a.spectrogram, b.spectrogram)
        np.testing.assert_array_equal(a.counts, b.counts)


def test_float64_timestamps_on_the_float32_grid_are_not_taken_for_float32_ones():
    """32768 Hz from 300 s: every time is a float32 number, yet exact; no coarse warning,
    and a dropped sample is still seen."""
    from ndx_encoding_subspace.io.timing import coarse_timestamps

    times = 300.0 + np.arange(16384) / 32768.0
    series = TimeSeries(name="s", data=np.zeros(times.size), unit="Pa", timestamps=times)
    assert rate_and_start(series) == (32768.0, 300.0) and coarse_timestamps(series) == 0.0
    dropped = np.delete(times, 5000)
    assert rate_and_start(TimeSeries(name="d", data=np.zeros(dropped.size), unit="Pa",
                                     timestamps=dropped))[0] is None


def test_presentations_of_a_series_that_is_no_sound_say_why(tmp_path):
    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    for i, name in enumerate(NAMES):
        data = _sound(i) if name != "clip02" else np.stack([_sound(i)] * 2, 1)[:, :, None]
        nwb.add_stimulus_template(TimeSeries(name=name, data=data, unit="Pa", rate=RATE))
    table = TimeIntervals(name="sound_presentations", description="sounds")
    table.add_column("sound", "what played")
    for name, start in rows:
        table.add_row(start_time=start, stop_time=start + DUR, sound=name)
    nwb.add_time_intervals(table)
    path = _write(nwb, tmp_path / "shape.nwb")
    said = r"'clip02' \(not read as sounds: stimulus/templates/clip02 \(TimeSeries of shape \(8000, 2, 1\)"
    with pytest.warns(UserWarning, match=said):
        site = read_site(path)
    assert "clip02" not in site.estimation
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name)
    assert any(u.startswith("stimulus/templates/clip02 (TimeSeries of shape") for u in layout.unused)


def test_a_file_pynwb_cannot_construct_is_named_in_a_short_line(tmp_path):
    import h5py

    nwb = _nwbfile()
    _templates(nwb, NAMES[:1])
    path = _write(nwb, tmp_path / "rate.nwb")
    with h5py.File(path, "a") as f:
        f["stimulus/templates/clip01/starting_time"].attrs["rate"] = "16000"
    with pytest.raises(NotNWBError) as err:
        with open_nwb(path):
            pass
    message = str(err.value)
    assert "stimulus/templates/clip01: Could not construct TimeSeries" in message and "'rate'" in message
    assert "GroupBuilder" not in message and len(message) < 400


def test_numbers_in_a_sound_column_are_said_to_be_no_names(tmp_path):
    from ndx_encoding_subspace.errors import NoSoundStimulusError

    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    _templates(nwb)
    nwb.add_trial_column("sound", "index of the template")
    for name, start in rows:
        nwb.add_trial(start_time=start, stop_time=start + DUR, sound=NAMES.index(name))
    with pytest.raises(NoSoundStimulusError, match=r"column 'sound' names '0', .*numbers: indexes into the "
                                                   r"templates are not read"):
        read_site(_write(nwb, tmp_path / "numbers.nwb"))


def test_waveforms_added_with_add_stimulus_and_named_by_trials_are_templates(tmp_path):
    """pynwb's add_stimulus puts each waveform in stimulus/presentation, all starting at 0;
    the trials name them: they are the templates, not several session tracks."""
    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    for i, name in enumerate(NAMES):
        nwb.add_stimulus(TimeSeries(name=name, data=_sound(i), unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "what played")
    for name, start in rows:
        nwb.add_trial(start_time=start, stop_time=start + DUR, sound=name)
    path = _write(nwb, tmp_path / "presentation.nwb")
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, "presentation.nwb")
    assert layout.kind == "templates" and "read as templates" in layout.reason
    site = read_site(path)
    assert site.validation == ("val01",) and site.sound("val01").counts.shape[0] == 4
    assert sorted(site.estimation) == sorted(NAMES[:-1])


def test_presentations_in_an_annotation_series_are_read(tmp_path):
    from pynwb.misc import AnnotationSeries

    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    _templates(nwb)
    nwb.add_stimulus(AnnotationSeries(name="sound_onsets", data=[n for n, _ in rows],
                                      timestamps=[t for _, t in rows]))
    site = read_site(_write(nwb, tmp_path / "annotations.nwb"))
    assert site.validation == ("val01",) and site.sound("val01").counts.shape[0] == 4
    assert site.source["table"] == "stimulus/presentation/sound_onsets"


def test_durations_in_milliseconds_are_refused_as_such(tmp_path):
    from ndx_encoding_subspace.errors import InvalidDataError

    rows = _schedule()
    nwb = _nwbfile()
    _units(nwb, rows[-1][1] + 3)
    _templates(nwb)
    table = DynamicTable(name="sound_presentations", description="sounds", columns=[
        VectorData(name="timestamp", description="onset", data=[t for _, t in rows]),
        VectorData(name="duration", description="ms", data=[DUR * 1000] * len(rows)),
        VectorData(name="sound", description="what played", data=[n for n, _ in rows])])
    nwb.create_processing_module("stimulus_info", "stimuli").add(table)
    with pytest.raises(InvalidDataError, match=r"'duration' holds durations of about 500, .*milliseconds\?"):
        read_site(_write(nwb, tmp_path / "ms.nwb"))
