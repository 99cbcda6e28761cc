"""What one recording site gives the models: sounds, spectrograms, spike counts, units.

:class:`SiteData` is the hand-off between the readers (:mod:`..io`) and the models; the
recording writer (:func:`write_recording`) writes the standard NWB layout the readers
read best.
"""

from .site import SiteData, Sound, UnitInfo
from .spectrogram import SpectrogramParams, bin_index, minmax_scale, n_bins, spectrogram

__all__ = ["SiteData", "Sound", "UnitInfo", "SpectrogramParams", "spectrogram", "minmax_scale",
           "bin_index", "n_bins"]
