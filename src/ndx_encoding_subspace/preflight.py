"""Checks of the paths a command is given, light enough to run before anything heavy loads.

The readers, the results loader and the dataset summary raise these same errors; the
command line calls them first, so that a mistyped path is answered at once instead of
after torch, pynwb and scipy have loaded.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import NotNWBError, ResultsError
from .inputs import is_zarr_store

__all__ = ["is_remote", "local_nwb", "output_folder", "results_file", "results_folder"]


def is_remote(source: str) -> bool:
    """Whether ``source`` names a DANDI identifier or an http(s) URL."""
    return str(source).strip().lower().startswith(("dandi:", "http://", "https://"))


def local_nwb(path: str | Path, label: str | None = None) -> Path:
    """``path`` as a local NWB file (a file, or a Zarr store); :class:`NotNWBError` when it
    is missing or another folder."""
    path = Path(path)
    label = label or str(path)
    if not path.exists():
        raise NotNWBError(f"{label}: file not found")
    if not path.is_file() and not is_zarr_store(path):
        if not path.is_dir():
            raise NotNWBError(f"{label}: not a regular file (a pipe, socket or device); give the NWB "
                              "file itself")
        raise NotNWBError(f"{label}: a folder, not an NWB file (an NWB file in Zarr is a folder "
                          "holding a .zgroup file)")
    return path


def results_file(path: str | Path) -> Path:
    """``path`` as an existing file; :class:`ResultsError` otherwise."""
    path = Path(path)
    if is_zarr_store(path):
        raise ResultsError(f"{path}: an NWB file stored as Zarr; results files are read as HDF5 (export it "
                           "with pynwb's NWBHDF5IO.export to a .nwb file)")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.results.nwb"))[:3]
        hint = f" (it holds {', '.join(inside)}{' ...' if len(inside) == 3 else ''})" if inside else ""
        raise ResultsError(f"{path}: a folder, not a results file{hint}; give one results file, or "
                           "run 'encoding-subspace summarize' on the folder for the report of all its sites")
    if path.exists() and not path.is_file():
        raise ResultsError(f"{path}: not a regular file (a pipe, socket or device); give the results file "
                           "itself")
    if not path.is_file():
        raise ResultsError(f"{path}: results file not found")
    return path


def results_folder(out: str | Path) -> Path:
    """``out`` as an existing folder; :class:`ResultsError` otherwise (as a missing results file)."""
    out = Path(out)
    if not out.is_dir():
        what = "a file, not a folder of results files" if out.exists() else "not a folder of results files"
        raise ResultsError(f"{out}: {what}")
    return out


def output_folder(out: str | Path) -> Path:
    """``out``, where results can be written: a folder, or a path that can become one (no
    file in its place or in that of a folder above it), that this process can write in;
    else :class:`FileExistsError` (a file at ``out``), :class:`NotADirectoryError` or
    :class:`PermissionError` (a read-only folder or file system), before any input is read."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(errno.EEXIST, "a file where a folder is needed", str(out))
    for part in (out, *out.parents):
        if part.exists():
            if not part.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "a file where a folder is needed", str(part))
            if not os.access(part, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "a folder this process cannot write in (a read-only "
                                      "folder or file system): choose another output folder", str(part))
            break
    return out
