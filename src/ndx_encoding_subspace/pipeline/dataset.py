"""Whole datasets: many sites in one call, on a worker pool or an existing cluster.

:func:`run_dataset` expands the inputs into sites (:func:`~.sources.expand_inputs`),
runs each site's :func:`~.run.run_site` where ``[cluster]`` says (:mod:`.cluster`: this
process, a local pool of worker processes, an existing dask cluster, SLURM jobs), and
keeps a record of every site's state in ``OUT/summary/sites.json``, rewritten
atomically at each change (the dataset summary turns it into ``summary/sites.csv``)::

    result = run_dataset(["data/", "DANDI:000123/sub-1/*.nwb"], "out", config)
    print(result.format())
    raise SystemExit(result.exit_code)

Failures stay local: a site that fails (unusable input, training failure, lost worker)
is recorded with its error and exit code, and the others go on. A rerun into the same
folder skips the sites the record lists as finished with the same inputs and parameters
(their results files present) and runs the others; ``run_site`` itself resumes from
checkpoints, and keeps a complete results file.

Exit code (:attr:`DatasetResult.exit_code`): 0 when every site is done or skipped;
:class:`~..errors.SitesFailedError`'s 9 when some sites failed and others finished; the
exit code of the first failed site's error when every site failed (2 configuration,
3 input, 4 remote, 5 training, 1 unexpected or lost worker, ...).
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import ConfigError, SitesFailedError
from .cluster import ClusterParams, local_workers, open_client, site_resources, site_threads
from .config import PipelineConfig
from .distributed import SiteStatus, describe_error, run_site_task
from .population import POPULATIONS, fit_population_task
from .run import config_fingerprint, results_path
from .sources import SiteSource, expand_inputs

__all__ = ["DatasetResult", "run_dataset", "RECORD"]

#: the record of a run, relative to the output folder
RECORD = Path("summary") / "sites.json"

SiteCallback = Callable[[SiteStatus], None]


@dataclasses.dataclass
class DatasetResult:
    """What :func:`run_dataset` did.

    Attributes
    ----------
    sites : list of SiteStatus
        Every site, in the order of the inputs.
    out : Path
        Output folder.
    record : Path
        ``OUT/summary/sites.json``: ``{"started", "updated", "counts", "sites": [...]}``
        with every field of :class:`~.distributed.SiteStatus` per site (and
        ``"population"`` when one population served every site).
    population : dict
        With ``population='dataset'``: status, units, sites, seconds and the models file
        of the population; empty otherwise.
    """

    sites: list[SiteStatus]
    out: Path
    record: Path
    population: dict[str, Any] = dataclasses.field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Sites per state."""
        out = dict.fromkeys(("done", "skipped", "failed", "running", "pending"), 0)
        for s in self.sites:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    @property
    def failed(self) -> list[SiteStatus]:
        """The sites that failed."""
        return [s for s in self.sites if s.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every site finished; else see the module notes."""
        failed = self.failed
        if not failed and all(s.status in ("done", "skipped") for s in self.sites):
            return 0
        if failed and len(failed) == len(self.sites):
            return failed[0].exit_code or 1
        return SitesFailedError.exit_code

    def format(self) -> str:
        """A short text summary: counts, then one line per failed site."""
        counts = ", ".join(f"{n} {state}" for state, n in self.counts().items() if n)
        lines = [f"{len(self.sites)} sites: {counts}; record: {self.record}"]
        pop = self.population
        if pop.get("status") == "done":
            how = f"fitted in {pop['seconds']:.0f} s" if pop.get("fitted") else "found fitted"
            lines.append(f"one population: {pop['units']} units of {len(pop['sites'])} sites, {how}")
        lines += [f"  {s.line()}" for s in self.failed]
        return "\n".join(lines)


class _Tracker:
    """The states of the sites: callback, progress bar and record at each change."""

    def __init__(self, sites: list[SiteStatus], out: Path, on_site: SiteCallback | None,
                 progress: bool, started: str) -> None:
        self.sites = {s.site: s for s in sites}
        self.order = sites
        self.out = out
        self.on_site = on_site
        self.started = started
        self.population: dict[str, Any] = {}
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(sites), unit="site", desc="sites", file=sys.stderr,
                            initial=sum(s.finished for s in sites))
        self.write()

    def update(self, status: SiteStatus) -> None:
        """Replace the state of ``status.site``; tell the callback, the bar and the record."""
        before = self.sites[status.site]
        if before.finished and status.status == "running":
            return  # a late start event of a finished site
        index = self.order.index(before)
        self.order[index] = self.sites[status.site] = status
        if self.bar is not None:
            if status.finished and not before.finished:
                self.bar.update(1)
            counts = DatasetResult(self.order, self.out, self.out / RECORD).counts()
            self.bar.set_postfix(done=counts["done"] + counts["skipped"], failed=counts["failed"],
                                 running=counts["running"], refresh=True)
        if self.on_site is not None:
            self.on_site(status)
        self.write()

    def say(self, line: str) -> None:
        """A line on stderr about the whole run (above the bar when there is one)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.on_site is not None:
            print(line, file=sys.stderr, flush=True)

    def write(self) -> None:
        """Rewrite ``summary/sites.json`` atomically."""
        (self.out / RECORD.parent).mkdir(parents=True, exist_ok=True)
        body = {"started": self.started, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "counts": DatasetResult(self.order, self.out, self.out / RECORD).counts(),
                "sites": [s.to_dict() for s in self.order]}
        if self.population:
            body["population"] = self.population
        write_text(self.out / RECORD, json.dumps(body, indent=1) + "\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _previous(out: Path) -> dict[str, dict[str, Any]]:
    path = out / RECORD
    try:
        body = json.loads(path.read_text())
        return {str(s["site"]): s for s in body.get("sites", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no record (first run) or an unreadable one: every site runs


def _source_identity(item: SiteSource) -> dict[str, Any]:
    identity: dict[str, Any] = {"source": item.source}
    if item.is_local:
        stat = os.stat(item.source)
        identity.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    return identity


def _initial(items: Sequence[SiteSource], out: Path, config: PipelineConfig,
             population: str = "site") -> list[SiteStatus]:
    before = _previous(out)
    together = [_source_identity(i) for i in items] if population == "dataset" else None
    from ..io.sound_files import folder_identity

    sounds = folder_identity(config.reader.sound_folder) if config.reader.sound_folder else None
    sites = []
    for item in items:
        identity = _source_identity(item)
        if sounds is not None:  # sites that name their sounds by file depend on those files
            identity["sound_files"] = sounds
        if together is not None:  # a site's results depend on every site of the population
            identity["population"] = together
        key = config_fingerprint(config, identity)
        status = SiteStatus(item.site, item.source, key=key)
        old = before.get(item.site, {})
        results = results_path(out, item.site)  # in this folder, wherever the record was made
        if old.get("status") in ("done", "skipped") and old.get("key") == key and results.is_file():
            status = SiteStatus(item.site, item.source, status="skipped", key=key, results=str(results),
                                device=str(old.get("device", "")), seconds=0.0)
        sites.append(status)
    return sites


def _worker_config(config: PipelineConfig, threads: int) -> PipelineConfig:
    # the workers need neither where they run nor anything else not changing results
    values = {name: table for name, table in config.to_dict().items() if name != "cluster"}
    values["compute"] = {**values.get("compute", {}), "threads": threads}
    return PipelineConfig.from_dict(values)


def _run_serial(todo: list[SiteStatus], out: Path, config: dict[str, Any], tracker: _Tracker,
                population: dict[str, Any] | None = None) -> None:
    for site in todo:
        tracker.update(dataclasses.replace(site, status="running", worker="this process"))
        tracker.update(run_site_task(site.site, site.source, str(out), config, site.key,
                                     population=population))


def _population(fit: Callable[[], dict[str, Any]], todo: list[SiteStatus],
                tracker: _Tracker) -> tuple[list[SiteStatus], dict[str, Any] | None]:
    """Fit (or find) the dataset's population; the sites left to run and the population.

    Sites that could not be read are recorded as failed; when the population cannot be
    fitted every site fails with its error; sites that heard other sounds are refused.
    """
    tracker.population = {"status": "running"}
    tracker.write()
    tracker.say(f"population: reading {len(tracker.order)} sites and fitting one model for all their units")
    result = fit()
    error = result.get("error")
    if error is not None:
        tracker.population = {"status": "failed", **{k: error[k] for k in ("error_type", "error")}}
        if error["error_type"] == ConfigError.__name__:
            tracker.write()
            raise ConfigError(error["error"])
        for site in todo:
            tracker.update(dataclasses.replace(site, status="failed", **error))
        return [], None
    for site in todo:
        if site.source in result["failed"]:
            tracker.update(dataclasses.replace(site, status="failed", **result["failed"][site.source]))
    tracker.population = {"status": "done", "units": result["units"], "fitted": result["fitted"],
                          "seconds": result["seconds"], "models": result["path"],
                          "sites": sorted(e["site"] for e in result["sites"].values())}
    tracker.write()
    tracker.say(f"population: {result['units']} units of {len(result['sites'])} sites, "
                f"{'fitted' if result['fitted'] else 'found fitted'} in {result['seconds']:.0f} s")
    return [s for s in todo if s.source not in result["failed"]], result


def _check_gpus(client: Any, resources: Mapping[str, float], cluster: ClusterParams) -> None:
    if not resources.get("GPU") or cluster.kind in ("local", "slurm") and cluster.gpus_per_worker:
        return
    workers = client.scheduler_info().get("workers", {})
    if workers and not any(w.get("resources", {}).get("GPU") for w in workers.values()):
        raise ConfigError("the sites need a GPU (device 'cuda') but no worker of the cluster has the "
                          "dask resource GPU; set [cluster] gpus_per_worker or start workers with "
                          "--resources GPU=1")


def _run_on_client(client: Any, todo: list[SiteStatus], out: Path, config: dict[str, Any],
                   resources: Mapping[str, float], tracker: _Tracker, sources: Sequence[str] | None,
                   population_threads: int = 0) -> None:
    from distributed import as_completed

    population = None
    if sources is not None:
        def fit() -> dict[str, Any]:
            alone = {**config, "compute": {**config.get("compute", {}), "threads": population_threads}}
            future = client.submit(fit_population_task, list(sources), str(out), alone, pure=False,
                                   key=f"population-{uuid.uuid4().hex[:8]}",
                                   resources=dict(resources) or None)
            try:
                return future.result()
            except Exception as err:  # lost worker, cancelled task
                return {"error": describe_error(err)}

        todo, population = _population(fit, todo, tracker)
    events: queue.SimpleQueue = queue.SimpleQueue()
    topic = f"ndx-encoding-subspace-{uuid.uuid4().hex[:8]}"
    client.subscribe_topic(topic, lambda event: events.put(event[1]))
    futures = {client.submit(run_site_task, s.site, s.source, str(out), config, s.key, topic, population,
                             key=f"site-{s.site}-{uuid.uuid4().hex[:8]}", pure=False,
                             resources=dict(resources) or None): s for s in todo}
    pending = as_completed(futures)
    try:
        while not pending.is_empty():
            while not events.empty():
                event = events.get()
                site = tracker.sites.get(str(event.get("site")))
                if site is not None:
                    tracker.update(dataclasses.replace(site, status="running", worker=str(event["worker"])))
            for future in pending.next_batch(block=False):
                tracker.update(_outcome(future, futures[future]))
            time.sleep(0.1)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.unsubscribe_topic(topic)


def _outcome(future: Any, site: SiteStatus) -> SiteStatus:
    try:
        return future.result()
    except Exception as err:  # lost worker (KilledWorker), cancelled task, ...
        return dataclasses.replace(site, status="failed", **describe_error(err))


def run_dataset(
    inputs: Sequence[str | Path | SiteSource],
    out: str | Path,
    config: PipelineConfig | None = None,
    *,
    cluster: ClusterParams | None = None,
    client: Any = None,
    resources: Mapping[str, float] | None = None,
    progress: bool = True,
    on_site: SiteCallback | None = None,
    population: str = "site",
) -> DatasetResult:
    """Run the pipeline on every site the inputs name; failures are recorded, not raised.

    Parameters
    ----------
    inputs : sequence of str, Path or SiteSource
        Files, folders, globs, DANDI identifiers, URLs (see :mod:`.sources`), or sites
        already expanded.
    out : str or Path
        Output folder: ``<site>.results.nwb`` per site and ``summary/sites.json``.
    config : PipelineConfig, optional
        Parameters of every stage (the paper's by default).
    cluster : ClusterParams, optional
        Where the sites run; default ``config.cluster`` (a local pool of processes).
    client : dask.distributed.Client, optional
        Run on this client's cluster instead (``cluster`` then only sets GPU checks).
    resources : mapping, optional
        dask resources each site needs; default :func:`~.cluster.site_resources`
        (``{"GPU": 1}`` when the configuration's device is ``cuda``).
    progress : bool
        Show an overall progress bar (done, failed, running, time left) on stderr.
    on_site : callable, optional
        ``on_site(status)`` at each change of a site's state (``status.line()`` is a
        line to print).
    population : {'site', 'dataset'}
        ``site`` (the paper's): each site's encoding models are fitted on its own units.
        ``dataset``: one CNN (and LN) is fitted on the units of every site, which must
        have heard the same sounds (:mod:`.population`), before the sites run; their
        subspaces and results files stay per site.

    Returns
    -------
    DatasetResult
        Per-site states and :attr:`~DatasetResult.exit_code`.

    Raises
    ------
    InputError, RemoteError, ConfigError
        An input matches nothing, a DANDI listing fails, a bad ``[cluster]``, or GPUs
        asked of a cluster without any; raised before any site runs. With ``population
        = 'dataset'``, also sites that heard different sounds (before any site runs).
    MissingDependencyError
        dask (or dask-jobqueue for SLURM) is not installed.
    """
    config = config or PipelineConfig()
    cluster = cluster or config.cluster
    if population not in POPULATIONS:
        raise ConfigError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")
    items = [i if isinstance(i, SiteSource) else None for i in inputs]
    if None in items:
        items = expand_inputs([str(i) for i in inputs], reader=config.reader)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    resources = site_resources(config) if resources is None else dict(resources)
    # keys: without threads
    sites = _initial(items, out, _worker_config(config, config.compute.threads), population)
    todo = [s for s in sites if not s.finished]
    n_workers = local_workers(cluster, max(1, len(todo)), config.compute.threads)
    threads = config.compute.threads if client is not None else site_threads(
        cluster, config.compute.threads, n_workers)
    worker_config = _worker_config(config, threads)
    tracker = _Tracker(sites, out, on_site, progress, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    sources = [s.source for s in sites] if population == "dataset" else None
    try:
        if todo and (client is not None or cluster.kind != "serial"):
            if client is not None:
                _check_gpus(client, resources, cluster)
                _run_on_client(client, todo, out, worker_config.to_dict(), resources, tracker, sources,
                               population_threads=threads)
            else:
                if resources.get("GPU") and cluster.kind != "scheduler" and not cluster.gpus_per_worker:
                    raise ConfigError("the sites need a GPU (device 'cuda'): set [cluster] gpus_per_worker")
                with open_client(cluster, n_sites=len(todo), threads=threads) as own:
                    _check_gpus(own, resources, cluster)
                    # the population is fitted while the other workers wait: it takes their threads
                    alone = threads * n_workers if cluster.kind == "local" else threads
                    _run_on_client(own, todo, out, worker_config.to_dict(), resources, tracker, sources,
                                   population_threads=alone)
        elif todo:
            fitted = None
            if sources is not None:
                todo, fitted = _population(
                    lambda: fit_population_task(sources, str(out), worker_config.to_dict()), todo, tracker)
            _run_serial(todo, out, worker_config.to_dict(), tracker, fitted)
    finally:
        tracker.close()
    return DatasetResult(tracker.order, out, out / RECORD, tracker.population)
