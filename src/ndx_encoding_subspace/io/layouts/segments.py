"""A continuous track cut into fixed segments.

The fallback for one session-long track that no table describes: the track is cut into
segments of ``reader.segment_s`` seconds (the last between half a segment and one and a
half: a shorter leftover joins it), each taken as a
different sound presented once. The layout's description says so, since a table naming
what played (see :mod:`.continuous`) would give repeats and the true boundaries; a table
with times but no names is named in a note, with the option that cuts the track at its
rows.
"""

from __future__ import annotations

from ..inventory import SoundSeries
from ..names import listing
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
    notes = ["fixed segments: no repeats, so the split takes the last segments for validation"]
    timed = [t.path for t in ctx.tables()
             if t.onset and not t.sound_columns and t.path != "intervals/invalid_times"]
    if timed:  # rows with times but no names: their boundaries serve better than fixed ones
        notes.append(f"{listing(timed, 3)} {'has' if len(timed) == 1 else 'have'} times but no column "
                     f"naming what played: --reader.presentations {timed[0]} cuts the track at its rows "
                     "instead (segments holding the same samples read as repeats)")
    return Candidate(KIND, reason, (track,), "", "", tuple(pres), (), tuple(notes))
