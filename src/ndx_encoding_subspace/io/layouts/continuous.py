"""A continuous track plus a table naming what played.

One sound series in ``stimulus/presentation`` aligned to the session (a session-long
track), or several recorded one after the other (blocks, e.g. one per recording epoch) of
which one at least holds two rows (each row is cut from the block that holds it; one row
per series is :mod:`.series`' layout), and a table with times (e.g. a trials table
alternating stimulus and baseline rows) whose column names what played in each row: a
known column (``sound``, ``stimulus``, ``wav_file``...), a text column of file names
(``/stimuli/clip03.wav``), another text column (epochs' ``tags``) whose rows of one name
hold the same sound (:func:`_names_repeats`), or a TimeSeriesReferenceVectorData column
into the track. The
track is cut at the rows' intervals (without a stop column, at the next row's onset).
Baseline rows (``none``, empty, NaN, ``baseline``, or a flag column) are skipped, and so
are rows referencing another series (said in a note). Rows naming the same sound (path,
extension and case ignored) are repeats; where no column names the sounds (unnamed rows,
or references into the track), segments holding the same samples are
(:func:`same_segments`). Segments that overlap in time (or start together) are refused.
Several tables naming what played (estimation and validation blocks apart) are read
together when no row of one overlaps another's.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ...errors import AmbiguousInputError, ConfigError, InvalidDataError
from ..baseline import baseline_mask
from ..inventory import Presentation, SoundSeries, TableInfo, is_ts_reference
from ..logs import other_events
from ..names import listing, name_key
from ..presentations import BETWEEN_BLOCKS, RowsRead, check_overlaps, format_rows, row_refs
from ..tracks import spans_text, track_rows
from .base import Candidate, Context, ambiguous_tables, disagreeing_logs, folders, overlapping, prefer_tables
from .near_copies import MAX_SHIFT_S, NEAR_COPIES, SAME_SOUND_R, near_copies
from .series import PREFIX_SAMPLES, span_digest

__all__ = ["KIND", "detect", "single_track", "blocks"]

KIND = "continuous"

#: what the layout's note says of segments read as repeats of earlier ones
SAME_SAMPLES = "hold the same samples as an earlier one"
#: what the note of one name written under several folders holds (warned of)
FOLDERS_IGNORED = "read as one sound (names are compared without their folders)"


def single_track(ctx: Context) -> SoundSeries | str:
    """The one session-long track, or why there is none ('' when there is no series at all).

    Several series that overlap in time are ambiguous; several that do not, or do where
    most follow one another (:mod:`.series` names the series that overlap), are one series
    per presentation, not a track.
    """
    if not ctx.tracks:
        return ""
    if len(ctx.tracks) > 1:
        if overlapping(ctx.tracks) == len(ctx.tracks) - 1:
            raise AmbiguousInputError(
                f"{ctx.name}: {len(ctx.tracks)} sound series that overlap in time: "
                f"{listing([s.path for s in ctx.tracks], 6)}; choose one track with reader.sounds (or, "
                "where each presentation is kept as one series per speaker or channel, list the series "
                f"of one of them){_unnamed_hint(ctx)}"
            )
        return f"{len(ctx.tracks)} sound series in {folders(ctx.tracks)}, one after the other: not one track"
    track = ctx.tracks[0]
    if not track.rate:
        raise InvalidDataError(
            f"{ctx.name}: sound {track.path} has no sample rate (no rate, and timestamps not evenly "
            "spaced: a gap or dropped samples?)"
        )
    return track


def _unnamed_hint(ctx: Context) -> str:
    """Where a table names sounds after none of the series: that the series may be those
    sounds under other names (neuroconv's ``AudioInterface`` keeps no file name)."""
    keys = {name_key(s.name) for s in ctx.tracks}
    for info in ctx.tables():
        for column in info.sound_columns:
            said = [ref.key for ref in row_refs(info.table, column) if ref.key]
            if said and not any(name_key(key) in keys for key in said):
                return (f"; {info.path} column {column!r} names sounds (e.g. {said[0]!r}) after none of the "
                        "series: if the series are those sounds (neuroconv's AudioInterface names them "
                        "AcousticWaveformSeries, AcousticWaveformSeries1, ... and keeps no file name), name "
                        "each series after its file, or write them as stimulus templates")
    return ""


def blocks(ctx: Context) -> tuple[SoundSeries, ...] | str:
    """The one track, or the blocks of a track recorded in pieces one after the other (in
    time order), or why there is none ('' when there is no series at all)."""
    track = single_track(ctx)
    if isinstance(track, SoundSeries) or len(ctx.tracks) < 2:
        return (track,) if isinstance(track, SoundSeries) else track
    norate = [s.path for s in ctx.tracks if not s.rate]
    if norate:
        return f"sound series {listing(norate, 6)} have no sample rate"
    return tuple(sorted(ctx.tracks, key=lambda s: (s.starting_time, s.path)))


def same_segments(pres: Sequence[Presentation]) -> tuple[list[Presentation], int]:
    """Segments that no name tells apart, with those holding the same samples as an earlier
    one relabelled as repeats of it, and how many were. Segments of equal length are
    compared by a hash of their first :data:`~.series.PREFIX_SAMPLES` samples, then of all;
    segments that begin with silence are left as they are."""
    labels = [p.sound for p in pres]
    by_length: dict[int, list[int]] = {}
    for k, p in enumerate(pres):
        by_length.setdefault(p.n_samples, []).append(k)
    for same in (ks for ks in by_length.values() if len(ks) > 1):
        prefix: dict[str, list[int]] = {}
        for k in same:
            p = pres[k]
            head = np.asarray(p.series.series.data[p.first_sample: p.first_sample + min(p.n_samples, 4096)])
            if head.size == 0 or np.ptp(head) == 0:
                continue  # silence (or a placeholder track) is no sound to hear again
            prefix.setdefault(span_digest(p.series, p.first_sample, min(p.n_samples, PREFIX_SAMPLES)),
                              []).append(k)
        for ks in (ks for ks in prefix.values() if len(ks) > 1):
            first_of: dict[str, str] = {}
            for k in ks:
                p = pres[k]
                labels[k] = first_of.setdefault(span_digest(p.series, p.first_sample, p.n_samples), labels[k])
    merged = sum(a != p.sound for a, p in zip(labels, pres, strict=True))
    return [dataclasses.replace(p, sound=a) for a, p in zip(labels, pres, strict=True)], merged


def _distinct(info: TableInfo, column: str, tracks: tuple[SoundSeries, ...]) -> int:
    """How many different things the column names in rows that are not baseline (-1: it
    references other series only)."""
    refs = row_refs(info.table, column)
    own = {t.series.object_id for t in tracks}
    if is_ts_reference(info.table[column]) and not any(r.object_id in own for r in refs):
        return -1
    baseline, _ = baseline_mask(info, refs)
    return len({(name_key(r.key), r.idx_start) for r, b in zip(refs, baseline, strict=True) if not b})


def _best_column(info: TableInfo, ctx: Context, tracks: tuple[SoundSeries, ...]) -> str | None:
    """The column of ``info`` that names what played (the one naming most different sounds,
    names before references into the track; '' for the table's rows as unnamed segments;
    None: the table does not name segments)."""
    wanted = ctx.params.sound_column
    if wanted:
        if wanted in info.columns:
            return wanted
        if ctx.params.presentations:
            raise ConfigError(
                f"reader.sound_column = {wanted!r}: {info.path} in {ctx.name} has no such column"
            )
        return None
    # a column naming two sounds or more comes first: references into the track tell every
    # segment apart, and would read a sound heard again (with noise) as a new one
    scored = [(_distinct(info, c, tracks), -i, c) for i, c in enumerate(info.sound_columns)]
    scored = [s for s in scored if s[0] >= 0]
    naming = [s for s in scored if s[0] >= 2 and not is_ts_reference(info.table[s[2]])]
    if naming:
        return max(naming)[2]
    text = next((c for c in info.text_columns if _names_repeats(info, c, tracks, ctx.name)), None)
    if text is not None:
        return text
    if scored:
        return max(scored)[2]
    return "" if ctx.params.presentations else None


#: groups of rows of one name (and pairs of names) compared, and seconds of each segment at most
_GROUPS_COMPARED, _SECONDS_COMPARED = 4, 30.0


def _names_repeats(info: TableInfo, column: str, tracks: tuple[SoundSeries, ...], name: str) -> bool:
    """Whether a text column of no known name (epochs' ``tags``, ``playlist_entry``) names
    what played: it names two sounds or more, one of them in several rows; the segments of
    one name hold the same sound (their samples correlate, channel by channel, over the
    whole segment: a recording's noise aside), and segments of different names do not."""
    try:
        read = track_rows(info, column, tracks, name)
    except (InvalidDataError, ConfigError):
        return False
    groups: dict[str, list[Presentation]] = {}
    for p in read.presentations:
        groups.setdefault(p.sound, []).append(p)
    repeated = [g for g in groups.values() if len(g) > 1]
    if len(groups) < 2 or not repeated:
        return False
    same = all(_correlation(g[0], other) >= SAME_SOUND_R
               for g in repeated[:_GROUPS_COMPARED] for other in g[1:3])
    firsts = [g[0] for g in groups.values()][: _GROUPS_COMPARED + 1]
    return same and all(_correlation(a, b) < SAME_SOUND_R for a, b in zip(firsts, firsts[1:], strict=False))


def _correlation(a: Presentation, b: Presentation) -> float:
    """The lowest correlation, over channels, of two segments' samples (over their common
    length, at most :data:`_SECONDS_COMPARED`); a channel constant in both (silent) is left
    out, one constant in one only correlates 0."""
    n = min(a.n_samples, b.n_samples, int(_SECONDS_COMPARED * (a.series.rate or 0)) or a.n_samples)
    x, y = (np.asarray(p.series.series.data[p.first_sample: p.first_sample + n], dtype=np.float64)
            for p in (a, b))
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    if x.shape[0] < 2 or x.shape != y.shape:
        return 0.0
    found = []
    for u, v in zip(x.T, y.T, strict=True):
        flat_u, flat_v = np.ptp(u) == 0, np.ptp(v) == 0
        if not (flat_u and flat_v):
            found.append(0.0 if flat_u or flat_v else float(np.corrcoef(u, v)[0, 1]))
    return min(found, default=0.0)


def _named(tracks: tuple[SoundSeries, ...]) -> str:
    if len(tracks) == 1:
        return f"one sound series {tracks[0].path}"
    return f"{len(tracks)} sound series in {folders(tracks)} recorded one after the other"


def _not_blocks(ctx: Context, tracks: tuple[SoundSeries, ...], pres: list[Presentation]) -> str:
    """Why blocks are no track here ('' when they are, or when the layout was chosen): a
    block must hold two rows or more, else each series is one presentation."""
    if len(tracks) < 2 or ctx.params.layout == KIND:
        return ""
    if max(Counter(p.series.path for p in pres).values(), default=0) < 2:
        return f"{_named(tracks)}, each holding one row at most: not blocks of one track"
    return ""


def detect(ctx: Context) -> Candidate | str:
    """One track, or its blocks, cut at the rows of the tables naming what played (see the
    module's text)."""
    tracks = blocks(ctx)
    if isinstance(tracks, str):
        return tracks
    found = []
    for info in ctx.tables():
        if other_events(info) and not ctx.params.presentations:
            continue
        if not info.onset:
            raise ConfigError(
                f"reader.presentations = {ctx.params.presentations!r}: {info.path} in {ctx.name} has "
                "no onset column (start_time, presentation_time, onset, timestamp)"
            )
        column = _best_column(info, ctx, tracks)
        if column is not None:
            found.append((info, column))
    if not found:
        return f"{_named(tracks)}, but no table names what played in {'it' if len(tracks) == 1 else 'them'}"
    found, logs = prefer_tables(found), disagreeing_logs(found, prefer_tables(found), by_name=True)
    several = len(found) > 1
    pres: list[Presentation] = []
    unnamed: list[Presentation] = []
    notes: list[str] = list(logs)
    for info, column in found:
        try:
            read = track_rows(info, column, tracks, ctx.name)
        except InvalidDataError:
            if len(tracks) > 1 and ctx.params.layout != KIND:
                return f"{_named(tracks)}: rows of {info.path} lie outside them"
            raise
        tagged = [dataclasses.replace(p, table=info.path) for p in read.presentations] if several \
            else list(read.presentations)
        named = bool(column) and not is_ts_reference(info.table[column])
        (pres if named else unnamed).extend(tagged)
        notes.extend(_notes(info, column, tracks, read))
    if why := _not_blocks(ctx, tracks, [*pres, *unnamed]):
        return why
    unnamed, merged = same_segments(unnamed)
    unnamed, near = near_copies(unnamed)
    pres = sorted([*pres, *unnamed], key=lambda p: (p.start, p.stop)) if several or len(tracks) > 1 \
        else [*pres, *unnamed]
    where = " and ".join(info.path for info, _ in found)
    try:
        check_overlaps(pres, ctx.name, where,
                       "choose other rows with reader.presentations and reader.sound_column")
    except InvalidDataError:
        if several and "," not in ctx.params.presentations:
            raise ambiguous_tables(ctx.name, f"segments of {_named(tracks)} (their rows overlap in time: "
                                   "the same presentations twice?)", found) from None
        raise
    if merged:
        of = tracks[0].path if len(tracks) == 1 else folders(tracks)
        notes.insert(0, f"{merged} segment(s) of {of} {SAME_SAMPLES}: read as repeats of it")
    if near:
        notes.insert(0, f"{near} segment(s) of {folders(tracks)} that no column names {NEAR_COPIES} (samples "
                     f"correlating at least {SAME_SOUND_R:g}, shifted by {MAX_SHIFT_S * 1e3:g} ms at most): "
                     "read as repeats of it (name the sounds in a column to read them otherwise)")
    columns = {column for _, column in found}
    used = tuple(t for t in tracks if any(p.series.path == t.path for p in pres))
    return Candidate(KIND, _reason(tracks, found), used or tracks, where,
                     columns.pop() if len(columns) == 1 else "", tuple(pres), (), tuple(notes),
                     onset=", ".join(dict.fromkeys(info.onset for info, _ in found)),
                     tables=tuple(info.path for info, _ in found) if several else ())


def _reason(tracks: tuple[SoundSeries, ...], found: list[tuple[TableInfo, str]]) -> str:
    said = [f"{info.path}, whose " + (f"column {column!r}" if column else
                                       "rows (each row a different segment: no column names them)")
            + " names what played" for info, column in found]
    cut = "" if len(tracks) == 1 else f" ({spans_text(tracks[:4])}{', ...' if len(tracks) > 4 else ''}; " \
        "each row cut from the series that holds it)"
    if len(found) == 1:
        return f"{_named(tracks)}{cut} cut at the intervals of {said[0]}"
    return (f"{_named(tracks)}{cut} cut at the intervals of {len(found)} tables read together "
            f"(no row of one overlaps another's): {'; '.join(said)}")


def _notes(info: TableInfo, column: str, tracks: tuple[SoundSeries, ...], read: RowsRead) -> list[str]:
    """What to say about one table's rows: onsets, baseline and skipped rows, stops."""
    notes = [n for n in (info.onset_note(), info.unread_onset_note()) if n]
    if read.n_baseline:
        said = f", flagged by column {read.flag!r}" if read.flag else ""
        notes.append(f"{read.n_baseline} rows of {info.path} play no sound (baseline{said}) and are skipped")
    if read.n_silenced:
        notes.append(read.silenced_note(info.path))
    if read.folders:
        notes.append(f"rows of {info.path} name {', '.join(map(repr, read.folders))}: {FOLDERS_IGNORED}; "
                     "if they are different sounds, name them apart in the table")
    if read.controls:
        notes.append(read.controls)
    if read.moved:
        notes.append(read.moved_note(info.path, column))
    if read.between:
        notes.append(f"{len(read.between)} rows of {info.path} (rows {format_rows(read.between)}) "
                     f"{BETWEEN_BLOCKS} ({spans_text(tracks[:4])}{', ...' if len(tracks) > 4 else ''}): "
                     "left out")
    if read.skipped:
        notes.append(
            f"{len(read.skipped)} rows of {info.path} (rows {format_rows(read.skipped)}) reference another "
            f"series than {listing([t.path for t in tracks], 4)} and are skipped"
        )
    if not info.stop and not info.duration:
        notes.append(f"{info.path} has no stop column: each segment ends at the next row's onset")
    return notes
