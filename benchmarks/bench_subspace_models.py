"""Subspace-model fitting: all units' networks batched against one fit after another.

Simulated units of an NS1-sized site (16 estimation sounds of 999 bins, k from 2 to 6
projections, rectified and squared tuning plus Poisson noise) are fitted with the
default training schedule (two stages, early stopping). ``--compare`` members spread
over the site are fitted one after another with :func:`fit_model` and together with
:func:`fit_members`, in the same run; then every unit x initialisation of the site is
fitted in one batched call. Fitted alone, a member costs a fixed time per epoch, so the
sequential time of the whole site is estimated as the measured seconds per epoch times
the site's total epochs (each member runs the same epochs either way; checked).

Last line: ``sequential_ms_per_epoch``, ``batched_ms_per_member_epoch`` (whole site),
``speedup_same_members`` (the ``--compare`` members both ways) and ``speedup_site``
(estimated sequential seconds for the site / batched seconds).

Usage: ``python benchmarks/bench_subspace_models.py [--quick] [--units 24] [--n-init 4]``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch

from ndx_encoding_subspace.fitting.members import fit_members
from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model
from ndx_encoding_subspace.models import SubspaceNetwork
from ndx_encoding_subspace.nonlinearity.subspace_model import _padded


def site(units: int, n_init: int, sounds: int, bins: int, k_max: int = 6):
    """Networks (zero-padded to ``k_max`` inputs), inputs and targets of every member."""
    rng = np.random.default_rng(0)
    nets, inputs, targets, seeds = [], [], [], []
    for u in range(units):
        k = 2 + u % (k_max - 1)
        x = [rng.normal(size=(bins, k)).astype(np.float32) for _ in range(sounds)]
        w = rng.normal(size=k) / np.sqrt(k)
        rate = [0.1 * np.exp(0.8 * np.maximum(a @ w, 0) + 0.3 * a[:, -1] ** 2 - 0.3) for a in x]
        y = [(rng.poisson(np.tile(r, (10, 1))).mean(0))[:, None].astype(np.float32) for r in rate]
        for i in range(n_init):
            torch.manual_seed(1000 * u + i)
            nets.append(_padded(SubspaceNetwork(k), k_max))
            inputs.append([np.pad(a, ((0, 0), (0, k_max - k))) for a in x])
            targets.append(y)
            seeds.append(1000 * u + i)
    return nets, inputs, targets, seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--units", type=int, default=24)
    ap.add_argument("--n-init", type=int, default=4)
    ap.add_argument("--compare", type=int, default=8, help="members fitted both ways")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.units, args.n_init, args.compare = 2, 2, 2
        params = TrainingParams(max_epochs=4, patience=2, device="cpu")
        sounds, bins = 4, 300
    else:
        params = TrainingParams(device="cpu")
        sounds, bins = 16, 999
    nets, inputs, targets, seeds = site(args.units, args.n_init, sounds, bins)
    c = min(args.compare, len(nets))
    picked = np.linspace(0, len(nets) - 1, c).round().astype(int)
    warm = params.replace(max_epochs=1)
    fit_model(copy.deepcopy(nets[0]), inputs[0], targets[0], warm)
    fit_members([copy.deepcopy(nets[0])], inputs[:1], targets[:1], warm)

    start = time.perf_counter()
    alone = [fit_model(copy.deepcopy(nets[i]), inputs[i], targets[i], params.replace(seed=seeds[i]))
             for i in picked]
    seq_s = time.perf_counter() - start
    start = time.perf_counter()
    together = fit_members([copy.deepcopy(nets[i]) for i in picked], [inputs[i] for i in picked],
                           [targets[i] for i in picked], params, [seeds[i] for i in picked])
    same_s = time.perf_counter() - start
    start = time.perf_counter()
    records = fit_members(nets, inputs, targets, params, seeds)
    site_s = time.perf_counter() - start
    same = all(a.epochs == b.epochs == records[i].epochs for a, b, i in zip(alone, together, picked))

    epochs = [r.epochs for r in records]
    per_epoch = seq_s / sum(r.epochs for r in alone)
    print(f"threads {args.threads}; {args.units} units x {args.n_init} initialisations = {len(nets)} "
          f"members, {sounds} sounds x {bins} bins; epochs per member {min(epochs)}-{max(epochs)} "
          f"(median {int(np.median(epochs))})")
    print(f"{c} members one after another: {seq_s:.1f} s; together: {same_s:.1f} s "
          f"(same epoch counts: {same}); all {len(nets)} together: {site_s:.1f} s")
    out = {
        "sequential_ms_per_epoch": 1000 * per_epoch,
        "batched_ms_per_member_epoch": 1000 * site_s / sum(epochs),
        "speedup_same_members": seq_s / same_s,
        "speedup_site": per_epoch * sum(epochs) / site_s,
    }
    print(" ".join(f"{k}={v:.3f}" for k, v in out.items()))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
