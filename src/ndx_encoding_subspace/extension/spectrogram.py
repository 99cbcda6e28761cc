"""The model input: a sound's spectrogram with its frequencies and recipe."""

from __future__ import annotations

from typing import Any

from hdmf.utils import docval, get_docval, popargs_to_dict
from pynwb import register_class
from pynwb.base import TimeSeries

from ._namespace import _KW, NAMESPACE


@register_class("SpectrogramSeries", NAMESPACE)
class SpectrogramSeries(TimeSeries):
    """Spectrogram of a sound: data [time, frequency] with its frequencies and recipe."""

    _OWN = ("frequencies", "filterbank", "n_channels", "min_frequency", "max_frequency",
            "bin_size", "window_size", "compression", "scaling")
    __nwbfields__ = _OWN

    @docval(
        *get_docval(TimeSeries.__init__, "name", "data", "unit"),
        {"name": "frequencies", "type": "array_data", "doc": "Center frequency of each channel, Hz.",
         "shape": (None,)},
        {"name": "filterbank", "type": str, "doc": "Filterbank used, e.g. 'gammatone'."},
        {"name": "n_channels", "type": int, "doc": "Number of frequency channels."},
        {"name": "min_frequency", "type": float, "doc": "Lowest center frequency, Hz."},
        {"name": "max_frequency", "type": float, "doc": "Highest center frequency, Hz."},
        {"name": "bin_size", "type": float, "doc": "Time bin (hop), seconds."},
        {"name": "scaling", "type": str, "doc": "Scaling steps after compression, in order."},
        {"name": "window_size", "type": float, "doc": "Window length, seconds.", "default": None},
        {"name": "compression", "type": float, "doc": "Exponent applied to the bin's mean power.",
         "default": None},
        *get_docval(TimeSeries.__init__, "resolution", "conversion", "offset", "timestamps",
                    "starting_time", "rate", "comments", "description", "control",
                    "control_description", "continuity"),
        **_KW,
    )
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(self._OWN, kwargs)
        super().__init__(**kwargs)
        for key, value in own.items():
            setattr(self, key, value)
