"""Segments of a track holding the same sound again, though not sample for sample.

A recorded speaker track carries the converter's noise, so a sound heard again never
repeats its samples; and pynwb's ``add_trial(timeseries=[track])`` rounds each reference's
first sample down, so a repeat may begin a sample early. Where no column names what
played, such segments would each read as a sound of their own: the validation sounds'
repeats would become estimation sounds. Two segments are the same sound when

* their lengths agree (within :data:`LENGTH_SHARE` or two samples) and so do their levels,
  channel by channel (within :data:`LEVEL_DB`: a tone at two levels is two sounds, and so
  are copies played to the left and to the right ear; a channel :data:`QUIET_DB` quieter
  than the loudest, an ear not played to, must be as quiet in both);
* their envelopes (10 ms steps, over the whole segment) and spectra correlate at least
  :data:`SAME_SOUND_R` (a quick test before the samples are compared);
* their samples correlate at least :data:`SAME_SOUND_R`, channel by channel, at the best
  shift of at most :data:`MAX_SHIFT_S`, over their first and their last
  :data:`WINDOW_S` seconds (sounds sharing a beginning and ending otherwise differ).

Copies of copies are one sound, named after the earliest segment holding it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..inventory import Presentation

__all__ = ["NEAR_COPIES", "SAME_SOUND_R", "near_copies"]

#: what the note of segments read as near copies holds (the reader warns of it)
NEAR_COPIES = "are near copies of an earlier segment"
#: segments whose samples correlate at least this much are the same sound heard again
SAME_SOUND_R = 0.9
#: the largest shift between two copies (s), the seconds compared at each end, the envelope's step (s)
MAX_SHIFT_S, WINDOW_S, ENVELOPE_S = 0.002, 0.5, 0.01
#: lengths of copies differ by at most this share (or two samples)
LENGTH_SHARE = 0.01
#: levels (root mean square) of copies differ by at most this (dB), channel by channel; a
#: channel this much quieter than the loudest is compared by its level only
LEVEL_DB, QUIET_DB = 1.0, 20.0
#: samples read at a time for a segment's envelope
_BLOCK = 1 << 20
_BANDS = 64


@dataclasses.dataclass
class _Traits:
    """What is compared of one segment: its envelope, spectrum, levels and two windows."""

    envelope: np.ndarray
    spectrum: np.ndarray
    levels: np.ndarray
    windows: tuple[np.ndarray, np.ndarray]  # [samples, channels], float32


def _read(p: Presentation, first: int, count: int) -> np.ndarray:
    start = p.first_sample + first
    x = np.asarray(p.series.series.data[start: start + count], dtype=np.float32)
    return x.reshape(x.shape[0], -1)


def _unit(v: np.ndarray) -> np.ndarray:
    v = v - v.mean()
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def _traits(p: Presentation) -> _Traits | None:
    """The segment's traits; None for silence or a segment too short to compare."""
    rate = float(p.series.rate or 0.0)
    step, span = max(1, int(ENVELOPE_S * rate)), int(WINDOW_S * rate) + 2 * int(MAX_SHIFT_S * rate)
    if not rate or p.n_samples < 4 * step:
        return None
    power, squares = [], None
    chunk = _BLOCK - _BLOCK % step
    for a in range(0, p.n_samples - p.n_samples % step, chunk):
        x = _read(p, a, min(chunk, p.n_samples - p.n_samples % step - a)).astype(np.float64)
        power.append((x.reshape(-1, step, x.shape[1]) ** 2).mean(axis=(1, 2)))
        squares = (x**2).sum(axis=0) + (0.0 if squares is None else squares)
    envelope = np.sqrt(np.concatenate(power))
    if squares is None or not envelope.max() > 0:
        return None
    head, tail = _read(p, 0, min(span, p.n_samples)), _read(p, max(0, p.n_samples - span), span)
    bands = np.array_split(np.abs(np.fft.rfft(head.mean(axis=1).astype(np.float64))) ** 2, _BANDS)
    spectrum = np.log10(np.array([b.sum() for b in bands]) + 1e-30)
    levels = 10 * np.log10(squares / p.n_samples + 1e-30)
    return _Traits(_unit(envelope), _unit(spectrum), levels, (head, tail))


def _shifted_r(x: np.ndarray, y: np.ndarray, shift: int) -> float:
    """The lowest, over channels, of the largest correlation of ``x`` and ``y`` shifted by at
    most ``shift`` samples (cross-correlation through the FFT)."""
    n = min(len(x), len(y)) - 2 * shift
    if n < 16 or x.shape[1] != y.shape[1]:
        return 0.0
    worst = 1.0
    for c in range(x.shape[1]):
        a, b = x[shift: shift + n, c].astype(np.float64), y[: n + 2 * shift, c].astype(np.float64)
        a, b = a - a.mean(), b - b.mean()
        size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
        cross = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)[: 2 * shift + 1]
        energy = np.concatenate(([0.0], np.cumsum(b**2)))
        norms = np.sqrt(energy[n: n + 2 * shift + 1] - energy[: 2 * shift + 1]) * np.linalg.norm(a)
        flat_a, flat_b = not np.linalg.norm(a) > 0, not norms.max() > 0
        if flat_a and flat_b:
            continue  # a silent channel in both
        best = 0.0 if flat_a or flat_b else float(np.max(cross / np.where(norms > 0, norms, np.inf)))
        worst = min(worst, best)
    return worst


def _same(a: _Traits, b: _Traits, shift: int) -> bool:
    if a.levels.shape != b.levels.shape:
        return False
    loud = a.levels >= a.levels.max() - QUIET_DB  # a channel far quieter (an ear not played to) holds noise
    if not np.array_equal(loud, b.levels >= b.levels.max() - QUIET_DB) or \
            np.abs(a.levels - b.levels)[loud].max() > LEVEL_DB:
        return False
    m = min(len(a.envelope), len(b.envelope))
    if float(a.spectrum @ b.spectrum) < SAME_SOUND_R or float(_unit(a.envelope[:m]) @ _unit(b.envelope[:m])) \
            < SAME_SOUND_R:
        return False
    return all(_shifted_r(u[:, loud], v[:, loud], shift) >= SAME_SOUND_R
               for u, v in zip(a.windows, b.windows, strict=True))


def near_copies(pres: Sequence[Presentation]) -> tuple[list[Presentation], int]:
    """``pres`` with the segments that are near copies of an earlier one (see the module's
    text) relabelled as repeats of it, and how many were. Segments of one label are one
    sound already; each label is compared by its first segment."""
    firsts: dict[str, int] = {}
    for k, p in enumerate(pres):
        firsts.setdefault(p.sound, k)
    if len(firsts) < 2:
        return list(pres), 0
    reps = sorted(firsts.values(), key=lambda k: pres[k].n_samples)
    traits = {k: t for k in reps if (t := _traits(pres[k])) is not None}
    parent = {pres[k].sound: pres[k].sound for k in reps}

    def root(label: str) -> str:
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = parent[label]
        return label

    for i, a in enumerate(reps):
        for b in reps[i + 1:]:
            pa, pb = pres[a], pres[b]
            if pb.n_samples - pa.n_samples > max(2, LENGTH_SHARE * pa.n_samples):
                break
            ra, rb = root(pa.sound), root(pb.sound)
            if ra == rb or a not in traits or b not in traits or pa.series.rate != pb.series.rate:
                continue
            if _same(traits[a], traits[b], int(MAX_SHIFT_S * pa.series.rate)):
                early, late = (ra, rb) if firsts[ra] < firsts[rb] else (rb, ra)
                parent[late] = early
    owner = {label: root(label) for label in parent}
    merged = sum(owner[p.sound] != p.sound for p in pres)
    return [dataclasses.replace(p, sound=owner[p.sound]) for p in pres], merged
