"""Ground-truth recovery on the simulated site, through the whole pipeline.

Simulates a site (:func:`~ndx_encoding_subspace.datasets.simulated.site.simulate_site`; full size: 16
units, 200 s of estimation sound, 6 validation sounds x 20 repeats), writes it as NWB,
runs :func:`~ndx_encoding_subspace.pipeline.run.run_site` with the demo configuration
trained to convergence (the paper's CNN and patience, ``--fits`` jackknifes x 1
initialisation, at most ``--max-epochs`` epochs per stage; dSTRFs at every
``--sample-step``-th bin, since a small site has few bins for the paper's every 47th)
and scores the results file against the truth with
:func:`~ndx_encoding_subspace.pipeline.demo.recovery`: over units whose CNN r is at least 0.5,
the mean squared cosine of the principal angles between recovered and true subspaces
(also over the first k_true recovered components only), the fraction with k (and k at
90%) within one of the truth, and the fraction whose nonlinearity class is right; and,
bin by bin, how far the CNN ensemble's dSTRFs agree with the generating model's (median
cosine, share of their energy inside the true subspace), per unit and per nonlinearity
class. It also reports the oracle: the same subspace step on the dSTRFs of the generating model
itself (similarity 1 when every step is consistent).

Reliability: each unit's stored subspace reliability (the jackknife members' subspaces
compared pairwise, or split halves of the samples with one fit) is set against its
recovery: the Spearman correlation over every unit (``reliability_truth_spearman``; also
over the units with CNN r >= 0.5), the mean similarity of the units called reliable and
of the rest, and the k rules side by side: how often k at the variance threshold and k by
significance (components above the noise floor) land within one of the true dimension.

How recovery grows with the data: ``--estimation-sounds`` (more sound) and
``--rate-scale`` (more spikes per second of sound); docs/ground-truth.md has the figures.

Usage: ``python benchmarks/bench_recovery.py [--quick] [--out DIR] [--device cpu]
[--fits N] [--max-epochs N] [--threads N] [--sample-step N] [--estimation-sounds N]
[--rate-scale X] [--min-dim N] [--max-dim N]
[--min-peak-lag X] [--rescore]``. The last line holds
``similarity_mean=... similarity_top_k_mean=... k_within_one=... k90_within_one=...
shape_correct=... n_scored=... oracle_similarity=... dstrf_cosine_mean=... pipeline_s=...
k_significant_within_one=... n_reliable=... similarity_reliable=... similarity_unreliable=...
reliability_truth_spearman_scored=... reliability_truth_spearman_top_k=...
concentration_truth_spearman=... concentration_truth_spearman_top_k=...
reliability_truth_spearman=...``. ``--rescore`` scores the files of an earlier run in
``--out`` again (the site simulated anew, not trained).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _oracle(site, n_lags: int) -> float:
    from ndx_encoding_subspace.circuit import subspace_similarity
    from ndx_encoding_subspace.datasets.simulated.site import truth_model
    from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
    from ndx_encoding_subspace.pipeline.demo import _pad_lags
    from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspaces

    est = [site.spectrograms[n] for n in site.estimation]
    values = dstrf(truth_model(site.truth), est, None, DSTRFParams(n_lags=n_lags, device="cpu"))
    subs = fit_subspaces(values, SubspaceParams(noise_repeats=0))
    return float(np.mean([subspace_similarity(_pad_lags(u.filters, n_lags), s.filters)
                          for u, s in zip(site.truth.units, subs)]))


def _gradient_agreement(site, members, n_lags: int, step: int) -> list[dict[str, float]]:
    """Per unit: how far the CNN's dSTRFs agree with the generating model's, bin by bin.

    ``cosine``: median over the sampled estimation bins of the cosine between the
    ensemble dSTRF and the true dSTRF at the same bin; ``in_span``: the fraction of the
    ensemble dSTRFs' energy inside the true subspace.
    """
    from ndx_encoding_subspace.datasets.simulated.site import truth_model
    from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
    from ndx_encoding_subspace.dstrf.ensemble import ensemble_dstrf
    from ndx_encoding_subspace.pipeline.demo import _pad_lags

    est = [site.spectrograms[n] for n in site.estimation]
    times = [np.arange(0, len(s), step) for s in est]
    params = DSTRFParams(n_lags=n_lags, device="cpu")
    cnn = ensemble_dstrf(members, est, times, params).astype(np.float64)
    true = dstrf(truth_model(site.truth), est, times, params).astype(np.float64)
    out = []
    for u, unit in enumerate(site.truth.units):
        a, b = cnn[:, u].reshape(len(cnn), -1), true[:, u].reshape(len(true), -1)
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
        basis = np.linalg.qr(_pad_lags(unit.filters, n_lags).reshape(unit.k, -1).T)[0]
        out.append({"cosine": float(np.median(cos)),
                    "in_span": float(((a @ basis) ** 2).sum() / max((a**2).sum(), 1e-30))})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny site and models (smoke run)")
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fits", type=int, default=4, help="jackknife fits per model type")
    parser.add_argument("--max-epochs", type=int, default=300, help="epochs per training stage")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--estimation-sounds", type=int, default=100,
                        help="2-s estimation sounds, each heard once (100: 200 s)")
    parser.add_argument("--rate-scale", type=float, default=1.0,
                        help="factor on the units' mean rates (1: 5-20 spikes/s, about NS1's; the "
                             "250 spikes/s ceiling stays)")
    parser.add_argument("--min-dim", type=int, default=None,
                        help="fewest true filters per unit (default: SimulationParams')")
    parser.add_argument("--max-dim", type=int, default=None,
                        help="most true filters per unit (default: SimulationParams')")
    parser.add_argument("--min-peak-lag", type=float, default=None,
                        help="earliest peak of the true filters' temporal kernels, bins")
    parser.add_argument("--sample-step", type=int, default=3,
                        help="dSTRFs at every N-th estimation bin (the paper: 47, at most 3000)")
    parser.add_argument("--rescore", action="store_true",
                        help="score the recording and results already in --out (an earlier run with "
                             "the same options) again, without training")
    args = parser.parse_args(argv)
    if args.rescore and not args.out:
        parser.error("--rescore needs the --out folder of an earlier run")
    if args.rate_scale <= 0:
        parser.error(f"--rate-scale must be positive, got {args.rate_scale}")

    from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, load_truth, simulate_site
    from ndx_encoding_subspace.errors import ConfigError
    from ndx_encoding_subspace.pipeline.demo import demo_config, recovery
    from ndx_encoding_subspace.pipeline.run import run_site
    from ndx_encoding_subspace.results import load_results, results_path

    if args.quick:
        sim = SimulationParams.quick(n_units=3, n_estimation_sounds=8, n_validation_sounds=2,
                                     validation_repeats=4, seed=args.seed)
        config = demo_config(quick=True, device=args.device, seed=args.seed)
        config = config.replace(training={"max_epochs": 3, "patience": 2})
    else:
        base = SimulationParams()
        given = {"min_dim": args.min_dim, "max_dim": args.max_dim, "min_peak_lag": args.min_peak_lag}
        try:
            sim = SimulationParams(n_units=16, seed=args.seed, n_estimation_sounds=args.estimation_sounds,
                                   min_rate=base.min_rate * args.rate_scale,
                                   max_mean_rate=base.max_mean_rate * args.rate_scale,
                                   **{k: v for k, v in given.items() if v is not None})
        except ConfigError as err:
            parser.error(str(err))
        config = demo_config(device=args.device, seed=args.seed)
        config = config.replace(training={"max_epochs": args.max_epochs, "patience": 20},
                                ensemble={"n_jackknife": args.fits, "n_init": 1},
                                dstrf={"sample_step": args.sample_step, "max_samples": 1_000_000})
    config = config.replace(compute={"threads": args.threads})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        site = simulate_site(sim)
        recording = out / "simulated_site.nwb"
        if args.rescore:
            if not recording.exists() or load_truth(recording).params != sim:
                parser.error(f"--rescore: {recording} is not the recording of these options")
        else:
            site.write_nwb(recording, overwrite=True)
        t_sim = time.perf_counter() - start
        oracle = _oracle(site, config.dstrf.n_lags)
        start = time.perf_counter()
        if args.rescore:
            path = results_path(out, "simulated_site")
        else:
            path = run_site(recording, out, config, progress=False, overwrite=True).path
        t_run = time.perf_counter() - start
        loaded = load_results(path)
        rec = recovery(load_truth(recording), loaded)
        members = [m.module for m in loaded.ensemble("population_cnn").members]
        agree = _gradient_agreement(site, members, config.dstrf.n_lags, max(args.sample_step, 1))
    for row in rec["units"]:
        g = agree[row["unit"]]
        print(f"unit {row['unit']:3d} {row['kind']:15s} r_cnn={row['r_cnn']:.3f} "
              f"similarity={row['similarity']:.3f} top_k={row['similarity_top_k']:.3f} "
              f"k={row['k']} k90={row['k90']} k_sig={row['k_significant']} "
              f"k_true={row['k_true']} shape={row['shape']} "
              f"reliability={row['reliability']:.3f} ({row['status']}) "
              f"dstrf_cosine={g['cosine']:.2f} in_true_span={g['in_span']:.2f}")
    scored = [row for row in rec["units"] if row["r_cnn"] >= 0.5] or rec["units"]
    for kind in sorted({row["kind"] for row in scored}):
        rows = [row for row in scored if row["kind"] == kind]
        mine = [agree[r["unit"]] for r in rows]
        print(f"{kind}: {len(rows)} units, similarity {np.mean([r['similarity'] for r in rows]):.2f}, "
              f"median dSTRF cosine with the truth {np.mean([g['cosine'] for g in mine]):.2f}, "
              f"energy in the true span {np.mean([g['in_span'] for g in mine]):.2f}")
    cosine = float(np.mean([agree[row["unit"]]["cosine"] for row in scored]))
    rho_scored = _spearman([row["reliability"] for row in scored],
                           [row["similarity"] for row in scored])
    print(f"simulation {t_sim:.1f} s, pipeline {t_run:.1f} s, oracle similarity {oracle:.4f}")
    print(f"reliability against recovery: Spearman {rec['reliability_truth_spearman']:.3f} over "
          f"{len(rec['units'])} units, {rho_scored:.3f} over the {len(scored)} with CNN r >= 0.5; "
          f"similarity of the {rec['n_reliable']} units called reliable (threshold "
          f"{rec['reliability_threshold']:.2f}) {rec['similarity_reliable_mean']:.3f}, of the "
          f"{rec['n_unreliable']} others {rec['similarity_unreliable_mean']:.3f}")
    print(f"against recovery of the first k_true components: reliability "
          f"{rec['reliability_truth_spearman_top_k']:.3f}, concentration (share of the dSTRF variance "
          f"in 2 components) {rec['concentration_truth_spearman_top_k']:.3f}; concentration against "
          f"similarity {rec['concentration_truth_spearman']:.3f}")
    print(f"k rules (units with CNN r >= 0.5): k at the variance threshold within one of the "
          f"truth {rec['k_within_one']:.0%}, k by significance {rec['k_significant_within_one']:.0%}")
    print(f"similarity_mean={rec['similarity_mean']:.4f} "
          f"similarity_top_k_mean={rec['similarity_top_k_mean']:.4f} "
          f"k_within_one={rec['k_within_one']:.3f} k90_within_one={rec['k90_within_one']:.3f} "
          f"shape_correct={rec['shape_correct']:.3f} n_scored={rec['n_scored']} "
          f"oracle_similarity={oracle:.4f} dstrf_cosine_mean={cosine:.3f} pipeline_s={t_run:.0f} "
          f"k_significant_within_one={rec['k_significant_within_one']:.3f} "
          f"n_reliable={rec['n_reliable']} "
          f"similarity_reliable={rec['similarity_reliable_mean']:.4f} "
          f"similarity_unreliable={rec['similarity_unreliable_mean']:.4f} "
          f"reliability_truth_spearman_scored={rho_scored:.3f} "
          f"reliability_truth_spearman_top_k={rec['reliability_truth_spearman_top_k']:.3f} "
          f"concentration_truth_spearman={rec['concentration_truth_spearman']:.3f} "
          f"concentration_truth_spearman_top_k={rec['concentration_truth_spearman_top_k']:.3f} "
          f"reliability_truth_spearman={rec['reliability_truth_spearman']:.3f}")
    return 0


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman correlation over the pairs where both are finite (NaN below 3)."""
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(np.asarray(a)[ok]) == 0:
        return float("nan")
    return float(spearmanr(np.asarray(a)[ok], np.asarray(b)[ok])[0])


if __name__ == "__main__":
    sys.exit(main())
