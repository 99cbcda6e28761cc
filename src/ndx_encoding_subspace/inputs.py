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
from collections.abc import Iterator
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
    """An NWB file's name without its suffix: ``sub-1.nwb`` and ``sub-1.nwb.zarr`` are
    ``sub-1`` (``rec.h5`` is ``rec``: only a store loses two suffixes)."""
    name = Path(str(path).rstrip("/")).name
    if name.lower().endswith(".zarr") and len(name) > len(".zarr"):
        name = name[: -len(".zarr")]
        return name[: -len(".nwb")] if name.lower().endswith(".nwb") and len(name) > 4 else name
    return Path(name).stem or name


#: Hidden files that belong to a Zarr store (others, such as ``.DS_Store``, do not)
ZARR_METADATA = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata"})


def _walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """The folders of a store with the names of their files, following links to folders
    (as Zarr does) but never into a folder already seen."""
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        yield Path(folder), names


def store_files(path: str | Path) -> list[Path]:
    """Every file of a Zarr store (its metadata and chunks; other hidden files, such as
    ``.DS_Store``, left out), sorted by its path inside the store."""
    root = Path(path)
    found = [folder / name for folder, names in _walk(root) for name in names
             if not name.startswith(".") or name in ZARR_METADATA]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a local file's bytes (computed once per file, size and time)."""
    stat = os.stat(path)
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        try:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        except OSError as err:  # a read error names no file: this one
            raise type(err)(err.errno, f"{err.strerror or err} while reading", path) from err
    return digest.hexdigest()


def input_sha256(path: str | Path) -> str:
    """Hex SHA-256 of an NWB file, or of a Zarr store: its files' paths and digests, in order
    (computed once per store, size, time and number of files)."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    return _store_sha256(str(path.resolve()), *input_stat(path))


@functools.lru_cache(maxsize=256)
def _store_sha256(path: str, size: int, mtime_ns: int, n_files: int) -> str:
    root, digest = Path(path), hashlib.sha256()
    for file in store_files(root):
        digest.update(f"{file.relative_to(root).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def input_stat(path: str | Path) -> tuple[int, int, int]:
    """Size in bytes, latest modification (ns) and number of files of a file, or of every
    file of a store (a folder's time counts too: it changes when a file comes or goes)."""
    path = Path(path)
    if not path.is_dir():
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns, 1
    size, latest, count = 0, 0, 0
    for folder, _ in _walk(path):
        latest = max(latest, os.stat(folder).st_mtime_ns)
    for file in store_files(path):
        stat = os.stat(file)
        size, latest, count = size + stat.st_size, max(latest, stat.st_mtime_ns), count + 1
    return size, latest, count
