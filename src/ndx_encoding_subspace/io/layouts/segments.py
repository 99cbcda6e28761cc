"""A continuous track cut into fixed segments.

The fallback for one session-long track that no table describes: the track is cut into
segments of ``reader.segment_s`` seconds (the last between half a segment and one and a
half: a shorter leftover joins it), each taken as a
different sound presented once. The layout's description says so, since a table naming
what played (see :mod:`.continuous`) would give repeats and the true boundaries.
"""

from __future__ import annotations

from ..inventory import SoundSeries
from ..tracks import fixed_segments
from .base import Candidate, Context
from .continuous import single_track

__all__ = ["KIND", "detect"]

KIND = "segments"


def detect(ctx: Context) -> Candidate | str:
    """One track cut every ``reader.segment_s`` seconds (see the module's text)."""
    track = single_track(ctx)
    if not isinstance(track, SoundSeries):
        return track
    step = ctx.params.segment_s
    pres = fixed_segments(track, step)
    reason = (
        f"one sound series {track.path} and no table naming what played in it: cut into fixed "
        f"segments of {step:g} s (reader.segment_s), each a different sound presented once"
    )
    note = "fixed segments: no repeats, so the split takes the last segments for validation"
    return Candidate(KIND, reason, (track,), "", "", tuple(pres), (), (note,))
