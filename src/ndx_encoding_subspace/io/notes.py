"""What a read site holds with a caveat, said in warnings by :func:`~.site_reader.read_site`.

Each function returns one message per caveat (no file name: the reader puts it first):
presentations naming no sound or beginning before the recording, sound series whose
``conversion`` is 0, whose unsigned 8-bit samples have no offset or whose timestamps are
coarser than half a sample, units left out (too
few spikes, or ``obs_intervals`` that leave part of the sounds unobserved), units that
fire no spike while sounds play, and spike times that look like milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..data.site import Sound
from ..errors import InvalidDataError
from .locate import Layout
from .names import listing, name_key
from .reader_params import ReaderParams
from .sound_files import KIND as FILE
from .timing import coarse_timestamps
from .unit_choice import WARNED_UNIT_NOTES
from .units import UnitSpikes

__all__ = ["layout_notes", "unit_notes", "spike_notes", "check_seconds"]


def layout_notes(layout: Layout, start: float, end: float | None = None) -> list[str]:
    """Presentations left out for naming no sound, presentations begun before the recording
    or still playing at the end of its acquisition series (``end``), and sound series read
    otherwise than their ``conversion`` and ``offset`` say (:func:`~.samples.sample_scale`)."""
    notes = []
    zero = sorted({p.series.path for p in layout.presentations
                   if getattr(p.series.series, "conversion", 1.0) == 0})
    if zero:
        notes.append(f"{listing(zero, shown=3)}: conversion 0 would make every sample 0; read with "
                     "conversion 1")
    unsigned = sorted({p.series.path for p in layout.presentations
                       if getattr(p.series.series.data, "dtype", None) == np.uint8
                       and not float(getattr(p.series.series, "offset", 0.0) or 0.0)})
    if unsigned:
        notes.append(f"{listing(unsigned, shown=3)}: unsigned 8-bit samples without an offset, read "
                     "around their midpoint 128")
    series = {p.series.path: p.series.series for p in layout.presentations}
    coarse = {path: q for path, obj in sorted(series.items()) if (q := coarse_timestamps(obj))}
    if coarse:
        step = max(coarse.values()) * 1e6
        notes.append(f"{listing(list(coarse), shown=3)}: timestamps stored to {step:.3g} us (float32), "
                     "coarser than half a sample: the sample rate is taken from their whole span; store "
                     "them as float64, or give a rate")
    if layout.unmatched_count:
        more = layout.unmatched_count - len(layout.unmatched)
        folder = any(s.neurodata_type == FILE for s in layout.sounds)
        where = "the file nor of reader.sound_folder" if folder else "the file"
        notes.append(f"{layout.unmatched_count} name(s) given to presentations match no sound of {where}; "
                     "those presentations are left out: "
                     f"{', '.join(map(repr, layout.unmatched))}{f' and {more} more' if more else ''}"
                     + _not_sounds(layout))
    early = [p for p in layout.presentations if p.start < start]
    if early:
        notes.append(f"{len(early)} presentation(s) begin before the recording's start ({start:g} s), e.g. "
                     f"{early[0].sound!r} at {early[0].start:g} s: their first bins count no spikes")
    late = [p for p in layout.presentations if end is not None and p.stop > end + 1e-6]
    if late:
        notes.append(f"{len(late)} presentation(s) still play when the acquisition ends ({end:g} s), e.g. "
                     f"{late[0].sound!r} at {late[0].start:g}-{late[0].stop:g} s: their last bins count no "
                     "spikes unless the spikes were recorded beyond it")
    return notes


def _not_sounds(layout: Layout) -> str:
    """Why series that unmatched names name were not taken for sounds ('' when none)."""
    keys = {name_key(n) for n in layout.unmatched}
    named = [u for u in layout.unused  # unused objects given with a reason: "path (type ...: why)"
             if ": " in u and name_key(u.split(" (", 1)[0].rpartition("/")[2]) in keys]
    return f" (not read as sounds: {'; '.join(named[:3])})" if named else ""


#: sounds shorter than this many bins are brief: most of a response follows them
_BRIEF_BINS = 5


def spike_notes(times: Sequence[np.ndarray], ids: Sequence[int], sounds: Sequence[Sound],
                 layout: Layout) -> list[str]:
    """Units that fire no spike while sounds play, and spike times far past the sounds."""
    notes = []
    during = np.sum([s.counts.sum(axis=(0, 1)) for s in sounds], axis=0) if sounds else np.zeros(len(ids))
    quiet = [int(u) for u, n in zip(ids, during) if n == 0 and len(ids) > 1]
    if quiet and len(quiet) < len(ids):
        notes.append(f"unit(s) {listing(quiet)} fire no spike during the presented "
                     "sounds: nothing to fit for them (CCnorm undefined)")
    brief = [s for s in sounds if s.counts.shape[1] < _BRIEF_BINS]
    if brief:
        notes.append(f"{len(brief)} of {len(sounds)} sounds last fewer than {_BRIEF_BINS} bins (e.g. "
                     f"{brief[0].name!r}, {brief[0].counts.shape[1]} bin(s)): spikes are counted only while "
                     "a sound plays: count the responses after such brief sounds with "
                     "--reader.response_tail_s (seconds of silence after each sound)")
    last_spike = max((float(t[-1]) for t in times if len(t)), default=0.0)
    last_sound = max((p.stop for p in layout.presentations), default=0.0)
    total = sum(len(t) for t in times)
    if last_sound > 0 and last_spike > 100 * last_sound and total and during.sum() < 0.01 * total:
        notes.append(f"spike times reach {last_spike:g} s, over 100 times past the last presentation "
                     f"({last_sound:g} s), and fewer than 1% of the spikes fall during the sounds: are the "
                     "spike times in seconds?")
    return notes


_PLACEHOLDERS = {"", "nan", "none", "unknown", "n/a", "na", "null", "-", "?"}
#: a layer written after an area's name (AUDp4, VISp2/3, A1 L5): the same area
#: (an explicit L or layer, or digits after a lowercase letter as in Allen's acronyms; A1, V1
#: and CA1 keep theirs)
_LAYER = re.compile(r"(?:[\s_-]*(?:[Ll]|[Ll]ayer)[\s_]*\d+(?:/\d+)?[ab]?|(?<=[a-z])\d+(?:/\d+)?[ab]?)$")


def _area(value: object) -> str:
    """An area's name without its layer; '' for placeholders."""
    text = str(value if value is not None else "").strip()
    if text.lower() in _PLACEHOLDERS:
        return ""
    return _LAYER.sub("", text)  # a layer alone (L4) names no area


def unit_notes(spikes: UnitSpikes, reader: ReaderParams) -> list[str]:
    """Units the reader left out: unobserved during sounds, or with too few spikes."""
    notes = [n for n in spikes.notes if any(w in n for w in WARNED_UNIT_NOTES)]
    if spikes.unobserved:
        notes.append(f"unit(s) {listing(spikes.unobserved)} left out: their obs_intervals leave part of "
                     "the presented sounds unobserved (no spikes there is not silence)")
    if spikes.dropped:
        notes.append(f"unit(s) {listing(spikes.dropped)} left out: fewer than "
                     f"{max(reader.min_spikes, 1)} spike(s) (reader.min_spikes)")
    areas: dict[str, int] = {}
    for area in spikes.info.area:
        key = _area(area)
        if key:
            areas[key] = areas.get(key, 0) + 1
    if len(areas) > 1:
        said = listing([f"{a}: {n}" for a, n in areas.items()], 4)
        notes.append(f"units lie in {len(areas)} areas ({said}): the site's analyses (its subspace, tiling, "
                     "depth) take them as one site; to keep one area's units, give them a true/false units "
                     "column for reader.unit_column, or write each area to a file of its own")
    return notes


#: presentations this far apart (median, seconds), and this many times longer apart than
#: the sounds last: in milliseconds, the sounds would fill a thousandth of their spans
_APART_S, _APART_TIMES = 100.0, 500.0
#: units firing slower than this (median, spikes/s) fire a thousand times faster in ms
_SLOW_HZ = 0.1
#: spikes while the sounds play at less than this many times the mean rate: no response
_LOCKED = 3.0


def check_seconds(times: Sequence[np.ndarray], layout: Layout, label: str) -> None:
    """Refuse a file whose presentation times and spike times are both in milliseconds
    (consistent with each other, so no disagreement shows): presentations a median of
    over 100 s apart and 500 times as long apart as their sounds last, units firing a
    median of under 0.1 spikes/s, and no more spikes while the sounds play than three
    times the mean rate (a sparse session in seconds shows its responses there).

    Raises
    ------
    InvalidDataError
        Naming the file, the spacing, the sounds' length and the rates.
    """
    pres = [p for p in layout.presentations if p.series.rate]
    fired = [np.asarray(t, dtype=np.float64) for t in times if len(t)]
    if len(pres) < 3 or not fired:
        return
    starts = np.sort(np.array([p.start for p in pres]))
    length = float(np.median([p.n_samples / float(p.series.rate) for p in pres]))
    gap = float(np.median(np.diff(starts)))
    first, last = min(float(t.min()) for t in fired), max(float(t.max()) for t in fired)
    span = max(last - first, gap)
    rate = float(np.median([len(t) / span for t in times]))
    if gap <= _APART_S or gap <= _APART_TIMES * length or rate >= _SLOW_HZ:
        return
    during = sum(int(np.sum(np.searchsorted(t, starts + length) - np.searchsorted(t, starts)))
                 for t in (np.sort(t) for t in fired))
    locked = during / max(len(starts) * length, 1e-12) / (sum(len(t) for t in fired) / span)
    if locked < _LOCKED:
        raise InvalidDataError(
            f"{label}: presentations lie a median of {gap:g} s apart while their sounds last {length:g} s, "
            f"units fire a median of {rate:.2g} spikes/s, and no more while the sounds play: are the "
            "presentation times and the spike times in milliseconds? (NWB times are seconds)")
