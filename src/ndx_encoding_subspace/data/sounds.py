"""Synthetic sounds for the simulated site: natural-like events over random chords.

A clip is a continuous bed of dynamic random chords (:func:`chords`) plus overlapping
events, each at a random level (0 to -30 dB) and place. Event kinds:

* ``stack``: harmonic stack with a slight vibrato and spectral tilt;
* ``sweep``: frequency sweep of one or two harmonics;
* ``noise``: band-pass noise burst (0.3-2 octaves wide);
* ``call``: vocalisation-like harmonic call with a rising and falling pitch and a formant;
* ``clicks``: a train of broadband clicks (sharp onsets).

The events make the clips natural-like, but alone they drive few spectro-temporal
directions: their onsets and offsets move every channel together, so that the
spectrogram windows have about 30 principal directions above 1% of the largest
variance. The chord bed, whose tones switch independently every 20-50 ms, brings this to
more than 100, so that the tuning of a unit is identifiable from its responses, as in
experiments that mix natural sounds with random chords.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EVENT_KINDS", "synth_sound", "event", "chords"]

#: event kinds and their probabilities
EVENT_KINDS: dict[str, float] = {"stack": 0.2, "sweep": 0.2, "noise": 0.2, "call": 0.2, "clicks": 0.2}
_DURATIONS = {"stack": (0.1, 0.5), "sweep": (0.05, 0.3), "noise": (0.02, 0.3), "call": (0.1, 0.4),
              "clicks": (0.1, 0.5)}


def _ramp(n: int, fs: float, ramp: float = 0.005) -> np.ndarray:
    m = max(1, min(n // 2, int(ramp * fs)))
    env = np.ones(n)
    env[:m] = np.linspace(0, 1, m)
    env[n - m:] = np.linspace(1, 0, m)
    return env


def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int | None = None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _noise(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    centre = _log_uniform(rng, 300, min(16000, 0.45 * fs))
    width = rng.uniform(0.3, 2.0)  # octaves
    spec *= np.exp(-0.5 * (np.log2(np.maximum(f, 1) / centre) / (width / 2)) ** 2)
    return np.fft.irfft(spec, n)


def _harmonic(kind: str, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    nyq = 0.45 * fs
    t = np.arange(n) / fs
    if kind == "sweep":
        f1, f2 = _log_uniform(rng, 300, min(16000, nyq), 2)
        f0 = f1 * (f2 / f1) ** (t / t[-1])
        harmonics = int(rng.integers(1, 3))
    else:
        base = _log_uniform(rng, 150, 1500 if kind == "stack" else 3000)
        if kind == "stack":
            f0 = base * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 8) * t))
        else:  # vocalisation-like: rise and fall of the pitch
            f0 = base * (1 + rng.uniform(0.2, 0.8) * np.sin(np.pi * t / t[-1]) ** 2)
        harmonics = int(min(12, nyq / (base * 2)))
    phase = 2 * np.pi * np.cumsum(f0) / fs
    x = np.zeros(n)
    tilt = rng.uniform(-1.5, 0)
    formant = _log_uniform(rng, 500, 8000)
    for h in range(1, max(1, harmonics) + 1):
        fh = h * f0
        gain = h**tilt * (1 + 2 * (kind == "call") * np.exp(-0.5 * np.log2(fh / formant) ** 2))
        x += np.where(fh < nyq, gain, 0.0) * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    if kind in ("stack", "call"):
        x *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 20) * t) * rng.uniform(0, 1)
    return x


def chords(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of dynamic random chords, peak amplitude 1.

    Tones of a 48-step log-spaced grid (250 Hz-18 kHz), each on with probability 0.1-0.3
    (drawn per call) in each chord of 20-50 ms, at its own level (0 to -20 dB), with
    5 ms cross-fades and continuous phase (no broadband clicks at chord boundaries).
    """
    grid = np.geomspace(250.0, min(18000.0, 0.45 * fs), 48)
    density = rng.uniform(0.1, 0.3)
    chord = max(2, int(rng.uniform(0.02, 0.05) * fs))
    n_chords = -(-n // chord) + 1
    on = rng.random((grid.size, n_chords)) < density
    levels = on * 10 ** (rng.uniform(-20, 0, (grid.size, n_chords)) / 20)
    t = np.arange(n) / fs
    fade = max(1, int(0.005 * fs))
    # hold each chord's level, moving linearly to the next over its last ``fade`` samples
    idx = np.arange(n) // chord
    pos = np.clip((np.arange(n) - idx * chord - (chord - fade)) / fade, 0.0, 1.0)
    env = levels[:, idx] * (1 - pos) + levels[:, idx + 1] * pos
    phases = rng.uniform(0, 2 * np.pi, grid.size)
    x = (env * np.sin(2 * np.pi * grid[:, None] * t[None] + phases[:, None])).sum(axis=0)
    return x / (np.max(np.abs(x)) + 1e-12)


def _clicks(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Train of broadband clicks at random intervals (20-120 ms)."""
    x = np.zeros(n)
    pos = int(rng.uniform(0, 0.02) * fs)
    width = max(1, int(0.001 * fs))
    while pos + width < n:
        x[pos:pos + width] += rng.standard_normal(width) * rng.uniform(0.3, 1.0)
        pos += int(rng.uniform(0.02, 0.12) * fs)
    return x


def event(kind: str, rng: np.random.Generator, fs: float) -> np.ndarray:
    """One sound event of ``kind`` (see the module docstring), peak amplitude 1."""
    n = max(8, int(rng.uniform(*_DURATIONS[kind]) * fs))
    if kind == "noise":
        x = _noise(n, fs, rng)
    elif kind == "clicks":
        x = _clicks(n, fs, rng)
    else:
        x = _harmonic(kind, n, fs, rng)
    x = x * _ramp(n, fs)
    return x / (np.max(np.abs(x)) + 1e-12)


def synth_sound(duration: float, rng: np.random.Generator, sample_rate: float,
                events_per_second: float, bed_level: float = -6.0,
                level_range: tuple[float, float] = (-30.0, 0.0)) -> np.ndarray:
    """One clip of ``duration`` seconds, float32.

    Parameters
    ----------
    duration : float
        Seconds.
    rng : numpy.random.Generator
        Source of randomness (advanced).
    sample_rate : float
        Samples per second.
    events_per_second : float
        Mean rate of events (Poisson count, at least one).
    bed_level : float
        Level of the chord bed, dB relative to the loudest events; below -100: no bed.
    level_range : tuple of float
        Range of the events' levels, dB (uniform).
    """
    n = int(round(duration * sample_rate))
    x = 0.002 * rng.standard_normal(n)  # faint background
    if bed_level > -100:
        x += 0.3 * 10 ** (bed_level / 20) * chords(n, sample_rate, rng)
    kinds, probs = list(EVENT_KINDS), np.array(list(EVENT_KINDS.values()))
    n_events = max(1, rng.poisson(events_per_second * duration))
    for _ in range(n_events):
        e = event(str(rng.choice(kinds, p=probs / probs.sum())), rng, sample_rate)
        e = e[: n - 1] * 10 ** (rng.uniform(*level_range) / 20) * 0.3
        start = rng.integers(0, n - e.size + 1)
        x[start:start + e.size] += e
    return x.astype(np.float32)
