"""What each of the authors' settings changes: our defaults, each setting of a preset alone,
and the whole preset, on the demo's simulated site (known ground truth).

Every setting of the preset file (``--preset``, default ``paper``; one ``[section] key =
value`` each) is laid alone over the demo configuration
(:func:`~ndx_encoding_subspace.pipeline.demo.demo_config`: the paper's architectures and
method at a laptop's size, 2 jackknifes x 1 initialisation); then the whole preset is.
The ensemble's size is the demo's in every run (the preset's 8 x 5 fits would multiply
the time by 20 without changing what a single fit learns), so ``[ensemble]`` settings
are listed but not run alone. Each run goes through
:func:`~ndx_encoding_subspace.pipeline.run.run_site` on the same NWB file and is scored
from its results file:

* ``cnn_ccnorm``: mean CCnorm of the CNN ensemble on validation sounds;
* ``ratio``: median (r_subspace / r_CNN)^2;
* ``k``, ``k90``: median k at the threshold and at 90%;
* ``similarity``: median subspace similarity of the site's unit pairs;
* ``region``: median response-region size (tiling);
* ``truth``: mean similarity of recovered and true subspaces (units with CNN r >= 0.5,
  :func:`~ndx_encoding_subspace.pipeline.demo.recovery`), ``k_ok``: share with k within
  one of the truth.

Usage: ``python benchmarks/bench_presets.py [--quick] [--preset paper] [--threads 1]
[--units 12] [--estimation-sounds 40]``. The last line holds the whole preset's change
of each figure against the defaults (``delta_cnn_ccnorm=...`` etc.).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ndx_encoding_subspace.compute import thread_limits
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.pipeline.config import PipelineConfig, preset_path, read_tables
from ndx_encoding_subspace.pipeline.demo import demo_config, recovery
from ndx_encoding_subspace.pipeline.run import run_site, summarise
from ndx_encoding_subspace.results import load_results
from ndx_encoding_subspace.results.roles import CNN

FIGURES = ("cnn_ccnorm", "ratio", "k", "k90", "similarity", "region", "truth", "k_ok")


def _figures(path: Path, truth: Any) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_results(path)
    summary = summarise(loaded)
    found = recovery(truth, loaded)
    sim = np.asarray(loaded.site_subspace.subspace_similarity, dtype=float)
    upper = sim[np.triu_indices(len(sim), 1)]
    return {
        "cnn_ccnorm": summary["scores"][CNN.name]["ccnorm_mean"],
        "ratio": summary.get("ss_cnn_r2_ratio_median", float("nan")),
        "k": float(np.median([s.k for s in loaded.subspaces])),
        "k90": float(np.median([s.k90 for s in loaded.subspaces])),
        "similarity": float(np.nanmedian(upper)) if upper.size else float("nan"),
        "region": float(np.median(loaded.site_subspace.response_region_size)),
        "truth": found["similarity_mean"], "k_ok": found["k_within_one"],
    }


def _settings(preset: str) -> list[tuple[str, str, Any]]:
    return [(section, key, value) for section, table in read_tables(preset_path(preset)).items()
            for key, value in table.items()]


def _config(base: PipelineConfig, changes: dict[str, dict[str, Any]]) -> PipelineConfig:
    changes = {s: t for s, t in changes.items() if s != "ensemble"}
    return base.replace(**changes) if changes else base


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny site and models, whole preset only")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--units", type=int, default=12)
    ap.add_argument("--estimation-sounds", type=int, default=40, help="2 s each")
    args = ap.parse_args(argv)
    with thread_limits(args.threads), tempfile.TemporaryDirectory(prefix="presets-") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, tmp: Path) -> int:
    if args.quick:
        sim = SimulationParams.quick(n_units=4, n_estimation_sounds=8, n_validation_sounds=2,
                                     validation_repeats=4)
        base = demo_config(quick=True).replace(training={"max_epochs": 2}, dstrf={"max_samples": 60})
    else:
        sim = SimulationParams(n_units=args.units, n_estimation_sounds=args.estimation_sounds)
        base = demo_config()
    base = base.replace(training={"device": "cpu"}, dstrf={"device": "cpu"})
    site = simulate_site(sim)
    path = site.write_nwb(tmp / "site.nwb")
    settings = _settings(args.preset)
    whole: dict[str, dict[str, Any]] = {}
    for s, k, v in settings:
        whole.setdefault(s, {})[k] = v
    runs: list[tuple[str, dict[str, dict[str, Any]]]] = [("defaults", {})]
    if not args.quick:  # one run per section; the dSTRF window goes with the CNN it covers
        for section, table in whole.items():
            if section in ("ensemble", "dstrf"):
                continue
            changes = {section: table, **({"dstrf": whole["dstrf"]} if section == "cnn" and "dstrf" in whole
                                          else {})}
            runs.append((" ".join(f"{s}.{k}={v}" for s, t in changes.items() for k, v in t.items()),
                         changes))
    runs.append((f"preset {args.preset}", whole))
    if args.quick:  # the tiny models stay tiny
        whole.pop("cnn", None)
        whole.pop("dstrf", None)
    rows = {}
    for i, (label, changes) in enumerate(runs):
        start = time.perf_counter()
        result = run_site(path, tmp / f"run{i}", _config(base, changes), progress=False)
        rows[label] = {**_figures(result.path, site.truth), "seconds": time.perf_counter() - start}
        print(f"{label:<60} " + " ".join(f"{k}={v:.3f}" for k, v in rows[label].items()), flush=True)
    skipped = [f"{s}.{k}" for s, k, _ in settings if s == "ensemble"]
    if skipped:
        print(f"not run alone (ensemble size, see the docstring): {', '.join(skipped)}")
    ours, theirs = rows["defaults"], rows[f"preset {args.preset}"]
    print(" ".join(f"delta_{k}={theirs[k] - ours[k]:.4f}" for k in FIGURES)
          + f" runs={len(runs)} units={sim.n_units}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
