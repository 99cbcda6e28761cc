"""Templates plus a presentation table.

Sound waveforms (``TimeSeries`` or ndx-sound ``AcousticWaveformSeries``) in
``stimulus/templates``, and a table anywhere in the file -- a TimeIntervals table
(``intervals/...``, ``trials``), or a DynamicTable in ``stimulus/presentation``,
acquisition or a processing module with an onset column (``start_time``,
``presentation_time``, ``onset``, ``timestamp``), or an AnnotationSeries or IntervalSeries
read as a table (:mod:`..logs`) -- whose column names the sound of each
row: by name (``sound``, ``stimulus``, ``stim_name``, ``wav_file``... or any text column
whose names match the templates, path, extension and case ignored) or by
TimeSeriesReferenceVectorData. A presentation lasts its template, or until its row's
stop when that is later; a row that stops before its template ends, where most rows do
not, played only until then (:func:`~..conditions.stopped_early`: a trial stopped
early). Rows naming the same template are repeats; names matching no template are
counted (the first :data:`~..names.UNMATCHED_SHOWN` listed). A text column tried for
its names stops at its first name matching no template. Presentations that overlap in
time are refused. Several tables naming sounds (estimation sounds in one table, repeated
validation sounds in another) are read together when none of their presentations
overlaps another's; tables repeating the same presentations are ambiguous.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...errors import ConfigError, InvalidDataError
from ..cells import is_ts_reference
from ..inventory import Presentation, TableInfo
from ..names import listing
from ..parameters import level_note
from ..presentations import RowsRead, check_overlaps, format_rows, row_refs, template_rows
from .base import Candidate, Context, ambiguous_tables, disagreeing_logs, folders, from_tracks, prefer_tables

__all__ = ["KIND", "MOVED_TO_SERIES", "REFERENCES_DISAGREE", "SAME_TIME_S", "SHORTENED", "STOPPED",
           "STOPS_INSIDE", "NO_ONSET", "UNNAMED", "detect"]

KIND = "templates"


def _columns(info: TableInfo, ctx: Context) -> list[tuple[str, bool]]:
    """Columns to try, each with whether any match is enough (named columns) or every
    name must match (other text columns)."""
    wanted = ctx.params.sound_column
    if wanted:
        if wanted not in info.columns and ctx.params.presentations:
            raise ConfigError(
                f"reader.sound_column = {wanted!r}: {info.path} in {ctx.name} has no such column"
            )
        return [(wanted, True)] if wanted in info.columns else []
    return [(c, True) for c in info.sound_columns] + [(c, False) for c in info.text_columns]


def _where(ctx: Context) -> str:
    """Where the templates lie: in the file, in ``reader.sound_folder`` or both."""
    from ..sound_files import KIND as FILE

    files = [s.neurodata_type == FILE for s in ctx.templates]
    if all(from_tracks(s) for s in ctx.templates):
        if len({round(s.starting_time, 3) for s in ctx.templates}) == 1:
            return f"{folders(ctx.templates)} (series that all begin at the same time, read as templates)"
        return (f"{folders(ctx.templates)} (series that a table names, read as templates: the table "
                "gives every presentation)")
    if all(files):
        return "reader.sound_folder"
    return "stimulus_template and reader.sound_folder" if any(files) else "stimulus_template"


def detect(ctx: Context) -> Candidate | str:
    """Templates named by one table's column (see the module's text)."""
    if not ctx.templates:
        return ""
    found, missed = [], []
    for info in ctx.tables():
        if not info.onset:
            raise ConfigError(
                f"reader.presentations = {ctx.params.presentations!r}: {info.path} in {ctx.name} has "
                "no onset column (start_time, presentation_time, onset, timestamp)"
            )
        for column, loose in _columns(info, ctx):
            read = template_rows(info, column, ctx.templates, ctx.name, strict=not loose)
            if read.presentations and (loose or not read.n_unmatched):
                found.append((info, column, read))
                break
            if not loose and read.unmatched and read.named_before >= 2:
                missed.append(f"{info.path} column {column!r} names sounds in its first {read.named_before} "
                              f"rows, then {read.unmatched[0]!r}, no sound's name (read it with "
                              f"reader.sound_column = {column!r}: its rows naming no sound are then left "
                              "out, said)")
            if loose and read.unmatched:
                shown = ", ".join(map(repr, read.unmatched[:4])) + (", ..." if read.n_unmatched > 4 else "")
                numbers = all(u.lstrip("-").isdigit() for u in read.unmatched)
                missed.append(f"{info.path} column {column!r} names {shown}, no sound's name" + (
                    " (numbers: indexes into the templates are not read, since NWB keeps no order of them; "
                    "name the sounds)" if numbers else ""))
    if not found:
        return (
            f"sound waveforms in {_where(ctx)} ({listing([s.path for s in ctx.templates], 4)}) but no "
            f"presentation table naming them (set reader.presentations and reader.sound_column); "
            f"{''.join(m + '; ' for m in missed)}tables with times: {ctx.describe_tables()}"
        )
    found, logs = prefer_tables(found), disagreeing_logs(found, prefer_tables(found))
    if len(found) > 1:
        return _together(ctx, found, logs)
    info, column, read = found[0]
    pres, led = _to_own_times(ctx, read.presentations, info.path)
    led += _other_references(ctx, info, column, read)
    check_overlaps(pres, ctx.name, info.path, _OVERLAP_HINT)
    named = {p.series.path for p in pres}
    reason = (
        f"{info.path} column {column!r} names {len(named)} of the {len(ctx.templates)} sounds in "
        f"{_where(ctx)}"
    )
    used = tuple(s for s in ctx.templates if s.path in named)
    return Candidate(
        KIND,
        reason,
        used,
        info.path,
        column,
        tuple(pres),
        tuple(read.unmatched),
        (*_notes(info, column, read), *led, *_own_times(ctx, pres, info.path), *logs),
        n_unmatched=read.n_unmatched,
        onset=info.onset,
    )


_OVERLAP_HINT = (
    "choose other rows with reader.presentations and reader.sound_column (a presentation lasts "
    "until the end of its sound, or until its row's stop for a sound presented once that stops "
    "early: its spikes are counted over all of it)"
)


def _to_own_times(ctx: Context, pres: Sequence[Presentation],
                  where: str) -> tuple[list[Presentation], list[str]]:
    """Presentations moved to their series' own times where every series of
    ``stimulus/presentation`` (two or more, each with its own starting time) begins the
    same lead after the nearest row presenting it: the rows' onsets are then not the
    sounds' (a trial's start), and the series say when each sound played. With the note
    that says so (warned of); else the presentations as they are."""
    series = [s for s in ctx.templates if from_tracks(s)]
    onsets: dict[str, list[float]] = {}
    for p in pres:
        onsets.setdefault(p.series.path, []).append(p.start)
    named = [s for s in series if s.path in onsets]
    if ctx.params.onset_column or len(named) < 2 or len(named) != len({p.series.path for p in pres}) \
            or len({round(s.starting_time, 3) for s in named}) < 2:
        return list(pres), []
    # each series against the last row presenting it at or before its start
    before = [[t for t in onsets[s.path] if t <= s.starting_time + SAME_TIME_S] for s in named]
    if not all(before):
        return list(pres), []
    leads = [s.starting_time - max(b) for s, b in zip(named, before, strict=True)]
    lead = float(np.median(leads))
    if abs(lead) <= SAME_TIME_S or max(leads) - min(leads) > SAME_TIME_S:
        return list(pres), []
    note = (f"every series in {folders(named)} begins {lead:+.4g} s from the row of {where} that presents it "
            f"(e.g. {named[0].path} at {named[0].starting_time:g} s): the rows' onsets are not the sounds' "
            f"(a trial's start?), so {MOVED_TO_SERIES} (set reader.onset_column to read another column)")
    return [dataclasses.replace(p, start=p.start + lead, stop=p.stop + lead) for p in pres], [note]


def _other_references(ctx: Context, info: TableInfo, column: str, read: RowsRead) -> list[str]:
    """A note (warned of) where a TimeSeriesReference column of the table points rows to
    other templates than the column read names (the series referenced are compared, not
    the samples: pynwb may count a reference's samples from the session's start)."""
    said = {p.row: p.series.path for p in read.presentations}
    paths = {s.series.object_id: s.path for s in ctx.templates if getattr(s.series, "object_id", None)}
    for other in info.sound_columns:
        if other == column or not is_ts_reference(info.table[other]):
            continue
        named = [paths.get(r.object_id) for r in row_refs(info.table, other)]
        off = sorted(row for row, path in said.items()
                     if row < len(named) and named[row] is not None and named[row] != path)
        if off:
            return [f"{len(off)} rows of {info.path} (rows {format_rows(off)}) {REFERENCES_DISAGREE} "
                    f"{other!r} (e.g. row {off[0]}: {said[off[0]]} by {column!r}); column {column!r} is read "
                    "(set reader.sound_column to read the other)"]
    return []


def _own_times(ctx: Context, pres: Sequence[Presentation], where: str) -> list[str]:
    """For series of ``stimulus/presentation`` (or ``acquisition``) read as templates of a
    table, each with its own starting time: a note of those that begin where the table
    presents no sound of theirs (the table is read; a series' time is then no presentation
    of it), and of those the table does not name (left out)."""
    series = [s for s in ctx.templates if from_tracks(s)]
    if len({round(s.starting_time, 3) for s in series}) < 2:
        return []
    onsets: dict[str, list[float]] = {}
    for p in pres:
        onsets.setdefault(p.series.path, []).append(p.start)
    apart = [s for s in series if s.path in onsets
             and min(abs(t - s.starting_time) for t in onsets[s.path]) > SAME_TIME_S]
    unnamed = [s for s in series if s.path not in onsets]
    notes = []
    if apart:
        s = apart[0]
        notes.append(f"{len(apart)} of the {len(onsets)} series in {folders(series)} begin where {where} "
                     f"presents no sound of theirs (e.g. {s.path} at {s.starting_time:g} s): the table's "
                     "rows are read as the presentations")
    if unnamed:
        s = unnamed[0]
        notes.append(f"{len(unnamed)} series in {folders(series)} {UNNAMED}, though each plays at its own "
                     f"time (e.g. {s.path} at {s.starting_time:g} s); name them in {where}, or read every "
                     "series as one presentation with --reader.layout series")
    return notes


#: what the note of the series a table leaves out holds (the reader warns of it)
UNNAMED = "that the table does not name are left out"
#: what the note of sounds whose every row stops early holds (the reader warns of it)
STOPPED = "stops before the sound ends"
#: what the note of sounds presented once and read until their row's stop holds (warned of)
SHORTENED = "are read only until their row's stop"
#: what the note of rows naming a sound without an onset holds (warned of)
NO_ONSET = "have no onset (NaN)"
#: what the note of a table whose rows mostly stop before their sounds end holds (warned of)
STOPS_INSIDE = "stop before their sound ends"
#: what the note of those rows read until their stop holds (warned of)
PADDED = "read until its row's stop"

#: what the note of rows whose references name other templates holds (the reader warns of it)
REFERENCES_DISAGREE = "name other sounds than their references in column"
#: what the note of presentations moved to their series' own times holds (the reader warns of it)
MOVED_TO_SERIES = "every presentation is moved by that lead"
#: a series beginning within this of a row's onset begins at that presentation (seconds)
SAME_TIME_S = 0.005


def _notes(info: TableInfo, column: str, read: RowsRead) -> list[str]:
    """What to say about one table's rows: onsets, stops, baseline rows, unmatched names,
    presentations of one sound at different levels."""
    notes = [n for n in (info.onset_note(), info.unread_onset_note()) if n]
    pres = read.presentations
    levels = level_note(info.table, info.path, [p.row for p in pres], [p.sound for p in pres],
                        (info.onset, info.stop, info.duration))
    notes += [levels] if levels else []
    if not info.stop and not info.duration:
        notes.append(f"{info.path} has no stop column: each presentation lasts its sound")
    if read.n_baseline:
        notes.append(f"{read.n_baseline} rows of {info.path} play no sound (baseline)")
    notes += [read.silenced_note(info.path)] if read.n_silenced else []
    notes += [read.controls] if read.controls else []
    if read.shortened:
        notes.append(f"{len(read.shortened)} sound(s) presented once {SHORTENED} (e.g. "
                     f"{read.shortened[0]!r}): their rows stop before the sound ends")
    if read.stopped:
        said = listing(map(repr, read.stopped), 3)
        notes.append(f"every row of {info.path} presenting {said} {STOPPED}: read whole (the sound taken "
                     "to end early, silence after it)")
    if read.no_onset:
        notes.append(f"{len(read.no_onset)} rows of {info.path} (rows {format_rows(read.no_onset)}) name a "
                     f"sound but {NO_ONSET} in column {info.onset!r} (a trial aborted before its sound?): "
                     "left out")
    if read.stops_inside and read.padded:
        notes.append(f"{read.stops_inside} of the {len(pres)} rows of {info.path} {STOPS_INSIDE}, and read "
                     "whole their sounds would run into the next presentation: the sounds are stored with "
                     f"silence after them, and each is {PADDED}")
    elif read.stops_inside:
        notes.append(f"{read.stops_inside} of the {len(pres)} rows of {info.path} {STOPS_INSIDE} (most rows "
                     f"do: the stop column is read as another time of the trial, a response window, not when "
                     "the sound ended): each sound is read whole")
    if read.n_unmatched:
        notes.append(
            f"{read.n_unmatched} names in {info.path} column {column!r} match no sound; "
            "their rows are left out"
        )
    return notes


def _together(ctx: Context, found: list[tuple[TableInfo, str, RowsRead]], logs: list[str]) -> Candidate:
    """Several tables naming sounds, read as one list of presentations when they are
    several parts of the session (estimation sounds in one, repeated validation sounds in
    another): none of their presentations overlap. Tables whose presentations overlap
    describe the same presentations twice, and one must be chosen (unless the user named
    them all, when the overlap itself is the error)."""
    where = " and ".join(info.path for info, _, _ in found)
    pres, led = _to_own_times(ctx, [dataclasses.replace(p, table=info.path)
                                    for info, _, read in found for p in read.presentations], where)
    try:
        check_overlaps(pres, ctx.name, where, _OVERLAP_HINT)
    except InvalidDataError:
        if "," in ctx.params.presentations:
            raise
        raise ambiguous_tables(ctx.name, "the sounds (their presentations overlap in time: the same "
                               "presentations twice?)", [(f[0], f[1]) for f in found]) from None
    columns = {column for _, column, _ in found}
    named = {p.series.path for p in pres}
    said = listing([f"{info.path} column {column!r} ({len(read.presentations)} rows)"
                    for info, column, read in found], 4).replace(", ", "; ")
    reason = (f"{len(found)} tables name {len(named)} of the {len(ctx.templates)} sounds in {_where(ctx)}, "
              f"read together (no presentation of one overlaps another's): {said}")
    notes = [note for info, column, read in found for note in _notes(info, column, read)]
    notes += led + _own_times(ctx, pres, where) + logs
    unmatched = tuple(dict.fromkeys(name for _, _, read in found for name in read.unmatched))
    return Candidate(
        KIND,
        reason,
        tuple(s for s in ctx.templates if s.path in named),
        where if len(columns) == 1 else listing([f"{i.path} column {c!r}" for i, c, _ in found], len(found)),
        columns.pop() if len(columns) == 1 else "",
        tuple(sorted(pres, key=lambda p: (p.start, p.stop))),
        unmatched,
        tuple(notes),
        n_unmatched=max(sum(read.n_unmatched for _, _, read in found), len(unmatched)),
        onset=", ".join(dict.fromkeys(info.onset for info, _, _ in found)),
        tables=tuple(info.path for info, _, _ in found),
    )
