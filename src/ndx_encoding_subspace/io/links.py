"""HDF5 external links whose file is missing (say so before the reader finds nothing), and
object references to objects no longer in the file (say which, where pynwb cannot read it)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import h5py

__all__ = ["dangling_links", "warn_dangling_links", "unlinked_reference"]

_SHOWN = 3


def dangling_links(h5: h5py.File, path: Path) -> dict[str, list[str]]:
    """External links of ``h5`` (the file at ``path``) whose target file is not there:
    missing file name -> link paths. HDF5 looks for a relative target from the current
    folder and from the linking file's folder; both are tried here."""
    out: dict[str, list[str]] = {}
    folder = path.resolve().parent
    prefix = os.environ.get("HDF5_EXT_PREFIX", "")

    def found(name: str) -> bool:
        target = Path(name)
        places = [target] if target.is_absolute() else [Path.cwd() / target, folder / target]
        places += [Path(p) / target.name for p in prefix.split(os.pathsep) if p]
        return any(p.exists() for p in places)

    def walk(group: h5py.Group, where: str) -> None:
        for key in group:
            link = group.get(key, getlink=True)
            inside = f"{where}/{key}"
            if isinstance(link, h5py.ExternalLink):
                if not found(link.filename):
                    out.setdefault(link.filename, []).append(inside.lstrip("/"))
            elif isinstance(link, h5py.HardLink):
                item = group.get(key)
                if isinstance(item, h5py.Group):
                    walk(item, inside)

    walk(h5, "")
    return out


def warn_dangling_links(h5: h5py.File, path: Path, label: str) -> None:
    """Warn, naming the missing files and the links into them (what they hold reads as absent)."""
    missing = dangling_links(h5, path)
    for filename, links in missing.items():
        more = f" and {len(links) - _SHOWN} more" if len(links) > _SHOWN else ""
        warnings.warn(
            f"{label}: {len(links)} external link(s) point into {filename!r}, which is not there "
            f"({', '.join(links[:_SHOWN])}{more}): what they hold cannot be read; put the file "
            "beside this one", UserWarning, stacklevel=3)


def unlinked_reference(h5: h5py.File) -> tuple[str, str] | None:
    """The first attribute of ``h5`` holding an object reference whose target is no longer
    linked into the file (deleted after writing, as an edit with h5py leaves it):
    ``(object path, attribute name)``, or None when every reference resolves to a path."""
    found: list[tuple[str, str]] = []

    def visit(name: str, obj: h5py.HLObject) -> bool | None:
        for key, value in obj.attrs.items():
            if isinstance(value, h5py.Reference) and value:
                try:
                    target = h5[value]
                except (KeyError, ValueError, OSError):
                    target = None
                if target is None or target.name is None:
                    found.append((f"/{name}", key))
                    return True
        return None

    h5.visititems(visit)
    return found[0] if found else None
