"""Finding the Units table, the sound waveforms and their presentations in an NWB file.

Two layouts are recognised (``ReaderParams.layout``; ``"auto"`` picks the first present):

``templates``
    Sound waveforms as ``TimeSeries`` or ndx-sound ``AcousticWaveformSeries`` (matched by
    neurodata type name; ndx-sound need not be installed) in ``stimulus_template``, and a
    TimeIntervals table (``intervals/...`` or ``trials``) whose column ``sound``,
    ``stimulus``, ``stim_name`` (or a TimeSeriesReferenceVectorData column) names the sound
    of each row. Rows naming the same sound are repeats.
``continuous``
    One sound series in ``stimulus`` (``stimulus/presentation``) aligned to the session.
    A table naming segments (as above, or referencing the series) gives the segments; rows
    with the same name are repeats. Without such a table the sound is cut into segments
    of ``segment_s`` seconds, each presented once.

Nothing found raises :class:`NoSoundStimulusError` / :class:`NoUnitsError`; several
matches raise :class:`AmbiguousInputError`; both list what the file holds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import AmbiguousInputError, NoSoundStimulusError, NoUnitsError
from .inventory import (
    Inventory,
    Presentation,
    SoundSeries,
    TableInfo,
    inventory,
    pick_path,
)
from .presentations import continuous_presentations, template_presentations
from .reader_params import ReaderParams

__all__ = [
    "SoundSeries",
    "TableInfo",
    "Presentation",
    "Inventory",
    "Layout",
    "inventory",
    "locate",
]


@dataclasses.dataclass(frozen=True)
class Layout:
    """The reader's choice: units table, sounds and presentations."""

    kind: str
    units_path: str
    units: Any = dataclasses.field(repr=False)
    sounds: tuple[SoundSeries, ...]
    table: str
    column: str
    presentations: tuple[Presentation, ...]

    def describe(self) -> str:
        """One paragraph saying what will be read."""
        names = {p.sound for p in self.presentations}
        where = (
            f"{self.table} column {self.column!r}"
            if self.column
            else (self.table or "cut into segments of the sound")
        )
        return (
            f"units from {self.units_path}; {self.kind} layout: "
            f"{', '.join(s.path for s in self.sounds)}; {len(self.presentations)} presentations "
            f"of {len(names)} sounds from {where}"
        )

    def provenance(self) -> dict[str, Any]:
        """JSON-compatible summary for a site's ``source``."""
        return {
            "layout": self.kind,
            "units": self.units_path,
            "sounds": [s.path for s in self.sounds],
            "table": self.table,
            "column": self.column,
            "presentations": len(self.presentations),
        }


def _choose_units(inv: Inventory, name: str, params: ReaderParams) -> tuple[str, Any]:
    paths = [p for p, _ in inv.units]
    if params.units:
        chosen = pick_path(params.units, paths, "reader.units", name)
        return chosen, dict(inv.units)[chosen]
    if not inv.units:
        raise NoUnitsError(f"{name}: no Units table (looked in /units and every processing module)")
    if len(inv.units) > 1:
        raise AmbiguousInputError(
            f"{name}: several Units tables: {', '.join(paths)}; choose one with reader.units"
        )
    return inv.units[0]


def _select_sounds(
    found: tuple[SoundSeries, ...], inv: Inventory, name: str, params: ReaderParams
) -> tuple[SoundSeries, ...]:
    if not params.sounds:
        return found
    every = {s.path: s for s in (*inv.templates, *inv.continuous)}
    picked = [every[pick_path(w, list(every), "reader.sounds", name)] for w in params.sounds]
    return tuple(picked)


def locate(nwbfile: Any, name: str, params: ReaderParams | None = None) -> Layout:
    """Choose the Units table, the sounds and the presentations of ``nwbfile``.

    Parameters
    ----------
    nwbfile : NWBFile
        An open file.
    name : str
        How error messages name the file.
    params : ReaderParams, optional
        Overrides (object paths, column names, layout).

    Raises
    ------
    NoUnitsError, NoSoundStimulusError, AmbiguousInputError, InvalidDataError, ConfigError
    """
    params = params or ReaderParams()
    inv = inventory(nwbfile, params)
    units_path, units = _choose_units(inv, name, params)
    templates = _select_sounds(inv.templates, inv, name, params)
    continuous = _select_sounds(inv.continuous, inv, name, params)
    if params.sounds:
        templates = tuple(s for s in templates if s.place == "template")
        continuous = tuple(s for s in continuous if s.place == "continuous")
    kind = params.layout
    if kind == "auto":
        kind = "templates" if templates else "continuous" if continuous else ""
    if not kind or (kind == "templates" and not templates) or (kind == "continuous" and not continuous):
        raise NoSoundStimulusError(f"{name}: no sound stimulus ({inv.describe_sounds()})")
    if kind == "templates":
        info, column, pres = template_presentations(templates, inv, name, params)
        table = info.path
    else:
        if len(continuous) > 1:
            raise AmbiguousInputError(
                f"{name}: several continuous sounds: {', '.join(s.path for s in continuous)}; "
                "choose one with reader.sounds"
            )
        table, column, pres = continuous_presentations(continuous[0], inv, name, params)
    if not pres:
        raise NoSoundStimulusError(f"{name}: {table or 'the file'} lists no presentation of a sound")
    used = tuple({p.series.path: p.series for p in pres}.values())
    return Layout(kind, units_path, units, used, table, column, tuple(pres))
