"""Matplotlib figures of the report, drawn from arrays (no pyplot, no backend state).

Every function returns a :class:`matplotlib.figure.Figure` built with the object API, so
figures render the same under any backend and can be drawn from worker threads. Filters,
variance, SSRF maps, tuning curves, score scatters and matrices are drawn by
:mod:`ndx_encoding_subspace.viz.plotting`, the functions the nwbwidgets views use; the
report imports neither ipywidgets nor nwbwidgets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...results.bundle import UnitNonlinearity, UnitSubspace
from ...results.roles import CNN, LN, SUBSPACE
from ..plotting import (
    draw_identity_scatter,
    draw_matrix,
    draw_ssrf_map,
    draw_tuning,
    draw_variance,
    plot_filters,
    role_colour,
)

__all__ = [
    "example_unit",
    "score_scatter",
    "k_distribution",
    "ssrf_grid",
    "asymmetry_histogram",
    "tiling",
    "similarity",
    "cell_type_and_depth",
]

#: Dimensions whose tuning curves are drawn per unit.
MAX_CURVES = 3
#: subspace filters drawn per example unit
MAX_FILTERS = 5


def _curves(nl: UnitNonlinearity) -> range:
    return range(min(len(nl.tuning["mean"]), MAX_CURVES))


def example_unit(
    title: str, sub: UnitSubspace, nl: UnitNonlinearity | None, min_count: int,
    frequencies: np.ndarray | None = None, bin_size: float | None = None, max_filters: int = MAX_FILTERS,
    k_rule: str = "variance",
) -> Figure:
    """One unit through the method: mean dSTRF and subspace filters (top), variance
    against the noise floor, SSRF map and tuning curves (bottom)."""
    n_filt = min(sub.k, max_filters)
    n_top = n_filt + 1
    fig = Figure(figsize=(max(2.0 * n_top, 9.0), 5.0), layout="constrained")
    fig.suptitle(title, fontsize=10)
    grid = fig.add_gridspec(2, max(n_top, 3))
    top = [fig.add_subplot(grid[0, j]) for j in range(n_top)]
    var = np.asarray(sub.explained_variance, dtype=float)
    mean = np.asarray(sub.mean_dstrf, dtype=float)
    freqs = frequencies if frequencies is not None and len(frequencies) == mean.shape[0] else None
    # the mean dSTRF has its own colour scale; the unit-norm filters share one
    plot_filters(top[:1], mean[None], ["mean dSTRF"], freqs, bin_size)
    titles = [f"filter {j + 1} ({100 * var[j]:.0f}%)" for j in range(n_filt)]
    plot_filters(top[1:], np.asarray(sub.filters)[:n_filt], titles, None, bin_size)
    for ax in top[1:2]:  # frequency axis labelled once, on the mean dSTRF
        ax.set_yticks([])
        ax.set_ylabel("")
    bottom = grid[1, :].subgridspec(1, 3)
    draw_variance(fig.add_subplot(bottom[0, 0]), sub.explained_variance,
                  sub.noise_floor_variance, sub.k, sub.threshold, k90=sub.k90,
                  k_significant=sub.significant_count(), k_rule=k_rule)
    ax_map, ax_tune = fig.add_subplot(bottom[0, 1]), fig.add_subplot(bottom[0, 2])
    if nl is None:
        for ax in (ax_map, ax_tune):
            ax.text(0.5, 0.5, "no subspace nonlinearity", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
        return fig
    draw_ssrf_map(ax_map, nl.ssrf, 0, min_count)
    ax_map.set_title("SSRF (mean response)", fontsize=9)
    draw_tuning(ax_tune, nl.tuning, _curves(nl), nl.asymmetry_index)
    ax_tune.set_xlabel("projection", fontsize=8)
    ax_tune.set_ylabel("mean response", fontsize=8)
    ax_tune.set_title("tuning curves", fontsize=9)
    return fig


def score_scatter(r: Mapping[str, np.ndarray]) -> Figure:
    """r_LN against r_CNN and r_subspace against r_CNN, one point per unit.

    ``r`` is keyed by role name (:mod:`ndx_encoding_subspace.results.roles`); a missing
    model leaves its panel out.
    """
    pairs = [(x, y) for x, y in ((LN, CNN), (CNN, SUBSPACE)) if x.name in r and y.name in r]
    fig = Figure(figsize=(4.2 * max(len(pairs), 1), 4.2), layout="constrained")
    if not pairs:
        fig.text(0.5, 0.5, "no CNN scores", ha="center", va="center")
        return fig
    for i, (x, y) in enumerate(pairs):
        draw_identity_scatter(fig.add_subplot(1, len(pairs), i + 1), r[x.name], r[y.name],
                              f"r {x.label}", f"r {y.label}", role_colour(y.name))
    return fig


def k_distribution(k: Sequence[int], k90: Sequence[int], threshold: float,
                   k_significant: Sequence[int] | None = None) -> Figure:
    """Histograms of the subspace dimension at the threshold, at 90% variance and (given)
    by significance (components above the noise floor)."""
    panels = [(k, f"k at {100 * threshold:.0f}% variance"), (k90, "k at 90% variance")]
    if k_significant is not None:
        panels.append((k_significant, "k above the noise floor"))
    fig = Figure(figsize=(4.0 * len(panels), 3.2), layout="constrained")
    for i, (values, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        values = np.asarray(values, dtype=int)
        top = int(values.max()) if values.size else 1
        ax.hist(values, bins=np.arange(0.5, top + 1.5), color="tab:blue", rwidth=0.85)
        ax.set_xlabel(label)
        ax.set_ylabel("units")
        if values.size:
            ax.axvline(float(np.median(values)), color="k", ls="--", lw=0.8,
                       label=f"median {np.median(values):g}")
            ax.legend(fontsize=8)
    return fig


def ssrf_grid(
    items: Sequence[tuple[str, UnitNonlinearity]], min_count: int, units_per_row: int = 4,
) -> Figure:
    """Compact grid: for each unit, its SSRF map (dims 1 x 2) and its tuning curves with
    the asymmetry index of each dimension."""
    n = max(len(items), 1)
    rows = int(np.ceil(n / units_per_row))
    cols = min(n, units_per_row)
    fig = Figure(figsize=(3.6 * cols, 1.9 * rows + 0.3), layout="constrained")
    grid = fig.add_gridspec(rows, 2 * cols)
    for i, (label, nl) in enumerate(items):
        r, c = divmod(i, units_per_row)
        ax_map = fig.add_subplot(grid[r, 2 * c])
        draw_ssrf_map(ax_map, nl.ssrf, 0, min_count, labels=False)
        ax_map.set_title(label, fontsize=8, loc="left")
        draw_tuning(fig.add_subplot(grid[r, 2 * c + 1]), nl.tuning, _curves(nl),
                    nl.asymmetry_index)
    return fig


def asymmetry_histogram(ai_first: np.ndarray, ai_rest: np.ndarray) -> Figure:
    """Distribution of the asymmetry index of the first and of the other dimensions."""
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    bins = np.linspace(-1, 1, 21)
    ax.hist([np.asarray(ai_first), np.asarray(ai_rest)], bins=bins, stacked=True,
            color=["tab:blue", "tab:orange"], label=["dimension 1", "dimensions 2+"])
    ax.set_xlabel("asymmetry index")
    ax.set_ylabel("dimensions")
    ax.legend(fontsize=8)
    return fig


def tiling(sizes: np.ndarray, overlap: np.ndarray | None, labels: Sequence[str]) -> Figure:
    """Response-region size of every unit (fraction of the volume) and the overlap matrix."""
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    ax.bar(np.arange(len(sizes)), sizes, color="tab:green")
    ax.set_xticks(np.arange(len(sizes)))
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_ylabel("response-region size (fraction of volume)")
    if overlap is not None:
        draw_matrix(fig, fig.add_subplot(1, 2, 2), overlap, labels, "response-region overlap",
                "overlap")
    return fig


def similarity(matrix: np.ndarray, labels: Sequence[str]) -> Figure:
    """Pairwise subspace similarity and the distribution of its off-diagonal values."""
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    draw_matrix(fig, fig.add_subplot(1, 2, 1), matrix, labels, "subspace similarity",
            "similarity")
    ax = fig.add_subplot(1, 2, 2)
    off = np.asarray(matrix, dtype=float)[~np.eye(len(matrix), dtype=bool)]
    off = off[np.isfinite(off)]
    ax.hist(off, bins=np.linspace(0, 1, 21), color="tab:purple")
    if off.size:
        ax.axvline(float(np.median(off)), color="k", ls="--", lw=0.8,
                   label=f"median {np.median(off):.2f}")
        ax.legend(fontsize=8)
    ax.set_xlabel("similarity (pairs of units)")
    ax.set_ylabel("pairs")
    return fig


def cell_type_and_depth(
    cell_type: np.ndarray | None, region_size: np.ndarray | None,
    depth: np.ndarray | None, k: np.ndarray, r_cnn: np.ndarray | None,
) -> Figure:
    """Response-region size by cell type; k and CNN r against depth (where known)."""
    panels = []
    if cell_type is not None and region_size is not None:
        panels.append("type")
    if depth is not None:
        panels.append("k")
        if r_cnn is not None:
            panels.append("r")
    fig = Figure(figsize=(3.6 * max(len(panels), 1), 3.4), layout="constrained")
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if panel == "type":
            kinds = [t for t in ("narrow", "regular") if np.any(cell_type == t)]
            data = [np.asarray(region_size)[cell_type == t] for t in kinds]
            ax.boxplot(data, showfliers=False)
            ax.set_xticks(np.arange(1, len(kinds) + 1))
            ax.set_xticklabels([f"{t}\n(n={len(d)})" for t, d in zip(kinds, data)])
            for j, d in enumerate(data):
                jitter = np.linspace(-0.12, 0.12, len(d)) if len(d) > 1 else np.zeros(len(d))
                ax.scatter(j + 1 + jitter, d, s=10, color="tab:green", zorder=3)
            ax.set_ylabel("response-region size")
        else:
            y = np.asarray(k if panel == "k" else r_cnn, dtype=float)
            ax.scatter(y, depth, s=12, color="tab:blue" if panel == "r" else "tab:red")
            ax.invert_yaxis()
            ax.set_ylabel("depth (um)")
            ax.set_xlabel("subspace dimension k" if panel == "k" else "r CNN")
    return fig
