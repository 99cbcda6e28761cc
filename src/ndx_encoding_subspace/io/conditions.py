"""Presentations by experimental condition: columns saying under which condition a row played.

Sessions often play the same sounds under several conditions: before and after a drug,
with and without a laser, in the blocks of a task. The reader reads every presentation of a
sound as a repeat of it; :func:`condition_note` says so when the presentations of a sound
differ in a condition column (:data:`~.names.CONDITION_COLUMNS` and
:data:`~.names.TYPE_COLUMNS`), and ``reader.where`` (:func:`select`) keeps the rows of the
chosen conditions only. Presentations overlapping the file's ``invalid_times`` (intervals
NWB marks for removal from analysis) are left out (:func:`valid_only`), and so are
presentations cut short, shorter than most of their sound's others (:func:`complete_only`:
a trial aborted, a recorded track's row or a template's row stopped early: :func:`stopped_early`).

``reader.where`` holds ``column=value`` entries: a row is kept when, for every column
named, its value is one of the values given for that column (compared as
text, case, surrounding spaces and a whole number's ``.0`` aside).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from ..errors import ConfigError, InvalidDataError
from .cells import cells, is_region, is_ts_reference
from .inventory import Presentation, TableInfo
from .names import CONDITION_COLUMNS, TYPE_COLUMNS, listing, name_key, name_words
from .rows import text_of

__all__ = ["CONDITIONS_DIFFER", "WARNED", "READING_RULES", "parse_where", "select", "condition_note",
           "valid_only", "complete_only", "stopped_early", "stops_inside_sounds", "check_tail",
           "read_end"]

#: what :func:`condition_note` says (the reader warns of layout notes holding it)
CONDITIONS_DIFFER = "differ in condition"
_INVALID = "overlap intervals/invalid_times"
_SHORT = "shorter than most presentations of their sound"
_TRIMMED = "read only as long as the shorter presentations of their sound"
_WHOLE = "are read over their shortest presentation"
#: a block this share of a presentation's loudest or quieter is silence (-40 dB)
_SILENT_SHARE = 0.01
#: what the notes of this module that the reader warns of hold
WARNED = (CONDITIONS_DIFFER, _INVALID, _SHORT)
#: rules of reading added since the first release, by what their notes hold (results made
#: before them are made again: ``site_reader.reading_rules``)
READING_RULES = {"invalid-times-left-out": _INVALID, "cut-short-left-out": _SHORT,
                 "cut-short-trimmed": _TRIMMED, "whole-in-shortest": _WHOLE}
#: presentations shorter than this share of their sound's usual length were cut short
_SHORT_SHARE = 0.9
_MAX_CONDITIONS = 20  # a column with more distinct values is no condition
_SHOWN = 5


def parse_where(where: Sequence[str]) -> dict[str, set[str]]:
    """``column=value`` entries as {column: keys of the values allowed}.

    Raises
    ------
    ConfigError
        An entry without ``=``, or with an empty column or value.
    """
    out: dict[str, set[str]] = {}
    for entry in where:
        column, sep, value = str(entry).partition("=")
        if not sep or not column.strip() or not value.strip():
            raise ConfigError(f"reader.where: {entry!r} is not column=value (e.g. phase=baseline)")
        out.setdefault(column.strip(), set()).add(_key(value))
    return out


def _key(value: Any) -> str:
    """A condition as compared: text, lower case, no surrounding spaces, ``1.0`` as ``1``."""
    text = text_of(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _values(table: Any, column: str) -> list[str] | None:
    """The cells of a column with one plain value per row, as text; None for other columns."""
    target = table[column]
    if isinstance(target, VectorIndex) or is_ts_reference(target) or is_region(target):
        return None
    values = np.asarray(cells(target))
    if values.ndim != 1 or values.dtype.kind not in "biufOSU":
        return None
    return [text_of(v) for v in values]


def _table_of(p: Presentation, tables: Mapping[str, TableInfo], default: str) -> TableInfo | None:
    return tables.get(p.table or default)


def select(presentations: Sequence[Presentation], tables: Mapping[str, TableInfo], default: str,
           where: Sequence[str], name: str) -> tuple[tuple[Presentation, ...], str]:
    """The presentations whose rows satisfy ``where``, and a note of how many were kept.

    Parameters
    ----------
    presentations : sequence of Presentation
    tables : mapping of str to TableInfo
        The file's tables by path.
    default : str
        The table of presentations that name none (read from one table).
    where : sequence of str
        ``reader.where``.
    name : str
        How messages name the file.

    Raises
    ------
    ConfigError
        The presentations come from no table, or a column named is not in their table.
    InvalidDataError
        No presentation is kept.
    """
    wanted = parse_where(where)
    if not wanted or not presentations:
        return tuple(presentations), ""
    columns: dict[str, dict[str, list[str] | None]] = {}
    kept = []
    for p in presentations:
        info = _table_of(p, tables, default)
        if info is None:
            raise ConfigError(f"{name}: reader.where chooses rows of a table, and these presentations come "
                              f"from none ({p.series.path})")
        own = columns.setdefault(info.path, {})
        ok = True
        for column, allowed in wanted.items():
            if column not in own:
                if column not in info.columns:
                    raise ConfigError(f"{name}: reader.where names column {column!r}, which {info.path} does "
                                      f"not have (its columns: {', '.join(info.columns)})")
                own[column] = _values(info.table, column)
                if own[column] is None:
                    raise ConfigError(f"{name}: reader.where names {info.path} column {column!r}, which "
                                      "holds no plain values (references or lists)")
            ok = ok and _key(own[column][p.row]) in allowed  # type: ignore[index]
        if ok:
            kept.append(p)
    said = ", ".join(f"{c} = {' or '.join(sorted(v))}" for c, v in wanted.items())
    if not kept:
        seen = {c: sorted({v for own in columns.values() for v in (own.get(c) or [])})[:_SHOWN]
                for c in wanted}
        raise InvalidDataError(f"{name}: no presentation has {said} (reader.where); the values there: "
                               + "; ".join(f"{c}: {', '.join(map(repr, v))}" for c, v in seen.items()))
    return tuple(kept), f"reader.where ({said}) keeps {len(kept)} of {len(presentations)} presentations"


def condition_note(presentations: Sequence[Presentation], tables: Mapping[str, TableInfo],
                   default: str) -> str:
    """A note when the presentations of a sound differ in a condition column of their
    table ('' when none do): they are read as repeats of one sound."""
    by_table: dict[str, list[Presentation]] = {}
    for p in presentations:
        info = _table_of(p, tables, default)
        if info is not None:
            by_table.setdefault(info.path, []).append(p)
    for path, pres in by_table.items():
        info = tables[path]
        found = []  # (column, its values, sounds whose presentations differ in it)
        for column in info.columns:
            if name_key(column) not in _CONDITION_KEYS and not name_words(column) & _MANIPULATIONS:
                continue
            values = _values(info.table, column)
            if values is None or len(set(values)) > _MAX_CONDITIONS:
                continue
            seen: dict[str, set[str]] = {}
            for p in pres:
                seen.setdefault(p.sound, set()).add(values[p.row])
            differ = [s for s, v in seen.items() if len(v) > 1]
            if differ:
                found.append((column, sorted({values[p.row] for p in pres}), differ))
        if found:
            column, values, differ = found[0]
            said = "; ".join(f"column {c!r}: " + ", ".join(repr(v) for v in vs[:_SHOWN])
                             + (", ..." if len(vs) > _SHOWN else "") for c, vs, _ in found)
            return (f"presentations of {len(differ)} sound(s) {CONDITIONS_DIFFER} ({path} {said}) and are "
                    f"read as repeats of each sound; keep one condition with --reader.where "
                    f"{column}={values[0]}")
    return ""


def valid_only(presentations: Sequence[Presentation], nwbfile: Any, name: str, tail: float = 0.0
               ) -> tuple[tuple[Presentation, ...], str]:
    """The presentations that overlap none of ``nwbfile``'s ``invalid_times``, and a note of
    those left out ('' when none are). A presentation spans its ``tail`` seconds of
    response after it too (``reader.response_tail_s``).

    Raises
    ------
    InvalidDataError
        Every presentation overlaps an invalid interval, or the intervals hold NaN.
    """
    table = getattr(nwbfile, "invalid_times", None)
    if table is None or not len(table) or not presentations:
        return tuple(presentations), ""
    lo = np.asarray(table["start_time"].data[:], dtype=np.float64)
    hi = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InvalidDataError(f"{name}: intervals/invalid_times holds NaN or infinite times")
    kept = tuple(p for p in presentations if not np.any((lo < p.stop + tail) & (hi > p.start)))
    if not kept:
        raise InvalidDataError(f"{name}: every presentation overlaps intervals/invalid_times "
                               f"({len(lo)} intervals marked invalid for analysis)")
    gone = len(presentations) - len(kept)
    return kept, (f"{gone} of {len(presentations)} presentations {_INVALID} and are left out" if gone else "")



def _early(played: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows that played (stop minus onset, s) more than nothing and less than
    :data:`_SHORT_SHARE` of their sound's length (s), and how many rows have a stop."""
    played, lengths = np.asarray(played, dtype=float), np.asarray(lengths, dtype=float)
    timed = np.isfinite(played) & (played > 0)
    return timed & (played < _SHORT_SHARE * lengths), int(timed.sum())


def stopped_early(played: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Which rows of a table stopped before the end of their sound (:func:`_early`), where
    such rows are at most half of those with a stop. Where most rows stop early, the
    table's stop is another time of the trial (a response window), not the end of the
    sound, and no row is taken as cut short."""
    early, timed = _early(played, lengths)
    return early if 2 * early.sum() <= timed else np.zeros_like(early)


def ends_early(played: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Which rows stop before the end of their sound (:func:`_early`), however many do."""
    return _early(played, lengths)[0]


def stops_inside_sounds(played: np.ndarray, lengths: np.ndarray) -> int:
    """How many rows stop before the end of their sound where most rows do (0 otherwise):
    :func:`stopped_early` then takes the stop for another time of the trial and reads each
    sound whole, which the reader says."""
    early, timed = _early(played, lengths)
    return int(early.sum()) if 2 * early.sum() > timed else 0


def complete_only(presentations: Sequence[Presentation]) -> tuple[tuple[Presentation, ...], str]:
    """The presentations of every sound at its usual length, and a note of those left out.

    A sound's usual length is the lower median of its presentations' lengths (of two, the
    shorter: no presentation is read past its end then): presentations shorter than
    :data:`_SHORT_SHARE` of it were cut short and are left out; longer ones are read over
    that length, so that a few milliseconds of jitter in the rows' stop times do not
    matter.
    """
    by_sound: dict[str, list[int]] = {}
    for p in presentations:
        by_sound.setdefault(p.sound, []).append(p.n_samples)
    usual = {s: sorted(n)[(len(n) - 1) // 2] for s, n in by_sound.items()}
    whole = _whole_in_shortest(presentations, by_sound, usual)
    usual.update({s: min(by_sound[s]) for s in whole})
    kept, short, trimmed = [], [], []
    for p in presentations:
        n = usual[p.sound]
        if p.n_samples < _SHORT_SHARE * n:
            short.append(p)
        elif p.n_samples > n:  # read over the usual length; a shorter one is not stretched into the next
            kept.append(dataclasses.replace(p, n_samples=n))
            trimmed += [p] if _SHORT_SHARE * p.n_samples > n else []
        else:
            kept.append(p)
    notes = []
    if whole:
        notes.append(f"{len(whole)} sound(s) whose presentations differ in length but all hold the whole "
                     f"sound (silence after it) {_WHOLE}, e.g. {listing(map(repr, whole), 3)}")
    if short:
        p = short[0]
        notes.append(f"{len(short)} presentation(s) {_SHORT} and are left out (cut short: an aborted "
                     f"trial?), e.g. {p.sound!r} at {p.start:g} s{_lengths(p.n_samples, usual[p.sound], p)}")
    if trimmed:
        p = trimmed[0]
        notes.append(f"{len(trimmed)} presentation(s) {_TRIMMED} (half or more of them stopped early), "
                     f"e.g. {p.sound!r} at {p.start:g} s{_lengths(usual[p.sound], p.n_samples, p)}")
    return (tuple(kept), "; ".join(notes)) if notes else (tuple(presentations), "")


def _whole_in_shortest(presentations: Sequence[Presentation], by_sound: dict[str, list[int]],
                       usual: dict[str, int]) -> list[str]:
    """Sounds some presentations of which are shorter than :data:`_SHORT_SHARE` of the usual
    length though even the shortest holds all that is heard of the longest (segments of a
    recorded track cut at trials of varying length, the sound followed by silence): read
    over the shortest, none left out."""
    out = []
    for sound, lengths in by_sound.items():
        if min(lengths) >= _SHORT_SHARE * usual[sound]:
            continue
        longest = max((p for p in presentations if p.sound == sound), key=lambda p: p.n_samples)
        if 0 < _audible(longest) <= min(lengths):
            out.append(sound)
    return out


def _audible(p: Presentation) -> int:
    """Samples of ``p`` up to the end of the last 10 ms block louder than
    :data:`_SILENT_SHARE` of its loudest (-40 dB); 0 where it cannot be read or is silent."""
    rate = p.series.rate or 0.0
    block = max(1, int(0.01 * rate))
    try:
        x = np.asarray(p.series.series.data[p.first_sample: p.first_sample + p.n_samples], dtype=np.float64)
    except (TypeError, ValueError, AttributeError, OSError):
        return 0
    x = np.abs(x.reshape(x.shape[0], -1)).max(axis=1) if x.size else x
    n = len(x) // block
    if not rate or n == 0:
        return 0
    loud = x[: n * block].reshape(n, block).max(axis=1)
    above = np.flatnonzero(loud > _SILENT_SHARE * loud.max()) if loud.max() > 0 else []
    return int((above[-1] + 1) * block) if len(above) else 0


def _lengths(part: int, whole: int, p: Presentation) -> str:
    """`` (0.3 s of 1 s)``: ``part`` and ``whole`` samples of ``p``'s sound, in seconds."""
    rate = p.series.rate or 0.0
    return f" ({part / rate:g} s of {whole / rate:g} s)" if rate else ""


def read_end(p: Presentation) -> float:
    """When the part of a presentation that is read ends: its samples' end (a row's later
    stop adds nothing: spikes are counted over the sound), or its stop without a rate."""
    return p.start + p.n_samples / p.series.rate if p.series.rate else p.stop


def check_tail(presentations: Sequence[Presentation], tail: float, name: str,
               recording_end: float | None = None) -> None:
    """Refuse a response tail (``reader.response_tail_s``) that reaches into the next
    presentation (the spikes there would count for both) or past ``recording_end`` (the
    last spike, acquisition sample or observed time: spikes missing there would count as silence).

    Raises
    ------
    ConfigError
        Naming the first presentation whose tail does, and the longest tail that fits.
    """
    if tail <= 0 or not presentations:
        return
    order = sorted(presentations, key=lambda p: p.start)
    ends = [read_end(p) for p in order]
    gaps = [b.start - end for end, b in zip(ends[:-1], order[1:], strict=True)]
    worst = int(np.argmin(gaps)) if gaps else 0
    if gaps and gaps[worst] < tail - 1e-3:
        p, q = order[worst], order[worst + 1]
        raise ConfigError(f"{name}: reader.response_tail_s = {tail:g} reaches into the next presentation: "
                          f"{p.sound!r} ends at {ends[worst]:g} s and {q.sound!r} begins at {q.start:g} s; "
                          f"the longest tail that fits is {max(gaps[worst], 0.0):g} s")
    last = int(np.argmax(ends))
    if recording_end is not None and ends[last] + tail > recording_end + 1e-3:
        raise ConfigError(f"{name}: reader.response_tail_s = {tail:g} reaches past the recording's end "
                          f"({recording_end:g} s, the last spike, acquisition sample or observed time): "
                          f"{order[last].sound!r} ends at {ends[last]:g} s; the longest tail that fits is "
                          f"{max(recording_end - ends[last], 0.0):g} s")


_CONDITION_KEYS = frozenset(name_key(c) for c in (*CONDITION_COLUMNS, *TYPE_COLUMNS))
#: words of a column's name that say it sets a manipulation (``laser_power``, ``led_level``)
_MANIPULATIONS = frozenset({"laser", "opto", "optogenetic", "light", "led", "drug", "muscimol", "photostim",
                            "photostimulation", "optostim"})
