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
:class:`~..errors.SitesFailedError`'s 9 when some sites failed and others finished, or
every site failed for errors of different kinds; the exit code of their errors when every
site failed for errors of one kind (2 configuration, 3 input, 4 remote, 5 training, 1
unexpected or lost worker, ...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

from ..atomic import held, lock_let_go
from ..errors import ConfigError, RemoteError
from ..io.dandi_client import API_URL_ENV
from .cluster import ClusterParams, local_workers, open_client, site_resources, site_threads
from .config import PipelineConfig
from .distributed import SiteStatus, describe_error, run_site_task
from .population import POPULATIONS, fit_population_task
from .record import RECORD, DatasetResult, SiteCallback, Tracker, check_stale, initial_states
from .sources import SiteSource, expand_inputs
from .workdir import lock_path

#: the lock file a dataset run holds in its output folder (site locks end in ``.lock``)
RUN_LOCK = ".encoding-subspace-run"

__all__ = ["DatasetResult", "run_dataset", "summarize_run", "RECORD"]


def _worker_config(config: PipelineConfig, threads: int) -> PipelineConfig:
    # the workers need neither where they run nor anything else not changing results
    values = {name: table for name, table in config.to_dict().items() if name != "cluster"}
    values["compute"] = {**values.get("compute", {}), "threads": threads}
    return PipelineConfig.from_dict(values)


def _run_serial(todo: list[SiteStatus], out: Path, config: dict[str, Any], tracker: Tracker,
                population: dict[str, Any] | None = None, overwrite: bool = False) -> None:
    for site in todo:
        tracker.update(dataclasses.replace(site, status="running", worker="this process"))
        tracker.update(run_site_task(site.site, site.source, str(out), config, site.key,
                                     population=population, overwrite=overwrite))


def _population(fit: Callable[[], dict[str, Any]], todo: list[SiteStatus],
                tracker: Tracker) -> tuple[list[SiteStatus], dict[str, Any] | None]:
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
                   resources: Mapping[str, float], tracker: Tracker, sources: Sequence[str] | None,
                   population_threads: int = 0, overwrite: bool = False) -> None:
    from distributed import as_completed

    population = None
    topic = f"ndx-encoding-subspace-{uuid.uuid4().hex[:8]}"
    stop = f"{topic}-stop"  # set when this run is interrupted: the running fits stop
    if sources is not None:
        def fit() -> dict[str, Any]:
            alone = {**config, "compute": {**config.get("compute", {}), "threads": population_threads}}
            future = client.submit(fit_population_task, list(sources), str(out), alone, stop, pure=False,
                                   key=f"population-{uuid.uuid4().hex[:8]}",
                                   resources=dict(resources) or None)
            try:
                return future.result()
            except Exception as err:  # lost worker, cancelled task
                return {"error": describe_error(err)}
            except BaseException:  # Ctrl-C: the fit stops on its worker, or leaves the queue
                with contextlib.suppress(Exception):
                    future.cancel()
                _stop_running(client, stop, [], tracker)
                raise

        todo, population = _population(fit, todo, tracker)
    events: queue.SimpleQueue = queue.SimpleQueue()
    client.subscribe_topic(topic, lambda event: events.put(event[1]))
    futures = {client.submit(run_site_task, s.site, s.source, str(out), config, s.key, topic, population,
                             overwrite, stop,
                             key=f"site-{s.site}-{uuid.uuid4().hex[:8]}", pure=False,
                             resources=dict(resources) or None): s for s in todo}
    pending = as_completed(futures)
    where = _address(client)  # read now: a client that lost its scheduler may no longer hold it
    seen = time.monotonic()  # when a worker was last there
    try:
        while not pending.is_empty():
            while not events.empty():
                event = events.get()
                site = tracker.sites.get(str(event.get("site")))
                if site is not None:
                    tracker.update(dataclasses.replace(site, status="running", worker=str(event["worker"])))
            for future in pending.next_batch(block=False):
                tracker.update(_outcome(future, futures[future], client))
            if _lost(client):
                raise _scheduler_lost(client, tracker, where=where)
            seen = time.monotonic() if client.scheduler_info().get("workers") else seen
            refused = _refused(client, seen)
            if refused:
                raise _scheduler_lost(client, tracker, f"no dask worker is left and the cluster refuses new "
                                                       f"jobs ({refused})", where=where)
            time.sleep(0.1)
    except BaseException as err:
        with contextlib.suppress(Exception):
            client.cancel(list(futures))  # a task already running in a worker's thread goes on: asked below
        if isinstance(err, KeyboardInterrupt):  # every site not finished: a start may not be said yet
            unfinished = [s.site for s in todo if not tracker.sites[s.site].finished]
            _stop_running(client, stop, [lock_path(out, site) for site in unfinished], tracker)
        raise
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)


#: how long an interrupted run waits for its running sites to stop (a stop is asked every
#: STOP_POLL_S seconds and comes at the next epoch or batch of dSTRFs)
STOP_WAIT_S = 60.0


def _stop_running(client: Any, name: str, locks: list[Path], tracker: Tracker) -> None:
    """Ask the sites running on the cluster's workers to stop (the dask Event ``name``) and
    wait, at most :data:`STOP_WAIT_S`, until their ``locks`` are let go (released, or left
    by a worker that died with the interrupt): a task running in a worker's thread is not
    stopped by cancelling it, and would go on writing its results and hold its site's lock
    against the rerun."""
    from distributed import Event

    with contextlib.suppress(BaseException):  # a second Ctrl-C ends the wait
        Event(name, client=client).set()
        held = [lock for lock in locks if not lock_let_go(lock)]
        if held:
            tracker.say(f"waiting up to {STOP_WAIT_S:g} s for {len(held)} running site(s) to stop "
                        "(Ctrl-C again to stop waiting)")
        end = time.monotonic() + STOP_WAIT_S
        while held and time.monotonic() < end:
            time.sleep(0.2)
            held = [lock for lock in held if not lock_let_go(lock)]


def _lost(client: Any) -> bool:
    """Whether ``client`` lost its scheduler (reconnecting, or closed under the run): dask's
    client cancels every task when its connection drops, even for a moment, so the run's
    tasks are gone either way."""
    return getattr(client, "status", "running") in ("connecting", "closing", "closed")


#: seconds without a worker, after a job was refused, before a run ends
NO_WORKER_S = 30.0


def _refused(client: Any, seen: float) -> str:
    """Why the cluster refused the last job it was asked for, where that was after the last
    worker left (``seen``) and no worker came for :data:`NO_WORKER_S`; else ''."""
    refusals = getattr(getattr(client, "cluster", None), "refusals", None) or []
    late = [why for when, why in refusals if when >= seen]
    return late[-1] if late and time.monotonic() - seen > NO_WORKER_S else ""


def _address(client: Any) -> str | None:
    return getattr(getattr(client, "scheduler", None), "address", None)


def _scheduler_lost(client: Any, tracker: Tracker, why: str = "", where: str | None = None) -> RemoteError:
    """The sites not finished are interrupted (a rerun finishes them); the error says so,
    naming the scheduler at ``where`` (its address when the run began)."""
    left = [s for s in tracker.order if s.status in ("pending", "running", "interrupted")]
    for site in left:
        if site.status != "interrupted":
            tracker.update(dataclasses.replace(site, status="interrupted"))
    where = where or _address(client) or "the dask scheduler"
    return RemoteError(f"{why or f'lost the dask scheduler at {where}'}, with {len(left)} site(s) not "
                       "finished; run the same command again to finish them")


def _outcome(future: Any, site: SiteStatus, client: Any = None) -> SiteStatus:
    try:
        return future.result()
    except CancelledError:  # the scheduler went away (a rerun finishes it), or the task was cancelled
        if client is not None and _lost(client):
            return dataclasses.replace(site, status="interrupted")
        return dataclasses.replace(site, status="failed", **describe_error(CancelledError(
            f"site {site.site}: its task was cancelled on the cluster")))
    except Exception as err:  # lost worker (KilledWorker), ...
        return dataclasses.replace(site, status="failed", **describe_error(err))


def pinned(config: PipelineConfig) -> PipelineConfig:
    """``config`` as workers elsewhere (SLURM, a scheduler) must have it: they start in other
    folders (``reader.sound_folder`` made absolute) and other environments (the DANDI API
    that ``$DANDI_API_URL`` names here, where the sites were listed)."""
    if config.reader.sound_folder:
        config = config.replace(reader={"sound_folder": str(Path(config.reader.sound_folder).resolve())})
    if not config.reader.dandi_api_url and os.environ.get(API_URL_ENV):
        config = config.replace(reader={"dandi_api_url": os.environ[API_URL_ENV]})
    return config


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
    overwrite: bool = False,
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
    overwrite : bool
        Make again the sites whose results the record says were made with other inputs
        or parameters (or another population); without it such a run is refused before
        any site runs (:func:`~.record.check_stale`).

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
    config = pinned(PipelineConfig.of(config))
    cluster = cluster or config.cluster
    if population not in POPULATIONS:
        raise ConfigError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")
    items = [i if isinstance(i, SiteSource) else None for i in inputs]
    if None in items:
        items = expand_inputs([str(i) for i in inputs], reader=config.reader)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with held(out / RUN_LOCK, "a dataset run's results"):  # a second run is refused, not interleaved
        resources = site_resources(config) if resources is None else dict(resources)
        # keys: without threads
        sites = initial_states(items, out, _worker_config(config, config.compute.threads), population)
        check_stale(sites, out, overwrite, population)
        todo = [s for s in sites if not s.finished]
        n_workers = local_workers(cluster, max(1, len(todo)), config.compute.threads)
        threads = config.compute.threads if client is not None else site_threads(
            cluster, config.compute.threads, n_workers)
        worker_config = _worker_config(config, threads)
        tracker = Tracker(sites, out, on_site, progress, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        sources = [s.source for s in sites] if population == "dataset" else None
        try:
            if todo and (client is not None or cluster.kind != "serial"):
                if client is not None:
                    _check_gpus(client, resources, cluster)
                    # workers of a cluster started elsewhere: they need the folder's absolute path
                    _run_on_client(client, todo, out.resolve(), worker_config.to_dict(), resources, tracker,
                                   sources, population_threads=threads, overwrite=overwrite)
                else:
                    if resources.get("GPU") and cluster.kind != "scheduler" and not cluster.gpus_per_worker:
                        raise ConfigError("the sites need a GPU (device 'cuda'): set [cluster] "
                                          "gpus_per_worker")
                    with open_client(cluster, n_sites=len(todo), threads=threads) as own:
                        _check_gpus(own, resources, cluster)
                        # the population is fitted while the other workers wait: it takes their threads
                        alone = threads * n_workers if cluster.kind == "local" else threads
                        _run_on_client(own, todo, out.resolve(), worker_config.to_dict(), resources, tracker,
                                       sources, population_threads=alone, overwrite=overwrite)
            elif todo:
                fitted = None
                if sources is not None:
                    todo, fitted = _population(lambda: fit_population_task(
                        sources, str(out), worker_config.to_dict()), todo, tracker)
                _run_serial(todo, out, worker_config.to_dict(), tracker, fitted, overwrite)
        except KeyboardInterrupt:  # the record says which sites a rerun will finish
            for site in [s for s in tracker.order if s.status == "running"]:
                tracker.update(dataclasses.replace(site, status="interrupted"))
            raise
        except Exception:
            if not tracker.ran:  # refused before any site ran: no site to list as pending
                tracker.undo()
            raise
        finally:
            tracker.close()
        return DatasetResult(tracker.order, out, out / RECORD, tracker.population)


def summarize_run(out: str | Path, *, params: Any = None, folder: str | Path | None = None) -> Any:
    """The summary of a run's folder: its tables, and its report where matplotlib (the
    ``viz`` extra) is installed; without it the tables are written and a warning says that the
    report is left out.

    Parameters
    ----------
    out : str or Path
        A run's output folder.
    params : DatasetParams, optional
        Which units and pairs enter the statistics.
    folder : str or Path, optional
        Where the summary goes (default ``OUT/summary``).

    Returns
    -------
    DatasetSummary
    """
    try:
        from ..viz.report.dataset import summarize
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] != "matplotlib":
            raise
        from ..dataset import summarize_tables

        warnings.warn("the dataset's report needs matplotlib, which is not installed: the tables are "
                      "written, the report left out (pip install 'ndx-encoding-subspace[viz]')", stacklevel=2)
        return summarize_tables(out, params=params, folder=folder)
    return summarize(out, params=params, folder=folder)

