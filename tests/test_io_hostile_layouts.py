"""Layout detection on hostile files, written with pynwb (small sizes): NaN onsets, tables
of unique ids, overlapping or duplicate presentations, references into another series,
waveforms compared by prefix, unmatched names capped, columns read in one go."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hdmf.common import DynamicTable, VectorIndex
from pynwb import NWBFile, TimeSeries
from pynwb.base import TimeSeriesReference
from pynwb.epoch import TimeIntervals
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace.errors import InvalidDataError, NoSoundStimulusError
from ndx_encoding_subspace.io import ReaderParams, inspect_nwb, locate, open_nwb
from ndx_encoding_subspace.io.inventory import SoundSeries
from ndx_encoding_subspace.io.layouts import series, templates
from ndx_encoding_subspace.io.names import UNMATCHED_SHOWN, NameIndex
from ndx_encoding_subspace.io.presentations import row_refs
from ndx_encoding_subspace.testing import write_nwb

RATE = 16000.0


def _wave(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-8000, 8000, int(seconds * RATE), dtype=np.int16)


def _file(end: float = 4.0) -> NWBFile:
    nwb = mock_NWBFile()
    nwb.add_unit(spike_times=np.linspace(0.01, end - 0.01, 50))
    return nwb


def _locate(nwb: NWBFile, tmp_path, params: ReaderParams | None = None):
    path = write_nwb(nwb, tmp_path / "f.nwb")
    with open_nwb(path) as opened:
        return locate(opened.nwbfile, opened.name, params)


def _track_with_table(rows: list[tuple[float, str]], stop: list[float] | None = None) -> NWBFile:
    """One 3 s track in stimulus/presentation and a DynamicTable (onset, sound[, stop])."""
    nwb = _file()
    nwb.add_stimulus(TimeSeries(name="track", data=_wave(3.0), unit="Pa", rate=RATE))
    table = DynamicTable(name="played", description="what played")
    table.add_column("onset", "onset, s")
    table.add_column("sound", "file played")
    if stop is not None:
        table.add_column("stop", "end, s")
    for k, (onset, sound) in enumerate(rows):
        table.add_row(onset=onset, sound=sound, **({"stop": stop[k]} if stop is not None else {}))
    nwb.create_processing_module("behavior", "sounds").add(table)
    return nwb


# -- 1. NaN onsets -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_onset_on_a_baseline_row_is_no_segment_end(tmp_path, bad):
    rows = [(0.5, "a.wav"), (bad, "none"), (1.0, "b.wav"), (1.5, "a.wav")]
    layout = _locate(_track_with_table(rows), tmp_path)
    assert layout.kind == "continuous" and layout.column == "sound"
    spans = [(p.row, p.start, p.stop) for p in sorted(layout.presentations, key=lambda p: p.start)]
    assert spans == [(0, 0.5, 1.0), (2, 1.0, 1.5), (3, 1.5, 3.0)]
    assert "1 rows of processing/behavior/played play no sound" in layout.describe()


def test_nan_onset_on_a_row_in_use_is_refused_naming_it(tmp_path):
    rows = [(0.5, "a.wav"), (np.nan, "b.wav"), (1.5, "a.wav")]
    with pytest.raises(InvalidDataError, match=r"f\.nwb: processing/behavior/played rows \[1\] have no onset "
                                                 r"\(NaN/inf in column"):
        _locate(_track_with_table(rows), tmp_path)


def test_track_rows_without_a_stop_are_refused_saying_why_a_track_needs_one(tmp_path):
    rows = [(0.5, "a.wav"), (1.0, "b.wav"), (2.0, "a.wav")]
    with pytest.raises(InvalidDataError, match=r"played rows \[0, 1, 2\] have no stop \(NaN in column "
                                                 r"'stop', in every row read\): a presentation cut from a "
                                                 "recorded track ends at its row's stop"):
        _locate(_track_with_table(rows, stop=[np.nan] * 3), tmp_path)


def test_a_template_row_without_an_onset_is_left_out_when_few_are(tmp_path):
    """A trial aborted before its sound (NaN in its onset column, its sound still named):
    left out, said; most rows so is a table that cannot be read, refused naming them."""
    def file(onsets):
        nwb = _file(end=6.0)
        nwb.add_stimulus_template(TimeSeries(name="clip", data=_wave(0.25), unit="Pa", rate=RATE))
        table = DynamicTable(name="played", description="d")
        table.add_column("onset", "s")
        table.add_column("sound", "clip")
        for onset in onsets:
            table.add_row(onset=onset, sound="clip")
        nwb.add_acquisition(table)
        return nwb

    layout = _locate(file([0.5, 1.0, np.nan, 2.0, 2.5]), tmp_path)
    assert [p.row for p in layout.presentations] == [0, 1, 3, 4]
    assert any("1 rows of acquisition/played (rows [2]) name a sound but have no onset (NaN)" in n
               for n in layout.notes)
    with pytest.raises(InvalidDataError, match=r"acquisition/played rows \[1, 2\] have no onset \(NaN/inf"):
        _locate(file([0.5, np.nan, np.nan]), tmp_path)


# -- 2. names that match nothing ---------------------------------------------------------


def test_name_index_counts_every_unmatched_name_and_keeps_the_first():
    index: NameIndex[int] = NameIndex([("clip0", 0)])
    for k in range(40_000):
        assert index.get(f"trial_{k:05d}") is None
    index.get("trial_00001")  # again: counted once
    assert index.n_unmatched == 40_000 and len(index.unmatched) == UNMATCHED_SHOWN
    assert index.unmatched[:2] == ["trial_00000", "trial_00001"] and index.get("CLIP0.wav") == 0


def _templates_with_ids(n_rows: int, n_unknown: int = 0) -> NWBFile:
    """Three templates and a table whose ``trial_id`` column is unique (tried first) and
    whose ``clip`` column (not a known name) names the templates."""
    nwb = _file(n_rows * 0.3 + 1.0)
    for k in range(3):
        nwb.add_stimulus_template(TimeSeries(name=f"clip{k}", data=_wave(0.1, k), unit="Pa", rate=RATE))
    table = TimeIntervals(name="trials_table", description="d")
    table.add_column("trial_id", "trial")
    table.add_column("clip", "clip played")
    table.add_column("sound", "known name column")
    for k in range(n_rows):
        sound = f"unknown_{k}" if k < n_unknown else f"clip{k % 3}"
        table.add_interval(
            start_time=0.3 * k,
            stop_time=0.3 * k + 0.1,
            trial_id=f"t{k:06d}",
            clip=f"clip{k % 3}",
            sound=sound,
        )
    nwb.add_time_intervals(table)
    return nwb


def test_a_column_of_unique_ids_is_given_up_at_its_first_name(tmp_path, monkeypatch):
    calls: list[str] = []
    real = templates.template_rows

    def spy(info, column, sounds, name, strict=False):
        read = real(info, column, sounds, name, strict)
        calls.append(f"{column}:{read.n_unmatched}")
        return read

    monkeypatch.setattr(templates, "template_rows", spy)
    params = ReaderParams(layout="templates")
    nwb = _templates_with_ids(400, n_unknown=400)  # the known column names nothing
    layout = _locate(nwb, tmp_path, params)
    assert (layout.column, len(layout.presentations), layout.unmatched) == ("clip", 400, ())
    # the known column is read whole; trial_id stops at its first name
    assert calls == ["sound:400", "trial_id:1", "clip:0"]


def test_unmatched_names_are_counted_and_capped(tmp_path):
    nwb = _templates_with_ids(40, n_unknown=30)
    path = write_nwb(nwb, tmp_path / "u.nwb")
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name)
    assert layout.column == "sound" and len(layout.presentations) == 10
    assert len(layout.unmatched) == UNMATCHED_SHOWN and layout.unmatched_count == 30
    assert "unknown_0, unknown_1" in layout.describe() and "and 10 more" in layout.describe()
    source = layout.provenance()
    assert len(source["unmatched"]) == UNMATCHED_SHOWN and source["unmatched_count"] == 30
    assert "30 names in intervals/trials_table column 'sound' match no sound" in layout.describe()
    use = inspect_nwb(path).use
    assert use["unmatched_count"] == 30 and len(use["unmatched"]) == UNMATCHED_SHOWN


# -- 3. overlapping and duplicate presentations ------------------------------------------


def test_overlapping_template_rows_are_refused(tmp_path):
    nwb = _file()
    nwb.add_stimulus_template(TimeSeries(name="clip", data=_wave(1.0), unit="Pa", rate=RATE))
    table = DynamicTable(name="played", description="d")
    table.add_column("onset", "s")
    table.add_column("sound", "clip")
    for onset in (0.0, 0.5, 0.5):
        table.add_row(onset=onset, sound="clip.wav")
    nwb.add_acquisition(table)
    with pytest.raises(InvalidDataError) as err:
        _locate(nwb, tmp_path)
    text = str(err.value)
    assert "f.nwb: acquisition/played has 2 presentations that begin before" in text
    assert "row 1 (0.5-1.5 s) overlaps row 0 (0-1 s)" in text and "row 2 (0.5-1.5 s) overlaps row 1" in text


def test_touching_or_barely_overlapping_rows_are_accepted(tmp_path):
    nwb = _file()
    nwb.add_stimulus_template(TimeSeries(name="clip", data=_wave(0.5), unit="Pa", rate=RATE))
    table = TimeIntervals(name="played", description="d")
    table.add_column("sound", "clip")
    for start, stop in ((0.0, 0.5), (0.5, 1.0005), (1.0, 1.5)):
        table.add_interval(start_time=start, stop_time=stop, sound="clip")
    nwb.add_time_intervals(table)
    assert len(_locate(nwb, tmp_path).presentations) == 3


def test_rows_stopping_after_the_next_onset_overlap_only_by_their_sounds(tmp_path):
    """Trials whose stop runs 20 ms into the next trial while their 0.5 s sounds do not:
    spikes are counted over the sound, so nothing overlaps; a sound that does is refused."""
    nwb = _file()
    nwb.add_stimulus_template(TimeSeries(name="clip", data=_wave(0.5), unit="Pa", rate=RATE))
    table = TimeIntervals(name="played", description="d")
    table.add_column("sound", "clip")
    for start in (0.0, 0.6, 1.2):
        table.add_interval(start_time=start, stop_time=start + 0.62, sound="clip")
    nwb.add_time_intervals(table)
    assert len(_locate(nwb, tmp_path).presentations) == 3
    nwb = _file()
    nwb.add_stimulus_template(TimeSeries(name="clip", data=_wave(0.5), unit="Pa", rate=RATE))
    table = TimeIntervals(name="played", description="d")
    table.add_column("sound", "clip")
    for start in (0.0, 0.4):
        table.add_interval(start_time=start, stop_time=start + 0.3, sound="clip")
    nwb.add_time_intervals(table)
    with pytest.raises(InvalidDataError, match=r"row 1 \(0.4-0.9 s\) overlaps row 0 \(0-0.5 s\)"):
        _locate(nwb, tmp_path)


def test_overlapping_track_rows_are_refused(tmp_path):
    rows = [(0.5, "a.wav"), (1.0, "b.wav"), (2.0, "a.wav")]
    nwb = _track_with_table(rows, stop=[1.5, 1.5, 2.5])
    with pytest.raises(
        InvalidDataError, match=r"played has 1 presentations .*row 1 \(1-1.5 s\) overlaps row 0"
    ):
        _locate(nwb, tmp_path)


def test_duplicate_track_onsets_without_stop_are_refused(tmp_path):
    rows = [(0.5, "a.wav"), (0.5, "b.wav"), (1.0, "a.wav")]
    with pytest.raises(InvalidDataError, match=r"processing/behavior/played .*\(or at the same time\)"):
        _locate(_track_with_table(rows), tmp_path)


def test_overlapping_series_forced_are_refused_naming_them(tmp_path):
    nwb = _file()
    for name, start in (("a", 0.0), ("b", 0.05), ("c", 1.0)):
        nwb.add_stimulus(TimeSeries(name=name, data=_wave(0.1), unit="Pa", rate=RATE, starting_time=start))
    with pytest.raises(
        InvalidDataError, match=r"stimulus/presentation/b \(0.05-0.15 s\) overlaps stimulus/presentation/a"
    ):
        _locate(nwb, tmp_path, ReaderParams(layout="series"))


# -- 4. references into another series ---------------------------------------------------


def test_track_rows_referencing_another_series_are_skipped(tmp_path, monkeypatch):
    nwb = _file()
    track = TimeSeries(name="track", data=_wave(3.0), unit="Pa", rate=RATE)
    mic = TimeSeries(name="mic", data=_wave(3.0, 1), unit="V", rate=RATE)
    nwb.add_stimulus(track)
    nwb.add_acquisition(mic)
    table = TimeIntervals(name="played", description="d")
    for k, target in enumerate((track, mic, track, track)):
        first = int(0.5 * k * RATE)
        ref = TimeSeriesReference(first, int(0.25 * RATE), target)
        table.add_row(start_time=0.5 * k, stop_time=0.5 * k + 0.25, timeseries=[ref])
    nwb.add_time_intervals(table)
    path = write_nwb(nwb, tmp_path / "r.nwb")
    reads: list[int] = []
    real = VectorIndex.__getitem__
    monkeypatch.setattr(VectorIndex, "__getitem__", lambda self, i: reads.append(i) or real(self, i))
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name)
        refs = row_refs(opened.nwbfile.intervals["played"], "timeseries")
    assert layout.kind == "continuous" and [p.row for p in layout.presentations] == [0, 2, 3]
    assert "1 rows of intervals/played (rows [1]) reference another series than" in layout.describe()
    assert [r.key for r in refs] == ["track", "mic", "track", "track"] and refs[3].idx_start == 24000
    assert reads == []  # the reference column is read once, not row by row


# -- 5. waveforms compared by prefix -----------------------------------------------------


def _sound(name: str, data: np.ndarray, start: float) -> SoundSeries:
    ts = TimeSeries(name=name, data=data, unit="Pa", rate=RATE, starting_time=start)
    shape = data.shape
    return SoundSeries(
        name,
        f"stimulus/presentation/{name}",
        "TimeSeries",
        "continuous",
        RATE,
        start,
        shape[0],
        shape[1] if data.ndim == 2 else 1,
        ts,
    )


def test_waveforms_are_read_whole_only_when_their_prefixes_are_equal(monkeypatch):
    monkeypatch.setattr(series, "PREFIX_SAMPLES", 100)
    base = _wave(0.05)
    late = base.copy()
    late[500] += 1  # differs after the prefix only
    early = base.copy()
    early[5] += 1  # differs in the prefix
    sounds = [
        _sound("a", base, 0.0),
        _sound("b", base.copy(), 1.0),
        _sound("c", early, 2.0),
        _sound("d", late, 3.0),
        _sound("e", _wave(0.01), 4.0),
    ]
    calls: list[tuple[str, int | None]] = []
    real = series.waveform_digest
    monkeypatch.setattr(
        series,
        "waveform_digest",
        lambda s, chunk=None, samples=None: calls.append((s.name, samples)) or real(s, chunk, samples),
    )
    owner = series.same_sounds(sounds)
    paths = {s.name: s.path for s in sounds}
    assert owner == {
        paths["a"]: paths["a"],
        paths["b"]: paths["a"],
        paths["c"]: paths["c"],
        paths["d"]: paths["d"],
        paths["e"]: paths["e"],
    }
    assert sorted(n for n, m in calls if m is None) == ["a", "b", "d"]  # c: prefix only; e: never
    assert sorted(n for n, m in calls if m == 100) == ["a", "b", "c", "d"]


def test_hashing_reads_bounded_blocks():
    wide = _sound("w", np.zeros((1000, 16)), 0.0)
    assert series._chunk_samples(wide) * 16 * 8 <= series.CHUNK_BYTES
    assert series.waveform_digest(wide, 7) == series.waveform_digest(wide)
    assert series.waveform_digest(wide, samples=10) != series.waveform_digest(wide)


# -- object references to the templates ----------------------------------------------------


def _templates_by_reference(catalogue: bool, ids: bool = False) -> tuple[NWBFile, list[tuple[float, str]]]:
    """Three 0.5 s templates and a trials table whose ``stimulus`` column holds references to
    them (``add_trial(stimulus=series)``), or rows of a catalogue table that holds them
    with no column of names (with ``ids``, beside a ``stim_id`` column of the lab's numbers)."""
    nwb = _file(end=6.0)
    series = {n: TimeSeries(name=n, data=_wave(0.5, seed=k), unit="Pa", rate=RATE)
              for k, n in enumerate(("alpha", "beta", "gamma"))}
    for s in series.values():
        nwb.add_stimulus_template(s)
    played = [(0.5, "alpha"), (1.5, "beta"), (2.5, "gamma"), (3.5, "beta"), (4.5, "gamma")]
    if catalogue:
        from hdmf.common import DynamicTableRegion, VectorData

        table = DynamicTable(name="catalogue", description="the sounds", columns=[
            *([VectorData(name="stim_id", description="lab number", data=[101, 102, 103])] if ids else []),
            VectorData(name="series", description="template", data=list(series.values())),
            VectorData(name="duration", description="s", data=[0.5, 0.5, 0.5])])
        nwb.create_processing_module("stimuli", "sounds").add(table)
        rows = {n: k for k, n in enumerate(series)}
        nwb.add_trial_column("sound", "row of the catalogue", table=table)
        for onset, name in played:
            nwb.add_trial(start_time=onset, stop_time=onset + 0.5, sound=rows[name])
        assert isinstance(nwb.trials["sound"], DynamicTableRegion)
    else:
        nwb.add_trial_column("stimulus", "the template played")
        for onset, name in played:
            nwb.add_trial(start_time=onset, stop_time=onset + 0.5, stimulus=series[name])
    return nwb, played


@pytest.mark.parametrize("catalogue, ids", [(False, False), (True, False), (True, True)])
def test_rows_naming_templates_by_object_reference_are_matched_by_their_id(tmp_path, catalogue, ids):
    """A catalogue's references to the templates are read before its lab numbers."""
    from ndx_encoding_subspace.io import read_site

    nwb, played = _templates_by_reference(catalogue, ids)
    path = write_nwb(nwb, tmp_path / "f.nwb")
    with pytest.warns(UserWarning, match="hold no power"):  # 16 kHz sounds
        site = read_site(path, reader=ReaderParams(min_validation_repeats=2))
    assert sorted(s.name for s in site.sounds) == ["alpha", "beta", "gamma"]
    assert {s.name: s.n_repeats for s in site.sounds} == {"alpha": 1, "beta": 2, "gamma": 2}


def test_pynwb_session_time_references_into_templates_are_refused_with_the_remedy(tmp_path):
    from ndx_encoding_subspace.io import read_site

    nwb = _file(end=6.0)
    series = [TimeSeries(name=n, data=_wave(0.5, seed=k), unit="Pa", rate=RATE) for k, n in enumerate("ab")]
    for s in series:
        nwb.add_stimulus_template(s)
    for k, onset in enumerate((1.0, 2.0, 3.0)):  # pynwb counts idx_start from the session's start
        nwb.add_trial(start_time=onset, stop_time=onset + 0.5, timeseries=[series[k % 2]])
    path = write_nwb(nwb, tmp_path / "f.nwb")
    with pytest.raises(InvalidDataError, match=r"beyond the end.*add_trial\(\.\.\., sound='name'\)"):
        read_site(path)


def test_external_links_into_a_missing_file_are_named(tmp_path, monkeypatch):
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.io.links import dangling_links

    shared = _file()
    shared.add_stimulus_template(TimeSeries(name="a", data=_wave(0.5), unit="Pa", rate=RATE))
    write_nwb(shared, tmp_path / "stimuli.nwb")
    with NWBHDF5IO(str(tmp_path / "stimuli.nwb"), "r") as source:
        session = _file()
        session.add_stimulus_template(source.read().stimulus_template["a"])  # written as a link
        with NWBHDF5IO(str(tmp_path / "session.nwb"), "w", manager=source.manager) as io:
            io.write(session)
    monkeypatch.chdir("/")  # the link is found beside the file, not only from the current folder
    with open_nwb(tmp_path / "session.nwb") as opened:
        assert "a" in opened.nwbfile.stimulus_template
        assert dangling_links(opened._h5, tmp_path / "session.nwb") == {}
    (tmp_path / "stimuli.nwb").unlink()
    with pytest.warns(UserWarning, match=r"1 external link\(s\) point into 'stimuli.nwb', which is not there "
                                         r"\(stimulus/templates/a\)"):
        open_nwb(tmp_path / "session.nwb").close()


def _clip_track(order: list[str]) -> np.ndarray:
    """An int16 track playing the 0.25 s clip of each letter of ``order`` every 0.5 s."""
    clips = {n: _wave(0.25, seed=k) for k, n in enumerate(sorted(set(order)))}
    track = np.zeros(int(len(order) * 0.5 * RATE), dtype=np.int16)
    for k, name in enumerate(order):
        track[int(k * 0.5 * RATE): int(k * 0.5 * RATE) + clips[name].size] = clips[name]
    return track


@pytest.mark.parametrize("by_reference", [False, True])
def test_unnamed_segments_holding_the_same_samples_are_repeats(tmp_path, by_reference):
    """A track cut at unnamed rows (or at references into it, as add_trial(timeseries=[track])
    writes): segments of identical samples are one sound heard again, not new sounds that
    could land in both the estimation and the validation sets."""
    from ndx_encoding_subspace.io import read_site

    order = ["a", "b", "c", "d", "c", "d", "c", "d"]
    track = _clip_track(order)
    nwb = _file(end=5.0)
    series = TimeSeries(name="speaker", data=track, unit="Pa", rate=RATE)
    nwb.add_stimulus(series)
    for k in range(len(order)):
        kwargs = {"timeseries": [series]} if by_reference else {}
        nwb.add_trial(start_time=k * 0.5, stop_time=k * 0.5 + 0.25, **kwargs)
    path = write_nwb(nwb, tmp_path / "f.nwb")
    reader = ReaderParams(presentations="intervals/trials", min_validation_repeats=3)
    with pytest.warns(UserWarning, match="hold no power"):  # 16 kHz sounds
        site = read_site(path, reader=reader)
    assert sorted(s.n_repeats for s in site.sounds) == [1, 1, 3, 3]
    assert not set(site.estimation) & set(site.validation) and len(site.validation) == 2
    assert "same-samples-repeat" in site.source["rules"]
    notes = _locate(nwb, tmp_path, reader).notes
    said = "4 segment(s) of stimulus/presentation/speaker hold the same samples"
    assert any(said in n for n in notes), notes


@pytest.mark.parametrize("kind", ["noise", "shifted"])
def test_unnamed_segments_of_a_recorded_track_holding_one_sound_are_repeats(tmp_path, kind):
    """A recorded speaker track (its noise makes no repeat identical), or references whose
    first sample pynwb rounded down (a repeat one sample early): segments holding the same
    sound are repeats; the same clip 6 dB quieter is another sound."""
    from ndx_encoding_subspace.io import read_site

    rng = np.random.default_rng(7)
    clips = {n: _wave(0.25, seed=k).astype(np.float32) / 8000 for k, n in enumerate("abcd")}
    clips["e"] = clips["a"] / 2
    order = ["a", "b", "c", "d", "e", "c", "d", "c", "d"]
    track = np.zeros(int(len(order) * 0.5 * RATE), dtype=np.float32)
    for k, name in enumerate(order):
        first = int(k * 0.5 * RATE) + (1 if kind == "shifted" and k >= 5 else 0)
        track[first: first + clips[name].size] = clips[name]
    if kind == "noise":
        track += 0.01 * rng.standard_normal(track.size).astype(np.float32)
    nwb = _file(end=5.0)
    series = TimeSeries(name="speaker", data=track, unit="Pa", rate=RATE)
    nwb.add_stimulus(series)
    for k in range(len(order)):
        nwb.add_trial(start_time=k * 0.5, stop_time=k * 0.5 + 0.25, timeseries=[series])
    path = write_nwb(nwb, tmp_path / "f.nwb")
    reader = ReaderParams(presentations="intervals/trials", min_validation_repeats=3)
    near = "4 segment.s. of stimulus/presentation that no column names are near copies of an earlier segment"
    with pytest.warns(UserWarning, match=near):
        site = read_site(path, reader=reader)
    assert sorted(s.n_repeats for s in site.sounds) == [1, 1, 1, 3, 3]
    assert not set(site.estimation) & set(site.validation) and len(site.validation) == 2
    assert "near-copies-repeat" in site.source["rules"]


def test_a_track_in_acquisition_that_the_trials_reference_is_the_sound(tmp_path):
    """A speaker's signal recorded into acquisition (a plain TimeSeries, which is no sound
    unless named) that the trials point to with add_trial(timeseries=[track]): read as the
    session's track; a sync pulse beside it is not."""
    order = ["a", "b", "c", "a", "b", "c"]
    track = _clip_track(order)
    nwb = _file(end=4.0)
    speaker = TimeSeries(name="speaker", data=track, unit="V", rate=RATE)
    nwb.add_acquisition(speaker)
    pulses = np.zeros(track.size, dtype=np.int16)
    nwb.add_acquisition(TimeSeries(name="sync", data=pulses, unit="V", rate=RATE))
    nwb.add_trial_column("sound", "what played")
    for k, name in enumerate(order):
        nwb.add_trial(start_time=k * 0.5, stop_time=k * 0.5 + 0.25, timeseries=[speaker], sound=name)
    layout = _locate(nwb, tmp_path)
    assert layout.kind == "continuous" and [s.path for s in layout.sounds] == ["acquisition/speaker"]
    assert sorted(layout.repeats().values()) == [2, 2, 2]
    # the trials pointing to the raw voltage (a name saying no sound): still no sound found
    nwb = _file(end=4.0)
    raw = TimeSeries(name="raw_voltage", data=track, unit="V", rate=RATE)
    nwb.add_acquisition(raw)
    nwb.add_trial_column("sound", "what played")
    for k, name in enumerate(order):
        nwb.add_trial(start_time=k * 0.5, stop_time=k * 0.5 + 0.25, timeseries=[raw], sound=name)
    with pytest.raises(NoSoundStimulusError, match="acquisition/raw_voltage"):
        write_nwb(nwb, tmp_path / "raw.nwb")
        with open_nwb(tmp_path / "raw.nwb") as opened:
            locate(opened.nwbfile, opened.name)


def test_integer_and_float_samples_in_one_file_are_read_on_one_scale(tmp_path):
    """The same sound kept as float samples in [-1, 1] and as int16 without a conversion (as
    neuroconv's AudioInterface writes WAV files) gives the same spectrogram."""
    from ndx_encoding_subspace.io import read_site

    wave = np.random.default_rng(3).uniform(-0.5, 0.5, int(0.5 * RATE))
    nwb = _file(end=6.0)
    nwb.add_stimulus_template(TimeSeries(name="as_float", data=wave.astype(np.float32), unit="Pa", rate=RATE))
    as_int = np.round(wave * 32768).astype(np.int16)
    nwb.add_stimulus_template(TimeSeries(name="as_int", data=as_int, unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "sound played")
    for k, name in enumerate(["as_float", "as_int", "as_float", "as_int", "as_float"]):
        nwb.add_trial(start_time=0.5 + k, stop_time=1.0 + k, sound=name)
    path = write_nwb(nwb, tmp_path / "f.nwb")
    with pytest.warns(UserWarning, match="read as fractions of their full scale"):
        site = read_site(path, reader=ReaderParams(validation_sounds=("as_float",)))
    a, b = site.sound("as_float").spectrogram, site.sound("as_int").spectrogram
    np.testing.assert_allclose(a, b, atol=1e-3)
    assert "integers-full-scale" in site.source["rules"]


def test_64_bit_integer_samples_without_a_conversion_are_said(tmp_path):
    """16-bit samples stored as int64 (``astype(int)``) beside int16 ones: no full scale to
    read them against, so their level is said, naming the series, not called converted."""
    from ndx_encoding_subspace.io import read_site

    wave = np.round(np.random.default_rng(3).uniform(-0.5, 0.5, int(0.5 * RATE)) * 32768)
    nwb = _file(end=6.0)
    nwb.add_stimulus_template(TimeSeries(name="short", data=wave.astype(np.int16), unit="Pa", rate=RATE))
    nwb.add_stimulus_template(TimeSeries(name="long", data=wave[::-1].astype(np.int64), unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "sound played")
    for k, name in enumerate(["short", "long", "short", "long", "short"]):
        nwb.add_trial(start_time=0.5 + k, stop_time=1.0 + k, sound=name)
    path = write_nwb(nwb, tmp_path / "f.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_site(path, reader=ReaderParams(validation_sounds=("short",)))
    said = [str(w.message) for w in caught]
    assert any("1 sound series hold 64-bit integer samples without a conversion (e.g. "
               "stimulus/templates/long, sound 'long'): they are read as their raw values" in m for m in said)
    assert not any("floating-point or converted" in m for m in said), said


def test_integer_samples_without_a_conversion_are_fractions_of_full_scale(tmp_path):
    """A file of int16 sounds alone (neuroconv's AudioInterface) reads as the same sounds
    stored as float in [-1, 1] do; samples of impossible magnitude are refused by name."""
    from ndx_encoding_subspace.io import read_site

    wave = np.random.default_rng(5).uniform(-0.5, 0.5, int(0.5 * RATE))
    sites = {}
    for kind, data in (("float", wave.astype(np.float32)), ("int", np.round(wave * 32768).astype(np.int16))):
        nwb = _file(end=6.0)
        for name in ("a", "b"):
            nwb.add_stimulus_template(TimeSeries(name=name, data=data if name == "a" else data[::-1].copy(),
                                                 unit="Pa", rate=RATE))
        nwb.add_trial_column("sound", "sound played")
        for k, name in enumerate(["a", "b", "a", "b", "a"]):
            nwb.add_trial(start_time=0.5 + k, stop_time=1.0 + k, sound=name)
        with pytest.warns(UserWarning, match="hold no power"):
            sites[kind] = read_site(write_nwb(nwb, tmp_path / f"{kind}.nwb"),
                                    reader=ReaderParams(validation_sounds=("a",)))
    for name in ("a", "b"):
        as_int, as_float = sites["int"].sound(name), sites["float"].sound(name)
        np.testing.assert_allclose(as_int.spectrogram, as_float.spectrogram, atol=1e-3)
    assert "integers-full-scale" in sites["int"].source["rules"]
    assert "integers-full-scale" not in sites["float"].source.get("rules", [])
    nwb = _file(end=6.0)
    loud = wave.copy()
    loud[100] = 3e38
    nwb.add_stimulus_template(TimeSeries(name="clip03", data=loud, unit="Pa", rate=RATE))
    nwb.add_stimulus_template(TimeSeries(name="clip00", data=wave, unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "sound played")
    for k, name in enumerate(["clip00", "clip03", "clip00", "clip03", "clip00"]):
        nwb.add_trial(start_time=0.5 + k, stop_time=1.0 + k, sound=name)
    path = write_nwb(nwb, tmp_path / "loud.nwb")
    said = r"loud\.nwb: sound 'clip03' \(stimulus/templates/clip03\) holds samples of magnitude 3e\+38 "
    with pytest.raises(InvalidDataError, match=said + r"\(first at sample 100\)"):
        read_site(path, reader=ReaderParams(validation_sounds=("clip00",)))


def _compressed(tmp_path, name: str, spikes: list[float] | None = None):
    """Two gzip-compressed templates presented 5 times, written to ``name``."""
    from pynwb import H5DataIO

    wave = np.random.default_rng(6).uniform(-0.5, 0.5, int(0.5 * RATE)).astype(np.float32)
    nwb = _file(end=6.0)
    if spikes is not None:
        nwb.add_unit(spike_times=spikes)
    for sound in ("a", "b"):
        data = H5DataIO(wave, compression="gzip", chunks=(1000,))
        nwb.add_stimulus_template(TimeSeries(name=sound, data=data, unit="Pa", rate=RATE))
    nwb.add_trial_column("sound", "sound played")
    for k, sound in enumerate(["a", "b", "a", "b", "a"]):
        nwb.add_trial(start_time=0.5 + k, stop_time=1.0 + k, sound=sound)
    return write_nwb(nwb, tmp_path / name)


def test_damaged_spike_times_and_a_damaged_chunk_of_samples_are_named(tmp_path):
    import h5py

    from ndx_encoding_subspace.errors import NotNWBError
    from ndx_encoding_subspace.io import read_site

    path = _compressed(tmp_path, "f.nwb", spikes=[0.5, 1.0, 7.07, 2e220])
    with pytest.raises(InvalidDataError, match=r"spike_times of units \[1\] hold times such as 2e\+220 s"):
        read_site(path)
    path = _compressed(tmp_path, "g.nwb")
    with h5py.File(path, "r") as f:
        chunk = f["stimulus/templates/b/data"].id.get_chunk_info(3)
    with open(path, "r+b") as handle:
        handle.seek(chunk.byte_offset + chunk.size // 3)
        handle.write(bytes(range(64)))
    with pytest.raises(NotNWBError, match=r"g\.nwb: sound 'b': stimulus/templates/b/data cannot be read"):
        read_site(path, reader=ReaderParams(validation_sounds=("a",)))


def test_a_template_sampled_too_slowly_is_named_with_its_rate_where_its_presentations_are_left_out(tmp_path):
    from ndx_encoding_subspace.io import read_site

    nwb = _file(end=8.0)
    for k, name in enumerate("abc"):
        nwb.add_stimulus_template(TimeSeries(name=name, data=_wave(0.5, seed=k), unit="Pa", rate=RATE))
    nwb.add_stimulus_template(TimeSeries(name="slow", data=np.random.default_rng(1).uniform(-1, 1, 1500),
                                         unit="Pa", rate=3000.0))
    nwb.add_trial_column("sound", "sound played")
    for k, name in enumerate(["a", "b", "slow", "c", "a", "slow", "a"]):
        nwb.add_trial(start_time=0.5 + k, stop_time=1.0 + k, sound=name)
    said = (r"not read as sounds: stimulus/templates/slow \(TimeSeries: sampled at 3000 Hz, below "
            r"reader.min_sample_rate")
    with pytest.warns(UserWarning, match=said):
        site = read_site(write_nwb(nwb, tmp_path / "f.nwb"), reader=ReaderParams(validation_sounds=("a",)))
    assert sorted(s.name for s in site.sounds) == ["a", "b", "c"]


def test_sounds_below_twice_max_frequency_are_said_only_when_a_channel_lies_above(tmp_path):
    """16 kHz sounds: said with the default channels (up to 20 kHz); not with one channel
    at 2 kHz, which they hold."""
    from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
    from ndx_encoding_subspace.io import read_site

    nwb, _ = _templates_by_reference(True, False)
    path = write_nwb(nwb, tmp_path / "f.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site = read_site(path, reader=ReaderParams(min_validation_repeats=2),
                         spectrogram=SpectrogramParams(n_channels=1))
    assert site.n_frequencies == 1
    assert not [w for w in caught if "hold no power" in str(w.message)], [str(w.message) for w in caught]
    # read as before (its identity, and the results made from it, unchanged)
    assert "above-nyquist-silent" in site.source["rules"]
