"""CPU threads and device memory of one run.

Threads: torch's intra-op threads and the BLAS / OpenMP thread pools.

On a shared machine, or with several sites per machine, threaded libraries that each
start one thread per core wait on busy cores instead of computing. :func:`thread_limits`
bounds them for the duration of a ``with`` block and restores the previous counts on
exit, so nothing leaks out of a run::

    with thread_limits(2):
        ...  # torch, numpy and scipy use at most 2 threads here

The BLAS and OpenMP pools are limited through ``threadpoolctl`` when it is installed;
without it only torch is limited.

Subnormal numbers: :func:`flushed_subnormals` reads and writes float values below the
smallest normal one (1.2e-38 in float32) as zero on the CPU. Training the CNN produces
such values after some epochs (in weights and optimiser state of units that stop
learning), and CPUs compute with them tens of times slower: on a small simulated site
the epochs of one thread became five times slower half-way through training. Training
and every run of the pipeline flush them; what that changes is below 1e-38.

Memory: :func:`items_per_batch` is the one rule for how many like-sized pieces of work
(members of a batched fit, windows of a dSTRF chunk) are computed at once: as many as
fit in a share of the memory free on the device (:func:`available_memory`). On the CPU,
work whose tensors outgrow the last-level cache (:func:`cache_bytes`) runs from main
memory and slower per item: batched training keeps a group's working set within it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError
from .params import Params

__all__ = ["ComputeParams", "available_memory", "cache_bytes", "flushed_subnormals", "full_float32",
           "items_per_batch",
           "thread_limits", "usable_cpus"]

#: Share of the free memory that batched work may plan to fill: the rest is left for the
#: allocator's slack, estimates that run short, and other processes on the machine.
MEMORY_SHARE = {"cuda": 0.8, "cpu": 0.5}


def _check_threads(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number of threads (0: unchanged), got {value!r}")
    if value < 0:
        raise ConfigError(f"{name} must be 0 (unchanged) or a positive number of threads, got {value!r}")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class ComputeParams(Params):
    """How many CPU threads a run may use (no effect on results).

    Parameters
    ----------
    threads : int
        0 (default): leave torch's and the BLAS / OpenMP libraries' thread counts as
        they are. ``n >= 1``: torch intra-op, BLAS and OpenMP use ``n`` threads during
        the run; the previous counts are restored afterwards.
    """

    threads: int = dataclasses.field(
        default=0,
        metadata={"help": "CPU threads for torch and BLAS/OpenMP during the run; 0 leaves them as they are"},
    )

    def validate(self) -> None:
        _check_threads("ComputeParams.threads", self.threads)


@contextlib.contextmanager
def thread_limits(threads: int) -> Iterator[None]:
    """Limit torch, BLAS and OpenMP to ``threads`` threads inside a ``with`` block.

    Parameters
    ----------
    threads : int
        0: change nothing. ``n >= 1``: ``torch.set_num_threads(n)`` and, when
        ``threadpoolctl`` is importable, ``threadpool_limits(n)`` on every BLAS and
        OpenMP library loaded in the process. More threads than the process may use
        CPUs (:func:`usable_cpus`) are cut to that number, with a warning.

    Yields
    ------
    None

    Raises
    ------
    ConfigError
        ``threads`` is negative or not an integer.

    Notes
    -----
    The previous torch thread count and pool sizes are restored on exit, also when the
    block raises. Thread counts belong to the whole process: limits set from several
    threads of one process at once interfere, so run concurrent sites in separate
    processes (for example dask workers with one thread each).
    """
    _check_threads("threads", threads)
    if threads == 0:
        yield
        return
    cpus = usable_cpus()
    if threads > cpus:  # more threads than CPUs only wait on each other (and may exhaust BLAS)
        warnings.warn(f"compute.threads {threads} is more than the {cpus} CPU(s) this process may use; "
                      f"using {cpus}", stacklevel=3)
        threads = cpus
    import torch

    previous = torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        torch.set_num_threads(threads)
        stack.callback(torch.set_num_threads, previous)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # torch only
            pass
        else:
            _load_pools()  # a pool loaded inside the block would keep its own count
            stack.enter_context(threadpool_limits(limits=threads))
        yield


def _load_pools() -> None:
    """Load the thread pools a run uses, so that a limit set now covers them:
    threadpoolctl limits the libraries loaded when it is called, and scipy brings its own
    OpenBLAS, loaded with ``scipy.linalg`` (which the pipeline imports only as it runs)."""
    with contextlib.suppress(ImportError):
        import scipy.linalg  # noqa: F401


def _flushing() -> bool:
    """Whether subnormal floats are read as zero on the CPU now (no getter exists)."""
    import torch

    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0)


@contextlib.contextmanager
def flushed_subnormals() -> Iterator[None]:
    """Subnormal floats read and written as zero by CPU arithmetic inside the block.

    ``torch.set_flush_denormal(True)`` (where the CPU supports it), and the previous
    setting restored on exit, also when the block raises. Also usable as a decorator.
    The setting belongs to the process, like thread counts (see :func:`thread_limits`).
    """
    import torch

    before = _flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@contextlib.contextmanager
def full_float32(device: object = "cuda") -> Iterator[None]:
    """float32 matrix products and convolutions at full precision inside the block.

    On recent NVIDIA GPUs torch may run float32 convolutions (by default) and matrix
    products (when asked) on TF32 tensor cores, which keep 10 bits of mantissa: a
    relative error near 1e-3, too coarse for gradients that must match a reference to
    1e-5. For a CUDA ``device`` the block asks for IEEE float32 and restores the
    previous settings on exit; for any other device it changes nothing.
    """
    import torch

    if torch.device(device).type != "cuda":
        yield
        return
    backends = torch.backends
    if hasattr(backends.cudnn, "conv") and hasattr(backends.cuda.matmul, "fp32_precision"):
        # the per-backend settings: reading the older switches fails once these are used
        places = [(backends.cuda.matmul, "fp32_precision", "ieee"),
                  (backends.cudnn.conv, "fp32_precision", "ieee")]
    else:
        places = [(backends.cuda.matmul, "allow_tf32", False),
                  (backends.cudnn, "allow_tf32", False)]
    saved = [getattr(obj, name) for obj, name, _ in places]
    try:
        for obj, name, value in places:
            setattr(obj, name, value)
        yield
    finally:
        for (obj, name, _), value in zip(places, saved):
            setattr(obj, name, value)


def available_memory(device: object = "cpu") -> int:
    """Bytes free for new tensors on ``device``.

    CUDA: the free memory of the device (``torch.cuda.mem_get_info``). CPU: the memory
    the system could give without swapping (``psutil`` when installed, else
    ``MemAvailable`` of ``/proc/meminfo``); 4 GiB when neither says.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    return host_memory()


#: Last-level cache assumed where the system does not say (bytes).
DEFAULT_CACHE_BYTES = 32 * 1024**2


def cache_bytes() -> int:
    """Bytes of the CPU's largest cache (Linux's ``/sys/devices/system/cpu/cpu0/cache``),
    :data:`DEFAULT_CACHE_BYTES` when the system does not say."""
    sizes = []
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = entry.read_text().strip()
            sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
        except (OSError, ValueError, IndexError):
            continue
    return max(sizes) if sizes else DEFAULT_CACHE_BYTES


def host_memory() -> int:
    """Bytes the system could give without swapping (``psutil`` when installed, else
    ``MemAvailable`` of ``/proc/meminfo``); 4 GiB when neither says."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 * 1024**3


def items_per_batch(per_item_bytes: int, *, device: object = "cpu", fixed_bytes: int = 0,
                    limit: int | None = None) -> int:
    """How many items of ``per_item_bytes`` each to compute at once on ``device``.

    Parameters
    ----------
    per_item_bytes : int
        Estimated peak memory of one item (its tensors and working memory).
    device : str or torch.device
    fixed_bytes : int
        Memory the work needs whatever the number of items (shared data).
    limit : int, optional
        At most this many (the number of items there are, or a cap asked for).

    Returns
    -------
    int
        ``floor((share * available_memory(device) - fixed_bytes) / per_item_bytes)``,
        with the share of :data:`MEMORY_SHARE`; at least 1, at most ``limit``.
    """
    import torch

    kind = torch.device(device).type
    budget = MEMORY_SHARE.get(kind, MEMORY_SHARE["cuda"]) * available_memory(device) - fixed_bytes
    count = max(1, int(budget // max(1, int(per_item_bytes))))
    return count if limit is None else max(1, min(count, int(limit)))
