"""Views of frequency x lag filters: a unit's tuning subspace, and the spectrogram.

:class:`SubspaceFiltersWidget` shows, for the unit chosen in a drop-down, its mean dSTRF
and its k subspace filters as images (frequency up, lag to the right) titled with their
explained variance, and the variance of every component against the noise floor.
:class:`SpectrogramWidget` shows a SpectrogramSeries as a frequency x time image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ...extension import EncodingModels, SpectrogramSeries, TuningSubspaceTable
from . import CSS_CLASSES, FigureView, unit_labels

__all__ = [
    "SpectrogramWidget",
    "SubspaceFiltersWidget",
    "find_time_frequency_axes",
    "plot_filters",
    "plot_subspace",
]


def _spectrograms_near(obj: Any) -> list[SpectrogramSeries]:
    found: list[SpectrogramSeries] = []
    sources = getattr(obj, "source_models", None)
    if isinstance(sources, EncodingModels):
        found += [m.spectrogram for m in sources.models.values() if m.spectrogram is not None]
    parent = getattr(obj, "parent", None)
    for child in getattr(parent, "data_interfaces", {}).values():
        if isinstance(child, SpectrogramSeries):
            found.append(child)
        elif isinstance(child, EncodingModels):
            found += [m.spectrogram for m in child.models.values() if m.spectrogram is not None]
    return found


def find_time_frequency_axes(obj: Any, n_freq: int) -> tuple[np.ndarray | None, float | None]:
    """Channel frequencies (Hz) and bin size (s) of the spectrogram behind ``obj``.

    Looks at ``obj.source_models`` and at the SpectrogramSeries and models of ``obj``'s
    processing module; returns ``(None, None)`` when no spectrogram with ``n_freq``
    channels is found.
    """
    for series in _spectrograms_near(obj):
        freqs = np.asarray(series.frequencies[:], dtype=float)
        if freqs.size == n_freq:
            return freqs, float(series.bin_size)
    return None, None


def _frequency_ticks(ax: Axes, frequencies: np.ndarray | None, n_freq: int) -> None:
    if frequencies is None:
        ax.set_ylabel("channel")
        return
    ticks = np.unique(np.linspace(0, n_freq - 1, min(n_freq, 5)).round().astype(int))
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{frequencies[t] / 1000:.2g}" for t in ticks])
    ax.set_ylabel("frequency (kHz)")


def plot_filters(
    axes: Sequence[Axes],
    filters: np.ndarray,
    titles: Sequence[str],
    frequencies: np.ndarray | None = None,
    bin_size: float | None = None,
) -> None:
    """Draw filters [n, F, D] as images, one per axis, on a shared symmetric colour scale.

    The lag axis is in ms when ``bin_size`` is given (lag 0 = the current bin), else in
    bins; the frequency axis is labelled with ``frequencies`` when given.
    """
    filters = np.asarray(filters, dtype=float)
    n_freq, n_lags = filters.shape[1:]
    scale = float(np.nanmax(np.abs(filters))) if filters.size else 1.0
    scale = scale or 1.0
    step = 1000.0 * bin_size if bin_size else 1.0
    extent = (-0.5 * step, (n_lags - 0.5) * step, -0.5, n_freq - 0.5)
    for i, (ax, image, title) in enumerate(zip(axes, filters, titles)):
        ax.imshow(image, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-scale,
                  vmax=scale, extent=extent, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("lag (ms)" if bin_size else "lag (bins)")
        if i == 0:
            _frequency_ticks(ax, frequencies, n_freq)
        else:
            ax.set_yticks([])


def plot_subspace(table: TuningSubspaceTable, row: int) -> Figure:
    """Figure of one unit's tuning subspace (table row ``row``).

    Top: the mean dSTRF and the k filters; bottom: the variance fraction of every
    component, its noise floor and the cumulative variance against the threshold.
    """
    filters = table.get_filters(row)
    variance = table.get_explained_variance(row)
    floor = table.get_noise_floor_variance(row)
    mean = table.get_mean_dstrf(row)
    k = len(filters)
    frequencies, bin_size = find_time_frequency_axes(table, mean.shape[0])
    fig = Figure(figsize=(2.2 * (k + 1) + 1.0, 5.2), layout="constrained")
    grid = fig.add_gridspec(2, k + 1, height_ratios=(1.2, 1.0))
    image_axes = [fig.add_subplot(grid[0, j]) for j in range(k + 1)]
    titles = ["mean dSTRF"] + [f"filter {j + 1}: {100 * variance[j]:.1f}% var"
                               for j in range(k)]
    plot_filters(image_axes, np.concatenate([mean[None], filters]), titles, frequencies,
                 bin_size)
    ax = fig.add_subplot(grid[1, :])
    comps = np.arange(1, variance.size + 1)
    ax.bar(comps, variance, color=["tab:blue" if c <= k else "lightgray" for c in comps],
           label="explained variance")
    if floor.size:
        ax.plot(np.arange(1, floor.size + 1), floor, "k--", marker=".", label="noise floor")
    ax.plot(comps, np.cumsum(variance), color="tab:orange", marker="o", ms=3,
            label="cumulative")
    threshold = float(table["threshold"].data[row])
    ax.axhline(threshold, color="tab:orange", lw=0.8, ls=":")
    ax.set_xlabel("component")
    ax.set_ylabel("variance fraction")
    ax.set_xticks(comps)
    ax.legend(fontsize=8, loc="center right")
    return fig


class SubspaceFiltersWidget(FigureView):
    """A unit's subspace filters with their explained variance; unit chosen in a drop-down.

    Parameters
    ----------
    table : TuningSubspaceTable
    neurodata_vis_spec : dict, optional
        Accepted for nwbwidgets; unused.
    """

    css = CSS_CLASSES["subspace"]

    def __init__(self, table: TuningSubspaceTable, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.table = table
        labels = unit_labels(table["units"])
        self.unit = widgets.Dropdown(options=[(label, i) for i, label in enumerate(labels)],
                                     value=0 if labels else None, description="unit")
        super().__init__([self.unit])
        if labels:
            self.redraw()
        else:
            self.message.value = f"table {table.name!r} has no rows"

    def draw(self) -> Figure:
        row = int(self.unit.value)
        k = int(self.table["k"].data[row])
        self.message.value = (f"<b>{self.unit.label}</b>: k = {k} filters "
                              f"(threshold {float(self.table['threshold'].data[row]):.2f})")
        return plot_subspace(self.table, row)


class SpectrogramWidget(FigureView):
    """A SpectrogramSeries as a frequency x time image, a window of bins at a time.

    Parameters
    ----------
    series : SpectrogramSeries
    window : int
        Bins shown at once.
    """

    css = CSS_CLASSES["spectrogram"]

    def __init__(self, series: SpectrogramSeries, neurodata_vis_spec: dict | None = None,
                 window: int = 1000, **_kwargs: Any) -> None:
        self.series = series
        self.window = int(window)
        n_times = int(series.data.shape[0])
        self.start = widgets.IntSlider(value=0, min=0, max=max(n_times - self.window, 0),
                                       step=max(self.window // 4, 1), description="start bin",
                                       continuous_update=False)
        super().__init__([self.start])
        self.redraw()

    def draw(self) -> Figure:
        start = int(self.start.value)
        data = np.asarray(self.series.data[start:start + self.window], dtype=float)
        freqs = np.asarray(self.series.frequencies[:], dtype=float)
        bin_size = float(self.series.bin_size)
        fig = Figure(figsize=(9, 3.2), layout="constrained")
        ax = fig.add_subplot()
        t0 = start * bin_size
        extent = (t0, t0 + len(data) * bin_size, -0.5, data.shape[1] - 0.5)
        image = ax.imshow(data.T, origin="lower", aspect="auto", cmap="magma",
                          extent=extent, interpolation="nearest")
        _frequency_ticks(ax, freqs, data.shape[1])
        ax.set_xlabel("time from series start (s)")
        fig.colorbar(image, ax=ax, label=str(self.series.unit))
        self.message.value = (f"{self.series.filterbank} filterbank, {freqs.size} channels, "
                              f"bins {start}-{start + len(data)} of {self.series.data.shape[0]}")
        return fig
