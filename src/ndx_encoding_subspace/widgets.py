"""nwbwidgets views of the extension's types, registered on import (the NDX-template way).

::

    import ndx_encoding_subspace.widgets  # noqa: F401
    from nwbwidgets import nwb2widget

    nwb2widget(nwbfile)  # a results file: our views for our types

Importing this module

1. installs the compatibility layer that lets nwbwidgets 0.11.3 import with pynwb >= 4
   (:func:`ndx_encoding_subspace.viz.widgets.compat.install_icephys_shim`), then imports
   nwbwidgets;
2. inserts the views into nwbwidgets' ``default_neurodata_vis_spec``, so that a plain
   ``nwb2widget`` uses them;
3. exposes :data:`vis_spec`: the extension's neurodata types mapped to their views.

It needs the ``viz`` extra (``pip install "ndx-encoding-subspace[viz]"``); without it
the import raises :class:`~ndx_encoding_subspace.errors.MissingDependencyError` naming
the install command. ``import ndx_encoding_subspace`` alone imports none of this. The
views themselves live in :mod:`ndx_encoding_subspace.viz.widgets`, which also offers
:func:`results_widget` (open a path, URL or DANDI id and show it) and
:func:`neurodata_vis_spec` (a new spec, leaving nwbwidgets' default unchanged).
"""

from __future__ import annotations

from typing import Any

from .viz.widgets import (
    CSS_CLASSES,
    extension_vis_spec,
    neurodata_vis_spec,
    register_widgets,
    results_widget,
)
from .viz.widgets.compat import import_nwbwidgets

__all__ = ["vis_spec", "CSS_CLASSES", "neurodata_vis_spec", "register_widgets",
           "results_widget"]

#: The extension's neurodata types and their views, as registered in nwbwidgets'
#: default vis spec (a widget class, a function, or an ordered dict of tabs per type).
vis_spec: dict[type, Any] = extension_vis_spec(import_nwbwidgets().default_neurodata_vis_spec)
import_nwbwidgets().default_neurodata_vis_spec.update(vis_spec)

del import_nwbwidgets, extension_vis_spec
