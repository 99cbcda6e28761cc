"""Many sites at once: the one-site pipeline mapped over inputs with dask.distributed.

Each site is independent (``run_site`` is a function of its input and configuration
that writes one file), so sites map onto workers with no shared state. Without a
client, sites run one after another in this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import PipelineConfig

__all__ = ["run_sites"]


def _run_one(source: str, out: str, config: dict[str, Any]) -> str:
    # Runs on a worker: only plain data crosses the wire (no pickled models).
    from .pipeline import run_site

    result = run_site(source, Path(out), PipelineConfig.from_dict(config), progress=False)
    return str(result.path)


def run_sites(
    sources: Sequence[str | Path],
    out: str | Path,
    config: PipelineConfig | None = None,
    *,
    client: Any = None,
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

    Returns
    -------
    list of Path
        The results file of each site, in the order of ``sources``.
    """
    config_dict = (config or PipelineConfig()).to_dict()
    args = [(str(s), str(out), config_dict) for s in sources]
    if client is None:
        return [Path(_run_one(*a)) for a in args]
    futures = [client.submit(_run_one, *a, pure=False) for a in args]
    return [Path(p) for p in client.gather(futures)]
