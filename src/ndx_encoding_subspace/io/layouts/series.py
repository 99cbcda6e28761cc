"""One sound series per presentation.

What neuroconv's ``AudioInterface`` writes: one ndx-sound ``AcousticWaveformSeries`` per
presentation in ``stimulus/presentation`` (``AcousticWaveformSeries``,
``AcousticWaveformSeries1``, ...), each with its own ``starting_time``, and no table; or
any set of sound ``TimeSeries`` with their own starting times. At least two series that
do not overlap in time (series that overlap are ambiguous: see :mod:`.continuous`).

Each series is one presentation, lasting its samples. Identical waveforms are the same
sound: series of the same length, channels, rate, type, conversion and offset are compared
by a hash of their samples, read in chunks; a series whose shape no other series shares is
never read here. A sound is named after the first series (in time) holding it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from ...errors import InvalidDataError
from ..inventory import Presentation, SoundSeries
from .base import Candidate, Context, overlapping

__all__ = ["KIND", "detect", "waveform_digest", "same_sounds"]

KIND = "series"

#: Samples read at a time when hashing a waveform.
CHUNK_SAMPLES = 1 << 20


def _signature(s: SoundSeries) -> tuple:
    series = s.series
    dtype = str(getattr(series.data, "dtype", ""))
    return (
        s.n_samples,
        s.n_channels,
        s.rate,
        dtype,
        float(getattr(series, "conversion", 1.0) or 1.0),
        float(getattr(series, "offset", 0.0) or 0.0),
    )


def waveform_digest(s: SoundSeries, chunk: int = CHUNK_SAMPLES) -> str:
    """A hash of the samples of ``s`` (read ``chunk`` samples at a time) and their shape."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(_signature(s)).encode())
    data = s.series.data
    for first in range(0, s.n_samples, chunk):
        block = np.ascontiguousarray(np.asarray(data[first : first + chunk]))
        digest.update(block.tobytes())
    return digest.hexdigest()


def same_sounds(series: list[SoundSeries]) -> dict[str, str]:
    """Each series' path -> the path of the first series (in the given order) with the same
    samples. Only series sharing their signature with another one are read."""
    groups: dict[tuple, list[SoundSeries]] = defaultdict(list)
    for s in series:
        groups[_signature(s)].append(s)
    owner = {s.path: s.path for s in series}
    for members in groups.values():
        if len(members) < 2:
            continue
        first_of: dict[str, str] = {}
        for s in members:
            owner[s.path] = first_of.setdefault(waveform_digest(s), s.path)
    return owner


def detect(ctx: Context) -> Candidate | str:
    """Every series in stimulus/presentation one presentation (see the module's text)."""
    tracks = ctx.tracks
    if len(tracks) < 2:
        return "" if not tracks else f"only one sound series in stimulus/presentation ({tracks[0].path})"
    if overlapping(tracks):
        return f"the {len(tracks)} sound series in stimulus/presentation overlap in time"
    norate = [s.path for s in tracks if not s.rate]
    if norate:
        raise InvalidDataError(
            f"{ctx.name}: sound series {', '.join(norate[:10])} have no sample rate "
            "(no rate, no regular timestamps)"
        )
    ordered = sorted(tracks, key=lambda s: (s.starting_time, s.path))
    owner = same_sounds(ordered)
    names = {s.path: s.name for s in ordered}
    pres = tuple(
        Presentation(
            names[owner[s.path]],
            s.starting_time,
            s.starting_time + float(s.duration or 0.0),
            row,
            s,
            0,
            s.n_samples,
        )
        for row, s in enumerate(ordered)
    )
    n_sounds = len(set(owner.values()))
    reason = (
        f"{len(ordered)} sound series in stimulus/presentation, one after the other, each with its "
        "own starting time and no table: each series is one presentation"
    )
    notes = (
        f"{n_sounds} different waveforms among {len(ordered)} series (identical samples: the same sound)",
    )
    return Candidate(KIND, reason, tuple(ordered), "", "", pres, (), notes)
