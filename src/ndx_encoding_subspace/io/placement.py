"""Where each unit lies: depth (um) and area, from units columns or the electrodes table.

Depth: a ``depth`` column (numbers, or text such as ``"350 um"`` or ``"0.35 mm"``), else
the electrodes' first of ``rel_y`` (the position along the probe) and ``y`` (NWB's brain
coordinate, +y inferior) not all zero (placeholders) at the unit's electrodes (the
channel of its largest waveform when there is one per electrode, else their mean), at a
``max_channel``-like column, or at its ``electrode_group`` when that lies at one depth.
``rel_y`` grows toward the probe's top as probeinterface, spikeinterface and neuroconv
write it (``reader.rel_y_direction = "up"``): depth is then measured down from the
highest contact of the unit's electrode group (each probe or shank its own). ``z`` (left
to right in NWB) and ``x`` are no depth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from ..errors import InvalidDataError
from .names import listing
from .waveforms import ragged

__all__ = ["placement", "text_column"]

_DEPTH_COLUMNS = ("depth", "depth_um", "unit_depth")
_AREA_COLUMNS = ("area", "location", "brain_area", "brain_region")
_ELECTRODE_DEPTH = ("rel_y", "y")
FROM_TOP = "measured down from the highest contact"
#: how neuroconv's Phy and Kilosort interfaces describe the ``depth`` they copy from the
#: sorting's cluster table: the y of the probe's channel positions, growing from the tip up
ALONG_PROBE = "Estimated depth of each unit in micrometers."
#: what the note of such a column says (a rule of reading: results made before are made again)
PHY_DEPTH = "Phy's and Kilosort's position along the probe"
#: Units columns naming the electrodes-table row of a unit's largest channel.
_CHANNEL_COLUMNS = ("max_channel", "peak_channel", "extremum_channel", "main_channel", "max_electrode", "ch")

def _column(units: Any, names: Sequence[str]) -> tuple[str, Any] | None:
    for c in units.colnames:
        if c.lower() in names and not isinstance(units[c], VectorIndex):
            return c, units[c]
    return None


def text_column(values: Any) -> np.ndarray:
    def one(v: Any) -> str:
        if isinstance(v, bytes):
            return v.decode()
        return v if isinstance(v, str) else str(getattr(v, "name", v))

    return np.array([one(v) for v in values], dtype=object)


# --------------------------------------------------------------------------- electrodes
def _electrodes_table(units: Any) -> Any:
    """The file's electrodes table, found through the units' region or their parents."""
    if "electrodes" in units.colnames:
        index = units["electrodes"]
        return (index.target if isinstance(index, VectorIndex) else index).table
    obj = units
    for _ in range(4):
        obj = getattr(obj, "parent", None)
        if obj is None:
            return None
        table = getattr(obj, "electrodes", None)
        if table is not None and hasattr(table, "colnames"):
            return table
    return None


def _position(table: Any, rel_y_direction: str) -> tuple[str, np.ndarray, str] | None:
    """The first electrode depth column that is not all zero (placeholders) or NaN: its
    name, the depths it gives (``rel_y`` growing upward: down from the highest contact)
    and how they were read."""
    for col in _ELECTRODE_DEPTH:
        if col in table.colnames:
            values = np.asarray(table[col].data[:], dtype=np.float64)
            finite = values[np.isfinite(values)]
            if finite.size and np.any(finite != 0):
                if col != "rel_y" or rel_y_direction == "down":
                    return col, values, " (+y inferior)" if col == "y" else " (growing with depth)"
                return col, _down_from_top(table, values), (
                    f", {FROM_TOP} (rel_y grows toward the probe's top as probeinterface writes it; "
                    "reader.rel_y_direction = 'down' if it grows with depth)")
    return None


def _down_from_top(table: Any, values: np.ndarray) -> np.ndarray:
    """``rel_y`` as depth below the highest contact of each electrode group (of the whole
    table without a ``group`` column)."""
    groups = text_column(table["group"].data[:]) if "group" in table.colnames else np.zeros(len(values))
    out = np.full(values.shape, np.nan)
    for g in np.unique(groups):
        rows = groups == g
        finite = values[rows][np.isfinite(values[rows])]
        if finite.size:
            out[rows] = finite.max() - values[rows]
    return out


def _below_top(position: np.ndarray, table: Any) -> tuple[np.ndarray, bool]:
    """Positions along the probe (growing toward its top) as depths below its highest contact
    (the electrodes' ``rel_y``), or below the highest position where the file has none; and
    whether the contacts gave the top."""
    contacts = np.asarray(table["rel_y"].data[:], dtype=np.float64) if table is not None and \
        "rel_y" in table.colnames else np.zeros(0)
    contacts = contacts[np.isfinite(contacts)]
    known = position[np.isfinite(position)]
    top = contacts.max() if contacts.size and np.any(contacts != 0) else None
    if top is None and not known.size:
        return position, False
    return (top if top is not None else known.max()) - position, top is not None


def _unit_electrodes(units: Any, n: int, table: Any, main: list[tuple[int, int] | None],
                     label: str = "", path: str = "units") -> tuple[list, str]:
    """Electrode rows of each unit and how they were chosen ('' when none).

    Raises
    ------
    InvalidDataError
        A unit's ``electrodes`` name a row the electrodes table does not have.
    """
    if "electrodes" in units.colnames:
        size = len(table) if table is not None else 0
        rows = [np.asarray(r, dtype=np.int64) for r in ragged(units["electrodes"], n)]
        bad = [i for i, r in enumerate(rows) if ((r >= size) | (r < -1)).any()]
        if bad and table is not None:
            ids, first = np.asarray(units.id.data[:]), rows[bad[0]]
            row = int(first[(first >= size) | (first < -1)][0])
            raise InvalidDataError(
                f"{label}: the electrodes of units {listing([int(ids[i]) for i in bad])} in {path} "
                f"name rows such as {row} that the electrodes table ({size} rows) does not have: "
                "a damaged file?")
        rows = [r[(r >= 0) & (r < size)] for r in rows]  # -1: no electrode
        for i, m in enumerate(main):
            if m is not None and len(rows[i]) == m[1] > 1:
                rows[i] = rows[i][m[0]:m[0] + 1]
        return rows, "the units' electrodes"
    found = _column(units, _CHANNEL_COLUMNS)
    if found is not None and table is not None:
        try:
            values = np.asarray(found[1].data[:], dtype=np.float64)
        except (TypeError, ValueError):
            return [np.zeros(0, np.int64)] * n, ""
        ok = np.isfinite(values) & (values >= 0) & (values < len(table))
        return [np.array([int(v)]) if k else np.zeros(0, np.int64) for v, k in zip(values, ok)], (
            f"units column {found[0]!r} (rows of the electrodes table)"
        )
    return [np.zeros(0, np.int64)] * n, ""


def _by_group(units: Any, n: int, table: Any, position: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Depth (where the unit's electrode group lies at one depth) and location of each group."""
    depth, area = np.full(n, np.nan), np.full(n, "", dtype=object)
    groups = list(units["electrode_group"].data[:])
    names = text_column(table["group"].data[:]) if table is not None and "group" in table.colnames else None
    for i, group in enumerate(groups):
        area[i] = str(getattr(group, "location", "") or "")
        if names is not None and position is not None:
            at = np.unique(position[(names == getattr(group, "name", "")) & np.isfinite(position)])
            depth[i] = at[0] if at.size == 1 else np.nan
    return depth, area


_DEPTH_TEXT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(um|µm|μm|microns?|mm)?\s*$",
                         re.IGNORECASE)


def _depths_fromtext_column(values: Any, n: int) -> np.ndarray:
    """Depths in um from text such as ``"350"``, ``"350 um"`` or ``"0.35 mm"`` (NaN where a
    value says something else)."""
    out = np.full(n, np.nan)
    for i, value in enumerate(list(values)[:n]):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        match = _DEPTH_TEXT.match(text)
        if match:
            scale = 1000.0 if (match.group(2) or "").lower() == "mm" else 1.0
            out[i] = float(match.group(1)) * scale
    return out


def placement(
    units: Any, n: int, main: list[tuple[int, int] | None], rel_y_direction: str = "up",
    label: str = "", path: str = "units",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Depth and area of every unit from columns or electrodes, and notes on their source
    (``rel_y_direction``: :attr:`~.reader_params.ReaderParams.rel_y_direction`; ``label``:
    the file, and ``path``, the Units table's, for messages)."""
    depth, area, notes = np.full(n, np.nan), np.full(n, "", dtype=object), []
    col = _column(units, _DEPTH_COLUMNS)
    if col is not None:
        try:
            depth = np.array(col[1].data[:], dtype=np.float64)  # a copy: gaps are filled below
            notes.append(f"depth from units column {col[0]!r}")
        except (TypeError, ValueError):
            depth = _depths_fromtext_column(col[1].data[:], n)
            notes.append(f"depth from units column {col[0]!r}, read from text in um or mm"
                         if np.isfinite(depth).any() else
                         f"units column {col[0]!r} is not numeric: not taken for depth")
    table = _electrodes_table(units)
    if col is not None and getattr(col[1], "description", "") == ALONG_PROBE and rel_y_direction == "up":
        depth, top = _below_top(depth, table)
        below = FROM_TOP if top else "measured down from the highest unit"
        notes[-1] += (f" ({PHY_DEPTH}, growing toward its top, as neuroconv writes it): {below} "
                      "(reader.rel_y_direction = 'down' if it grows with depth)")
    col = _column(units, _AREA_COLUMNS)
    if col is not None:
        area = text_column(col[1].data[:])
    position = _position(table, rel_y_direction) if table is not None else None
    rows, how = _unit_electrodes(units, n, table, main, label, path)
    if how and table is not None:
        values = position[1] if position is not None else np.full(len(table), np.nan)
        where = text_column(table["location"].data[:]) if "location" in table.colnames else None
        missing = ~np.isfinite(depth)
        for i in range(n):
            if missing[i] and len(rows[i]):
                depth[i] = float(np.mean(values[rows[i]]))
            if where is not None and not area[i] and len(rows[i]):
                area[i] = where[rows[i][0]]
        if position is not None and missing.any():
            notes.append(f"depth from the electrodes' {position[0]!r} at {how}{position[2]}")
    elif "electrode_group" in units.colnames:
        g_depth, g_area = _by_group(units, n, table, position[1] if position is not None else None)
        if np.isfinite(g_depth).any() and not np.isfinite(depth).all():
            notes.append(f"depth from the electrodes' {position[0]!r} of each unit's electrode_group"
                         f"{position[2]}")
        depth = np.where(np.isfinite(depth), depth, g_depth)
        area = np.where(area == "", g_area, area).astype(object)
    if not np.isfinite(depth).all():
        lacking = "electrode positions are all 0 or absent" if position is None else "no electrode for them"
        notes.append(f"depth unknown for {int((~np.isfinite(depth)).sum())} of {n} units ({lacking})")
    return depth, area, notes


# --------------------------------------------------------------------------- properties
