"""From an NWB file (local, streamed or in memory) to :class:`~ndx_encoding_subspace.data.site.SiteData`.

Steps (METHOD.md sections 1 and 6):

1. :func:`~ndx_encoding_subspace.io.locate.locate` picks the Units table, the sounds and
   their presentations (:mod:`~ndx_encoding_subspace.io.layouts`). Presentations of the same
   sound carry the same name: the same template, the same name in a table (path, extension
   and case ignored), or, for one series per presentation, identical samples.
2. Every distinct sound's waveform is read once, only its presented samples, after every
   sound has been checked (:mod:`~ndx_encoding_subspace.io.storage`: declared length,
   memory, samples never written to the file); it is taken from channel
   ``reader.channel``, scaled by the series' ``conversion`` and ``offset``, checked for
   NaN/inf, and turned into a spectrogram; all spectrograms of the site are min-max
   scaled together.
3. Spike counts of every presentation: bin ``b`` holds the spikes with
   ``floor((t - start) / bin_size) == b`` for the number of bins of the sound's
   spectrogram.
4. Split: sounds presented once are estimation sounds, sounds presented at least
   ``reader.min_validation_repeats`` times are validation sounds (or the sounds listed in
   ``reader.validation_sounds``). When no sound, or every sound, is repeated, the last
   ``reader.validation_fraction`` of sounds (in order of first presentation) are validation
   sounds (METHOD.md section 1: datasets where every sound is repeated split by sound).
"""

from __future__ import annotations

import gc
import hashlib
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.population import smooth_counts
from ..data.site import SiteData, Sound
from ..data.spectrogram import (
    NYQUIST_RULE,
    SpectrogramParams,
    channel_range,
    filterbank_frequencies,
    scale_channels,
)
from ..errors import ConfigError, InvalidDataError
from ..inputs import file_sha256, nwb_stem
from .baseline import CONTROL_ROWS, SILENCED
from .conditions import READING_RULES, WARNED, check_tail, read_end
from .in_recording import BEGAN_LATE, check_in_recording, silent_start, unobserved_left_out
from .inventory import ONSETS_UNREAD
from .layouts import continuous
from .layouts.base import DISAGREES, from_tracks
from .layouts.near_copies import NEAR_COPIES
from .layouts.series import IGNORED
from .layouts.templates import (
    MOVED_TO_SERIES,
    NO_ONSET,
    REFERENCES_DISAGREE,
    SHORTENED,
    STOPPED,
    STOPS_INSIDE,
    UNNAMED,
)
from .locate import Layout, Presentation, locate
from .names import ONSET_COLUMNS, listing
from .notes import check_seconds, layout_notes, spike_notes, unit_notes
from .onset_names import NAMED_AT_ONSETS
from .open import OpenedNWB, open_nwb
from .parameters import LEVELS_DIFFER
from .placement import PHY_DEPTH
from .presentations import BETWEEN_BLOCKS, REFERENCED_ONSETS
from .reader_params import ReaderParams
from .samples import (
    mixed_sample_formats,
    mixed_units_note,
    plain_integers,
    read_spectrograms,
    wide_integers_note,
)
from .sound_files import KIND as FILE
from .storage import check_demand, check_span
from .units import acquisition_end, bin_counts, observed_only, observed_spans, read_units, recording_span

if TYPE_CHECKING:
    from ..data.celltype import CellTypeParams

__all__ = ["SAME_SOUNDS", "read_site", "build_site", "split_sounds", "reading_rules"]

#: what the note of sounds of other names with the same spectrogram holds
SAME_SOUNDS = "of other names have the same spectrogram"


def read_site(
    source: Any,
    *,
    reader: ReaderParams | None = None,
    spectrogram: SpectrogramParams | None = None,
    celltype: CellTypeParams | None = None,
    name: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> SiteData:
    """Read one recording site from an NWB file.

    Parameters
    ----------
    source : str, Path, NWBFile or OpenedNWB
        Local path, ``DANDI:`` identifier naming one asset, http(s) URL, or an open file.
    reader : ReaderParams, optional
        Where to look, how to split, how to stream (defaults: detect everything).
    spectrogram : SpectrogramParams, optional
        Spectrogram front end; its ``bin_size`` is also the bin of the spike counts.
    celltype : CellTypeParams, optional
        Spike-width threshold for the narrow/regular class.
    name : str, optional
        Site name; default: the file's stem.
    progress : callable, optional
        ``progress(stage, done, total)`` as sounds are read (streamed) and transformed.

    Returns
    -------
    SiteData

    Raises
    ------
    NotNWBError, RemoteError, NoUnitsError, NoSoundStimulusError, AmbiguousInputError,
    InvalidDataError, ConfigError
        Each message names the file and the object.
    """
    reader = ReaderParams.of(reader)
    try:
        with open_nwb(source, reader=reader) as opened, opened.reading("units and sounds"):
            return build_site(opened, reader=reader, spectrogram_params=spectrogram, celltype=celltype,
                              name=name, progress=progress)
    finally:
        # hdmf's readers are held in reference cycles whose finalizers take h5py's lock:
        # freed here, in the thread that read the file, once it is closed, rather than
        # by a collection in whichever thread allocates next (which would wait for that
        # lock while this thread holds it reading another file)
        gc.collect()


def _site_name(opened: OpenedNWB) -> str:
    path = str(opened.provenance.get("path", ""))
    stem = nwb_stem(path.split("?", 1)[0]) if path else ""
    return stem or str(opened.nwbfile.identifier)


#: every sound repeated: those presented at least this many times as often as the least
#: presented one, when they are half of the sounds or fewer, are the validation sounds (the
#: split rule :data:`MOST_REPEATS`)
MOST_REPEATED = 2
MOST_REPEATS = "most repeats"


def split_sounds(
    order: Sequence[str], repeats: dict[str, int], reader: ReaderParams, name: str
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """Estimation and validation sound names, and the rule that chose them."""
    if reader.validation_sounds:
        unknown = sorted(set(reader.validation_sounds) - set(order))
        if unknown:
            raise ConfigError(
                f"reader.validation_sounds names sounds not presented in {name}: {unknown[:10]}; "
                f"sounds: {list(order)[:20]}"
            )
        wanted = set(reader.validation_sounds)
        return (tuple(s for s in order if s not in wanted), tuple(s for s in order if s in wanted), "listed")
    repeated = [s for s in order if repeats[s] >= reader.min_validation_repeats]
    most = max((repeats[s] for s in order), default=0)
    if 2 <= most < reader.min_validation_repeats:  # repeats there are, but fewer than asked
        raise ConfigError(f"reader.min_validation_repeats = {reader.min_validation_repeats}, but no sound of "
                          f"{name} is presented that often (at most {most} times): lower it, or list the "
                          "validation sounds with --reader.validation_sounds")
    if 0 < len(repeated) < len(order):
        once = tuple(s for s in order if repeats[s] < reader.min_validation_repeats)
        return once, tuple(repeated), "repeats"
    least = min((repeats[s] for s in order), default=0)
    often = [s for s in order if repeats[s] >= max(MOST_REPEATED * least, reader.min_validation_repeats)]
    if 0 < len(often) <= len(order) // 2:  # every sound repeated, a few far more often: those
        return tuple(s for s in order if s not in often), tuple(often), MOST_REPEATS
    if len(order) < 2:
        return tuple(order), (), "single sound"
    n_val = max(1, math.ceil(reader.validation_fraction * len(order) - 1e-9))
    n_val = min(n_val, len(order) - 1)
    return tuple(order[:-n_val]), tuple(order[-n_val:]), "last fraction"


def reading_rules(layout: Layout, reader: ReaderParams) -> list[str]:
    """The rules of reading, added since the first release, that this layout needed (none
    for a file that earlier releases read the same way): the site's results made before
    them are then made again."""
    rules = []
    if layout.onset and layout.onset not in ONSET_COLUMNS:
        rules.append(f"onsets:{layout.onset}")
    if any(getattr(p.series.series.data, "dtype", None) == np.uint8 for p in layout.presentations):
        rules.append("uint8-centred")
    if any(plain_integers(p.series) for p in layout.presentations if p.series.neurodata_type != FILE):
        rules.append("integers-full-scale")
    if layout.kind == continuous.KIND and any(continuous.SAME_SAMPLES in note for note in layout.notes):
        rules.append("same-samples-repeat")
    if layout.kind == continuous.KIND and any(NEAR_COPIES in note for note in layout.notes):
        rules.append("near-copies-repeat")
    rules += [rule for rule, said in READING_RULES.items() if any(said in note for note in layout.notes)]
    series = {p.series.path: p.series for p in layout.presentations}.values()
    if layout.kind == "templates" and len({round(s.starting_time, 3) for s in series if from_tracks(s)}) > 1:
        rules.append("series-named-by-a-table")
    if any(s.neurodata_type == FILE and "/" in s.name for s in series):
        rules.append("sound-files-by-folder")
    if layout.kind == continuous.KIND and any("/" in p.sound for p in layout.presentations):
        rules.append("track-names-by-folder")
    if any(SHORTENED in note for note in layout.notes):
        rules.append("once-read-until-stop")
    if any(CONTROL_ROWS in note for note in layout.notes):
        rules.append("control-rows-read")
    if any(REFERENCED_ONSETS in note for note in layout.notes):
        rules.append("onsets-of-references")
    if any(MOVED_TO_SERIES in note for note in layout.notes):
        rules.append("onsets-of-series")
    if layout.kind == "segments" and layout.presentations:
        last = layout.presentations[-1]
        if last.series.rate and last.n_samples > reader.segment_s * last.series.rate + 1:
            rules.append("segment-tail-joined")
    return rules


def _split(order: Sequence[str], repeats: dict[str, int], reader: ReaderParams,
           label: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """:func:`split_sounds`, with a warning naming the validation sounds when every sound is
    repeated (no rule of the recording tells them apart)."""
    estimation, validation, rule = split_sounds(order, repeats, reader, label)
    if rule == "last fraction" and all(repeats[s] >= reader.min_validation_repeats for s in order):
        warnings.warn(f"{label}: every sound is presented at least {reader.min_validation_repeats} times, so "
                      f"the last {len(validation)} in presentation order are the validation sounds "
                      f"(reader.validation_fraction = {reader.validation_fraction:g}): "
                      f"{listing(map(repr, validation), 5)}; choose them with --reader.validation_sounds",
                      stacklevel=4)
    if rule == MOST_REPEATS:
        warnings.warn(f"{label}: every sound is presented at least {min(repeats.values())} times; the "
                      f"{len(validation)} presented at least {MOST_REPEATED} times as often "
                      f"({listing(map(repr, validation), 5)}) are the validation sounds; choose them with "
                      "--reader.validation_sounds", stacklevel=4)
    most = max((repeats[s] for s in validation), default=0)
    few = [s for s in validation if 2 * repeats[s] <= most]
    if rule == "repeats" and few and most >= 4:
        warnings.warn(f"{label}: validation sound(s) {listing(map(repr, few), 5)} presented only "
                      f"{repeats[few[0]]} times, where others are presented up to {most} times (a trial "
                      "repeated?): their PSTHs are noisier; choose the validation sounds with "
                      "--reader.validation_sounds", stacklevel=4)
    return estimation, validation, rule


def _plain(value: Any) -> Any:
    """A unit property as JSON holds it: numbers and text as they are, anything else as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _by_sound(presentations: Sequence[Presentation]
              ) -> tuple[list[str], dict[str, Presentation], dict[str, list[float]]]:
    """Sounds in order of first presentation, each one's first presentation, and every
    presentation's start per sound."""
    order: list[str] = []
    first: dict[str, Presentation] = {}
    starts: dict[str, list[float]] = {}
    for pres in sorted(presentations, key=lambda p: (p.start, p.row)):
        if pres.sound not in first:
            order.append(pres.sound)
            first[pres.sound] = pres
        starts.setdefault(pres.sound, []).append(pres.start)
    return order, first, starts


def _same_spectrograms(order: list[str], raw: list[np.ndarray], layout: Layout) -> str:
    """A note of the sounds of other names whose spectrograms are the same (the models
    cannot tell them apart: each repeat of a sound stored as its own template, or one
    waveform played at several levels by an attenuator), or ''. Silent sounds, and the
    fixed segments of a track, are not compared. Each stays a sound of its own."""
    if layout.kind == "segments":
        return ""
    groups: dict[tuple, list[str]] = {}
    for sound, spec in zip(order, raw, strict=True):
        if spec.size and np.ptp(spec) > 0:
            key = (spec.shape, hashlib.blake2b(np.ascontiguousarray(spec).tobytes(), digest_size=16).digest())
            groups.setdefault(key, []).append(sound)
    same = [g for g in groups.values() if len(g) > 1]
    if not same:
        return ""
    said = "; ".join(listing(map(repr, g), 4) for g in same[:3])
    more = f"; and {len(same) - 3} more" if len(same) > 3 else ""
    return (f"{sum(map(len, same))} sounds {SAME_SOUNDS}: {said}{more}; each is read as a sound of its own "
            "(copies of one sound split between the estimation and the validation sets are trained on; "
            "reader.validation_sounds can put every copy in the validation set)")


#: what the layout's notes that the reader warns of hold
_WARNED_NOTES = (LEVELS_DIFFER, UNNAMED, STOPPED, STOPS_INSIDE, NO_ONSET, SHORTENED, IGNORED, DISAGREES,
                 SILENCED, ONSETS_UNREAD, CONTROL_ROWS, REFERENCED_ONSETS, MOVED_TO_SERIES,
                 REFERENCES_DISAGREE, BETWEEN_BLOCKS, continuous.FOLDERS_IGNORED, NEAR_COPIES,
                 NAMED_AT_ONSETS, *WARNED)


def _reading_notes(opened: OpenedNWB, layout: Layout, span: tuple[float, float],
                   mixed: bool) -> list[str]:
    """The layout's notes (:func:`~.notes.layout_notes`) and the sample-format rule's."""
    acquired = acquisition_end(opened.nwbfile)  # no spike after it: the recording's end
    ended = acquired if acquired is not None and acquired >= span[1] else None
    notes = layout_notes(layout, span[0], ended) + [
        n for n in layout.notes if any(w in n for w in _WARNED_NOTES)]
    if mixed:
        notes.append("the sounds mix integer samples without a conversion and floating-point or converted "
                     "ones: the integer ones without a conversion are read as fractions of their full scale "
                     "(32768 for 16 bits), as WAV files mean them, the others as their conversion says")
    notes += [note for note in (mixed_units_note(layout), wide_integers_note(layout)) if note]
    return notes


def build_site(
    opened: OpenedNWB,
    *,
    reader: ReaderParams | None = None,
    spectrogram_params: SpectrogramParams | None = None,
    celltype: CellTypeParams | None = None,
    name: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> SiteData:
    """:func:`read_site` on an already open file."""
    reader = ReaderParams.of(reader)
    spec_params = SpectrogramParams.of(spectrogram_params)
    label = opened.name
    layout = locate(opened.nwbfile, label, reader)
    spikes = read_units(layout.units, label, layout.units_path, reader, celltype)
    span = recording_span(spikes.times, opened.nwbfile, (layout.units, spikes.info.rows))
    layout, trailing = check_in_recording(layout, span, label)  # before obs_intervals: they end there too
    tail = reader.response_tail_s
    check_tail(layout.presentations, tail, label, span[1])
    spans = [(p.start, read_end(p) + tail) for p in layout.presentations]
    covered = observed_spans(layout.units, np.asarray(spikes.info.rows), spans)
    layout, unseen = unobserved_left_out(layout, ~covered.any(axis=0))
    if unseen:  # those presentations left out
        seen = covered.any(axis=0)
        spans, covered = [s for s, c in zip(spans, seen, strict=True) if c], covered[:, seen]
    spikes = observed_only(spikes, layout.units, spans, label, layout.units_path, covered)
    check_seconds(spikes.times, layout, label)
    order, first, starts = _by_sound(layout.presentations)
    mixed = mixed_sample_formats(layout)  # integers read as fractions of full scale, said where mixed
    norate = [f"{s!r} ({first[s].series.path})" for s in order if not first[s].series.rate]
    if norate:
        raise InvalidDataError(
            f"{label}: {'sound' if len(norate) == 1 else f'{len(norate)} sounds'} {listing(norate, 5)} "
            f"{'has' if len(norate) == 1 else 'have'} no sample rate "
            "(no rate, and timestamps not evenly spaced: a gap or dropped samples?)"
        )
    for sound in order:  # every sound checked before any is read
        check_span(first[sound], label, reader.max_sound_s, warn=False)
    check_demand([first[s] for s in order], label, spec_params.bin_size, spec_params.n_channels,
                 len(spikes.times))
    raw, notes = read_spectrograms([first[s] for s in order], reader, spec_params, label,
                                   full_scale=True, progress=progress)
    same = _same_spectrograms(order, raw, layout)
    notes += [same] if same else []
    notes[:0] = [n for n in (trailing, unseen, silent_start(layout, spikes.times, opened.nwbfile)) if n]
    notes.extend(_reading_notes(opened, layout, span, mixed))
    notes.extend(unit_notes(spikes, reader))
    low, high = channel_range(raw)
    sounds = tuple(Sound(s, spec, smooth_counts(bin_counts(spikes.times, starts[s], spec.shape[0],
                                                           spec_params.bin_size), reader.response_kernel))
                   for s, spec in zip(order, (scale_channels(r, low, high) for r in raw), strict=True))
    notes.extend(spike_notes(spikes.times, spikes.info.ids, sounds, layout))
    for note in dict.fromkeys(notes):
        warnings.warn(f"{label}: {note}", stacklevel=2)
    estimation, validation, rule = _split(order, {s: len(starts[s]) for s in order}, reader, label)
    source = {
        **opened.provenance,
        "name": opened.provenance.get("name", label),  # a plain URL's without its signature
        **layout.provenance(),
        "split": rule,
        "dropped_units": list(spikes.dropped),
        "units_notes": list(spikes.notes),
        "notes": list(dict.fromkeys(notes)),
        "layout_notes": list(layout.notes),  # all the layout's, those not warned of too
        "unit_properties": {k: [_plain(v) for v in values] for k, values in spikes.properties.items()},
        "reader": reader.to_dict(),
        "spectrogram": spec_params.to_dict(),
        "spectrogram_scale": {"min": low.tolist(), "max": high.tolist()},  # for new sounds
    }
    said = {"began-late-left-out": BEGAN_LATE in trailing, "validation-most-repeated": rule == MOST_REPEATS,
            "observed-over-sounds": "obs_intervals" in layout.units.colnames,
            "phy-depth-from-top": any(PHY_DEPTH in n for n in spikes.notes),
            NYQUIST_RULE: any(0 < (first[s].series.rate or 0) < 2 * spec_params.max_frequency for s in order)}
    rules = reading_rules(layout, reader) + [name for name, held in said.items() if held]
    source.update({"rules": rules} if rules else {})  # read otherwise than earlier: part of the identity
    if reader.sound_folder:  # the sounds' identity, wherever the folder lies
        source["sound_files"] = {s.name: file_sha256(s.path) for s in layout.sounds
                                 if s.neurodata_type == FILE}
    if opened.session is not None:
        source["bytes_read"] = opened.session.bytes_received
    return SiteData(
        name=name or _site_name(opened),
        sounds=sounds,
        frequencies=np.asarray(filterbank_frequencies(spec_params), dtype=np.float64),
        bin_size=float(spec_params.bin_size),
        units=spikes.info,
        estimation=estimation,
        validation=validation,
        source=source,
    )
