"""The stored spectrogram of a results file, as :func:`~.loader.load_results` returns it."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..arrays import summary_repr

__all__ = ["SpectrogramData"]


@dataclasses.dataclass
class SpectrogramData:
    """The stored spectrogram: every sound end to end, and where each sound lies.

    Attributes
    ----------
    data : ndarray (time, frequency)
    frequencies : ndarray (frequency,)
    bin_size : float
    sounds : dict of str -> ndarray
        Columns ``sound``, ``split``, ``start_bin``, ``stop_bin``, ``n_repeats``.
    """

    __repr__ = summary_repr

    data: np.ndarray
    frequencies: np.ndarray
    bin_size: float
    sounds: dict[str, np.ndarray]

    def sound(self, name: str) -> np.ndarray:
        """Spectrogram of one sound, shape (time, frequency)."""
        hits = np.flatnonzero(self.sounds["sound"] == name)
        if hits.size == 0:
            raise KeyError(f"no sound {name!r} in the spectrogram")
        i = int(hits[0])
        return self.data[int(self.sounds["start_bin"][i]):int(self.sounds["stop_bin"][i])]

    def split(self, which: str) -> list[np.ndarray]:
        """Spectrograms of the ``"estimation"`` or ``"validation"`` sounds, in order."""
        if which not in ("estimation", "validation"):
            raise KeyError(f"no split {which!r}: 'estimation' or 'validation'")
        return [self.sound(n) for n, s in zip(self.sounds["sound"], self.sounds["split"])
                if s == which]
