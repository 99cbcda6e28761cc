"""Presentations kept in several tables (estimation sounds in one, repeated validation
sounds in another, as lab scripts often write them) are read together."""

from __future__ import annotations

import pytest
from pynwb.epoch import TimeIntervals

from ndx_encoding_subspace.errors import AmbiguousInputError, InvalidDataError
from ndx_encoding_subspace.io import ReaderParams, locate, open_nwb, read_site
from ndx_encoding_subspace.io.inspect import inspect_nwb
from ndx_encoding_subspace.testing.files import mock_site

#: the validation sound, heard again in a second table after the estimation block
REPEATS = 4


def _split(tmp_path, *, overlap: bool = False):
    """A recording whose sounds are each presented once in ``sound_presentations`` and
    the last one ``REPEATS`` more times in ``validation_presentations`` (after the first
    table's rows, or at the same times as them with ``overlap``)."""
    site = mock_site(waveforms=False, n_sounds=5, repeats=(1, 1, 1, 1, 1), extra_time=2.0 * REPEATS + 2.0,
                     seed=4)
    end = max(start for _, start in site.presentations) + 1.0
    table = TimeIntervals(name="validation_presentations", description="repeated sounds")
    table.add_column("sound", "the sound played")
    last = sorted(name for name, _ in site.presentations)[-1]
    starts = [start for _, start in site.presentations][:REPEATS] if overlap else \
        [end + 1.5 * i for i in range(REPEATS)]
    for start in starts:
        table.add_interval(start_time=start, stop_time=start + 0.5, sound=last)
    site.nwbfile.add_time_intervals(table)
    return site, site.write(tmp_path / "split.nwb"), last, starts


def test_tables_of_different_presentations_are_read_together(tmp_path):
    site, path, last, starts = _split(tmp_path)
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name)
    assert layout.kind == "templates"
    assert layout.tables == ("intervals/sound_presentations", "intervals/validation_presentations")
    assert layout.column == "sound"
    found = sorted((p.sound, round(p.start, 6)) for p in layout.presentations)
    truth = sorted([(n, round(s, 6)) for n, s in site.presentations] + [(last, round(s, 6)) for s in starts])
    assert found == truth
    assert [p.start for p in layout.presentations] == sorted(p.start for p in layout.presentations)
    assert not any("presentations" in u for u in layout.unused)
    assert "read together" in layout.reason and "validation_presentations column 'sound'" in layout.reason
    assert layout.provenance()["tables"] == list(layout.tables)


def test_the_repeated_sound_of_the_second_table_becomes_the_validation_sound(tmp_path):
    _, path, last, _ = _split(tmp_path)
    site = read_site(path)
    assert site.validation == (last,)
    assert last not in site.estimation and len(site.estimation) == 4
    assert site.sound(last).counts.shape[0] == REPEATS + 1
    report = inspect_nwb(path)
    assert report.use["tables"] == ["intervals/sound_presentations", "intervals/validation_presentations"]
    assert "intervals/sound_presentations and intervals/validation_presentations column 'sound'" in \
        report.format()


def test_tables_repeating_the_same_presentations_are_ambiguous(tmp_path):
    _, path, _, _ = _split(tmp_path, overlap=True)
    with open_nwb(path) as opened:
        with pytest.raises(AmbiguousInputError, match=r"overlap in time.*reader.presentations") as err:
            locate(opened.nwbfile, opened.name)
        assert "intervals/validation_presentations column 'sound'" in str(err.value)
        chosen = locate(opened.nwbfile, opened.name, ReaderParams(presentations="sound_presentations"))
        assert chosen.tables == () and chosen.table == "intervals/sound_presentations"


def test_tables_named_together_must_not_overlap(tmp_path):
    _, path, _, _ = _split(tmp_path, overlap=True)
    both = ReaderParams(presentations="sound_presentations, validation_presentations")
    with open_nwb(path) as opened:
        with pytest.raises(InvalidDataError, match=r"intervals/validation_presentations row \d+ \("):
            locate(opened.nwbfile, opened.name, both)


def _continuous(tmp_path, *, overlap: bool = False):
    """A session-long track whose presentations of the repeated sound are in one table
    and the others' in another (or every presentation in both, with ``overlap``)."""
    site = mock_site(layout="continuous", table="", waveforms=False, repeats=(1, 1, 1, 4), seed=5)
    repeated = max(set(n for n, _ in site.presentations), key=[n for n, _ in site.presentations].count)
    for name, keep in (("estimation", lambda n: n != repeated), ("validation", lambda n: n == repeated)):
        table = TimeIntervals(name=name, description=f"{name} presentations")
        table.add_column("stim_name", "the sound played")
        for sound, start in sorted(site.presentations, key=lambda p: p[1]):
            if overlap or keep(sound):
                table.add_interval(start_time=start, stop_time=start + 0.5, stim_name=sound)
        site.nwbfile.add_time_intervals(table)
    return site, site.write(tmp_path / "track.nwb"), repeated


def test_a_track_cut_at_the_rows_of_two_tables_reads_every_presentation(tmp_path):
    site, path, repeated = _continuous(tmp_path)
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name)
    assert layout.kind == "continuous" and layout.tables == ("intervals/estimation", "intervals/validation")
    assert sorted((p.sound, round(p.start, 6)) for p in layout.presentations) == \
        sorted((n, round(s, 6)) for n, s in site.presentations)
    assert layout.repeats()[repeated] == 4
    assert "2 tables read together" in layout.reason
    read = read_site(path)
    assert read.validation == (repeated,)


def test_a_track_with_two_tables_of_the_same_rows_is_ambiguous(tmp_path):
    _, path, _ = _continuous(tmp_path, overlap=True)
    with open_nwb(path) as opened:
        with pytest.raises(AmbiguousInputError, match="overlap in time"):
            locate(opened.nwbfile, opened.name)
        layout = locate(opened.nwbfile, opened.name, ReaderParams(presentations="validation"))
        assert layout.table == "intervals/validation" and layout.tables == ()
