"""Sound series named by a table at their own starting times.

neuroconv's ``AudioInterface`` writes each sound file once, as ``AcousticWaveformSeries``,
``AcousticWaveformSeries1``, ... (the file's name is not kept), beginning at the sound's
first presentation; a trials table beside it names every presentation by its file. Where
every series begins at the onset of rows that all name one sound, a different one for
each series (or the same lead after them: rows beginning with a trial, before the sound),
that name is the series': the table then names the series, and each of its
rows is a presentation (repeats included), as for templates named by a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from .cells import is_ts_reference
from .inventory import SoundSeries, TableInfo
from .names import display_name, name_key
from .rows import row_refs

__all__ = ["NAMED_AT_ONSETS", "named_at_onsets"]

#: what the note of series named so holds
NAMED_AT_ONSETS = "named by the rows beginning at their starting times"

#: a series beginning within this of a row's onset begins at that row (seconds)
SAME_TIME_S = 0.005


def _names(info: TableInfo, column: str, series: tuple[SoundSeries, ...]) -> dict[str, str] | None:
    """Each series' path -> the one name the rows of ``column`` beginning at its start give,
    or beginning the same lead before every series' start, each row still running when its
    series begins (a trial's start: the templates layout then moves the presentations to
    the series' times). None unless every series has one, and no two the same."""
    if is_ts_reference(info.table[column]):
        return None
    refs = row_refs(info.table, column)
    onsets = np.asarray(info.table[info.onset].data[:], dtype=np.float64)[: len(refs)]
    stops = (np.asarray(info.table[info.stop].data[: len(refs)], dtype=np.float64) if info.stop
             else np.full(len(refs), np.inf))
    leads = []
    for s in series:  # the last row beginning at or before the series
        before = onsets[onsets <= s.starting_time + SAME_TIME_S]
        if not len(before):
            return None
        leads.append(s.starting_time - before.max())
    lead = float(np.median(leads))
    if max(leads) - min(leads) > SAME_TIME_S:
        return None
    names: dict[str, str] = {}
    for s in series:
        rows = np.flatnonzero(np.abs(onsets + lead - s.starting_time) <= SAME_TIME_S)
        if lead > SAME_TIME_S and not np.all(stops[rows] >= s.starting_time):
            return None  # rows over before their series begins: not the series' rows
        said = {refs[r].key for r in rows if refs[r].key}
        if len(said) != 1:
            return None
        names[s.path] = said.pop()
    if len({name_key(n) for n in names.values()}) < len(series):
        return None
    return names


def named_at_onsets(series: tuple[SoundSeries, ...], tables: list[TableInfo],
                    sound_column: str | None = None) -> Iterator[tuple[tuple[SoundSeries, ...], str]]:
    """Each way of naming ``series`` after the rows of a table beginning at their starting
    times, with the note that says so: the columns known to name sounds of every table
    first, then their other text columns (see the module's text). ``sound_column``
    restricts the columns tried."""
    if len(series) < 2 or len({round(s.starting_time, 3) for s in series}) < len(series):
        return
    timed = [info for info in tables if info.onset]
    rounds = ([[(info, sound_column) for info in timed]] if sound_column else
              [[(info, c) for info in timed for c in info.sound_columns],
               [(info, c) for info in timed for c in info.text_columns]])
    for info, column in (pair for pairs in rounds for pair in pairs):
        names = _names(info, column, series) if column in info.columns else None
        if names is None:
            continue
        s = series[0]
        note = (f"the {len(series)} sound series (named as no sound is) are {NAMED_AT_ONSETS} "
                f"in {info.path} column {column!r} (e.g. {s.path} at {s.starting_time:g} s: "
                f"{names[s.path]!r})")
        yield tuple(dataclasses.replace(x, name=display_name(names[x.path])) for x in series), note
