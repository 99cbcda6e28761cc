"""A new sound put on a loaded site's input scale, as the run read the site's own sounds."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ResultsError

__all__ = ["site_spectrogram", "full_scale"]


def full_scale(wave: np.ndarray, name: str) -> np.ndarray:
    """``wave`` (real numbers) as the reader reads a sound's samples without a conversion:
    integers (8 to 32 bits, as WAV files hold them) as fractions of their full scale (32768
    for 16 bits; unsigned 8-bit samples centred on 128), floats as they are."""
    from ..io.samples import integer_span

    if span := integer_span(wave.dtype):
        return (wave.astype(np.float64) - (128.0 if wave.dtype == np.uint8 else 0.0)) / span
    return wave


def site_spectrogram(provenance: dict[str, Any], waveform: np.ndarray, rate: float, name: str,
                     path: Path) -> np.ndarray:
    """:meth:`~.loader.LoadedResults.spectrogram_of` from the results file's ``provenance``
    (its spectrogram parameters and scale, and the reader's ``remove_offset`` and
    ``response_tail_s``); ``path`` names the file in messages."""
    from ..data.spectrogram import (
        NYQUIST_RULE,
        SpectrogramParams,
        filterbank_frequencies,
        scale_channels,
        spectrogram,
    )
    from ..io.samples import above_nyquist_note, channels_above_nyquist, dc_offset

    scale = provenance.get("spectrogram_scale")
    stored = provenance.get("spectrogram_parameters")
    if not isinstance(scale, dict) or not isinstance(stored, dict):
        raise ResultsError(f"{path}: keeps no spectrogram scale of its site (written before "
                           "results files did), so a new sound cannot be put on its models' scale")
    from ..arrays import real_array

    params = SpectrogramParams.from_dict(stored)
    wave = full_scale(real_array(waveform, name), name)
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.number) or not (
            np.isfinite(rate) and rate > 0):
        raise ConfigError(f"{name}: the sample rate must be a positive number of Hz, got {rate!r}")
    # files written before this rule kept the filters' skirts above a sound's Nyquist frequency
    silent = provenance.get("spectrogram_rule") == NYQUIST_RULE
    if silent and float(rate) / 2 < (lowest := float(np.min(filterbank_frequencies(params)))):
        raise ConfigError(f"{name}: sampled at {float(rate):g} Hz, below twice every channel of {path}'s "
                          f"spectrogram (from {lowest:g} Hz): its spectrogram would be empty, as the run "
                          "refuses such sounds of its own")
    if channels_above_nyquist(float(rate), params):
        warnings.warn(f"{name}: {above_nyquist_note([name], float(rate), params)}", stacklevel=3)
    reader = (provenance.get("config") or {}).get("reader") or {}
    if reader.get("remove_offset") is True and (offset := dc_offset(wave)) is not None:
        wave = wave - offset  # as the site's sounds were read
    tail = reader.get("response_tail_s")
    if isinstance(tail, int | float) and not isinstance(tail, bool) and tail > 0:  # their silence after
        wave = np.concatenate([wave, np.zeros(int(round(tail * float(rate))), dtype=wave.dtype)])
    spec = spectrogram(wave, float(rate), params, name=name, silent_above_nyquist=silent)
    return scale_channels(spec, np.asarray(scale.get("min")), np.asarray(scale.get("max")))
