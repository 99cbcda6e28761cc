"""Results of one site in NWB: plain containers, the atomic writer and the loader.

* :class:`SiteResults` and its parts -- what the pipeline fills in;
* :func:`write_results` -- a new standalone NWB file per site (docs/results-layout.md);
* :func:`load_results` -- models rebuilt from architecture documents and arrays only,
  subspaces, SSRFs, scores and provenance as arrays and small dataclasses;
* :mod:`.roles` -- the model roles (``ln``, ``cnn``, ``subspace_nonlinearity``), their
  collections, labels and order.

The names below are imported on first use, so that ``results.roles`` (which the
viewers use) does not load the writer, the loader or torch.
"""

from __future__ import annotations

from typing import Any

from ..errors import import_public

#: public name -> submodule that defines it
_HOMES = {
    "MODULE": "convert",
    "SUFFIX": "files",
    "file_stem": "files",
    "results_path": "files",
    "site_name": "files",
    "ROLE_CONTAINERS": "roles",
    "ROLES": "roles",
    "ModelRole": "roles",
    "container_of_role": "roles",
    "find_role": "roles",
    "role_label": "roles",
    "ModelResult": "bundle",
    "UnitSubspace": "bundle",
    "UnitNonlinearity": "bundle",
    "SiteAnalysis": "bundle",
    "SiteResults": "bundle",
    "write_results": "writer",
    "build_nwbfile": "writer",
    "package_versions": "writer",
    "load_results": "loader",
    "LoadedResults": "loader",
    "LoadedEnsemble": "loader",
    "SpectrogramData": "spectrogram_data",
    "NewerResultsWarning": "versions",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = import_public(__name__, home, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
