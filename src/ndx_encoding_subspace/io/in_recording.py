"""Presentations against the span of the recording: those after its end are left out when
few (the recording stopped before the sounds did), those over before it began when at most
half (the sounds started first), else the file is refused (the clocks of the presentations
and of the spikes disagree)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidDataError
from .inventory import Presentation
from .locate import Layout
from .presentations import format_rows

__all__ = ["TRAILING_SHARE", "TRAILING_REACH", "LEADING_SHARE", "BEGAN_LATE", "check_in_recording",
           "unobserved_left_out", "silent_start"]


#: presentations after the end of the recording are left out (said) when they are at most
#: this share of all and begin within :data:`TRAILING_REACH` of the recording's length
#: after its end; others mean clocks that disagree, and the file is refused
TRAILING_SHARE = 0.25
TRAILING_REACH = 0.25
#: presentations over before the recording began are left out (said) when they are at most
#: this share of all
LEADING_SHARE = 0.5
#: what the note of presentations over before the recording began says (a rule of reading
#: added since the first release: ``site_reader.reading_rules``)
BEGAN_LATE = "end before the recording begins"


def check_in_recording(layout: Layout, span: tuple[float, float], name: str) -> tuple[Layout, str]:
    """The layout without the presentations that begin after the recording ends or end before
    it begins, and a note saying so, when they are few (:data:`TRAILING_SHARE` and
    :data:`TRAILING_REACH` after the end: the recording stopped before the sounds did;
    :data:`LEADING_SHARE` before the start: the sounds began first); presentations outside
    the recording otherwise refuse the file."""
    lo, hi = span
    n = len(layout.presentations)
    after = [p for p in layout.presentations if p.start >= hi]
    before = [p for p in layout.presentations if p.stop <= lo and p.start < hi]
    if not after and not before:
        return layout, ""
    trailing = all(p.start <= hi + TRAILING_REACH * (hi - lo) for p in after)
    if (trailing and len(after) <= TRAILING_SHARE * n and len(before) <= LEADING_SHARE * n
            and len(after) + len(before) < n):
        kept = tuple(p for p in layout.presentations if p.start < hi and p.stop > lo)
        notes = [f"{_presentations_named(layout, gone)} {when} and are left out ({len(gone)} of {n} "
                 "presentations)" for gone, when in (
                     (before, f"{BEGAN_LATE} ({lo:g} s, its first sample or spike)"),
                     (after, f"begin after the recording ends ({hi:g} s, the last spike, acquisition "
                             "sample or time the units are observed)")) if gone]
        return dataclasses.replace(layout, presentations=kept), "; ".join(notes)
    raise InvalidDataError(
        f"{name}: {_presentations_named(layout, after + before)} lie outside the recording ({lo:g} to "
        f"{hi:g} s, from spike times, acquisition and the units' obs_intervals): do the presentation times "
        "and the spike times share a clock and a unit?"
    )


def unobserved_left_out(layout: Layout, unobserved: Sequence[bool]) -> tuple[Layout, str]:
    """The layout without the presentations that no unit's ``obs_intervals`` cover whole
    (``unobserved``, one flag per presentation: the recording or the sorting stopped during
    them), and a note saying so, when they are at most :data:`TRAILING_SHARE` of all; else
    the layout unchanged (the units not observing every presentation are then left out, or
    the file refused)."""
    gone = [p for p, u in zip(layout.presentations, unobserved, strict=True) if u]
    if not gone or len(gone) > TRAILING_SHARE * len(layout.presentations):
        return layout, ""
    kept = tuple(p for p, u in zip(layout.presentations, unobserved, strict=True) if not u)
    note = (f"{_presentations_named(layout, gone)} are observed whole by no unit (obs_intervals) and are "
            f"left out ({len(gone)} of {len(layout.presentations)} presentations)")
    return dataclasses.replace(layout, presentations=kept), note


def _presentations_named(layout: Layout, outside: Sequence[Presentation]) -> str:
    if layout.table:
        tables = dict.fromkeys(p.table for p in outside)  # '' unless read from several tables
        rows = {t: format_rows([q.row for q in outside if q.table == t]) for t in tables}
        return " and ".join(f"{t or layout.table} rows {r}" for t, r in rows.items())
    # one series per presentation, or segments of one series
    said = [p.series.path if p.sound == p.series.name else f"{p.sound} of {p.series.path}"
            for p in outside[:5]]
    more = f", ... ({len(outside)} in all)" if len(outside) > 5 else ""
    return "presentations " + ", ".join(
        f"{w} ({p.start:g}-{p.stop:g} s)" for w, p in zip(said, outside, strict=False)) + more


#: presentations over before every unit's first spike are said where the units' rate after
#: it would have given them this many spikes in all
SILENT_START_SPIKES = 20.0


def silent_start(layout: Layout, times: Sequence[np.ndarray], nwbfile: Any) -> str:
    """A note (warned of) of the presentations over before any unit's first spike, read as
    silence, where the units' rate after it would have given them many spikes
    (:data:`SILENT_START_SPIKES`) and nothing in the file says when the recording began (no
    acquired ``ElectricalSeries``, no ``obs_intervals``): a recording started late?"""
    from .units import electrical_start

    spiking = [t for t in times if len(t)]
    if not spiking or "obs_intervals" in layout.units.colnames or electrical_start(nwbfile) is not None:
        return ""
    first, last = min(float(t[0]) for t in spiking), max(float(t[-1]) for t in spiking)
    early = [p for p in layout.presentations if p.stop <= first]
    if not early or last <= first:
        return ""
    rate = sum(len(t) for t in spiking) / (last - first)
    expected = rate * sum(p.stop - p.start for p in early)
    if expected < SILENT_START_SPIKES:
        return ""
    return (f"{_presentations_named(layout, early)} end before any unit's first spike ({first:g} s), though "
            f"the units together fire {rate:.3g} spikes/s after it ({expected:.0f} spikes expected there): "
            "they are read as silence; if the recording began later, leave them out (reader.where) or give "
            "the units obs_intervals")
