"""Which units the reader keeps, and what it says of them: ``reader.unit_column`` (a
true/false column, or a curation label and its values), units that a curation column
labels noise or multi-unit activity, and spike times stored in single precision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from ..errors import InputError
from .names import listing

__all__ = ["CURATION_COLUMNS", "WARNED_UNIT_NOTES", "chosen_units", "curation_note", "precision_note"]

#: columns in which spike sorters and curation tools label units (Kilosort/Phy, spikeinterface)
CURATION_COLUMNS = ("quality", "kslabel", "ks_label", "label", "group", "curation", "classification")
#: what :func:`curation_note` says
CURATED = "they are fitted with the others"
#: what the note of spike times stored in single precision says
SINGLE = "stored in single precision"
#: the unit notes the reader warns of hold one of these
WARNED_UNIT_NOTES = (CURATED, SINGLE)
#: single-precision spike times are said when rounded to more than this (s) at the last spike
_SINGLE_ROUNDING_S = 1e-4
#: labels of units that are no single unit
_NOT_SINGLE = ("noise", "mua", "multi-unit", "multiunit", "artifact", "artefact")


def chosen_units(units: Any, n: int, name: str, path: str, column: str) -> np.ndarray:
    """Which units ``reader.unit_column`` keeps: where a true/false column is true, or where a
    column's value is one of those given (``column=value[,value...]``); all when empty."""
    if not column:
        return np.ones(n, dtype=bool)
    column, sep, wanted = column.partition("=")
    column = column.strip()
    if column not in units.colnames:
        raise InputError(f"{name}: {path} has no column {column!r} (reader.unit_column); "
                         f"its columns: {', '.join(units.colnames) or 'none'}")
    if isinstance(units[column], VectorIndex):
        raise InputError(f"{name}: column {column!r} of {path} (reader.unit_column) holds several values "
                         "per unit; it must hold one")
    values = np.asarray(units[column].data[:])
    if sep:
        allowed = {_label(v) for v in wanted.split(",") if v.strip()}
        if values.shape != (n,) or not allowed:
            raise InputError(f"{name}: column {column!r} of {path} (reader.unit_column) must hold one "
                             f"value per unit, and a value must follow '='; got {values.dtype} of shape "
                             f"{values.shape} and {wanted!r}")
        labels = [_label(v) for v in values]
        if not allowed & set(labels):
            said, there = (listing(map(repr, sorted(v)), 10) for v in (allowed, set(labels)))
            raise InputError(f"{name}: no unit of {path} has {column} {said} (reader.unit_column); "
                             f"its values: {there}")
        return np.array([v in allowed for v in labels], dtype=bool)
    flags = _flags(values) if values.shape == (n,) else None
    if flags is None:
        some = listing([f"{column}={v}" for v in dict.fromkeys(_label(v) for v in values.ravel()[:1000])], 3)
        raise InputError(f"{name}: column {column!r} of {path} (reader.unit_column) must hold one "
                         f"true/false value per unit, got {values.dtype} of shape {values.shape}; "
                         f"keep units by a label with column=value (e.g. {some or f'{column}=good'})")
    return flags


#: text that says true or false, as tables written from pandas or text files hold it
_TRUE, _FALSE = ("true", "t", "yes", "y", "1"), ("false", "f", "no", "n", "0", "")


def _flags(values: np.ndarray) -> np.ndarray | None:
    """A true/false column as booleans: booleans, integers, 0/1 floats (NaN, unknown, is false)
    or text saying true and false; None for any other column."""
    if values.dtype.kind in "biu":
        return values.astype(bool)
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        return np.nan_to_num(values, nan=0.0).astype(bool) if np.isin(finite, (0.0, 1.0)).all() else None
    labels = [_label(v) for v in values]
    if values.dtype.kind in "OSU" and all(v in _TRUE + _FALSE for v in labels):
        return np.array([v in _TRUE for v in labels], dtype=bool)
    return None


def _label(value: Any) -> str:
    """A value as compared: text, lower case, no surrounding spaces, ``1.0`` as ``1``."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def curation_note(units: Any, n: int, path: str, column: str) -> str:
    """A note when no unit is chosen (``reader.unit_column`` empty) and a curation column labels
    some units noise or multi-unit activity: they are read with the others."""
    if column:
        return ""
    for name in units.colnames:
        if name.lower() not in CURATION_COLUMNS or isinstance(units[name], VectorIndex):
            continue
        values = np.asarray(units[name].data[:])
        if values.shape != (n,) or values.dtype.kind not in "OSU":
            continue
        labels = [_label(v) for v in values]
        odd = sorted({v for v in labels if v in _NOT_SINGLE})
        if odd:
            kept = sorted(set(labels) - set(_NOT_SINGLE))
            said = ", ".join(f"{sum(v == o for v in labels)} {o!r}" for o in odd)
            choice = f"--reader.unit_column {name}={','.join(kept)}" if kept else "curation"
            return f"{path} column {name!r} labels units {said}; {CURATED} (keep the others with {choice})"
    return ""


def precision_note(units: Any, times: Sequence[np.ndarray], path: str) -> str:
    """A note when the spike times are single-precision floats rounded to more than 0.1 ms."""
    column = units["spike_times"]
    data = getattr(getattr(column, "target", column), "data", None)
    if np.dtype(getattr(data, "dtype", np.float64)) != np.float32:
        return ""
    last = max((float(np.abs(t).max()) for t in times if len(t)), default=0.0)
    step = float(np.spacing(np.float32(last)))
    if step <= _SINGLE_ROUNDING_S:
        return ""
    return (f"{path} spike_times are {SINGLE} (float32): at {last:.0f} s they are rounded to "
            f"{step * 1e3:.2g} ms, so spikes near bin edges may fall in the neighbouring bin")
