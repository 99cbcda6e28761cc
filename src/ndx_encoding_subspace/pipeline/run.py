"""One site, end to end: input (path, URL or DANDI id) and configuration to a results file.

:func:`run_site` reads the site, runs :func:`~.stages.analyse_site` and writes the
results NWB file atomically. It keeps no global state: many sites can run at once
(see :mod:`.distributed`).

Resuming: training checkpoints live in ``OUT/.SITE.work/``; a rerun with the same
output folder continues from them, and keeps them when only parameters of the later
stages (dSTRF, subspaces, nonlinearities, site analyses, scoring) changed. When the
results file already exists and was made from the same input with the same parameters,
nothing is recomputed; when it was made differently, the run stops with an error rather
than overwrite it (pass ``overwrite=True`` to replace it).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import writable_target
from ..compute import flushed_subnormals, thread_limits
from ..data.site import SiteData
from ..errors import ConfigError, ResultsError
from ..fitting.pieces import estimation_pieces
from ..fitting.scores import r2_ratio
from ..preflight import is_remote, local_nwb, output_folder
from ..results.files import results_path
from ..results.roles import CNN, SUBSPACE, role_label
from .config import PipelineConfig
from .distributed import stop_progress
from .fingerprint import TRAINING_SECTIONS, accepted_fingerprints, config_fingerprint, input_identity
from .workdir import prepared, site_lock, tidied, work_folder

__all__ = ["run_site", "RunResult", "results_path", "config_fingerprint", "input_identity"]


@dataclasses.dataclass
class RunResult:
    """What :func:`run_site` produced.

    Attributes
    ----------
    path : Path
        The results NWB file.
    site : str
        Site name.
    summary : dict
        Per-model median scores, k distribution, unit count (:func:`summarise`).
    resumed : bool
        True when the results file existed already and nothing was recomputed.
    checkpoints : int
        Checkpoints of an unfinished run of the same site and parameters that this run
        went on from (0: it started afresh).
    """

    path: Path
    site: str
    summary: dict[str, Any]
    resumed: bool = False
    checkpoints: int = 0

    def format(self) -> str:
        """A short text table of the results."""
        went_on = f" (went on from {self.checkpoints} checkpoint(s) of an unfinished run)"
        said = " (already complete)" if self.resumed else went_on if self.checkpoints else ""
        return format_summary(self.summary, title=f"site {self.site}: {self.path}{said}")


def _identity(site: SiteData, *, earlier: bool = False) -> dict[str, Any]:
    identity = input_identity(site.source, earlier=earlier)
    cut = [p.name for p in estimation_pieces(site) if p.name != p.sound]
    if cut:  # long sounds split by time (since 0.2.0): fitted otherwise than before
        identity["pieces"] = len(cut)
    return identity


def _finite(values: Any, statistic: Any) -> float:
    """``statistic`` of the finite values, NaN when there is none (a site whose units all
    have undefined scores) instead of numpy's warning."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(statistic(values)) if len(values) else float("nan")


#: a median CNN r below this is said in the summary (units above it: the authors' r > 0.15)
WEAK_CNN_R = 0.15


def summarise(results: Any) -> dict[str, Any]:
    """Median scores per model kind, k at the threshold, 90% and 95%, unit count.

    ``results`` is a :class:`~.results.SiteResults` or a loaded results file.
    """
    n_units = results.site.n_units if hasattr(results, "site") else len(results.units["id"])
    out: dict[str, Any] = {"units": int(n_units), "scores": {}}
    by_role: dict[str, list[Any]] = {}
    for m in results.models:
        by_role.setdefault(m.role, []).append(m)
    for role, models in by_role.items():
        if role == SUBSPACE.name:
            r = np.array([float(m.scores["r"][0]) for m in models])
            cc = np.array([float(m.scores["ccnorm"][0]) for m in models])
        else:  # ensemble members share the ensemble's scores
            r, cc = models[0].scores["r"], models[0].scores["ccnorm"]
        out["scores"][role] = {"r_median": _finite(r, np.median), "ccnorm_median": _finite(cc, np.median),
                               "ccnorm_mean": _finite(cc, np.mean), "r": np.asarray(r).tolist(),
                               "n_r": int(np.isfinite(np.asarray(r, dtype=float)).sum()),
                               "n_ccnorm": int(np.isfinite(np.asarray(cc, dtype=float)).sum())}
    if CNN.name in out["scores"] and SUBSPACE.name in out["scores"]:
        ratio = r2_ratio(out["scores"][SUBSPACE.name]["r"], out["scores"][CNN.name]["r"])
        out["ss_cnn_r2_ratio_median"] = _finite(ratio, np.median)
        out["ss_cnn_r2_ratio_n"] = int(np.isfinite(ratio).sum())
    ks = np.array([s.k for s in results.subspaces])
    out["k"] = {"median": float(np.median(ks)) if len(ks) else np.nan,
                "k90": [int(s.k90) for s in results.subspaces], "values": ks.tolist()}
    return out


def format_summary(summary: dict[str, Any], title: str = "") -> str:
    """Text table of :func:`summarise` output."""
    lines = [title] if title else []
    lines.append(f"{'model':<10} {'median r':>9} {'median CCnorm':>14} {'mean CCnorm':>12} "
                 f"{'units r/CCnorm':>15}")
    for role, s in summary["scores"].items():
        counted = f"{s.get('n_r', '-')}/{s.get('n_ccnorm', '-')}"
        lines.append(f"{role_label(role):<10} {s['r_median']:>9.3f} {s['ccnorm_median']:>14.3f} "
                     f"{s['ccnorm_mean']:>12.3f} {counted:>15}")
    if "ss_cnn_r2_ratio_median" in summary:
        n = summary.get("ss_cnn_r2_ratio_n")
        over = "" if n is None else f" over the {n} unit{'s' if n != 1 else ''} with r_CNN > 0"
        lines.append(f"median (r_subspace / r_CNN)^2 = {summary['ss_cnn_r2_ratio_median']:.3f}{over} "
                     "(signed: negative where the subspace model's r is)")
    cnn = summary["scores"].get(CNN.name)
    if cnn and np.isfinite(cnn["r_median"]) and cnn["r_median"] < WEAK_CNN_R:
        lines.append(f"the CNN predicts little here (median r {cnn['r_median']:.3f} < {WEAK_CNN_R:g}): its "
                     "dSTRFs, the subspaces and the ratio above say little; more sound, more spikes or "
                     "longer training are needed (a quick run's sizes are for trying the steps, not for "
                     "results)")
    k = summary.get("k", {})
    if k.get("values"):
        counts = np.bincount(k["values"])
        dist = ", ".join(f"k={i}: {c}" for i, c in enumerate(counts) if c)
        lines.append(f"units: {summary['units']}; subspace dimension {dist}")
    scored = [s for s in summary["scores"].values() if s.get("n_ccnorm", summary["units"]) < summary["units"]]
    if scored:
        lines.append("scores are medians over the units where they are defined (CCnorm needs a positive "
                     "signal power: responses that repeat across presentations)")
    return "\n".join(lines)


class _Bars:
    """tqdm progress bars, one per stage; silent when disabled or tqdm is missing. As the
    stages advance, ``stop()`` (when given) is asked whether to stop: :class:`Stopped`."""

    def __init__(self, enabled: bool, stop: Callable[[], bool] | None = None) -> None:
        self.enabled = enabled
        self.stopping = stop_progress(stop)
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.stopping(stage, done, total)
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        key = stage.split(" (")[0]
        bar = self.bars.get(key)
        if bar is None:
            bar = self.bars[key] = tqdm(total=total, desc=key, file=sys.stderr, leave=True)
        bar.set_postfix_str(stage[len(key):].strip(" ()"), refresh=False)
        bar.n = min(done, total)
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def run_site(
    source: Any, out: str | Path, config: PipelineConfig | None = None, *,
    progress: bool = True, cache: str | Path | None = None, overwrite: bool = False,
    site: SiteData | None = None, keep_workdir: bool = False, population: Mapping[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run the whole method on one site and write its results NWB file.

    Parameters
    ----------
    source : str, Path or NWBFile
        Local NWB path, ``DANDI:000123[@version][/path]`` identifier or asset URL.
    out : str or Path
        Output folder (created).
    config : PipelineConfig, optional
        Parameters of every stage (the paper's by default).
    progress : bool
        Show progress bars on stderr.
    cache : path, optional
        Local cache folder for remote assets.
    overwrite : bool
        Replace an existing results file made with other inputs or parameters, or one that
        cannot be read (a complete one of the same input and parameters is kept: delete it
        to make it again).
    site : SiteData, optional
        The site already read from ``source`` (skips reading).
    keep_workdir : bool
        Keep the training checkpoints after a successful run.
    population : dict, optional
        A population fitted on several sites with this one
        (:func:`~.population.fit_population`'s result): its models, cut to this site's
        units, replace the site's own fits.
    stop : callable, optional
        Asked as the stages advance (each epoch, each batch of dSTRFs) whether to stop; when
        it returns True the run ends as Ctrl-C ends it (:class:`~..errors.Stopped`, a
        KeyboardInterrupt: checkpoints kept for a rerun, lock released).

    Returns
    -------
    RunResult

    Notes
    -----
    The whole run happens inside :func:`~.compute.thread_limits` with
    ``config.compute.threads`` (0 by default: thread counts left as they are) and
    :func:`~.compute.flushed_subnormals`; the previous settings are restored when it
    returns or raises.
    """
    config = PipelineConfig.of(config)
    with thread_limits(config.compute.threads), flushed_subnormals():
        return _run_site(source, out, config, progress=progress, cache=cache, overwrite=overwrite,
                         site=site, keep_workdir=keep_workdir, population=population, stop=stop)


def _run_site(
    source: Any, out: str | Path, config: PipelineConfig, *, progress: bool,
    cache: str | Path | None, overwrite: bool, site: SiteData | None, keep_workdir: bool,
    population: Mapping[str, Any] | None = None, stop: Callable[[], bool] | None = None,
) -> RunResult:
    from ..fitting.training_params import resolve_device
    from ..io import read_site
    from ..results import load_results
    from .checks import check_config, check_site

    if cache is not None:
        config = config.replace(reader={"cache_dir": str(cache)})
    for section in (config.training, config.dstrf):  # a missing GPU is said before any reading
        resolve_device(section.device)
    check_config(config)
    out = output_folder(out)
    bars = _Bars(progress, stop)
    if site is None:
        site = read_site(source, reader=config.reader, spectrogram=config.spectrogram,
                         celltype=config.celltype, progress=bars)
    elif isinstance(source, str | os.PathLike) and not is_remote(str(source)):
        local_nwb(source)  # the writer copies its units and session: a wrong path said before the work
    read_units = site.n_units
    site = check_site(site, config)
    out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if site.n_units < read_units:  # units silent during the estimation sounds left out (since 0.2.0)
        extra["silent_left_out"] = read_units - site.n_units
    ensembles = None
    if population is not None:
        from .population import load_population, site_ensembles

        extra["population"] = population["key"]
        models, sites = load_population(population["path"], population["key"])
        ensembles = site_ensembles(models, sites, str(source), site)
    identity, before = ({**_identity(site, earlier=e), **extra} for e in (False, True))
    fingerprint = config_fingerprint(config, identity)
    # releases before 0.2.0 kept the input's path and name (as given): their results are still found
    legacy = {**before, **{k: site.source[k] for k in ("path", "name") if k in site.source}}
    made_before = {*accepted_fingerprints(config, identity), *accepted_fingerprints(config, before),
                   *accepted_fingerprints(config, legacy)}
    training = tuple(dict.fromkeys(f for i in (identity, before)
                                   for f in accepted_fingerprints(config, i, TRAINING_SECTIONS)))
    path = results_path(out, site.name)
    writable_target(path)  # a folder or FIFO in its place: said before hours of work
    if path.exists():
        try:
            loaded = load_results(path)
        except ResultsError as err:
            if not overwrite:
                raise ResultsError(f"{err}; the results file already in the output folder cannot be read: "
                                   "run again with --overwrite (overwrite=True) to replace it") from None
            loaded = None  # damaged: replaced
        if loaded is not None and loaded.provenance.get("fingerprint") in made_before:
            if not keep_workdir:  # what a run killed after writing the file left
                tidied(out, site.name, training)
            return RunResult(path, site.name, summarise(loaded), resumed=True)
        if not overwrite:
            raise ConfigError(
                f"{path} exists and was made from another input or with other parameters"
                f"{_what_differs(loaded, config, identity)}; "
                "choose another output folder, or replace it (--overwrite; overwrite=True from Python)"
            )
    with site_lock(out, site.name):
        return _analysed(site, config, out, path, identity, (fingerprint, training), source, bars, population,
                         ensembles, overwrite=overwrite, keep_workdir=keep_workdir)


def _what_differs(loaded: Any, config: PipelineConfig, identity: dict[str, Any]) -> str:
    """`` (...)``: what the results file in the way was made with that this run asks
    otherwise (the input, and up to 4 parameters that change results), from its provenance;
    empty where it says nothing comparable."""
    from ..params import VOLATILE_NAMES, VOLATILE_SECTIONS
    from .fingerprint import AT_DEFAULT  # memory, or where: never what differs in results

    if loaded is None:
        return ""
    provenance = loaded.provenance if isinstance(loaded.provenance, dict) else {}
    said = []
    made = provenance.get("identity")
    if isinstance(made, dict) and made.get("sha256") and identity.get("sha256") \
            and made["sha256"] != identity["sha256"]:
        said.append(f"input sha256 {str(made['sha256'])[:12]}... "
                    f"(this input: {str(identity['sha256'])[:12]}...)")
    stored = provenance.get("config")
    if isinstance(stored, dict):
        try:
            before = PipelineConfig.from_provenance(stored).to_dict()
        except Exception:  # a configuration this release does not read: nothing to compare
            before = None
        if before is not None:
            for section, values in config.to_dict().items():
                if section in VOLATILE_SECTIONS:
                    continue
                for name, value in values.items():
                    old = before.get(section, {}).get(name, value)
                    if name not in VOLATILE_NAMES and (section, name) not in AT_DEFAULT and old != value:
                        said.append(f"{section}.{name} {old!r} (asked: {value!r})")
    if not said:
        return ""
    more = f"; and {len(said) - 4} more" if len(said) > 4 else ""
    return f" ({'; '.join(said[:4])}{more})"


def _analysed(site: Any, config: PipelineConfig, out: Path, path: Path, identity: dict[str, Any],
              fingerprints: tuple[str, tuple[str, ...]], source: Any, bars: Any, population: Any,
              ensembles: Any, *, overwrite: bool, keep_workdir: bool) -> RunResult:
    """The site's analysis in its work folder (resumed from it), written to ``path``;
    ``fingerprints``: the results' and those its checkpoints may hold (the current first)."""
    from ..results import write_results
    from .stages import analyse_site

    workdir = work_folder(out, site.name)
    fingerprint, (trained, *earlier) = fingerprints
    found = prepared(workdir, trained, earlier)  # checkpoints of an unfinished run, gone on from
    try:
        # what was read (units table, series, presentations, split, notes) beside the identity
        provenance: dict[str, Any] = {"input": {**site.source, **identity}, "identity": identity,
                                      "fingerprint": fingerprint}
        if population is not None:
            provenance["population"] = {"sites": sorted(e["site"] for e in population["sites"].values()),
                                        "units": population["units"], "key": population["key"]}
        results = analyse_site(site, config, workdir=workdir, progress=bars, provenance=provenance,
                               ensembles=ensembles)
    finally:
        bars.close()
    kept = site.source.get("local")  # a DANDI asset's copy in reader.cache_dir: read from it again
    write_results(results, path, source=kept if kept and Path(kept).exists() else source,
                  reader=config.reader, overwrite=overwrite)
    if not keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return RunResult(path, site.name, summarise(results), checkpoints=found)
