"""Matplotlib drawing shared by the nwbwidgets views and the HTML report.

Every function draws from plain arrays and dictionaries into given axes (or returns a
new :class:`~matplotlib.figure.Figure` built with the object API: no pyplot, no backend
state), so the same drawing serves the views of the extension's objects
(:mod:`.widgets`) and the report's figures of a loaded results file (:mod:`.report`).
This module imports matplotlib and numpy only: neither ipywidgets nor nwbwidgets.

The SSRF and tuning-curve functions take the dictionaries of
``SubspaceNonlinearityTable.get_ssrf`` / ``get_tuning_curves`` and of
:class:`~ndx_encoding_subspace.results.UnitNonlinearity` (``ssrf`` and ``tuning``),
which share their keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

from ..results.roles import CNN, LN, SUBSPACE, find_role

__all__ = [
    "ROLE_COLOURS",
    "draw_identity_scatter",
    "draw_matrix",
    "draw_ssrf_map",
    "draw_tuning",
    "draw_variance",
    "frequency_ticks",
    "masked_mean",
    "message_figure",
    "plot_filters",
    "role_colour",
]

#: Colour of each known model role (by role name).
ROLE_COLOURS = {LN.name: "tab:gray", CNN.name: "tab:blue", SUBSPACE.name: "tab:orange"}


def role_colour(name: str) -> str:
    """Colour of a role or collection name (:data:`ROLE_COLOURS`; blue when unknown)."""
    known = find_role(name)
    return ROLE_COLOURS.get(known.name, "tab:blue") if known is not None else "tab:blue"


def masked_mean(mean: np.ndarray, count: np.ndarray, min_count: int) -> np.ma.MaskedArray:
    """``mean`` with bins of fewer than ``min_count`` samples (or not finite) masked."""
    mean = np.asarray(mean, dtype=float)
    return np.ma.masked_where((np.asarray(count) < min_count) | ~np.isfinite(mean), mean)


def message_figure(text: str, size: tuple[float, float] = (6.0, 2.0)) -> Figure:
    """A figure holding one line of text (for absent data)."""
    fig = Figure(figsize=size)
    fig.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def frequency_ticks(ax: Axes, frequencies: np.ndarray | None, n_freq: int) -> None:
    """Label the y axis of a frequency x something image in kHz (channels without
    ``frequencies``)."""
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
    bins; the frequency axis of the first axis is labelled with ``frequencies`` when
    given, the others carry no frequency ticks.
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
            frequency_ticks(ax, frequencies, n_freq)
        else:
            ax.set_yticks([])


def draw_variance(
    ax: Axes, variance: np.ndarray, noise_floor: np.ndarray, k: int, threshold: float,
    *, k90: int | None = None, k_significant: int | None = None, k_rule: str = "variance",
) -> None:
    """Variance fraction of every component (bars; the ``k`` kept in colour), its noise
    floor (dashed), the cumulative share of the components' variance against ``threshold``
    (dotted; the share ``k`` is chosen by with ``k_rule = "variance"``,
    :func:`~ndx_encoding_subspace.subspace.pca.choose_k`) and, given ``k_significant``,
    where the components above the floor end (grey line)."""
    variance = np.asarray(variance, dtype=float)
    comps = np.arange(1, variance.size + 1)
    ax.bar(comps, variance, color=["tab:blue" if c <= k else "lightgray" for c in comps],
           label="explained variance")
    floor = np.asarray(noise_floor, dtype=float)
    if floor.size:
        ax.plot(np.arange(1, floor.size + 1), floor, "k--", marker=".", lw=0.8,
                label="noise floor")
    kept = np.clip(np.nan_to_num(variance), 0.0, None)
    share = np.cumsum(kept) / kept.sum() if kept.sum() > 0 else np.zeros_like(kept)
    ax.plot(comps, share, color="tab:orange", marker="o", ms=2, lw=0.8,
            label="cumulative share of the components")
    ax.axhline(threshold, color="tab:orange", lw=0.6, ls=":")
    ax.set_xlabel("component")
    ax.set_ylabel("variance fraction")
    if comps.size <= 20:
        ax.set_xticks(comps)
    extra = f"; k90 = {k90}" if k90 is not None else ""
    if k_significant is not None:
        ax.axvline(k_significant + 0.5, color="tab:gray", lw=0.8, ls="-.",
                   label="last above floor")
        extra += f"; k significant = {k_significant}"
    how = "above the noise floor" if k_rule == "significance" else f"threshold {threshold:.2f}"
    ax.set_title(f"k = {k} ({how}){extra}", fontsize=9)
    ax.legend(fontsize=7, loc="center right")


def draw_ssrf_map(
    ax: Axes, ssrf: Mapping[str, Any], pair: int, min_count: int, *,
    counts: bool = False, labels: bool = True,
) -> QuadMesh | None:
    """The SSRF map ``pair`` (rows: its first dimension, columns: its second).

    Draws the mean response with bins under ``min_count`` samples masked (grey), or the
    sample counts with ``counts``. Returns the mesh, or None (with a note in the axes)
    when the unit has no map (k = 1).
    """
    pairs = np.asarray(ssrf.get("pairs", np.zeros((0, 2)))).reshape(-1, 2)
    if len(pairs) <= pair:
        ax.text(0.5, 0.5, "k = 1:\nno map", ha="center", va="center", fontsize=8,
                transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return None
    a, b = (int(d) for d in pairs[pair])
    edges = ssrf["bin_edges"]
    count = np.asarray(ssrf["count"][pair])
    if counts:
        mesh = ax.pcolormesh(np.asarray(edges[b], dtype=float), np.asarray(edges[a], dtype=float),
                             count, cmap="Greys", shading="flat")
    else:
        mesh = ax.pcolormesh(np.asarray(edges[b], dtype=float), np.asarray(edges[a], dtype=float),
                             masked_mean(ssrf["mean"][pair], count, min_count),
                             cmap="viridis", shading="flat")
        ax.set_facecolor("0.85")
    if labels:
        ax.set_xlabel(f"projection on dim {b + 1}", fontsize=8)
        ax.set_ylabel(f"projection on dim {a + 1}", fontsize=8)
    ax.tick_params(labelsize=7)
    return mesh


def draw_tuning(
    ax: Axes, tuning: Mapping[str, Any], dims: Sequence[int],
    asymmetry: np.ndarray | None = None, *, legend: bool = True,
) -> None:
    """Tuning curves (mean +- s.e. per bin) of dimensions ``dims``, then a line at 0.

    Each curve is one ``errorbar`` (its data line comes first in ``ax.lines``), labelled
    with its dimension and, given ``asymmetry``, its asymmetry index (AI).
    """
    for d in dims:
        edges = np.asarray(tuning["bin_edges"][d], dtype=float)
        centres = (edges[:-1] + edges[1:]) / 2
        label = f"dim {d + 1}"
        if asymmetry is not None:
            label += f": AI {float(np.asarray(asymmetry)[d]):+.2f}"
        ax.errorbar(centres, np.asarray(tuning["mean"][d], dtype=float),
                    yerr=np.asarray(tuning["sem"][d], dtype=float), marker="o", ms=2.5,
                    lw=0.8, capsize=1.5, label=label)
    ax.axvline(0.0, color="0.6", lw=0.6)
    ax.tick_params(labelsize=7)
    if legend and len(dims):
        ax.legend(fontsize=6, loc="best", frameon=False)


def draw_identity_scatter(
    ax: Axes, x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str,
    colour: str = "tab:blue",
) -> int:
    """Scatter of ``y`` against ``x`` (finite pairs only) over the identity line, on equal
    axes from min(0, data) to max(1, data); returns the number of points drawn."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=16, color=colour, alpha=0.85, edgecolors="none")
    both = np.r_[x[ok], y[ok], 0.0, 1.0]
    lo, hi = float(min(both.min(), 0.0)), float(both.max())
    pad = 0.03 * (hi - lo) if hi > lo else 0.05  # points on the edge drawn whole
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.7, ls="--")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return int(ok.sum())


def draw_matrix(fig: Figure, ax: Axes, matrix: np.ndarray, labels: Sequence[str], title: str,
                label: str) -> None:
    """A units x units matrix as an image with a colour bar; unit labels when 30 or fewer."""
    image = ax.imshow(np.asarray(matrix, dtype=float), cmap="viridis",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    if len(labels) <= 30:
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=6)
    ax.set_title(title, fontsize=9)
