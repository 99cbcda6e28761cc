"""nwbwidgets views of the extension's neurodata types.

Importing this package is light: nwbwidgets (through :mod:`.compat`), ipywidgets and
matplotlib are imported only when a view is built or registered.

- :func:`extension_vis_spec` returns our views alone (neurodata type -> view).
- :func:`neurodata_vis_spec` returns a copy of nwbwidgets' vis spec with our views.
- :func:`register_widgets` inserts our views into a vis spec (by default nwbwidgets'
  own ``default_neurodata_vis_spec``, so that a plain ``nwb2widget`` uses them).
  ``import ndx_encoding_subspace.widgets`` does this once, the NDX-template way.
- :func:`results_widget` opens a results file (or takes an NWBFile) and returns
  ``nwb2widget`` of it with our views.

Each view is an ``ipywidgets.VBox`` of controls and an ``ipywidgets.Image`` holding a
PNG drawn by a matplotlib ``Figure`` (no pyplot, no backend state; the drawing is in
:mod:`ndx_encoding_subspace.viz.plotting`, shared with the HTML report), which renders the
same in Jupyter, Voila and a static HTML export. Each carries a CSS class
(``ndx-es-subspace``, ``ndx-es-ssrf``, ...; see :data:`CSS_CLASSES`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "CSS_CLASSES",
    "FigureView",
    "extension_vis_spec",
    "figure_png",
    "neurodata_vis_spec",
    "register_widgets",
    "results_widget",
    "unit_labels",
]

#: CSS class of each view, by view name.
CSS_CLASSES = {
    "subspace": "ndx-es-subspace",
    "spectrogram": "ndx-es-spectrogram",
    "ssrf": "ndx-es-ssrf",
    "scores": "ndx-es-scores",
    "training": "ndx-es-training",
    "tiling": "ndx-es-tiling",
    "similarity": "ndx-es-similarity",
    "site_filters": "ndx-es-site-filters",
}


_DPI = 90


def figure_png(fig: Figure, dpi: int = _DPI) -> bytes:
    """PNG bytes of a matplotlib figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def unit_labels(region: Any) -> list[str]:
    """Label ``'unit <id>'`` of each row of a DynamicTableRegion into the Units table.

    Falls back to the Units table row when the ids cannot be read.
    """
    rows = np.asarray(region.data[:], dtype=np.int64)
    try:
        ids = np.asarray(region.table.id[:])
        return [f"unit {ids[row]}" for row in rows]
    except (AttributeError, IndexError, TypeError):
        return [f"units row {row}" for row in rows]


def _build_figure_view() -> type:
    import ipywidgets as widgets

    class FigureView(widgets.VBox):
        """Controls above a PNG image of a matplotlib figure, redrawn on every change.

        Subclasses set ``css`` and implement ``draw() -> Figure``; ``figure`` holds the
        last figure drawn (its axes carry the plotted arrays) and ``message`` a line of
        text under the controls. A change of value of any of ``watch`` (default: every
        control) redraws. Data that cannot be drawn (``draw`` raising ValueError,
        IndexError, TypeError, KeyError or ResultsError) show a figure saying why.
        """

        css = "ndx-es-view"

        def __init__(self, controls: Sequence[Any] = (),
                     watch: Sequence[Any] | None = None) -> None:
            self.image = widgets.Image(format="png", layout=widgets.Layout(
                max_width="100%", height="auto", align_self="flex-start"))
            self.message = widgets.HTML()
            self.figure: Figure | None = None
            children = ([widgets.HBox(list(controls))] if controls else []) + [
                self.message, self.image]
            super().__init__(children=children)
            self.add_class(self.css)
            for control in controls if watch is None else watch:
                control.observe(self._on_change, names="value")

        def _on_change(self, _change: Any) -> None:
            self.redraw()

        def draw(self) -> Figure:  # pragma: no cover - abstract
            raise NotImplementedError

        def redraw(self) -> None:
            """Draw the figure for the current controls and show it; a file whose data
            cannot be drawn (a damaged or hand-edited one) shows why instead of raising."""
            from ...errors import ResultsError
            from ..plotting import message_figure

            try:
                self.figure = self.draw()
            except (ValueError, IndexError, TypeError, KeyError, ResultsError) as err:
                self.figure = message_figure(f"this view cannot be drawn from the file: {err}"[:300])
                self.message.value = "the data of this object do not have the shapes or values it needs"
            self.image.value = figure_png(self.figure, dpi=_DPI)
            self.image.width = str(round(self.figure.get_figwidth() * _DPI))

    FigureView.__module__ = __name__
    return FigureView


def __getattr__(name: str) -> Any:
    # FigureView subclasses ipywidgets.VBox: built on first access so that importing
    # this package does not import ipywidgets.
    if name == "FigureView":
        cls = _build_figure_view()
        globals()["FigureView"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _views(nwbwidgets_view: Any) -> dict[type, Any]:
    from collections import OrderedDict

    from ...extension import (
        EncodingModel,
        EncodingModels,
        ModelScoresTable,
        SiteSubspace,
        SpectrogramSeries,
        SubspaceNonlinearityTable,
        TrainingLog,
        TuningSubspaceTable,
    )
    from . import scores, site, ssrf, subspace

    table = nwbwidgets_view.show_dynamic_table
    return {
        TuningSubspaceTable: OrderedDict({"Subspace filters": subspace.SubspaceFiltersWidget,
                                          "table": table}),
        SubspaceNonlinearityTable: OrderedDict({"SSRF": ssrf.SSRFWidget, "table": table}),
        EncodingModels: OrderedDict({"Score comparison": scores.ScoreComparisonWidget}),
        # nwbwidgets' generic view of a MultiContainerInterface shows only the tensors;
        # the field view also reaches the scores, training log and spectrogram.
        EncodingModel: nwbwidgets_view.show_neurodata_base,
        ModelScoresTable: OrderedDict({"Scores": scores.ScoresTableWidget, "table": table}),
        TrainingLog: OrderedDict({"Loss curves": scores.TrainingLogWidget, "table": table}),
        SiteSubspace: OrderedDict({"Tiling": site.TilingWidget,
                                   "Similarity": site.SimilarityWidget,
                                   "Site filters": site.SiteFiltersWidget}),
        SpectrogramSeries: subspace.SpectrogramWidget,
    }


def extension_vis_spec(parent_spec: dict | None = None) -> dict[type, Any]:
    """Our views alone: the extension's neurodata types mapped to their views.

    Parameters
    ----------
    parent_spec : dict, optional
        The vis spec these views will be part of (default: nwbwidgets'
        ``default_neurodata_vis_spec``): the ``models`` tab of an EncodingModels shows
        its models with it.

    Returns
    -------
    dict
        Neurodata type -> view (a widget class, a function, or an ordered dict of tabs).
    """
    from collections import OrderedDict

    from ...extension import EncodingModels
    from .compat import import_nwbwidgets

    nwbwidgets = import_nwbwidgets()
    spec = nwbwidgets.default_neurodata_vis_spec if parent_spec is None else parent_spec
    view = nwbwidgets.view
    ours = _views(view)
    # nwbwidgets' lazy tabs call tab functions with the node only, so the "models" tab
    # gets the spec it belongs to here.
    tabs = OrderedDict(ours[EncodingModels])
    tabs["models"] = lambda node, **_kw: view.show_multi_container_interface(
        node, neurodata_vis_spec=spec)
    return {**ours, EncodingModels: tabs}


def register_widgets(vis_spec: dict | None = None) -> dict:
    """Insert our views into a vis spec and return it.

    Parameters
    ----------
    vis_spec : dict, optional
        The vis spec to extend (changed in place). By default nwbwidgets'
        ``default_neurodata_vis_spec``, so that ``nwbwidgets.nwb2widget(node)`` uses our
        views from then on (what ``import ndx_encoding_subspace.widgets`` does).

    Returns
    -------
    dict
        ``vis_spec`` itself.
    """
    from .compat import import_nwbwidgets

    nwbwidgets = import_nwbwidgets()
    spec = nwbwidgets.default_neurodata_vis_spec if vis_spec is None else vis_spec
    spec.update(extension_vis_spec(spec))
    return spec


def neurodata_vis_spec(base: dict | None = None) -> dict:
    """A new vis spec: ``base`` (default: nwbwidgets' default) plus our views.

    Neither ``base`` nor nwbwidgets' default is changed.
    """
    from .compat import import_nwbwidgets

    nwbwidgets = import_nwbwidgets()
    spec = dict(nwbwidgets.default_neurodata_vis_spec if base is None else base)
    return register_widgets(spec)


def _check_local(source: Any) -> None:
    """A local HDF5 file passes the checks the loader makes before reading
    (:func:`~ndx_encoding_subspace.results.limits.check_file`: no links to other files, no
    sizes out of proportion, the specification's types) before it is shown; a file of a
    newer extension version is said (:func:`~ndx_encoding_subspace.results.versions.warn_if_newer`)."""
    from pathlib import Path

    import h5py

    from ...results.limits import check_file
    from ...results.versions import warn_if_newer

    path = Path(str(source))
    if path.is_file() and h5py.is_hdf5(path):
        check_file(path)
        warn_if_newer(path)


def results_widget(nwbfile_or_path: Any, vis_spec: dict | None = None) -> ipywidgets.Widget:
    """``nwb2widget`` of a results file with our views.

    Parameters
    ----------
    nwbfile_or_path : NWBFile, str or Path
        An NWBFile, or a local path, URL or ``DANDI:`` identifier opened with
        :func:`ndx_encoding_subspace.io.open.open_nwb` (kept open as long as the
        widget lives, through its ``opened`` attribute).
    vis_spec : dict, optional
        Vis spec to use; default :func:`neurodata_vis_spec`.

    Returns
    -------
    ipywidgets.Widget
    """
    from pynwb import NWBFile

    from .compat import import_nwbwidgets

    nwbwidgets = import_nwbwidgets()
    spec = neurodata_vis_spec() if vis_spec is None else vis_spec
    opened = None
    if isinstance(nwbfile_or_path, NWBFile):
        nwbfile = nwbfile_or_path
    else:
        from ...io.open import open_nwb

        _check_local(nwbfile_or_path)
        opened = open_nwb(nwbfile_or_path)
        nwbfile = opened.nwbfile
    widget = nwbwidgets.nwb2widget(nwbfile, neurodata_vis_spec=spec)
    widget.add_class("ndx-es-results")
    widget.opened = opened
    return widget
