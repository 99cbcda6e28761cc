"""Results of one site in NWB: plain containers, the atomic writer and the loader.

* :class:`SiteResults` and its parts -- what the pipeline fills in;
* :func:`write_results` -- a new standalone NWB file per site (docs/results-layout.md);
* :func:`load_results` -- models rebuilt from architecture documents and arrays only,
  subspaces, SSRFs, scores and provenance as arrays and small dataclasses.
"""

from .bundle import (
    ROLE_CONTAINERS,
    ModelResult,
    SiteAnalysis,
    SiteResults,
    UnitNonlinearity,
    UnitSubspace,
    container_of_role,
)
from .convert import MODULE
from .loader import LoadedEnsemble, LoadedResults, SpectrogramData, load_results
from .writer import build_nwbfile, package_versions, write_results

__all__ = [
    "MODULE",
    "ROLE_CONTAINERS",
    "ModelResult",
    "UnitSubspace",
    "UnitNonlinearity",
    "SiteAnalysis",
    "SiteResults",
    "container_of_role",
    "write_results",
    "build_nwbfile",
    "package_versions",
    "load_results",
    "LoadedResults",
    "LoadedEnsemble",
    "SpectrogramData",
]
