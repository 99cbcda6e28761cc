"""Views of frequency x lag filters: a unit's tuning subspace, and the spectrogram.

The images and the variance panel are drawn by :mod:`..plotting` (shared with the HTML
report); :func:`plot_filters` is re-exported from there.

:class:`SubspaceFiltersWidget` shows, for the unit chosen in a drop-down, its mean dSTRF
and its k subspace filters as images (frequency up, lag to the right) titled with their
explained variance and confidence, and the variance of every component against the noise
floor with the count above it (``k_significant``). The unit's reliability and its rule
are written above the figure; units below the reliability threshold (the file's
``SubspaceParams.reliability_threshold``) are flagged "unreliable", in the drop-down too.
:class:`SpectrogramWidget` shows a SpectrogramSeries as a frequency x time image.
"""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from ...errors import ResultsError
from ...extension import EncodingModels, SpectrogramSeries, TuningSubspaceTable
from ...extension.reliability import (
    RULE_SPLIT_HALVES,
    SPLIT_HALVES_CAVEAT,
    UNRELIABLE,
    reliability_status,
    reliability_threshold_of,
    shown_reliability,
    shown_significant,
)
from ...results.rows import check_row_columns, subspace_row
from ..plotting import draw_variance, frequency_ticks, plot_filters
from . import CSS_CLASSES, FigureView, unit_labels

__all__ = [
    "SpectrogramWidget",
    "SubspaceFiltersWidget",
    "find_time_frequency_axes",
    "plot_filters",
    "plot_subspace",
    "reliability_threshold",
    "reliability_line",
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


def plot_subspace(table: TuningSubspaceTable, row: int) -> Figure:
    """Figure of one unit's tuning subspace (table row ``row``).

    Top: the mean dSTRF and the k filters; bottom: the variance fraction of every
    component, its noise floor and the cumulative variance against the threshold.
    """
    filters = table.get_filters(row)
    variance = table.get_explained_variance(row)
    floor = table.get_noise_floor_variance(row)
    mean = table.get_mean_dstrf(row)
    confidence = table.get_dimension_confidence(row)
    k = len(filters)
    frequencies, bin_size = find_time_frequency_axes(table, mean.shape[0])
    fig = Figure(figsize=(2.2 * (k + 1) + 1.0, 5.2), layout="constrained")
    grid = fig.add_gridspec(2, k + 1, height_ratios=(1.2, 1.0))
    image_axes = [fig.add_subplot(grid[0, j]) for j in range(k + 1)]
    titles = ["mean dSTRF"] + [f"filter {j + 1}: {100 * variance[j]:.1f}% var"
                               + (f", conf {confidence[j]:.2f}"
                                  if j < confidence.size and np.isfinite(confidence[j]) else "")
                               for j in range(k)]
    # the mean dSTRF has its own colour scale; the unit-norm filters share one
    plot_filters(image_axes[:1], mean[None], titles[:1], frequencies, bin_size)
    if k:
        plot_filters(image_axes[1:], filters, titles[1:], None, bin_size)
        image_axes[1].set_yticks([])
        image_axes[1].set_ylabel("")
    draw_variance(fig.add_subplot(grid[1, :]), variance, floor, k,
                  float(table["threshold"].data[row]), k_significant=table.get_k_significant(row),
                  k_rule=str(_parameters(table).get("k_rule", "variance")))
    return fig


def _parameters(table: TuningSubspaceTable) -> dict:
    """The table's stored subspace parameters ({} when absent or damaged)."""
    try:
        parameters = json.loads(table.parameters) if table.parameters else {}
    except (TypeError, ValueError):
        parameters = {}
    return parameters if isinstance(parameters, dict) else {}


def reliability_threshold(table: TuningSubspaceTable) -> float:
    """The reliability threshold of the table's stored subspace parameters (else the
    default, 0.5)."""
    return reliability_threshold_of(_parameters(table))


def k_line(table: TuningSubspaceTable, row: int) -> str:
    """How table row ``row``'s k was chosen: ``k = 3 filters (threshold 0.95)``, or with
    ``k_rule = "significance"``, ``k = 3 filters (above the noise floor; 4 at 0.95)``."""
    k, threshold = int(table["k"].data[row]), float(table["threshold"].data[row])
    if _parameters(table).get("k_rule") == "significance":
        return (f"k = {k} filters (above the noise floor; {table.get_k_at(row, threshold)} at "
                f"{threshold:.2f} of the variance)")
    return f"k = {k} filters (threshold {threshold:.2f})"


def reliability_line(table: TuningSubspaceTable, row: int) -> str:
    """``reliability 0.83 (members): reliable`` for table row ``row``, flagged when below
    the threshold, ``reliability unknown`` when not stored."""
    value = table.get_reliability(row)
    status = reliability_status(value, reliability_threshold(table))
    if not np.isfinite(value):
        return "reliability unknown"
    rule, threshold = table.get_reliability_rule(row), reliability_threshold(table)
    caveat = f" ({SPLIT_HALVES_CAVEAT})" if rule == RULE_SPLIT_HALVES else ""
    return f"reliability {shown_reliability(value, threshold)} ({rule}): {status}{caveat}"


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
        try:  # a damaged column is said when a unit is drawn
            check_row_columns(table)
            threshold = reliability_threshold(table)
            labels = [label + (f" ({UNRELIABLE})" if reliability_status(
                          table.get_reliability(i), threshold) == UNRELIABLE else "")
                      for i, label in enumerate(labels)]
        except (ValueError, TypeError, IndexError, ResultsError):
            pass
        self.unit = widgets.Dropdown(options=[(label, i) for i, label in enumerate(labels)],
                                     value=0 if labels else None, description="unit")
        super().__init__([self.unit])
        if labels:
            self.redraw()
        else:
            self.message.value = f"table {table.name!r} has no rows"

    def draw(self) -> Figure:
        row = int(self.unit.value)
        check_row_columns(self.table)
        subspace_row(self.table, row, int(self.table.unit_rows()[row]))  # the loader's checks
        floor = self.table.get_noise_floor_variance(row)
        self.message.value = (
            f"<b>{self.unit.label}</b>: {k_line(self.table, row)}, "
            f"k significant = {shown_significant(self.table.get_k_significant(row), floor)}; "
            f"{reliability_line(self.table, row)} "
            f"(threshold {reliability_threshold(self.table):.2f})")
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
        frequency_ticks(ax, freqs, data.shape[1])
        ax.set_xlabel("time from series start (s)")
        fig.colorbar(image, ax=ax, label=str(self.series.unit))
        self.message.value = (f"{self.series.filterbank} filterbank, {freqs.size} channels, "
                              f"bins {start}-{start + len(data)} of {self.series.data.shape[0]}")
        return fig
