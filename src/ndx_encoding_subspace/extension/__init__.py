"""Python classes of the ndx-encoding-subspace neurodata types.

Every class is written by hand rather than generated with ``get_class`` for one of two
reasons: generated constructors accept positional arguments (ours are keyword-only), and
each type has accessors that return numpy arrays for one unit. Only pynwb, hdmf and numpy
are imported here, so that reading a results file stays light. Importing this package
loads the namespace and registers the classes (:mod:`._namespace`).

Modules, one type family each:

* :mod:`._namespace`: loads the namespace; its name and the docval conventions of every class;
* :mod:`.columns`: :func:`ragged_column` and the per-row accessors of the per-unit tables;
* :mod:`.spectrogram`: :class:`SpectrogramSeries`, the models' input;
* :mod:`.models`: :class:`ModelParameter`, :class:`TrainingLog`, :class:`ModelScoresTable`,
  :class:`EncodingModel`, :class:`EncodingModels` and their object mappers;
* :mod:`.tuning_subspace`: :class:`TuningSubspaceTable`;
* :mod:`.nonlinearity`: :class:`SubspaceNonlinearityTable`;
* :mod:`.site_subspace`: :class:`SiteSubspace`.
"""

from __future__ import annotations

# Order matters. ``register_class`` and ``register_map`` need the namespace loaded into
# pynwb: ``_namespace`` loads it, so it runs first (every class module imports it too).
# Then the modules run in the order the types depend on each other: every type after the
# types its constructor accepts.
# isort: off
from ._namespace import NAMESPACE as NAMESPACE
from .columns import ragged_column
from .spectrogram import SpectrogramSeries
from .models import (
    EncodingModel,
    EncodingModelMap as EncodingModelMap,
    EncodingModels,
    EncodingModelsMap as EncodingModelsMap,
    ModelParameter,
    ModelParameterMap as ModelParameterMap,
    ModelScoresTable,
    TrainingLog,
)
from .tuning_subspace import TuningSubspaceTable
from .nonlinearity import SubspaceNonlinearityTable
from .site_subspace import SiteSubspace
# isort: on

__all__ = [
    "SpectrogramSeries",
    "ModelParameter",
    "TrainingLog",
    "ModelScoresTable",
    "EncodingModel",
    "EncodingModels",
    "TuningSubspaceTable",
    "SubspaceNonlinearityTable",
    "SiteSubspace",
    "ragged_column",
]
