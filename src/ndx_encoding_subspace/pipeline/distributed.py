"""Many sites at once: the one-site pipeline mapped over inputs with dask.distributed.

Each site is independent (``run_site`` is a function of its input and configuration
that writes one file), so sites map onto workers with no shared state. Without a
client, sites run one after another in this process.

CPU threads: each site runs inside :func:`~.compute.thread_limits` with
``threads_per_site`` threads (or the configuration's ``[compute] threads``). Thread
counts belong to a whole process, so give each site its own process: for ``W`` sites at
once on a machine of ``C`` cores, start ``W`` worker processes with one thread each
(``LocalCluster(n_workers=W, threads_per_worker=1)``) and pass
``threads_per_site=C // W``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import PipelineConfig

__all__ = ["run_sites"]


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
    config = config or PipelineConfig()
    if threads_per_site is not None:
        config = config.replace(compute={"threads": threads_per_site})
    config_dict = config.to_dict()
    args = [(str(s), str(out), config_dict) for s in sources]
    if client is None:
        return [Path(_run_one(*a)) for a in args]
    futures = [client.submit(_run_one, *a, pure=False) for a in args]
    return [Path(p) for p in client.gather(futures)]
