"""The one way this package writes a file: completely, or not at all.

Every output (results and recording NWB files, reports, checkpoints, cached stages) is
written to a temporary file in the target's folder, flushed and fsynced, renamed over
the target with :func:`os.replace`, and the folder is fsynced, so that neither a killed
process nor a power cut leaves a partly written file under the target's name. The
temporary file is removed when writing fails; one left by a killed process (its name
holds the host and process id of its writer) is removed by the next write of the same
target on that host once that process is gone. Locks (:func:`held`) keep two runs from
writing one target at once; a held lock is touched periodically, so that one left by a run
killed on another host is known by its age.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import signals_deferred

__all__ = ["atomic_path", "writable_target", "write_bytes", "write_text", "write_torch", "fsync_path",
           "remove_stale", "held", "LOCK_HEARTBEAT_S", "LOCK_STALE_S"]


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


def _host_key(name: str) -> str:
    """A host name fit for file names: each run of other characters than letters and digits
    one ``_``; a name longer than 40 characters shortened and followed by a hash of the
    whole (the pods of a cluster share long prefixes)."""
    plain = re.sub(r"[^A-Za-z0-9]+", "_", name)
    if 0 < len(plain) <= 40:
        return plain
    return f"{plain[:31] or 'host'}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


_HOST = _host_key(socket.gethostname())


#: the longest file name most file systems take, bytes
_NAME_MAX = 255


def _temporary_stem(path: Path) -> str:
    """The target's stem as its temporary files' names hold it: where a long name would pass
    the file systems' limit with what they add, shortened and followed by a hash of the whole."""
    room = _NAME_MAX - len(f"..{_HOST}-{2**22}-{'0' * 8}.tmp{path.suffix}".encode())  # pids up to 7 digits
    if len(path.stem.encode()) <= room:
        return path.stem
    cut = path.stem.encode()[:max(room - 9, 1)].decode(errors="ignore")
    return f"{cut}~{hashlib.sha256(path.stem.encode()).hexdigest()[:8]}"


def _temporary(path: Path) -> Path:
    # the target's suffix is kept last, so that writers keyed on it (.nwb) accept the name
    return path.with_name(f".{_temporary_stem(path)}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
                          f"{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def remove_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of ``path`` left by killed writers on this host."""
    path = Path(path)
    stem, suffix = re.escape(_temporary_stem(path)), re.escape(path.suffix)
    pattern = re.compile(rf"^\.{stem}\.{_HOST}-(\d+)-[0-9a-f]{{8}}\.tmp{suffix}$")
    removed = []
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            found = pattern.match(entry.name)
            if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed


def writable_target(path: str | os.PathLike) -> Path:
    """Where a file at ``path`` is written (the file a symbolic link names): nothing there
    yet, or a regular file, replaced. A folder, device, FIFO or socket there is refused
    (OSError naming it), before anything is computed to write there.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # the link stays; the file it names is replaced
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder where the file goes: nothing is written over it "
                                "(move it away, or choose another output folder)", str(path))
    if path.exists() and not path.is_file():
        raise OSError(errno.EEXIST, "not a regular file (a device, FIFO or socket): nothing is written "
                      "over it", str(path))
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    A symbolic link is followed (its target is replaced, the link kept); a folder, device,
    FIFO or socket at ``path`` is refused (OSError, :func:`writable_target`), never replaced.

    The writer inside the ``with`` block must have closed the file when the block ends.

    Examples
    --------
    >>> with atomic_path(out / "site.nwb") as tmp:  # doctest: +SKIP
    ...     with NWBHDF5IO(str(tmp), "w") as io:
    ...         io.write(nwbfile)
    """
    path = writable_target(path)
    remove_stale(path)
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
    """Write ``path`` atomically through ``write(handle)`` on a binary handle; a failure
    to write (a full disk, a quota) names ``path``."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp, open(tmp, "xb") as handle:
            write(handle)
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from err
    return path


def write_torch(path: str | os.PathLike, blob: Any) -> Path:
    """Write ``torch.save(blob)`` to ``path`` atomically.

    The blob is serialized in memory with Ctrl-C and SIGTERM held back until it is done
    (:func:`~ndx_encoding_subspace.errors.signals_deferred`), then written as bytes; an
    interrupt while writing the bytes leaves no file, as for :func:`write_bytes`.
    """
    import torch

    buffer = io.BytesIO()
    with signals_deferred():
        torch.save(blob, buffer)
    return write_bytes(path, lambda handle: handle.write(buffer.getbuffer()))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))


#: seconds between the touches of a held lock (its heartbeat)
LOCK_HEARTBEAT_S = 30.0
#: a lock untouched this long (by the folder's own clock) was left by a run that died,
#: on any host: it is taken over
LOCK_STALE_S = 600.0
#: an empty lock untouched this long was left by a writer that died before writing it
_EMPTY_STALE_S = 60.0
#: the last word of a lock that is touched while held (earlier releases' locks are not)
_BEATS = "hb"


def _folder_now(folder: Path) -> float:
    """The time by the clock that stamps files in ``folder`` (a shared file system's
    server may keep another time than this host)."""
    probe = folder / f".clock.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        probe.touch()
        return probe.stat().st_mtime
    except OSError:
        return time.time()
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _started(pid: int) -> float | None:
    """When process ``pid`` of this host started (s since the epoch); None where unknown."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None


def _stale(lock: Path, holder: list[str]) -> bool:
    """Whether ``lock`` was left by a run that died: a process of this host that is gone (or
    whose id another process took since: it started after the lock was last touched), or a
    lock that says it beats (``host pid hb``) untouched for :data:`LOCK_STALE_S` (a run
    killed on another host). Locks of earlier releases beat not: another host's is kept."""
    if len(holder) >= 2 and holder[0] == _HOST and holder[1].isdigit():
        pid = int(holder[1])
        if not _alive(pid):
            return True
        started = _started(pid)
        try:  # the lock's time by this host's clock
            touched = lock.stat().st_mtime + time.time() - _folder_now(lock.parent)
        except OSError:
            return False
        return started is not None and started > touched + 2.0
    if not holder:  # empty: its writer died (or the disk was full) between creating and writing it
        try:
            return _folder_now(lock.parent) - lock.stat().st_mtime > _EMPTY_STALE_S
        except OSError:
            return False
    if len(holder) != 3 or holder[2] != _BEATS:
        return False
    try:
        return _folder_now(lock.parent) - lock.stat().st_mtime > LOCK_STALE_S
    except OSError:
        return False


def lock_let_go(lock: str | os.PathLike) -> bool:
    """Whether ``lock`` is free: absent, or left by a run that died (what :func:`held`
    takes over)."""
    lock = Path(lock)
    try:
        holder = lock.read_text(errors="replace").split()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return bool(holder) and _stale(lock, holder)


def _take_over(lock: Path, holder: list[str]) -> bool:
    """Remove the stale ``lock``, one process at a time (``<lock>.takeover``, created
    exclusively, itself stale after a minute), when it still names ``holder`` and is still
    stale; False when another process takes it over or it came back to life."""
    guard = lock.with_name(f"{lock.name}.takeover")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if _folder_now(lock.parent) - guard.stat().st_mtime > 60.0:
                guard.unlink()  # left by a process killed while taking over
        return False
    try:
        try:
            current = lock.read_text(errors="replace").split()
        except FileNotFoundError:
            return True
        if current != holder or not _stale(lock, current):
            return False
        lock.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            guard.unlink()


def _heartbeat(lock: Path, owner: str, stop: threading.Event) -> None:
    while not stop.wait(LOCK_HEARTBEAT_S):
        with contextlib.suppress(OSError):
            if lock.read_text(errors="replace") == owner:
                os.utime(lock)


@contextlib.contextmanager
def held(lock: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold the file ``lock`` (naming this host and process) for the block, so that two
    runs never write ``what`` at once. The lock is touched every :data:`LOCK_HEARTBEAT_S`
    while held; the lock of a process that died on this host, or one untouched for
    :data:`LOCK_STALE_S` (a run killed on another host), is taken over.

    Raises
    ------
    ConfigError
        Another live process holds it.
    """
    from .errors import ConfigError

    lock = Path(lock)
    owner = f"{_HOST} {os.getpid()} {_BEATS}"
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = lock.read_text(errors="replace").split()
            except FileNotFoundError:  # released meanwhile
                holder = []
            if attempt == 0 and not holder and not _stale(lock, holder):
                time.sleep(0.2)  # being written by its holder
                continue
            if attempt == 0 and _stale(lock, holder) and _take_over(lock, holder):
                continue
            said = f"process {holder[1]} on host {holder[0]}" if len(holder) >= 2 else "another process"
            raise ConfigError(f"{lock.parent}: another run ({said}) is writing {what} there; wait for it to "
                              f"finish or choose another output folder (a run that died leaves {lock}, taken "
                              f"over after {LOCK_STALE_S / 60:g} minutes without its heartbeat; remove it "
                              "if no run is going on)") from None
        try:
            os.write(fd, owner.encode())
            os.fsync(fd)
        except OSError as err:  # a full disk, a quota: no empty lock left to refuse every later run
            os.close(fd)
            with contextlib.suppress(OSError):
                lock.unlink()
            raise OSError(err.errno, err.strerror, str(lock)) from err
        os.close(fd)
        break
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lock, owner, stop), daemon=True, name="lock-heartbeat")
    beat.start()
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            if lock.read_text(errors="replace") == owner:
                lock.unlink()
