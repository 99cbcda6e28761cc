"""Pure tones built from a parameter table (only with ``reader.synthesize_tones = true``).

Tuning-curve sessions describe their tones by columns (frequency, level, duration) and
store no waveform; :mod:`~ndx_encoding_subspace.io.parameters` finds such tables and
synthesizes each distinct tone. Tried after every layout with waveforms. Tones that
overlap in time (a tone, with the silence after it, lasting past the next row's onset)
are refused, as overlapping presentations of any layout are.
"""

from __future__ import annotations

from ..parameters import parameter_tables
from ..presentations import check_overlaps
from ..tones import synthesize_tones
from .base import Candidate, Context

__all__ = ["KIND", "detect"]

KIND = "tones"


def detect(ctx: Context) -> Candidate | str:
    """The tones of the file's parameter table, when ``reader.synthesize_tones`` is set."""
    if not ctx.params.synthesize_tones:
        return ""
    tables = parameter_tables(ctx.nwbfile)
    if not tables:
        return "reader.synthesize_tones is set but no table has tone-parameter columns"
    tones = synthesize_tones(ctx.nwbfile, ctx.name, ctx.params, tables)
    check_overlaps(
        tones.presentations, ctx.name, tones.table,
        "choose other rows with reader.presentations (a tone lasts its duration, or until its row's "
        "stop when that is later)",
    )
    reason = tones.describe() + " (reader.synthesize_tones)"
    notes = (f"rows without a tone left out: {list(tones.skipped_rows[:10])}",) if tones.skipped_rows else ()
    return Candidate(
        KIND, reason, tones.sounds, tones.table, ", ".join(tones.columns), tones.presentations, (), notes
    )
