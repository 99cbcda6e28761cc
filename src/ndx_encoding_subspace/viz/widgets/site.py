"""Views of a SiteSubspace: tiling, subspace similarity and the shared site filters.

- :class:`TilingWidget`: response-region size of every unit, the pairwise region overlap
  matrix, and the chosen unit's response region seen from above (dims 1 x 2).
- :class:`SimilarityWidget`: the pairwise subspace similarity matrix and the
  distribution of its off-diagonal values.
- :class:`SiteFiltersWidget`: the shared site filters with their explained variance.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from ...extension import SiteSubspace
from ...results.rows import site_analysis
from ..plotting import draw_matrix, message_figure, plot_filters
from . import CSS_CLASSES, FigureView, unit_labels
from .subspace import find_time_frequency_axes

__all__ = ["SiteFiltersWidget", "SimilarityWidget", "TilingWidget"]


class TilingWidget(FigureView):
    """Response-region sizes, overlaps, and one unit's region (drop-down).

    Parameters
    ----------
    site : SiteSubspace
    neurodata_vis_spec : dict, optional
        Accepted for nwbwidgets; unused.
    """

    css = CSS_CLASSES["tiling"]

    def __init__(self, site: SiteSubspace, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.site = site
        self.labels = unit_labels(site.units)
        self.unit = widgets.Dropdown(options=[(lab, i) for i, lab in enumerate(self.labels)],
                                     value=0 if self.labels else None, description="unit")
        controls = [self.unit] if site.response_regions is not None else []
        super().__init__(controls)
        self.redraw()

    def draw(self) -> Figure:
        site_analysis(self.site)  # the loader's checks
        site = self.site
        if site.response_region_size is None:
            return message_figure("no tiling results in this site subspace")
        sizes = np.asarray(site.response_region_size[:], dtype=float)
        if sizes.shape != (len(self.labels),):
            raise ValueError(f"response_region_size of shape {sizes.shape} for {len(self.labels)} units")
        has_regions = site.response_regions is not None and self.unit.value is not None
        fig = Figure(figsize=(14 if has_regions else 10, 4.4), layout="constrained")
        axes = fig.subplots(1, 3 if has_regions else 2)
        axes[0].bar(np.arange(sizes.size), sizes, color="tab:blue")
        axes[0].set_xticks(np.arange(sizes.size))
        axes[0].set_xticklabels(self.labels, rotation=90, fontsize=7)
        axes[0].set_ylabel("response region (fraction of volume)")
        axes[0].set_title(f"median size {np.median(sizes):.3f}", fontsize=9)
        if site.region_overlap is not None:
            draw_matrix(fig, axes[1], np.asarray(site.region_overlap[:], dtype=float),
                        self.labels, "region overlap", "overlap")
        if has_regions:
            unit = int(self.unit.value)
            region = np.asarray(site.get_response_region(unit), dtype=bool)
            seen = region.any(axis=tuple(range(2, region.ndim))) if region.ndim > 2 else region
            ax = axes[2]
            edges = (np.asarray(site.tiling_bin_edges[:], dtype=float)
                     if site.tiling_bin_edges is not None else None)
            if edges is not None:
                ax.pcolormesh(edges[1], edges[0], seen.astype(float), cmap="Blues",
                              vmin=0, vmax=1, shading="flat")
            else:
                ax.imshow(seen.astype(float), origin="lower", cmap="Blues", vmin=0, vmax=1)
            ax.set_xlabel("shared dim 2")
            ax.set_ylabel("shared dim 1")
            ax.set_title(f"{self.labels[unit]}: region ({100 * region.mean():.1f}% of volume)",
                         fontsize=9)
        self.message.value = (f"{sizes.size} units; response regions on the grid of the "
                              "first shared dimensions")
        return fig


class SimilarityWidget(FigureView):
    """Pairwise subspace similarity matrix and its off-diagonal distribution."""

    css = CSS_CLASSES["similarity"]

    def __init__(self, site: SiteSubspace, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.site = site
        super().__init__()
        self.redraw()

    def draw(self) -> Figure:
        site_analysis(self.site)  # the loader's checks
        site = self.site
        if site.subspace_similarity is None:
            return message_figure("no subspace similarity in this site subspace")
        matrix = np.asarray(site.subspace_similarity[:], dtype=float)
        labels = unit_labels(site.units)
        if matrix.shape != (len(labels), len(labels)):
            raise ValueError(f"subspace_similarity of shape {matrix.shape} for {len(labels)} units")
        fig = Figure(figsize=(10, 4.4), layout="constrained")
        ax_matrix, ax_hist = fig.subplots(1, 2)
        draw_matrix(fig, ax_matrix, matrix, labels, "subspace similarity", "similarity")
        pairs = matrix[np.triu_indices_from(matrix, k=1)]
        pairs = pairs[np.isfinite(pairs)]  # NaN: pairs whose similarity is not defined
        ax_hist.hist(pairs, bins=min(20, max(pairs.size, 1)), range=(0.0, 1.0), color="tab:green")
        ax_hist.set_xlabel("similarity of unit pairs")
        ax_hist.set_ylabel("pairs")
        median = float(np.median(pairs)) if pairs.size else float("nan")
        ax_hist.set_title(f"median {median:.3f} over {pairs.size} pairs", fontsize=9)
        self.message.value = f"measure: {site.similarity_measure or 'not recorded'}"
        return fig


class SiteFiltersWidget(FigureView):
    """The shared site filters as images with their explained variance."""

    css = CSS_CLASSES["site_filters"]

    def __init__(self, site: SiteSubspace, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.site = site
        super().__init__()
        self.redraw()

    def draw(self) -> Figure:
        site_analysis(self.site)  # the loader's checks
        filters = self.site.get_filters()
        variance = np.asarray(self.site.explained_variance[:], dtype=float)
        n = len(filters)
        frequencies, bin_size = find_time_frequency_axes(self.site, filters.shape[1])
        fig = Figure(figsize=(2.2 * n + 1.0, 2.8), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        titles = [f"site filter {j + 1}: {100 * variance[j]:.1f}% var" for j in range(n)]
        plot_filters(axes, filters, titles, frequencies, bin_size)
        self.message.value = (f"{n} shared filters, {100 * variance[:n].sum():.1f}% of the "
                              "pooled dSTRF variance")
        return fig
