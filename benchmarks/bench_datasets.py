"""Whole datasets: sites per hour in this process and on a local pool of 1 and 2 workers.

``--sites`` simulated sites are written once (not timed); then the same dataset is run
with :func:`run_dataset` three times, each into a fresh output folder: one site after
another in this process (``[cluster] kind = "serial"``, the baseline), on a local dask
pool of one worker process, and on a pool of two. Every site runs on one CPU thread
(``[compute] threads = 1``), so a pool of two runs two sites at once on a 2-core
machine. By default the dataset is 4 sites of 16 units and 30 s of estimation sound,
fitted by the paper's method with smaller networks, a 2-fit ensemble and at most 20
epochs (about 15 s a site on one thread); ``--quick`` runs 2 tiny sites. The times are
wall-clock times of the whole call, pool start-up included; the mean time a site took
on its worker is printed beside them. One site is run in this process first (not timed)
so that the baseline does not pay for first imports.

The projection to the paper's 68 sites uses the rate measured with 2 workers and the
size of the sites measured here (the default's small sites, not the paper's recordings).

Last line: ``sites_per_hour_1``, ``sites_per_hour_2`` (pool of 1 and 2 workers),
``speedup_2_workers`` (their ratio), ``projected_68_sites_h`` (hours for 68 sites at
the 2-worker rate), ``sites_per_hour_serial``, ``pool_1_vs_serial`` (1-worker rate /
serial rate: the cost of the worker process), ``site_s_serial``, ``site_s_1``, ``site_s_2``
(mean seconds a site took where it ran), ``sites``, ``units``, ``cores``.

Usage: ``python benchmarks/bench_datasets.py [--quick] [--sites 4] [--units 16] [--epochs 20]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.pipeline.cluster import ClusterParams
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.dataset import run_dataset

PAPER_SITES = 68


def site_config(epochs: int, quick: bool) -> PipelineConfig:
    """The paper's method shrunk to a size that runs in seconds per site on one thread."""
    if quick:
        return PipelineConfig.from_dict({
            "cnn": {"mix_channels": 8, "fir_taps": 5, "hidden": [8, 8]},
            "ln": {"channels": 8, "taps": 9},
            "training": {"max_epochs": epochs, "patience": 2, "device": "cpu", "segment_length": 100},
            "ensemble": {"n_jackknife": 2, "n_init": 1},
            "dstrf": {"n_lags": 12, "device": "cpu"},
            "subspace": {"n_components": 8, "noise_repeats": 2},
            "subspace_model": {"n_init": 1},
            "scoring": {"n_shuffles": 10},
            "compute": {"threads": 1},
        })
    return PipelineConfig.from_dict({
        "cnn": {"mix_channels": 24, "hidden": [24, 24]},
        "ln": {"channels": 24},
        "training": {"max_epochs": epochs, "patience": 4, "device": "cpu", "segment_length": 100,
                     "batch_size": 4},
        "ensemble": {"n_jackknife": 2, "n_init": 1},
        "dstrf": {"sample_step": 4, "device": "cpu"},
        "subspace": {"n_components": 12, "noise_repeats": 2},
        "subspace_model": {"n_init": 1},
        "scoring": {"n_shuffles": 20},
        "compute": {"threads": 1},
    })


def simulate(folder: Path, sites: int, units: int, quick: bool) -> list[Path]:
    """Write ``sites`` simulated sites (seeds 0, 1, ...) as NWB files under ``folder``."""
    folder.mkdir(parents=True)
    paths = []
    for seed in range(sites):
        if quick:
            params = SimulationParams.quick(n_units=units, n_estimation_sounds=6, n_validation_sounds=2,
                                            validation_repeats=3, n_lags=8, max_dim=2, seed=seed)
        else:
            params = SimulationParams.quick(n_units=units, seed=seed)
        paths.append(simulate_site(params).write_nwb(folder / f"site_{seed:02d}.nwb"))
    return [Path(p) for p in paths]


def timed(inputs: list[Path], out: Path, config: PipelineConfig,
          cluster: ClusterParams) -> tuple[float, float]:
    """Wall-clock seconds of one dataset run and the mean seconds a site took; raise on failures."""
    start = time.perf_counter()
    result = run_dataset([str(p) for p in inputs], out, config, cluster=cluster, progress=False)
    seconds = time.perf_counter() - start
    if result.exit_code != 0 or len(result.sites) != len(inputs):
        raise RuntimeError(f"{cluster.kind} run failed:\n{result.format()}")
    site_seconds = [s.seconds for s in result.sites if s.seconds is not None]
    return seconds, sum(site_seconds) / max(1, len(site_seconds))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 tiny sites (CI smoke run)")
    ap.add_argument("--sites", type=int, default=4, help="simulated sites of the dataset")
    ap.add_argument("--units", type=int, default=16, help="units per site")
    ap.add_argument("--epochs", type=int, default=20, help="training epochs at most")
    args = ap.parse_args(argv)
    if args.quick:
        args.sites, args.units, args.epochs = 2, 2, 3
    config = site_config(args.epochs, args.quick)
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        inputs = simulate(root / "recordings", args.sites, args.units, args.quick)
        print(f"{args.sites} sites of {args.units} units simulated in {time.perf_counter() - start:.1f} s; "
              f"{cores} cores, 1 thread per site, at most {args.epochs} epochs")
        timed(inputs[:1], root / "warm-up", config, ClusterParams(kind="serial"))

        runs = {
            "serial": ClusterParams(kind="serial"),
            "1": ClusterParams(kind="local", workers=1, threads_per_worker=1),
            "2": ClusterParams(kind="local", workers=2, threads_per_worker=1),
        }
        rate, site_s = {}, {}
        for name, cluster in runs.items():
            seconds, site_s[name] = timed(inputs, root / f"out-{name}", config, cluster)
            rate[name] = 3600 * args.sites / seconds
            label = "this process" if name == "serial" else f"{name} worker{'s' if name != '1' else ''}"
            print(f"{label:>13}: {seconds:6.1f} s for {args.sites} sites ({site_s[name]:5.1f} s per site "
                  f"on its worker), {rate[name]:7.1f} sites per hour")

    projected = PAPER_SITES / rate["2"]
    print(f"projection: {PAPER_SITES} sites of this size on 2 workers in {projected:.2f} h")
    out = {
        "sites_per_hour_1": f"{rate['1']:.1f}",
        "sites_per_hour_2": f"{rate['2']:.1f}",
        "speedup_2_workers": f"{rate['2'] / rate['1']:.3f}",
        "projected_68_sites_h": f"{projected:.3f}",
        "sites_per_hour_serial": f"{rate['serial']:.1f}",
        "pool_1_vs_serial": f"{rate['1'] / rate['serial']:.3f}",
        "site_s_serial": f"{site_s['serial']:.1f}",
        "site_s_1": f"{site_s['1']:.1f}",
        "site_s_2": f"{site_s['2']:.1f}",
        "sites": args.sites,
        "units": args.units,
        "cores": cores,
    }
    print(" ".join(f"{k}={v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
