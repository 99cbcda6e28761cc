"""Finding the Units table, the sound waveforms and their presentations in an NWB file.

The layouts of sound presentations are modules of :mod:`~ndx_encoding_subspace.io.layouts`:
``templates``, ``continuous``, ``series`` and ``segments``. With ``reader.layout = "auto"``
they are tried in the order of :data:`~ndx_encoding_subspace.io.layouts.ORDER` and the
first that recognises the file wins; the :class:`Layout` says which, why, what it left
unused, and the names in the file that matched no sound (counted; the first
:data:`~.names.UNMATCHED_SHOWN` kept). ``reader.layout`` forces one
(``continuous`` falls back to ``segments`` when no table names what played); the other
``reader`` fields (``sounds``, ``presentations``, ``sound_column``) win inside every layout.

Nothing found raises :class:`NoSoundStimulusError` / :class:`NoUnitsError`; several
matches raise :class:`AmbiguousInputError`; both list what the file holds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import (
    AmbiguousInputError,
    ConfigError,
    InputError,
    InvalidDataError,
    NoSoundStimulusError,
    NoUnitsError,
)
from .choose import named_by, pick_path, pick_paths
from .conditions import complete_only, condition_note, select, valid_only
from .inventory import (
    Inventory,
    Presentation,
    SoundSeries,
    TableInfo,
    inventory,
)
from .layouts import DETECTORS, FALLBACKS, ORDER, Candidate, Context
from .layouts.base import from_tracks
from .layouts.templates import KIND as TEMPLATES
from .names import UNMATCHED_SHOWN, looks_like_file, name_key
from .onset_names import named_at_onsets
from .parameters import no_waveform_message, parameter_tables
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

_SHOWN = 6  # series named in a description before "... and N more"


@dataclasses.dataclass(frozen=True)
class Layout:
    """The reader's choice: units table, sounds and presentations, and why.

    Attributes
    ----------
    kind : str
        The layout (see :mod:`~ndx_encoding_subspace.io.layouts`).
    reason : str
        Why this layout was chosen.
    unmatched : tuple of str
        The first :data:`~.names.UNMATCHED_SHOWN` names in the presentation table that
        matched no sound (rows left out).
    n_unmatched : int
        How many different names matched no sound.
    unused : tuple of str
        Every object of the file the reader leaves unused, as ``path (type)``.
    notes : tuple of str
        Baseline rows skipped, repeats found by hashing, fixed segments...
    onset : str
        The table's column of the onsets ('' without a table).
    tables : tuple of str
        Every table read, where the presentations come from several; empty otherwise.
    """

    kind: str
    units_path: str
    units: Any = dataclasses.field(repr=False)
    sounds: tuple[SoundSeries, ...]
    table: str
    column: str
    presentations: tuple[Presentation, ...]
    reason: str = ""
    unmatched: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    n_unmatched: int = 0
    onset: str = ""
    tables: tuple[str, ...] = ()

    @property
    def unmatched_count(self) -> int:
        """How many different names matched no sound (at least those kept)."""
        return max(self.n_unmatched, len(self.unmatched))

    def repeats(self) -> dict[str, int]:
        """Presentations of each sound, in order of first presentation."""
        out: dict[str, int] = {}
        for p in sorted(self.presentations, key=lambda p: (p.start, p.row)):
            out[p.sound] = out.get(p.sound, 0) + 1
        return out

    def describe(self) -> str:
        """One paragraph saying what will be read and why."""
        counts = self.repeats()
        repeated = sum(1 for n in counts.values() if n >= 2)
        where = (
            f"{self.table} column {self.column!r}" if self.column else (self.table or "the series themselves")
        )
        if self.kind == "segments":
            where = "fixed segments of the sound"
        shown = ", ".join(s.path for s in self.sounds[:_SHOWN])
        if len(self.sounds) > _SHOWN:
            shown += f" and {len(self.sounds) - _SHOWN} more"
        text = (
            f"units from {self.units_path}; {self.kind} layout ({self.reason}): {shown}; "
            f"{len(self.presentations)} presentations of {len(counts)} sounds ({repeated} repeated) "
            f"from {where}"
        )
        if self.notes:
            text += "; " + "; ".join(self.notes)
        if self.unmatched:
            more = self.unmatched_count - len(self.unmatched)
            text += f"; names matching no sound: {', '.join(self.unmatched)}"
            text += f" and {more} more" if more else ""
        return text

    def provenance(self) -> dict[str, Any]:
        """JSON-compatible summary for a site's ``source``."""
        return {
            "layout": self.kind,
            "reason": self.reason,
            "units": self.units_path,
            "sounds": [s.path for s in self.sounds],
            "table": self.table,
            "column": self.column,
            **({"tables": list(self.tables)} if self.tables else {}),
            "presentations": len(self.presentations),
            "unmatched": list(self.unmatched),
            "unmatched_count": self.unmatched_count,
            "notes": list(self.notes),
        }


def _choose_units(inv: Inventory, name: str, params: ReaderParams) -> tuple[str, Any]:
    paths = [p for p, _ in inv.units]
    if params.units:
        chosen = pick_path(params.units, paths, "reader.units", name)
        return chosen, dict(inv.units)[chosen]
    if not inv.units:
        raise NoUnitsError(f"{name}: no Units table (looked in /units and every processing module)")
    spiking = [(p, u) for p, u in inv.units if "spike_times" in u.colnames]
    if len(inv.units) > 1 and len(spiking) == 1:  # the others label units (curation) or hold no spikes
        return spiking[0]
    if len(inv.units) > 1:
        raise AmbiguousInputError(
            f"{name}: several Units tables: {', '.join(paths)}; choose one with reader.units"
        )
    return inv.units[0]


def _context(nwbfile: Any, inv: Inventory, name: str, params: ReaderParams) -> Context:
    templates, tracks = inv.templates, inv.continuous
    if params.sounds:
        every = {s.path: s for s in (*inv.templates, *inv.continuous)}
        paths = [p for w in params.sounds for p in pick_paths(w, list(every), "reader.sounds", name)]
        picked = [every[p] for p in dict.fromkeys(paths)]
        templates = tuple(s for s in picked if s.place == "template")
        tracks = tuple(s for s in picked if s.place == "continuous")
    ctx = Context(inv, name, params, templates, tracks, nwbfile)
    if templates or not _presented(tracks):
        return ctx
    as_templates = dataclasses.replace(ctx, templates=tuple(dataclasses.replace(s, place="template")
                                                            for s in tracks))
    if _stacked(tracks) or _named_by_table(as_templates):  # waveforms added with add_stimulus
        return as_templates
    for renamed, note in named_at_onsets(as_templates.templates, ctx.tables(), params.sound_column):
        named = dataclasses.replace(as_templates, templates=renamed, notes=(note,))
        if _named_by_table(named):  # neuroconv's AudioInterface beside a table naming the files
            return named
    return ctx


def _presented(tracks: tuple[SoundSeries, ...]) -> bool:
    """Whether ``tracks`` are several series of ``stimulus/presentation`` (or ndx-sound ones
    of ``acquisition``), all with a rate."""
    return len(tracks) > 1 and all(from_tracks(s) and s.rate for s in tracks)


def _named_by_table(ctx: Context) -> bool:
    """Whether a table names the series of ``stimulus/presentation`` (``ctx.templates``)
    as the sounds of rows they do not each hold alone: a series named by several rows, or
    by a row beginning away from the series' own start (neuroconv's ``AudioInterface``
    given each sound once, at its first presentation, beside a table of every
    presentation). The table then says what played when, and the series are its templates.
    A table naming each series once, at its own start, says what the series layout reads
    (repeats found by their samples), and a table that cannot be read so leaves the series
    to the other layouts; unless ``reader.presentations`` names the table or
    ``reader.layout`` is ``templates``."""
    from .layouts import templates

    if ctx.params.layout not in ("auto", templates.KIND):
        return False
    try:
        found = templates.detect(ctx)
    except (InputError, ConfigError):  # not the series' table: the other layouts say why
        return False
    if not isinstance(found, Candidate) or not found.presentations:
        return False
    if ctx.params.presentations or ctx.params.layout == templates.KIND:  # read as the user asked
        return True
    rows: dict[str, int] = {}
    for p in found.presentations:
        rows[p.series.path] = rows.get(p.series.path, 0) + 1
    return max(rows.values()) > 1 or any(abs(p.start - p.series.starting_time) > templates.SAME_TIME_S
                                         for p in found.presentations)


def _stacked(tracks: tuple[SoundSeries, ...]) -> bool:
    """Whether ``tracks`` (series of ``stimulus/presentation``) all begin at the same time:
    they cannot each be the sound of the session then, and are the sounds' waveforms
    stored where pynwb's ``add_stimulus`` puts them (tried as templates)."""
    return len({round(s.starting_time, 3) for s in tracks}) == 1


def _detect(ctx: Context) -> Candidate:
    """Run the layouts (the chosen one, or all in order); the first candidate wins.

    Nothing found: the error says what the file holds, why each layout did not apply,
    and which columns describe the sounds by parameters (:mod:`.parameters`).
    """
    for option in ("sound_column", "onset_column"):
        wanted = getattr(ctx.params, option)
        if wanted and not any(wanted in info.columns for info in ctx.tables()):
            raise ConfigError(f"{ctx.name}: reader.{option} = {wanted!r} matches no column of a "
                              f"presentation table ({ctx.describe_tables()})")
    chosen = ctx.params.layout
    kinds = ORDER if chosen == "auto" else (chosen, *FALLBACKS.get(chosen, ()))
    why: list[str] = []
    for kind in kinds:
        found = DETECTORS[kind](ctx)
        if isinstance(found, Candidate):
            if not found.presentations:
                why.append(f"{kind}: {found.table or 'the file'} lists no presentation of a sound")
                continue
            if ctx.notes and kind == TEMPLATES:
                found = dataclasses.replace(found, notes=(*ctx.notes, *found.notes))
            if chosen not in ("auto", kind):
                said = "; ".join(why) or f"{chosen}: nothing of this layout"
                note = f"reader.layout = {chosen!r} did not apply ({said}): read as {kind}"
                found = dataclasses.replace(found, notes=(note, *found.notes))
            return found
        if found or chosen != "auto":
            why.append(f"{kind}: {found or 'nothing of this layout'}")
    from ..extension._namespace import MODULE

    if MODULE in getattr(ctx.nwbfile, "processing", {}):
        raise NoSoundStimulusError(
            f"{ctx.name}: a results file of this package (processing/{MODULE}), not a "
            "recording: give the NWB file of the recording it was computed from")
    forced = "" if chosen == "auto" else f"reader.layout = {chosen!r}; "
    held = forced + ctx.inv.describe_sounds() + "".join(f"; {w}" for w in why)
    waveforms = bool(ctx.inv.templates or ctx.inv.continuous)
    raise NoSoundStimulusError(no_waveform_message(ctx.name, parameter_tables(ctx.nwbfile), held, waveforms)
                               + _file_hint(ctx))


def _file_hint(ctx: Context) -> str:
    """Where a table names audio files the reader does not have: how to give them."""
    for info in ctx.tables():
        for column in info.sound_columns:
            data = getattr(info.table[column], "data", ())
            named = [v for v in data[: min(len(data), 200)]
                     if isinstance(v, str | bytes) and looks_like_file(v)]
            if not named:
                continue
            first = named[0].decode("utf-8", "replace") if isinstance(named[0], bytes) else named[0]
            folder = ctx.params.sound_folder
            where = (f"neither the file nor reader.sound_folder = {folder!r} holds" if folder else
                     "the file does not hold: give the folder of these WAV files with reader.sound_folder")
            return f"; {info.path} column {column!r} names audio files ({first!r}, ...) that {where}"
    return ""


def _refuse_untimed(inv: Inventory, name: str, params: ReaderParams, unmatched: tuple[str, ...]) -> None:
    """Refuse sounds whose samples have no usable time (:func:`~.timing.timing_defect`)
    that the recording needs: a track or presentation series (``unmatched`` empty: before
    detection; in acquisition only where the stimulus holds no sound; unless
    ``reader.sounds`` leaves it out), or a template that presentations name
    (``unmatched``: the names that matched no usable sound)."""
    wanted = params.sounds
    named = {name_key(n) for n in unmatched}
    for sound, why in inv.broken:
        if unmatched:
            needed = sound.place == "template" and name_key(sound.name) in named
        elif wanted:
            needed = sound.place != "template" and named_by(wanted, sound.path)
        else:  # a recorded sound in acquisition counts only where the stimulus holds none
            needed = sound.place != "template" and (sound.path.startswith("stimulus/")
                                                    or not (inv.templates or inv.continuous))
        if needed:
            what = "presentations name it" if unmatched else "its samples place the sound in the session"
            raise InvalidDataError(f"{name}: sound series {sound.path}: {why}; {what}, so it "
                                   "cannot be read (fix the series' timing in the file)")


def _unused(inv: Inventory, used: set[str]) -> tuple[str, ...]:
    """Every object not used, as ``path (type)``, or with why it is not a sound where the
    inventory said so (``path (TimeSeries of shape (...): ...)``), and the files of
    ``reader.sound_folder`` left out, with why."""
    why = {entry.split(" (", 1)[0]: entry for entry in inv.ignored}
    in_file = {path for path, _ in inv.objects}
    return (tuple(why.get(path, f"{path} ({kind})") for path, kind in inv.objects if path not in used)
            + tuple(entry for path, entry in why.items() if path not in in_file))  # files of sound_folder


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
    params = ReaderParams.of(params)
    inv = inventory(nwbfile, params)
    units_path, units = _choose_units(inv, name, params)
    _refuse_untimed(inv, name, params, ())
    found = _detect(_context(nwbfile, inv, name, params))
    _refuse_untimed(inv, name, params, found.unmatched)
    tables = {t.path: t for t in inv.tables}
    presentations, said = select(found.presentations, tables, found.table, params.where, name)
    presentations, invalid = valid_only(presentations, nwbfile, name, params.response_tail_s)
    presentations, short = complete_only(presentations)
    differ = condition_note(presentations, tables, found.table)
    notes = (*found.notes, *(n for n in (said, invalid, short, differ) if n))
    used = tuple({p.series.path: p.series for p in presentations}.values())
    paths = {units_path, *(found.tables or (found.table,)), *(s.path for s in used),
             *(("intervals/invalid_times",) if invalid else ())}
    return Layout(
        kind=found.kind,
        units_path=units_path,
        units=units,
        sounds=used,
        table=found.table,
        column=found.column,
        presentations=presentations,
        reason=found.reason,
        unmatched=found.unmatched[:UNMATCHED_SHOWN],
        n_unmatched=max(found.n_unmatched, len(found.unmatched)),
        unused=_unused(inv, paths),
        notes=notes,
        onset=found.onset,
        tables=found.tables,
    )
