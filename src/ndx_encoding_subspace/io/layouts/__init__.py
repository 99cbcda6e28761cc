"""The layouts of sound presentations the reader recognises, one module each.

Each module exposes ``KIND`` and ``detect(ctx) -> Candidate | str`` (see :mod:`.base`).
:data:`ORDER` is the order in which ``reader.layout = "auto"`` tries them; the first that
recognises the file wins:

1. ``templates`` (:mod:`.templates`) -- waveforms in ``stimulus/templates`` named by a
   table anywhere in the file: the most explicit layout, and the one this package writes.
2. ``continuous`` (:mod:`.continuous`) -- one track in ``stimulus/presentation`` (or its
   blocks, one after the other) cut at the rows of a table naming what played (trials
   alternating stimulus and baseline rows...).
3. ``series`` (:mod:`.series`) -- several series in ``stimulus/presentation`` one after the
   other, one per presentation (neuroconv's ``AudioInterface``); identical samples are the
   same sound.
4. ``segments`` (:mod:`.segments`) -- one track and no table: fixed segments, said so.
5. ``tones`` (:mod:`.tones`) -- no waveform, but a table of tone parameters, only with
   ``reader.synthesize_tones = true``: the tones are synthesized.

A table naming what played thus always wins over fixed segments.
"""

from __future__ import annotations

from collections.abc import Callable

from . import continuous, segments, series, templates, tones
from .base import Candidate, Context

__all__ = ["Candidate", "Context", "ORDER", "DETECTORS", "FALLBACKS"]

#: Layouts in the order ``auto`` tries them.
ORDER: tuple[str, ...] = (templates.KIND, continuous.KIND, series.KIND, segments.KIND, tones.KIND)

#: Each layout's detector.
DETECTORS: dict[str, Callable[[Context], Candidate | str]] = {
    templates.KIND: templates.detect,
    continuous.KIND: continuous.detect,
    series.KIND: series.detect,
    segments.KIND: segments.detect,
    tones.KIND: tones.detect,
}

#: Layouts tried after a chosen one (``reader.layout``) that does not apply:
#: ``continuous`` without a table falls back to fixed segments.
FALLBACKS: dict[str, tuple[str, ...]] = {continuous.KIND: (segments.KIND,)}
