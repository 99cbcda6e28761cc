"""When the samples of a sound series lie: its sample rate and start, from ``rate`` or from
evenly spaced timestamps, and why they are unusable (a rate that is not a positive number,
a start that is not a number)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["rate_and_start", "timing_defect", "coarse_timestamps"]

#: timestamps read to judge a series' spacing
_HEAD = 100_000


def rate_and_start(series: Any) -> tuple[float | None, float]:
    """Sample rate and start of a series: its ``rate``, or its timestamps when they are
    evenly spaced over the whole series (rate None otherwise: a gap or dropped samples
    anywhere would shift every later sample). Timestamps rounded to the microsecond,
    stored as float32 (coarser than a sample an hour into a session) or jittered by a
    fraction of a sample are evenly spaced. A rate that explains the timestamps as well
    as their own span does, within their resolution, is taken at its fewest decimals
    (16000 Hz from timestamps in Unix time, whose float64 steps are 0.24 us)."""
    if series.rate is not None:
        return float(series.rate), float(series.starting_time or 0.0)
    ts = series.timestamps
    if ts is None or len(ts) == 0:
        return None, 0.0
    head = np.asarray(ts[: min(len(ts), _HEAD)], dtype=np.float64)
    if len(head) < 2:
        return None, float(head[0])
    steps = np.diff(head)
    step = float(head[-1] - head[0]) / (len(head) - 1)  # several samples share a coarse timestamp
    # a sample dropped or doubled moves a step by a whole step; rounding and jitter by less
    quantum = _quantum(head, step, getattr(ts, "dtype", None))
    if not (step > 0 and np.all(np.abs(steps - step) <= max(0.5 * step, 2.0 * quantum))):
        return None, float(head[0])
    return _whole_rate(ts, step), float(head[0])


def _quantum(values: np.ndarray, step: float, dtype: Any = None) -> float:
    """The resolution of stored times: one float32 step at their largest value where they
    were stored as float32 (``dtype``), or are float32 numbers (written as float64 by a
    library) whose sample ``step`` is no whole number of float32 steps (so that the grid
    rounds them); else one float64 step. Times on the float32 grid exactly (a rate of
    32768 Hz) keep the float64 one: a dropped sample still shows."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0
    top = float(np.abs(finite).max())
    single = float(np.spacing(np.float32(top)))
    if dtype is not None and np.dtype(dtype) == np.float32:
        return single
    on_grid = np.array_equal(finite.astype(np.float32).astype(np.float64), finite)
    ratio = step / single if single > 0 else 0.0
    if on_grid and abs(ratio - round(ratio)) > 0.01 * max(ratio, 1.0):
        return single
    return float(np.spacing(top))


def coarse_timestamps(series: Any) -> float:
    """The resolution of a series' timestamps where it is coarser than half a sample
    (float32 times far into a session), else 0: its samples' times are then known from
    the whole span only."""
    ts = getattr(series, "timestamps", None)
    if getattr(series, "rate", None) is not None or ts is None or len(ts) < 2:
        return 0.0
    head = np.asarray(ts[: min(len(ts), _HEAD)], dtype=np.float64)
    step = float(head[-1] - head[0]) / (len(head) - 1)
    quantum = _quantum(head, step, getattr(ts, "dtype", None))
    return quantum if step > 0 and quantum > 0.5 * step else 0.0


def _whole_rate(ts: Any, step: float) -> float | None:
    """The rate of timestamps evenly spaced from the first to the last, checked at points
    along the series: None when one lies off that line by more than the larger of two
    samples and 1 ms (a gap, or samples dropped), else the rate of the whole span."""
    n = len(ts)
    picks = np.unique(np.linspace(0, n - 1, 65).round().astype(np.int64))
    data = ts if hasattr(ts, "dtype") else np.asarray(ts)  # h5py and numpy take a list of indices
    points = np.asarray(data[picks], dtype=np.float64)
    span = points[-1] - points[0]
    if not span > 0:
        return None
    rate = (n - 1) / span
    off = np.abs(points - (points[0] + picks / rate))
    if not np.all(np.isfinite(off)) or off.max() > max(2.0 * step, 1e-3):
        return None
    # 15999.999999999998 Hz from timestamps k / 16000 is 16000 Hz: the roundest rate within
    # what the timestamps' resolution (their own spread about the line) leaves uncertain
    resolution = max(float(off.max()), _quantum(points, 1.0 / rate, getattr(ts, "dtype", None)))
    for decimals in range(7):
        candidate = round(rate, decimals)
        if candidate > 0 and abs(candidate - rate) <= rate * resolution / span:
            return float(candidate)
    return float(rate)


def timing_defect(sound: Any) -> str:
    """Why the samples of ``sound`` have no usable time ('' when they have): a sample rate
    that is not a positive number, or a start that is not a number where the start places
    the sound in the session (a track or a presentation; a template's start is unused)."""
    if sound.rate is not None and not (np.isfinite(sound.rate) and sound.rate > 0):
        return f"sample rate {sound.rate:g} Hz, not a positive number"
    if sound.place != "template" and not np.isfinite(sound.starting_time):
        return f"starting_time {sound.starting_time:g} s, not a number"
    return ""
