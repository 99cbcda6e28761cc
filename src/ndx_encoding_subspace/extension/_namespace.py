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
from pynwb import get_type_map, load_namespaces

from ..errors import ConfigError

NAMESPACE = "ndx-encoding-subspace"
#: the processing module of an NWB file that holds a site's results
MODULE = "encoding_subspace"

_FILE = "ndx-encoding-subspace.namespace.yaml"
#: namespaces that pynwb itself provides, never dropped
_OWN = ("hdmf-common", "hdmf-experimental", "core", NAMESPACE)


def check_catalog() -> None:
    """Refuse a pynwb catalog that a failed import left broken.

    A failed import of an extension (nwbwidgets' import of the obsolete ndx-icephys-meta
    on pynwb 4, without this package's compatibility shim) leaves its namespace half-loaded
    in pynwb's global catalog, with core specs changed in place: every later
    ``load_namespaces`` fails, and only a new Python session mends it. The catalog keeps
    its namespaces in a private mapping; where hdmf lays it out otherwise, nothing is
    checked.

    Raises
    ------
    ConfigError
        Naming the broken namespaces and what to do.
    """
    catalog = get_type_map().namespace_catalog
    held = getattr(catalog, "_NamespaceCatalog__namespaces", None)
    resolve = getattr(catalog, "_NamespaceCatalog__resolve_namespace_specs", None)
    if not isinstance(held, dict) or resolve is None:
        return
    broken = []
    for name in [n for n in held if n not in _OWN]:
        try:
            resolve(held[name])
        except ValueError:
            broken.append(name)
    if broken:
        raise ConfigError(
            f"pynwb's namespaces were left broken by a failed import of {', '.join(broken)} (for "
            "ndx-icephys-meta: nwbwidgets imported before ndx_encoding_subspace.widgets, which installs its "
            "compatibility shim): start a new Python session (restart the kernel) and import "
            "ndx_encoding_subspace.widgets first")


def _load(path: Path) -> None:
    try:
        load_namespaces(str(path))
    except ValueError:
        check_catalog()
        raise


_installed = Path(str(files(__name__.split(".")[0]))) / "spec" / _FILE
_load(_installed if _installed.exists() else Path(__file__).resolve().parents[3] / "spec" / _FILE)
del _installed

# Constructors are keyword-only.
_KW = {"allow_positional": AllowPositional.ERROR}
# The DynamicTable constructor arguments every table passes through.
_TABLE_ARGS = ("id", "columns", "colnames", "target_tables")
