"""Presentation tables that give stimulus parameters instead of sound waveforms.

Tuning-curve sessions often store no waveform at all: a TimeIntervals table (``trials`` or
``intervals/...``), or a DynamicTable with an onset column (``presentation_time``...)
anywhere in the file, lists each tone's frequency, level (or attenuation) and duration.
:func:`parameter_tables` finds such columns, :func:`no_waveform_message` turns them into the
reader's error when no waveform is found, and
:func:`~ndx_encoding_subspace.io.tones.synthesize_tones` (with
``reader.synthesize_tones = true``) builds the pure tone of every row so that the site
can be read like one with ``stimulus_template`` sounds.

Columns are recognised by the words of their names (``frequency``, ``freq``,
``tone_frequency``, ``toneFreq_kHz``; ``level``, ``intensity``, ``db``, ``db_spl``;
``attenuation``, ``atten``; ``duration``, ``dur``), not when a word says they are
something else (``freq_index``, ``am_frequency``, ``trial_duration``, ``ramp_duration``).
Units come from the name or the column's description (``kHz``, ``ms``), else from the
values (frequencies all below 100: kHz; durations above 10: ms), and the description of
the column says when they were assumed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import DynamicTableRegion, VectorIndex

from .inventory import inventory

__all__ = [
    "LEVELS_DIFFER",
    "level_note",
    "PARAMETER_WORDS",
    "ParameterColumn",
    "ParameterTable",
    "parameter_tables",
    "no_waveform_message",
    "numeric_values",
]

#: Words of a column name that make it a stimulus-parameter column of each kind.
PARAMETER_WORDS: dict[str, frozenset[str]] = {
    "frequency": frozenset({"frequency", "frequencies", "freq", "freqs", "khz"}),
    "attenuation": frozenset({"attenuation", "atten", "attn"}),
    "level": frozenset({"level", "levels", "intensity", "db", "dbspl", "spl"}),
    "duration": frozenset({"duration", "durations", "dur"}),
}
#: Words that make a column something else (an index, a modulation, a trial's timing).
_NOT_PARAMETER = frozenset({
    "index", "idx", "id", "num", "number", "octave", "octaves", "oct", "modulation", "mod", "am",
    "fm", "sampling", "sample", "rate", "trial", "iti", "isi", "ramp", "rise", "fall", "window",
    "gap", "silence", "response", "noise", "snr", "bandwidth",
})
_TO_SI = {"Hz": 1.0, "kHz": 1000.0, "dB": 1.0, "s": 1.0, "ms": 1e-3}


@dataclasses.dataclass(frozen=True)
class ParameterColumn:
    """One stimulus-parameter column of a presentation table.

    Attributes
    ----------
    name : str
        Column name as in the file.
    kind : str
        ``"frequency"``, ``"level"``, ``"attenuation"`` or ``"duration"``.
    unit : str
        ``"Hz"``/``"kHz"``, ``"dB"``, ``"s"``/``"ms"``.
    assumed : bool
        The unit was guessed from the values (neither name nor description gave it).
    values : ndarray of float, shape (rows,)
        The values as stored (NaN where a row has none).
    """

    name: str
    kind: str
    unit: str
    assumed: bool
    values: np.ndarray = dataclasses.field(repr=False, compare=False)

    @property
    def si(self) -> np.ndarray:
        """The values in Hz, dB or seconds."""
        return self.values * _TO_SI[self.unit]

    def describe(self) -> str:
        """One phrase: name, kind, range, unit, distinct values."""
        finite = self.values[np.isfinite(self.values)]
        if not finite.size:
            span = f"no values, {self.unit}"
        elif finite.min() == finite.max():
            span = f"{finite.min():g} {self.unit}"
        else:
            span = f"{finite.min():g}-{finite.max():g} {self.unit}"
        guess = ", unit assumed from the values" if self.assumed else ""
        return f"{self.name!r} ({self.kind}, {span}, {np.unique(finite).size} distinct{guess})"


@dataclasses.dataclass(frozen=True)
class ParameterTable:
    """A presentation table (with an onset column) with stimulus-parameter columns.

    Attributes
    ----------
    path : str
        Object path in the file, e.g. ``"intervals/trials"``.
    rows : int
        Number of rows (presentations).
    columns : tuple of ParameterColumn
        The stimulus-parameter columns found, in the table's order.
    table : TimeIntervals or DynamicTable
        The table itself.
    onset, stop : str
        Its columns of each row's onset and end (``stop`` empty: none), as
        :class:`~.inventory.TableInfo` finds them (``start_time``, ``presentation_time``...).
    """

    path: str
    rows: int
    columns: tuple[ParameterColumn, ...]
    table: Any = dataclasses.field(compare=False, repr=False)
    onset: str = "start_time"
    stop: str = "stop_time"

    def column(self, kind: str) -> ParameterColumn | None:
        """The first column of ``kind`` (``"frequency"``, ``"level"``, ...), or None."""
        return next((c for c in self.columns if c.kind == kind), None)

    def describe(self) -> str:
        """One line: path, rows and the parameter columns."""
        return f"{self.path} ({self.rows} rows; {', '.join(c.describe() for c in self.columns)})"


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z]{2})(?=[A-Z])", "_", name)  # toneFreq_kHz: tone, freq, khz
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _kind(name: str) -> str | None:
    words = set(_words(name))
    if words & _NOT_PARAMETER:
        return None
    return next((kind for kind, known in PARAMETER_WORDS.items() if words & known), None)


def _unit(kind: str, name: str, description: str, values: np.ndarray) -> tuple[str, bool]:
    words = set(_words(name)) | set(_words(description))
    finite = values[np.isfinite(values)]
    if kind == "frequency":
        if "khz" in words:
            return "kHz", False
        if "hz" in words or "hertz" in words:
            return "Hz", False
        return ("kHz" if finite.size and finite.max() < 100 else "Hz"), True
    if kind == "duration":
        if words & {"ms", "msec", "millisecond", "milliseconds"}:
            return "ms", False
        if words & {"s", "sec", "second", "seconds"}:
            return "s", False
        return ("ms" if finite.size and finite.max() > 10 else "s"), True
    return "dB", False


def numeric_values(column: Any) -> np.ndarray | None:
    """A column's values as 1-D float64, or None when it is not one number per row."""
    if isinstance(column, VectorIndex | DynamicTableRegion):
        return None
    try:
        values = np.asarray(column.data[:], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return values if values.ndim == 1 else None


def _parameter_columns(table: Any, times: tuple[str, ...]) -> tuple[ParameterColumn, ...]:
    found = []
    for name in table.colnames:
        kind = _kind(name)
        if kind is None or name in ("start_time", "stop_time", *times):
            continue
        values = numeric_values(table[name])
        if values is None:
            continue
        unit, assumed = _unit(kind, name, str(getattr(table[name], "description", "") or ""), values)
        found.append(ParameterColumn(name, kind, unit, assumed, values))
    return tuple(found)


#: what :func:`level_note` says (the reader warns of layout notes holding it)
LEVELS_DIFFER = "differ in level"


def level_note(table: Any, path: str, rows: Sequence[int], sounds: Sequence[str],
               times: tuple[str, ...]) -> str:
    """A note when presentations of one sound (``sounds[i]`` played at row ``rows[i]``)
    differ in a level or attenuation column of ``table`` ('' when none do): they are read as
    repeats of one sound, from the waveform as stored."""
    columns = [c for c in _parameter_columns(table, times) if c.kind in ("level", "attenuation")]
    for column in columns:
        seen: dict[str, set[float]] = {}
        for row, sound in zip(rows, sounds, strict=True):
            value = float(column.values[row])
            if np.isfinite(value):
                seen.setdefault(sound, set()).add(round(value, 6))
        differ = {k: sorted(v) for k, v in seen.items() if len(v) > 1}
        if differ:
            name, values = next(iter(differ.items()))
            said = ", ".join(f"{v:g}" for v in values[:5])
            return (f"presentations of {len(differ)} sound(s) {LEVELS_DIFFER} ({path} column "
                    f"{column.name!r}; e.g. {name!r} at {said} {column.unit}) and are read as repeats "
                    "of one sound, its waveform as stored: keep one level (reader.presentations on a "
                    "table of those rows) if the waveforms do not already hold the levels")
    return ""


def parameter_tables(nwbfile: Any) -> list[ParameterTable]:
    """The presentation tables of ``nwbfile`` that hold stimulus-parameter columns.

    Parameters
    ----------
    nwbfile : NWBFile
        An open file; every table with times is looked at: TimeIntervals (``intervals``,
        ``trials``, ``epochs``) and DynamicTables with an onset column
        (:data:`~.names.ONSET_COLUMNS`) in acquisition, stimulus or processing modules.

    Returns
    -------
    list of ParameterTable
        Tables with an onset column and at least one numeric column recognised as
        frequency, level, attenuation or duration (see the module docstring), in the
        file's order. Tables without an onset column cannot say when a tone played and
        are not offered.
    """
    out = []
    for info in inventory(nwbfile).tables:
        if not info.onset:
            continue
        columns = _parameter_columns(info.table, (info.onset, info.stop))
        if columns:
            out.append(ParameterTable(info.path, info.rows, columns, info.table, info.onset, info.stop))
    return out


def no_waveform_message(name: str, tables: Sequence[ParameterTable], found: str = "",
                        waveforms: bool = False) -> str:
    """The reader's error message when the file holds no usable sound waveform.

    Parameters
    ----------
    name : str
        How the message names the file.
    tables : sequence of ParameterTable
        From :func:`parameter_tables`; may be empty.
    found : str, optional
        What the file holds that could have been sounds (``Inventory.describe_sounds()``).
    waveforms : bool, optional
        Whether the file holds sound waveforms (that no table names): the message then
        says how to name them instead of how to store them.

    Returns
    -------
    str
        Names the parameter columns found and says how to supply waveforms: a
        ``stimulus_template`` series per sound named in a presentation column, or
        ``reader.synthesize_tones = true`` when a table has a frequency column.
    """
    head = f"{name}: no sound stimulus" + (f" ({found})" if found else "")
    supply = (
        "store each sound's waveform as a TimeSeries in stimulus_template and name it in a "
        "column (sound, stimulus, stim_name) of the presentation table"
    )
    if waveforms and not tables:
        return (f"{head}: name each presentation's sound in a column (sound, stimulus, stim_name) of its "
                "table, or give that column with reader.sound_column and the table with reader.presentations")
    if not tables:
        return (
            f"{head}; no presentation table has stimulus-parameter columns (frequency, level, "
            f"attenuation, duration) either: {supply}"
        )
    listing = "; ".join(t.describe() for t in tables)
    if any(t.column("frequency") is not None for t in tables):
        option = (
            ", or set reader.synthesize_tones = true to build a pure tone for each row from "
            "these columns (reader.tone_sample_rate, reader.tone_reference_db, reader.tone_ramp_ms)"
        )
    else:
        option = " (reader.synthesize_tones needs a frequency column, and none was found)"
    return f"{head}; stimulus parameters without waveforms in {listing}: {supply}{option}"
