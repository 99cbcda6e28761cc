"""Near copies in a recorded track (:mod:`ndx_encoding_subspace.io.layouts.near_copies`):
repeats of a sound are found through noise and a shift, and different sounds stay apart,
however alike their beginnings, levels or channels."""

from __future__ import annotations

import types

import numpy as np

from ndx_encoding_subspace.io.inventory import Presentation, SoundSeries
from ndx_encoding_subspace.io.layouts.near_copies import near_copies

RATE = 16000.0


def _track(segments: list[tuple[str, np.ndarray]], gap: float = 0.1) -> list[Presentation]:
    """Segments (label, samples [n] or [n, channels]) one after another in one track."""
    channels = max(1 if x.ndim == 1 else x.shape[1] for _, x in segments)
    parts, spans, at = [], [], 0
    for label, x in segments:
        x = x.reshape(len(x), -1) * np.ones((1, channels))
        spans.append((label, at, len(x)))
        parts += [x, np.zeros((int(gap * RATE), channels))]
        at += len(x) + int(gap * RATE)
    data = np.concatenate(parts).astype(np.float32)
    data = data[:, 0] if channels == 1 else data
    series = SoundSeries(name="speaker", path="stimulus/presentation/speaker", neurodata_type="TimeSeries",
                         place="continuous", rate=RATE, starting_time=0.0, n_samples=len(data),
                         n_channels=channels, series=types.SimpleNamespace(data=data))
    return [Presentation(label, first / RATE, (first + n) / RATE, k, series, first, n)
            for k, (label, first, n) in enumerate(spans)]


def _labels(segments: list[tuple[str, np.ndarray]]) -> list[str]:
    return [p.sound for p in near_copies(_track(segments))[0]]


rng = np.random.default_rng(0)
BASE = rng.standard_normal(int(0.5 * RATE))


def _noisy(x: np.ndarray) -> np.ndarray:
    return x + 0.05 * rng.standard_normal(x.shape)


def test_copies_of_copies_are_one_sound_named_after_the_earliest():
    """Lengths differing by a sample or two, the shortest last in time: one sound, not two."""
    segments = [("seg0", _noisy(np.r_[BASE, 0.0, 0.0])), ("other", _noisy(rng.standard_normal(8000))),
                ("seg1", _noisy(BASE)), ("seg2", _noisy(BASE[:-1]))]
    assert _labels(segments) == ["seg0", "other", "seg0", "seg0"]


def test_a_repeat_shifted_by_a_sample_is_the_same_sound():
    assert _labels([("a", BASE), ("b", np.r_[0.0, BASE[:-1]])]) == ["a", "a"]


def test_sounds_sharing_their_beginning_stay_apart():
    common = rng.standard_normal(int(2.0 * RATE))
    a = np.r_[common, rng.standard_normal(int(1.0 * RATE))]
    b = np.r_[common, rng.standard_normal(int(1.0 * RATE))]
    assert _labels([("A", _noisy(a)), ("B", _noisy(b))]) == ["A", "B"]


def test_levels_and_ears_tell_sounds_apart():
    """The same clip 6 dB quieter, or played to the other ear, or at another interaural level
    difference, is another sound; the same stereo clip again is a repeat."""
    hiss = 0.01 * rng.standard_normal((len(BASE), 2))  # the recording's noise, in the silent ear too
    left, right = np.c_[BASE, np.zeros_like(BASE)] + hiss, np.c_[np.zeros_like(BASE), BASE] + hiss
    louder_left, louder_right = np.c_[BASE, 0.3 * BASE], np.c_[0.3 * BASE, BASE]
    segments = [("left", left), ("right", right), ("ild+10", louder_left), ("ild-10", louder_right),
                ("left again", left - hiss + 0.01 * rng.standard_normal(left.shape))]
    assert _labels(segments) == ["left", "right", "ild+10", "ild-10", "left"]
    assert _labels([("loud", BASE), ("quiet", BASE / 2)]) == ["loud", "quiet"]


def test_silence_is_no_sound_to_hear_again():
    silent = np.zeros(int(0.5 * RATE))
    assert _labels([("a", silent), ("b", silent.copy())]) == ["a", "b"]
