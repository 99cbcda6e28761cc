"""ndx-encoding-subspace: tuning subspaces of deep encoding models, stored in NWB.

Importing the package loads the extension's namespace into pynwb and registers its
classes; it imports nothing heavier than pynwb, hdmf and numpy.
"""

from importlib.resources import files
from pathlib import Path

from pynwb import load_namespaces

__version__ = "0.1.0"


# The namespace file of an installed wheel, else the repository's spec/ (editable install).
_NAME = "ndx-encoding-subspace.namespace.yaml"
_installed = Path(str(files(__name__))) / "spec" / _NAME
_path = _installed if _installed.exists() else Path(__file__).resolve().parents[2] / "spec" / _NAME
load_namespaces(str(_path))

from .extension import (  # noqa: E402
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

from ._aliases import install as _install_aliases  # noqa: E402

_install_aliases()

del _NAME, _installed, _install_aliases, _path, files, Path, load_namespaces
