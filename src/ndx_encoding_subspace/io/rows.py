"""What each row of a table names: a sound's name, a reference into a series, the rows of
a table of stimuli, or one of its tags.

* :class:`RowRef` -- one row's reading;
* :func:`row_refs` -- every row of a column read in one go: text; TimeSeriesReferenceVectorData
  entries; a DynamicTableRegion (what the rows of its table name, never their numbers);
  ragged text such as ``tags`` (the tag that not every row holds, the others kept to match
  against the sounds).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from .inventory import cells, is_region, is_ts_reference
from .names import NAME_COLUMNS

__all__ = ["RowRef", "row_refs", "text_of"]


@dataclasses.dataclass(frozen=True)
class RowRef:
    """What one row names: a sound name as written, or a reference into a series."""

    key: str  # sound name or object path given by the row ('' = none)
    object_id: str = ""
    idx_start: int | None = None
    count: int | None = None
    others: tuple[str, ...] = ()  # the row's other values in a ragged column (tags)


def text_of(value: Any) -> str:
    """A cell as text ('' for None and NaN)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))  # ids 1.0, 2.0 as pandas writes an integer column holding NaN
    return str(value)


def _ref(value: Any) -> RowRef:
    """A RowRef of one TimeSeriesReference (a namedtuple in memory, a record read from file)."""
    if value is None:
        return RowRef("")
    idx_start, count, series = value[0], value[1], value[2]
    if series is None or int(idx_start) < 0:
        return RowRef("")
    return RowRef(series.name, series.object_id, int(idx_start), int(count))


def row_refs(table: Any, column: str) -> list[RowRef]:
    """What each row of ``table`` names in ``column`` (each column read in one go).

    A DynamicTableRegion column names rows of another table: each row names what that
    row of the other table names (:func:`_region_column`), never its row number.
    """
    col = table[column]
    n = len(table)
    if isinstance(col, VectorIndex):
        ends = np.asarray(col.data[:], dtype=np.int64)
        values = list(cells(col.target)) if len(ends) and ends[-1] else []
        begins = np.concatenate(([0], ends[:-1]))
        lists = [values[b:e] for b, e in zip(begins, ends, strict=True)]
        firsts = _telling(lists)
        if not is_region(col.target) and not is_ts_reference(col):
            return [RowRef(text_of(v), others=tuple(text_of(o) for o in values if o is not v))
                    for v, values in zip(firsts[:n], lists[:n], strict=True)]
    else:
        firsts = list(cells(col))
    region = col.target if isinstance(col, VectorIndex) else col
    if is_region(region):
        return _region_refs(region.table, firsts[:n])
    if is_ts_reference(col):
        return [_ref(v) for v in firsts[:n]]
    return [RowRef(v.name, v.object_id) if _is_object(v) else RowRef(text_of(v)) for v in firsts[:n]]


def _is_object(value: Any) -> bool:
    """Whether a cell is a reference to an NWB object (a column of object references, as
    ``add_trial(stimulus=series)`` writes): matched by the object's id."""
    return not isinstance(value, str | bytes) and isinstance(getattr(value, "object_id", None), str) \
        and isinstance(getattr(value, "name", None), str)


def _holds_objects(column: Any) -> bool:
    data = getattr(column, "data", None)
    try:
        return data is not None and len(data) > 0 and _is_object(data[0])
    except (TypeError, ValueError, OSError, KeyError):
        return False


def _holds_text(column: Any) -> bool:
    dtype = getattr(getattr(column, "data", None), "dtype", None)
    try:
        return np.dtype(dtype).kind in "OSU"
    except TypeError:  # hdmf gives some reference datasets a dtype of 'object' as text, or a list
        return False


def _telling(lists: list[list[Any]]) -> list[Any]:
    """One value per row of a ragged column: its first value that not every row holds
    (tags ``["sound", "clip03"]`` give ``"clip03"``), else its first; None when empty."""
    held = [set(map(text_of, values)) for values in lists if values]
    common = set.intersection(*held) if len(held) > 1 else set()
    return [next((v for v in values if text_of(v) not in common), values[0]) if values else None
            for values in lists]


#: the columns of a table of stimuli that may name its sounds: names, then numbers (ids),
#: which come after a column of references to the sounds themselves
_REGION_NAMES = (*(c for c in NAME_COLUMNS if not c.endswith("_id")), "name", "label", "path")
_REGION_IDS = (*(c for c in NAME_COLUMNS if c.endswith("_id")), "id_name")


def _region_column(target: Any) -> str:
    """The column of a referenced table that names its sounds ('' when none does): a name,
    else references to the sounds, else an id; never a region into a further table (which
    could lead back to this one)."""
    lower = {c.lower(): c for c in target.colnames if not is_region(target[c])}
    for wanted in _REGION_NAMES:
        if wanted in lower:
            return lower[wanted]
    for c in target.colnames:
        if is_ts_reference(target[c]) or (not is_region(target[c]) and _holds_objects(target[c])):
            return c
    for wanted in _REGION_IDS:
        if wanted in lower:
            return lower[wanted]
    return next((c for c in target.colnames if not isinstance(target[c], VectorIndex)
                 and not is_region(target[c]) and _holds_text(target[c])), "")


def _region_refs(target: Any, rows: list[Any]) -> list[RowRef]:
    """What each row of ``target`` given by ``rows`` names (a row number outside it names
    ``"row N of TABLE"``, which matches no sound)."""
    column = _region_column(target)
    named = row_refs(target, column) if column else []
    # the table's other name-like columns, tried where the first names no sound (an id beside a name)
    lower = {c.lower(): c for c in target.colnames if c != column and not is_region(target[c])
             and not isinstance(target[c], VectorIndex) and not is_ts_reference(target[c])}
    others = [row_refs(target, lower[w]) for w in (*_REGION_NAMES, *_REGION_IDS) if w in lower]
    out = []
    for row in rows:
        k = int(row) if row is not None else -1
        if not 0 <= k < len(named):
            out.append(RowRef(f"row {k} of {target.name}"))
            continue
        ref = named[k]
        more = tuple(o[k].key for o in others if o[k].key)
        out.append(dataclasses.replace(ref, others=ref.others + more) if more and not ref.object_id else ref)
    return out
