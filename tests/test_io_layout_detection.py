"""Layout detection on small files written with pynwb and ndx-sound: which layout, why,
names as people write them, baseline rows, repeats by hashing, what is left unused."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hdmf.common import DynamicTable
from ndx_sound import AcousticWaveformSeries
from pynwb import NWBFile, TimeSeries
from pynwb.epoch import TimeIntervals
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace.errors import (
    AmbiguousInputError,
    ConfigError,
    InvalidDataError,
    NoSoundStimulusError,
)
from ndx_encoding_subspace.io import ReaderParams, inspect_nwb, locate, open_nwb, read_site
from ndx_encoding_subspace.io.layouts import ORDER, series
from ndx_encoding_subspace.io.names import NameIndex, display_name, is_baseline_value, name_key
from ndx_encoding_subspace.testing import write_nwb

RATE = 16000.0
DUR = 0.25


def _waves(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-8000, 8000, int(DUR * RATE), dtype=np.int16) for _ in range(n)]


def _units(nwb: NWBFile, end: float, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(3):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0.0, end, int(20 * end))))


def _order() -> list[int]:
    """Sound indices of 10 presentations: sounds 0-3 once, 4 and 5 three times."""
    return [4, 0, 5, 1, 4, 2, 5, 3, 4, 5]


def _starts(n: int) -> np.ndarray:
    return 0.5 + np.arange(n) * (DUR + 0.25)


def _locate(nwb: NWBFile, tmp_path, params: ReaderParams | None = None, name: str = "f.nwb"):
    path = write_nwb(nwb, tmp_path / name)
    with open_nwb(path) as opened:
        return path, locate(opened.nwbfile, opened.name, params)


def _series_file(order: list[int] | None = None) -> NWBFile:
    """What neuroconv's AudioInterface writes: one int16 AcousticWaveformSeries per presentation."""
    order = _order() if order is None else order
    waves = _waves(6)
    nwb = mock_NWBFile()
    for k, (sound, start) in enumerate(zip(order, _starts(len(order)), strict=True)):
        name = "AcousticWaveformSeries" + (str(k) if k else "")
        nwb.add_stimulus(
            AcousticWaveformSeries(
                name=name,
                data=waves[sound],
                rate=RATE,
                starting_time=float(start),
                description="Acoustic waveform series.",
            )
        )
    _units(nwb, float(_starts(len(order))[-1] + 1.0))
    return nwb


# -- names -------------------------------------------------------------------------------


def test_names_as_people_write_them():
    assert name_key("/stimuli/Clip03.WAV") == "clip03" == name_key("clip03") == name_key(b"CLIP03.wav")
    assert name_key("C:\\sounds\\Tone_1k.flac") == "tone_1k" and display_name("/s/Clip03.WAV") == "Clip03"
    assert all(is_baseline_value(v) for v in ("none", "", " None ", float("nan"), None, "baseline", b"NaN"))
    assert not is_baseline_value("clip03.wav")
    index = NameIndex([("clip03", 3), ("Clip04", 4)])
    assert index.get("/stimuli/Clip03.WAV") == 3 and index.get("clip04.wav") == 4
    assert index.get("clip05.wav") is None and index.unmatched == ["clip05.wav"]
    # one name in two folders: the folders a name gives tell them apart, no folder is ambiguous
    twice = NameIndex([("/data/stim/set1/clip00.wav", 1), ("set1/clip00", 1),
                       ("/data/stim/set2/Clip00.WAV", 2), ("set2/Clip00", 2)])
    assert twice.get("set1/clip00.wav") == 1 and twice.get("C:\\stim\\SET2\\clip00.wav") == 2
    assert twice.get("clip00") is None and set(twice.ambiguous["clip00"]) == {"set1/clip00", "set2/Clip00"}
    assert twice.get("set3/clip00.wav") is None


# -- one series per presentation ---------------------------------------------------------


def test_series_per_presentation_repeats_by_hash(tmp_path):
    path, layout = _locate(_series_file(), tmp_path)
    assert layout.kind == "series" and layout.table == "" and "own starting time" in layout.reason
    assert len(layout.presentations) == 10 and len(layout.sounds) == 10
    counts = layout.repeats()
    assert sorted(counts.values()) == [1, 1, 1, 1, 3, 3]
    # a sound is named after its first series: sound 4 first plays in the first series
    assert counts["AcousticWaveformSeries"] == 3 and counts["AcousticWaveformSeries2"] == 3
    assert "6 different waveforms among 10 series" in layout.describe()
    site = read_site(path)
    assert set(site.validation) == {"AcousticWaveformSeries", "AcousticWaveformSeries2"}
    assert len(site.estimation) == 4 and site.source["split"] == "repeats"
    assert site.source["layout"] == "series"


def test_series_hashing_reads_only_shared_shapes(tmp_path, monkeypatch):
    nwb = mock_NWBFile()
    for k, n in enumerate((400, 500, 600)):
        nwb.add_stimulus(
            TimeSeries(name=f"s{k}", data=np.ones(n), unit="Pa", rate=RATE, starting_time=float(k))
        )
    _units(nwb, 4.0)
    calls = []
    monkeypatch.setattr(series, "waveform_digest", lambda s, chunk=0: calls.append(s.path) or s.path)
    _, layout = _locate(nwb, tmp_path)
    assert layout.kind == "series" and calls == [] and len(layout.repeats()) == 3


def test_waveform_digest_in_chunks_equals_whole(tmp_path):
    path = write_nwb(_series_file(), tmp_path / "s.nwb")
    with open_nwb(path) as opened:
        sounds = locate(opened.nwbfile, opened.name).sounds
        assert series.waveform_digest(sounds[0], chunk=7) == series.waveform_digest(sounds[0])
        assert series.waveform_digest(sounds[0]) != series.waveform_digest(sounds[1])


def test_series_of_one_sound_in_two_byte_orders_are_one_sound(tmp_path):
    import h5py

    path = write_nwb(_series_file(), tmp_path / "s.nwb")
    with h5py.File(path, "r+") as f:  # the same samples, stored big-endian in every other series
        for name in sorted(f["stimulus/presentation"])[::2]:
            group = f[f"stimulus/presentation/{name}"]
            data, attrs = group["data"][()], dict(group["data"].attrs)
            del group["data"]
            new = group.create_dataset("data", data=data.astype(data.dtype.newbyteorder(">")))
            new.attrs.update(attrs)
    _, layout = _locate_path(path)
    assert sorted(layout.repeats().values()) == [1, 1, 1, 1, 3, 3]


def _locate_path(path):
    with open_nwb(path) as opened:
        return path, locate(opened.nwbfile, opened.name)


def test_one_track_is_not_series_per_presentation(tmp_path):
    nwb = mock_NWBFile()
    nwb.add_stimulus(TimeSeries(name="track", data=np.zeros(int(5 * RATE)), unit="Pa", rate=RATE))
    _units(nwb, 5.0)
    _, layout = _locate(nwb, tmp_path, ReaderParams(segment_s=2.0))
    assert layout.kind == "segments" and "fixed segments of 2 s" in layout.reason
    assert len(layout.presentations) == 3 and "fixed segments" in layout.describe()


# -- templates and a DynamicTable anywhere -----------------------------------------------


@pytest.mark.parametrize("where", ["stimulus", "acquisition", "processing"])
@pytest.mark.parametrize("onset", ["presentation_time", "onset", "timestamp", "start_time"])
def test_templates_with_a_dynamic_table(tmp_path, where, onset):
    waves = _waves(6)
    nwb = mock_NWBFile()
    for k, wave in enumerate(waves):
        nwb.add_stimulus_template(TimeSeries(name=f"clip{k:02d}", data=wave, unit="Pa", rate=RATE))
    table = DynamicTable(name="played", description="sounds played")
    table.add_column(onset, "onset, s")
    table.add_column("stimulus_name", "sound played")
    starts = _starts(10)
    for sound, start in zip(_order(), starts, strict=True):
        table.add_row(**{onset: float(start), "stimulus_name": f"/stimuli/Clip{sound:02d}.WAV"})
    if where == "stimulus":
        nwb.add_stimulus(table)
    elif where == "acquisition":
        nwb.add_acquisition(table)
    else:
        nwb.create_processing_module("behavior", "sounds").add(table)
    _units(nwb, 6.0)
    path, layout = _locate(nwb, tmp_path)
    assert layout.kind == "templates" and layout.column == "stimulus_name"
    assert layout.table.endswith("/played") and "names 6 of the 6 sounds" in layout.reason
    pres = sorted(layout.presentations, key=lambda p: p.start)
    assert [p.sound for p in pres] == [f"clip{s:02d}" for s in _order()]
    assert pres[0].stop == pytest.approx(pres[0].start + DUR)  # no stop column: the template's length
    assert "no stop column" in layout.describe()
    site = read_site(path)
    assert set(site.validation) == {"clip04", "clip05"}


@pytest.mark.parametrize("column", ["stimulus", "stimulus_row"])
def test_a_region_column_names_what_its_rows_name_not_its_row_numbers(tmp_path, column):
    # templates named "1" to "6", a table of stimuli whose row k names "k + 1", and
    # presentations pointing at its rows: row numbers read as names would be off by one
    nwb = mock_NWBFile()
    for k, wave in enumerate(_waves(6)):
        nwb.add_stimulus_template(TimeSeries(name=str(k + 1), data=wave, unit="Pa", rate=RATE))
    stimuli = DynamicTable(name="stimuli", description="the sounds")
    stimuli.add_column("stim_name", "template played")
    for k in range(6):
        stimuli.add_row(stim_name=str(k + 1))
    nwb.create_processing_module("stimuli", "what was played").add(stimuli)
    played = TimeIntervals(name="sound_presentations", description="sounds played")
    played.add_column(column, "row of the stimuli table", table=stimuli)
    for sound, start in zip(_order(), _starts(10), strict=True):
        played.add_interval(start_time=float(start), stop_time=float(start + DUR), **{column: sound})
    nwb.add_time_intervals(played)
    _units(nwb, 6.0)
    _, layout = _locate(nwb, tmp_path)
    assert (layout.kind, layout.column, layout.unmatched) == ("templates", column, ())
    pres = sorted(layout.presentations, key=lambda p: p.start)
    assert [p.sound for p in pres] == [str(s + 1) for s in _order()]


def _trials_with_onsets(onsets: np.ndarray, lead: float = 0.2) -> NWBFile:
    """Trials beginning ``lead`` s before their sound, whose own onset is a column of its own."""
    nwb = mock_NWBFile()
    for k, wave in enumerate(_waves(6)):
        nwb.add_stimulus_template(TimeSeries(name=f"clip{k}", data=wave, unit="Pa", rate=RATE))
    nwb.add_trial_column("stimulus", "clip played")
    nwb.add_trial_column("stimulus_onset_time", "onset of the sound, s")
    for sound, onset in zip(_order(), onsets, strict=True):
        nwb.add_trial(start_time=onset - lead, stop_time=onset + DUR + 0.2, stimulus=f"clip{sound}",
                      stimulus_onset_time=onset)
    _units(nwb, 11.0)
    return nwb


def test_a_trial_s_sound_onset_column_gives_the_onsets(tmp_path):
    onsets = 0.5 + np.arange(10) * 1.0
    path, layout = _locate(_trials_with_onsets(onsets), tmp_path)
    np.testing.assert_allclose(sorted(p.start for p in layout.presentations), onsets)
    assert "sound onsets from intervals/trials column 'stimulus_onset_time'" in layout.describe()
    # read otherwise than before this rule: part of the input's identity (results made again)
    assert read_site(path).source["rules"] == ["onsets:stimulus_onset_time", "integers-full-scale",
                                               "above-nyquist-silent"]  # 16 kHz sounds
    forced = ReaderParams(onset_column="start_time")
    rows = _locate(_trials_with_onsets(onsets), tmp_path, forced, "rows.nwb")[1]
    np.testing.assert_allclose(sorted(p.start for p in rows.presentations), onsets - 0.2)
    with pytest.raises(ConfigError, match="reader.onset_column = 'nope' matches no column"):
        read_site(path, reader=ReaderParams(onset_column="nope"))
    with pytest.raises(InvalidDataError, match="column 'stimulus' holds no times"):
        read_site(path, reader=ReaderParams(onset_column="stimulus"))
    with pytest.raises(InvalidDataError, match=r"sound onsets \(column 'stimulus_onset_time'\) before the "
                                               "row's start_time"):
        _locate(_trials_with_onsets(onsets, lead=-0.1), tmp_path, name="early.nwb")


def test_a_column_of_another_name_naming_sounds_but_one_is_offered_in_the_refusal(tmp_path):
    """A column the reader knows no name of ('vocalization') names the templates, but a catch
    trial names a sound not stored: the column is not read, and the refusal says so."""
    def file() -> NWBFile:
        nwb = mock_NWBFile()
        for k, wave in enumerate(_waves(6)):
            nwb.add_stimulus_template(TimeSeries(name=f"call{k}", data=wave, unit="Pa", rate=RATE))
        nwb.add_trial_column("vocalization", "what played")
        for sound, start in zip(_order(), _starts(10), strict=True):
            nwb.add_trial(start_time=float(start), stop_time=float(start + DUR), vocalization=f"call{sound}")
        nwb.add_trial(start_time=30.0, stop_time=30.0 + DUR, vocalization="catch_noise")
        _units(nwb, 31.0)
        return nwb

    said = "intervals/trials column 'vocalization' names sounds in its first 10 rows, then 'catch_noise'"
    with pytest.raises(NoSoundStimulusError, match=said):
        _locate(file(), tmp_path)
    _, layout = _locate(file(), tmp_path, ReaderParams(sound_column="vocalization"), "named.nwb")
    assert len(layout.presentations) == 10 and layout.unmatched == ("catch_noise",)


def test_a_sound_column_naming_no_template_is_quoted_in_the_refusal(tmp_path):
    nwb = mock_NWBFile()
    for k, wave in enumerate(_waves(6)):
        nwb.add_stimulus_template(TimeSeries(name=f"clip{k}", data=wave, unit="Pa", rate=RATE))
    nwb.add_trial_column("sound_id", "index of the clip played")
    for sound, start in zip(_order(), _starts(10), strict=True):
        nwb.add_trial(start_time=float(start), stop_time=float(start + DUR), sound_id=sound)
    _units(nwb, 6.0)
    with pytest.raises(NoSoundStimulusError) as raised:
        _locate(nwb, tmp_path)
    said = str(raised.value)
    assert "intervals/trials column 'sound_id' names '4', '0', '5', '1', ..., no sound's name" in said
    assert "(stimulus/templates/clip0, stimulus/templates/clip1, stimulus/templates/clip2, " in said
    assert said.endswith("name each presentation's sound in a column (sound, stimulus, stim_name) of its "
                         "table, or give that column with reader.sound_column and the table with "
                         "reader.presentations")


@pytest.mark.parametrize(("tags", "baseline"), [
    (lambda name: [name], False),
    (lambda name: ["sound", name, "70 dB"], False),
    (lambda name: ["left" if name[-1] in "02" else "right", name], False),
    (lambda name: ["stimulus", name], True),  # between baseline epochs tagged ["baseline"]
])
def test_the_tags_of_epochs_name_the_sounds(tmp_path, tags, baseline):
    nwb = mock_NWBFile()
    for k, wave in enumerate(_waves(6)):
        nwb.add_stimulus_template(TimeSeries(name=f"clip{k}", data=wave, unit="Pa", rate=RATE))
    for sound, start in zip(_order(), _starts(10), strict=True):
        if baseline:
            nwb.add_epoch(start_time=float(start) - 0.1, stop_time=float(start), tags=["baseline"])
        nwb.add_epoch(start_time=float(start), stop_time=float(start + DUR), tags=tags(f"clip{sound}"))
    _units(nwb, 6.0)
    _, layout = _locate(nwb, tmp_path)
    assert (layout.kind, layout.table, layout.column) == ("templates", "intervals/epochs", "tags")
    played = sorted(layout.presentations, key=lambda p: p.start)
    assert [p.sound for p in played] == [f"clip{s}" for s in _order()]


def test_unmatched_names_and_unused_objects_in_inspect(tmp_path):
    nwb = mock_NWBFile()
    for k, wave in enumerate(_waves(3)):
        nwb.add_stimulus_template(TimeSeries(name=f"clip{k}", data=wave, unit="Pa", rate=RATE))
    nwb.add_stimulus_template(TimeSeries(name="never", data=_waves(1)[0], unit="Pa", rate=RATE))
    nwb.add_acquisition(TimeSeries(name="mic", data=np.zeros(100), unit="V", rate=30000.0))
    table = TimeIntervals(name="sound_presentations", description="d")
    table.add_column("sound_file", "file played")
    for k, name in enumerate(["clip0.wav", "CLIP1.WAV", "clip2.wav", "missing.wav", "clip0.wav"]):
        table.add_interval(start_time=0.5 + k, stop_time=0.5 + k + DUR, sound_file=f"/stim/{name}")
    nwb.add_time_intervals(table)
    _units(nwb, 6.0)
    path, layout = _locate(nwb, tmp_path)
    assert layout.unmatched == ("/stim/missing.wav",) and len(layout.presentations) == 4
    assert "stimulus/templates/never (TimeSeries)" in layout.unused
    assert "acquisition/mic (TimeSeries)" in layout.unused
    report = inspect_nwb(path)
    use = report.use
    assert use["layout"] == "templates" and use["unmatched"] == ["/stim/missing.wav"]
    assert use["repeats"] == {"clip0": 2, "clip1": 1, "clip2": 1} and use["repeated_sounds"] == 1
    text = report.format()
    assert "would use: templates layout" in text and "why: intervals/sound_presentations column" in text
    assert "names matching no sound (1): /stim/missing.wav" in text
    assert "acquisition/mic (TimeSeries)" in text and "clip0 x2" in text


# -- a continuous track and a table naming what played ----------------------------------


def _track_file(flag: str = "", named: bool = True) -> NWBFile:
    """A track of the sounds of :func:`_order`, and trials alternating baseline and sound
    rows, named (``wav`` column) or (``named=False``) sound rows with times only."""
    waves = _waves(6)
    starts = _starts(10)
    end = float(starts[-1] + 1.0)
    track = np.zeros(int(end * RATE), dtype=np.int16)
    nwb = mock_NWBFile()
    if named:
        nwb.add_trial_column("wav", "file played")
    if flag:
        nwb.add_trial_column(flag, "whether a sound played")
    previous = 0.0
    for sound, start in zip(_order(), starts, strict=True):
        i = int(round(start * RATE))
        track[i : i + waves[sound].size] = waves[sound]
        base = {"wav": "clip99.wav" if flag else ("" if sound % 2 else "none")}
        stim = {"wav": f"D:\\stimuli\\Clip{sound:02d}.wav"}
        if flag:
            base[flag], stim[flag] = flag != "is_stimulus", flag == "is_stimulus"
        if named:
            nwb.add_trial(start_time=previous, stop_time=float(start), **base)
        previous = float(start + DUR)
        nwb.add_trial(start_time=float(start), stop_time=previous, **(stim if named else {}))
    nwb.add_stimulus(AcousticWaveformSeries(name="session_audio", data=track, rate=RATE, description="d"))
    _units(nwb, end)
    return nwb


def test_a_laser_s_intervals_do_not_cut_a_recorded_track(tmp_path):
    """A speaker track, trials with times only, and a laser's IntervalSeries: the track is
    not cut at the laser's intervals (fixed segments, as without the laser)."""
    from pynwb.misc import IntervalSeries

    nwb = _track_file(named=False)
    nwb.add_acquisition(IntervalSeries(name="laser_times", data=[1, -1, 1, -1],
                                       timestamps=[0.6, 0.7, 2.6, 2.7]))
    _, layout = _locate(nwb, tmp_path)
    assert layout.kind == "segments"
    assert "acquisition/laser_times (IntervalSeries)" in layout.unused


@pytest.mark.parametrize("flag", ["", "is_stimulus", "is_baseline"])
def test_continuous_track_cut_at_trials(tmp_path, flag):
    path, layout = _locate(_track_file(flag), tmp_path)
    assert layout.kind == "continuous" and (layout.table, layout.column) == ("intervals/trials", "wav")
    assert "stimulus/presentation/session_audio cut at the intervals of intervals/trials" in layout.reason
    assert "10 rows of intervals/trials play no sound (baseline" in layout.describe()
    if flag:
        assert f"column {flag!r}" in layout.describe()
    pres = sorted(layout.presentations, key=lambda p: p.start)
    assert [p.sound for p in pres] == [f"Clip{s:02d}" for s in _order()]
    assert all(p.n_samples == int(DUR * RATE) for p in pres)
    site = read_site(path)
    assert set(site.validation) == {"Clip04", "Clip05"} and len(site.estimation) == 4


def _blocks_file() -> NWBFile:
    """The speaker recorded in three blocks (one series each, 20 s apart) holding 4, 3 and
    3 of the trials of :func:`_order`, which a trials table names."""
    waves, order = _waves(6), _order()
    nwb = mock_NWBFile()
    nwb.add_trial_column("sound", "what played")
    for b, (first, last) in enumerate([(0, 4), (4, 7), (7, 10)]):
        t0 = 20.0 * b
        track = np.zeros(int((0.5 * (last - first) + 0.5) * RATE), dtype=np.int16)
        for k, sound in enumerate(order[first:last]):
            i = int(round((0.5 + 0.5 * k) * RATE))
            track[i: i + waves[sound].size] = waves[sound]
            onset = t0 + 0.5 + 0.5 * k
            nwb.add_trial(start_time=onset, stop_time=onset + DUR, sound=f"s{sound}")
        nwb.add_stimulus(TimeSeries(name=f"speaker_block{b}", data=track, unit="Pa", rate=RATE,
                                    starting_time=t0))
    _units(nwb, 45.0)
    return nwb


def test_blocks_named_by_the_trials_stay_blocks_with_the_table_chosen(tmp_path):
    """Blocks of a recorded track that a trials column names by block: a track cut at the
    rows, also where reader.presentations names the table (no series read as templates)."""
    for params in (None, ReaderParams(presentations="intervals/trials")):
        nwb = _blocks_file()
        nwb.add_trial_column("block", "the block series of the trial",
                             data=[f"speaker_block{b}" for b in (0, 0, 0, 0, 1, 1, 1, 2, 2, 2)])
        _, layout = _locate(nwb, tmp_path, params, name=f"b{params is None}.nwb")
        assert layout.kind == "continuous" and len(layout.presentations) == 10


def test_a_track_recorded_in_blocks_is_cut_at_the_trials(tmp_path):
    """One speaker series per recording block, each holding several trials: each trial is
    cut from its block, and a sound heard in two blocks is one sound heard again."""
    path, layout = _locate(_blocks_file(), tmp_path)
    assert layout.kind == "continuous" and layout.column == "sound"
    assert "3 sound series in stimulus/presentation recorded one after the other" in layout.reason
    pres = sorted(layout.presentations, key=lambda p: p.start)
    assert [p.sound for p in pres] == [f"s{s}" for s in _order()]
    assert [p.series.name[-1] for p in pres] == list("0000111222")
    assert all(p.n_samples == int(DUR * RATE) for p in pres)
    assert pres[4].first_sample == int(0.5 * RATE)  # the first trial of block 1, 0.5 s into it
    site = read_site(path)
    assert set(site.validation) == {"s4", "s5"} and site.sound("s4").n_repeats == 3
    waves = _waves(6)
    with open_nwb(path) as opened:  # the samples cut are the sound's
        p = pres[4]
        data = opened.nwbfile.stimulus[p.series.name].data
        cut = np.asarray(data[p.first_sample: p.first_sample + p.n_samples])
    assert np.array_equal(cut, waves[_order()[4]])


def test_a_trial_between_the_blocks_is_left_out_and_said(tmp_path):
    """A trials row in the gap between two recorded blocks: the track is still cut at the
    other rows (not read as whole blocks without a table), and that row is named."""
    nwb = _blocks_file()
    nwb.add_trial(start_time=10.0, stop_time=10.0 + DUR, sound="s0")  # between blocks 0 and 1
    path, layout = _locate(nwb, tmp_path, name="gap.nwb")
    assert layout.kind == "continuous" and len(layout.presentations) == 10
    said = r"1 rows of intervals/trials \(rows \[10\]\) lie between the recorded blocks of the sound"
    with pytest.warns(UserWarning, match=said + r" .*: left out"):
        site = read_site(path)
    assert sum(s.n_repeats for s in site.sounds) == 10


def test_series_each_holding_one_trial_stay_one_presentation_each(tmp_path):
    """neuroconv's one series per presentation beside a trials table naming them: each
    series is one presentation (the table's rows are no pieces of a track)."""
    nwb = _series_file()
    nwb.add_trial_column("sound", "what played")
    for sound, start in zip(_order(), _starts(10), strict=True):
        nwb.add_trial(start_time=float(start), stop_time=float(start) + DUR, sound=f"s{sound}")
    path, layout = _locate(nwb, tmp_path)
    assert layout.kind == "series" and len(layout.presentations) == 10
    with open_nwb(path) as opened:  # the table named, but naming no series: said, in a warning
        chosen = locate(opened.nwbfile, opened.name, ReaderParams(presentations="intervals/trials"))
    assert chosen.kind == "series" and any("'intervals/trials' is not read by this layout" in n
                                           for n in chosen.notes)
    # a table naming each series once, at its own start (by name or by reference): still the
    # series layout, whose repeats are found by the samples
    for by_reference in (False, True):
        nwb = _series_file()
        series = sorted(nwb.stimulus.values(), key=lambda s: s.starting_time)
        if by_reference:
            for s in series:
                nwb.add_trial(start_time=s.starting_time, stop_time=s.starting_time + DUR, timeseries=[s])
        else:
            nwb.add_trial_column("sound", "what played")
            for s in series:
                nwb.add_trial(start_time=s.starting_time, stop_time=s.starting_time + DUR, sound=s.name)
        _, named = _locate(nwb, tmp_path, name=f"named{by_reference}.nwb")
        assert named.kind == "series" and sorted(named.repeats().values()) == [1, 1, 1, 1, 3, 3]
        assert not any("is not read" in n for n in named.notes)  # the table says what is read
        # the table chosen by the user, or the templates layout asked for: read as the table says
        for k, params in enumerate((ReaderParams(presentations="intervals/trials"),
                                    ReaderParams(layout="templates"))):
            path = tmp_path / f"named{by_reference}.nwb"
            with open_nwb(path) as opened:
                chosen = locate(opened.nwbfile, opened.name, params)
            assert chosen.kind == "templates" and len(chosen.presentations) == 10, k


def _audio_interface_once(tmp_path, shift: float = 0.0, parent: str = "stimulus",
                          named: tuple[int, ...] = tuple(range(6)), by_file: bool = False,
                          lead: float = 0.0) -> NWBFile:
    """neuroconv's AudioInterface given each WAV file once, at its first presentation, and a
    trials table naming the series of every presentation (sounds 4 and 5 three times);
    ``shift`` moves the last series' start away from its row. ``by_file``: the series keep
    neuroconv's names (``AcousticWaveformSeries``, ``...1``) and the table names the files.
    ``lead``: each trial begins that long before its sound."""
    from neuroconv.datainterfaces import AudioInterface
    from scipy.io import wavfile

    waves, order, starts = _waves(6), _order(), _starts(10)
    first = [order.index(k) for k in range(6)]
    files = []
    for k, wave in enumerate(waves):
        files.append(tmp_path / f"sound_{k}.wav")
        wavfile.write(files[-1], int(RATE), wave)
    audio = AudioInterface(file_paths=files)
    audio.set_aligned_segment_starting_times([float(starts[i]) + (shift if k == 5 else 0.0)
                                              for k, i in enumerate(first)])
    metadata = audio.get_metadata()
    metadata["NWBFile"]["session_start_time"] = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for k, entry in enumerate(metadata["Behavior"]["Audio"]):
        entry["name"] = entry["name"] if by_file else f"sound_{k}"
    nwb = audio.create_nwbfile(metadata=metadata, parent_container=parent)
    nwb.add_trial_column("sound", "what played")
    for sound, start in zip(order, starts, strict=True):
        if sound in named:
            nwb.add_trial(start_time=float(start) - lead, stop_time=float(start) + DUR,
                          sound=f"C:\\stimuli\\sound_{sound}.wav" if by_file else f"sound_{sound}")
    _units(nwb, float(starts[-1] + 1.0))
    return nwb


def test_series_written_once_and_a_table_of_every_presentation(tmp_path):
    """Each sound's series written once (its first presentation) and a table naming the
    series at every presentation: the table gives the repeats; the series are templates."""
    path, layout = _locate(_audio_interface_once(tmp_path), tmp_path)
    assert layout.kind == "templates" and layout.table == "intervals/trials"
    assert len(layout.presentations) == 10 and layout.repeats()["sound_4"] == 3
    assert [p.start for p in layout.presentations] == pytest.approx(_starts(10))
    assert not any("begin where" in n for n in layout.notes)
    site = read_site(path)
    assert set(site.validation) == {"sound_4", "sound_5"}
    assert "series-named-by-a-table" in site.source["rules"]
    # named explicitly, the same table is read the same way
    _, named = _locate(_audio_interface_once(tmp_path), tmp_path, ReaderParams(
        presentations="intervals/trials", sound_column="sound"), name="g.nwb")
    assert named.kind == "templates" and len(named.presentations) == 10
    # a series beginning where no row presents it: the rows are read, and that is said
    _, moved = _locate(_audio_interface_once(tmp_path, shift=0.1), tmp_path, name="h.nwb")
    assert moved.kind == "templates" and len(moved.presentations) == 10
    assert any("1 of the 6 series in stimulus/presentation begin where intervals/trials" in n
               for n in moved.notes)
    # written into acquisition (parent_container="acquisition"): the same reading
    _, acquired = _locate(_audio_interface_once(tmp_path, parent="acquisition"), tmp_path, name="i.nwb")
    assert acquired.kind == "templates" and len(acquired.presentations) == 10
    # series the table does not name: left out, and said in a warning
    path, partial = _locate(_audio_interface_once(tmp_path, named=(0, 1, 2, 4, 5)), tmp_path, name="j.nwb")
    said = "1 series in stimulus/presentation that the table does not name are left out"
    assert len(partial.presentations) == 9 and any(said in n for n in partial.notes)
    with pytest.warns(UserWarning, match=said):
        read_site(path)


def test_series_of_neuroconv_named_by_trials_beginning_a_lead_before_them(tmp_path):
    """neuroconv's series, each at its sound's first presentation, and trials naming the files
    that begin 0.2 s before each sound: the table names the series all the same (every
    repeat kept), and the presentations are moved to the sounds' times."""
    path, layout = _locate(_audio_interface_once(tmp_path, by_file=True, lead=0.2), tmp_path)
    assert layout.kind == "templates" and len(layout.presentations) == 10
    assert sorted(layout.repeats().values()) == [1, 1, 1, 1, 3, 3]
    assert [p.start for p in layout.presentations] == pytest.approx(_starts(10))
    assert any("begins +0.2 s from the row of intervals/trials" in n for n in layout.notes)
    site = read_site(path)
    assert len(site.validation) == 2


def test_series_of_neuroconv_named_by_the_files_a_table_names_at_their_starts(tmp_path):
    """neuroconv's own series names (``AcousticWaveformSeries``, ``...1``: the file's name is not
    kept) and a trials table naming the files: the rows beginning at each series' start name
    it, and every row is a presentation (the repeats are not lost)."""
    path, layout = _locate(_audio_interface_once(tmp_path, by_file=True), tmp_path)
    assert layout.kind == "templates" and len(layout.presentations) == 10
    by_sound = {p.sound: p.series.path for p in layout.presentations}
    assert by_sound["sound_4"] == "stimulus/presentation/AcousticWaveformSeries4"
    assert sorted(layout.repeats().values()) == [1, 1, 1, 1, 3, 3]
    assert any("named by the rows beginning at their starting times in intervals/trials" in n
               for n in layout.notes)
    site = read_site(path)
    assert len(site.validation) == 2 and "series-named-by-a-table" in site.source["rules"]
    # an epochs table whose text column names blocks beginning at each series' start: the
    # trials' column of sound names is tried first, and read
    nwb = _audio_interface_once(tmp_path, by_file=True)
    nwb.add_epoch_column("block", "the block of trials")
    for k, played in enumerate(sorted(nwb.stimulus.values(), key=lambda s: s.starting_time)):
        start = played.starting_time
        nwb.add_epoch(start_time=start, stop_time=start + 0.5, block=f"adapt_{k}")
    _, blocks = _locate(nwb, tmp_path, name="blocks.nwb")
    assert blocks.table == "intervals/trials" and len(blocks.presentations) == 10
    # a series whose start no row shares: no naming, each series one presentation, the table said unread
    path, apart = _locate(_audio_interface_once(tmp_path, shift=0.1, by_file=True), tmp_path, name="k.nwb")
    assert apart.kind == "series" and len(apart.presentations) == 6
    with pytest.warns(UserWarning, match="intervals/trials .with columns naming sounds. is not read"):
        read_site(path)


def _interval_series_file(trials: bool = False) -> NWBFile:
    """Templates s0-s5 and NWB's own record of when each played: one IntervalSeries per
    sound (``s<k>_times``: +1 at each onset, -1 at its stop); with ``trials``, a trials
    table saying the same."""
    from pynwb.misc import IntervalSeries

    nwb = mock_NWBFile()
    for k, wave in enumerate(_waves(6)):
        nwb.add_stimulus_template(TimeSeries(name=f"s{k}", data=wave, rate=RATE, unit="a.u."))
    order, starts = _order(), _starts(10)
    for k in range(6):
        onsets = [float(t) for t, sound in zip(starts, order, strict=True) if sound == k]
        nwb.add_stimulus(IntervalSeries(name=f"s{k}_times", data=np.tile([1, -1], len(onsets)),
                                        timestamps=np.ravel([[t, t + DUR] for t in onsets])))
    if trials:
        nwb.add_trial_column("sound", "what played")
        for sound, start in zip(order, starts, strict=True):
            nwb.add_trial(start_time=float(start), stop_time=float(start) + DUR, sound=f"s{sound}")
    _units(nwb, float(starts[-1] + 1.0))
    return nwb


def test_interval_series_pair_each_onset_with_its_own_stop():
    from types import SimpleNamespace

    from ndx_encoding_subspace.io.logs import log_table

    def read(data, times, name="clip00_times"):
        series = SimpleNamespace(name=name, data=np.asarray(data), timestamps=np.asarray(times, dtype=float))
        table = log_table("stimulus/presentation/" + name, series, "IntervalSeries")
        return [(a, b) for a, b in zip(table["start_time"].data, table["stop_time"].data, strict=True)]

    assert read([1, -1, 1, -1], [2, 4, 0, 2]) == [(0, 2), (2, 4)]  # back to back, written out of order
    assert read([1, 1, -1, -1], [0, 2, 2, 4]) == [(0, 2), (2, 4)]
    assert read([1.0, -1.0, 0.4, 1, -1], [0, 1, 1.5, 2, 3]) == [(0, 1), (2, 3)]  # floats; 0.4 is no event
    gap = read([1, 1, -1], [0, 5, 6])  # the first onset has no stop of its own: it lasts its sound
    assert gap[1] == (5, 6) and gap[0][0] == 0 and np.isnan(gap[0][1])


def test_interval_series_say_when_each_template_played(tmp_path):
    from pynwb.misc import IntervalSeries

    nwb = _interval_series_file()  # a laser's intervals in acquisition are no presentations
    nwb.add_acquisition(IntervalSeries(name="laser_times", data=[1, -1], timestamps=[0.6, 0.7]))
    _, layout = _locate(nwb, tmp_path)
    assert "acquisition/laser_times (IntervalSeries)" in layout.unused
    assert layout.kind == "templates" and len(layout.tables) == 6
    assert [p.start for p in layout.presentations] == pytest.approx(_starts(10))
    assert [p.sound for p in layout.presentations] == [f"s{k}" for k in _order()]
    assert layout.repeats()["s4"] == 3 and layout.unused == ("acquisition/laser_times (IntervalSeries)",)
    # an onset without its stop lasts its sound; the series of a processing module are read too
    from pynwb.misc import IntervalSeries

    nwb = _interval_series_file()
    first = nwb.stimulus["s4_times"]
    nwb.stimulus.pop("s4_times")
    nwb.add_stimulus(IntervalSeries(name="s4_times", data=np.delete(np.asarray(first.data), 1),
                                    timestamps=np.delete(np.asarray(first.timestamps), 1)))  # first: no stop
    moved = nwb.stimulus.pop("s5_times")
    module = nwb.create_processing_module("behavior", "events")
    module.add(IntervalSeries(name="s5_times", data=moved.data, timestamps=moved.timestamps))
    _, partly = _locate(nwb, tmp_path, name="k.nwb")
    assert len(partly.presentations) == 10 and partly.repeats()["s5"] == 3
    # a trials table saying the same wins over the series that mirror it
    _, mirrored = _locate(_interval_series_file(trials=True), tmp_path, name="g.nwb")
    assert mirrored.table == "intervals/trials" and len(mirrored.presentations) == 10
    assert not any("disagrees" in n for n in mirrored.notes)


def test_a_log_that_disagrees_with_the_table_read_is_said(tmp_path):
    """The trials table lacks a presentation the IntervalSeries holds: the table is read,
    and a warning names the log, how many of its onsets the table lacks and where."""
    nwb = _interval_series_file(trials=True)
    dropped = float(_starts(10)[3])
    nwb.trials.start_time.data[3] += 0.1  # the trials say row 3 played 100 ms later
    nwb.trials.stop_time.data[3] += 0.1
    path, layout = _locate(nwb, tmp_path, name="l.nwb")
    assert layout.table == "intervals/trials" and len(layout.presentations) == 10
    said = [n for n in layout.notes if "disagrees with the table read" in n]
    sound = f"s{_order()[3]}_times"
    assert len(said) == 1 and f"stimulus/presentation/{sound} (IntervalSeries)" in said[0]
    assert f"1 of its {list(_order()).count(_order()[3])} onsets (e.g. {dropped:g} s)" in said[0]
    with pytest.warns(UserWarning, match="disagrees with the table read"):
        read_site(path)


def _timed_track(times: np.ndarray) -> NWBFile:
    """A speaker track sampled at ``times`` (one clip at 0.5 s and one at 7.5 s), with trials."""
    nwb = mock_NWBFile()
    wave = _waves(1)[0]
    track = np.zeros(times.size, dtype=np.int16)
    nwb.add_trial_column("stimulus", "clip played")
    for start in (0.5, 7.5):
        i = int(np.searchsorted(times, start))
        track[i : i + wave.size] = wave
        nwb.add_trial(start_time=start, stop_time=start + DUR, stimulus="clip")
    nwb.add_stimulus(TimeSeries(name="speaker", data=track, unit="Pa", timestamps=times))
    _units(nwb, float(times[-1]))
    return nwb


def test_track_timestamps_are_checked_over_the_whole_track(tmp_path):
    n = int(8.5 * RATE)  # past the first 100,000 samples that give the rate
    clock = RATE * (1 + 2e-4)  # a sound card's clock, slightly fast: evenly spaced all the same
    _, layout = _locate(_timed_track(np.arange(n) / clock), tmp_path, name="even.nwb")
    assert layout.presentations[0].series.rate == pytest.approx(clock, rel=1e-9)
    rounded = np.round(np.arange(n) / RATE, 6)  # stored to the microsecond: 1.6% of a step
    _, layout = _locate(_timed_track(rounded), tmp_path, name="rounded.nwb")
    assert layout.presentations[0].series.rate == pytest.approx(RATE, rel=1e-6)
    gap = np.arange(n) / RATE
    gap[int(7.0 * RATE):] += 0.4  # recording paused for 0.4 s at 7 s
    with pytest.raises(InvalidDataError, match="speaker has no sample rate .* not evenly spaced"):
        _locate(_timed_track(gap), tmp_path, name="gap.nwb")


def test_a_plain_series_in_acquisition_is_a_sound_when_named(tmp_path):
    def microphone() -> NWBFile:  # the speaker recorded in acquisition, with trials naming the clips
        nwb = _track_file()
        track = nwb.stimulus.pop("session_audio")
        nwb.add_acquisition(TimeSeries(name="microphone", data=track.data, rate=RATE, unit="V"))
        return nwb

    with pytest.raises(NoSoundStimulusError):
        _locate(microphone(), tmp_path, name="unnamed.nwb")
    _, layout = _locate(microphone(), tmp_path, ReaderParams(sounds=("microphone",)), name="named.nwb")
    assert layout.kind == "continuous" and layout.sounds[0].path == "acquisition/microphone"
    assert len(layout.presentations) == 10


def test_a_microphone_in_acquisition_beside_the_stimulus_is_not_a_stimulus(tmp_path):
    nwb = _track_file()
    mic = nwb.stimulus["session_audio"].data
    nwb.add_acquisition(AcousticWaveformSeries(name="microphone", data=mic, rate=RATE, description="room"))
    _, layout = _locate(nwb, tmp_path)
    assert layout.kind == "continuous" and layout.sounds[0].path == "stimulus/presentation/session_audio"
    assert "acquisition/microphone (AcousticWaveformSeries)" in layout.unused


def test_table_naming_what_played_wins_over_fixed_segments(tmp_path):
    nwb = _track_file()
    _, auto = _locate(nwb, tmp_path)
    assert auto.kind == "continuous"
    _, forced = _locate(_track_file(), tmp_path, ReaderParams(layout="segments"), name="g.nwb")
    assert forced.kind == "segments" and "intervals/trials" in " ".join(forced.unused)
    assert not any("--reader.presentations" in n for n in forced.notes)


def test_fixed_segments_name_a_table_of_unnamed_rows_and_the_option_that_reads_it(tmp_path):
    nwb = _track_file(named=False)
    _, auto = _locate(nwb, tmp_path)
    assert auto.kind == "segments"
    assert any("intervals/trials has times but no column naming what played: --reader.presentations "
               "intervals/trials cuts the track at its rows" in n for n in auto.notes), auto.notes
    _, rows = _locate(_track_file(named=False), tmp_path, ReaderParams(presentations="intervals/trials"),
                      name="g.nwb")
    assert rows.kind == "continuous" and len(rows.presentations) == 10


def test_forced_layout_that_does_not_apply(tmp_path):
    path = write_nwb(_series_file(), tmp_path / "s.nwb")
    with open_nwb(path) as opened:
        with pytest.raises(NoSoundStimulusError, match=r"reader.layout = 'templates'.*templates: nothing"):
            locate(opened.nwbfile, opened.name, ReaderParams(layout="templates"))
        assert locate(opened.nwbfile, opened.name, ReaderParams(layout="series")).kind == "series"


def test_a_forced_layout_falling_back_says_so(tmp_path):
    nwb = mock_NWBFile()
    nwb.add_stimulus(TimeSeries(name="track", data=np.zeros(int(5 * RATE)), unit="Pa", rate=RATE))
    _units(nwb, 5.0)
    _, layout = _locate(nwb, tmp_path, ReaderParams(layout="continuous", segment_s=2.0))
    assert layout.kind == "segments"
    assert layout.notes[0] == ("reader.layout = 'continuous' did not apply (continuous: one sound series "
                               "stimulus/presentation/track, but no table names what played in it): "
                               "read as segments")


def test_overlapping_series_stay_ambiguous():
    nwb = mock_NWBFile()
    nwb.add_unit(spike_times=[0.1])
    for name, start in (("a", 0.0), ("b", 0.01)):
        nwb.add_stimulus(
            TimeSeries(name=name, data=np.zeros(1600), unit="Pa", rate=RATE, starting_time=start)
        )
    with pytest.raises(AmbiguousInputError, match="x.nwb: 2 sound series that overlap in time: .*one track"):
        locate(nwb, "x.nwb")


def test_one_pair_of_overlapping_series_among_series_one_after_another_is_named():
    """Series one per presentation, one of them beginning before the one before ends: the
    pair is named (not "every series overlaps: choose one track")."""
    nwb = mock_NWBFile()
    nwb.add_unit(spike_times=[0.1])
    for k, start in enumerate((0.0, 0.2, 0.25, 0.6)):  # 0.1 s each: the third begins inside the second
        nwb.add_stimulus(TimeSeries(name=f"p{k}", data=np.random.default_rng(k).standard_normal(1600),
                                    unit="Pa", rate=RATE, starting_time=start))
    with pytest.raises(InvalidDataError, match=r"presentation/p2 \(0.25-0.35 s\) overlaps "
                                               r"stimulus/presentation/p1 \(0.2-0.3 s\)") as caught:
        locate(nwb, "x.nwb")
    assert "one track" not in str(caught.value)


def test_overlapping_series_a_table_names_after_files_say_how_to_name_them():
    nwb = mock_NWBFile()
    nwb.add_unit(spike_times=[0.1])
    for name in ("AcousticWaveformSeries", "AcousticWaveformSeries1"):
        nwb.add_stimulus(TimeSeries(name=name, data=np.zeros(1600), unit="Pa", rate=RATE, starting_time=0.0))
    nwb.add_trial_column("stimulus", "wav file")
    for k, name in enumerate(("dog.wav", "bell.wav", "dog.wav")):
        nwb.add_trial(start_time=1.0 + k, stop_time=1.5 + k, stimulus=name)
    with pytest.raises(AmbiguousInputError, match="column 'stimulus' names sounds \\(e.g. 'dog.wav'\\) after "
                                                  "none of the series: .*name each series after its file"):
        locate(nwb, "x.nwb")


def test_detection_order_is_documented():
    assert ORDER == ("templates", "continuous", "series", "segments", "tones")
    with pytest.raises(Exception, match="reader.layout"):
        ReaderParams(layout="stereo")
    assert ReaderParams(layout="series").layout == "series"


def _microphone_file(column: str, *, links: bool, words: list[str] | None = None) -> NWBFile:
    """A microphone's recording of the session (each sound with its own small noise) and a
    table whose text ``column`` (of no known name; ``tags`` of epochs) gives ``words`` per
    presentation (default: the sound's name); with ``links``, a column of references into
    the track too (pynwb's ``timeseries=``)."""
    rng = np.random.default_rng(7)
    waves, starts, order = _waves(6), _starts(10), _order()
    track = np.zeros(int((starts[-1] + 1.0) * RATE))
    for sound, start in zip(order, starts, strict=True):
        first = int(round(start * RATE))
        track[first: first + waves[sound].size] = waves[sound] / 8000.0
    track += 0.01 * rng.standard_normal(track.size)
    nwb = mock_NWBFile()
    mic = TimeSeries(name="microphone", data=track, rate=RATE, unit="V")
    nwb.add_stimulus(mic)
    words = words or [f"clip{k}" for k in order]
    extra = {"timeseries": [mic]} if links else {}
    if column == "tags":
        for start, word in zip(starts, words, strict=True):
            nwb.add_epoch(start_time=float(start), stop_time=float(start) + DUR, tags=[word], **extra)
    else:
        nwb.add_trial_column(column, "what the playlist said")
        for start, word in zip(starts, words, strict=True):
            nwb.add_trial(start_time=float(start), stop_time=float(start) + DUR, **{column: word}, **extra)
    _units(nwb, float(starts[-1] + 1.0))
    return nwb


@pytest.mark.parametrize(("column", "links"), [("tags", True), ("tags", False), ("playlist_entry", True)])
def test_a_text_column_of_no_known_name_names_what_a_recorded_track_played(tmp_path, column, links):
    """A microphone's noise makes every segment's samples differ: a text column whose rows of
    one name hold the same sound names the repeats, before references into the track."""
    _, layout = _locate(_microphone_file(column, links=links), tmp_path)
    assert layout.kind == "continuous" and layout.column == column
    assert len(layout.presentations) == 10 and layout.repeats() == {
        "clip0": 1, "clip1": 1, "clip2": 1, "clip3": 1, "clip4": 3, "clip5": 3}


def test_a_text_column_whose_rows_of_one_value_hold_different_sounds_names_no_sound(tmp_path):
    """A go/no-go column: two values, each over several different sounds: no sound names.
    The references into the microphone's track are read, and the segments holding the same
    sound (with the recording's noise) are its repeats."""
    words = ["go" if k % 2 else "nogo" for k in range(10)]
    _, layout = _locate(_microphone_file("trial_type", links=True, words=words), tmp_path)
    assert layout.kind == "continuous" and layout.column == "timeseries"
    assert sorted(layout.repeats().values()) == [1, 1, 1, 1, 3, 3]
    assert any("4 segment(s) of stimulus/presentation that no column names are near copies" in n
               for n in layout.notes)


def test_logs_disagreeing_with_several_tables_are_said_and_other_records_are_not(tmp_path):
    """Two tables read together both lack a presentation an IntervalSeries holds: said.
    Beside a recorded track, an AnnotationSeries of an experimenter's notes names no sound
    of the trials: not said."""
    from pynwb.misc import AnnotationSeries

    nwb = _interval_series_file()
    estimation, validation = (TimeIntervals(name=n) for n in ("estimation", "validation"))
    for k, (sound, start) in enumerate(zip(_order(), _starts(10), strict=True)):
        table = estimation if k < 5 else validation
        if k != 3:
            if "sound" not in table.colnames:
                table.add_column("sound", "what played")
            table.add_row(start_time=float(start), stop_time=float(start) + DUR, sound=f"s{sound}")
    nwb.add_time_intervals(estimation)
    nwb.add_time_intervals(validation)
    _, layout = _locate(nwb, tmp_path)
    assert len(layout.tables) == 2 and len(layout.presentations) == 9
    said = [n for n in layout.notes if "disagrees with the table read" in n]
    assert len(said) == 1 and f"s{_order()[3]}_times (IntervalSeries)" in said[0]
    with pytest.warns(UserWarning, match="AnnotationSeries is deprecated"):
        notes = AnnotationSeries(name="experimenter_notes", data=["lights off", "door opened", "pause"],
                                 timestamps=[0.1, 2.21, 4.9])
    mic = _microphone_file("sound", links=False)
    mic.add_acquisition(notes)
    _, layout = _locate(mic, tmp_path, name="notes.nwb")
    assert layout.kind == "continuous" and not any("disagrees" in n for n in layout.notes)


@pytest.mark.parametrize("kind", ["lead-in", "sync"])
def test_a_text_column_is_no_name_where_different_sounds_share_part_of_their_samples(tmp_path, kind):
    """Ten different sounds and a go/no-go column: sounds sharing a lead-in of most of their
    length, or a sync pulse on a second channel at every onset, are not read as two sounds
    heard five times each."""
    rng = np.random.default_rng(3)
    seconds, starts = 1.0, 0.5 + np.arange(10) * 1.5
    track = np.zeros((int((starts[-1] + 2.0) * RATE), 2 if kind == "sync" else 1))
    lead = 0.3 * rng.standard_normal(int(0.95 * RATE))  # same-name segments correlate above 0.9
    for start in starts:
        first, distinct = int(round(start * RATE)), 0.3 * rng.standard_normal(int(seconds * RATE))
        if kind == "lead-in":
            track[first: first + distinct.size, 0] = np.concatenate([lead, distinct[lead.size:]])
        else:
            track[first: first + distinct.size, 0] = distinct
            track[first: first + distinct.size // 2, 1] = 5.0
    track += 0.01 * rng.standard_normal(track.shape)
    nwb = mock_NWBFile()
    nwb.add_stimulus(TimeSeries(name="microphone", data=track.squeeze(), rate=RATE, unit="V"))
    nwb.add_trial_column("trial_type", "go or nogo")
    for k, start in enumerate(starts):
        nwb.add_trial(start_time=float(start), stop_time=float(start) + seconds,
                      trial_type="go" if k % 2 else "nogo")
    _units(nwb, float(starts[-1] + 2.0))
    _, layout = _locate(nwb, tmp_path)
    assert layout.column != "trial_type" and not {"go", "nogo"} & set(layout.repeats())


def test_a_laser_s_command_beside_series_of_presentations_is_no_sound(tmp_path):
    """neuroconv's one series per presentation, and a laser's analog command at audio rate
    in stimulus/presentation: the series layout, the laser listed unused; patterns in
    reader.sounds pick series too."""
    nwb = _series_file()
    nwb.add_stimulus(TimeSeries(name="laser_command", data=np.zeros(int(6 * RATE), dtype=np.float32),
                                unit="V", rate=RATE))
    _, layout = _locate(nwb, tmp_path)
    assert layout.kind == "series" and len(layout.presentations) == 10
    assert any(u.startswith("stimulus/presentation/laser_command") for u in layout.unused)
    picked = ReaderParams(sounds=("stimulus/presentation/AcousticWaveformSeries*",))
    _, chosen = _locate(_series_file(), tmp_path, picked, name="g.nwb")
    assert chosen.kind == "series" and len(chosen.presentations) == 10
    with pytest.raises(ConfigError, match=r"reader.sounds = 'clip\*' matches no object"):
        _locate(_series_file(), tmp_path, ReaderParams(sounds=("clip*",)), name="h.nwb")
