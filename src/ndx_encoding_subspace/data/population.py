"""Several sites that heard the same sounds, as one population of units.

:func:`join_sites` puts the units of sites side by side: the sounds, their spectrograms
and the split into estimation and validation sounds must be the same at every site
(checked; the error names the two sites and the sound that differs). A population lets
one encoding model serve the units of many sites, which gives small sites the
statistical power of the whole dataset; the analyses stay per site.

:func:`smooth_counts` convolves each presentation's counts with a short kernel along
time (the NS1 protocol's ``[0.5, 1, 0.5]``), as the reader does when asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .site import SiteData, Sound, UnitInfo

__all__ = ["join_sites", "smooth_counts", "SPECTROGRAM_ATOL"]

#: largest difference between two sites' (min-max scaled) spectrograms of one sound
SPECTROGRAM_ATOL = 1e-4


def smooth_counts(counts: np.ndarray, kernel: Sequence[float]) -> np.ndarray:
    """Counts ``[repeats, time, units]`` convolved along time with ``kernel``, centred.

    ``out[t] = sum_k kernel[k] * counts[t + c - k]`` with ``c = len(kernel) // 2``, bins
    outside the presentation counting as zero; the kernel is used as given (not
    normalised).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.size == 0:
        return counts
    out = np.zeros(counts.shape, dtype=np.float64)
    centre = kernel.size // 2
    n = counts.shape[1]
    for k, w in enumerate(kernel):
        shift = k - centre  # out[t] += w * counts[t - shift]
        if abs(shift) >= n or w == 0:
            continue
        if shift >= 0:
            out[:, shift:] += w * counts[:, : n - shift]
        else:
            out[:, : n + shift] += w * counts[:, -shift:]
    return out.astype(counts.dtype, copy=False)


def _same_sounds(first: SiteData, other: SiteData) -> None:
    def refuse(what: str) -> ConfigError:
        return ConfigError(f"sites {first.name!r} and {other.name!r} did not hear the same sounds "
                           f"({what}); one population needs the same sounds at every site "
                           "(run each site with its own population: --population site)")

    if abs(first.bin_size - other.bin_size) > 1e-12 or not np.allclose(first.frequencies, other.frequencies):
        raise refuse("their spectrograms have other bins or frequencies")
    for split in ("estimation", "validation"):
        a, b = set(getattr(first, split)), set(getattr(other, split))
        if a != b:
            only = sorted(a ^ b)[:3]
            raise refuse(f"{split} sounds differ: {', '.join(map(repr, only))}")
    for sound in first.sounds:
        try:
            theirs = other.sound(sound.name)
        except KeyError:
            raise refuse(f"{other.name!r} has no sound {sound.name!r}") from None
        if theirs.spectrogram.shape != sound.spectrogram.shape:
            raise refuse(f"sound {sound.name!r} has {sound.n_bins} bins at one and "
                         f"{theirs.n_bins} at the other")
        if not np.allclose(theirs.spectrogram, sound.spectrogram, rtol=0, atol=SPECTROGRAM_ATOL):
            raise refuse(f"sound {sound.name!r} has another spectrogram")


def _pooled_counts(parts: Sequence[SiteData], name: str) -> tuple[np.ndarray, bool]:
    trials = [p.sound(name).counts for p in parts]
    if len({t.shape[0] for t in trials}) == 1:
        return np.concatenate(trials, axis=2), False
    return np.concatenate([t.mean(axis=0, keepdims=True) for t in trials], axis=2), True


def join_sites(sites: Sequence[SiteData], name: str = "population") -> SiteData:
    """The units of ``sites`` as one site: site 0's units first, then site 1's, ...

    Parameters
    ----------
    sites : sequence of SiteData
        Sites that heard the same sounds (names, spectrograms, estimation and
        validation split); their units may differ in number and ids.
    name : str
        Name of the joined site.

    Returns
    -------
    SiteData
        Sounds in the order of the first site. A sound presented as often at every site
        keeps every presentation; otherwise it holds one row, each site's mean over its
        presentations (what the models are fitted on). ``source["population"]`` lists each
        site's name, unit ids and first position.

    Raises
    ------
    ConfigError
        No sites, or two sites that heard different sounds.
    """
    if not sites:
        raise ConfigError("join_sites: no sites given")
    first = sites[0]
    for other in sites[1:]:
        _same_sounds(first, other)
    units = UnitInfo(**{f.name: np.concatenate([getattr(p.units, f.name) for p in sites])
                        for f in dataclasses.fields(UnitInfo)})
    sounds, averaged = [], []
    for sound in first.sounds:
        counts, mean = _pooled_counts(sites, sound.name)
        sounds.append(Sound(sound.name, sound.spectrogram, counts))
        if mean:
            averaged.append(sound.name)
    starts = np.concatenate([[0], np.cumsum([p.n_units for p in sites])])
    source = {"population": [{"site": p.name, "first": int(s), "unit_ids": [int(u) for u in p.units.ids]}
                             for p, s in zip(sites, starts)],
              "averaged_sounds": averaged}
    return SiteData(name=name, sounds=tuple(sounds), frequencies=first.frequencies,
                    bin_size=first.bin_size, units=units, estimation=first.estimation,
                    validation=first.validation, source=source)
