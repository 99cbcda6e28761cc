"""Segments of a track holding the same sound again, though not sample for sample.

A recorded speaker track carries the converter's noise, so a sound heard again never
repeats its samples; and pynwb's ``add_trial(timeseries=[track])`` rounds each reference's
first sample down, so a repeat may begin a sample early. Where no column names what
played, such segments would each read as a sound of their own: the validation sounds'
repeats would become estimation sounds. Segments whose lengths agree (within
:data:`LENGTH_SHARE` or two samples) and whose samples correlate at least
:data:`SAME_SOUND_R`, at the best shift of at most :data:`MAX_SHIFT_S`, over their first
:data:`COMPARED_S` seconds, at levels within :data:`LEVEL_DB` (a tone at two levels is two
sounds), are the same sound: read as repeats of the first.
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
#: the largest shift between two copies (s), the seconds compared, and the envelope's step (s)
MAX_SHIFT_S, COMPARED_S, ENVELOPE_S = 0.002, 2.0, 0.01
#: lengths of copies differ by at most this share (or two samples)
LENGTH_SHARE = 0.01
#: levels (root mean square) of copies differ by at most this (dB)
LEVEL_DB = 1.0


def _samples(p: Presentation, n: int) -> np.ndarray:
    """The first ``n`` samples of a segment, channels averaged, as float64."""
    x = np.asarray(p.series.series.data[p.first_sample: p.first_sample + n], dtype=np.float64)
    return x.reshape(x.shape[0], -1).mean(axis=1)


def _envelope(x: np.ndarray, step: int) -> np.ndarray:
    """Root mean square over blocks of ``step`` samples, centred and scaled to unit norm."""
    n = len(x) // step
    env = np.sqrt((x[: n * step].reshape(n, step) ** 2).mean(axis=1)) if n else np.zeros(0)
    env = env - env.mean() if n else env
    norm = np.linalg.norm(env)
    return env / norm if norm > 0 else env


def _shifted_r(x: np.ndarray, y: np.ndarray, shift: int) -> float:
    """The largest correlation of ``x`` and ``y`` shifted by at most ``shift`` samples."""
    n = min(len(x), len(y)) - 2 * shift
    if n < 16:
        return 0.0
    a = x[shift: shift + n]
    a = (a - a.mean()) / (np.linalg.norm(a - a.mean()) or 1.0)
    best = 0.0
    for d in range(-shift, shift + 1):
        b = y[shift + d: shift + d + n]
        b = b - b.mean()
        norm = np.linalg.norm(b)
        if norm > 0:
            best = max(best, float(a @ b) / norm)
    return best


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
    wave, env = {}, {}
    for k in reps:
        p = pres[k]
        rate = p.series.rate or 0.0
        x = _samples(p, min(p.n_samples, int(COMPARED_S * rate) + 2 * int(MAX_SHIFT_S * rate) + 1))
        if rate and x.size and np.ptp(x) > 0:
            wave[k], env[k] = x, _envelope(x, max(1, int(ENVELOPE_S * rate)))
    owner = {pres[k].sound: pres[k].sound for k in reps}
    for i, a in enumerate(reps):
        for b in reps[i + 1:]:
            pa, pb = pres[a], pres[b]
            if pb.n_samples - pa.n_samples > max(2, LENGTH_SHARE * pa.n_samples):
                break
            if a not in wave or b not in wave or pa.series.rate != pb.series.rate \
                    or owner[pa.sound] != pa.sound or owner[pb.sound] != pb.sound:
                continue
            m = min(len(env[a]), len(env[b]))
            if m < 2 or float(env[a][:m] @ env[b][:m]) < SAME_SOUND_R * 0.9 or \
                    abs(20 * np.log10(np.std(wave[a]) / np.std(wave[b]))) > LEVEL_DB:
                continue
            if _shifted_r(wave[a], wave[b], int(MAX_SHIFT_S * pa.series.rate)) >= SAME_SOUND_R:
                first, later = (a, b) if a < b else (b, a)
                owner[pres[later].sound] = pres[first].sound
    merged = sum(owner[p.sound] != p.sound for p in pres)
    return [dataclasses.replace(p, sound=owner[p.sound]) for p in pres], merged
