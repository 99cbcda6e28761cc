"""Spike times and per-unit metadata from a Units table; spike counts in bins."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.common import VectorIndex

from ..data.site import UnitInfo
from ..data.spectrogram import bin_index
from ..errors import InvalidDataError, NoUnitsError
from .reader_params import ReaderParams

if TYPE_CHECKING:
    from ..data.celltype import CellTypeParams

__all__ = ["UnitSpikes", "read_units", "bin_counts", "recording_span"]

_DEPTH_COLUMNS = ("depth", "depth_um")
_AREA_COLUMNS = ("area", "location", "brain_area")
_ELECTRODE_DEPTH = ("rel_y", "y")


@dataclasses.dataclass(frozen=True)
class UnitSpikes:
    """Spike times of the kept units and their metadata.

    Attributes
    ----------
    times : list of ndarray
        Sorted spike times (s) of each kept unit.
    info : UnitInfo
        Metadata of the kept units (``rows`` index the source table).
    dropped : tuple of int
        Ids of units left out for having fewer than ``min_spikes`` spikes.
    """

    times: list[np.ndarray]
    info: UnitInfo
    dropped: tuple[int, ...]


def _ragged(column: Any, n: int) -> list[np.ndarray]:
    if isinstance(column, VectorIndex):
        ends = np.asarray(column.data[:], dtype=np.int64)
        flat = np.asarray(column.target.data[:])
        return np.split(flat, ends[:-1]) if n else []
    return [np.atleast_1d(np.asarray(column.data[i])) for i in range(n)]


def _column(units: Any, names: Sequence[str]) -> tuple[str, Any] | None:
    for c in units.colnames:
        if c.lower() in names:
            return c, units[c]
    return None


def _text(values: Any) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)


def _electrode_rows(units: Any, n: int) -> list[int] | None:
    if "electrodes" not in units.colnames:
        return None
    rows = _ragged(units["electrodes"], n)
    return [int(r[0]) if len(r) else -1 for r in rows]


def _from_electrodes(units: Any, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    rows = _electrode_rows(units, n)
    if rows is None:
        return None, None
    index = units["electrodes"]
    table = (index.target if isinstance(index, VectorIndex) else index).table
    valid = np.array(rows) >= 0
    depth = area = None
    for col in _ELECTRODE_DEPTH:
        if col in table.colnames:
            values = np.asarray(table[col].data[:], dtype=np.float64)
            depth = np.where(valid, values[np.clip(rows, 0, None)], np.nan)
            break
    if "location" in table.colnames:
        values = _text(table["location"].data[:])
        area = np.where(valid, values[np.clip(rows, 0, None)], "").astype(object)
    return depth, area


def _waveform_widths(
    units: Any, ids: np.ndarray, name: str, path: str, celltype: CellTypeParams | None
) -> tuple[np.ndarray, np.ndarray] | None:
    if "waveform_mean" not in units.colnames:
        return None
    waves = np.asarray(units["waveform_mean"].data[:], dtype=np.float64)
    bad = [int(ids[i]) for i in range(len(ids)) if not np.all(np.isfinite(waves[i]))]
    if bad:
        raise InvalidDataError(
            f"{name}: {path} waveform_mean of units {bad[:10]} holds NaN or inf "
            "(set reader.use_waveforms = false to skip spike widths)"
        )
    rate = getattr(units, "waveform_rate", None)
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise InvalidDataError(
            f"{name}: {path} has waveform_mean but no waveform_rate (sample rate of the "
            "waveforms); set reader.use_waveforms = false to skip spike widths"
        )
    from ..data.celltype import classify, spike_widths

    widths = spike_widths(waves, float(rate), celltype, where=f"{name}: {path} waveform_mean")
    return widths, classify(widths, celltype)


def read_units(
    units: Any,
    name: str,
    path: str,
    params: ReaderParams | None = None,
    celltype: CellTypeParams | None = None,
) -> UnitSpikes:
    """Spike times and metadata of every unit with at least ``params.min_spikes`` spikes.

    Raises
    ------
    NoUnitsError
        No ``spike_times`` column, no units, or no unit with enough spikes.
    InvalidDataError
        NaN/inf spike times or waveforms, waveforms without sample rate.
    """
    params = params or ReaderParams()
    ids = np.asarray(units.id.data[:], dtype=np.int64)
    n = len(ids)
    if "spike_times" not in units.colnames:
        raise NoUnitsError(f"{name}: the Units table {path} has no spike_times column")
    if n == 0:
        raise NoUnitsError(f"{name}: the Units table {path} has no units")
    times = [np.sort(np.asarray(t, dtype=np.float64)) for t in _ragged(units["spike_times"], n)]
    bad = [int(ids[i]) for i, t in enumerate(times) if not np.all(np.isfinite(t))]
    if bad:
        raise InvalidDataError(f"{name}: {path} spike_times of units {bad[:10]} hold NaN or inf")
    counts = np.array([len(t) for t in times])
    keep = np.flatnonzero(counts >= max(params.min_spikes, 1))
    if keep.size == 0:
        raise NoUnitsError(
            f"{name}: none of the {n} units in {path} has spikes "
            f"(at least {max(params.min_spikes, 1)} needed)"
        )
    columns: dict[str, Any] = {"rows": np.arange(n, dtype=np.int64)}
    depth_col = _column(units, _DEPTH_COLUMNS)
    area_col = _column(units, _AREA_COLUMNS)
    e_depth, e_area = _from_electrodes(units, n)
    if depth_col is not None:
        columns["depth_um"] = np.asarray(depth_col[1].data[:], dtype=np.float64)
    elif e_depth is not None:
        columns["depth_um"] = e_depth
    if area_col is not None:
        columns["area"] = _text(area_col[1].data[:])
    elif e_area is not None:
        columns["area"] = e_area
    if params.use_waveforms:
        widths = _waveform_widths(units, ids, name, path, celltype)
        if widths is not None:
            columns["spike_width_ms"], columns["cell_type"] = widths
    info = UnitInfo.from_ids(ids, **columns).subset(keep)
    dropped = tuple(int(i) for i in ids[counts < max(params.min_spikes, 1)])
    return UnitSpikes([times[i] for i in keep], info, dropped)


def recording_span(times: Sequence[np.ndarray], nwbfile: Any = None) -> tuple[float, float]:
    """Start and end (s) of the recording: spikes and acquisition series, whichever wider."""
    lo = min((float(t[0]) for t in times if len(t)), default=0.0)
    hi = max((float(t[-1]) for t in times if len(t)), default=0.0)
    lo = min(lo, 0.0)
    if nwbfile is not None:
        for series in nwbfile.acquisition.values():
            end = _series_end(series)
            if end is not None:
                hi = max(hi, end)
    return lo, hi


def _series_end(series: Any) -> float | None:
    data = getattr(series, "data", None)
    if data is None or not hasattr(series, "rate"):
        return None
    try:
        n = len(data)
        if series.rate is not None:
            return float(series.starting_time or 0.0) + n / float(series.rate)
        if series.timestamps is not None and len(series.timestamps):
            return float(series.timestamps[len(series.timestamps) - 1])
    except (TypeError, ValueError):
        return None
    return None


def bin_counts(
    times: Sequence[np.ndarray], starts: Sequence[float], n_bins: int, bin_size: float
) -> np.ndarray:
    """Spike counts per presentation, bin and unit.

    Bin ``b`` of a presentation starting at ``s`` holds the spikes with
    ``floor((t - s) / bin_size + 1e-9) == b``, for ``0 <= b < n_bins``
    (:func:`~ndx_encoding_subspace.data.spectrogram.bin_index`: a spike on a bin edge falls in
    the later bin however its session time was rounded).

    Returns
    -------
    ndarray, shape (len(starts), n_bins, len(times)), float32
    """
    n_units = len(times)
    flat = np.concatenate(times) if n_units else np.zeros(0)
    unit = np.repeat(np.arange(n_units), [len(t) for t in times])
    order = np.argsort(flat, kind="stable")
    flat, unit = flat[order], unit[order]
    out = np.zeros((len(starts), n_bins, n_units), dtype=np.float32)
    for k, s in enumerate(starts):
        lo = np.searchsorted(flat, s - bin_size, side="left")
        hi = np.searchsorted(flat, s + (n_bins + 1) * bin_size, side="left")
        b = bin_index(flat[lo:hi] - s, bin_size)
        ok = (b >= 0) & (b < n_bins)
        index = b[ok] * n_units + unit[lo:hi][ok]
        out[k] = np.bincount(index, minlength=n_bins * n_units).reshape(n_bins, n_units)
    return out
