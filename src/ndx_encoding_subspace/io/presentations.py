"""Rows of a table to presentations: what each row names, its times, its baseline rows.

The layouts (:mod:`~ndx_encoding_subspace.io.layouts`) decide which table and column to
read; this module turns the rows into :class:`~ndx_encoding_subspace.io.inventory.Presentation`
objects:

* :func:`~.rows.row_refs` -- what each row names (:mod:`.rows`);
* :func:`~.baseline.baseline_rows` -- rows where no sound played: an empty, ``none``, NaN
  or ``baseline`` name, or a flag column (``is_stimulus``, ``*baseline*``, ``trial_type``...);
* :func:`row_times` -- onset and end of each row (the end may be missing: NaN);
* :func:`template_rows` -- the presentations of templates (of tracks: :mod:`.tracks`);
* :func:`check_overlaps` -- presentations that overlap in time are refused (the spikes
  of the overlap would count for both).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import AmbiguousInputError, InvalidDataError
from .baseline import SILENCED, baseline_rows, silenced_rows
from .conditions import ends_early, read_end, stopped_early, stops_inside_sounds
from .inventory import Presentation, SoundSeries, TableInfo
from .names import (
    NameIndex,
)
from .padding import runs_into_next, silent_after
from .rows import RowRef, row_refs
from .storage import check_whole

__all__ = [
    "RowRef",
    "RowsRead",
    "row_refs",
    "row_times",
    "template_rows",
    "check_overlaps",
    "format_rows",
    "segment_label",
    "OVERLAP_TOLERANCE_S",
]

#: Presentations may overlap by this much (s) before they are refused: rounding of times.
OVERLAP_TOLERANCE_S = 1e-3


@dataclasses.dataclass(frozen=True)
class RowsRead:
    """The presentations read from a table's rows, and what was left out.

    Attributes
    ----------
    presentations : list of Presentation
    n_baseline : int
        Rows where no sound played.
    flag : str
        The flag column that marked baseline rows ('' when only names did).
    unmatched : list of str
        The first :data:`~.names.UNMATCHED_SHOWN` names that matched no sound.
    n_unmatched : int
        How many different names matched no sound.
    skipped : list of int
        Rows left out for another reason (a reference into another series).
    stopped : list of str
        Sounds every row of which stops before the sound ends (read whole).
    shortened : list of str
        Sounds presented once whose row stops before the sound ends (read until the stop).
    silenced : list of str
        What the rows name that a flag or type column marks as playing no sound (the names
        of up to three of them; ``n_silenced`` rows in all).
    n_silenced : int
    folders : list of str
        Names written under two folders or more, read as one sound (a recorded track's
        rows: up to three, as written).
    controls : str
        The note of the rows read under the rules of control conditions added since the
        first release (:attr:`~.baseline.Baseline.controls`), '' when none.
    moved : list of int
        Rows whose onset is the time of the samples their TimeSeriesReference points to,
        not their start column (which differs from it by ``moved_by`` seconds at most).
    moved_by : float
    between : list of int
        Rows lying between the blocks of a track recorded in pieces (left out).
    stops_inside : int
        Rows stopping before their sound ends where most rows do (each sound read whole,
        unless ``padded``).
    padded : bool
        Those rows are read until their stop: read whole, their sounds would overlap the
        next presentation where the rows do not (sounds stored with silence after them).
    no_onset : list of int
        Rows naming a sound with no onset (NaN), fewer than half of them: left out.
    named_before : int
        A column read only if every name matches: the rows naming a sound before the first
        that does not (it is then not read).
    """

    presentations: list[Presentation]
    n_baseline: int = 0
    flag: str = ""
    unmatched: list[str] = dataclasses.field(default_factory=list)
    n_unmatched: int = 0
    skipped: list[int] = dataclasses.field(default_factory=list)
    stopped: list[str] = dataclasses.field(default_factory=list)
    shortened: list[str] = dataclasses.field(default_factory=list)
    silenced: list[str] = dataclasses.field(default_factory=list)
    n_silenced: int = 0
    folders: list[str] = dataclasses.field(default_factory=list)
    controls: str = ""
    moved: list[int] = dataclasses.field(default_factory=list)
    moved_by: float = 0.0
    between: list[int] = dataclasses.field(default_factory=list)
    stops_inside: int = 0
    padded: bool = False
    no_onset: list[int] = dataclasses.field(default_factory=list)
    named_before: int = 0

    def moved_note(self, path: str, column: str) -> str:
        """What to say of rows whose start column is not the time of the samples they reference."""
        if not self.moved:
            return ""
        return (f"{len(self.moved)} rows of {path} (rows {format_rows(self.moved)}) start up to "
                f"{self.moved_by:.3g} s away from the samples their references ({column!r}) point to: "
                f"{REFERENCED_ONSETS}")

    def silenced_note(self, path: str) -> str:
        """What to say of the rows naming a sound that :attr:`flag` marks as playing none."""
        if not self.n_silenced:
            return ""
        said = ", ".join(map(repr, self.silenced))
        return (f"{self.n_silenced} rows of {path} name a sound ({said}) but column {self.flag!r} "
                f"{SILENCED}: they are left out")


#: what the note of rows lying between the blocks of a track says (warned of)
BETWEEN_BLOCKS = "lie between the recorded blocks of the sound"
#: what the note of rows whose start column disagrees with their references says (warned of)
REFERENCED_ONSETS = "onsets are taken from the references"


def _seconds(info: TableInfo, start: np.ndarray, duration: np.ndarray, name: str,
             every: np.ndarray) -> np.ndarray:
    """``every`` duration, refused when those of the rows read (``start``, ``duration``)
    look like milliseconds: most longer than the onsets' spacing, and a thousandth of them
    shorter."""
    finite = duration[np.isfinite(duration)]
    onsets = np.sort(start[np.isfinite(start)])
    gaps = np.diff(onsets)
    gaps = gaps[gaps > 0]
    if finite.size and gaps.size:
        typical, spacing = float(np.median(finite)), float(np.median(gaps))
        if typical > 2 * spacing and typical / 1000 <= spacing:
            raise InvalidDataError(
                f"{name}: {info.path} column {info.duration!r} holds durations of about {typical:g}, "
                f"longer than the {spacing:g} s between onsets: milliseconds? (NWB times are seconds; "
                "give the presentations' stops in seconds)")
    return every


def row_times(info: TableInfo, rows: np.ndarray, name: str,
              open_ended: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Onset and end of every row (end NaN without a stop column); the ``rows`` used are
    checked finite with the end not before the onset. With ``open_ended`` a NaN stop is a
    row without an end (a template's presentation then lasts its sound), not a defect."""
    for column in (info.onset, info.stop, info.duration):
        if column:
            data = info.table[column].data
            check_whole(data, f"{name}: {info.path} column {column!r}")
            if getattr(getattr(data, "dtype", None), "kind", "f") not in "fiu":
                raise InvalidDataError(f"{name}: {info.path} column {column!r} holds no times (s)")
    start = np.asarray(info.table[info.onset].data[:], dtype=np.float64)
    if info.stop:
        stop = np.asarray(info.table[info.stop].data[:], dtype=np.float64)
    elif info.duration:  # NaN durations: rows without an end, as without a stop column
        duration = np.asarray(info.table[info.duration].data[:], dtype=np.float64)
        stop = start + _seconds(info, start[rows], duration[rows], name, duration)
    else:
        stop = np.full(start.shape, np.nan)
    used = np.zeros(start.shape, dtype=bool)
    used[rows] = True
    if info.onset_note() and "start_time" in info.columns:  # a sound onset beside the row's start
        _check_inside(info, start, used, name)
    bad = np.flatnonzero(used & (~np.isfinite(start) | (np.isfinite(stop) & (stop < start))))
    if info.stop:
        bad = np.union1d(bad, np.flatnonzero(used & (np.isinf(stop) if open_ended else ~np.isfinite(stop))))
    if bad.size:
        raise InvalidDataError(f"{name}: {info.path} rows {format_rows(bad.tolist())} " + _bad_times(
            info, start[bad], stop[bad], open_ended))
    return start, stop


def _bad_times(info: TableInfo, start: np.ndarray, stop: np.ndarray, open_ended: bool) -> str:
    """What is wrong with the times of rows refused by :func:`row_times`."""
    faults = []
    if not np.all(np.isfinite(start)):
        faults.append(f"have no onset (NaN/inf in column {info.onset!r})")
    if np.any(np.isnan(stop)) and info.stop and not open_ended:
        every = ", in every row read" if np.all(np.isnan(stop)) and len(stop) > 1 else ""
        faults.append(f"have no stop (NaN in column {info.stop!r}{every}): a presentation cut from a "
                      "recorded track ends at its row's stop, so each row needs one")
    if np.any(np.isinf(stop)):
        faults.append(f"stop at infinity (column {info.stop or info.duration!r})")
    if np.any(np.isfinite(stop) & np.isfinite(start) & (stop < start)):
        faults.append(f"stop before their onset (columns {info.onset!r}, {info.stop or info.duration!r})")
    return "; ".join(faults) or "have unusable times"


def _check_inside(info: TableInfo, start: np.ndarray, used: np.ndarray, name: str) -> None:
    """Refuse sound onsets (a column beside the rows' ``start_time``) before their row's
    start or after its ``stop_time``: onsets relative to the row, or in another unit."""
    begin = np.asarray(info.table["start_time"].data[:], dtype=np.float64)
    end = (np.asarray(info.table["stop_time"].data[:], dtype=np.float64)
           if "stop_time" in info.columns else np.full(begin.shape, np.inf))
    for outside, where in ((used & (start < begin - 1e-6), "before the row's start_time"),
                           (used & (start > end + 1e-6), "after the row's stop_time")):
        if outside.any():
            raise InvalidDataError(
                f"{name}: {info.path} rows {format_rows(np.flatnonzero(outside).tolist())} have sound "
                f"onsets (column {info.onset!r}) {where}: onsets relative to the row, or in ms? "
                "(choose the onset column with reader.onset_column)")


def format_rows(rows: Sequence[int], shown: int = 10) -> str:
    """``[1, 2, 3]`` or ``[1, 2, ...] (25 rows)`` for messages."""
    text = str([int(r) for r in rows[:shown]])
    return text if len(rows) <= shown else f"{text[:-1]}, ...] ({len(rows)} rows)"


def segment_label(series: SoundSeries, first: int, count: int) -> str:
    """A segment's name: the series' name, with ``@first+count`` unless it is the whole series."""
    return series.name if (first, count) == (0, series.n_samples) else f"{series.name}@{first}+{count}"


def _naming(ref: RowRef, index: NameIndex[SoundSeries]) -> str:
    """The value of a row that names a sound: its key, or the one of its other values (tags)
    that names a sound when the key does not; the key when none or several do."""
    if not ref.others or index.peek(ref.key) is not None:
        return ref.key
    naming = {index.peek(v).path: v for v in ref.others if index.peek(v) is not None}  # type: ignore[union-attr]
    return next(iter(naming.values())) if len(naming) == 1 else ref.key


def template_rows(
    info: TableInfo, column: str, sounds: tuple[SoundSeries, ...], name: str, strict: bool = False
) -> RowsRead:
    """Presentations of templates named by ``column`` (names matched by :func:`~.names.name_key`).

    A presentation plays its template (from a TimeSeriesReference's first sample and
    count, when the row holds one); samples beyond the template's end are refused. It
    lasts until the row's stop or the end of its sound, whichever is later: its spikes
    are counted over the whole sound, so that is the span checked for overlaps; a row that
    stopped early (:func:`~.conditions.stopped_early`) lasts until its stop only.

    With ``strict`` every name must match a template: the first that does not ends the
    reading (no presentations), so that a column of other names (trial ids) costs little.
    """
    refs = row_refs(info.table, column)
    index: NameIndex[SoundSeries] = NameIndex(
        [*((s.path, s) for s in sounds), *((s.name, s) for s in sounds)]
    )
    by_id = {s.series.object_id: s for s in sounds}
    def stored(ref: RowRef) -> bool:
        return (by_id.get(ref.object_id) if ref.object_id else index.peek(_naming(ref, index))) is not None

    found = baseline_rows(info, refs, stored)
    baseline, flag = found.mask, found.flag
    matched: list[tuple[int, SoundSeries, RowRef]] = []
    for row, ref in enumerate(refs):
        if baseline[row]:
            continue
        series = by_id.get(ref.object_id) if ref.object_id else index.get(_naming(ref, index))
        if series is not None:
            matched.append((row, series, ref))
        elif index.ambiguous:
            said, names = next(iter(index.ambiguous.items()))
            raise AmbiguousInputError(
                f"{name}: {info.path} column {column!r} names {said!r}, which matches several "
                f"sounds when folder, extension and case are ignored: {', '.join(names)}; "
                "name each sound exactly, or keep one of them (reader.sounds)")
        elif strict:
            return RowsRead([], int(baseline.sum()), flag, index.unmatched, index.n_unmatched,
                            named_before=len(matched))
    matched, unset = _with_onsets(info, matched)
    start, stop = row_times(info, np.array([m[0] for m in matched], dtype=int), name, open_ended=True)
    spans, beyond = [], []
    for row, series, ref in matched:
        first = ref.idx_start or 0
        count = ref.count if ref.count is not None else series.n_samples
        if first + count > series.n_samples:
            beyond.append((row, series))
        end = stop[row]
        if not np.isfinite(end) and not series.rate:
            raise InvalidDataError(f"{name}: {info.path} row {row} has no stop and {series.path} no sample "
                                   "rate: the presentation has no end")
        if series.rate:  # its spikes are counted over the whole sound, whatever the row's stop
            sound_end = start[row] + count / series.rate
            end = max(end, sound_end) if np.isfinite(end) else sound_end
        spans.append((row, series, first, count, float(end), segment_label(series, first, count)))
    if beyond:
        row, series = beyond[0]
        raise InvalidDataError(
            f"{name}: {info.path} rows {format_rows([b[0] for b in beyond])} present samples beyond the "
            f"end of their sound (row {row}: {series.path}, {series.n_samples} samples)"
            + (" -- pynwb's add_trial(..., timeseries=[series]) counts such references from the "
               "session's start, which does not suit a sound template: name the sound in a text "
               "column instead (e.g. add_trial(..., sound='name')) or give --reader.sound_column"
               if series.path.startswith("stimulus/templates") or "template" in series.path else "")
        )
    out = [Presentation(label, float(start[row]), end, row, series, first, count)
           for row, series, first, count, end, label in spans]
    kept, stopped, shortened, inside, padded = _cut_short(out, start, stop)
    silenced, n_silenced = silenced_rows(refs, baseline, stored) if flag else ([], 0)
    return RowsRead(kept, int(baseline.sum()), flag, list(index.unmatched), index.n_unmatched,
                    stopped=stopped, shortened=shortened, silenced=silenced, n_silenced=n_silenced,
                    controls=found.controls, stops_inside=inside, padded=padded, no_onset=unset)


def _with_onsets(info: TableInfo, matched: list[tuple]) -> tuple[list[tuple], list[int]]:
    """The rows of ``matched`` with an onset, and those naming a sound without one (NaN in
    the onset column: a trial aborted before its sound), left out where they are fewer than
    half of the rows (else all are kept, and refused by :func:`row_times`)."""
    if not matched:
        return matched, []
    try:
        onsets = np.asarray(info.table[info.onset].data[:], dtype=np.float64)
    except (TypeError, ValueError):  # no times at all: refused by row_times, naming the column
        return matched, []
    unset = [m[0] for m in matched if np.isnan(onsets[m[0]])]
    if not unset or 2 * len(unset) >= len(matched):
        return matched, []
    return [m for m in matched if not np.isnan(onsets[m[0]])], unset


def _cut_short(out: list[Presentation], start: np.ndarray,
               stop: np.ndarray) -> tuple[list[Presentation], list[str], list[str], int, bool]:
    """Presentations whose row stopped before the end of their template
    (:func:`~.conditions.stopped_early`) while other presentations of the sound did not
    play until that stop only, under the template's name, so that
    :func:`~.conditions.complete_only` leaves them out as cut short (or reads the others
    as long, said so); a sound presented once plays until its row's stop. Where every
    presentation of a sound presented several times stops early, that is the sound's own
    length (silence after it), not an abort: it is read whole. Returns the presentations,
    the sounds read whole so, the sounds presented once read until their stop, the rows
    stopping inside their sound where most do (:func:`~.conditions.stops_inside_sounds`),
    and whether those were read until their stop (where the sounds would run into the next
    presentation, :func:`~.padding.runs_into_next`, and are silent after the stops,
    :func:`~.padding.silent_after`)."""
    rated = [p for p in out if p.series.rate]
    played = np.array([stop[p.row] - start[p.row] for p in rated])
    lengths = np.array([p.n_samples / p.series.rate for p in rated])
    inside = stops_inside_sounds(played, lengths)
    early = stopped_early(played, lengths)
    padded = bool(inside) and runs_into_next(rated, stop)
    if padded:
        early = ends_early(played, lengths)
        cut = {p.row: max(1, int(round(played[k] * p.series.rate))) for k, p in enumerate(rated) if early[k]}
        padded = silent_after(rated, cut)
        early = early if padded else stopped_early(played, lengths)
    whole = {p.sound for k, p in enumerate(rated) if not early[k]}  # a stop early for every one: the sound's
    times = Counter(p.sound for p in rated)
    cut = {p.row: max(1, int(round(played[k] * p.series.rate))) for k, p in enumerate(rated)
           if early[k] and (padded or p.sound in whole or times[p.sound] == 1)}
    stopped = list(dict.fromkeys(p.sound for k, p in enumerate(rated) if early[k] and p.row not in cut))
    once = [p.sound for p in rated if p.row in cut and times[p.sound] == 1 and not padded]
    return [dataclasses.replace(p, stop=float(stop[p.row]), n_samples=cut[p.row]) if p.row in cut else p
            for p in out], stopped, once, inside, padded


def check_overlaps(
    pres: Sequence[Presentation], name: str, where: str, hint: str, by_series: bool = False
) -> None:
    """Refuse presentations that begin before the read part of an earlier one ends (by more than
    :data:`OVERLAP_TOLERANCE_S`), or at the same time: the spikes of the overlap would be
    counted for each. ``where`` names the table (or the series); ``hint`` says how to
    choose other presentations. Messages name the rows (the series with ``by_series``)."""
    if len(pres) < 2:
        return
    start = np.array([p.start for p in pres])
    stop = np.array([read_end(p) for p in pres])
    order = np.lexsort((stop, start))
    s, e = start[order], stop[order]
    reach = np.maximum.accumulate(e)
    hit = np.flatnonzero((s[1:] < reach[:-1] - OVERLAP_TOLERANCE_S) | (s[1:] <= s[:-1])) + 1
    if not hit.size:
        return

    def said(p: Presentation) -> str:
        what = p.series.path if by_series else f"{p.table + ' ' if p.table else ''}row {p.row}"
        return f"{what} ({p.start:g}-{read_end(p):g} s)"

    pairs = []
    for i in hit[:5]:
        j = i - 1 if s[i] <= s[i - 1] else int(np.argmax(e[:i]))
        pairs.append(f"{said(pres[order[i]])} overlaps {said(pres[order[j]])}")
    more = f"; ... ({hit.size} in all)" if hit.size > 5 else ""
    raise InvalidDataError(
        f"{name}: {where} has {hit.size} presentations that begin before an earlier one ends "
        f"(or at the same time): {'; '.join(pairs)}{more}. Each presentation must end before the "
        f"next begins, else its spikes count for both: fix the times, or {hint}"
    )
