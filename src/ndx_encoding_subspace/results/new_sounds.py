"""A new sound put on a loaded site's input scale, as the run read the site's own sounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResultsError

__all__ = ["site_spectrogram"]


def site_spectrogram(provenance: dict[str, Any], waveform: np.ndarray, rate: float, name: str,
                     path: Path) -> np.ndarray:
    """:meth:`~.loader.LoadedResults.spectrogram_of` from the results file's ``provenance``
    (its spectrogram parameters and scale, and the reader's ``remove_offset`` and
    ``response_tail_s``); ``path`` names the file in messages."""
    from ..data.spectrogram import SpectrogramParams, scale_channels, spectrogram
    from ..io.samples import dc_offset

    scale = provenance.get("spectrogram_scale")
    stored = provenance.get("spectrogram_parameters")
    if not isinstance(scale, dict) or not isinstance(stored, dict):
        raise ResultsError(f"{path}: keeps no spectrogram scale of its site (written before "
                           "results files did), so a new sound cannot be put on its models' scale")
    params = SpectrogramParams.from_dict(stored)
    wave = np.asarray(waveform)
    reader = (provenance.get("config") or {}).get("reader") or {}
    if reader.get("remove_offset") is True and (offset := dc_offset(wave)) is not None:
        wave = wave - offset  # as the site's sounds were read
    tail = reader.get("response_tail_s")
    if isinstance(tail, int | float) and not isinstance(tail, bool) and tail > 0:  # their silence after
        wave = np.concatenate([wave, np.zeros(int(round(tail * float(rate))), dtype=wave.dtype)])
    spec = spectrogram(wave, float(rate), params, name=name)
    return scale_channels(spec, np.asarray(scale.get("min")), np.asarray(scale.get("max")))
