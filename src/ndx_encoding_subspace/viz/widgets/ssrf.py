"""View of a unit's response within its tuning subspace (SubspaceNonlinearityTable).

:class:`SSRFWidget`: for the unit and dimension pair chosen in drop-downs, the SSRF heat
map (mean response per bin; bins with fewer than ``min_count`` samples masked) and its
sample counts, then the 1-D tuning curve of every dimension with its standard error and
asymmetry index.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ...extension import SubspaceNonlinearityTable
from ...results.rows import nonlinearity_row
from ..plotting import draw_ssrf_map, draw_tuning
from . import CSS_CLASSES, FigureView, unit_labels

__all__ = ["SSRFWidget", "plot_ssrf"]

_NO_MAP = -1  # value of the map drop-down for a unit without SSRF maps (k = 1)


def plot_ssrf(table: SubspaceNonlinearityTable, row: int, pair: int | None = 0) -> Figure:
    """Figure of one unit's SSRF (table row ``row``, map ``pair``) and tuning curves.

    Parameters
    ----------
    table : SubspaceNonlinearityTable
    row : int
        Table row.
    pair : int or None
        Index of the SSRF map (row of ``ssrf_pairs``); None, or a unit with no map
        (k = 1), draws the tuning curves only.

    Returns
    -------
    Figure
        With a map: axes 0 and 1 are the mean and count maps (``pcolormesh`` over the
        bin edges), then one axis per dimension with its tuning curve (``errorbar``).
    """
    ssrf = table.get_ssrf(row)
    tuning = table.get_tuning_curves(row)
    asymmetry = table.get_asymmetry_index(row)
    signs = table.get_dimension_sign(row)
    k = len(tuning["mean"])
    has_map = pair is not None and len(ssrf["pairs"]) > 0
    n_cols = max(k, 2)
    fig = Figure(figsize=(3.3 * n_cols + 0.6, 6.0 if has_map else 3.0), layout="constrained")
    grid = fig.add_gridspec(2 if has_map else 1, n_cols)
    if has_map:
        a, b = (int(d) for d in ssrf["pairs"][pair])
        ax_mean = fig.add_subplot(grid[0, 0])
        mesh = draw_ssrf_map(ax_mean, ssrf, pair, table.min_count)
        fig.colorbar(mesh, ax=ax_mean, label="mean response")
        ax_mean.set_title(f"SSRF: dim {a + 1} x dim {b + 1}", fontsize=9)
        ax_count = fig.add_subplot(grid[0, 1])
        counts = draw_ssrf_map(ax_count, ssrf, pair, table.min_count, counts=True)
        fig.colorbar(counts, ax=ax_count, label="samples")
        ax_count.set_title(f"samples per bin (masked < {table.min_count})", fontsize=9)
    for d in range(k):
        ax = fig.add_subplot(grid[-1, d])
        draw_tuning(ax, tuning, [d], legend=False)
        sign = "+" if signs[d] >= 0 else "-"
        ax.set_title(f"dim {d + 1} (sign {sign}): AI = {asymmetry[d]:+.2f}", fontsize=9)
        ax.set_xlabel(f"projection on dim {d + 1}")
        if d == 0:
            ax.set_ylabel("mean response")
    return fig


class SSRFWidget(FigureView):
    """SSRF heat maps, tuning curves and asymmetry index; unit and pair chosen in drop-downs.

    Parameters
    ----------
    table : SubspaceNonlinearityTable
    neurodata_vis_spec : dict, optional
        Accepted for nwbwidgets; unused.
    """

    css = CSS_CLASSES["ssrf"]

    def __init__(self, table: SubspaceNonlinearityTable,
                 neurodata_vis_spec: dict | None = None, **_kwargs: Any) -> None:
        self.table = table
        labels = unit_labels(table["units"])
        # start on the first unit that has an SSRF map (k >= 2)
        try:
            first = next((i for i in range(len(labels)) if len(table.get_ssrf(i)["pairs"])), 0)
        except (ValueError, TypeError, IndexError, KeyError):  # said when the unit is drawn
            first = 0
        self.unit = widgets.Dropdown(options=[(label, i) for i, label in enumerate(labels)],
                                     value=first if labels else None, description="unit")
        self.pair = widgets.Dropdown(options=[("none", _NO_MAP)], description="map")
        self._pair_options()
        self.unit.observe(self._on_unit, names="value")
        super().__init__([self.unit, self.pair], watch=[self.pair])
        if labels:
            self.redraw()
        else:
            self.message.value = f"table {table.name!r} has no rows"

    def _pair_options(self) -> None:
        if self.unit.value is None:
            return
        try:
            pairs = self.table.get_ssrf(int(self.unit.value))["pairs"]
        except (ValueError, TypeError, IndexError, KeyError):  # said when the unit is drawn
            pairs = []
        options = [(f"dim {a + 1} x dim {b + 1}", i) for i, (a, b) in enumerate(pairs)]
        self.pair.options = options or [("none (k = 1)", _NO_MAP)]
        self.pair.value = options[0][1] if options else _NO_MAP

    def _on_unit(self, _change: Any) -> None:
        before = self.pair.value
        self._pair_options()
        if self.pair.value == before:  # else the pair's observer has redrawn
            self.redraw()

    def draw(self) -> Figure:
        row = int(self.unit.value)
        nonlinearity_row(self.table, row, int(self.table.unit_rows()[row]))  # the loader's checks
        asymmetry = self.table.get_asymmetry_index(row)
        listing = ", ".join(f"dim {d + 1}: {v:+.2f}" for d, v in enumerate(asymmetry))
        self.message.value = f"<b>{self.unit.label}</b>: asymmetry index {listing}"
        pair = None if self.pair.value == _NO_MAP else int(self.pair.value)
        return plot_ssrf(self.table, row, pair)
