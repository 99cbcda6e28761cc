"""Exceptions raised for user errors, with the command line's exit code for each.

Every message names the file (or URL) and the object concerned, so that the command
line can print it as one line without a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

__all__ = [
    "EncodingSubspaceError",
    "ConfigError",
    "InputError",
    "NotNWBError",
    "NoUnitsError",
    "NoSoundStimulusError",
    "AmbiguousInputError",
    "InvalidDataError",
    "RemoteError",
    "TrainingError",
    "ResultsError",
    "MissingDependencyError",
    "SitesFailedError",
    "import_optional",
    "os_cause",
    "cause_of",
    "Terminated",
    "terminate_as_interrupt",
    "one_line_warning",
]


class EncodingSubspaceError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code: int = 1


class ConfigError(EncodingSubspaceError, ValueError):
    """An unknown option, or an option with a value out of its range."""

    exit_code = 2


class InputError(EncodingSubspaceError):
    """The input file or dataset cannot be used as it is."""

    exit_code = 3


class NotNWBError(InputError):
    """The file is missing, truncated, not HDF5, or HDF5 but not NWB."""


class NoUnitsError(InputError):
    """The file has no Units table, or its units have no spikes."""


class NoSoundStimulusError(InputError):
    """The file holds no sound waveform that the reader could use."""


class AmbiguousInputError(InputError):
    """Several objects match where one was needed; the message lists them."""


class InvalidDataError(InputError):
    """Values that cannot be right: NaN/inf, missing rates, times outside the recording."""


class RemoteError(InputError):
    """DANDI or HTTP access failed (after retries), or the asset is not usable."""

    exit_code = 4


class TrainingError(EncodingSubspaceError):
    """Training cannot go on (for example a NaN loss); the message names the epoch."""

    exit_code = 5


class ResultsError(EncodingSubspaceError):
    """A results file is missing parts, or holds something that cannot be loaded safely."""

    exit_code = 6


class MissingDependencyError(EncodingSubspaceError, ImportError):
    """An optional package that this step needs is not installed; the message names the
    package extra to install."""

    exit_code = 8


class SitesFailedError(EncodingSubspaceError):
    """Some sites of a dataset failed while others finished; each failure is recorded in
    ``OUT/summary/sites.json`` with its own error and exit code."""

    exit_code = 9


def import_optional(module: str, extra: str, purpose: str) -> Any:
    """Import ``module``, or raise :class:`MissingDependencyError` with the install command.

    Only the absence of ``module`` itself is reported so; a failure inside it propagates.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            raise MissingDependencyError(
                f"{purpose} needs {module}, which is not installed: "
                f"pip install 'ndx-encoding-subspace[{extra}]'"
            ) from err
        raise


def one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                     file: Any = None, line: str | None = None) -> None:
    """A :data:`warnings.showwarning` that prints a warning as one line, as errors are
    printed (no source file, line or code)."""
    print(f"encoding-subspace: warning: {message}", file=sys.stderr if file is None else file)


class Terminated(KeyboardInterrupt):
    """SIGTERM, ended as Ctrl-C is: what runs records itself interrupted and cleans up."""


class Stopped(KeyboardInterrupt):
    """A run asked to stop from elsewhere (a multi-site run interrupted while its site ran
    on a cluster's worker), ended as Ctrl-C is: its checkpoints kept, its lock released."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated` (in the main thread only; the
    previous handler is restored on exit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(_signum: int, _frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM are held back, and the first one that came is
    handled as it would have been when the block ends.

    For work that must not be interrupted half way, such as ``torch.save``: its C++
    writer calls back into Python, and an exception raised there by a signal handler
    leaves the writer unfinished, to fail later in its destructor (aborting the process)
    or to replace the interrupt by a ``RuntimeError``. Only the main thread receives
    signals; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[tuple[int, Any]] = []

    def hold(signum: int, frame: Any) -> None:
        held.append((signum, frame))

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is not None and handler != signal.SIG_IGN:  # None: not set from Python
            previous[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signum, frame = held[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            else:  # SIG_DFL: the process ends as the signal ends it
                signal.raise_signal(signum)


E = TypeVar("E", bound=BaseException)


def cause_of(err: BaseException | None, kind: type[E]) -> E | None:
    """``err`` when it is of type ``kind``, else the first such exception that caused it
    (None when none did)."""
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, kind):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def os_cause(err: BaseException | None) -> OSError | None:
    """``err`` when it is an OSError, else the OSError that caused it (None when none did)."""
    return cause_of(err, OSError)


#: optional packages, by the name they import as, and the extra that installs them
EXTRAS = {"torch": "model", "scipy": "model", "tqdm": "model", "yaml": "model",
          "threadpoolctl": "model", "dandi": "dandi", "remfile": "dandi", "requests": "dandi",
          "urllib3": "dandi", "hdmf_zarr": "zarr",
          "spikeinterface": "ephys", "matplotlib": "viz", "nwbwidgets": "viz", "ipywidgets": "viz",
          "dask": "distributed", "distributed": "distributed", "dask_jobqueue": "distributed"}


def missing_extra(err: BaseException | None) -> tuple[str, str] | None:
    """(package, extra) when ``err``, or what caused it, is an optional package not installed."""
    missing = cause_of(err, ModuleNotFoundError)
    if missing is None or not missing.name:
        return None
    top = missing.name.split(".")[0]
    return (top, EXTRAS[top]) if top in EXTRAS else None


def import_public(package: str, module: str, name: str) -> Any:
    """``name`` from ``package.module``, imported on first use by a lazy package; an optional
    package missing on the way is a :class:`MissingDependencyError` naming its extra."""
    try:
        return getattr(importlib.import_module(f"{package}.{module}"), name)
    except ModuleNotFoundError as err:
        extra = missing_extra(err)
        if extra is None:
            raise
        raise MissingDependencyError(f"{package}.{name} needs {extra[0]}, which is not installed: "
                                     f"pip install 'ndx-encoding-subspace[{extra[1]}]'") from err

