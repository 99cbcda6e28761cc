"""One sound series per presentation.

What neuroconv's ``AudioInterface`` writes: one ndx-sound ``AcousticWaveformSeries`` per
presentation in ``stimulus/presentation`` (``AcousticWaveformSeries``,
``AcousticWaveformSeries1``, ...), each with its own ``starting_time``, and no table; or
any set of sound ``TimeSeries`` with their own starting times. At least two series that
do not overlap in time (series that overlap are ambiguous: see :mod:`.continuous`).

Each series is one presentation, lasting its samples. Identical waveforms are the same
sound: series of the same length, channels, rate, type, conversion and offset are compared
by a hash of their first :data:`PREFIX_SAMPLES` samples, and only those whose prefixes are
equal by a hash of all their samples, read in blocks of at most :data:`CHUNK_BYTES`; a
series whose shape no other series shares is never read here. A sound is named after the
first series (in time) holding it. Series given to this layout (``reader.layout =
"series"``) that overlap in time are refused, naming them, and so are series that could
not be read as stored (:func:`~ndx_encoding_subspace.io.storage.check_span`), before any
is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict

import numpy as np

from ...errors import InvalidDataError
from ..inventory import Presentation, SoundSeries, TableInfo
from ..names import listing, name_key
from ..presentations import check_overlaps
from ..rows import row_refs
from ..storage import check_span
from .base import Candidate, Context, folders

__all__ = ["KIND", "IGNORED", "detect", "waveform_digest", "same_sounds"]

KIND = "series"

#: what the note of a table named but not read holds (the reader warns of it)
IGNORED = "is not read by this layout"

#: Samples hashed first: series whose prefixes differ are different sounds, read no further.
PREFIX_SAMPLES = 1 << 16

#: Bytes read at a time when hashing a waveform (whatever its channels and type).
CHUNK_BYTES = 1 << 23


def _signature(s: SoundSeries) -> tuple:
    series = s.series
    dtype = getattr(series.data, "dtype", None)
    dtype = "" if dtype is None else np.dtype(dtype).newbyteorder("=").name  # '>i2' is int16
    return (
        s.n_samples,
        s.n_channels,
        s.rate,
        dtype,
        float(getattr(series, "conversion", 1.0) or 1.0),
        float(getattr(series, "offset", 0.0) or 0.0),
    )


def _chunk_samples(s: SoundSeries) -> int:
    itemsize = int(getattr(getattr(s.series.data, "dtype", None), "itemsize", 8) or 8)
    return max(1, CHUNK_BYTES // (itemsize * max(1, s.n_channels)))


def _native(block: object) -> np.ndarray:
    """Samples in native byte order, contiguous: the same samples stored big- or
    little-endian hash alike."""
    block = np.asarray(block)
    return np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("="))


def waveform_digest(s: SoundSeries, chunk: int | None = None, samples: int | None = None) -> str:
    """A hash of the first ``samples`` samples of ``s`` (all by default) and its signature
    (length, channels, rate, type...), read ``chunk`` samples at a time (default: blocks of
    :data:`CHUNK_BYTES`)."""
    chunk = chunk or _chunk_samples(s)
    end = s.n_samples if samples is None else min(samples, s.n_samples)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((_signature(s), end)).encode())
    data = s.series.data
    for first in range(0, end, chunk):
        digest.update(_native(data[first : min(first + chunk, end)]).tobytes())
    return digest.hexdigest()


def span_digest(s: SoundSeries, first: int, count: int) -> str:
    """A hash of samples ``first`` to ``first + count`` of ``s`` and its signature but length,
    read in blocks of :data:`CHUNK_BYTES`."""
    chunk = _chunk_samples(s)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((_signature(s)[1:], count)).encode())
    for a in range(first, first + count, chunk):
        digest.update(_native(s.series.data[a: min(a + chunk, first + count)]).tobytes())
    return digest.hexdigest()


def _groups(series: list[SoundSeries], key) -> list[list[SoundSeries]]:
    """The groups of at least two series with equal ``key(series)``, in the given order."""
    groups: dict[object, list[SoundSeries]] = defaultdict(list)
    for s in series:
        groups[key(s)].append(s)
    return [members for members in groups.values() if len(members) > 1]


def same_sounds(series: list[SoundSeries]) -> dict[str, str]:
    """Each series' path -> the path of the first series (in the given order) with the same
    samples. Only series sharing their signature with another one are read: their first
    :data:`PREFIX_SAMPLES` samples, then all their samples where the prefixes are equal."""
    owner = {s.path: s.path for s in series}
    for same_shape in _groups(series, _signature):
        if same_shape[0].n_samples > PREFIX_SAMPLES:
            candidates = _groups(same_shape, lambda s: waveform_digest(s, None, PREFIX_SAMPLES))
        else:
            candidates = [same_shape]
        for members in candidates:
            first_of: dict[str, str] = {}
            for s in members:
                owner[s.path] = first_of.setdefault(waveform_digest(s), s.path)
    return owner


def _names_any(info: TableInfo, series: list[SoundSeries]) -> bool:
    """Whether a sound column of ``info`` names (or references) one of ``series`` at least:
    a table naming each series at its own start says what this layout reads."""
    keys = {name_key(s.name) for s in series} | {s.series.object_id for s in series}
    return any((ref.object_id or name_key(ref.key)) in keys
               for column in info.sound_columns for ref in row_refs(info.table, column))


def detect(ctx: Context) -> Candidate | str:
    """Every sound series outside the templates one presentation (see the module's text)."""
    tracks = ctx.tracks
    if len(tracks) < 2:
        return "" if not tracks else f"only one sound series in {folders(tracks)} ({tracks[0].path})"
    norate = [s.path for s in tracks if not s.rate]
    if norate:
        raise InvalidDataError(
            f"{ctx.name}: sound series {', '.join(norate[:10])} have no sample rate "
            "(no rate, and timestamps not evenly spaced)"
        )
    ordered = sorted(tracks, key=lambda s: (s.starting_time, s.path))
    spans = [
        Presentation(s.name, s.starting_time, s.starting_time + (s.duration or 0.0), i, s, 0, s.n_samples)
        for i, s in enumerate(ordered)
    ]
    hint = "choose the series with reader.sounds"
    check_overlaps(spans, ctx.name, folders(ordered), hint, by_series=True)
    for span in spans:  # before any is read to compare them
        check_span(span, ctx.name, ctx.params.max_sound_s)
    owner = same_sounds(ordered)
    names = {s.path: s.name for s in ordered}
    pres = tuple(dataclasses.replace(p, sound=names[owner[p.series.path]]) for p in spans)
    n_sounds = len(set(owner.values()))
    named = [t.path for t in ctx.tables() if t.sound_columns and not _names_any(t, ordered)]
    reason = (
        f"{len(ordered)} sound series in {folders(ordered)}, one after the other, each with its "
        "own starting time and no table: each series is one presentation"
    )
    notes = (
        f"{n_sounds} different waveforms among {len(ordered)} series (identical samples: the same sound)",
        *((f"reader.presentations = {ctx.params.presentations!r} {IGNORED} (each series is one "
           "presentation; the table did not read as naming them)",) if ctx.params.presentations else ()),
        *((f"{listing(named, 3)} (with columns naming sounds) {IGNORED}: its names match no series, and "
           "each series is read as one presentation (set reader.presentations and reader.sound_column "
           "to read the table)",) if named and not ctx.params.presentations else ()),
    )
    return Candidate(KIND, reason, tuple(ordered), "", "", pres, (), notes)
