"""Series that say what played when, read as tables of presentations.

An ``AnnotationSeries`` holds text at timestamps (``clip03`` at 12.5 s): a table with
``timestamp`` and ``sound`` columns. An ``IntervalSeries`` in the stimulus group holds
the times a stimulus played (``+k`` at an onset, ``-k`` at its stop; an onset without its
stop before the next onset of its kind has none, and lasts its sound): a table with
``start_time``, ``stop_time`` and ``sound`` columns, the sound being the series' name (less
an ending such as ``_times``), with ``k`` after it where the series holds several kinds of
intervals. IntervalSeries whose name says they hold other events (licks, rewards, a
laser) do not cut a recorded track (:func:`other_events`). Either mirrors what a real table says
when the file has one, and the real table wins (:func:`~.layouts.base.prefer_tables`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.common import DynamicTable, VectorData

from .names import OTHER_EVENT_WORDS, name_words

__all__ = ["ANNOTATIONS", "INTERVALS", "LOGS", "log_table", "other_events"]

#: the type of the series read as tables of presentations (names at timestamps)
ANNOTATIONS = "AnnotationSeries"
#: the type of the series read as tables of intervals
INTERVALS = "IntervalSeries"
#: series read as tables: they mirror what a real table says, when the file has one
LOGS = (ANNOTATIONS, INTERVALS)
#: endings of an IntervalSeries' name that say what it holds, not which sound
_INTERVAL_WORDS = ("_times", "_intervals", "_presentations", "_onsets")


def log_table(path: str, series: Any, kind: str) -> Any:
    """``series`` (at ``path``, of neurodata type ``kind``) as a table of presentations, or
    None where it is no such log (another type, no timestamps)."""
    if kind not in LOGS or getattr(series, "timestamps", None) is None:
        return None
    return _annotation_table(series) if kind == ANNOTATIONS else _interval_table(series)


def other_events(info: Any) -> bool:
    """Whether a table read from an IntervalSeries (``info``, a TableInfo) holds, by its
    name, events other than sounds (``laser_times``, ``licks``): a recorded track is not
    cut at them (:mod:`.layouts.continuous`), unless ``reader.presentations`` names them."""
    name = str(info.path).rpartition("/")[2]
    return info.neurodata_type == INTERVALS and bool(name_words(name) & OTHER_EVENT_WORDS)


def _annotation_table(series: Any) -> Any:
    return DynamicTable(name=series.name, description=f"the annotations of {series.name}", columns=[
        VectorData(name="timestamp", description="onset (s)",
                   data=np.asarray(series.timestamps[:], dtype=np.float64)),
        VectorData(name="sound", description="the annotation", data=[
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in series.data[:]])])


def _interval_table(series: Any) -> Any:
    times = np.asarray(series.timestamps[:], dtype=np.float64)
    stored = np.asarray(series.data[:], dtype=np.float64).ravel()
    values = np.where(np.isfinite(stored), np.rint(stored), 0).astype(np.int64)  # 0: no event
    order = np.lexsort((values > 0, times))  # at one time, a stop before an onset (back to back)
    times, values = times[order], values[order]
    name = series.name
    for word in _INTERVAL_WORDS:
        name = name[: -len(word)] if name.lower().endswith(word) and len(name) > len(word) else name
    kinds = np.unique(values[values > 0])
    onsets = np.flatnonzero(values > 0)
    stops = np.full(onsets.size, np.nan)
    for k in kinds:  # an onset closes at the first stop of its kind after it, before the next onset
        opened, closed = np.flatnonzero(values == k), np.flatnonzero(values == -k)
        after = np.searchsorted(closed, opened, side="right")
        first = closed[np.minimum(after, max(closed.size - 1, 0))] if closed.size else after
        found = (after < closed.size) & (first < np.append(opened[1:], values.size))
        stops[np.searchsorted(onsets, opened[found])] = times[first[found]]
    sounds = [name if len(kinds) == 1 else f"{name} {values[i]}" for i in onsets]
    return DynamicTable(name=series.name, description=f"the intervals of {series.name}", columns=[
        VectorData(name="start_time", description="onset (s)", data=times[onsets]),
        VectorData(name="stop_time", description="stop (s)", data=stops),
        VectorData(name="sound", description="what played", data=sounds)])
