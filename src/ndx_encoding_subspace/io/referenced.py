"""Series that the presentation tables point to: the object ids their TimeSeriesReference
columns hold (``add_trial(timeseries=[track])``). A series outside the stimulus groups that
a table references is the sound those rows played, as if ``reader.sounds`` named it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hdmf.common import VectorIndex

from .cells import cells, is_ts_reference

__all__ = ["referenced_ids"]


def referenced_ids(tables: Sequence[Any]) -> set[str]:
    """Object ids of the series the TimeSeriesReference columns of ``tables`` (TableInfo
    with an onset column) point to."""
    ids: set[str] = set()
    for info in tables:
        if not info.onset:
            continue
        for column in info.sound_columns:
            col = info.table[column]
            if not is_ts_reference(col):
                continue
            for value in cells(col.target if isinstance(col, VectorIndex) else col):  # ragged: its values
                series = value[2] if value is not None and len(value) > 2 else None
                if series is not None and getattr(series, "object_id", None):
                    ids.add(series.object_id)
    return ids
