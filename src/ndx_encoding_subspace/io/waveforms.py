"""The ``waveform_mean`` column of a Units table, whatever its shape, and spike widths.

NWB stores ``waveform_mean`` as (units, time) or (units, time, electrodes); writers that
keep only each unit's own channels use an indexed (ragged) column, whose rows per unit
are its channels. Each unit's waveform becomes (time,) or (time, channels), without the
channels that are all NaN (padding of sparse templates), for
:func:`~ndx_encoding_subspace.data.celltype.spike_widths`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.common import VectorIndex

from ..errors import InvalidDataError
from .storage import check_whole

if TYPE_CHECKING:
    from ..data.celltype import CellTypeParams

__all__ = ["ragged", "read_waveforms", "waveform_widths"]


def ragged(column: Any, n: int, where: str = "") -> list[np.ndarray]:
    """The ``n`` per-unit entries of a column, indexed (ragged) or not.

    Raises
    ------
    InvalidDataError
        An index that is not one non-decreasing end per row, within the data and ending
        at its last element (``where`` names the file and the table); an index or values
        too large for the memory available, or not all in the file
        (:func:`~.storage.check_whole`), refused before they are read.
    """
    if isinstance(column, VectorIndex):
        what = f"{where}{' ' if where else ''}column {column.name!r}"
        check_whole(column.data, what)
        ends = np.asarray(column.data[:], dtype=np.int64)
        n_flat = int(column.target.data.shape[0]) if hasattr(column.target.data, "shape") \
            else len(column.target.data)
        _check_index(ends, n_flat, n, what)
        check_whole(column.target.data, f"{where}{' ' if where else ''}column {column.target.name!r}")
        flat = np.asarray(column.target.data[:])
        return np.split(flat, ends[:-1]) if n else []
    return [np.atleast_1d(np.asarray(column.data[i])) for i in range(n)]


def _check_index(ends: np.ndarray, n_flat: int, n: int, what: str) -> None:
    problem = ""
    if ends.shape != (n,):
        problem = f"{ends.size} index entries for {n} rows"
    elif n and (ends.min() < 0 or np.any(np.diff(ends) < 0)):
        problem = "an index that goes backwards"
    elif n and int(ends[-1]) != n_flat:
        problem = f"an index ending at {int(ends[-1])} for {n_flat} values"
    if problem:
        raise InvalidDataError(f"{what}: the data are damaged ({problem}); not read")


def _waveform_list(units: Any, n: int, where: str) -> tuple[list[np.ndarray], bool]:
    """Each unit's waveform_mean as stored, and whether its rows are channels (an indexed
    column); a list of arrays of different shapes (in memory) keeps NWB's (time, channels)."""
    column = units["waveform_mean"]
    if isinstance(column, VectorIndex):
        return [np.asarray(w, dtype=np.float64) for w in ragged(column, n, where)], True
    check_whole(column.data, f"{where} column 'waveform_mean'")
    try:
        dense = np.asarray(column.data[:], dtype=np.float64)
        return list(dense), False
    except ValueError:  # a list of arrays of different shapes (in memory)
        return [np.asarray(column.data[i], dtype=np.float64) for i in range(n)], False


def _orient(wave: np.ndarray, n_electrodes: int, channels_first: bool) -> np.ndarray:
    """(time,) or (time, channels): channels are the electrodes' count when known, else the
    varying (first) axis of a ragged column and the last axis of a dense one (NWB's order)."""
    if wave.ndim != 2:
        return wave
    if n_electrodes and wave.shape[1] == n_electrodes and wave.shape[0] != n_electrodes:
        return wave
    if n_electrodes and wave.shape[0] == n_electrodes and wave.shape[1] != n_electrodes:
        return wave.T
    return wave.T if channels_first else wave


def read_waveforms(
    units: Any, ids: np.ndarray, name: str, path: str
) -> tuple[list[np.ndarray | None], list[tuple[int, int] | None]]:
    """Each unit's mean waveform, and the channel where it is largest.

    Parameters
    ----------
    units : Units
        A table with a ``waveform_mean`` column.
    ids : ndarray of int
        Unit ids, for messages.
    name, path : str
        How messages name the file and the table.

    Returns
    -------
    waves : list of (ndarray or None)
        (time,) or (time, channels) without all-NaN channels; None when nothing is left.
    main : list of (tuple of int or None)
        (index of the channel with the largest peak-to-peak amplitude, number of channels
        as stored), to find the unit's electrode.

    Raises
    ------
    InvalidDataError
        NaN or inf inside a channel's waveform; an entry that is neither 1-D nor 2-D.
    """
    n = len(ids)
    waves, channels_first = _waveform_list(units, n, f"{name}: {path}")
    counts = [len(r) for r in ragged(units["electrodes"], n)] if "electrodes" in units.colnames else [0] * n
    out: list[np.ndarray | None] = []
    main: list[tuple[int, int] | None] = []
    bad = []
    for i, raw in enumerate(waves):
        w = _orient(raw, counts[i], channels_first)
        if w.ndim not in (1, 2):
            raise InvalidDataError(f"{name}: {path} waveform_mean of unit {ids[i]} has shape {raw.shape}")
        w2 = w.reshape(w.shape[0], -1)
        kept = np.flatnonzero(~np.all(np.isnan(w2), axis=0))
        if not np.all(np.isfinite(w2[:, kept])):
            bad.append(int(ids[i]))
        if kept.size == 0 or w2.shape[0] == 0:
            out.append(None)
            main.append(None)
            continue
        out.append(w2[:, kept] if w.ndim == 2 else w)
        main.append((int(kept[np.argmax(np.ptp(w2[:, kept], axis=0))]), w2.shape[1]))
    if bad:
        raise InvalidDataError(
            f"{name}: {path} waveform_mean of units {bad[:10]} holds NaN or inf "
            "(set reader.use_waveforms = false to skip spike widths)"
        )
    return out, main


def waveform_widths(
    waves: list[np.ndarray | None], units: Any, ids: np.ndarray, name: str, path: str,
    celltype: CellTypeParams | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Spike width (ms; NaN without a waveform), cell class and notes for each unit.

    A table without ``waveform_rate`` (neuroconv's deprecated ``waveform_means`` path
    writes ``waveform_mean`` and leaves it unset) gives unknown widths and says so in a
    note; the waveforms still place the units on their largest channel.

    Raises
    ------
    InvalidDataError
        A ``waveform_rate`` that is not a positive finite number.
    """
    from ..data.celltype import classify, spike_widths

    widths = np.full(len(ids), np.nan)
    rate = getattr(units, "waveform_rate", None)
    if rate is None:
        return widths, classify(widths, celltype), [
            f"{path} has waveform_mean but no waveform_rate: spike width unknown (cell class too)"
        ]
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        rate = float("nan")
    if not np.isfinite(rate) or rate <= 0:
        raise InvalidDataError(
            f"{name}: {path} waveform_rate = {getattr(units, 'waveform_rate', None)!r} is not a "
            "positive sample rate (Hz) of waveform_mean; set reader.use_waveforms = false to skip "
            "spike widths"
        )
    for i, w in enumerate(waves):
        if w is not None:
            where = f"{name}: {path} waveform_mean of unit {ids[i]}"
            widths[i] = spike_widths(w[None], rate, celltype, where=where)[0]
    notes = ["spike width and cell class from waveform_mean"]
    empty = [int(ids[i]) for i, w in enumerate(waves) if w is None]
    if empty:
        notes.append(f"no waveform (all NaN) for units {empty[:10]}: spike width unknown")
    return widths, classify(widths, celltype), notes
