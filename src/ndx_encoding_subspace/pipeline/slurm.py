"""SLURM clusters for dataset runs: dask-jobqueue's ``SLURMCluster`` of ``[cluster]``, the
job script checked by ``sbatch --test-only`` before any submission, and refusals noted
(dask-jobqueue only logs them) so that a run with no worker left ends in one line."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RemoteError, import_optional
from .cluster_params import ClusterParams

__all__ = ["slurm_cluster", "check_submission", "no_dashboard"]


def no_dashboard(cluster: ClusterParams) -> dict[str, Any]:
    """Scheduler options: the dashboard at ``cluster.dashboard``, or none, the scheduler's
    HTTP server (health checks) on a free port rather than dask's default 8787."""
    return {"dashboard": bool(cluster.dashboard), "dashboard_address": cluster.dashboard or ":0"}


def slurm_cluster(cluster: ClusterParams, *, threads: int = 0) -> Any:
    """The dask-jobqueue ``SLURMCluster`` of ``cluster`` (no job submitted until scaled).

    Each job holds one worker process with ``threads_per_worker`` dask threads, books
    ``cores`` CPUs, and advertises ``GPU=gpus_per_worker``. Inspect the batch script with
    ``slurm_cluster(params).job_script()``.

    Parameters
    ----------
    cluster : ClusterParams
    threads : int
        ``[compute] threads`` of the sites; when larger than ``cores`` it is an error.

    Raises
    ------
    MissingDependencyError
        dask-jobqueue is not installed.
    ConfigError
        ``threads`` exceeds the job's CPUs.
    """
    jobqueue = _jobqueue()
    if threads > cluster.cores:
        raise ConfigError(f"[compute] threads = {threads} exceeds the {cluster.cores} CPUs of each "
                          "SLURM job (cluster.cores)")
    directives = list(cluster.job_extra_directives)
    worker_args: list[str] = []
    if cluster.gpus_per_worker:
        if not any(d.startswith("--gres") for d in directives):
            directives.append(f"--gres=gpu:{cluster.gpus_per_worker}")
        worker_args = ["--resources", f"GPU={cluster.gpus_per_worker}"]
    options: dict[str, Any] = {
        "cores": cluster.threads_per_worker, "processes": 1, "job_cpu": cluster.cores,
        "memory": cluster.memory, "walltime": cluster.walltime,
        "job_extra_directives": directives, "job_script_prologue": list(cluster.job_script_prologue),
        "worker_extra_args": worker_args,
        "scheduler_options": no_dashboard(cluster),
    }
    for name in ("queue", "account", "local_directory"):
        if getattr(cluster, name):
            options[name] = getattr(cluster, name)
    refusals: list[tuple[float, str]] = []
    jobs = jobqueue.SLURMCluster(job_cls=_noted_job(jobqueue.SLURMCluster.job_cls, refusals), **options)
    jobs.refusals = refusals  # (time, why) of each job sbatch refused: a run with no worker left ends
    return jobs


def _noted_job(job_cls: type, refusals: list[tuple[float, str]]) -> type:
    """``job_cls`` whose refused submissions are noted in ``refusals``: dask-jobqueue only
    logs them, and a run would wait for workers that never come. The run says a refusal in
    one line; tornado's log of it, with its traceback, is left out."""
    _REFUSED_LOG.install()

    class NotedJob(job_cls):  # type: ignore[misc,valid-type]
        async def start(self) -> None:
            try:
                await super().start()
            except Exception as err:
                refusals.append((time.monotonic(), " ".join(str(err).split())[:300]))
                err.noted_refusal = True  # its log left out (the run says it in one line)
                raise

    return NotedJob


class _RefusedLog(logging.Filter):
    """Drops the log records of the job submissions noted as refused."""

    def install(self) -> None:
        logger = logging.getLogger("tornado.application")
        if self not in logger.filters:
            logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        return not getattr(err, "noted_refusal", False)


_REFUSED_LOG = _RefusedLog()


#: seconds ``sbatch --test-only`` may take
_SBATCH_TEST_S = 60.0


def check_submission(jobs: Any) -> None:
    """Check that SLURM would accept the jobs of ``jobs`` (a SLURMCluster) before any is
    submitted: ``sbatch`` is on the PATH and ``sbatch --test-only`` accepts the job script.
    dask-jobqueue submits in the background and only logs a refusal, so that a run would
    wait for workers for ever.

    Raises
    ------
    ConfigError
        No ``sbatch`` here, or SLURM refuses the script (its message said).
    """
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ConfigError("cluster.kind = 'slurm': sbatch is not on the PATH (SLURM jobs are submitted from "
                          "a machine of the cluster, such as its login node); elsewhere use cluster.kind "
                          "'local', or 'scheduler' with the address of a running dask scheduler")
    with tempfile.TemporaryDirectory(prefix="encoding-subspace-") as folder:
        script = Path(folder) / "job.sh"
        script.write_text(jobs.job_script())
        try:
            done = subprocess.run([sbatch, "--test-only", str(script)], capture_output=True, text=True,
                                  timeout=_SBATCH_TEST_S, check=False)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"cluster.kind = 'slurm': sbatch --test-only gave no answer within "
                              f"{_SBATCH_TEST_S:g} s (is the SLURM controller up?)") from None
        except OSError as err:
            raise ConfigError(f"cluster.kind = 'slurm': cannot run {sbatch}: {err}") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout or "").split())[:300] or f"exit status {done.returncode}"
        raise ConfigError(f"cluster.kind = 'slurm': SLURM refuses the job script ({said}); check "
                          "cluster.queue, cluster.account, cluster.cores, cluster.memory, cluster.walltime "
                          "and cluster.job_extra_directives (the script: slurm_cluster(params).job_script())")


def _jobqueue() -> Any:
    """dask-jobqueue, imported without the Ctrl-C handler its ``runner`` module installs
    (``sys.exit()``: a run interrupted on a cluster would end with exit code 0)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    jobqueue = import_optional("dask_jobqueue", "distributed", "running sites on SLURM")
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
    return jobqueue
