"""Stimulus spectrogram: gammatone or log-spaced filterbank, 10 ms bins (METHOD.md section 1).

What is computed, exactly
-------------------------
1. Channel centre frequencies ``f_c``: ``n_channels`` values spaced evenly in log frequency
   from ``min_frequency`` to ``max_frequency`` (both included).
2. Filters, applied to the whole waveform in the frequency domain (one real FFT of the
   waveform, zero-padded by ``pad`` seconds so that filter tails do not wrap around):

   * ``'gammatone'``: the 4th-order complex gammatone filter
     ``h(t) = t^3 exp(-2 pi b t) exp(2 pi i f_c t)`` for ``t >= 0``, whose exact frequency
     response is ``H(f) = (1 + i (f - f_c) / b)^-4`` (unit gain at ``f_c``), with
     ``b = 1.019 ERB(f_c)`` and ``ERB(f) = 24.7 (4.37 f / 1000 + 1)`` Hz (Glasberg & Moore
     1990). The filter is causal, as in a time-domain gammatone filterbank.
   * ``'log'``: triangular weights on log frequency, 1 at ``f_c`` and 0 at the two
     neighbouring centres (a zero-phase filter).

   The gammatone response is truncated where its power falls below ``-truncation_db`` dB
   (50 dB by default), which bounds the band each channel needs; a raised-cosine taper over
   the outer quarter of the kept band on each side avoids ringing from a sharp cut.
3. Channel power: the filtered signal is taken as an analytic signal ``z_c`` (positive
   frequencies only), shifted to base band and resampled at a rate that covers its band
   and at least ``min_samples_per_bin`` samples per bin (an inverse FFT of the kept band).
   The power of the real filter output is ``|z_c|^2 / 2``; its mean over the samples that
   fall in bin ``i`` gives ``P[i, c]``. Bin ``i`` covers ``[i * bin_size, (i + 1) * bin_size)``
   of the sound, exactly as spikes are binned (:func:`bin_index`); the number of bins is
   ``ceil(n_samples / (sample_rate * bin_size))`` (the last bin may be partial). Channels
   whose centre frequency lies above the Nyquist frequency get zero power (their filters'
   lower skirts would otherwise hold a faint copy of the highest band the sound has, which
   the site-wide scaling of step 5 stretches to the full range).
4. Compression: ``C = P ** compression`` (``compression = 0.25`` by default, i.e. the
   magnitude is raised to ``2 * compression``), then ``S = log(log_scale * C + 1)``
   (``log_scale = 10``). Power is in squared waveform units, so the result depends on the
   waveform's scale (Pa or normalised units); use the same scale for every sound of a site.
5. :func:`minmax_scale` (called separately, over all sounds of a site): per channel,
   ``(S - min) / (max - min)`` with min and max over every bin of every sound; a channel
   that is constant everywhere becomes 0.

:func:`spectrogram` returns step 4's output; step 5 needs every sound of the site.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from ..errors import InvalidDataError
from ..params import Params, check_choice, check_range

__all__ = [
    "SpectrogramParams",
    "filterbank_frequencies",
    "filter_responses",
    "erb_bandwidth",
    "n_bins",
    "bin_index",
    "channel_power",
    "compress",
    "spectrogram",
    "minmax_scale",
    "channel_range",
    "scale_channels",
]


@dataclasses.dataclass(frozen=True)
class SpectrogramParams(Params):
    """Parameters of the stimulus spectrogram (paper's values as defaults).

    Parameters
    ----------
    filterbank : {'gammatone', 'log'}
        Gammatone (ERB bandwidths, causal) or triangular log-spaced bands.
    n_channels : int
        Number of frequency channels.
    min_frequency, max_frequency : float
        Centre frequencies of the lowest and highest channels, Hz.
    bin_size : float
        Time bin (window and hop), seconds.
    compression : float
        Exponent applied to the bin's mean power (0.25: power^0.25).
    log_scale : float
        ``x`` in ``log(x * C + 1)``.
    truncation_db : float
        Filter responses below this many dB under their peak are set to zero.
    min_samples_per_bin : int
        Least number of base-band samples averaged per bin and channel.
    pad : float
        Zeros appended to the waveform before filtering, seconds (room for filter tails).
    """

    filterbank: str = "gammatone"
    n_channels: int = 32
    min_frequency: float = 200.0
    max_frequency: float = 20000.0
    bin_size: float = 0.01
    compression: float = 0.25
    log_scale: float = 10.0
    truncation_db: float = 50.0
    min_samples_per_bin: int = 32
    pad: float = 0.1

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the parameter and the bad value."""
        check_choice("SpectrogramParams.filterbank", self.filterbank, ("gammatone", "log"))
        check_range("SpectrogramParams.n_channels", self.n_channels, 1, 1024)
        check_range("SpectrogramParams.min_frequency", self.min_frequency, 0, low_open=True)
        check_range(
            "SpectrogramParams.max_frequency", self.max_frequency, self.min_frequency,
            low_open=self.n_channels > 1,
        )
        check_range("SpectrogramParams.bin_size", self.bin_size, 0, 10, low_open=True)
        check_range("SpectrogramParams.compression", self.compression, 0, 1, low_open=True)
        check_range("SpectrogramParams.log_scale", self.log_scale, 0, low_open=True)
        check_range("SpectrogramParams.truncation_db", self.truncation_db, 10, 200)
        check_range("SpectrogramParams.min_samples_per_bin", self.min_samples_per_bin, 1, 1000)
        check_range("SpectrogramParams.pad", self.pad, 0, 10)


def filterbank_frequencies(params: SpectrogramParams | None = None) -> np.ndarray:
    """Centre frequency of each channel, Hz, log-spaced, shape (n_channels,)."""
    p = SpectrogramParams.of(params)
    if p.n_channels == 1:
        return np.array([math.sqrt(p.min_frequency * p.max_frequency)])
    return np.geomspace(p.min_frequency, p.max_frequency, p.n_channels)


def erb_bandwidth(frequency: np.ndarray | float) -> np.ndarray:
    """Equivalent rectangular bandwidth (Glasberg & Moore 1990), Hz."""
    return 24.7 * (4.37 * np.asarray(frequency, dtype=float) / 1000.0 + 1.0)


def filter_responses(frequencies: np.ndarray, params: SpectrogramParams | None = None) -> np.ndarray:
    """Complex response of every channel at ``frequencies`` (Hz), shape (n_channels, n_freq).

    Untruncated; see the module docstring for the formulas.
    """
    p = SpectrogramParams.of(params)
    f = np.asarray(frequencies, dtype=float)
    return np.stack([_response(f, c, p) for c in range(p.n_channels)])


def _response(f: np.ndarray, channel: int, params: SpectrogramParams) -> np.ndarray:
    """Complex response of one channel at frequencies ``f`` (Hz), in ``f``'s precision."""
    centres = filterbank_frequencies(params)
    fc = centres[channel]
    real = np.float32 if f.dtype == np.float32 else np.float64
    if params.filterbank == "gammatone":
        b = 1.019 * float(erb_bandwidth(fc))
        u = (f - real(fc)) * real(1.0 / b)
        # (1 + iu)^-4 in real arithmetic: (1 - iu)^4 / (1 + u^2)^4.
        a = 1.0 / (1.0 + u * u)
        re2 = (1.0 - u * u) * (a * a)
        im2 = (-2.0 * u) * (a * a)
        out = np.empty(f.shape, dtype=np.result_type(real, np.complex64))
        out.real = re2 * re2 - im2 * im2
        out.imag = 2.0 * re2 * im2
        return out
    step = math.log(centres[1] / centres[0]) if params.n_channels > 1 else math.log(2.0)
    logf = np.log(np.maximum(f, real(1e-12)))
    weight = np.maximum(0.0, 1.0 - np.abs(logf - real(math.log(fc))) * real(1.0 / step))
    return weight.astype(np.result_type(real, np.complex64))


def _band_limits(params: SpectrogramParams) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest frequency (Hz) of each channel's truncated response."""
    fc = filterbank_frequencies(params)
    if params.filterbank == "gammatone":
        # |H|^2 = (1 + u^2)^-4 falls below 10^(-dB/10) beyond |u| = u_max.
        u_max = math.sqrt(10.0 ** (params.truncation_db / 40.0) - 1.0)
        half = u_max * 1.019 * erb_bandwidth(fc)
        return fc - half, fc + half
    ratio = (fc[1] / fc[0]) if params.n_channels > 1 else 2.0
    return fc / ratio, fc * ratio


def _taper(f: np.ndarray, low: float, high: float, fraction: float = 0.25) -> np.ndarray:
    """Raised-cosine taper from 1 to 0 over the outer ``fraction`` of [low, high] on each side."""
    width = fraction * (float(high) - float(low)) / 2.0
    out = np.ones(f.shape, dtype=f.dtype)
    for edge, sign in ((float(low), 1.0), (float(high), -1.0)):
        # f is sorted: the ramp occupies a contiguous run at each end
        lo, hi = (edge, edge + width) if sign > 0 else (edge - width, edge)
        i0, i1 = np.searchsorted(f, [lo, hi])
        dist = (f[i0:i1] - f.dtype.type(lo)) / f.dtype.type(width)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(dist if sign > 0 else 1.0 - dist, 0.0, 1.0))
        out[i0:i1] = np.minimum(out[i0:i1], ramp)
    out[f <= low] = 0.0
    out[f >= high] = 0.0
    return out


def n_bins(n_samples: int, sample_rate: float, bin_size: float) -> int:
    """Number of bins of a sound: ``ceil(n_samples / (sample_rate * bin_size))``, where a
    last bin that would hold less than half a sample is none (a rate estimated from
    timestamps rounded to the microsecond, 95999.87 Hz for 96 kHz, puts 0.3 s of samples a
    hair past 30 bins)."""
    per_bin = sample_rate * bin_size
    return int(math.ceil(n_samples / per_bin - max(1e-9, min(0.5 / per_bin, 0.5))))


def bin_index(times: np.ndarray, bin_size: float) -> np.ndarray:
    """Bin of each time (seconds from the sound's onset): ``floor(t / bin_size + 1e-9)``.

    The tolerance (a billionth of a bin) makes a time that lies on a bin edge fall in the
    later bin however it was computed (for example ``(onset + t) - onset`` in session time),
    so spike counts from session times equal counts from times relative to the onset.
    """
    return np.floor(np.asarray(times, dtype=np.float64) / bin_size + 1e-9).astype(np.int64)


def _check_waveform(waveform: np.ndarray, sample_rate: float, name: str) -> np.ndarray:
    x = np.asarray(waveform)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise InvalidDataError(f"sound {name!r}: waveform must be 1-D (mono), got shape {x.shape}")
    if x.size == 0:
        raise InvalidDataError(f"sound {name!r}: waveform is empty")
    if not (np.isfinite(sample_rate) and sample_rate > 0):
        raise InvalidDataError(f"sound {name!r}: sample rate must be positive, got {sample_rate!r}")
    if not np.all(np.isfinite(x)):
        raise InvalidDataError(f"sound {name!r}: waveform holds NaN or inf")
    return x


def channel_power(
    waveform: np.ndarray, sample_rate: float, params: SpectrogramParams | None = None,
    *, name: str = "sound", silent_above_nyquist: bool = True,
) -> np.ndarray:
    """Mean power of each filter's output in each bin (step 3), shape (time, channels), float64.

    Parameters
    ----------
    waveform : ndarray, shape (n_samples,)
        Mono sound.
    sample_rate : float
        Samples per second.
    params : SpectrogramParams, optional
        Defaults to the paper's values.
    name : str
        Used in error messages.
    silent_above_nyquist : bool
        Channels centred above the Nyquist frequency get zero power (step 3); False: only
        those whose whole band lies above it, as results files written before this rule
        were made (:data:`NYQUIST_RULE`).
    """
    import scipy.fft  # here: the parameters above import without scipy

    p = SpectrogramParams.of(params)
    x = _check_waveform(waveform, sample_rate, name)
    fs = float(sample_rate)
    n_out = n_bins(x.size, fs, p.bin_size)
    n_fft = scipy.fft.next_fast_len(x.size + int(math.ceil(p.pad * fs - _EPS)), real=True)
    spectrum = scipy.fft.rfft(x.astype(np.float32), n_fft)
    duration = n_fft / fs
    df = fs / n_fft
    lows, highs = _band_limits(p)
    centres = filterbank_frequencies(p)
    n_pos = spectrum.size
    # Base-band sample count: enough bins for the band and >= min_samples_per_bin per bin.
    m_min = int(math.ceil(p.min_samples_per_bin * duration / p.bin_size - _EPS))
    out = np.zeros((n_out, p.n_channels))
    for c in range(p.n_channels):
        k0 = max(1, int(math.floor(lows[c] / df + _EPS)))
        k1 = min(n_pos, int(math.ceil(highs[c] / df - _EPS)) + 1)
        if k1 <= k0 or (silent_above_nyquist and centres[c] > fs / 2):
            continue  # a channel above Nyquist: no power
        response = _response(np.arange(k0, k1, dtype=np.float32) * np.float32(df), c, p)
        if p.filterbank == "gammatone":
            response *= _taper(np.arange(k0, k1, dtype=np.float32) * np.float32(df), lows[c], highs[c])
        band = spectrum[k0:k1] * response
        m = scipy.fft.next_fast_len(max(k1 - k0, m_min))
        # Analytic signal sampled at m points over the padded duration; scaling so that
        # |z|^2 / 2 is the instantaneous power of the real filter output.
        z = scipy.fft.ifft(band, m)
        power = z.real**2 + z.imag**2
        starts = _bin_starts(m, duration, p.bin_size, n_out)
        sums = np.add.reduceat(power[: starts[-1]], starts[:-1])
        out[:, c] = sums / np.diff(starts) * (2.0 * (m / n_fft) ** 2)
    return out


#: what a site's ``source`` holds (``spectrogram_rule``) when its channels above a sound's
#: Nyquist frequency were made silent (:func:`channel_power`); results files without it kept
#: the skirts of the filters there
NYQUIST_RULE = "above-nyquist-silent"

#: rounding slack: a rate given as 15999.999999999998 Hz (from timestamps) rounds as 16000 Hz does
_EPS = 1e-6


def _bin_starts(m: int, duration: float, bin_size: float, n_out: int) -> np.ndarray:
    """Index of the first of m samples over ``duration`` in each bin, plus the end, (n_out + 1,).

    Sample j lies at time ``j * duration / m`` and belongs to bin ``floor(time / bin_size)``.
    """
    edges = np.arange(n_out + 1) * (bin_size * m / duration)
    # relative slack: a rate a hair off a round one (from timestamps) bins as the round one
    starts = np.ceil(edges - 1e-9 * np.maximum(1.0, edges)).astype(np.int64)
    if np.any(np.diff(starts) <= 0):  # pragma: no cover - m_min guarantees samples in every bin
        raise InvalidDataError("spectrogram: a bin received no samples; raise min_samples_per_bin")
    return starts


def compress(power: np.ndarray, params: SpectrogramParams | None = None) -> np.ndarray:
    """Step 4: ``log(log_scale * power ** compression + 1)``, float32."""
    p = SpectrogramParams.of(params)
    c = np.power(np.maximum(power, 0.0), p.compression)
    return np.log1p(p.log_scale * c).astype(np.float32)


def spectrogram(
    waveform: np.ndarray, sample_rate: float, params: SpectrogramParams | None = None,
    *, name: str = "sound", silent_above_nyquist: bool = True,
) -> np.ndarray:
    """Compressed spectrogram of one sound, before the site-wide min-max scaling.

    Parameters
    ----------
    waveform : ndarray, shape (n_samples,)
        Mono sound (any real dtype); not modified.
    sample_rate : float
        Samples per second.
    params : SpectrogramParams, optional
        Defaults to the paper's values.
    name : str
        Used in error messages.
    silent_above_nyquist : bool
        See :func:`channel_power`.

    Returns
    -------
    ndarray, shape (time, n_channels), float32
        ``log(log_scale * P ** compression + 1)`` of the mean filter power ``P`` per bin;
        bin ``i`` covers ``[i * bin_size, (i + 1) * bin_size)`` of the sound.
    """
    p = SpectrogramParams.of(params)
    power = channel_power(waveform, sample_rate, p, name=name, silent_above_nyquist=silent_above_nyquist)
    return compress(power, p)


def channel_range(spectrograms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel minimum and maximum over every bin of every spectrogram: what
    :func:`minmax_scale` maps to 0 and 1 (a results file keeps them, so that new sounds
    can be put on a site's scale).

    Raises
    ------
    InvalidDataError
        No spectrogram with a bin, or spectrograms that are not 2-D with equal channels.
    """
    shapes = [np.shape(s) for s in spectrograms]
    if any(len(shape) != 2 for shape in shapes) or len({shape[1] for shape in shapes}) > 1:
        raise InvalidDataError(f"spectrograms must be 2-D (time, channels) with equal channels, got shapes "
                               f"{', '.join(str(shape) for shape in shapes[:4])}")
    full = [np.asarray(s) for s in spectrograms if np.size(s)]
    if not full:
        raise InvalidDataError("no spectrogram with a bin to take the channels' range from")
    return (np.min([s.min(axis=0) for s in full], axis=0).astype(np.float64),
            np.max([s.max(axis=0) for s in full], axis=0).astype(np.float64))


def scale_channels(spec: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``spec`` (time, channels) mapped per channel from ``[low, high]`` to ``[0, 1]``
    (float32; channels where ``high == low`` become 0; values outside the range stay
    outside it)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if np.ndim(spec) != 2 or np.shape(spec)[1] != low.shape[0] or low.shape != high.shape:
        raise InvalidDataError(f"a spectrogram of shape {np.shape(spec)} cannot be scaled by ranges of "
                               f"{low.shape[0]} channels")
    span = high - low
    factor = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 0.0)
    return ((np.asarray(spec) - low) * factor).astype(np.float32)


def minmax_scale(spectrograms: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per-channel min-max scaling to [0, 1] over every bin of every spectrogram.

    Parameters
    ----------
    spectrograms : sequence of ndarray, each (time, channels)
        Output of :func:`spectrogram` for every sound of a site; not modified.

    Returns
    -------
    list of ndarray, float32
        Scaled copies in the same order (:func:`channel_range`, :func:`scale_channels`);
        constant channels become 0.
    """
    if len(spectrograms) == 0:
        return []
    low, high = channel_range(spectrograms)
    return [scale_channels(s, low, high) for s in spectrograms]
