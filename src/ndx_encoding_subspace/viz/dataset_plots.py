"""Matplotlib figures of a whole dataset: the paper's cross-site figures, from arrays.

Every function takes plain arrays (columns of the dataset tables, see
:mod:`ndx_encoding_subspace.dataset.tables`) and returns a new
:class:`~matplotlib.figure.Figure` built with the object API (no pyplot). Groups without
data are drawn empty with a note instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..results.roles import CNN, LN, SUBSPACE
from .plotting import draw_identity_scatter, role_colour

__all__ = ["draw_boxes", "dataset_scores", "dataset_k", "similarity_within_between",
           "similarity_by_class", "region_by_cell_type", "nonlinearity_classes"]

_WITHIN, _BETWEEN = "tab:purple", "tab:gray"


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return values[np.isfinite(values)]


def draw_boxes(ax: Axes, groups: Mapping[str, np.ndarray], colours: Sequence[str] | None = None,
               ylabel: str = "", rotation: float = 0.0) -> None:
    """Box plot (no fliers) and jittered points of each group's finite values, labelled
    with the group's name and size; a group without values keeps its place, empty."""
    names = list(groups)
    data = [_finite(groups[name]) for name in names]
    positions = np.arange(1, len(names) + 1)
    filled = [i for i, d in enumerate(data) if d.size]
    if filled:
        ax.boxplot([data[i] for i in filled], positions=positions[filled], showfliers=False,
                   widths=0.6)
    rng = np.random.default_rng(0)
    for i, d in enumerate(data):
        colour = colours[i % len(colours)] if colours else "tab:blue"
        jitter = rng.uniform(-0.15, 0.15, d.size) if d.size > 1 else np.zeros(d.size)
        ax.scatter(positions[i] + jitter, d, s=8, color=colour, alpha=0.6, zorder=3,
                   edgecolors="none")
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{n}\n(n={d.size})" for n, d in zip(names, data)], fontsize=7,
                       rotation=rotation, ha="right" if rotation else "center")
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.set_ylabel(ylabel)
    if not filled:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def dataset_scores(r: Mapping[str, np.ndarray], ratio: np.ndarray) -> Figure:
    """r of LN and subspace model against the CNN's (every unit of every site) and the
    distribution of (r_subspace / r_CNN)^2. ``r`` is keyed by role name."""
    fig = Figure(figsize=(12.0, 4.0), layout="constrained")
    for i, (x, y) in enumerate(((CNN, LN), (CNN, SUBSPACE))):
        draw_identity_scatter(fig.add_subplot(1, 3, i + 1), r[x.name], r[y.name],
                              f"r {x.label}", f"r {y.label}", role_colour(y.name))
    ax = fig.add_subplot(1, 3, 3)
    values = _finite(ratio)
    # negative where the subspace model predicts against the data; the far ones at the edges
    lo = max(-1.5, min(0.0, float(values.min(initial=0))))
    hi = min(3.0, max(1.5, float(values.max(initial=0))))
    ax.hist(np.clip(values, lo, hi), bins=np.linspace(lo, hi, 31), color=role_colour(SUBSPACE.name))
    beyond = int(np.sum((values < lo) | (values > hi)))
    if beyond:
        ax.set_title(f"{beyond} unit(s) beyond [{lo:g}, {hi:g}] drawn at its edges", fontsize=8)
    if values.size:
        ax.axvline(float(np.median(values)), color="k", ls="--", lw=0.8,
                   label=f"median {np.median(values):.2f}")
        ax.legend(fontsize=8)
    ax.set_xlabel("(r subspace / r CNN)$^2$")
    ax.set_ylabel("units")
    return fig


def dataset_k(k: np.ndarray, k90: np.ndarray, sites: np.ndarray) -> Figure:
    """Histograms of k (the run's threshold) and k at 90% variance over the units with a
    subspace, and each site's median k."""
    fig = Figure(figsize=(12.0, 3.4), layout="constrained")
    has = np.asarray(k) > 0
    for i, (values, label) in enumerate(((k, "k (run's variance threshold)"),
                                         (k90, "k at 90% variance"))):
        ax = fig.add_subplot(1, 3, i + 1)
        values = np.asarray(values, dtype=int)[has]
        top = int(values.max()) if values.size else 1
        ax.hist(values, bins=np.arange(0.5, top + 1.5), color="tab:blue", rwidth=0.85)
        if values.size:
            ax.axvline(float(np.median(values)), color="k", ls="--", lw=0.8,
                       label=f"median {np.median(values):g}")
            ax.legend(fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("units")
    ax = fig.add_subplot(1, 3, 3)
    names = list(dict.fromkeys(np.asarray(sites)[has]))
    medians = [float(np.median(np.asarray(k)[has & (sites == s)])) for s in names]
    ax.bar(np.arange(len(names)), medians, color="tab:blue")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_ylabel("median k of the site")
    return fig


def similarity_within_between(within: np.ndarray, between: np.ndarray) -> Figure:
    """Distribution of the subspace similarity of pairs within one site against pairs
    from different sites."""
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    bins = np.linspace(0, 1, 21)
    for values, label, colour in ((within, "within site", _WITHIN),
                                  (between, "between sites", _BETWEEN)):
        values = _finite(values)
        if values.size:
            ax.hist(values, bins=bins, density=True, histtype="step", lw=1.5, color=colour,
                    label=f"{label} (median {np.median(values):.2f})")
    ax.set_xlabel("subspace similarity")
    ax.set_ylabel("density of pairs")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    draw_boxes(fig.add_subplot(1, 2, 2), {"within": within, "between": between},
               [_WITHIN, _BETWEEN], "subspace similarity")
    return fig


def similarity_by_class(similarity: np.ndarray, same_site: np.ndarray,
                        classes: Mapping[str, np.ndarray]) -> Figure:
    """Similarity within and between sites for each class of pair, one panel per way of
    classing (e.g. ``{"cell type": ..., "depth": ...}``, labels like ``narrow-regular``)."""
    fig = Figure(figsize=(6.5 * max(len(classes), 1), 4.4), layout="constrained")
    similarity, same_site = np.asarray(similarity, dtype=float), np.asarray(same_site, bool)
    for i, (title, labels) in enumerate(classes.items()):
        ax = fig.add_subplot(1, max(len(classes), 1), i + 1)
        groups = {}
        for c in [c for c in dict.fromkeys(labels) if c]:
            groups[f"{c}\nwithin"] = similarity[(labels == c) & same_site]
            groups[f"{c}\nbetween"] = similarity[(labels == c) & ~same_site]
        draw_boxes(ax, groups, [_WITHIN, _BETWEEN], "subspace similarity", rotation=30.0)
        ax.set_title(f"by {title}", fontsize=9)
    return fig


def region_by_cell_type(size: np.ndarray, cell_type: np.ndarray, sites: np.ndarray,
                        kinds: Sequence[str] = ("narrow", "regular")) -> Figure:
    """Response-region size of each cell type: every unit, and the median of each site."""
    fig = Figure(figsize=(8.0, 3.6), layout="constrained")
    size = np.asarray(size, dtype=float)
    draw_boxes(fig.add_subplot(1, 2, 1), {t: size[cell_type == t] for t in kinds},
               ["tab:red", "tab:green"], "response-region size (fraction of volume)")
    per_site = {}
    for t in kinds:
        values = [np.nanmedian(size[(cell_type == t) & (sites == s)]) for s in np.unique(sites)
                  if np.isfinite(size[(cell_type == t) & (sites == s)]).any()]
        per_site[t] = np.asarray(values)
    ax = fig.add_subplot(1, 2, 2)
    draw_boxes(ax, per_site, ["tab:red", "tab:green"], "site median of region size")
    return fig


def nonlinearity_classes(counts: np.ndarray, kinds: Sequence[str], shapes: Sequence[str],
                         abs_ai: Mapping[str, np.ndarray]) -> Figure:
    """Fraction of each nonlinearity class (dimension 1) per cell type (stacked bars,
    ``counts [kind, shape]``), and the distribution of ``|asymmetry index|`` per type."""
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    counts = np.asarray(counts, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    bottom = np.zeros(len(kinds))
    for j, shape in enumerate(shapes):
        ax.bar(np.arange(len(kinds)), fractions[:, j], bottom=bottom, label=shape)
        bottom += fractions[:, j]
    ax.set_xticks(np.arange(len(kinds)))
    ax.set_xticklabels([f"{t}\n(n={int(n)})" for t, n in zip(kinds, totals[:, 0])])
    ax.set_ylabel("fraction of units")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax = fig.add_subplot(1, 2, 2)
    bins = np.linspace(0, 1, 11)
    for kind, values in abs_ai.items():
        values = _finite(values)
        if values.size:
            ax.hist(values, bins=bins, density=True, histtype="step", lw=1.5, label=kind)
    ax.set_xlabel("|asymmetry index| of dimension 1")
    ax.set_ylabel("density of units")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig
