"""Spike times and per-unit metadata from a Units table of any writer; spike counts in bins.

* Columns with one value per unit not read as metadata (``unit_name``, ``quality``,
  ``KSLabel``, a file's own ``cell_type``, ...) are carried in :attr:`UnitSpikes.properties`.
* Depth and area: :mod:`.placement`.
* ``waveform_mean``: (time,) or (time, channels) per unit, or ragged (indexed: channel
  counts differ); all-NaN channels (padding) are left out. Without ``waveform_rate`` (as
  neuroconv's deprecated ``waveform_means`` path writes) widths are unknown, said in a note.

:attr:`UnitSpikes.notes` says where the metadata came from and what is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.common import VectorIndex

from ..data.site import UnitInfo
from ..data.spectrogram import bin_index
from ..errors import InvalidDataError, NoUnitsError
from .placement import placement, text_column
from .reader_params import ReaderParams
from .storage import check_whole
from .unit_choice import chosen_units, curation_note, precision_note
from .waveforms import ragged, read_waveforms, waveform_widths

if TYPE_CHECKING:
    from ..data.celltype import CellTypeParams

__all__ = ["UnitSpikes", "read_units", "observed_only", "observed_spans", "bin_counts", "recording_span",
           "electrical_start"]

_NOT_PROPERTIES = ("spike_times", "electrodes", "waveform_mean", "waveform_sd", "waveforms")


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
    unobserved : tuple of int
        Ids of units left out because their ``obs_intervals`` leave part of the presented
        sounds unobserved.
    properties : dict of str to ndarray
        Every other column with one value per unit (text or number), for the kept units
        in order: e.g. ``unit_name``, ``quality``, ``KSLabel``, ``electrode_group`` (names).
    notes : tuple of str
        Where depth, area and spike width came from, and what is missing.
    """

    times: list[np.ndarray]
    info: UnitInfo
    dropped: tuple[int, ...]
    properties: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unobserved: tuple[int, ...] = ()


def _properties(units: Any, n: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every column with one value per unit not read otherwise; names of the others."""
    props: dict[str, np.ndarray] = {}
    other = []
    for c in units.colnames:
        if c in _NOT_PROPERTIES:
            continue
        column = units[c]
        try:
            values = None if isinstance(column, VectorIndex) else np.asarray(column.data[:])
        except (TypeError, ValueError):
            values = None
        if values is None or values.ndim != 1 or len(values) != n:
            other.append(c)
            continue
        props[c] = text_column(values) if values.dtype.kind in "OSU" else values
    return props, other


# --------------------------------------------------------------------------- reader
#: spike times beyond this magnitude (s: 30,000 years; times since 1970 are 1.7e9) belong to no recording
MAX_SPIKE_TIME_S = 1e12


def _spike_times(units: Any, ids: np.ndarray, name: str, path: str) -> list[np.ndarray]:
    if "spike_times" not in units.colnames:
        raise NoUnitsError(f"{name}: the Units table {path} has no spike_times column")
    if len(ids) == 0:
        raise NoUnitsError(f"{name}: the Units table {path} has no units")
    times = [np.sort(np.asarray(t, dtype=np.float64))
             for t in ragged(units["spike_times"], len(ids), f"{name}: {path}")]
    bad = [int(ids[i]) for i, t in enumerate(times) if not np.all(np.isfinite(t))]
    if bad:
        raise InvalidDataError(f"{name}: {path} spike_times of units {bad[:10]} hold NaN or inf")
    wild = [(int(ids[i]), float(t[np.argmax(np.abs(t))])) for i, t in enumerate(times)
            if t.size and np.abs(t).max() > MAX_SPIKE_TIME_S]
    if wild:
        raise InvalidDataError(f"{name}: {path} spike_times of units {[u for u, _ in wild][:10]} hold times "
                               f"such as {wild[0][1]:.3g} s, beyond {MAX_SPIKE_TIME_S:g} s of any clock: "
                               "damaged spike times?")
    return times


def observed_spans(units: Any, rows: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """``[rows, spans]``: whether each row's ``obs_intervals`` cover each span (start and
    stop, s); True everywhere without the column."""
    out = np.ones((len(rows), len(spans)), dtype=bool)
    if not len(spans) or "obs_intervals" not in units.colnames:
        return out
    starts, stops = np.asarray(spans, dtype=np.float64).T
    column = units["obs_intervals"]
    for i, row in enumerate(rows):
        intervals = np.asarray(column[int(row)], dtype=np.float64).reshape(-1, 2)
        intervals = intervals[np.argsort(intervals[:, 0])]
        merged: list[list[float]] = []
        for lo, hi in intervals:  # adjoining pieces make one observed stretch
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        if not merged:
            out[i] = False
            continue
        lo, hi = np.asarray(merged).T
        at = np.searchsorted(lo, starts, side="right") - 1
        out[i] = (at >= 0) & (hi[np.clip(at, 0, None)] >= stops)
    return out


def read_units(
    units: Any,
    name: str,
    path: str,
    params: ReaderParams | None = None,
    celltype: CellTypeParams | None = None,
    spans: Sequence[tuple[float, float]] = (),
) -> UnitSpikes:
    """Spike times and metadata of every unit with at least ``params.min_spikes`` spikes.

    A unit whose ``obs_intervals`` (when the table has them) leave part of a presented
    sound (``spans``) unobserved is left out (``UnitSpikes.unobserved``): its silence there
    is not a response (:func:`observed_only`, which a reader that first needs the
    recording's span calls itself, with ``spans`` left empty here).

    Parameters
    ----------
    units : Units
        The table (from any writer: see the module docstring for the columns used).
    name, path : str
        How error messages and notes name the file and the table.
    params : ReaderParams, optional
        ``min_spikes`` and ``use_waveforms``.
    celltype : CellTypeParams, optional
        Spike-width threshold of the narrow/regular class.
    spans : sequence of (float, float), optional
        Start and stop (s) of every presentation, for the ``obs_intervals`` check.

    Returns
    -------
    UnitSpikes
        With the other per-unit columns in ``properties`` and ``notes`` on the metadata.

    Raises
    ------
    NoUnitsError
        No ``spike_times`` column, no units, or no unit with enough spikes.
    InvalidDataError
        NaN/inf spike times or waveforms, a ``waveform_rate`` that is not a positive
        number (none at all: spike widths unknown, said in ``notes``).
    """
    params = ReaderParams.of(params)
    check_whole(units.id.data, f"{name}: the Units table {path} ids")
    ids = np.asarray(units.id.data[:], dtype=np.int64)
    n = len(ids)
    values, counts_of = np.unique(ids, return_counts=True)
    if np.any(counts_of > 1):
        twice = values[counts_of > 1]
        raise InvalidDataError(f"{name}: the Units table {path} repeats unit ids {twice[:10].tolist()}"
                               f"{' ...' if len(twice) > 10 else ''}; each unit needs its own id")
    times = _spike_times(units, ids, name, path)
    counts = np.array([len(t) for t in times])
    need = max(params.min_spikes, 1)
    chosen = chosen_units(units, n, name, path, params.unit_column)
    keep = np.flatnonzero((counts >= need) & chosen)
    if keep.size == 0:
        which = f" kept by reader.unit_column {params.unit_column!r}" if params.unit_column else ""
        raise NoUnitsError(f"{name}: none of the {int(chosen.sum())} units{which} in {path} has spikes "
                           f"(at least {need} needed)")
    columns: dict[str, Any] = {"rows": np.arange(n, dtype=np.int64)}
    notes = [note for note in (curation_note(units, n, path, params.unit_column),
                               precision_note(units, times, path)) if note]
    waves: list[np.ndarray | None] = []
    main: list[tuple[int, int] | None] = [None] * n
    if not params.use_waveforms:
        notes.append("waveforms not read (reader.use_waveforms = false): spike width and cell class unknown")
    elif "waveform_mean" not in units.colnames:
        notes.append(f"{path} has no waveform_mean: spike width and cell class unknown")
    else:
        waves, main = read_waveforms(units, ids, name, path)
    columns["depth_um"], columns["area"], placed = placement(units, n, main, params.rel_y_direction,
                                                             name, path)
    notes.extend(placed)
    if waves:
        width, kind, widths = waveform_widths(waves, units, ids, name, path, celltype)
        columns["spike_width_ms"], columns["cell_type"] = width, kind
        notes.extend(widths)
    props, other = _properties(units, n)
    if other:
        notes.append(f"columns with several values per unit not carried: {', '.join(other)}")
    info = UnitInfo.from_ids(ids, **columns).subset(keep)
    dropped = tuple(int(i) for i in ids[(counts < need) & chosen])
    if not chosen.all():
        notes.append(f"{int((~chosen).sum())} units left out by reader.unit_column {params.unit_column!r}")
    spikes = UnitSpikes([times[i] for i in keep], info, dropped, {k: v[keep] for k, v in props.items()},
                        tuple(notes))
    return observed_only(spikes, units, spans, name, path)


def observed_only(spikes: UnitSpikes, units: Any, spans: Sequence[tuple[float, float]],
                  name: str, path: str, covered: np.ndarray | None = None) -> UnitSpikes:
    """``spikes`` without the units whose ``obs_intervals`` leave part of a presentation
    (``spans``: start and stop, s) unobserved, their ids in ``unobserved``; ``covered``:
    :func:`observed_spans` of those units and spans, where already computed.

    Raises
    ------
    NoUnitsError
        When that leaves no unit.
    """
    rows = np.asarray(spikes.info.rows, dtype=np.int64)
    covered = observed_spans(units, rows, spans) if covered is None else covered
    observed = covered.all(axis=1)
    if observed.all():
        return spikes
    if not observed.any():
        most = int(np.argmax(covered.sum(axis=0) < len(rows)))
        raise NoUnitsError(f"{name}: the obs_intervals of every unit in {path} leave part of the "
                           f"presented sounds unobserved (the first: {spans[most][0]:g} to "
                           f"{spans[most][1]:g} s, observed by {int(covered[:, most].sum())} of "
                           f"{len(rows)} units)")
    keep = np.flatnonzero(observed)
    return dataclasses.replace(
        spikes, times=[spikes.times[i] for i in keep], info=spikes.info.subset(keep),
        properties={k: v[keep] for k, v in spikes.properties.items()},
        unobserved=spikes.unobserved + tuple(int(i) for i in spikes.info.ids[~observed]))


def recording_span(times: Sequence[np.ndarray], nwbfile: Any = None,
                   observed: tuple[Any, Sequence[int]] | None = None) -> tuple[float, float]:
    """Start and end (s) of the recording: spikes, acquisition series and the time the units
    are observed (the ``obs_intervals`` of ``observed``, a Units table and the rows read: a
    unit silent until their end was listening), whichever widest.

    The start is the first sample of the file's electrical recordings (acquired
    ``ElectricalSeries``) where they begin before every spike (a series beginning after
    some spike is an excerpt, or keeps another clock), else 0 (the session's start), or
    the first spike where earlier.
    """
    lo = min((float(t[0]) for t in times if len(t)), default=0.0)
    hi = max((float(t[-1]) for t in times if len(t)), default=0.0)
    began = electrical_start(nwbfile) if nwbfile is not None else None
    lo = began if began is not None and began <= lo else min(lo, 0.0)
    acquired = acquisition_end(nwbfile) if nwbfile is not None else None
    listened = _observed_until(*observed) if observed is not None else None
    return lo, max(e for e in (hi, acquired, listened) if e is not None)


def _observed_until(units: Any, rows: Sequence[int]) -> float | None:
    """The latest end of the ``obs_intervals`` of ``rows`` of ``units`` (s); None without the
    column or an interval."""
    if "obs_intervals" not in units.colnames or not len(rows):
        return None
    column = units["obs_intervals"]
    ends = [float(np.max(np.asarray(column[int(r)], dtype=np.float64).reshape(-1, 2)[:, 1], initial=-np.inf))
            for r in rows]
    end = max(ends)
    return end if np.isfinite(end) else None


def electrical_start(nwbfile: Any) -> float | None:
    """When the first acquired ``ElectricalSeries`` of ``nwbfile`` begins (s; spike
    snippets, ``SpikeEventSeries``, aside); None without one."""
    from pynwb.ecephys import ElectricalSeries, SpikeEventSeries

    starts = []
    for series in nwbfile.acquisition.values():
        if not isinstance(series, ElectricalSeries) or isinstance(series, SpikeEventSeries):
            continue
        try:
            if series.rate is not None:
                starts.append(float(series.starting_time or 0.0))
            elif series.timestamps is not None and len(series.timestamps):
                starts.append(float(series.timestamps[0]))
        except (TypeError, ValueError):
            continue
    return min(starts) if starts else None


def acquisition_end(nwbfile: Any) -> float | None:
    """When the last acquisition series of ``nwbfile`` ends (s); None without one."""
    ends = [e for e in (_series_end(s) for s in nwbfile.acquisition.values()) if e is not None]
    return max(ends) if ends else None


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
