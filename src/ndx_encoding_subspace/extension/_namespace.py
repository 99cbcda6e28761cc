"""The namespace the classes are registered in, loaded here, and the docval conventions.

Every class module imports this one first (and :mod:`..extension` imports it before any
class module), so the namespace file is loaded into pynwb before ``register_class`` and
``register_map`` look for the types. The file is the installed wheel's, else the
repository's ``spec/`` (an editable install).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from hdmf.utils import AllowPositional
from pynwb import load_namespaces

NAMESPACE = "ndx-encoding-subspace"
#: the processing module of an NWB file that holds a site's results
MODULE = "encoding_subspace"

_FILE = "ndx-encoding-subspace.namespace.yaml"
_installed = Path(str(files(__name__.split(".")[0]))) / "spec" / _FILE
load_namespaces(str(_installed if _installed.exists()
                    else Path(__file__).resolve().parents[3] / "spec" / _FILE))
del _installed

# Constructors are keyword-only.
_KW = {"allow_positional": AllowPositional.ERROR}
# The DynamicTable constructor arguments every table passes through.
_TABLE_ARGS = ("id", "columns", "colnames", "target_tables")
