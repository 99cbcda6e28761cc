"""Parameters of where the sites of a dataset run: the ``[cluster]`` section.

Only the standard library is imported here (the command line builds its flags from the
parameters); the engines they choose are in :mod:`.cluster`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..errors import ConfigError
from ..params import Params, check_choice, check_range

__all__ = ["ClusterParams", "KINDS"]

KINDS = ("serial", "local", "scheduler", "slurm")


def _field(default: Any, text: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": text})


#: a dashboard address: an optional host name, IPv4 or bracketed IPv6 address, and a port
_ADDRESS = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])?:[0-9]{1,5}")
#: an amount of memory as dask reads it: a number and a unit (16GB, 4000 MB, 1.5GiB, 8G)
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]i?b?|b)\s*", re.IGNORECASE)
#: a SLURM time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, UNLIMITED or INFINITE
_WALLTIME = re.compile(r"\d+(?::\d{1,2}){0,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|unlimited|infinite", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class ClusterParams(Params):
    """Where the sites of a dataset run (no effect on results).

    Parameters
    ----------
    kind : str
        ``local`` (default): a pool of worker processes on this machine; ``serial``: one
        site after another in this process; ``scheduler``: an existing dask cluster
        (``scheduler`` or ``scheduler_file``); ``slurm``: SLURM jobs through dask-jobqueue.
    workers : int
        ``local``: worker processes (0: one per CPU core, at most one per site);
        ``slurm``: jobs, one worker each (0: one per site).
    threads_per_worker : int
        Sites one worker runs at once (1: each site has its worker's CPUs to itself).
    scheduler, scheduler_file : str
        Address (``tcp://host:8786``) or scheduler file of an existing cluster.
    queue, account : str
        SLURM partition and account (empty: the site's defaults).
    cores : int
        CPUs of each SLURM job (``--cpus-per-task``).
    memory : str
        Memory of each SLURM job (``16GB``).
    walltime : str
        Time limit of each SLURM job (``HH:MM:SS``).
    job_extra_directives : tuple of str
        Further ``#SBATCH`` options, e.g. ``("--constraint=a100",)``.
    job_script_prologue : tuple of str
        Shell lines run before each SLURM worker starts (``module load cuda``).
    gpus_per_worker : int
        GPUs of each worker: the dask resource ``GPU``; on SLURM also ``--gres=gpu:N``
        unless ``job_extra_directives`` has a ``--gres`` already.
    local_directory : str
        Scratch folder of the workers (empty: dask's default).
    dashboard : str
        Address of the dask dashboard of a local or SLURM cluster (``:8787``; empty: none).
    """

    kind: str = _field("local", "serial, local, scheduler or slurm")
    workers: int = _field(0, "worker processes or SLURM jobs (0: one per core or per site)")
    threads_per_worker: int = _field(1, "sites each worker runs at once")
    scheduler: str = _field("", "address of an existing dask scheduler (tcp://host:8786)")
    scheduler_file: str = _field("", "scheduler file of an existing dask cluster")
    queue: str = _field("", "SLURM partition")
    account: str = _field("", "SLURM account")
    cores: int = _field(1, "CPUs of each SLURM job")
    memory: str = _field("4GB", "memory of each SLURM job")
    walltime: str = _field("01:00:00", "time limit of each SLURM job")
    job_extra_directives: tuple[str, ...] = _field((), "further #SBATCH options")
    job_script_prologue: tuple[str, ...] = _field((), "shell lines run before each SLURM worker")
    gpus_per_worker: int = _field(0, "GPUs of each worker (dask resource GPU)")
    local_directory: str = _field("", "scratch folder of the workers")
    dashboard: str = _field("", "dask dashboard address (empty: none)")

    def validate(self) -> None:
        check_choice("cluster.kind", self.kind, KINDS)
        for name, low in (("workers", 0), ("threads_per_worker", 1), ("cores", 1), ("gpus_per_worker", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"cluster.{name} must be a whole number, got {value!r}")
            check_range(f"cluster.{name}", value, low)
        if self.kind == "scheduler" and not (self.scheduler or self.scheduler_file):
            raise ConfigError("cluster.kind 'scheduler' needs cluster.scheduler (tcp://host:8786) "
                              "or cluster.scheduler_file")
        if self.kind == "scheduler" and self.workers:
            raise ConfigError(f"cluster.workers = {self.workers} starts worker processes or SLURM jobs; a "
                              "running scheduler (cluster.kind 'scheduler') has workers of its own: set "
                              "cluster.workers = 0 (--cluster.workers 0)")
        if self.scheduler and self.scheduler_file:
            raise ConfigError("give cluster.scheduler or cluster.scheduler_file, not both")
        if not isinstance(self.dashboard, str) or (self.dashboard and not _ADDRESS.fullmatch(self.dashboard)):
            raise ConfigError(f"cluster.dashboard must be an address as host:port or :port (e.g. :8787), "
                              f"got {self.dashboard!r}")
        memory = _MEMORY.fullmatch(self.memory) if isinstance(self.memory, str) else None
        if memory is None or float(memory.group(1)) <= 0:
            raise ConfigError(f"cluster.memory must be an amount of memory with its unit, as 16GB, 4000MB or "
                              f"1.5GiB, got {self.memory!r}")
        if not isinstance(self.walltime, str) or not _WALLTIME.fullmatch(self.walltime.strip()):
            raise ConfigError(f"cluster.walltime must be a SLURM time limit as HH:MM:SS, D-HH:MM:SS or "
                              f"minutes, got {self.walltime!r}")
        port = self.dashboard.rpartition(":")[2]
        if self.dashboard and not 0 <= int(port) <= 65535:
            raise ConfigError(f"cluster.dashboard: port {port} is not 0 to 65535")
