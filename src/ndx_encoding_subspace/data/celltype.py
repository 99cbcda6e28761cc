"""Spike width (trough-to-peak duration) and the narrow / regular cell-type class.

The width is spikeinterface's template metric ``peak_to_trough_duration`` (formerly
``peak_to_valley``), computed the way its ``template_metrics`` extension does for one
template: the channel with the largest peak-to-peak amplitude, upsampled
``upsampling_factor`` times with :func:`scipy.signal.resample_poly`, troughs and peaks found
by ``get_trough_and_peak_idx`` with the extension's default thresholds, and the time from
the main trough to the main peak after it. Without spikeinterface, a numpy fallback takes
the global minimum and the maximum after it on the same upsampled waveform.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import InvalidDataError
from ..params import Params, check_range

__all__ = ["CellTypeParams", "spike_widths", "classify", "NARROW", "REGULAR"]

NARROW = "narrow"
REGULAR = "regular"


@dataclasses.dataclass(frozen=True)
class CellTypeParams(Params):
    """Parameters of spike width and cell-type classification.

    Parameters
    ----------
    narrow_threshold_ms : float
        Units with a trough-to-peak duration below this are narrow-spiking (putative
        inhibitory); the paper uses about 0.35-0.4 ms depending on the probe.
    upsampling_factor : int
        Upsampling of the template before finding its extrema (spikeinterface's default).
    min_thresh_detect_peaks_troughs, edge_exclusion_ms : float
    min_peak_trough_distance_ratio : float
    min_extremum_distance_samples : int
        Passed to spikeinterface's peak detection (its ``template_metrics`` defaults).
    """

    narrow_threshold_ms: float = 0.4
    upsampling_factor: int = 10
    min_thresh_detect_peaks_troughs: float = 0.3
    edge_exclusion_ms: float = 0.09
    min_peak_trough_distance_ratio: float = 0.2
    min_extremum_distance_samples: int = 3

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the parameter and the bad value."""
        name = "CellTypeParams."
        check_range(name + "narrow_threshold_ms", self.narrow_threshold_ms, 0, 5, low_open=True)
        check_range(name + "upsampling_factor", self.upsampling_factor, 1, 100)
        check_range(name + "min_thresh_detect_peaks_troughs", self.min_thresh_detect_peaks_troughs, 0, 1)
        check_range(name + "edge_exclusion_ms", self.edge_exclusion_ms, 0, 10)
        check_range(name + "min_peak_trough_distance_ratio", self.min_peak_trough_distance_ratio, 0, 10)
        check_range(name + "min_extremum_distance_samples", self.min_extremum_distance_samples, 0, 1000)


def _main_channel(waveform: np.ndarray) -> np.ndarray:
    """The channel with the largest peak-to-peak amplitude of a (samples, channels) waveform."""
    if waveform.ndim == 1:
        return waveform
    return waveform[:, int(np.argmax(np.ptp(waveform, axis=0)))]


def _width_spikeinterface(template: np.ndarray, fs: float, p: CellTypeParams) -> float:
    from spikeinterface.metrics.template.metrics import get_peak_to_trough_duration, get_trough_and_peak_idx

    info = get_trough_and_peak_idx(
        template, fs,
        min_thresh_detect_peaks_troughs=p.min_thresh_detect_peaks_troughs,
        edge_exclusion_ms=p.edge_exclusion_ms,
        min_peak_trough_distance_ratio=p.min_peak_trough_distance_ratio,
        min_extremum_distance_samples=p.min_extremum_distance_samples,
    )
    if info.get("trough_index", -1) < 0 or info.get("peak_after_index", -1) < 0:
        return float("nan")
    return float(get_peak_to_trough_duration(info, fs))


def _width_numpy(template: np.ndarray, fs: float) -> float:
    trough = int(np.argmin(template))
    if trough >= template.size - 1:
        return float("nan")
    peak = trough + 1 + int(np.argmax(template[trough + 1:]))
    return (peak - trough) / fs


def spike_widths(
    waveforms_mean: np.ndarray, sampling_rate: float, params: CellTypeParams | None = None,
    *, backend: str = "auto", where: str = "waveform_mean",
) -> np.ndarray:
    """Trough-to-peak duration (ms) of each unit's mean waveform.

    Parameters
    ----------
    waveforms_mean : ndarray, (units, samples) or (units, samples, channels)
        Mean waveforms (extracellular: negative trough first); not modified.
    sampling_rate : float
        Sample rate of the waveforms, Hz.
    params : CellTypeParams, optional
    backend : {'auto', 'spikeinterface', 'numpy'}
        ``'auto'`` uses spikeinterface when installed.
    where : str
        Names the source (file and object) in error messages.

    Returns
    -------
    ndarray of float, (units,)
        Width in ms; NaN for a flat waveform or one without a peak after its trough.
    """
    from scipy.signal import resample_poly  # here: the parameters above import without scipy

    p = CellTypeParams.of(params)
    w = np.asarray(waveforms_mean, dtype=np.float64)
    if w.ndim not in (2, 3):
        raise InvalidDataError(f"{where}: expected (units, samples[, channels]), got shape {w.shape}")
    if not (sampling_rate and np.isfinite(sampling_rate) and sampling_rate > 0):
        raise InvalidDataError(f"{where}: missing or invalid waveform sampling rate {sampling_rate!r}")
    if backend == "auto":
        try:
            import spikeinterface.metrics.template.metrics  # noqa: F401

            backend = "spikeinterface"
        except ImportError:  # pragma: no cover - depends on the environment
            backend = "numpy"
    if backend not in ("spikeinterface", "numpy"):
        raise InvalidDataError(f"{where}: unknown backend {backend!r}")
    fs_up = float(sampling_rate) * p.upsampling_factor
    widths = np.full(w.shape[0], np.nan)
    for i in range(w.shape[0]):
        if not np.all(np.isfinite(w[i])):
            raise InvalidDataError(f"{where}: waveform of unit {i} holds NaN or inf")
        template = _main_channel(w[i])
        if np.ptp(template) == 0:
            continue
        if p.upsampling_factor > 1:
            template = resample_poly(template, up=p.upsampling_factor, down=1)
        if backend == "spikeinterface":
            seconds = _width_spikeinterface(template, fs_up, p)
        else:
            seconds = _width_numpy(template, fs_up)
        widths[i] = seconds * 1000.0
    return widths


def classify(widths_ms: np.ndarray, params: CellTypeParams | None = None) -> np.ndarray:
    """``'narrow'`` below the threshold, ``'regular'`` at or above it, ``''`` where unknown."""
    p = CellTypeParams.of(params)
    widths = np.asarray(widths_ms, dtype=float)
    out = np.full(widths.shape, "", dtype=object)
    known = np.isfinite(widths)
    out[known & (widths < p.narrow_threshold_ms)] = NARROW
    out[known & (widths >= p.narrow_threshold_ms)] = REGULAR
    return out
