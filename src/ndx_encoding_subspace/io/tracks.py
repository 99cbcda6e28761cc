"""Continuous speaker tracks cut into presentations: at the rows of a table naming what
played (:func:`track_rows`), or into fixed segments (:func:`fixed_segments`).

A session's track is one series, or several recorded one after the other (blocks, each
with its own starting time, e.g. one per recording epoch): each row is then cut from the
block that holds its onset, and rows naming the same sound are repeats whichever block
holds them.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence

import numpy as np

from ..errors import InvalidDataError
from .baseline import baseline_rows, silenced_rows
from .inventory import Presentation, SoundSeries, TableInfo
from .names import display_name, name_key
from .presentations import OVERLAP_TOLERANCE_S, RowsRead, format_rows, row_times, segment_label
from .rows import RowRef, row_refs

__all__ = ["track_rows", "fixed_segments", "track_end", "spans_text"]


def track_end(track: SoundSeries) -> float:
    """The time (s) just after the last sample of ``track``."""
    assert track.rate is not None
    return track.starting_time + track.n_samples / float(track.rate)


def spans_text(tracks: Sequence[SoundSeries]) -> str:
    """``"stimulus/presentation/a (0 to 60 s)"``, for each track, for messages."""
    return ", ".join(f"{t.path} ({t.starting_time:g} to {track_end(t):g} s)" for t in tracks)


def _holding(tracks: Sequence[SoundSeries], onset: float) -> int:
    """The block whose samples include ``onset`` (within a sample), -1 for none."""
    for k, t in enumerate(tracks):
        if t.starting_time - 1.0 / float(t.rate or 1.0) <= onset < track_end(t):
            return k
    return -1


def _next_onsets(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Each row's end when the table has no stop column: the next finite onset, at most
    ``end`` (the end of the row's block; the last row's end); rows with a NaN/inf onset
    neither end a segment nor get an end (NaN)."""
    finite = np.flatnonzero(np.isfinite(start))
    order = finite[np.argsort(start[finite], kind="stable")]
    stop = np.full(start.shape, np.nan)
    stop[order[:-1]] = np.fmin(start[order[1:]], end[order[:-1]])
    stop[order[-1:]] = end[order[-1:]]
    return stop


def _blocks(refs: Sequence[RowRef], start: np.ndarray, tracks: Sequence[SoundSeries]) -> np.ndarray:
    """Each row's block: the track its reference points into, else the one holding its
    onset (-1: none); with one track, that track."""
    if len(tracks) == 1:
        return np.zeros(len(refs), dtype=np.int64)
    ids = {t.series.object_id: k for k, t in enumerate(tracks)}
    return np.array([ids[r.object_id] if r.object_id in ids
                     else (_holding(tracks, float(s)) if np.isfinite(s) else -1)
                     for r, s in zip(refs, start, strict=True)], dtype=np.int64)


#: the share of a table's rows that may lie between the blocks of a track recorded in
#: pieces (left out, said); more, and the rows are no presentations of those blocks
_GAP_ROWS = 0.1


def track_rows(info: TableInfo, column: str, tracks: SoundSeries | Sequence[SoundSeries],
               name: str) -> RowsRead:
    """Segments of continuous ``tracks`` (one, or blocks one after the other) cut at the
    rows of ``info`` naming what played.

    Rows naming the same sound (by :func:`~.names.name_key`) are repeats; the label is the
    name as first written, without folder and extension. Without a stop column a segment
    ends at the next row's onset (the last of a block at the block's end; rows with a NaN
    onset are not onsets). Rows whose TimeSeriesReference points into another series are
    left out (:attr:`RowsRead.skipped`); rows in use with NaN/inf times, and rows outside
    every track, are refused.
    """
    tracks = (tracks,) if isinstance(tracks, SoundSeries) else tuple(tracks)
    refs = (
        row_refs(info.table, column)
        if column
        else [RowRef(f"{info.path.rpartition('/')[2]}_{i:04d}") for i in range(info.rows)]
    )
    found = baseline_rows(info, refs, named=bool(column))
    baseline, flag = found.mask, found.flag
    own = {t.series.object_id for t in tracks}
    foreign = np.array([bool(r.object_id) and r.object_id not in own for r in refs], dtype=bool)
    rows = np.flatnonzero(~baseline & ~foreign)
    start, stop = row_times(info, rows, name)
    block = _blocks(refs, start, tracks)
    if not info.stop:  # each segment ends at its duration, else at the next row's onset
        ends = np.array([track_end(tracks[k]) if k >= 0 else np.nan for k in block])
        stop = np.where(np.isfinite(stop), stop, _next_onsets(start, ends))
    labels: dict[str, str] = {}
    out, outside, moved, moved_by = [], [], [], 0.0
    for row in rows:
        ref, sound = refs[row], tracks[block[row]]
        t0, rate, n_total = sound.starting_time, float(sound.rate or 0.0), sound.n_samples
        if ref.idx_start is not None:
            first, count = ref.idx_start, int(ref.count or 0)
            label = segment_label(sound, first, count)
            # the samples referenced are what played: their time is the onset
            at = t0 + first / rate if rate else float(start[row])
            if abs(at - start[row]) > max(OVERLAP_TOLERANCE_S, 1.0 / rate if rate else 0.0):
                moved.append(int(row))
                moved_by = max(moved_by, abs(at - float(start[row])))
                start[row] = at
                if not stop[row] > at:
                    stop[row] = at + count / rate
        else:
            first = int(round((start[row] - t0) * rate))
            count = int(round((stop[row] - start[row]) * rate))
            label = labels.setdefault(name_key(ref.key), display_name(ref.key))
        if block[row] < 0 or first < -1 or first + count > n_total + 1:
            outside.append(int(row))
            continue
        first = max(first, 0)
        count = min(count, n_total - first)
        out.append(Presentation(label, float(start[row]), float(stop[row]), int(row), sound, first, count))
    gaps: list[int] = []
    if outside and len(tracks) > 1 and len(outside) <= _GAP_ROWS * len(rows) and out:
        gaps, outside = outside, []  # a few rows between the blocks: left out, said
    if outside:
        what = f"the sound {spans_text(tracks)}" if len(tracks) == 1 else f"every sound: {spans_text(tracks)}"
        raise InvalidDataError(f"{name}: {info.path} rows {format_rows(outside)} lie outside {what}")
    silenced, n_silenced = silenced_rows(refs, baseline) if flag and column else ([], 0)
    return RowsRead(out, int(baseline.sum()), flag, skipped=np.flatnonzero(foreign).tolist(),
                    silenced=silenced, n_silenced=n_silenced, folders=_folders([refs[r].key for r in rows]),
                    controls=found.controls, moved=moved, moved_by=moved_by, between=gaps)


def _folders(names: Sequence[object]) -> list[str]:
    """Names written under two folders or more (``set1/clip.wav``, ``set2/clip.wav``): read
    as one sound, since names are compared without their folders (up to three, as written)."""
    seen: dict[str, dict[str, str]] = {}
    for n in names:
        text = n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)
        folder = posixpath.normpath(text.strip().replace("\\", "/")).rpartition("/")[0].lower()
        if folder:
            seen.setdefault(name_key(n), {}).setdefault(folder, text.strip())
    return [w for group in seen.values() if len(group) > 1 for w in group.values()][:3]


def fixed_segments(sound: SoundSeries, step: float) -> list[Presentation]:
    """One continuous ``sound`` cut into segments of ``step`` seconds, each presented once;
    a leftover shorter than half a segment is part of the last one (a short tail, often
    silence after the last sound, would otherwise be a sound of its own)."""
    assert sound.rate is not None and sound.duration is not None
    t0, rate, n_total = sound.starting_time, float(sound.rate), sound.n_samples
    n_seg = max(1, math.floor(sound.duration / step + 0.5))
    out = []
    for i in range(n_seg):
        first = int(round(i * step * rate))
        end = n_total if i == n_seg - 1 else min(int(round((i + 1) * step * rate)), n_total)
        count = end - first
        out.append(
            Presentation(
                f"segment_{i:04d}", t0 + first / rate, t0 + (first + count) / rate, i, sound, first, count
            )
        )
    return out
