"""The embedded demo: a simulated site, the whole method, scored against the ground truth.

``encoding-subspace demo`` (and ``make demo``) calls :func:`run_demo`: it simulates a
virtual auditory-cortex site (:mod:`~.datasets.simulated`), writes it as a standard NWB
file, runs :func:`~.pipeline.run_site` on that file, writes the HTML report, and
compares what was recovered with the truth the simulator kept.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset.units import nonlinearity_class
from ..datasets.simulated.site import SimulationParams, SiteTruth, simulate_site
from ..errors import ConfigError
from ..extension.reliability import (
    RELIABLE,
    RULE_SPLIT_HALVES,
    UNRELIABLE,
    reliability_status,
    reliability_threshold_of,
)
from ..results.roles import CNN
from .config import PipelineConfig
from .workdir import site_lock

__all__ = ["run_demo", "demo_config", "demo_simulation", "recovery", "ground_truth_line",
           "DemoSummary"]

#: CNN r above which a unit's recovered subspace is scored against the truth
MIN_R_FOR_RECOVERY = 0.5


def demo_config(*, quick: bool = False, device: str | None = None,
                seed: int | None = None) -> PipelineConfig:
    """The demo's configuration: the paper's method at a size that runs on a laptop CPU.

    The full demo keeps the paper's architectures, learning rates, dSTRF window,
    subspace, SSRF and tiling parameters; it shrinks the ensemble (2 jackknifes x 1 initialisation
    instead of 8 x 4) and the subspace models' initialisations (1 instead of 4), caps the
    epochs, trains on shorter segments in smaller batches (more optimiser steps per
    epoch on a small site) and takes dSTRFs at every 4th bin instead of every 47th (a
    small site has few bins; the paper's cap of 3000 samples still applies). ``quick``
    also shrinks the models, the ensemble (1 fit) and the noise floor for a smoke run.
    ``seed`` is the training seed (``TrainingParams.seed`` when None).
    """
    training: dict[str, Any] = {"max_epochs": 40, "patience": 6, "segment_length": 100,
                                "batch_size": 4}
    if seed is not None:
        training["seed"] = seed
    ensemble = {"n_jackknife": 2, "n_init": 1}
    changes: dict[str, Any] = {"subspace_model": {"n_init": 1}, "dstrf": {"sample_step": 4}}
    if quick:
        training.update(max_epochs=20, patience=4)
        ensemble = {"n_jackknife": 1, "n_init": 1}
        changes["cnn"] = {"mix_channels": 24, "hidden": [24, 24]}
        changes["ln"] = {"channels": 24}
        changes["scoring"] = {"n_shuffles": 20}
        changes["subspace"] = {"n_components": 12, "noise_repeats": 2}
    if device is not None:
        training["device"] = device
        changes["dstrf"] = {**changes["dstrf"], "device": device}
    return PipelineConfig().replace(training=training, ensemble=ensemble, **changes)


def demo_simulation(*, quick: bool = False, seed: int | None = None) -> SimulationParams:
    """The demo's virtual site: 16 units and 120 s of estimation sound (quick: 8, 30 s);
    ``seed`` as in :class:`SimulationParams` (its default when None)."""
    seeded = {} if seed is None else {"seed": seed}
    if quick:
        return SimulationParams.quick(**seeded)
    return SimulationParams(n_units=16, n_estimation_sounds=60, **seeded)


def _pad_lags(filters: np.ndarray, n_lags: int) -> np.ndarray:
    out = np.zeros(filters.shape[:2] + (n_lags,))
    d = min(n_lags, filters.shape[2])
    out[..., :d] = filters[..., :d]
    return out


def recovery(truth: SiteTruth, loaded: Any, min_r: float = MIN_R_FOR_RECOVERY) -> dict[str, Any]:
    """Ground-truth recovery of a results file (:func:`~.results.load_results` output).

    For every unit: the mean squared cosine of the principal angles between the true and
    recovered subspaces (``similarity``: over ``min(k, k_true)`` angles, so a larger
    recovered subspace may contain the truth; ``similarity_top_k``: the first
    ``min(k, k_true)`` recovered components only), the true and recovered k (and k at
    90% of the variance, and ``k_significant``, the components above the noise floor),
    whether the nonlinearity class of the first dimension (as ``units.csv`` and the report
    give it, from the stored asymmetry index and tuning curve) matches the truth, and the
    subspace's stored reliability and status (``reliable``, ``unreliable`` or
    ``unknown`` against the file's ``reliability_threshold``) and its ``concentration``
    (:meth:`~.results.UnitSubspace.concentration`). Means and fractions are over units
    whose CNN r is at least ``min_r``, except ``reliable`` and ``unreliable`` (mean
    similarity and count of the units of each status, whatever their r) and the Spearman
    correlations over every unit where both are measured (NaN with fewer than 3). Where
    no unit reaches ``min_r``, every mean and fraction is NaN (nothing was scored), and
    :func:`ground_truth_line` says "n/a". The correlations:
    ``reliability_truth_spearman`` (reliability and similarity),
    ``reliability_truth_spearman_top_k`` (reliability and ``similarity_top_k``), and
    ``concentration_truth_spearman`` and ``concentration_truth_spearman_top_k``.
    """
    from ..circuit import subspace_similarity

    cnn = [m for m in loaded.models if m.role == CNN.name]
    r_cnn = np.asarray(cnn[0].scores["r"]) if cnn else np.full(len(loaded.subspaces), np.nan)
    nonlin = {n.unit_position: n for n in loaded.nonlinearities}
    ids = np.asarray(loaded.units["id"])
    threshold = reliability_threshold_of(loaded.parameters.get("subspace"))
    rows = []
    for sub in loaded.subspaces:
        u = sub.unit_position
        true = truth.unit(int(ids[u]))
        t = _pad_lags(true.filters, sub.filters.shape[2])
        sim = subspace_similarity(t, sub.filters) if sub.k >= 1 else 0.0
        top = subspace_similarity(t, sub.filters[: true.k]) if sub.k >= 1 else 0.0
        n = nonlin.get(u)
        shape = "" if n is None or not sub.k else nonlinearity_class(  # as units.csv and the report say
            float(np.asarray(n.asymmetry_index, dtype=np.float64).reshape(-1)[0]), n.tuning["mean"][0],
            tuning_sem=n.tuning["sem"][0], tuning_count=n.tuning["count"][0])
        rows.append({"unit": int(ids[u]), "r_cnn": float(r_cnn[u]), "similarity": sim,
                     "similarity_top_k": top, "k_true": int(true.k), "k": int(sub.k),
                     "k90": int(sub.k90), "k_significant": sub.significant_count(),
                     "kind": true.kind, "shape": shape,
                     "reliability": float(sub.reliability), "concentration": sub.concentration(),
                     "status": reliability_status(sub.reliability, threshold),
                     "rule": sub.reliability_rule})
    good = [row for row in rows if row["r_cnn"] >= min_r]

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if good else float("nan")

    def within(key: str) -> float:  # NaN, as the means, where no unit is scored
        return float(np.mean([abs(g[key] - g["k_true"]) <= 1 for g in good])) if good else float("nan")

    return {
        **_by_reliability(rows),
        "k_significant_within_one": within("k_significant"),
        "reliability_threshold": threshold,
        "units": rows,
        "n_scored": len(good),
        "similarity_mean": mean([g["similarity"] for g in good]),
        "similarity_top_k_mean": mean([g["similarity_top_k"] for g in good]),
        "k_within_one": within("k"),
        "k90_within_one": within("k90"),
        "shape_correct": mean([g["shape"].replace("-", "_") == g["kind"] for g in good]),
    }


def _by_reliability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recovery of the units called reliable and of the others, and how far the
    reliability ranks the units as their recovery does."""
    out: dict[str, Any] = {}
    for status in (RELIABLE, UNRELIABLE):
        mine = [row["similarity"] for row in rows if row["status"] == status]
        out[f"n_{status}"] = len(mine)
        out[f"similarity_{status}_mean"] = float(np.mean(mine)) if mine else float("nan")
    for measure in ("reliability", "concentration"):
        for target, suffix in (("similarity", ""), ("similarity_top_k", "_top_k")):
            out[f"{measure}_truth_spearman{suffix}"] = _spearman(rows, measure, target)
    return out


def _spearman(rows: list[dict[str, Any]], a: str, b: str) -> float:
    """Spearman correlation of ``a`` and ``b`` over the rows where both are finite (NaN
    with fewer than 3)."""
    known = [row for row in rows if np.isfinite(row[a]) and np.isfinite(row[b])]
    if len(known) < 3:
        return float("nan")
    from scipy.stats import spearmanr

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input has no correlation (NaN)
        return float(spearmanr([row[a] for row in known], [row[b] for row in known])[0])


def ground_truth_line(rec: dict[str, Any]) -> str:
    """The demo's ground-truth summary of :func:`recovery`'s output."""
    def said(value: float, form: str) -> str:  # no unit scored: nothing to say, not 0%
        return "n/a" if not np.isfinite(value) else format(value, form)

    line = (f"ground truth ({rec['n_scored']} units with CNN r >= {MIN_R_FOR_RECOVERY}): "
            f"subspace similarity {said(rec['similarity_mean'], '.3f')}, k within one "
            f"{said(rec['k_within_one'], '.0%')} (k above the noise floor "
            f"{said(rec['k_significant_within_one'], '.0%')}), nonlinearity class right "
            f"{said(rec['shape_correct'], '.0%')}")
    parts = [f"{status} ({rec[f'n_{status}']}): {rec[f'similarity_{status}_mean']:.3f}"
             for status in (RELIABLE, UNRELIABLE) if rec[f"n_{status}"]]
    if parts:
        line += (f"; similarity of the units called (reliability threshold "
                 f"{rec['reliability_threshold']:.2f}) " + ", ".join(parts))
        if any(row.get("rule") == RULE_SPLIT_HALVES for row in rec.get("units", [])):
            line += " (a single fit: its reliabilities compare the two halves of its samples)"
    return line


@dataclasses.dataclass
class DemoSummary:
    """Paths and figures of a demo run."""

    recording: Path
    results: Path
    report: Path | None
    text: str
    recovery: dict[str, Any]

    def format(self) -> str:
        """The printed summary."""
        return self.text


#: the demo's site: its recording is ``<_SITE>.nwb``, its results ``<_SITE>.results.nwb``
_SITE = "simulated_site"


def _recording(path: Path, params: SimulationParams, overwrite: bool) -> Path:
    """The demo's simulated recording at ``path``: made when absent; one simulated with
    other parameters (``--quick``, ``--seed``) is made again with ``overwrite``, else refused
    naming what differs (its results would be taken for the ones asked)."""
    from ..datasets.simulated.site import load_truth

    if path.exists():
        try:
            made = load_truth(path).params
        except Exception as err:  # a damaged or foreign file where the demo keeps its recording
            if not overwrite:
                raise ConfigError(f"{path}: not a recording the demo simulated ({type(err).__name__}: "
                                  f"{str(err)[:200]}): use another --out, or --overwrite to simulate it "
                                  "again") from None
            made = None
        if made == params:
            return path
        if made is not None and not overwrite:
            differ = [f"{f.name} {getattr(made, f.name)!r} (asked: {getattr(params, f.name)!r})"
                      for f in dataclasses.fields(params) if getattr(made, f.name) != getattr(params, f.name)]
            raise ConfigError(f"{path} was simulated with other parameters ({'; '.join(differ[:4])}): use "
                              "another --out, or --overwrite to simulate it again")
    simulate_site(params).write_nwb(path, overwrite=True)
    return path


def run_demo(
    out: str | Path, *, quick: bool = False, device: str | None = None, seed: int | None = None,
    progress: bool = True, report: bool = True, config: PipelineConfig | None = None,
    overwrite: bool = False,
) -> DemoSummary:
    """Simulate a site, run the whole method, write results and report, score recovery.

    Parameters
    ----------
    out : str or Path
        Output folder (created): ``simulated_site.nwb``, the results NWB file, the report.
    quick : bool
        Small site and models (about a minute on 2 CPU cores).
    device : str, optional
        Torch device for training and dSTRFs (default: CUDA when available).
    seed : int, optional
        Seed of the simulation and of training (when None, each takes its parameter
        class's default: ``SimulationParams.seed``, ``TrainingParams.seed``).
    progress : bool
        Progress bars on stderr.
    report : bool
        Write the HTML report.
    config : PipelineConfig, optional
        Replaces :func:`demo_config`.
    overwrite : bool
        Simulate the recording in ``out`` again when it was simulated with other
        parameters (``quick``, ``seed``), and replace a results file made with other
        parameters (as :func:`~.run.run_site`); without it either is refused.
    """
    from ..fitting.training_params import resolve_device
    from ..results import load_results
    from .checks import check_config
    from .run import format_summary, run_site

    config = config or demo_config(quick=quick, device=device, seed=seed)
    for section in (config.training, config.dstrf):  # a missing GPU said before the site is simulated
        resolve_device(section.device)
    check_config(config)
    out = Path(out).resolve()  # the input's name is part of its identity: the same however spelled
    out.mkdir(parents=True, exist_ok=True)
    sim_params = demo_simulation(quick=quick, seed=seed)
    from ..datasets.simulated.site import load_truth
    from ..inputs import file_sha256

    with site_lock(out, _SITE):  # a demo running in this folder reads its recording: left alone
        recording = _recording(out / f"{_SITE}.nwb", sim_params, overwrite)
        truth, digest = load_truth(recording), file_sha256(recording)
    if report and importlib.util.find_spec("matplotlib") is None:
        warnings.warn("the demo's report needs matplotlib, which is not installed: the results and scores "
                      "are made and printed, the report left out (pip install 'ndx-encoding-subspace[viz]')",
                      stacklevel=2)
        report = False
    result = run_site(recording, out, config, progress=progress, overwrite=overwrite)
    loaded = load_results(result.path)
    analysed = loaded.provenance.get("input", {}).get("sha256")
    if analysed not in (None, digest):  # another demo simulated it again in between
        raise ConfigError(f"{recording}: replaced by another demo while this one ran; its results are of the "
                          "other recording: run the demo again, alone in this folder")
    rec = recovery(truth, loaded)
    report_path = None
    if report:
        from ..viz.report import write_report

        report_path = write_report(result.path, overwrite=True)
    kept = " (already complete: kept, nothing computed)" if result.resumed else ""
    lines = [format_summary(result.summary, title=f"results: {result.path}{kept}")]
    lines.append(ground_truth_line(rec))
    if report_path is not None:
        lines.append(f"report: {report_path}")
    return DemoSummary(recording, result.path, report_path, "\n".join(lines), rec)
