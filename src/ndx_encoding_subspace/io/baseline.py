"""Rows where no sound played: baseline rows of a presentation table.

:func:`baseline_mask` marks the rows whose name says no sound played (empty, ``none``, NaN,
``baseline``, ``silence``: :data:`~.names.BASELINE_VALUES`) or that a flag or type column
marks so (``is_stimulus``, ``*baseline*``, ``trial_type``...), with the exceptions of
:func:`_typed` (the control trials of a condition, sounds heard in silence);
:func:`silenced_rows` and :attr:`Baseline.controls` say what such columns decided.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from .inventory import TableInfo, cells, is_ts_reference
from .names import (
    CONDITION_COLUMNS,
    STIMULUS_FLAG_COLUMNS,
    TYPE_COLUMNS,
    display_name,
    is_baseline_value,
    listing,
    name_key,
    name_words,
)
from .rows import RowRef

__all__ = ["CONTROL_ROWS", "SILENCED", "Baseline", "baseline_rows", "baseline_mask", "silenced_rows"]

_CONDITIONS = frozenset(name_key(c) for c in CONDITION_COLUMNS)
#: what the note of rows read whose type column says nothing or a background holds
CONTROL_ROWS = "are read as presentations"
#: what the note of rows naming a sound that a column marks as playing none holds (warned of)
SILENCED = "says no sound played there"
_SILENCED_SHOWN = 3
#: conditions under which sounds may play: the control part of a session, sounds in silence
#: (against sounds in noise)
_BACKGROUNDS = frozenset({"baseline", "silence", "silent", "quiet"})
#: values of a type column that say nothing of the row (its kind or condition left unsaid)
_UNSAID = frozenset({"", "none", "nan", "null", "n/a", "na", "-"})
#: words of a column name that make it a quantity, not a flag
_QUANTITY_WORDS = frozenset({"duration", "dur", "time", "times", "start", "stop", "end", "onset", "offset",
                             "length", "len", "s", "ms", "sec", "secs", "seconds", "rate", "count", "n",
                             "spikes", "mean", "std", "window", "period", "level", "db"})


def _flags(values: np.ndarray) -> np.ndarray | None:
    """Values as booleans when they are true/false or 0/1, else None."""
    if values.dtype.kind == "b":
        return values.astype(bool)
    if values.dtype.kind in "iuf" and np.all(np.isin(values[np.isfinite(values)], (0, 1))):
        return np.nan_to_num(values.astype(np.float64), nan=0.0) > 0
    if values.dtype.kind in "OSU":
        text = [name_key(v) for v in values]
        if set(text) <= {"true", "false", "1", "0", "yes", "no"}:
            return np.array([t in ("true", "1", "yes") for t in text])
    return None


def _value_key(value: Any) -> str:
    """A type column's cell as compared with :data:`_UNSAID` (None and NaN as empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return name_key(value)


def _flag_name(column: str) -> bool:
    """Whether ``column``, whose name holds ``baseline``, can be a flag: not a quantity
    (``baseline_duration``, ``baseline_start_s``, ``n_baseline_spikes``...)."""
    return not name_words(column) & _QUANTITY_WORDS


def _typed(column: str, values: np.ndarray, refs: list[RowRef], mask: np.ndarray,
           names_sound: Callable[[RowRef], bool] | None, named: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows a type column marks baseline, and the rows its baseline values leave to what
    they name under the rules added since the first release (:data:`CONTROL_ROWS`).

    In a column of conditions (``phase``, ``condition``...:
    :data:`~.names.CONDITION_COLUMNS`), a value that says nothing (empty, ``none``, NaN:
    :data:`_UNSAID`; ``condition = none`` in the control trials of an experiment with a
    laser) marks no row that names a sound (``named``: its names are the sounds', not row
    labels); ``baseline`` there is often the control part of a session in which the sounds
    played, and ``silence`` the sounds heard in silence rather than in noise
    (:data:`_BACKGROUNDS`): they mark no row naming a sound that plays in other rows or
    (``names_sound``) a stored sound. Other values that say no sound played (``blank``,
    ``spontaneous``) mark baseline rows whatever they name (catch trials fill the name
    too), and so does every baseline value in a column of row kinds (``trial_type``,
    ``stim_type = none``); :func:`silenced_rows` names such rows."""
    typed = np.array([is_baseline_value(v) for v in values], dtype=bool)
    none = np.zeros(len(typed), dtype=bool)
    if name_key(column) not in _CONDITIONS:
        return typed, none
    keys_of = [_value_key(v) for v in values]
    unsaid = np.array([v in _UNSAID for v in keys_of], dtype=bool)
    control = unsaid | np.array([v in _BACKGROUNDS for v in keys_of], dtype=bool)
    if not (typed & control).any():
        return typed, none
    keys = [r.object_id or ("" if is_baseline_value(r.key) else name_key(r.key)) for r in refs]
    played = {k for k, t, m in zip(keys, typed, mask, strict=True) if k and not (t or m)}
    heard = np.array([bool(k) and (k in played or (names_sound is not None and names_sound(r)))
                      for k, r in zip(keys, refs, strict=True)], dtype=bool)
    # an unsaid condition leaves the row to what it names; "baseline" needs a sound heard elsewhere
    spoken = np.array([named and bool(k) for k in keys], dtype=bool) & unsaid
    final = typed & ~((control & heard) | spoken)
    rescued = typed & ~final & np.array([v != "baseline" for v in keys_of], dtype=bool)  # new rules only
    return final, rescued


def silenced_rows(refs: list[RowRef], baseline: np.ndarray,
                  names_sound: Callable[[RowRef], bool] | None = None) -> tuple[list[str], int]:
    """Names of the rows (up to three, and their count) that ``baseline`` marks (a flag or
    type column said no sound played) while naming a sound: one that plays in other rows,
    or (``names_sound``) a stored one."""
    keys = ["" if r.object_id or is_baseline_value(r.key) else name_key(r.key) for r in refs]
    played = {k for k, b in zip(keys, baseline, strict=True) if k and not b}
    rows = [r.key for r, k, b in zip(refs, keys, baseline, strict=True)
            if b and k and (k in played or (names_sound is not None and names_sound(r)))]
    return list(dict.fromkeys(display_name(k) for k in rows))[:_SILENCED_SHOWN], len(rows)


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Rows where no sound played (``mask``), the flag or type column that said so
    (``flag``, '' when only names did), and the note of the rows that column's baseline
    values leave to what they name under the rules added since the first release
    (``controls``, '' when none: it holds :data:`CONTROL_ROWS`)."""

    mask: np.ndarray
    flag: str = ""
    controls: str = ""


def baseline_rows(info: TableInfo, refs: list[RowRef],
                  names_sound: Callable[[RowRef], bool] | None = None, named: bool = True) -> Baseline:
    """Rows where no sound played (:class:`Baseline`).

    A row is baseline when what it names is empty, ``none``, NaN, ``baseline``, ``silence``
    (:data:`~.names.BASELINE_VALUES`), or when a flag column says so: true in a column whose
    name holds ``baseline`` (not a quantity such as ``baseline_duration``), false in
    :data:`~.names.STIMULUS_FLAG_COLUMNS`, a baseline value in :data:`~.names.TYPE_COLUMNS`
    (but not, in a column of conditions, ``none`` or empty for a row naming a sound when
    ``named``, nor ``baseline`` or ``silence`` for a row naming a sound played in other rows
    or one for which ``names_sound`` is true: :func:`_typed`).
    """
    mask = np.array([not r.object_id and is_baseline_value(r.key) for r in refs], dtype=bool)
    controls = ""
    for col in info.columns:
        low = col.lower()
        if not (("baseline" in low and _flag_name(col)) or low in STIMULUS_FLAG_COLUMNS
                or low in TYPE_COLUMNS):
            continue
        target = info.table[col]
        if isinstance(target, VectorIndex) or is_ts_reference(target):
            continue
        values = np.asarray(cells(target))
        if low in TYPE_COLUMNS:
            if values.dtype.kind in "OSU":
                typed, rescued = _typed(col, values, refs, mask, names_sound, named)
                if rescued.any() and not controls:
                    said = listing([repr(v) for v in dict.fromkeys(map(_value_key, values[rescued]))], 3)
                    controls = (f"{int(rescued.sum())} rows of {info.path} whose column {col!r} says {said} "
                                f"name a sound and {CONTROL_ROWS}")
                if typed.any():
                    return Baseline(mask | typed, col, controls)
            continue
        flags = _flags(values)
        if flags is not None:
            return Baseline(mask | (flags if "baseline" in low else ~flags), col, controls)
    return Baseline(mask, "", controls)


def baseline_mask(info: TableInfo, refs: list[RowRef],
                  names_sound: Callable[[RowRef], bool] | None = None,
                  named: bool = True) -> tuple[np.ndarray, str]:
    """:func:`baseline_rows`' mask and flag column."""
    found = baseline_rows(info, refs, names_sound, named)
    return found.mask, found.flag
