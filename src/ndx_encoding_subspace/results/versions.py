"""Which version of the extension wrote a results file, against the version read here.

A results file caches the namespace it was written with (``specifications/<namespace>/
<version>``). A file written by a newer version of the extension is read with the
installed spec: what the newer version added is not read. :func:`warn_if_newer` says so
once per file, naming it, so that a result that looks incomplete is not taken for a
complete one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
from packaging.version import InvalidVersion, Version
from pynwb import get_type_map

from ..extension._namespace import NAMESPACE

__all__ = ["NewerResultsWarning", "installed_version", "written_versions", "warn_if_newer"]


class NewerResultsWarning(UserWarning):
    """The results file was written by a newer version of the extension than the one
    installed: objects added since are not read."""


def installed_version() -> str:
    """The version of the extension's namespace that this installation reads."""
    return str(get_type_map().namespace_catalog.get_namespace(NAMESPACE)["version"])


def written_versions(path: str | Path) -> list[str]:
    """The versions of the extension's namespace cached in the file (none when not cached)."""
    with h5py.File(path, "r") as f:
        group = f.get(f"specifications/{NAMESPACE}")
        return sorted(group.keys()) if isinstance(group, h5py.Group) else []


def _parsed(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def warn_if_newer(path: str | Path) -> str | None:
    """Warn (:class:`NewerResultsWarning`) when ``path`` was written by a newer version of
    the extension than the installed one; return that version, else None."""
    ours = Version(installed_version())
    newer = [v for v in written_versions(path) if (parsed := _parsed(v)) is not None and parsed > ours]
    if not newer:
        return None
    version = max(newer, key=Version)
    warnings.warn(NewerResultsWarning(
        f"{path}: written with version {version} of the {NAMESPACE} extension; this installation "
        f"reads {ours}, so what was added since is not read (pip install -U ndx-encoding-subspace)"),
        stacklevel=3)
    return version
