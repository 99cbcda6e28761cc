"""ndx-encoding-subspace: tuning subspaces of deep encoding models, stored in NWB.

Importing the package is light: it imports neither pynwb nor hdmf, so that
``encoding-subspace --version`` and ``--help`` answer at once. The extension's namespace is
loaded into pynwb, and its classes are registered, on first use:

* when a class is accessed (``from ndx_encoding_subspace import TuningSubspaceTable``);
* when :mod:`ndx_encoding_subspace.extension` is imported;
* when pynwb is imported, before or after this package (:mod:`._registration`), so that
  ``import ndx_encoding_subspace`` followed by ``NWBHDF5IO(path).read()`` gives the
  typed classes, as with any NWB extension, and so does every module of the package that
  reads or writes NWB files.

The subpackages load their names on first use too (:mod:`._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
    "__version__",
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

#: the extension's public names, all from :mod:`.extension`
_EXTENSION = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from .extension import (
        EncodingModel,
        EncodingModels,
        ModelParameter,
        ModelScoresTable,
        SiteSubspace,
        SpectrogramSeries,
        SubspaceNonlinearityTable,
        TrainingLog,
        TuningSubspaceTable,
        ragged_column,
    )


def __getattr__(name: str) -> Any:
    """An extension class, loading the namespace the first time (PEP 562)."""
    if name in _EXTENSION:
        from . import extension

        return getattr(extension, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


from ._aliases import install as _install_aliases  # noqa: E402
from ._registration import register_with_pynwb as _register_with_pynwb  # noqa: E402

_install_aliases()
_register_with_pynwb()

del _install_aliases, _register_with_pynwb
