"""NS1 benchmark (METHOD.md section 9): LN and population CNN, CCnorm / CCraw over 73 units.

Data: Harper et al. (2016), PLoS Comput Biol 12:e1005113 (``../shared/data/ns1``).
Protocol: 73 valid units as one population; test clips 3, 6, 9, 19 never used for fitting,
early stopping or any choice; 5 ms bins (999 per clip), trials smoothed with
[0.5, 1, 0.5], target = trial mean. Front end: this package's gammatone spectrogram
(32 channels, 200 Hz - 20 kHz, power^0.25, log(10x + 1), min-max scaled) at 5 ms bins.

Each model is fitted from several seeds on all 16 training clips (the last 20% held out
for early stopping inside each fit) with the paper's training defaults. Reported: mean and
median over units of CCnorm and CCraw, averaged over seeds (``*_seedavg``), and of the
seed ensemble (prediction averaged over seeds). The last line's ``ln_ccnorm_mean`` etc.
are the seed averages.

Reuse: :func:`fit_ns1` returns the fitted :class:`Ensemble` of one model kind.

Usage: ``python benchmarks/bench_ns1.py [--quick] [--seeds 3] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ndx_encoding_subspace.ensemble import Ensemble, EnsembleParams, fit_ensemble
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN
from ndx_encoding_subspace.ns1_site import load_ns1_site
from ndx_encoding_subspace.scores import score_model
from ndx_encoding_subspace.site import SiteData
from ndx_encoding_subspace.training import TrainingParams

DATA = Path(os.environ.get("NDX_ES_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NS1 = DATA / "ns1" / "ns1_compact.npz"


def ns1_site(path: Path = NS1) -> SiteData:
    """The NS1 benchmark site (73 units, test clips as validation sounds)."""
    return load_ns1_site(path)


def fit_ns1(kind: str, site: SiteData, seeds: tuple[int, ...] = (0, 1, 2), *, quick: bool = False,
            training: TrainingParams | None = None) -> Ensemble:
    """Fit ``kind`` ('ln' or 'cnn') once per seed; the members form one ensemble."""
    n_f, n_u = site.n_frequencies, site.n_units
    if kind == "cnn":
        make = (lambda: PopulationCNN(n_f, n_u, mix_channels=12, hidden=(12, 12))) if quick \
            else (lambda: PopulationCNN(n_f, n_u))
    elif kind == "ln":
        make = (lambda: LNPopulation(n_f, n_u, channels=12)) if quick else (lambda: LNPopulation(n_f, n_u))
    else:
        raise ValueError(f"kind must be 'ln' or 'cnn', got {kind!r}")
    training = training or TrainingParams(device="cpu", **({"max_epochs": 3} if quick else {}))
    fits = [fit_ensemble(site, make, training.replace(seed=s), EnsembleParams(n_jackknife=1, n_init=1))
            for s in seeds]
    return Ensemble(
        members=[m for f in fits for m in f.members], records=[r for f in fits for r in f.records],
        info=[i for f in fits for i in f.info], candidates=[c for f in fits for c in f.candidates],
    )


def evaluate(kind: str, ens: Ensemble, site: SiteData) -> dict[str, float]:
    """Per-seed and ensemble CCnorm / CCraw summaries."""
    per_seed = []
    for m in ens.members:
        single = Ensemble([m], [], [], [])
        per_seed.append(score_model(single.predict, site, n_shuffles=20).summary())
    joint = score_model(ens.predict, site, n_shuffles=20).summary()
    out = {}
    for key in ("ccnorm_mean", "ccnorm_median", "ccraw_mean", "ccraw_median"):
        vals = [s[key] for s in per_seed]
        out[f"{kind}_{key}"] = float(np.mean(vals))
        out[f"{kind}_{key}_seedsd"] = float(np.std(vals))
        out[f"{kind}_{key}_ens"] = joint[key]
    out[f"{kind}_epochs_mean"] = float(np.mean([r.epochs for r in ens.records]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models, 3 epochs, 1 seed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not NS1.exists():
        print(f"NS1 archive not found at {NS1}; skipped")
        print("skipped=1")
        return 0
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    site = ns1_site()
    seeds = (0,) if args.quick else tuple(range(args.seeds))
    results: dict[str, float] = {}
    for kind in ("ln", "cnn"):
        start = time.perf_counter()
        ens = fit_ns1(kind, site, seeds, quick=args.quick)
        results.update(evaluate(kind, ens, site))
        results[f"{kind}_fit_s"] = time.perf_counter() - start
        print(" ".join(f"{k}={v:.4f}" for k, v in results.items() if k.startswith(kind)), flush=True)
    results["seeds"] = len(seeds)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    results["total_s"] = time.perf_counter() - t0
    head = ["ln_ccnorm_mean", "ln_ccnorm_median", "cnn_ccnorm_mean", "cnn_ccnorm_median",
            "ln_ccraw_mean", "cnn_ccraw_mean"]
    order = head + [k for k in results if k not in head]
    print(" ".join(f"{k}={results[k]:.4f}" if isinstance(results[k], float) else f"{k}={results[k]}"
                   for k in order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
