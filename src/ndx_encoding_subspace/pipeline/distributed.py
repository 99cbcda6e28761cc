"""Many sites at once: what one site's task does on a worker, and what it reports.

Each site is independent (``run_site`` is a function of its input and configuration
that writes one file), so sites map onto workers with no shared state.
:func:`run_site_task` is the task a worker runs for one site: it never raises for the
site's own failures but returns a :class:`SiteStatus` (plain data: no pickled models or
exceptions cross the wire), so one failing site does not stop the others.
:func:`~.dataset.run_dataset` is the dataset runner built on it; :func:`run_sites` is the
plain map of earlier releases (results paths, first failure raised).

CPU threads: each site runs inside :func:`~.compute.thread_limits` with
``threads_per_site`` threads (or the configuration's ``[compute] threads``). Thread
counts belong to a whole process, so give each site its own process: for ``W`` sites at
once on a machine of ``C`` cores, start ``W`` worker processes with one thread each
(``LocalCluster(n_workers=W, threads_per_worker=1)``) and pass
``threads_per_site=C // W``. :func:`~.dataset.run_dataset` does so by itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import EncodingSubspaceError, Stopped, one_line_warning
from .config import PipelineConfig

__all__ = ["SiteStatus", "describe_error", "run_site_task", "run_sites", "task_warnings"]

#: exit code of a site that failed with an operating-system error (as the command line's)
EXIT_OS_ERROR = 7
#: states of a site: not started, on a worker, finished, found finished, failed
STATES = ("pending", "running", "done", "skipped", "failed")


@dataclasses.dataclass
class SiteStatus:
    """The state of one site of a dataset run (one entry of ``summary/sites.json``).

    Attributes
    ----------
    site, source : str
        Site name and what is read (see :class:`~.sources.SiteSource`).
    status : str
        ``pending``, ``running``, ``done``, ``skipped`` (its results file was complete
        already), ``failed`` or ``interrupted`` (the run was stopped while it ran).
    error_type, error : str
        Exception class and message of a failure.
    exit_code : int
        0, or the command line's exit code of the failure's class (:mod:`~..errors`; 1 for
        an unexpected error or a lost worker, 7 for an operating-system error).
    seconds : float or None
        Time the site took on its worker.
    device : str
        Torch device of the site (``cpu``, ``cuda (GPU 1)``).
    worker : str
        The worker's address, or ``this process``.
    results : str
        Path of the results file.
    key : str
        Fingerprint of the source and of every parameter that changes results: a rerun
        skips a finished site of the same key whose results file exists.
    config_key : str
        Fingerprint of the parameters alone (and of the population's sites): a rerun whose
        parameters differ would replace the site's results (:func:`~.record.check_stale`).
    made : str
        The fingerprint the site's results file held when a run of the record finished it:
        the record speaks of that file only while it holds the same (a run of the site
        alone may replace it).
    made_with : str
        The ``config_key`` of the run that made that file.
    traceback : str
        Traceback of an unexpected error (empty for the package's own errors).
    """

    site: str
    source: str
    status: str = "pending"
    error_type: str = ""
    error: str = ""
    exit_code: int = 0
    seconds: float | None = None
    device: str = ""
    worker: str = ""
    results: str = ""
    key: str = ""
    config_key: str = ""
    made: str = ""
    made_with: str = ""
    traceback: str = ""

    @property
    def finished(self) -> bool:
        """Done, skipped or failed."""
        return self.status in ("done", "skipped", "failed")

    def line(self) -> str:
        """One line for a log: the site, its state, and where, how long or why."""
        text = f"{self.site}: {self.status}"
        if self.status == "running":
            return f"{text} on {self.worker}" if self.worker else text
        if self.status == "failed":
            return f"{text} ({self.error_type}: {self.error})"
        if self.status == "done" and self.seconds is not None:
            return f"{text} in {self.seconds:.1f} s on {self.device or '?'} ({self.worker})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible fields."""
        return dataclasses.asdict(self)


def describe_error(err: BaseException) -> dict[str, Any]:
    """``error_type``, ``error``, ``exit_code`` and ``traceback`` of a site's failure.

    The package's errors (:class:`~..errors.EncodingSubspaceError`) carry their exit
    code and a message naming the file; other exceptions keep their traceback.
    """
    if isinstance(err, EncodingSubspaceError):
        code, trace = err.exit_code, ""
    else:
        code = EXIT_OS_ERROR if isinstance(err, OSError) else 1
        trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    message = str(err).strip() or repr(err)
    return {"error_type": type(err).__name__, "error": message, "exit_code": code, "traceback": trace}


def _where() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"this process ({socket.gethostname()}:{os.getpid()})"


def _device(config: PipelineConfig) -> str:
    try:
        from ..fitting.training_params import resolve_device

        name = str(resolve_device(config.training.device))
    except Exception as err:  # the run reports it; the record keeps the setting
        return f"{config.training.device} ({type(err).__name__})"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"{name} (GPU {visible})" if name.startswith("cuda") and visible else name


def _announce(topic: str, status: SiteStatus) -> None:
    # tells the client that the site started (dask events), when running on a worker
    if not topic:
        return
    try:
        from distributed import get_worker

        get_worker().log_event(topic, {"site": status.site, "worker": status.worker})
    except (ImportError, ValueError):
        pass


def task_warnings() -> None:
    """In a worker's task thread, warnings print as the command line's do, one line each."""
    if threading.current_thread() is not threading.main_thread():
        warnings.showwarning = one_line_warning


#: how often (seconds) a site on a worker asks whether its run was interrupted
STOP_POLL_S = 2.0


def stop_check(name: str) -> Callable[[], bool] | None:
    """Whether the dask Event ``name`` is set (the client that submitted the site was
    interrupted), asked of the scheduler at most every :data:`STOP_POLL_S` seconds; None
    without a name. A scheduler that does not answer is not taken for a stop."""
    if not name:
        return None
    from distributed import Event

    event, asked, said = Event(name), [float("-inf")], [False]

    def stop() -> bool:
        if not said[0] and time.monotonic() - asked[0] >= STOP_POLL_S:
            asked[0] = time.monotonic()
            with contextlib.suppress(Exception):
                said[0] = bool(event.is_set())
        return said[0]

    return stop


def stop_progress(stop: Callable[[], bool] | None) -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` that raises :class:`~..errors.Stopped` once
    ``stop()`` says so (nothing else: no bars)."""
    def progress(stage: str, done: int, total: int) -> None:
        if stop is not None and stop():
            raise Stopped(f"asked to stop while {stage.split(' (')[0]} ran")

    return progress


def run_site_task(site: str, source: str, out: str, config: dict[str, Any], key: str = "",
                  topic: str = "", population: dict[str, Any] | None = None,
                  overwrite: bool = False, stop_event: str = "") -> SiteStatus:
    """Run one site and report how it went; the site's own failures are not raised.

    Parameters
    ----------
    site, source : str
        Site name and input (a local path, a DANDI identifier of one asset, or a URL).
    out : str
        Output folder.
    config : dict
        :meth:`PipelineConfig.to_dict` of the run (plain data: sent to a worker).
    key : str
        Fingerprint kept in the record (see :class:`SiteStatus`).
    topic : str
        dask event topic on which the start of the site is announced (empty: none).
    population : dict, optional
        The population the site is part of (see :func:`~.run.run_site`).
    overwrite : bool
        Replace a results file made from other inputs or parameters (see :func:`~.run.run_site`).
    stop_event : str
        Name of the dask Event that the client sets when it is interrupted: the site then
        stops as Ctrl-C stops a run (:func:`stop_check`; empty: not asked).

    Returns
    -------
    SiteStatus
        ``done``, ``skipped`` (the results file was complete already), ``failed``, or
        ``interrupted`` (asked to stop: a rerun finishes it from its checkpoints).
    """
    from .run import run_site

    task_warnings()
    status = SiteStatus(site, source, status="running", worker=_where(), key=key)
    _announce(topic, status)
    start = time.perf_counter()
    try:
        parsed = PipelineConfig.from_dict(config)
        status.device = _device(parsed)
        result = run_site(source, Path(out), parsed, progress=False, population=population,
                          overwrite=overwrite, stop=stop_check(stop_event))
    except Stopped:
        status.status = "interrupted"
    except Exception as err:  # a failing site is reported, and the others go on
        status.status = "failed"
        for name, value in describe_error(err).items():
            setattr(status, name, value)
    else:
        from .record import stored_fingerprint

        status.status = "skipped" if result.resumed else "done"
        status.results = str(result.path)
        status.made = stored_fingerprint(result.path) or ""
    status.seconds = round(time.perf_counter() - start, 3)
    return status


def _run_one(source: str, out: str, config: dict[str, Any]) -> str:
    # Runs on a worker: only plain data crosses the wire (no pickled models).
    from .run import run_site

    result = run_site(source, Path(out), PipelineConfig.from_dict(config), progress=False)
    return str(result.path)


def run_sites(
    sources: Sequence[str | Path],
    out: str | Path,
    config: PipelineConfig | None = None,
    *,
    client: Any = None,
    threads_per_site: int | None = None,
) -> list[Path]:
    """Run the pipeline on every site, on a dask cluster when ``client`` is given.

    The plain map of earlier releases: the first failure is raised. For whole datasets
    (inputs expanded, failures recorded per site, reruns, progress) use
    :func:`~.dataset.run_dataset`.

    Parameters
    ----------
    sources : sequence of str or Path
        One input per site (local NWB paths, DANDI identifiers or asset URLs).
    out : str or Path
        Output folder shared by every site (each writes its own results file).
    config : PipelineConfig, optional
        Parameters of every stage (defaults: the paper's).
    client : dask.distributed.Client, optional
        Cluster to run on; sites run sequentially in this process when omitted.
    threads_per_site : int, optional
        CPU threads of each site's run (torch intra-op, BLAS, OpenMP); replaces
        ``config.compute.threads`` when given. 0 leaves the counts as they are. With a
        client, give each worker one thread (see the module notes) so that the limits
        of concurrent sites do not overlap. Thread counts do not change results, nor
        the fingerprint used for resuming.

    Returns
    -------
    list of Path
        The results file of each site, in the order of ``sources``.

    Raises
    ------
    ConfigError
        ``threads_per_site`` is negative or not an integer.
    """
    config = PipelineConfig.of(config)
    if threads_per_site is not None:
        config = config.replace(compute={"threads": threads_per_site})
    config_dict = config.to_dict()
    args = [(str(s), str(out), config_dict) for s in sources]
    if client is None:
        return [Path(_run_one(*a)) for a in args]
    futures = [client.submit(_run_one, *a, pure=False) for a in args]
    return [Path(p) for p in client.gather(futures)]
