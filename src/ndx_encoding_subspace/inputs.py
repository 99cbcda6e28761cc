"""What a local input is, byte for byte: digests and sizes of NWB files and Zarr stores.

An NWB file is one HDF5 file or one Zarr store (a folder, ``site.nwb.zarr``). Both are
identified by their content (:func:`input_sha256`) and checked for changes by their size
and latest modification (:func:`input_stat`), so that a rerun knows whether an input
changed. Digests are computed once per file, size and modification time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

__all__ = ["file_sha256", "input_sha256", "input_stat", "is_nwb_store", "is_zarr_store", "nwb_stem",
           "store_files"]

#: Files at a Zarr store's root that mark it as one (Zarr format 2, then format 3)
_ZARR_MARKERS = (".zgroup", "zarr.json")


def is_zarr_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a Zarr store (``.zgroup`` or ``zarr.json`` at its root)."""
    path = Path(path)
    return path.is_dir() and any((path / marker).is_file() for marker in _ZARR_MARKERS)


def is_nwb_store(path: str | Path) -> bool:
    """Whether ``path`` is a Zarr store that holds an NWB file: named ``*.nwb.zarr``, or
    with an NWBFile at its root (as its ``.zattrs`` say)."""
    path = Path(path)
    if not is_zarr_store(path):
        return False
    if path.name.lower().endswith(".nwb.zarr"):
        return True
    try:
        return json.loads((path / ".zattrs").read_text()).get("neurodata_type") == "NWBFile"
    except (OSError, ValueError, AttributeError):
        return False


def nwb_stem(path: str | Path) -> str:
    """An NWB file's name without its suffixes: ``sub-1.nwb`` and ``sub-1.nwb.zarr`` are
    ``sub-1``."""
    name = Path(str(path).rstrip("/")).name
    for suffix in (".zarr", ".nwb"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def store_files(path: str | Path) -> list[Path]:
    """Every file of a Zarr store, sorted by its path inside the store."""
    root = Path(path)
    found = []
    for folder, _, names in os.walk(root):
        found.extend(Path(folder) / name for name in names)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a local file's bytes (computed once per file, size and time)."""
    stat = os.stat(path)
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def input_sha256(path: str | Path) -> str:
    """Hex SHA-256 of an NWB file, or of a Zarr store: its files' paths and digests, in order."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in store_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def input_stat(path: str | Path) -> tuple[int, int]:
    """Size in bytes and latest modification (ns) of a file, or of every file of a store."""
    path = Path(path)
    if not path.is_dir():
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns
    size, latest = 0, 0
    for folder, _, names in os.walk(path):  # a folder's time changes when a file comes or goes
        latest = max(latest, os.stat(folder).st_mtime_ns)
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            size, latest = size + stat.st_size, max(latest, stat.st_mtime_ns)
    return size, latest
