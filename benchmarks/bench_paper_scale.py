"""One site at the paper's size, stage by stage: time, memory and the 68-site projection.

Simulates a site (:func:`~ndx_encoding_subspace.datasets.simulated.site.simulate_site`)
of the paper's size: 50 units, 600 s of estimation sound heard once (300 sounds of 2 s),
18 validation sounds x 20 repeats, 10 ms bins, then runs the method with the paper's
defaults: 8 jackknifes x 4 initialisations of the population CNN and of the LN model
(batched ensemble training), validation scores, dSTRFs at the paper's sample (every
47th bin, at most 3000) with the tuning subspaces, the subspace models (4 starts per
unit), SSRFs and the site analysis. ``--scale`` shortens the estimation sound (and the
validation sounds with it); the site is simulated in a child process, so the peak
memory is the analysis's alone.

Batched against sequential training: the same fits one after another through
:func:`~ndx_encoding_subspace.fitting.schedule.fit_model` are timed on a subset
(``--seq-members`` fits of each model, ``--seq-epochs`` epochs at most per stage) and
extrapolated, per epoch, to every epoch the batched fits ran. The goal on one
H100/H200-class GPU: a paper-scale site in under 3 minutes (68 sites under 4 hours).

Usage: ``python benchmarks/bench_paper_scale.py [--quick] [--scale X] [--device cpu|cuda]
[--threads N] [--max-epochs N] [--project-epochs N] [--site-cache FILE] [--profile]``. With the
paper's 1000 epochs at most and patience 20, the simulated site trains for hundreds of
epochs per fit; ``--max-epochs`` caps them and projects the ensembles' time to
``--project-epochs`` per fit (400: about what NS1 sites take) from the measured cost per
epoch. A paper-scale simulation takes minutes on one core; ``--site-cache`` keeps it for
the next run. The last line holds
``batched_speedup=... site_s=... peak_rss_mb=... sites68_h=...`` (and more).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import cProfile
import multiprocessing
import pstats
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PAPER_SOUNDS, PAPER_VALIDATION, SITES = 300, 18, 68
GOAL_SITE_S = 180.0


def simulate(scale: float, quick: bool, seed: int = 0):
    """The site as :class:`~ndx_encoding_subspace.data.site.SiteData` (spikes binned per
    presentation), and the seconds the simulation took."""
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
    from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site

    start = time.perf_counter()
    if quick:
        p = SimulationParams.quick(n_units=4, n_estimation_sounds=8, n_validation_sounds=2,
                                   validation_repeats=3, seed=seed)
    else:
        p = SimulationParams(n_units=50, n_estimation_sounds=max(8, round(PAPER_SOUNDS * scale)),
                             n_validation_sounds=max(2, round(PAPER_VALIDATION * min(1.0, 3 * scale))),
                             validation_repeats=20, seed=seed)
    sim = simulate_site(p)
    by_name: dict[str, list[np.ndarray]] = {}
    for t0, _, name in sim.presentations:
        n = sim.spectrograms[name].shape[0]
        edges = t0 + np.arange(n + 1) * p.bin_size
        counts = [np.diff(np.searchsorted(times, edges)) for times in sim.spike_times]
        by_name.setdefault(name, []).append(np.stack(counts, axis=1))
    sounds = tuple(Sound(n, sim.spectrograms[n], np.stack(c).astype(np.float32)) for n, c in by_name.items())
    n_f = next(iter(sim.spectrograms.values())).shape[1]
    site = SiteData("paper_scale", sounds, np.arange(n_f, dtype=float), p.bin_size,
                    UnitInfo.from_ids(range(p.n_units)), tuple(sim.estimation), tuple(sim.validation))
    return site, time.perf_counter() - start


def save_site(path: Path, site, scale: float, quick: bool) -> None:
    """Write ``site`` (spectrograms, spike counts) as a compressed npz."""
    arrays: dict[str, np.ndarray] = {
        "names": np.array([s.name for s in site.sounds]), "estimation": np.array(site.estimation),
        "validation": np.array(site.validation), "bin_size": np.array(site.bin_size),
        "n_units": np.array(site.n_units), "key": np.array([scale, float(quick)]),
    }
    for k, s in enumerate(site.sounds):
        arrays[f"spec{k}"] = s.spectrogram
        arrays[f"counts{k}"] = s.counts.astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_site(path: Path, scale: float, quick: bool):
    """The site saved at ``path`` by :func:`save_site` for the same size, else None."""
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo

    if not path.exists():
        return None
    with np.load(path) as z:
        if not np.array_equal(z["key"], [scale, float(quick)]):
            return None
        sounds = tuple(Sound(str(n), z[f"spec{k}"], z[f"counts{k}"].astype(np.float32))
                       for k, n in enumerate(z["names"]))
        n_f = sounds[0].spectrogram.shape[1]
        return SiteData("paper_scale", sounds, np.arange(n_f, dtype=float), float(z["bin_size"]),
                        UnitInfo.from_ids(range(int(z["n_units"]))),
                        tuple(str(n) for n in z["estimation"]), tuple(str(n) for n in z["validation"]))


def config_for(args: argparse.Namespace):
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    training: dict[str, Any] = {"device": args.device}
    if args.max_epochs:
        training["max_epochs"] = args.max_epochs
    config = PipelineConfig().replace(training=training, dstrf={"device": args.device})
    if args.quick:
        config = config.replace(training={"max_epochs": 3, "patience": 2, "segment_length": 100},
                                ensemble={"n_jackknife": 2, "n_init": 2},
                                cnn={"mix_channels": 8, "fir_taps": 5, "hidden": [8, 8]},
                                ln={"channels": 8, "taps": 9}, dstrf={"n_lags": 12, "sample_step": 4},
                                subspace={"n_components": 8, "noise_repeats": 2},
                                subspace_model={"n_init": 1}, scoring={"n_shuffles": 10})
    return config


def sequential_seconds_per_epoch(site, build, config, members: int, epochs: int) -> float:
    """Seconds per epoch of ``members`` fits alone (jackknife 0), at most ``epochs`` per stage."""
    import torch

    from ndx_encoding_subspace.fitting.ensemble import _jackknife_sets, member_seed
    from ndx_encoding_subspace.fitting.schedule import fit_model

    kept = _jackknife_sets(site.estimation, config.ensemble.n_jackknife)[0][1]
    x = [site.sound(n).spectrogram for n in kept]
    y = [site.sound(n).psth for n in kept]
    training = config.training.replace(max_epochs=min(config.training.max_epochs, epochs))
    took, ran = 0.0, 0
    for i in range(members):
        seed = member_seed(training.seed, 0, i % config.ensemble.n_init)
        torch.manual_seed(seed)
        model = build()
        start = time.perf_counter()
        ran += fit_model(model, x, y, training.replace(seed=seed)).epochs
        took += time.perf_counter() - start
    return took / max(ran, 1)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def profiled(args: argparse.Namespace, stage: str) -> Iterator[None]:
    """With ``--profile``: the stage's 12 costliest calls (cumulative), printed after it."""
    if not args.profile:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        print(f"profile of {stage}:")
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(12)


def run(args: argparse.Namespace, site) -> dict[str, float]:
    """Every stage on ``site``; seconds per stage and the training comparison."""
    import torch

    from ndx_encoding_subspace.fitting.ensemble import fit_ensemble
    from ndx_encoding_subspace.pipeline import stages

    config = config_for(args)
    n_f, n_u = site.n_frequencies, site.n_units
    # one-time costs outside the timings: torch's optimiser imports, the CUDA context
    torch.optim.Adam([torch.zeros(1, requires_grad=True, device=args.device)])
    out: dict[str, float] = {}
    ensembles, batched_s, sequential_s = {}, 0.0, 0.0
    builders = {"cnn": lambda: config.cnn.build(n_f, n_u), "ln": lambda: config.ln.build(n_f, n_u)}
    for role, build in builders.items():
        epochs: dict[tuple[int, int], int] = {}

        def count(info: dict[str, Any], epochs: dict = epochs) -> None:
            key = (info["jackknife"], info["init"])
            epochs[key] = epochs.get(key, 0) + 1

        start = time.perf_counter()
        ensembles[role] = fit_ensemble(site, build, config.training, config.ensemble, progress=count)
        _sync(args.device)
        out[f"train_{role}_s"] = time.perf_counter() - start
        out[f"{role}_member_epochs"] = sum(epochs.values())
        stamp(f"train_{role}", out[f"train_{role}_s"], f"{len(epochs)} fits, {sum(epochs.values())} epochs")
        per_epoch = sequential_seconds_per_epoch(site, build, config, args.seq_members, args.seq_epochs)
        out[f"seq_{role}_s_est"] = per_epoch * sum(epochs.values())
        out[f"speedup_{role}"] = out[f"seq_{role}_s_est"] / out[f"train_{role}_s"]
        stamp(f"sequential_{role}", out[f"seq_{role}_s_est"],
              f"extrapolated from {args.seq_members} fits alone, {per_epoch:.3f} s per epoch")
        batched_s += out[f"train_{role}_s"]
        sequential_s += out[f"seq_{role}_s_est"]
    out["batched_speedup"] = sequential_s / batched_s
    timed = [
        ("score", lambda: {r: stages.score_ensemble(e, site, config) for r, e in ensembles.items()}),
        ("dstrf_subspaces", lambda: stages.tuning_subspaces(ensembles["cnn"], site, config)),
    ]
    kept: dict[str, Any] = {}
    for name, fn in timed:
        start = time.perf_counter()
        with profiled(args, name):
            kept[name] = fn()
            _sync(args.device)
        out[f"{name}_s"] = time.perf_counter() - start
        stamp(name, out[f"{name}_s"])
    subs, shared = kept["dstrf_subspaces"]
    start = time.perf_counter()
    with profiled(args, "subspace_models"):
        fitted = stages.subspace_models(site, subs, config)
    out["subspace_models_s"] = time.perf_counter() - start
    stamp("subspace_models", out["subspace_models_s"])
    start = time.perf_counter()
    stages.nonlinearities(site, subs, ensembles["cnn"], config, fitted)
    stages.site_analysis(site, subs, shared, ensembles["cnn"], config)
    out["ssrf_site_s"] = time.perf_counter() - start
    stamp("ssrf_site", out["ssrf_site_s"])
    return out


def stamp(stage: str, seconds: float, note: str = "") -> None:
    print(f"stage {stage}: {seconds:.1f} s{' (' + note + ')' if note else ''}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny site and models (smoke run)")
    ap.add_argument("--scale", type=float, default=None,
                    help="fraction of the paper's 600 s of estimation sound (default 0.1 on CPU, 1 on GPU)")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when present)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default)")
    ap.add_argument("--max-epochs", type=int, default=0, help="epochs per stage at most (0: the paper's)")
    ap.add_argument("--project-epochs", type=int, default=400,
                    help="with --max-epochs: epochs per ensemble fit (both stages) projected to")
    ap.add_argument("--site-cache", default="", help="npz of the simulated site: read when it holds "
                    "a site of this size, else written after simulating")
    ap.add_argument("--make-site", action="store_true",
                    help="only simulate the site into --site-cache (or find it there), then stop")
    ap.add_argument("--profile", action="store_true",
                    help="print each stage's costliest calls after training (cProfile)")
    ap.add_argument("--seq-members", type=int, default=2, help="fits timed one by one per model")
    ap.add_argument("--seq-epochs", type=int, default=10, help="epochs per stage of those fits")
    args = ap.parse_args(argv)
    import torch

    from ndx_encoding_subspace.compute import thread_limits

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    scale = args.scale if args.scale is not None else (1.0 if args.device == "cuda" else 0.1)
    if not 0 < scale <= 1:
        ap.error(f"--scale must be in (0, 1], got {scale}")
    if args.quick:
        args.seq_members, args.seq_epochs = 1, 2
    cache = Path(args.site_cache) if args.site_cache else None
    start = time.perf_counter()
    site = load_site(cache, scale, args.quick) if cache is not None else None
    if site is None:
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            site, sim_s = pool.submit(simulate, scale, args.quick).result()
        if cache is not None:
            save_site(cache, site, scale, args.quick)
    else:
        sim_s = time.perf_counter() - start
    bins = sum(s.spectrogram.shape[0] for s in site.split("estimation"))
    if args.make_site:
        print(f"simulate_s={sim_s:.3g} units={site.n_units} estimation_bins={bins} cache={cache}")
        return 0
    print(f"site: {site.n_units} units, {bins} estimation bins ({bins * site.bin_size:.0f} s), "
          f"{len(site.validation)} validation sounds; scale {scale}, device {args.device}, "
          f"threads {args.threads}", flush=True)
    stamp("simulate or load the site (child process, not counted)", sim_s)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with thread_limits(args.threads):
        out = run(args, site)
    keys = ["train_cnn_s", "train_ln_s", "score_s", "dstrf_subspaces_s", "subspace_models_s", "ssrf_site_s"]
    site_s = sum(out[k] for k in keys)
    out = {"batched_speedup": out.pop("batched_speedup"), "site_s": site_s,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
           "sites68_h": SITES * site_s / 3600.0, "scale": scale, **out}
    if args.max_epochs:
        fits = 4 if args.quick else 32
        train = sum(out[f"train_{r}_s"] * args.project_epochs / (out[f"{r}_member_epochs"] / fits)
                    for r in ("cnn", "ln"))
        out["site_s_proj"] = site_s - out["train_cnn_s"] - out["train_ln_s"] + train
        out["sites68_h_proj"] = SITES * out["site_s_proj"] / 3600.0
        print(f"epochs capped at {args.max_epochs} per stage: site_s_proj takes the ensembles to "
              f"{args.project_epochs} epochs per fit at the measured cost per epoch (the subspace "
              "models stay capped)")
    if args.device == "cuda":
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(f"sequential training is extrapolated from {args.seq_members} fit(s) per model alone "
          f"(at most {args.seq_epochs} epochs per stage) to every epoch of the batched fits")
    if scale == 1.0 and not args.quick:
        total = out.get("site_s_proj", site_s)
        print(f"goal: a paper-scale site in under {GOAL_SITE_S:.0f} s on one GPU "
              f"({'met' if total < GOAL_SITE_S else 'not met'}: {total:.0f} s"
              f"{' projected' if args.max_epochs else ''}; 68 sites {SITES * total / 3600:.2f} h, "
              "goal under 4 h)")
    print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
