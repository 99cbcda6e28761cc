"""Make nwbwidgets 0.11.3 import and work with pynwb >= 4.

nwbwidgets 0.11.3 imports ``ndx_icephys_meta``, an extension whose types were merged
into the NWB core schema (pynwb 2.0). Loading the old extension's namespace on top of
the core one fails ("Cannot resolve included group spec 'intracellular_recordings'"),
so ``import nwbwidgets`` raises. The only name nwbwidgets takes from it is
``SweepSequences``, which the core schema calls ``SequentialRecordingsTable``.

:func:`import_nwbwidgets` registers a small stand-in module under the old name that
maps ``SweepSequences`` to the core class, then imports nwbwidgets. The real
``ndx_icephys_meta`` is never imported, so no namespace is loaded twice.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ...errors import MissingDependencyError, import_optional

__all__ = ["import_nwbwidgets", "install_icephys_shim"]

_SHIM_FLAG = "__ndx_encoding_subspace_shim__"


def install_icephys_shim() -> None:
    """Register ``ndx_icephys_meta`` (and ``.icephys``) as aliases of pynwb's core types.

    Does nothing when nwbwidgets' import of it would already work (a stand-in is
    registered, or an importable ``ndx_icephys_meta`` is already loaded).
    """
    existing = sys.modules.get("ndx_icephys_meta")
    if existing is not None:
        return
    from pynwb import icephys

    package = types.ModuleType("ndx_icephys_meta")
    package.__doc__ = "Stand-in for the obsolete ndx-icephys-meta (merged into NWB core)."
    package.__path__ = []  # a package, so that 'ndx_icephys_meta.icephys' resolves
    setattr(package, _SHIM_FLAG, True)
    module = types.ModuleType("ndx_icephys_meta.icephys")
    module.SweepSequences = icephys.SequentialRecordingsTable
    module.SequentialRecordingsTable = icephys.SequentialRecordingsTable
    module.IntracellularRecordingsTable = icephys.IntracellularRecordingsTable
    module.SimultaneousRecordingsTable = icephys.SimultaneousRecordingsTable
    module.RepetitionsTable = icephys.RepetitionsTable
    module.ExperimentalConditionsTable = icephys.ExperimentalConditionsTable
    setattr(module, _SHIM_FLAG, True)
    package.icephys = module
    sys.modules["ndx_icephys_meta"] = package
    sys.modules["ndx_icephys_meta.icephys"] = module


def import_nwbwidgets() -> Any:
    """Import and return the ``nwbwidgets`` module, with the compatibility shim in place.

    Raises
    ------
    MissingDependencyError
        When nwbwidgets (the ``viz`` extra) is not installed, with the install command
        (an :class:`ImportError`).
    """
    from ...extension._namespace import check_catalog

    check_catalog()  # broken by an import of nwbwidgets without the shim: said in one line
    install_icephys_shim()
    try:
        return import_optional("nwbwidgets", "viz", "viewing results in nwbwidgets")
    except AttributeError as err:  # nwbwidgets 0.11.3 names zarr 2's zarr.core.Array
        if "zarr" not in str(err):
            raise
        import zarr

        raise MissingDependencyError(
            f"nwbwidgets needs zarr 2, and zarr {zarr.__version__} is installed ({err}): "
            "pip install 'zarr<3' (the viz extra holds it)") from None
