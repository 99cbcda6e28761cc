"""NS1 through the user's path: ``encoding-subspace run`` on the converted site files.

Used by ``bench_ns1.py --command``. The archive's 27 sites holding valid units are written
to NWB by the public converter (:func:`convert_ns1`); then the command line runs them
twice, as a user would:

1. ``--population dataset``: one CNN and one LN fitted on the 73 valid units of all 27
   sites (they heard the same clips), subspaces and results per site, on a local dask
   pool of ``--workers`` processes;
2. ``--population site`` on the sites with at least 5 valid units: one CNN per site, as
   the paper fits them (METHOD.md section 10).

The protocol of METHOD.md section 9 is given as reader options: the test clips as
validation sounds (``reader.validation_sounds``), the valid units only
(``reader.unit_column = is_valid``) and counts smoothed with [0.5, 1, 0.5]
(``reader.response_kernel``), at 5 ms bins. The ensemble is ``n_jackknife = 1`` and
``n_init = seeds`` (the best start kept; the NS1 benchmark's single-fit protocol).

Every figure is read from the runs' ``summary/units.csv`` and ``summary/pairs.csv``
(pandas), which is what a user of the command has. Similarity is reported twice: ours
(medians over all pairs of the units' k filters) and the authors' statistic
(``similarity_paper_*``: each unit's dimensions at 75% of its variance, units with CNN
r > 0.15, pairs within one area, medians over site pairs of the pairs' mean).

With ``preset`` (``--preset paper``) both runs start from that preset; the NS1 protocol
and the single-fit ensemble of the configuration file are laid over it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ndx_encoding_subspace.datasets.ns1 import (
    NS1_BIN_S,
    NS1_KERNEL,
    NS1_SIGNAL_POWER,
    NS1_TEST_CLIPS,
    clip_name,
    convert_ns1,
    ns1_sites,
    ns1_valid,
    protocol_sites,
)

#: valid units a site needs for a population of its own
MIN_SITE_UNITS = 5


def command_config(seeds: int, quick: bool) -> dict[str, Any]:
    # with --preset, this file changes the preset further: the NS1 protocol and the
    # single-fit ensemble stay
    """The run's configuration file: the NS1 protocol as reader options, paper defaults."""
    config: dict[str, Any] = {
        "reader": {"validation_sounds": [clip_name(c) for c in NS1_TEST_CLIPS], "unit_column": "is_valid",
                   "response_kernel": list(NS1_KERNEL)},
        "spectrogram": {"bin_size": NS1_BIN_S},
        "training": {"device": "cpu"},
        "ensemble": {"n_jackknife": 1, "n_init": seeds},
        "dstrf": {"device": "cpu", "sample_step": 47},
        "compute": {"threads": 1},
        "scoring": {"signal_power": NS1_SIGNAL_POWER},
    }
    if quick:
        config["training"]["max_epochs"] = 3
        config["dstrf"]["max_samples"] = 60
        config["subspace"] = {"noise_repeats": 2}
        config["cnn"] = {"mix_channels": 12, "hidden": [12, 12]}
        config["ln"] = {"channels": 12}
    return config


def _run(files: list[Path], out: Path, config: Path, population: str, workers: int,
         preset: str | None) -> tuple[int, float]:
    argv = [sys.executable, "-m", "ndx_encoding_subspace.cli", "run", *map(str, files), "--out", str(out),
            "--config", str(config), "--population", population, "--workers", str(workers),
            "--no-progress", *(["--preset", preset] if preset else [])]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(proc.stdout[-3000:], flush=True)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr, flush=True)
    return proc.returncode, seconds


def _figures(out: Path, prefix: str = "") -> dict[str, float]:
    import pandas as pd

    units = pd.read_csv(out / "summary" / "units.csv")
    pairs = pd.read_csv(out / "summary" / "pairs.csv")
    ratio = units["r2_ratio"].dropna()
    within, between = pairs[pairs["same_site"]], pairs[~pairs["same_site"]]
    # the authors' statistic: 75% dimensions, units with r > 0.15, one area, site-pair means
    r = dict(zip(zip(units["site"], units["unit"]), units["r_cnn"]))
    good = np.array([min(r[(sa, ua)], r[(sb, ub)]) > 0.15 for sa, ua, sb, ub in
                     zip(pairs["site_a"], pairs["unit_a"], pairs["site_b"], pairs["unit_b"])], dtype=bool)
    chosen = pairs[good & (pairs["area_a"].fillna("") == pairs["area_b"].fillna(""))].copy()
    chosen["site_pair"] = [tuple(sorted(p)) for p in zip(chosen["site_a"], chosen["site_b"])]
    means = chosen.groupby(["site_pair", "same_site"])["similarity_paper"].mean().reset_index()
    found = {
        "units": len(units), "sites": units["site"].nunique(),
        "cnn_ccnorm_mean": units["ccnorm_cnn"].mean(), "cnn_ccnorm_median": units["ccnorm_cnn"].median(),
        "ln_ccnorm_mean": units["ccnorm_ln"].mean(), "ln_ccnorm_median": units["ccnorm_ln"].median(),
        "subspace_ccnorm_mean": units["ccnorm_subspace"].mean(),
        "subspace_ccnorm_median": units["ccnorm_subspace"].median(),
        "ss_cnn_r2_ratio_median": ratio.median(), "ss_ratio_n": len(ratio),
        "k90_median": units["k90"].median(), "k95_median": units["k95"].median(),
        "similarity_within_median": within["similarity"].median(),
        "similarity_between_median": between["similarity"].median(),
        "similarity_n_within": len(within), "similarity_n_between": len(between),
        "similarity_paper_within_median": means[means["same_site"]]["similarity_paper"].median(),
        "similarity_paper_between_median": means[~means["same_site"]]["similarity_paper"].median(),
        "similarity_paper_n_site_pairs": len(means),
    }
    return {f"{prefix}{k}": float(v) if isinstance(v, float | np.floating) else int(v)
            for k, v in found.items()}


def run_command(npz: Path, work: Path, *, seeds: int, quick: bool, workers: int,
                preset: str | None = None) -> dict[str, float]:
    """Convert NS1, run the command with one population and per-site populations; the figures."""
    sites = protocol_sites(npz)[:4] if quick else protocol_sites(npz)
    valid = ns1_valid(npz)
    per_site = [s for s in sites if valid[np.asarray(ns1_sites(npz)[s])].sum() >= MIN_SITE_UNITS]
    if quick:
        per_site = per_site[:2] or sites[:2]
    start = time.perf_counter()
    files = convert_ns1(npz, work / "nwb", sites=sites, compression=False)
    results: dict[str, float] = {"convert_s": time.perf_counter() - start}
    config = work / "ns1.yaml"
    config.write_text(json.dumps(command_config(seeds, quick)))  # YAML reads JSON
    code, seconds = _run(files, work / "dataset", config, "dataset", workers, preset)
    results.update(dataset_exit=code, dataset_s=seconds)
    if code == 0:
        results.update(_figures(work / "dataset"))
    chosen = [f for s, f in zip(sites, files) if s in per_site]
    if not quick:
        config.write_text(json.dumps({**command_config(seeds, quick), "ln": {"enabled": False}}))
    code, seconds = _run(chosen, work / "per_site", config, "site", workers, preset)
    results.update(per_site_exit=code, per_site_s=seconds)
    if code == 0:
        per = _figures(work / "per_site", "persite_")
        results.update({k: v for k, v in per.items() if not k.startswith("persite_ln_")})
    return results
