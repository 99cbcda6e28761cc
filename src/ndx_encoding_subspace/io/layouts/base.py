"""The small interface every layout implements: a :class:`Context` in, a :class:`Candidate` out.

A layout module exposes ``KIND`` (its name in ``reader.layout``) and
``detect(ctx) -> Candidate | str``:

* a :class:`Candidate` when the file holds this layout;
* a sentence saying why the file does not hold it ('' when the file holds none of what
  the layout needs, so that error messages list only what matters);
* an :class:`~ndx_encoding_subspace.errors.InputError` when the file holds the layout but
  it cannot be read as it is (ambiguous, times outside the sound...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from ...errors import AmbiguousInputError
from ..choose import pick_path
from ..inventory import Inventory, Presentation, SoundSeries, TableInfo
from ..logs import LOGS
from ..reader_params import ReaderParams

__all__ = ["Candidate", "Context", "DISAGREES", "TRACK_FOLDERS", "from_tracks", "overlapping", "listing",
           "prefer_tables", "disagreeing_logs"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """What one layout would read from the file.

    Attributes
    ----------
    kind : str
        The layout (``templates``, ``continuous``, ``series``, ``segments``, ``tones``).
    reason : str
        Why this layout was recognised, in one sentence.
    sounds : tuple of SoundSeries
        The series read.
    table, column : str
        The table and column naming the presentations ('' when none).
    presentations : tuple of Presentation
    unmatched : tuple of str
        The first :data:`~..names.UNMATCHED_SHOWN` names in the table that matched no
        sound (their rows are left out).
    n_unmatched : int
        How many different names matched no sound.
    notes : tuple of str
        Anything else worth saying: baseline rows skipped, repeats found by hashing...
    onset : str
        The table's column of the onsets ('' without a table).
    tables : tuple of str
        Every table read, where the presentations come from several (``table`` then
        names them all, for messages); empty otherwise.
    """

    kind: str
    reason: str
    sounds: tuple[SoundSeries, ...]
    table: str
    column: str
    presentations: tuple[Presentation, ...]
    unmatched: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    n_unmatched: int = 0
    onset: str = ""
    tables: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Context:
    """The file's inventory and the reader's overrides, as every layout sees them.

    Attributes
    ----------
    inv : Inventory
        What the file holds.
    name : str
        How messages name the file.
    params : ReaderParams
        The reader's overrides.
    templates : tuple of SoundSeries
        Sound series in ``stimulus/templates`` (those of ``reader.sounds`` when given).
    tracks : tuple of SoundSeries
        Sound series in ``stimulus/presentation``, and ndx-sound ones in ``acquisition``
        (those of ``reader.sounds`` when given).
    nwbfile : NWBFile
        The open file (for layouts that read more than the inventory).
    notes : tuple of str
        How the sounds were found before any layout (added to the layout's notes).
    """

    inv: Inventory
    name: str
    params: ReaderParams
    templates: tuple[SoundSeries, ...]
    tracks: tuple[SoundSeries, ...]
    nwbfile: Any = dataclasses.field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    def tables(self) -> list[TableInfo]:
        """Tables with times (or those ``reader.presentations`` names, with or without:
        one path, or several separated by commas)."""
        if not self.params.presentations:
            return [t for t in self.inv.tables if t.onset]
        paths = [t.path for t in self.inv.tables]
        chosen = [pick_path(part, paths, "reader.presentations", self.name)
                  for part in self.params.presentations.split(",") if part.strip()]
        return [t for t in self.inv.tables if t.path in chosen]

    def describe_tables(self) -> str:
        """The tables looked at, for messages."""
        return "; ".join(t.describe() for t in self.tables()) or "none"


#: where series that play in the session (not templates) lie
TRACK_FOLDERS = ("stimulus/presentation/", "acquisition/", "processing/")


def from_tracks(series: SoundSeries) -> bool:
    """Whether ``series`` lies where sounds play in the session (``stimulus/presentation``,
    ``acquisition``, or a processing module where ``reader.sounds`` names it), even where
    it is read as a template."""
    return series.path.startswith(TRACK_FOLDERS)


def folders(series: Sequence[SoundSeries]) -> str:
    """Where ``series`` lie: ``stimulus/presentation``, ``acquisition`` or both."""
    found = dict.fromkeys(s.path.rpartition("/")[0] for s in series)
    return " and ".join(found) or "stimulus/presentation"


def overlapping(series: Sequence[SoundSeries]) -> int:
    """How many series (with a sample rate), in time order, begin before the one before
    them ends (0: none overlaps another)."""
    spans = sorted((s.starting_time, s.starting_time + (s.duration or 0.0)) for s in series)
    return sum(b[0] < a[1] - 1e-9 for a, b in zip(spans, spans[1:], strict=False))


def listing(found: Sequence[tuple[TableInfo, str]]) -> str:
    """``path column 'c'; ...`` of several (table, column) pairs."""
    return "; ".join(f"{info.path} column {column!r}" for info, column in found)


def prefer_tables(found: list[T]) -> list[T]:
    """``found`` (tuples whose first item is a TableInfo) without the AnnotationSeries and
    IntervalSeries read as tables when real tables name the sounds too: such a log mirrors
    them."""
    real = [f for f in found if f[0].neurodata_type not in LOGS]  # type: ignore[index]
    return real if real and len(real) < len(found) else found


#: said (in a warning) of a log left out for a table whose rows it does not mirror
DISAGREES = "disagrees with the table read"
#: onsets of a log and a table further apart than this (s) are different presentations
_SAME_ONSET_S = 0.05


def _onsets(info: TableInfo) -> np.ndarray:
    try:
        values = np.asarray(info.table[info.onset].data[:], dtype=np.float64).ravel()
    except (TypeError, ValueError):  # no times: the table's reading says so
        return np.empty(0)
    return np.sort(values[np.isfinite(values)])


def _names(found: tuple[Any, ...]) -> set[str]:
    """What a (table, column, ...) tuple's rows name, as :func:`~..names.name_key` keys."""
    from ..names import name_key
    from ..rows import row_refs

    info, column = found[0], found[1] if len(found) > 1 else ""
    if not isinstance(column, str) or not column:
        return set()
    try:
        return {name_key(r.key) for r in row_refs(info.table, column) if r.key}
    except Exception:  # a column that names nothing readable names no sound in common
        return set()


def disagreeing_logs(found: Sequence[tuple[Any, ...]], kept: Sequence[tuple[Any, ...]],
                     by_name: bool = False) -> list[str]:
    """A note for each log of ``found`` that :func:`prefer_tables` left out (``kept`` the
    rest) though some of its onsets are no onset of the tables read: the tables are read,
    and the presentations only the log holds are not. With ``by_name`` (where no template
    tells sounds from other text), only logs naming a sound the tables name too: a log of
    other text, such as an experimenter's notes, is another record."""
    read = [f[0] for f in kept]
    paths = {info.path for info in read}
    onsets = np.sort(np.concatenate([_onsets(info) for info in read])) if read else np.empty(0)
    named = set().union(*(_names(f) for f in kept)) if kept and by_name else set()
    notes = []
    for log in found:
        info = log[0]
        if info.path in paths or info.neurodata_type not in LOGS or not onsets.size or \
                (by_name and not _names(log) & named):
            continue
        own = _onsets(info)
        at = np.clip(np.searchsorted(onsets, own), 1, max(onsets.size - 1, 1))
        gap = np.minimum(np.abs(own - onsets[at - 1]), np.abs(own - onsets[np.minimum(at, onsets.size - 1)]))
        off = own[gap > _SAME_ONSET_S]
        if off.size:
            notes.append(
                f"{info.path} ({info.neurodata_type}) {DISAGREES} ({', '.join(sorted(paths))}): "
                f"{off.size} of its {own.size} onsets (e.g. {off[0]:g} s) are no row's onset there; the "
                "table is read and those presentations are left out (name the log with "
                "reader.presentations to read it instead)")
    return notes


def ambiguous_tables(name: str, what: str, found: Sequence[tuple[TableInfo, str]]) -> AmbiguousInputError:
    """The error for several tables that could each give the presentations."""
    return AmbiguousInputError(
        f"{name}: several tables name {what}: {listing(found)}; choose with reader.presentations "
        "and reader.sound_column"
    )
