"""Presentations (or segments) of the sounds, read from TimeIntervals tables."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from ..errors import AmbiguousInputError, ConfigError, InvalidDataError, NoSoundStimulusError
from .inventory import Inventory, Presentation, SoundSeries, TableInfo, is_ts_reference, pick_path
from .reader_params import ReaderParams

__all__ = ["template_presentations", "continuous_presentations"]


@dataclasses.dataclass(frozen=True)
class _RowRef:
    key: str  # sound name or object path given by the row ('' = none)
    object_id: str = ""
    idx_start: int | None = None
    count: int | None = None


def _row_refs(table: Any, column: str) -> list[_RowRef]:
    col = table[column]
    n = len(table)
    if is_ts_reference(col):
        out = []
        for i in range(n):
            value = col[i]
            refs = value if isinstance(value, list | tuple) and not hasattr(value, "timeseries") else [value]
            ref = refs[0] if refs else None
            if ref is None or ref.timeseries is None or ref.idx_start < 0:
                out.append(_RowRef(""))
                continue
            out.append(
                _RowRef(ref.timeseries.name, ref.timeseries.object_id, int(ref.idx_start), int(ref.count))
            )
        return out
    if isinstance(col, VectorIndex):
        values = [col[i][0] if len(col[i]) else "" for i in range(n)]
    else:
        values = list(col.data[:])
    return [_RowRef(v.decode() if isinstance(v, bytes) else str(v)) for v in values]


def _match(ref: _RowRef, sounds: dict[str, SoundSeries], by_id: dict[str, SoundSeries]) -> SoundSeries | None:
    if ref.object_id:
        return by_id.get(ref.object_id)
    return sounds.get(ref.key) or sounds.get(ref.key.strip().lstrip("/"))


def _times(info: TableInfo, name: str) -> tuple[np.ndarray, np.ndarray]:
    start = np.asarray(info.table["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(info.table["stop_time"].data[:], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(start) | ~np.isfinite(stop) | (stop < start))
    if bad.size:
        raise InvalidDataError(
            f"{name}: {info.path} rows {bad[:10].tolist()} have NaN/inf times or stop before start"
        )
    return start, stop


def _candidates(tables: list[TableInfo], column: str, sounds: dict, by_id: dict) -> list[tuple]:
    """(table, column, row refs) of each table naming the sounds: its first matching column
    (text columns before references, as in ``TableInfo.sound_columns``)."""
    found = []
    for info in tables:
        columns = [column] if column else list(info.sound_columns)
        for col in columns:
            if col not in info.columns:
                continue
            refs = _row_refs(info.table, col)
            if any(_match(r, sounds, by_id) is not None for r in refs):
                found.append((info, col, refs))
                break
    return found


def _tables(inv: Inventory, name: str, params: ReaderParams) -> list[TableInfo]:
    if not params.presentations:
        return list(inv.tables)
    paths = [t.path for t in inv.tables]
    chosen = pick_path(params.presentations, paths, "reader.presentations", name)
    return [t for t in inv.tables if t.path == chosen]


def template_presentations(
    sounds: tuple[SoundSeries, ...], inv: Inventory, name: str, params: ReaderParams
) -> tuple[TableInfo, str, list[Presentation]]:
    by_name = {**{s.path: s for s in sounds}, **{s.name: s for s in sounds}}
    by_id = {s.series.object_id: s for s in sounds}
    tables = _tables(inv, name, params)
    found = _candidates(tables, params.sound_column, by_name, by_id)
    if not found:
        raise NoSoundStimulusError(
            f"{name}: sound waveforms found ({', '.join(s.path for s in sounds)}) but no "
            f"presentation table naming them (set reader.presentations and reader.sound_column); "
            f"interval tables: {'; '.join(t.describe() for t in tables) or 'none'}"
        )
    if len(found) > 1:
        listing = "; ".join(f"{i.path} column {c!r}" for i, c, _ in found)
        raise AmbiguousInputError(
            f"{name}: several tables name the sounds: {listing}; choose with reader.presentations "
            "and reader.sound_column"
        )
    info, column, refs = found[0]
    unknown = sorted({r.key for r in refs if r.key and _match(r, by_name, by_id) is None})
    if unknown:
        raise InvalidDataError(
            f"{name}: {info.path} column {column!r} names sounds that are not in "
            f"stimulus_template: {unknown[:10]}"
        )
    start, stop = _times(info, name)
    out = []
    for row, ref in enumerate(refs):
        series = _match(ref, by_name, by_id)
        if series is None:
            continue
        first = ref.idx_start or 0
        count = ref.count if ref.count is not None else series.n_samples
        sound = series.name if (first, count) == (0, series.n_samples) else f"{series.name}@{first}+{count}"
        out.append(Presentation(sound, float(start[row]), float(stop[row]), row, series, first, count))
    return info, column, out


def continuous_presentations(
    sound: SoundSeries, inv: Inventory, name: str, params: ReaderParams
) -> tuple[str, str, list[Presentation]]:
    if not sound.rate:
        raise InvalidDataError(
            f"{name}: sound {sound.path} has no sample rate (no rate, no regular timestamps)"
        )
    tables = _tables(inv, name, params)
    found = []
    for info in tables:
        columns = [params.sound_column] if params.sound_column else list(info.sound_columns)
        for col in columns:
            if col not in info.columns:
                if params.sound_column and params.presentations:
                    raise ConfigError(
                        f"reader.sound_column = {col!r}: {info.path} in {name} has no such column"
                    )
                continue
            refs = _row_refs(info.table, col)
            if is_ts_reference(info.table[col]) and not any(
                r.object_id == sound.series.object_id for r in refs
            ):
                continue
            found.append((info, col, refs))
            break  # one column per table: names before references
        if params.presentations and not found:
            found.append(
                (info, "", [_RowRef(f"{info.path.rpartition('/')[2]}_{i:04d}") for i in range(info.rows)])
            )
    if len(found) > 1:
        listing = "; ".join(f"{i.path} column {c!r}" for i, c, _ in found)
        raise AmbiguousInputError(
            f"{name}: several tables give segments of {sound.path}: {listing}; "
            "choose with reader.presentations and reader.sound_column"
        )
    t0, rate, n_total = sound.starting_time, float(sound.rate), sound.n_samples
    if not found:
        step = params.segment_s
        n_seg = max(1, math.ceil(sound.duration / step - 1e-9))
        out = []
        for i in range(n_seg):
            first = int(round(i * step * rate))
            count = min(int(round((i + 1) * step * rate)), n_total) - first
            out.append(
                Presentation(
                    f"segment_{i:04d}", t0 + first / rate, t0 + (first + count) / rate, i, sound, first, count
                )
            )
        return "", "", out
    info, column, refs = found[0]
    start, stop = _times(info, name)
    out, outside = [], []
    for row, ref in enumerate(refs):
        if not ref.key:
            continue
        if ref.idx_start is not None:
            first, count = ref.idx_start, int(ref.count)
            label = ref.key if ref.object_id != sound.series.object_id else f"{sound.name}@{first}+{count}"
        else:
            first = int(round((start[row] - t0) * rate))
            count = int(round((stop[row] - start[row]) * rate))
            label = ref.key
        if first < -1 or first + count > n_total + 1:
            outside.append(row)
            continue
        first = max(first, 0)
        count = min(count, n_total - first)
        out.append(Presentation(label, float(start[row]), float(stop[row]), row, sound, first, count))
    if outside:
        raise InvalidDataError(
            f"{name}: {info.path} rows {outside[:10]} lie outside the sound {sound.path} "
            f"({t0:g} to {t0 + n_total / rate:g} s)"
        )
    return info.path, column, out
