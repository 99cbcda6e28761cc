"""Where the sites of a dataset run: this process, a local pool, an existing cluster, SLURM.

The ``[cluster]`` configuration section (:class:`ClusterParams`, defined in
:mod:`.cluster_params` so that it imports without dask) chooses the engine; every engine
but ``serial`` is a dask.distributed cluster, reached through one
:class:`distributed.Client`::

    [cluster]
    kind = "slurm"          # serial | local | scheduler | slurm
    workers = 8             # SLURM jobs (one worker each)
    cores = 4               # CPUs per job; each site then runs on 4 threads
    memory = "16GB"
    walltime = "04:00:00"
    queue = "gpu"
    gpus_per_worker = 1     # adds --gres=gpu:1 and the dask resource GPU=1

Each worker runs one site at a time (one dask thread) and each site bounds its own CPU
threads with ``[compute] threads`` (:mod:`~ndx_encoding_subspace.compute`); when that is
0, :func:`site_threads` shares the worker's CPUs out. Workers with GPUs advertise the dask
resource ``GPU``; sites whose configuration asks for ``cuda`` are submitted with
``resources={"GPU": 1}`` (:func:`site_resources`), so that they only go to such workers.
On a local pool each worker sees only its own devices (``CUDA_VISIBLE_DEVICES``, set by
:class:`PinGPUs` before the first site); on SLURM the scheduler pins each job's devices.

The section says where a run happens, not what it computes: it is no part of a results
file's fingerprint and is not sent to the workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RemoteError, import_optional
from .cluster_params import ClusterParams
from .slurm import check_submission, no_dashboard, slurm_cluster

try:  # a plain base class when dask is not installed: the plugin is then never used
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - dask is part of the "distributed" extra
    _WorkerPlugin = object  # type: ignore[assignment,misc]

__all__ = ["ClusterParams", "PinGPUs", "open_client", "site_resources", "site_threads", "slurm_cluster"]


def site_resources(config: Any) -> dict[str, float]:
    """The dask resources each site of ``config`` (a PipelineConfig) needs.

    ``{"GPU": 1}`` when training or dSTRFs are asked to run on ``cuda``; nothing for
    ``cpu`` and ``auto`` (which takes a GPU where the worker has one).
    """
    devices = (config.training.device, config.dstrf.device)
    return {"GPU": 1} if any(str(d).startswith("cuda") for d in devices) else {}


def site_threads(cluster: ClusterParams, threads: int, n_workers: int) -> int:
    """CPU threads of each site: ``[compute] threads`` when set, else the worker's share.

    Parameters
    ----------
    cluster : ClusterParams
    threads : int
        ``[compute] threads`` (0: not set).
    n_workers : int
        Worker processes of a local pool.

    Returns
    -------
    int
        ``threads`` when positive; otherwise the CPUs of a SLURM job, this machine's
        cores shared among the local workers, or 0 (unchanged) on an existing cluster or
        in this process.
    """
    if threads > 0:
        return threads
    per_worker = max(1, cluster.threads_per_worker)
    if cluster.kind == "slurm":
        return max(1, cluster.cores // per_worker)
    if cluster.kind == "local":
        return max(1, (os.cpu_count() or 1) // max(1, n_workers * per_worker))
    return 0


def local_workers(cluster: ClusterParams, n_sites: int, threads: int) -> int:
    """Worker processes of a local pool: ``cluster.workers`` (else one per core), never
    more than the sites to run."""
    if cluster.workers:
        return max(1, min(cluster.workers, n_sites))
    return max(1, min(n_sites, (os.cpu_count() or 1) // max(1, threads)))


class PinGPUs(_WorkerPlugin):  # type: ignore[misc,valid-type]
    """Worker plugin giving each worker of a local pool its own GPUs.

    Worker ``i`` (workers of a ``LocalCluster`` are named 0, 1, ...) sees devices
    ``devices[i * per_worker : (i + 1) * per_worker]`` through ``CUDA_VISIBLE_DEVICES``,
    set when the worker registers, before it runs a site.

    Parameters
    ----------
    devices : sequence of str
        Device ids visible to this process (``CUDA_VISIBLE_DEVICES`` order).
    per_worker : int
        GPUs of each worker.
    """

    name = "ndx-encoding-subspace-gpus"

    def __init__(self, devices: Sequence[str], per_worker: int) -> None:
        self.devices = [str(d) for d in devices]
        self.per_worker = per_worker

    def devices_of(self, index: int) -> str:
        """``CUDA_VISIBLE_DEVICES`` of worker ``index``."""
        start = index * self.per_worker
        mine = self.devices[start : start + self.per_worker]
        if len(mine) < self.per_worker:
            raise ConfigError(f"worker {index} needs {self.per_worker} GPU(s) but only "
                              f"{len(self.devices)} are visible: {', '.join(self.devices) or 'none'}")
        return ",".join(mine)

    def setup(self, worker: Any) -> None:
        """Pin the worker (called by dask on each worker when it registers)."""
        os.environ["CUDA_VISIBLE_DEVICES"] = self.devices_of(int(worker.name))


def visible_gpus() -> list[str]:
    """Device ids this process may use: ``CUDA_VISIBLE_DEVICES``, else those torch counts."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with the "model" extra
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


@contextlib.contextmanager
def open_client(cluster: ClusterParams, *, n_sites: int, threads: int = 0) -> Iterator[Any]:
    """A dask client on the cluster ``cluster`` describes, closed (with what it started) on exit.

    Parameters
    ----------
    cluster : ClusterParams
        ``local``, ``scheduler`` or ``slurm`` (``serial`` needs no client).
    n_sites : int
        Sites to run: bounds the local workers and the SLURM jobs.
    threads : int
        CPU threads of each site (``[compute] threads``; 0: unset).

    Yields
    ------
    distributed.Client

    Raises
    ------
    MissingDependencyError
        dask.distributed (or dask-jobqueue for SLURM) is not installed.
    ConfigError
        ``serial``, or GPUs asked of a local pool where too few are visible.
    """
    dd = import_optional("distributed", "distributed", "running sites on a dask cluster")
    if cluster.kind == "serial":
        raise ConfigError("cluster.kind 'serial' runs in this process, without a dask client")
    if cluster.kind == "scheduler":
        client = _connect(dd, cluster)
        with client:
            yield client
        return
    if cluster.kind == "slurm":
        jobs = slurm_cluster(cluster, threads=threads)
        try:
            check_submission(jobs)
            with dd.Client(jobs) as client:
                n_jobs = max(1, min(cluster.workers or n_sites, n_sites))
                # adaptive at a fixed size: a job ended by its walltime, preemption or a node's failure is
                # submitted again (scale() would leave it gone, and the run without workers)
                jobs.adapt(minimum_jobs=n_jobs, maximum_jobs=n_jobs)
                yield client
        finally:
            with contextlib.suppress(AssertionError):  # distributed asserts on closing jobs SLURM refused
                jobs.close()
        return
    n_workers = local_workers(cluster, n_sites, threads)
    if n_workers > (os.cpu_count() or 1):
        warnings.warn(f"{n_workers} worker processes on {os.cpu_count()} CPU cores: each site runs slower "
                      "than with fewer workers", stacklevel=3)
    pin = None
    if cluster.gpus_per_worker:
        pin = PinGPUs(visible_gpus(), cluster.gpus_per_worker)
        pin.devices_of(n_workers - 1)  # enough devices for every worker, or ConfigError
    options: dict[str, Any] = {"n_workers": n_workers, "threads_per_worker": cluster.threads_per_worker,
                               "processes": True, "dashboard_address": cluster.dashboard or None,
                               "scheduler_kwargs": no_dashboard(cluster)}
    if cluster.gpus_per_worker:
        options["resources"] = {"GPU": cluster.gpus_per_worker}
    if cluster.local_directory:
        options["local_directory"] = cluster.local_directory
    with dd.LocalCluster(**options) as pool, dd.Client(pool) as client:
        if pin is not None:
            client.register_plugin(pin)
        yield client


def _connect(dd: Any, cluster: ClusterParams) -> Any:
    """A client of the running scheduler ``cluster`` names, or one line saying why not:
    a scheduler file that is missing or not one (dask would wait for it forever), an
    address that is not one, a scheduler that does not answer."""
    where = cluster.scheduler
    if cluster.scheduler_file:
        path = Path(cluster.scheduler_file)
        if not path.is_file():
            raise ConfigError(f"cluster.scheduler_file {path}: not found (a dask scheduler writes it when it "
                              "starts: start the scheduler first, or give its address)")
        try:
            where = json.loads(path.read_text())["address"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise ConfigError(f"cluster.scheduler_file {path}: not a dask scheduler file (JSON with an "
                              "'address')") from None
    try:
        _answers_as_dask(where)
        return dd.Client(where)
    except ValueError as err:
        raise ConfigError(f"cluster.scheduler {where!r}: not a scheduler address ({err}); e.g. "
                          "tcp://host:8786") from None
    except OSError as err:  # dask's connection timeouts are OSErrors
        raise RemoteError(f"dask scheduler at {where}: no answer ({err})") from None
    except (TypeError, NotImplementedError, ImportError) as err:  # tls:// without certificates, ucx://
        raise ConfigError(f"cluster.scheduler {where!r}: dask cannot connect to it from here ({err}); a "
                          "tls:// scheduler needs the certificates in dask's configuration "
                          "(distributed.comm.tls), ucx:// the UCX package of distributed") from None


#: seconds to wait for a scheduler's TCP connection, and then for its first message
_CONNECT_S = 10.0
#: a dask handshake is a few hundred bytes; a first frame announcing more is no dask message
_HANDSHAKE_MAX_BYTES = 1 << 20


def _answers_as_dask(where: str) -> None:
    """Check that a ``tcp://`` scheduler address answers as a dask scheduler does: it
    accepts the connection and at once sends its handshake, whose first 8 bytes give the
    (small) length of the message. Another server (HTTP, SSH) waits for a request, or sends
    text that dask would take for a length of exabytes; either is said in one line, not
    waited on for ever or failed on with a MemoryError. Other protocols are left to dask.

    Raises
    ------
    ValueError
        Not an address (dask's own parser says why).
    RemoteError
        The connection is refused or not answered, or the answer is not dask's.
    """
    import socket
    import struct

    from distributed.comm.addressing import parse_address, parse_host_port

    protocol, location = parse_address(where)
    if protocol != "tcp":
        return
    host, port = parse_host_port(location)
    try:
        sock = socket.create_connection((host, port), timeout=_CONNECT_S)
    except ConnectionRefusedError:
        raise RemoteError(f"dask scheduler at {where}: connection refused (is the scheduler running, "
                          "on that port?)") from None
    except OSError as err:  # a timeout too: nothing answered
        raise RemoteError(f"dask scheduler at {where}: no answer ({err or 'timed out'})") from None
    first: bytes | None = b""
    with sock:
        try:
            while len(first) < 8:
                part = sock.recv(8 - len(first))
                if not part:
                    break
                first += part
        except TimeoutError:
            first = first or None
        except OSError:
            pass
    if first is None or len(first) < 8 or struct.unpack("<Q", first)[0] > _HANDSHAKE_MAX_BYTES:
        said = ("accepted the connection but sent nothing" if not first else
                f"answered {first[:8]!r}, not as a dask scheduler does")
        raise RemoteError(f"{where}: not a dask scheduler (it {said} within {_CONNECT_S:g} s)")
