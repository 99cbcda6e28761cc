"""The one way this package writes a file: completely, or not at all.

Every output (results and recording NWB files, reports, checkpoints, cached stages) is
written to a temporary file in the target's folder, flushed and fsynced, renamed over
the target with :func:`os.replace`, and the folder is fsynced, so that neither a killed
process nor a power cut leaves a partly written file under the target's name. The
temporary file is removed when writing fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_path", "write_bytes", "write_text", "fsync_path"]


def fsync_path(path: str | os.PathLike, *, directory: bool = False) -> None:
    """Flush ``path`` (a file, or a folder's entries with ``directory=True``) to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some platforms cannot open folders
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary(path: Path) -> Path:
    # the target's suffix is kept last, so that writers keyed on it (.nwb) accept the name
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The writer inside the ``with`` block must have closed the file when the block ends.

    Examples
    --------
    >>> with atomic_path(out / "site.nwb") as tmp:  # doctest: +SKIP
    ...     with NWBHDF5IO(str(tmp), "w") as io:
    ...         io.write(nwbfile)
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent, directory=True)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically through ``write(handle)`` on a binary handle."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "xb") as handle:
        write(handle)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))
