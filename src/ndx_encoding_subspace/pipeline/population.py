"""One population across sites: one encoding model for the units of every site.

The paper fits one CNN per site (METHOD.md section 10). When the sites of a dataset
heard the same sounds, one CNN (and one LN) can instead be fitted on all their units at
once (``--population dataset``): :func:`fit_population` reads the sites, joins them
(:func:`~..data.population.join_sites`, which refuses sites that heard other sounds),
fits the ensembles with checkpoints in ``OUT/.population.work/`` and keeps them in
``OUT/.population/models.npz``. Each site then runs as usual (:func:`~.run.run_site`)
with the population's models cut to its own units (:func:`site_ensembles`, through
:func:`~..models.select_units`): its dSTRFs, subspaces, subspace models, results file
and scores are its own.

The models file is a NumPy archive of plain arrays and JSON text, read with
``allow_pickle=False``; it is written atomically, under a key of the sites' identities
and the parameters, and a rerun with the same key uses it as it is.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_bytes, write_text
from ..compute import flushed_subnormals, thread_limits
from ..data.population import join_sites
from ..data.site import SiteData
from ..errors import ConfigError, InvalidDataError, ResultsError, Stopped
from .config import PipelineConfig
from .distributed import describe_error, stop_check, stop_progress, task_warnings
from .fingerprint import accepted_fingerprints, input_identity

if TYPE_CHECKING:
    from ..fitting import Ensemble

__all__ = ["POPULATIONS", "MODELS", "fit_population", "fit_population_task", "load_population",
           "site_ensembles"]

#: values of ``population``: one model per site (the paper's), or one for the dataset
POPULATIONS = ("site", "dataset")
#: the population's models, relative to the output folder
MODELS = Path(".population") / "models.npz"


def _read(source: str, config: PipelineConfig) -> SiteData:
    from ..io import read_site

    return read_site(source, reader=config.reader, spectrogram=config.spectrogram, celltype=config.celltype)


def save_population(path: Path, key: str, ensembles: Mapping[str, Ensemble],
                    sites: Mapping[str, Any]) -> None:
    """Write the population's ensembles and its sites' unit positions to ``path`` atomically."""
    from ..models import state_arrays, to_architecture

    arrays: dict[str, np.ndarray] = {"key": np.array(key)}
    meta: dict[str, Any] = {"sites": dict(sites), "roles": {}}
    for role, ens in ensembles.items():
        meta["roles"][role] = {
            "architecture": to_architecture(ens.members[0]), "members": len(ens.members),
            "records": [r.to_dict() for r in ens.records], "info": ens.info, "candidates": ens.candidates,
        }
        for m, member in enumerate(ens.members):
            for name, value in state_arrays(member).items():
                arrays[f"{role}/{m}/{name}"] = value
    arrays["meta"] = np.array(json.dumps(meta, default=str))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, lambda f: np.savez(f, **arrays))


def load_population(path: str | Path, key: str | None = None) -> tuple[dict[str, Ensemble], dict[str, Any]]:
    """The ensembles and sites kept at ``path`` (by :func:`fit_population`).

    Raises
    ------
    ResultsError
        Missing, unreadable or damaged file, or (with ``key``) one of another population.
    """
    from ..fitting import Ensemble
    from ..fitting.record import FitRecord
    from ..models import from_architecture, load_state
    from ..results.limits import parse_json

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if key is not None and str(z["key"]) != key:
                raise ResultsError(f"{path} holds the models of another population or other parameters")
            meta = parse_json(str(z["meta"]), f"{path}: meta", max_depth=32)
            out = {}
            for role, entry in meta["roles"].items():
                members = []
                for m in range(int(entry["members"])):
                    prefix = f"{role}/{m}/"
                    # the arrays first (an uncompressed archive: as large as the file), so
                    # that the document is checked against them before anything is built
                    state = {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}
                    model = from_architecture(entry["architecture"],
                                              {k: v.shape for k, v in state.items()},
                                              {k: v.dtype for k, v in state.items()})
                    load_state(model, state)
                    members.append(model.eval())
                out[role] = Ensemble(members, [FitRecord.from_dict(r) for r in entry["records"]],
                                     entry["info"], entry["candidates"])
    except ResultsError as err:
        if str(path) in str(err):
            raise
        raise ResultsError(f"{path}: {err}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError,
            zipfile.BadZipFile) as err:
        raise ResultsError(f"{path}: the population's models cannot be read ({err})") from None
    return out, meta["sites"]


def site_ensembles(ensembles: Mapping[str, Ensemble], sites: Mapping[str, Any], source: str,
                   site: SiteData) -> dict[str, Ensemble]:
    """The population's ensembles cut to the units of ``site`` (read from ``source``).

    Raises
    ------
    InvalidDataError
        The site was not part of the population, or its units are not those it had then.
    """
    from ..models import select_units

    entry = sites.get(str(source))
    if entry is None:
        raise InvalidDataError(f"{source}: site {site.name!r} is not part of the population fitted in this "
                               "output folder")
    ids = [int(u) for u in site.units.ids]
    if ids != list(entry["unit_ids"]):
        raise InvalidDataError(f"{source}: site {site.name!r} has other units than when the population "
                               "was fitted (the file changed?)")
    index = int(entry["first"]) + np.arange(len(ids))
    return {role: dataclasses.replace(ens, members=[select_units(m, index).eval() for m in ens.members])
            for role, ens in ensembles.items()}


def fit_population(sources: Sequence[str], out: str | Path, config: PipelineConfig, *,
                   stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Read the sites, join them and fit the population's ensembles (or find them fitted).

    Parameters
    ----------
    sources : sequence of str
        One input per site (local path, DANDI identifier of one asset, URL).
    out : str or Path
        Output folder: the models go to ``OUT/.population/models.npz``.
    config : PipelineConfig
    stop : callable, optional
        Asked each epoch whether to stop (as :func:`~.run.run_site`'s ``stop``): the fit
        then ends as Ctrl-C ends it, its checkpoints kept.

    Returns
    -------
    dict
        ``path`` and ``key`` of the models file, ``sites`` (source -> first position and
        unit ids), ``units``, ``seconds``, ``fitted`` (False when found complete) and
        ``failed`` (source -> :func:`~.distributed.describe_error` of each site that could
        not be read; they are left out of the population).

    Raises
    ------
    ConfigError
        The sites did not hear the same sounds, or none could be read.
    """
    with thread_limits(config.compute.threads), flushed_subnormals():
        return _fit_population(sources, Path(out), config, stop)


def _fit_population(sources: Sequence[str], out: Path, config: PipelineConfig,
                    stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    from .checks import check_site
    from .stages import fit_encoding_models

    start = time.perf_counter()
    read, failed = {}, {}
    for source in sources:
        try:
            site = _read(str(source), config)
            read[str(source)] = check_site(site, config)  # as its own run would, before it enters the fit
        except Exception as err:  # that site fails; the population is fitted on the others
            failed[str(source)] = describe_error(err)
    if not read:
        first = next(iter(failed.values()))["error"]
        raise ConfigError(f"no site of the population could be read (first error: {first})")
    joined = join_sites(list(read.values()), name="population")
    sites = {source: {"site": site.name, **entry}
             for (source, site), entry in zip(read.items(), joined.source["population"])}
    (key, *ints), before = (accepted_fingerprints(config, {"population": [
        input_identity(s.source, legacy=legacy) for s in read.values()]}) for legacy in (False, True))
    path = out / MODELS
    result = {"path": str(path), "key": key, "sites": sites, "units": joined.n_units, "failed": failed}
    for found in dict.fromkeys((key, *ints, *before)):  # fitted by earlier releases (paths kept): kept
        try:
            load_population(path, found)
            return {**result, "key": found, "fitted": False, "seconds": round(time.perf_counter() - start, 3)}
        except ResultsError:
            pass
    workdir = out / ".population.work"
    stamp = workdir / "key"
    if workdir.exists() and (not stamp.exists() or stamp.read_text().strip() != key):
        shutil.rmtree(workdir)  # checkpoints of another population cannot be resumed
    workdir.mkdir(parents=True, exist_ok=True)
    write_text(stamp, key)
    ensembles = fit_encoding_models(joined, config, workdir=workdir, progress=stop_progress(stop))
    save_population(path, key, ensembles, sites)
    shutil.rmtree(workdir, ignore_errors=True)
    return {**result, "fitted": True, "seconds": round(time.perf_counter() - start, 3)}


def fit_population_task(sources: Sequence[str], out: str, config: dict[str, Any],
                        stop_event: str = "") -> dict[str, Any]:
    """:func:`fit_population` as a task: plain data in and out, errors as data.

    Returns its result, or ``{"error": ...}`` (:func:`~.distributed.describe_error`) when
    it fails as a whole or was asked to stop (the dask Event ``stop_event``).
    """
    task_warnings()
    try:
        return fit_population(sources, out, PipelineConfig.from_dict(config), stop=stop_check(stop_event))
    except (Exception, Stopped) as err:  # reported to the client, which decides
        return {"error": describe_error(err)}
