"""A site's work folder and lock beside its results file.

``OUT/.SITE.work`` holds the training checkpoints and the kept stages of a run until its
results file is written; its ``fingerprint`` stamp says which training parameters and data
they belong to. ``OUT/.SITE.lock`` keeps two runs from writing one site at once
(:func:`~ndx_encoding_subspace.atomic.held`).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..atomic import held, write_text
from ..errors import ConfigError
from ..results.files import file_stem

__all__ = ["work_folder", "site_lock", "prepared", "tidied"]

#: what :func:`~.run.config_fingerprint` writes: anything else in a stamp is damage
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")


def work_folder(out: Path, site: str) -> Path:
    """The work folder of ``site`` in the output folder ``out``."""
    return out / f".{file_stem(site)}.work"


def lock_path(out: Path, site: str) -> Path:
    """The lock file on ``site``'s results in the output folder ``out``."""
    return out / f".{file_stem(site)}.lock"


@contextlib.contextmanager
def site_lock(out: Path, site: str) -> Iterator[None]:
    """Hold the lock on ``site``'s results in ``out`` (:func:`~..atomic.held`)."""
    with held(lock_path(out, site), f"the results of site {site!r}"):
        yield


def prepared(workdir: Path, trained: str, accepted: Sequence[str]) -> int:
    """Make ``workdir`` ready for a run whose training fingerprint is ``trained``: the
    checkpoints of other training parameters or data are removed (they cannot be resumed);
    a stamp that is no fingerprint at all (damaged) is written again and the checkpoints
    kept, each checked against its own fit when read. Returns how many were there."""
    stamp = workdir / "fingerprint"
    if workdir.exists() and stamp.exists():
        text = stamp.read_text(errors="replace").strip()
        if text not in (trained, *accepted) and _FINGERPRINT.fullmatch(text):
            warnings.warn(f"{workdir}: the checkpoints of an unfinished run with other training parameters "
                          "or data are removed; training starts again", stacklevel=3)
            shutil.rmtree(workdir)
        elif text not in (trained, *accepted):
            warnings.warn(f"{stamp}: damaged (not a fingerprint); written again, and the checkpoints kept "
                          "(each is checked against its own fit when read)", stacklevel=3)
    workdir.mkdir(parents=True, exist_ok=True)
    found = sum(1 for _ in workdir.rglob("*.pt"))
    write_text(stamp, trained)
    return found


def tidied(out: Path, site: str, accepted: Sequence[str]) -> None:
    """Remove the work folder and lock that a run killed after writing ``site``'s finished
    results file left: a lock of a run that is gone, beside a work folder stamped with the
    results' own training fingerprint (one of ``accepted``). A folder kept on purpose (no
    lock) or of another run (another stamp), and a live run's, are left alone."""
    workdir, lock = work_folder(out, site), out / f".{file_stem(site)}.lock"
    stamp = workdir / "fingerprint"
    try:
        ours = lock.exists() and stamp.read_text(errors="replace").strip() in accepted
    except OSError:
        return
    if ours:
        with contextlib.suppress(ConfigError), site_lock(out, site):
            shutil.rmtree(workdir, ignore_errors=True)
