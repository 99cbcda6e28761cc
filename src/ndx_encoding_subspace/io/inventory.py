"""What an NWB file holds that the reader could use: units tables, sounds, tables with times."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
from hdmf.common import VectorIndex

from .cells import cells, is_region, is_text, is_ts_reference, neurodata_type
from .choose import named_by
from .logs import log_table
from .names import (
    DURATION_COLUMNS,
    NAME_COLUMNS,
    NOT_SOUND_WORDS,
    ONSET_COLUMNS,
    SOUND_ONSET_COLUMNS,
    SOUND_WORDS,
    STOP_COLUMNS,
    listing,
    looks_like_file,
    name_words,
    says_other_onset,
    says_sound_onset,
)
from .reader_params import ReaderParams
from .referenced import referenced_ids
from .timing import rate_and_start, timing_defect

__all__ = [
    "SOUND_TYPES",
    "SoundSeries",
    "TableInfo",
    "Presentation",
    "Inventory",
    "inventory",
    "is_ts_reference",
    "cells",
    "is_region",
]

SOUND_TYPES = ("TimeSeries", "AcousticWaveformSeries")
#: More channels than this: not a sound (a 2-D series is (time, channels) in NWB).
_MAX_CHANNELS = 16


def _bad_sound_shape(path: str, kind: str, shape: tuple[int, ...]) -> str:
    """Why a series of this shape is not taken for a sound ('' when it is fine)."""
    stacked = f"{shape[0]} sounds stacked (store each sound as a series of its own)" if shape else ""
    if len(shape) == 2 and shape[0] <= _MAX_CHANNELS < shape[1]:
        return (
            f"{path} ({kind} of shape {shape}: looks transposed, {shape[0]} channels x "
            f"{shape[1]} samples; NWB stores (time, channels), rewrite it as shape "
            f"{(shape[1], shape[0])}; or {stacked})"
        )
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] > _MAX_CHANNELS):
        hint = f"; {stacked}?" if len(shape) == 2 and shape[1] >= 100 * shape[0] else ""
        expected = f"not (time,) or (time, up to {_MAX_CHANNELS} channels)"
        return f"{path} ({kind} of shape {shape}: {expected}{hint})"
    return ""


@dataclasses.dataclass(frozen=True)
class SoundSeries:
    """A sound waveform series found in the file."""

    name: str
    path: str
    neurodata_type: str
    place: str  # "template" or "continuous"
    rate: float | None
    starting_time: float
    n_samples: int
    n_channels: int
    series: Any = dataclasses.field(compare=False, repr=False)

    @property
    def duration(self) -> float | None:
        """Length in seconds (None without a sample rate)."""
        return self.n_samples / self.rate if self.rate else None

    def describe(self) -> str:
        """One line: path, type, rate, duration."""
        rate = f"{self.rate:g} Hz" if self.rate else "no sample rate"
        dur = f", {self.duration:.3f} s" if self.duration else ""
        chans = f", {self.n_channels} channels" if self.n_channels > 1 else ""
        return f"{self.path} ({self.neurodata_type}, {rate}{dur}{chans})"


#: what the note of onset columns in other forms, not read, holds (warned of)
ONSETS_UNREAD = "are not read as onsets"


@dataclasses.dataclass(frozen=True)
class TableInfo:
    """A table with times (TimeIntervals, or a DynamicTable with an onset column) and the
    columns that could name sounds.

    Attributes
    ----------
    onset, stop : str
        Columns holding each row's onset and end (``stop`` empty: none; ``onset`` empty: the
        table has no times and cannot list presentations).
    duration : str
        Without a stop column, a column of each row's duration in seconds (an
        ``EventsTable``'s ``duration``), else ''.
    sound_columns : tuple of str
        Columns that name sounds: known names (:data:`~.names.NAME_COLUMNS`), then
        TimeSeriesReferenceVectorData columns, then text columns holding file names.
    text_columns : tuple of str
        The other text columns (may name templates by their names), then
        DynamicTableRegion columns (rows of a table of stimuli, read as what those rows name).
    """

    path: str
    rows: int
    columns: tuple[str, ...]
    sound_columns: tuple[str, ...]
    table: Any = dataclasses.field(compare=False, repr=False)
    neurodata_type: str = "TimeIntervals"
    onset: str = "start_time"
    stop: str = "stop_time"
    text_columns: tuple[str, ...] = ()
    duration: str = ""
    #: columns whose names say they hold the sound's onset in ms, samples or relative to
    #: the row, not read as onsets (:func:`~.names.says_other_onset`)
    unread_onsets: tuple[str, ...] = ()

    def unread_onset_note(self) -> str:
        """Said when the onsets are the rows' start times beside a column whose name says
        it holds the sound's onset in another form ('' else)."""
        if not self.unread_onsets or self.onset not in ONSET_COLUMNS:
            return ""
        said = ", ".join(map(repr, self.unread_onsets))
        return (f"sound onsets from {self.path} column {self.onset!r}: column(s) {said} {ONSETS_UNREAD} "
                "(in milliseconds, samples or relative to the row); if the sounds began after the rows' "
                "starts, give their onsets in seconds from the session's start (reader.onset_column)")

    def onset_note(self) -> str:
        """Said when the onsets come from a column other than the rows' own start ('' else)."""
        if self.onset in ONSET_COLUMNS:
            return ""
        return f"sound onsets from {self.path} column {self.onset!r}, not the rows' start times"

    def describe(self) -> str:
        """One line: path, rows, columns."""
        kind = "" if self.neurodata_type == "TimeIntervals" else f"{self.neurodata_type}, "
        return f"{self.path} ({kind}{self.rows} rows; columns {', '.join(self.columns)})"


@dataclasses.dataclass(frozen=True)
class Presentation:
    """One presentation: which sound, when, and where its waveform lies."""

    sound: str
    start: float
    stop: float
    row: int
    series: SoundSeries = dataclasses.field(repr=False)
    first_sample: int
    n_samples: int
    #: the table of ``row`` where the presentations come from several tables, else ''
    table: str = ""


@dataclasses.dataclass(frozen=True)
class Inventory:
    """Everything relevant the file holds, before any choice."""

    units: tuple[tuple[str, Any], ...]
    templates: tuple[SoundSeries, ...]
    continuous: tuple[SoundSeries, ...]
    ignored: tuple[str, ...]
    tables: tuple[TableInfo, ...]
    objects: tuple[tuple[str, str], ...] = ()  # (path, neurodata type) of everything walked
    #: sounds whose samples have no usable time: (series, why), e.g. a sample rate of 0
    broken: tuple[tuple[SoundSeries, str], ...] = ()
    #: series of acquisition or processing modules not read, sampled fast enough to hold
    #: sound (``path (type, rate)``): named when no sound is found
    elsewhere: tuple[str, ...] = ()

    def describe_sounds(self) -> str:
        """What was found that could hold sounds, for error messages."""
        parts = [
            "stimulus_template: " + (listing([s.describe() for s in self.templates], 4) or "nothing"),
            "stimulus: " + (listing([s.describe() for s in self.continuous], 4) or "nothing"),
            "tables: " + ("; ".join(t.describe() for t in self.tables) or "none"),
        ]
        if self.ignored:
            more = f"; and {len(self.ignored) - 3} more" if len(self.ignored) > 3 else ""
            parts.append("not sounds: " + "; ".join(self.ignored[:3]) + more)
        if self.elsewhere and not (self.templates or self.continuous):
            parts.append("series that may hold sound, read only when reader.sounds names them: "
                         + listing(self.elsewhere, 4))
        return "; ".join(parts)


# --------------------------------------------------------------------------- inventory
def _objects(nwbfile: Any) -> Iterator[tuple[str, Any]]:
    for key, obj in nwbfile.acquisition.items():
        yield f"acquisition/{key}", obj
    for key, obj in nwbfile.stimulus.items():
        yield f"stimulus/presentation/{key}", obj
    for key, obj in nwbfile.stimulus_template.items():
        yield f"stimulus/templates/{key}", obj
    intervals = dict(nwbfile.intervals or {})
    for key in ("trials", "epochs", "invalid_times"):  # separate until the file is written
        table = getattr(nwbfile, key, None)
        if table is not None:
            intervals.setdefault(key, table)
    for key, obj in intervals.items():
        yield f"intervals/{key}", obj
    for mod_name, module in nwbfile.processing.items():
        for key, obj in module.data_interfaces.items():
            yield f"processing/{mod_name}/{key}", obj
    for key, obj in (getattr(nwbfile, "events", None) or {}).items():  # EventsTable (NWB 2.9 and later)
        yield f"events/{key}", obj
    if nwbfile.units is not None:
        yield "units", nwbfile.units


def _shape(data: Any) -> tuple[int, ...]:
    shape = getattr(data, "shape", None)
    return tuple(int(n) for n in (shape if shape is not None else np.shape(data)))


def _sound(path: str, obj: Any, place: str, params: ReaderParams) -> SoundSeries | str:
    kind = neurodata_type(obj)
    if kind not in SOUND_TYPES:
        return f"{path} ({kind})"
    shape = _shape(obj.data)
    bad = _bad_sound_shape(path, kind, shape)
    if bad:
        return bad
    if place != "template" and not params.sounds and name_words(obj.name) & NOT_SOUND_WORDS:
        return f"{path} ({kind}: named for another signal than sound; name it in reader.sounds to read it)"
    rate, start = rate_and_start(obj)
    if rate is not None and np.isfinite(rate) and 0 < rate < params.min_sample_rate:
        return f"{path} ({kind}: sampled at {rate:g} Hz, below reader.min_sample_rate = " \
               f"{params.min_sample_rate:g})"
    return SoundSeries(
        name=obj.name,
        path=path,
        neurodata_type=kind,
        place=place,
        rate=rate,
        starting_time=start,
        n_samples=shape[0],
        n_channels=shape[1] if len(shape) == 2 else 1,
        series=obj,
    )


def _first(columns: tuple[str, ...], wanted: tuple[str, ...]) -> str:
    lower = {c.lower(): c for c in columns}
    return next((lower[w] for w in wanted if w in lower), "")


def _numeric(table: Any, column: str) -> bool:
    data = getattr(table[column], "data", None)
    kind = getattr(getattr(data, "dtype", None), "kind", None)
    return kind in ("f", "i", "u") and not isinstance(table[column], VectorIndex)


def _onset(table: Any, columns: tuple[str, ...], timed: bool, wanted: str) -> str:
    """The column of each row's sound onset: ``reader.onset_column``; in timed rows (trials)
    a sound-onset column when there is one, else ``start_time``; else the first onset column."""
    if wanted and wanted in columns:
        return wanted
    if not timed:
        return _first(columns, ONSET_COLUMNS)
    sound = _first(columns, SOUND_ONSET_COLUMNS)
    if sound and _numeric(table, sound):
        return sound
    named = [c for c in columns if says_sound_onset(c) and _numeric(table, c) and _has_values(table, c)]
    return named[0] if len(named) == 1 else "start_time"


def _has_values(table: Any, column: str) -> bool:
    """Whether a column holds a finite value in some row (NaN in all: an unused column).
    Values outside their rows are refused when the presentations are read."""
    try:
        return bool(np.isfinite(np.asarray(table[column].data[:], dtype=np.float64)).any())
    except (TypeError, ValueError, KeyError):
        return False


def _table_info(path: str, table: Any, params: ReaderParams) -> TableInfo:
    columns = tuple(c for c in table.colnames)
    lower = {c.lower(): c for c in columns}
    named = [lower[n] for n in NAME_COLUMNS if n in lower]
    refs = [c for c in columns if is_ts_reference(table[c])]
    text = [c for c in columns if c not in named and c not in refs and is_text(table[c])]
    files = [c for c in text if any(looks_like_file(v) for v in cells(table[c], min(len(table), 200)))]
    # rows of another table (a table of stimuli): tried as text columns, each name must match
    regions = [c for c in columns if c not in named and c not in refs and is_region(table[c])]
    kind = neurodata_type(table)
    timed = kind == "TimeIntervals" or "start_time" in columns
    stop = ("stop_time" if "stop_time" in columns else "") if timed else _first(columns, STOP_COLUMNS)
    duration = "" if stop else _first(columns, DURATION_COLUMNS)
    return TableInfo(
        path=path,
        rows=len(table),
        columns=columns,
        sound_columns=tuple(named + refs + files),
        unread_onsets=() if params.onset_column else tuple(
            c for c in columns if says_other_onset(c) and _numeric(table, c) and _has_values(table, c)),
        table=table,
        neurodata_type=kind,
        onset=_onset(table, columns, timed, params.onset_column),
        stop=stop,
        text_columns=tuple(c for c in text if c not in files) + tuple(regions),
        duration=duration if duration and _numeric(table, duration) else "",
    )


def _is_table(obj: Any) -> bool:
    return hasattr(obj, "colnames") and hasattr(obj, "id")


def inventory(nwbfile: Any, params: ReaderParams | None = None) -> Inventory:
    """List the Units tables, sound-like series and tables of ``nwbfile`` (TimeIntervals and
    DynamicTables in stimulus, acquisition, intervals and processing modules)."""
    params = ReaderParams.of(params)
    units, templates, continuous, ignored, tables, objects = [], [], [], [], [], []
    broken: list[tuple[SoundSeries, str]] = []
    recorded: list[SoundSeries] = []
    elsewhere: list[str] = []
    maybe: list[tuple[str, Any]] = []
    for path, obj in _objects(nwbfile):
        kind = neurodata_type(obj)
        objects.append((path, kind))
        if kind == "Units":
            units.append((path, obj))
        elif _is_table(obj):
            tables.append(_table_info(path, obj, params))
        elif as_table := log_table(path, obj, kind):
            tables.append(dataclasses.replace(_table_info(path, as_table, params), neurodata_type=kind))
        elif (path.startswith(("acquisition/", "processing/")) and kind in SOUND_TYPES
              and not _recorded_sound(path, kind, params)):
            rate = getattr(obj, "rate", None)
            fast = isinstance(rate, int | float | np.number) and float(rate) >= _AUDIO_RATE_HZ
            if fast and not name_words(path.rpartition("/")[2]) & NOT_SOUND_WORDS:  # not a sync pulse
                elsewhere.append(f"{path} ({kind}, {float(rate):g} Hz)")
                maybe.append((path, obj))
        elif path.startswith("stimulus/") or _recorded_sound(path, kind, params):
            place = "template" if path.startswith("stimulus/templates/") else "continuous"
            found = _sound(path, obj, place, params)
            why = "" if isinstance(found, str) else timing_defect(found)
            if isinstance(found, str):
                ignored.append(found)
            elif why:
                broken.append((found, why))
                ignored.append(f"{path} ({kind}: {why})")
            else:
                (recorded if path.startswith(("acquisition/", "processing/")) else templates
                 if place == "template" else continuous).append(found)
    # a microphone beside a stimulus in the file is not one: sounds of acquisition count when
    # the stimulus groups hold none, or when reader.sounds names them
    continuous += [s for s in recorded if not (templates or continuous) or named_by(params.sounds, s.path)]
    if not (templates or continuous) and maybe:  # a table's references point to the sound
        ids = referenced_ids(tables)
        for path, obj in maybe:
            said = name_words(path.rpartition("/")[2]) | name_words(getattr(obj, "description", "") or "")
            sound = obj.object_id in ids and bool(said & SOUND_WORDS)  # not the raw voltage a trial points to
            found = _sound(path, obj, "continuous", params) if sound else ""
            if not isinstance(found, str) and not timing_defect(found):
                continuous.append(found)
                elsewhere = [e for e in elsewhere if not e.startswith(f"{path} (")]
    elsewhere += [f"{s.path} ({s.neurodata_type}, {s.rate:g} Hz)" for s in recorded
                  if s not in continuous and s.rate]
    if params.sound_folder:
        from_folder, left = _folder_templates(params, templates)
        templates += from_folder
        ignored += left
    return Inventory(
        tuple(units), tuple(templates), tuple(continuous), tuple(ignored), tuple(tables), tuple(objects),
        tuple(broken), tuple(elsewhere),
    )


#: the lowest sample rate of a series outside the stimulus groups named as one that may hold sound
_AUDIO_RATE_HZ = 8000.0


def _recorded_sound(path: str, kind: str, params: ReaderParams) -> bool:
    """A candidate sound outside the stimulus groups: in acquisition, an ndx-sound
    AcousticWaveformSeries (neuroconv's AudioInterface writes there with
    ``parent_container='acquisition'``; taken when the stimulus groups hold no sound); in
    acquisition or a processing module, a series ``reader.sounds`` names (patterns too)."""
    if not path.startswith(("acquisition/", "processing/")):
        return False
    neuroconv = kind == "AcousticWaveformSeries" and path.startswith("acquisition/")
    return neuroconv or named_by(params.sounds, path)


def _folder_templates(params: ReaderParams,
                      templates: list[SoundSeries]) -> tuple[list[SoundSeries], list[str]]:
    """The WAV files of ``reader.sound_folder`` as templates (:mod:`.sound_files`), and why
    the others were left out (unreadable, named twice, or a sound the file holds too)."""
    from .names import name_key
    from .sound_files import KIND, folder_sounds

    in_file = {name_key(s.name): s.path for s in templates}
    series, left = folder_sounds(params.sound_folder)
    found = []
    for path, wav in series:
        sound = _sound(path, wav, "template", params)
        if isinstance(sound, str):
            left.append(sound)
        elif name_key(sound.name) in in_file:
            left.append(f"{path} (the file holds this sound too: {in_file[name_key(sound.name)]})")
        else:
            found.append(dataclasses.replace(sound, neurodata_type=KIND))
    return found, left
