"""Sessions that play their sounds under several conditions, columns that only look like
baseline flags, and observation intervals that end with the recording: written with pynwb
and read back with the counts checked."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from ndx_encoding_subspace.errors import ConfigError, InvalidDataError, NoUnitsError
from ndx_encoding_subspace.io import locate, open_nwb, read_site
from ndx_encoding_subspace.io.conditions import parse_where
from ndx_encoding_subspace.io.reader_params import ReaderParams
from ndx_encoding_subspace.io.site_reader import reading_rules

RATE, DUR = 16000.0, 0.5
NAMES = [f"s{i}" for i in range(6)]
#: every sound once, then s0 and s1 again: 8 presentations per block
BLOCK = NAMES + ["s0", "s1"]


def _nwbfile() -> NWBFile:
    return NWBFile(session_description="conditions", identifier="conditions",
                   session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))


def _sound(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(DUR * RATE)) * 0.3).astype(np.float32)


def _session(columns: dict[str, list], blocks: int = 2, obs_end: float | None = None,
             last_spike: float | None = None, row_after: float = 0.0) -> NWBFile:
    """Templates, a trials table naming them (``blocks`` blocks of :data:`BLOCK`; each row stops
    ``row_after`` s after its sound) with extra ``columns`` (one value per trial), and three units."""
    nwb = _nwbfile()
    for i, name in enumerate(NAMES):
        nwb.add_stimulus_template(TimeSeries(name=name, data=_sound(i), unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "the sound played")
    for column in columns:
        nwb.add_trial_column(column, "a condition")
    start = 1.0
    for k, name in enumerate(BLOCK * blocks):
        nwb.add_trial(start_time=start, stop_time=start + DUR + row_after, sound=name,
                      **{c: v[k] for c, v in columns.items()})
        start += DUR + 0.5
    end = start + 1.0 if last_spike is None else last_spike
    rng = np.random.default_rng(0)
    if obs_end is not None:
        nwb.add_unit_column("obs_intervals", "observed", index=True)
    for _ in range(3):
        times = np.sort(rng.uniform(0, end, int(20 * end)))
        extra = {"obs_intervals": [[0.0, obs_end]]} if obs_end is not None else {}
        nwb.add_unit(spike_times=times, **extra)
    return nwb


def _write(nwb: NWBFile, path) -> str:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


def _read(path: str, **reader) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site = read_site(path, reader=ReaderParams(**reader))
    return site, [str(w.message) for w in caught]


def _presentations(site) -> int:
    return sum(s.counts.shape[0] for s in site.sounds)


def test_a_baseline_phase_in_which_the_sounds_played_is_read(tmp_path):
    n = 2 * len(BLOCK)
    phase = ["baseline"] * len(BLOCK) + ["muscimol"] * len(BLOCK)
    path = _write(_session({"phase": phase}), tmp_path / "phase.nwb")
    site, said = _read(path)
    assert _presentations(site) == n  # the baseline phase's rows played their sounds too
    note = next(w for w in said if "differ in condition" in w)
    assert "intervals/trials column 'phase'" in note and "--reader.where phase=baseline" in note
    for value in ("muscimol", "BASELINE"):
        chosen, said = _read(path, where=(f"phase={value}",))
        assert _presentations(chosen) == len(BLOCK)
        assert not any("differ in condition" in w for w in said)
        assert chosen.validation == ("s0", "s1") and chosen.sound("s0").counts.shape[0] == 2


def test_a_baseline_phase_alone_names_its_sounds(tmp_path):
    path = _write(_session({"phase": ["baseline"] * len(BLOCK)}, blocks=1), tmp_path / "pre.nwb")
    site, _ = _read(path)
    assert _presentations(site) == len(BLOCK)


def test_silent_rows_marked_by_a_type_column_stay_baseline(tmp_path):
    nwb = _session({"trial_type": ["sound"] * len(BLOCK)}, blocks=1)
    nwb.add_trial(start_time=30.0, stop_time=30.5, sound="spont_01", trial_type="spontaneous")
    path = _write(nwb, tmp_path / "spont.nwb")
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, "spont.nwb")
    assert len(layout.presentations) == len(BLOCK)
    assert "1 rows of intervals/trials play no sound (baseline)" in layout.describe()


@pytest.mark.parametrize("column", ["stim_present", "photostim_power"])
def test_a_photostimulation_column_is_a_condition(tmp_path, column):
    """The Svoboda lab's trials tables flag photostimulation in ``stim_present`` (0/1):
    presentations with and without it are read as repeats only with a warning naming it."""
    n = 2 * len(BLOCK)
    path = _write(_session({column: [float(k % 3 == 0) for k in range(n)]}), tmp_path / "photo.nwb")
    site, said = _read(path)
    assert _presentations(site) == n
    assert any("differ in condition" in w and repr(column) in w for w in said), said


@pytest.mark.parametrize(("column", "values"), [("condition", ("none", "laser")),
                                                 ("condition", ("", "muscimol")),
                                                 ("condition", ("silence", "noise"))])
def test_a_control_condition_that_says_nothing_or_silence_is_no_baseline(tmp_path, column, values):
    # the first block is the control one
    n = 2 * len(BLOCK)
    path = _write(_session({column: [values[k // len(BLOCK)] for k in range(n)]}), tmp_path / "control.nwb")
    site, said = _read(path)
    assert _presentations(site) == n
    assert {s.name for s in site.sounds} == set(NAMES)
    assert any("differ in condition" in w and repr(column) in w for w in said)
    assert not any("no sound played" in w for w in said)
    with open_nwb(path) as opened:  # results made when such rows were left out are made again
        assert "control-rows-read" in reading_rules(locate(opened.nwbfile, "control.nwb"), ReaderParams())
    chosen, _ = _read(path, where=(f"{column}={values[1]}",))
    assert _presentations(chosen) == len(BLOCK)
    if values[0]:
        chosen, _ = _read(path, where=(f"{column}={values[0]}",))
        assert _presentations(chosen) == len(BLOCK)


def test_none_in_a_column_of_row_kinds_is_no_stimulus(tmp_path):
    # stim_type none: catch trials that name the sound muted, and no rule of reading added
    n = 2 * len(BLOCK)
    kinds = ["none" if k % 4 == 3 else "sound" for k in range(n)]
    path = _write(_session({"stim_type": kinds}), tmp_path / "catch.nwb")
    site, said = _read(path)
    assert _presentations(site) == n - n // 4
    with open_nwb(path) as opened:
        assert "control-rows-read" not in reading_rules(locate(opened.nwbfile, "catch.nwb"), ReaderParams())


def test_rows_naming_a_sound_that_a_column_says_played_none_are_said(tmp_path):
    n = 2 * len(BLOCK)
    phase = ["spontaneous", "evoked"] * len(BLOCK)
    nwb = _session({"phase": phase})
    nwb.add_trial(start_time=60.0, stop_time=60.5, sound="quiet_period", phase="spontaneous")
    path = _write(nwb, tmp_path / "spont.nwb")
    site, said = _read(path)
    assert _presentations(site) == n // 2
    note = next(w for w in said if "no sound played" in w)
    # the label of a silent period is no sound: only the rows naming sounds are counted
    assert f"{n // 2} rows of intervals/trials name a sound" in note and "column 'phase'" in note
    assert "quiet_period" not in note


@pytest.mark.parametrize("values", [[1.0] * len(BLOCK), [0.0, 1.0] * (len(BLOCK) // 2)])
def test_a_baseline_duration_is_no_baseline_flag(tmp_path, values):
    path = _write(_session({"baseline_duration": values}, blocks=1), tmp_path / "dur.nwb")
    site, _ = _read(path)
    assert _presentations(site) == len(BLOCK) and sorted(s.name for s in site.sounds) == NAMES


def test_a_baseline_flag_column_still_marks_rows(tmp_path):
    flags = [False] * len(BLOCK)
    flags[2] = True
    path = _write(_session({"is_baseline": flags}, blocks=1), tmp_path / "flag.nwb")
    site, _ = _read(path)
    assert _presentations(site) == len(BLOCK) - 1 and "s2" not in {s.name for s in site.sounds}


def test_where_combines_columns_and_values(tmp_path):
    n = 3 * len(BLOCK)
    laser = [k % 2 for k in range(n)]
    drug = ["saline"] * len(BLOCK) + ["muscimol"] * len(BLOCK) + ["washout"] * len(BLOCK)
    path = _write(_session({"laser": laser, "drug": drug}, blocks=3), tmp_path / "two.nwb")
    site, _ = _read(path, where=("laser=0", "drug=saline", "drug=washout"))
    assert _presentations(site) == len(BLOCK)  # half of two blocks
    site, _ = _read(path, where=("laser=1.0",))
    assert _presentations(site) == n // 2
    with pytest.raises(InvalidDataError, match=r"no presentation has laser = 2 .*laser: '0', '1'"):
        _read(path, where=("laser=2",))
    with pytest.raises(ConfigError, match=r"column 'state', which intervals/trials does not have"):
        _read(path, where=("state=awake",))


def test_where_entries_are_checked_early():
    with pytest.raises(ConfigError, match="'phase' is not column=value"):
        ReaderParams(where=("phase",))
    assert parse_where(["phase = Baseline", "phase=drug", "laser=1.0"]) == {
        "phase": {"baseline", "drug"}, "laser": {"1"}}


def test_obs_intervals_ending_with_the_recording_leave_out_trailing_presentations(tmp_path):
    """The last presentations start after the recording (and every unit's observation) ended:
    they are left out as without obs_intervals, not the whole file refused."""
    n = len(BLOCK)
    last = 1.0 + (n - 2) * (DUR + 0.5) - 0.2  # before the onsets of the last two presentations
    path = _write(_session({}, blocks=1, obs_end=last, last_spike=last), tmp_path / "obs.nwb")
    site, said = _read(path)
    assert _presentations(site) == n - 2 and len(site.units.ids) == 3
    assert any("begin after the recording ends" in w for w in said)


def test_a_presentation_during_which_every_unit_s_observation_ends_is_left_out(tmp_path):
    n = len(BLOCK)
    last_onset = 1.0 + (n - 1) * (DUR + 0.5)
    path = _write(_session({}, blocks=1, obs_end=last_onset + DUR / 2, last_spike=last_onset + DUR / 2),
                  tmp_path / "obs.nwb")
    site, said = _read(path)
    assert _presentations(site) == n - 1 and len(site.units.ids) == 3
    assert any(f"rows [{n - 1}] are observed whole by no unit" in w for w in said)


def test_units_observed_through_the_sounds_are_kept_though_rows_stop_later(tmp_path):
    """Spikes are counted over the sound, not to the row's stop: observation ending after the
    last sound but before its row stops leaves every unit and presentation in."""
    n = len(BLOCK)
    last_sound_end = 1.0 + (n - 1) * (DUR + 0.5) + DUR
    path = _write(_session({}, blocks=1, obs_end=last_sound_end + 0.1, last_spike=last_sound_end + 0.1,
                           row_after=0.4), tmp_path / "obs.nwb")
    site, said = _read(path)
    assert _presentations(site) == n and len(site.units.ids) == 3
    assert not any("obs_intervals" in w or "observed whole" in w for w in said)


def test_units_observed_to_the_end_but_silent_there_keep_the_last_presentations(tmp_path):
    """The recording lasts as long as the units are observed, not only to the last spike."""
    n = len(BLOCK)
    quiet_from = 1.0 + (n - 3) * (DUR + 0.5) - 0.2  # no spike during the last three sounds
    path = _write(_session({}, blocks=1, obs_end=1.0 + n * (DUR + 0.5) + 1.0, last_spike=quiet_from),
                  tmp_path / "obs.nwb")
    site, said = _read(path)
    assert _presentations(site) == n and len(site.units.ids) == 3
    assert not any("recording ends" in w for w in said)


def test_obs_intervals_leaving_many_presentations_unobserved_refuse_naming_the_first(tmp_path):
    path = _write(_session({}, blocks=1, obs_end=3.0, last_spike=20.0), tmp_path / "obs.nwb")
    with pytest.raises(NoUnitsError, match=r"unobserved \(the first: 3 to 3\.5 s, observed by 0 of 3"):
        _read(path)


def _onset_layout(tmp_path, column: str, lead: float, relative: bool = False, catch: int = 0) -> object:
    """The layout of trials that begin ``lead`` s before something whose onset (s) is in
    ``column`` (``relative``: from the trial's start), beside an onset in ms (no onset in
    seconds), and ``catch`` trials playing no sound (NaN onset) after them."""
    nwb = _nwbfile()
    for i, name in enumerate(NAMES):
        nwb.add_stimulus_template(TimeSeries(name=name, data=_sound(i), unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "the sound played")
    nwb.add_trial_column(column, "an onset, s")
    nwb.add_trial_column("stim_on_ms", "the onset in the trial, ms")
    start = 1.0
    for name in BLOCK:
        nwb.add_trial(start_time=start, stop_time=start + 1.5, sound=name,
                      **{column: lead if relative else start + lead}, stim_on_ms=1000 * lead)
        start += 2.0
    for _ in range(catch):
        nwb.add_trial(start_time=start, stop_time=start + 1.5, sound="none", **{column: np.nan},
                      stim_on_ms=np.nan)
        start += 2.0
    for _ in range(3):
        nwb.add_unit(spike_times=np.sort(np.random.default_rng(0).uniform(0, start, 200)))
    path = _write(nwb, tmp_path / "onset.nwb")
    with open_nwb(path) as opened:
        return locate(opened.nwbfile, "onset.nwb")


@pytest.mark.parametrize("column", ["stim_on_time", "stimOn_times", "sound_onset_s"])
def test_a_sound_onset_column_of_another_name_is_found(tmp_path, column):
    """Trials begin 0.4 s before their sound; the sound's onset is in a column whose name
    says so without being one of the usual names."""
    layout = _onset_layout(tmp_path, column, 0.4)
    assert layout.onset == column
    assert sorted(p.start for p in layout.presentations)[:2] == pytest.approx([1.4, 3.4])
    assert f"sound onsets from intervals/trials column {column!r}" in layout.describe()


@pytest.mark.parametrize("column", ["stimOn_times", "sound_onset_s"])
def test_a_sound_onset_column_is_read_beside_catch_trials_and_refused_outside_its_rows(tmp_path, column):
    """Catch trials hold NaN onsets and do not hide the column; onsets from the trial's
    start (or past its end) are refused, not silently replaced by the trials' starts."""
    layout = _onset_layout(tmp_path, column, 0.4, catch=4)
    assert layout.onset == column and len(layout.presentations) == len(BLOCK)
    assert sorted(p.start for p in layout.presentations)[:2] == pytest.approx([1.4, 3.4])
    with pytest.raises(InvalidDataError, match=rf"column '{column}'\) before the row's start_time: "
                                               "onsets relative to the row"):
        _onset_layout(tmp_path, column, 0.4, relative=True)
    with pytest.raises(InvalidDataError, match=rf"column '{column}'\) after the row's stop_time"):
        _onset_layout(tmp_path, column, 1.8)


@pytest.mark.parametrize("column", ["sound_delay", "stim_onset_rel"])
def test_a_sound_onset_in_another_form_than_seconds_from_the_start_is_said(tmp_path, column):
    """Trials begin 0.4 s before their sound, given only relative to the row (and in ms):
    the onsets are the trials' starts, and a warning names the columns not read."""
    layout = _onset_layout(tmp_path, column, 0.4, relative=True)
    assert layout.onset == "start_time"
    note = next(n for n in layout.notes if "are not read as onsets" in n)
    assert f"'{column}', 'stim_on_ms'" in note and "reader.onset_column" in note


@pytest.mark.parametrize("column", ["lick_latency_from_stim_onset", "stim_latency", "speaker_delay"])
def test_a_latency_or_a_hardware_delay_is_no_onset_to_warn_of(tmp_path, column):
    layout = _onset_layout(tmp_path, column, 0.4, relative=True)
    assert not any("are not read as onsets" in n and column in n for n in layout.notes)


def test_presentations_in_invalid_times_are_left_out(tmp_path):
    nwb = _session({}, blocks=1)
    nwb.add_invalid_time_interval(start_time=1.2, stop_time=2.6)  # the first two presentations
    path = _write(nwb, tmp_path / "invalid.nwb")
    site, said = _read(path)
    assert _presentations(site) == len(BLOCK) - 2
    assert any("2 of 8 presentations overlap intervals/invalid_times" in w for w in said)
    nwb = _session({}, blocks=1)
    nwb.add_invalid_time_interval(start_time=0.0, stop_time=100.0)
    path = _write(nwb, tmp_path / "all_invalid.nwb")
    with pytest.raises(InvalidDataError, match="every presentation overlaps intervals/invalid_times"):
        _read(path)


def _track_session(stops: list[float]) -> str:
    """A recorded speaker track with trials naming what played: s0 three times (rows ending
    ``stops`` s after their onset), then s1 to s5 once."""
    names = ["s0", "s1", "s0", "s2", "s0", "s3", "s4", "s5"]
    onsets = [1.0 + 1.5 * k for k in range(len(names))]
    track = np.zeros(int((onsets[-1] + 2.0) * RATE), dtype=np.float32)
    nwb = _nwbfile()
    nwb.add_trial_column("sound", "the sound played")
    lengths = iter(stops)
    for name, onset in zip(names, onsets, strict=True):
        i = int(onset * RATE)
        track[i:i + int(DUR * RATE)] = _sound(NAMES.index(name))
        stop = next(lengths) if name == "s0" else DUR
        nwb.add_trial(start_time=onset, stop_time=onset + stop, sound=name)
    nwb.add_stimulus(TimeSeries(name="speaker", data=track, unit="V", rate=RATE))
    for _ in range(3):
        nwb.add_unit(spike_times=np.sort(np.random.default_rng(0).uniform(0, len(track) / RATE, 300)))
    return nwb


@pytest.mark.parametrize("stops", [[0.15, DUR, DUR], [DUR, DUR, 0.15], [DUR, DUR + 0.004, DUR - 0.003]])
def test_a_presentation_cut_short_is_left_out_not_the_length_of_its_sound(tmp_path, stops):
    path = _write(_track_session(stops), tmp_path / "track.nwb")
    site, said = _read(path, validation_sounds=("s0",))
    s0 = site.sound("s0")
    assert s0.spectrogram.shape[0] == int(round(DUR / 0.01))  # the sound's whole length
    short = sum(s < 0.9 * DUR for s in stops)
    assert s0.counts.shape[0] == 3 - short
    assert any("shorter than most presentations of their sound" in w for w in said) == bool(short)


def test_trials_of_varying_length_holding_the_whole_sound_are_all_kept(tmp_path):
    """A track cut at trials that last the sound and a response window of varying length:
    each holds the whole sound (silence after it), so none is cut short; all are read over
    the shortest. A trial stopped inside the sound still is."""
    path = _write(_track_session([1.2, 1.45, 1.4]), tmp_path / "windows.nwb")
    site, said = _read(path, validation_sounds=("s0",))
    assert site.sound("s0").counts.shape[:2] == (3, int(round(1.2 / 0.01)))
    assert not any("shorter than most" in w for w in said)
    assert "whole-in-shortest" in site.source["rules"]  # results made before (2 of 3 kept): made again
    with open_nwb(path) as opened:
        notes = locate(opened.nwbfile, opened.name).notes
    said_so = "1 sound(s) whose presentations differ in length but all hold the whole sound"
    assert any(said_so in n for n in notes)
    path = _write(_track_session([1.4, 0.3, 1.45]), tmp_path / "aborted.nwb")
    site, said = _read(path, validation_sounds=("s0",))
    assert site.sound("s0").counts.shape[0] == 2 and any("shorter than most" in w for w in said)


def _stopped(stops: dict[int, float], blocks: int = 2) -> NWBFile:
    """:func:`_session` with the rows ``stops`` (row: seconds played) stopped early."""
    nwb = _session({}, blocks=blocks)
    for row, played in stops.items():
        nwb.trials["stop_time"].data[row] = nwb.trials["start_time"].data[row] + played
    return nwb


def test_a_template_s_row_stopped_early_is_cut_short(tmp_path):
    """A go/no-go trial whose sound was stopped at 0.15 s of 0.5 s: its spikes after the
    stop are no response to the rest of the sound; it is left out like a track's."""
    path = _write(_stopped({6: 0.15}), tmp_path / "aborted.nwb")  # s0, of 4 presentations
    site, said = _read(path, validation_sounds=("s0", "s1"))
    assert site.sound("s0").counts.shape[0] == 3 and site.sound("s1").counts.shape[0] == 4
    assert any("1 presentation(s) shorter than most presentations of their sound" in w for w in said)
    assert "cut-short-left-out" in site.source["rules"]
    # half of a sound's presentations stopped early: all are read over the shorter span, said so
    half = _write(_stopped({0: 0.15, 6: 0.15}), tmp_path / "half.nwb")
    with open_nwb(half) as opened:
        layout = locate(opened.nwbfile, opened.name)
    s0 = [p for p in layout.presentations if p.sound == "s0"]
    assert len(s0) == 4 and {p.n_samples for p in s0} == {int(0.15 * RATE)}
    assert any("2 presentation(s) read only as long as the shorter" in n for n in layout.notes)
    # every presentation of s5 stopping early: the sound's own end (silence after it), read whole
    padded = _write(_stopped({5: 0.15, 13: 0.15}), tmp_path / "padded.nwb")
    site, said = _read(padded, validation_sounds=("s0", "s1"))
    assert site.sound("s5").counts.shape == (2, int(round(DUR / 0.01)), 3)
    assert not any("shorter" in w or "read only as long" in w for w in said)


def test_most_rows_stopping_before_their_sound_ends_are_read_whole_and_said(tmp_path):
    """Every row stopping at 0.2 s of its 0.5 s sound: the stop is another time of the trial
    (a response window), each sound read whole, in a warning."""
    rows = len(_stopped({}).trials)
    path = _write(_stopped({row: 0.2 for row in range(rows)}), tmp_path / "window.nwb")
    site, said = _read(path, validation_sounds=("s0", "s1"))
    assert site.sound("s0").counts.shape == (4, int(round(DUR / 0.01)), 3)
    said_so = f"{rows} of the {rows} rows of intervals/trials stop before their sound ends"
    assert any(said_so in w for w in said)
    site, said = _read(_write(_stopped({}), tmp_path / "whole.nwb"), validation_sounds=("s0", "s1"))
    assert not any("stop before their sound ends" in w for w in said)


def test_sounds_stored_with_silence_after_them_are_read_until_their_rows_stop(tmp_path):
    """Every template padded to 1.5 s with silence after its 0.5 s of sound, presented every
    1 s, each row stopping with its sound: read whole, each would run into the next
    presentation (which the rows do not): each is read until its row's stop, said so."""
    nwb = _session({})
    for name in NAMES:
        template = nwb.stimulus_template[name]
        del nwb.stimulus_template[name]
        padded = np.concatenate([np.asarray(template.data), np.zeros(int(RATE), np.float32)])
        nwb.add_stimulus_template(TimeSeries(name=name, data=padded, unit="Pa", rate=RATE))
    path = _write(nwb, tmp_path / "padded.nwb")
    site, said = _read(path, validation_sounds=("s0", "s1"))
    assert site.sound("s0").counts.shape == (4, int(round(DUR / 0.01)), 3)
    assert site.sound("s2").counts.shape == (2, int(round(DUR / 0.01)), 3)
    assert any("16 of the 16 rows of intervals/trials stop before their sound ends, and read whole their "
               "sounds would run into the next presentation" in w for w in said), said
    # rows that end with the padding are read whole, as before
    site, said = _read(_write(_stopped({}), tmp_path / "whole.nwb"), validation_sounds=("s0", "s1"))
    assert not any("run into the next" in w for w in said)


def test_a_sound_presented_once_plays_until_its_row_stops(tmp_path):
    stopped = _stopped({2: 0.15}, blocks=1)  # s2, presented once
    with open_nwb(_write(stopped, tmp_path / "once.nwb")) as opened:
        layout = locate(opened.nwbfile, opened.name)
    s2 = [p for p in layout.presentations if p.sound == "s2"]
    assert [p.n_samples for p in s2] == [int(0.15 * RATE)]


def test_a_nan_stop_is_a_row_without_an_end(tmp_path):
    """Trials whose stop_time is NaN (some rows, or every row, as published files have):
    each presentation lasts its sound."""
    for rows in ((3, 9), tuple(range(2 * len(BLOCK)))):
        nan = _stopped({row: float("nan") for row in rows})
        site, _ = _read(_write(nan, tmp_path / f"nan{len(rows)}.nwb"), validation_sounds=("s0", "s1"))
        assert site.sound("s0").counts.shape == (4, int(round(DUR / 0.01)), 3)


def test_stops_before_most_sounds_end_are_another_time_of_the_trial(tmp_path):
    """Every row stopping 0.15 s after its onset: a response window, not the sound's end."""
    stopped = _stopped({row: 0.15 for row in range(2 * len(BLOCK))})
    site, said = _read(_write(stopped, tmp_path / "window.nwb"), validation_sounds=("s0", "s1"))
    assert site.sound("s0").counts.shape == (4, int(round(DUR / 0.01)), 3)
    assert not any("shorter" in w or "read only as long" in w for w in said)


def test_a_validation_sound_repeated_far_less_than_the_others_is_said(tmp_path):
    nwb = _session({}, blocks=1, last_spike=40.0)
    for k in range(8):  # s0 ten times in all, s1 twice
        nwb.add_trial(start_time=20.0 + k, stop_time=20.0 + k + DUR, sound="s0")
    path = _write(nwb, tmp_path / "retried.nwb")
    site, said = _read(path)
    assert site.validation == ("s0", "s1")
    assert any("validation sound(s) 's1' presented only 2 times, where others are presented up to 10" in w
               for w in said)


def test_new_reading_rules_are_part_of_the_input_identity(tmp_path):
    nwb = _session({}, blocks=1)
    nwb.add_invalid_time_interval(start_time=1.2, stop_time=1.4)
    site, _ = _read(_write(nwb, tmp_path / "invalid.nwb"))
    assert "invalid-times-left-out" in site.source["rules"]
    site, _ = _read(_write(_session({}, blocks=1), tmp_path / "plain.nwb"))
    assert "invalid-times-left-out" not in site.source.get("rules", [])


def test_brief_sounds_are_said_to_lose_the_responses_after_them():
    from types import SimpleNamespace

    from ndx_encoding_subspace.data.site import Sound
    from ndx_encoding_subspace.io.notes import spike_notes

    def sound(name: str, bins: int) -> Sound:
        return Sound(name, np.zeros((bins, 4), np.float32), np.ones((1, bins, 2), np.float32))

    layout = SimpleNamespace(presentations=[])
    times = [np.array([0.5]), np.array([0.7])]
    said = spike_notes(times, [0, 1], [sound("click", 1), sound("clip", 50)], layout)
    assert any("1 of 2 sounds last fewer than 5 bins (e.g. 'click', 1 bin(s))" in n for n in said)
    assert not any("fewer than 5 bins" in n for n in spike_notes(times, [0, 1], [sound("clip", 50)], layout))


def test_a_response_tail_counts_spikes_after_each_sound_over_silence(tmp_path):
    nwb = _session({}, blocks=1)
    path = _write(nwb, tmp_path / "tail.nwb")
    plain, _ = _read(path)
    tailed, _ = _read(path, response_tail_s=0.3)
    for a, b in zip(plain.sounds, tailed.sounds, strict=True):
        assert b.spectrogram.shape[0] == a.spectrogram.shape[0] + 30
        assert np.array_equal(b.counts[:, :a.counts.shape[1]], a.counts)
        head, sound = b.spectrogram[:a.spectrogram.shape[0] - 3], a.spectrogram[:-3]
        for f in range(sound.shape[1]):  # the same sound, scaled with silence as each channel's floor
            if np.ptp(sound[:, f]) > 1e-3:
                assert np.corrcoef(head[:, f], sound[:, f])[0, 1] > 0.99
        assert b.spectrogram[-10:].mean() < 0.5 * a.spectrogram.mean()  # silence, decaying
    spikes = np.concatenate([np.asarray(u) for u in nwb.units["spike_times"][:]])
    onset = 1.0  # s0's first presentation, 0.5 s long, then 0.3 s of tail
    expected = np.sum((spikes >= onset) & (spikes < onset + 0.8))
    assert tailed.sound("s0").counts[0].sum() == expected
    with pytest.raises(ConfigError, match=r"response_tail_s = 0.6 reaches into the next presentation: .*"
                                          r"the longest tail that fits is 0.5 s"):
        _read(path, response_tail_s=0.6)


def test_a_response_tail_is_checked_like_the_sound_before_it(tmp_path):
    """The tail's spikes must have been recorded, observed and valid: past the last spike it
    is refused, a presentation during whose tail every unit's observation ends is left out,
    and so is a presentation whose tail overlaps invalid_times."""
    last = 8.0  # the last presentation: 8.0 to 8.5 s
    path = _write(_session({}, blocks=1, last_spike=last + 0.7), tmp_path / "ends.nwb")
    _read(path, response_tail_s=0.1)
    with pytest.raises(ConfigError, match=r"response_tail_s = 0.4 reaches past the recording's end "
                                          r"\(8\.\d+ s.*'s1' ends at 8.5 s; "
                                          r"the longest tail that fits is 0\.\d+ s"):
        _read(path, response_tail_s=0.4)
    path = _write(_session({}, blocks=1, obs_end=last + 0.7), tmp_path / "observed.nwb")
    assert len(_read(path, response_tail_s=0.1)[0].units.ids) == 3
    site, said = _read(path, response_tail_s=0.4)
    assert _presentations(site) == len(BLOCK) - 1 and len(site.units.ids) == 3
    assert any("observed whole by no unit" in n for n in said)
    nwb = _session({}, blocks=1)
    nwb.add_invalid_time_interval(start_time=last + 0.6, stop_time=last + 0.8)
    path = _write(nwb, tmp_path / "invalid.nwb")
    assert _presentations(_read(path, response_tail_s=0.05)[0]) == len(BLOCK)
    site, said = _read(path, response_tail_s=0.2)
    assert _presentations(site) == len(BLOCK) - 1
    assert any("1 of 8 presentations" in n for n in said)


def test_blank_trials_naming_a_sound_stay_baseline(tmp_path):
    """Catch trials fill the sound column too: a row kind of blank is no presentation,
    whatever it names (only ``baseline`` in a column of conditions may be one)."""
    kinds = ["sound"] * len(BLOCK)
    kinds[3] = kinds[5] = "blank"
    path = _write(_session({"trial_type": kinds}, blocks=1), tmp_path / "blank.nwb")
    site, _ = _read(path)
    assert _presentations(site) == len(BLOCK) - 2


def test_onsets_of_a_laser_are_no_sound_onsets(tmp_path):
    assert _onset_layout(tmp_path, "opto_stim_on_time", 0.2).onset == "start_time"


def test_an_annotation_log_mirroring_the_trials_leaves_them_the_table(tmp_path):
    from pynwb.misc import AnnotationSeries

    nwb = _session({}, blocks=1)
    trials = nwb.trials
    names = [str(v) for v in trials["sound"].data]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AnnotationSeries is deprecated in pynwb, still written
        nwb.add_acquisition(AnnotationSeries(name="events", data=names,
                                             timestamps=list(trials["start_time"].data)))
    path = _write(nwb, tmp_path / "mirror.nwb")
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, "mirror.nwb")
    assert layout.table == "intervals/trials" and len(layout.presentations) == len(BLOCK)


def test_a_manipulation_s_level_and_every_differing_column_are_said(tmp_path):
    """A laser's power in mW (0 or 5) is a condition by its name, and every column in which
    the presentations of a sound differ is named."""
    power = [0.0] * len(BLOCK) + [5.0] * len(BLOCK)
    phase = ["pre"] * len(BLOCK) + ["post"] * len(BLOCK)
    path = _write(_session({"phase": phase, "laser_power": power}), tmp_path / "laser.nwb")
    _, said = _read(path)
    note = next(w for w in said if "differ in condition" in w)
    assert "column 'phase': 'post', 'pre'; column 'laser_power': '0', '5'" in note
    chosen, said = _read(path, where=("laser_power=0",))
    assert _presentations(chosen) == len(BLOCK)


def test_templates_of_other_names_with_the_same_spectrogram_are_said(tmp_path):
    # each repeat of the validation sound stored as its own template, named once by the trials
    nwb = _nwbfile()
    names = [*NAMES[:4], "v_r0", "v_r1", "v_r2", "v_r3"]
    for name in names:
        seed = 99 if name.startswith("v_") else NAMES.index(name)
        nwb.add_stimulus_template(TimeSeries(name=name, data=_sound(seed), unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "the sound played")
    start = 1.0
    for name in ["v_r0", *NAMES[:2], "v_r1", *NAMES[2:4], "v_r2", "v_r3"]:
        nwb.add_trial(start_time=start, stop_time=start + DUR, sound=name)
        start += DUR + 0.5
    rng = np.random.default_rng(0)
    for _ in range(3):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, start, int(20 * start))))
    path = _write(nwb, tmp_path / "copies.nwb")
    site, said = _read(path)
    assert len(site.sounds) == 8  # each copy its own sound: told, not merged (a level set by an
    note = next(w for w in said if "have the same spectrogram" in w)  # attenuator looks the same)
    assert "4 sounds of other names" in note and "'v_r0', 'v_r1', 'v_r2', 'v_r3'" in note
    assert "reader.validation_sounds" in note
    quiet, said = _read(_write(_session({}), tmp_path / "s.nwb"))
    assert not any("have the same spectrogram" in w for w in said)


def test_a_track_s_name_written_under_two_folders_is_said(tmp_path):
    nwb = _track_session([DUR, DUR, DUR])
    files = {"s0": "set1/s0.wav", "s1": "set2/S0.wav"}  # two sounds, one file name
    sounds = list(nwb.trials["sound"].data)
    nwb.add_trial_column("file", "the WAV file played", data=[files.get(s, s + ".wav") for s in sounds])
    path = _write(nwb, tmp_path / "folders.nwb")
    site, said = _read(path, sound_column="file")
    assert site.sound("s0").counts.shape[0] == 4  # names are compared without folders, and it is said
    assert any("name 'set1/s0.wav', 'set2/S0.wav': read as one sound" in w for w in said)


def test_sounds_before_every_unit_s_first_spike_are_said(tmp_path):
    """Units firing 20 spikes/s each from 4.5 s on, no electrical series nor obs_intervals:
    the sounds before are read as silence, in a warning naming them (a late start?); where
    the units fire too slowly for silence to stand out, nothing is said."""
    def file(rate: float) -> str:
        nwb = _nwbfile()
        for i, name in enumerate(NAMES):
            nwb.add_stimulus_template(TimeSeries(name=name, data=_sound(i), unit="Pa", rate=RATE))
        nwb.add_trial_column("sound", "the sound played")
        for k, name in enumerate(BLOCK * 2):
            nwb.add_trial(start_time=1.0 + k, stop_time=1.0 + k + DUR, sound=name)
        rng = np.random.default_rng(0)
        for _ in range(3):
            nwb.add_unit(spike_times=np.sort(rng.uniform(4.5, 18.0, int(rate * 13.5))))
        return _write(nwb, tmp_path / f"late{rate:g}.nwb")

    site, said = _read(file(20.0), validation_sounds=("s0", "s1"))
    assert _presentations(site) == 16
    note = next(w for w in said if "end before any unit's first spike" in w)
    assert "intervals/trials rows [0, 1, 2, 3]" in note and "obs_intervals" in note
    _, said = _read(file(0.3), validation_sounds=("s0", "s1"))
    assert not any("first spike" in w for w in said)
