"""Presentations in an ``EventsTable`` (NWB 2.9 and later, in ``/events``): a ``timestamp``
per sound onset, an optional ``duration``, and a column naming the sound."""

from __future__ import annotations

import numpy as np
import pytest
from pynwb.event import EventsTable

from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.io import locate, open_nwb, read_site
from ndx_encoding_subspace.io.inspect import inspect_nwb
from ndx_encoding_subspace.testing.files import mock_site


def _events(tmp_path, layout: str, durations: list[float] | None = None):
    """A recording whose only presentation table is an EventsTable (with ``durations``
    when given) naming each presented sound."""
    site = mock_site(layout=layout, table="", waveforms=False, repeats=(1, 1, 1, 4), seed=5)
    table = EventsTable(name="sound_onsets", description="onset of every sound, from the speaker's TTL")
    table.add_column("sound", "the sound played")
    order = sorted(site.presentations, key=lambda p: p[1])
    for i, (name, start) in enumerate(order):
        extra = {} if durations is None else {"duration": durations[i]}
        table.add_row(timestamp=start, sound=name, **extra)
    site.nwbfile.add_events_table(table)
    return site, site.write(tmp_path / "events.nwb"), order


@pytest.mark.parametrize("layout", ["templates", "continuous"])
def test_sounds_named_in_an_events_table_are_found(tmp_path, layout):
    site, path, order = _events(tmp_path, layout)
    with open_nwb(path) as opened:
        found = locate(opened.nwbfile, opened.name)
    assert (found.kind, found.table, found.column, found.onset) == (layout, "events/sound_onsets", "sound",
                                                                     "timestamp")
    assert sorted((p.sound, round(p.start, 6)) for p in found.presentations) == \
        sorted((n, round(s, 6)) for n, s in order)
    assert not any(u.startswith("events/") for u in found.unused)
    read = read_site(path)
    repeated = max(set(n for n, _ in order), key=[n for n, _ in order].count)
    assert read.validation == (repeated,) and read.sound(repeated).counts.shape[0] == 4


def test_the_events_duration_ends_each_segment_of_a_track(tmp_path):
    n = 7
    _, path, order = _events(tmp_path, "continuous", durations=[0.3] * n)
    with open_nwb(path) as opened:
        found = locate(opened.nwbfile, opened.name)
    ends = sorted((round(p.start, 6), round(p.stop, 6)) for p in found.presentations)
    assert ends == sorted((round(s, 6), round(s + 0.3, 6)) for _, s in order)
    assert not any("no stop column" in note for note in found.notes)
    report = inspect_nwb(path)
    assert [t["duration"] for t in report.presentations] == ["duration"]


def test_without_duration_a_segment_ends_at_the_next_onset_and_says_so(tmp_path):
    _, path, order = _events(tmp_path, "continuous")
    with open_nwb(path) as opened:
        found = locate(opened.nwbfile, opened.name)
    starts = [s for _, s in order]
    stops = sorted(p.stop for p in found.presentations)
    np.testing.assert_allclose(stops[:-1], starts[1:])
    assert any("events/sound_onsets has no stop column" in note for note in found.notes)


def test_a_negative_duration_is_refused_naming_the_row_and_column(tmp_path):
    durations = [0.5] * 7
    durations[2] = -0.5
    _, path, _ = _events(tmp_path, "templates", durations=durations)
    with open_nwb(path) as opened:
        with pytest.raises(InvalidDataError, match=r"events/sound_onsets rows \[2\].*'duration'"):
            locate(opened.nwbfile, opened.name)


@pytest.mark.parametrize("column", ["sound", "code"])
def test_sound_codes_explained_by_a_meanings_table_name_the_sounds(tmp_path, column):
    from hdmf.common import MeaningsTable

    site = mock_site(table="", waveforms=False, repeats=(1, 1, 1, 4), seed=5)
    names = sorted({n for n, _ in site.presentations})
    table = EventsTable(name="sound_onsets", description="onsets, sounds coded as numbers")
    table.add_column(column, "code of the sound played")
    for name, start in sorted(site.presentations, key=lambda p: p[1]):
        table.add_row(timestamp=start, **{column: names.index(name) + 10})
    meanings = MeaningsTable(target=table[column])
    for i, name in enumerate(names[:-1]):  # the last code is explained by no meaning
        meanings.add_row(value=i + 10, meaning=f"/stimuli/{name}.wav")
    table.add_meanings_table(meanings)
    site.nwbfile.add_events_table(table)
    path = site.write(tmp_path / "codes.nwb")
    with open_nwb(path) as opened:
        found = locate(opened.nwbfile, opened.name)
    assert (found.table, found.column) == ("events/sound_onsets", column)
    truth = sorted((n, round(s, 6)) for n, s in site.presentations if n != names[-1])
    assert sorted((p.sound, round(p.start, 6)) for p in found.presentations) == truth
    assert found.unmatched == (str(len(names) + 9),)
