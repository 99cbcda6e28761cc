"""Tuning subspaces from the dSTRFs of every bin: time per pass, and the paper-size projection.

Runs the pipeline's streamed route for ``sample_step = 1``
(:func:`~ndx_encoding_subspace.pipeline.stages.tuning_subspaces` when the dSTRFs do not fit in
memory) on ``--models`` paper CNNs of 50 units and a random ``--bins``-bin stimulus:

1. the normalisers and outlier statistics pass
   (:func:`~ndx_encoding_subspace.dstrf.ensemble.ensemble_statistics`);
2. the units' and the site's subspaces
   (:func:`~ndx_encoding_subspace.subspace.stream.streaming_site_subspaces`);

and, for comparison, one pass that only computes the ensemble dSTRFs, so that the share
of the accumulators shows. The goal on a GPU is every bin of a 200,000-bin site for 50
units and 8 models in under 60 seconds. A shorter run is projected to 200,000 bins as a
fixed cost plus a cost per bin: the fixed cost, the subspaces' eigendecompositions and
noise floors (whose sample stops growing at ``SubspaceParams.noise_max_samples`` = 3,000
bins), is timed apart on the device at that size; the rest of the run is taken as
proportional to the number of bins.
Last line: ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ndx_encoding_subspace.dstrf import DSTRFParams
from ndx_encoding_subspace.dstrf.ensemble import ensemble_statistics, iter_ensemble_dstrf_chunks
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.models import PopulationCNN
from ndx_encoding_subspace.subspace.linalg import top_eigh
from ndx_encoding_subspace.subspace.pca import SubspaceParams, _noise_floor
from ndx_encoding_subspace.subspace.stream import streaming_site_subspaces

N_FREQ, PAPER_BINS = 32, 200_000


def finishing_seconds(device: torch.device, n: int) -> float:
    """Seconds of one subspace's eigendecomposition and noise floor on ``device``, from
    ``n`` samples of the paper's 32 x 30 dSTRFs (the reservoir's float32)."""
    x = torch.randn(n, N_FREQ * 30, device=device)
    x64 = x.double() - x.double().mean(dim=0)
    cov = x64.T @ x64 / (n - 1)
    top_eigh(cov, SubspaceParams().n_components)  # warm-up
    start = time.perf_counter()
    top_eigh(cov, SubspaceParams().n_components)
    _noise_floor(x, SubspaceParams(), float(torch.trace(cov)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny run (CI smoke test)")
    parser.add_argument("--device", default="auto", help="torch device (default: CUDA when present)")
    parser.add_argument("--bins", type=int, help="stimulus bins (default: 200,000 on a GPU, 6,000 on a CPU)")
    parser.add_argument("--models", type=int, default=8, help="ensemble members (paper: 8)")
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--chunk", type=int, help="windows per chunk (default: DSTRFParams' for the device)")
    args = parser.parse_args()
    if args.quick:
        args.bins, args.models, args.units = args.bins or 200, 2, 8
    for name in ("bins", "models", "units"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    try:
        device = DSTRFParams(device=args.device).torch_device()
        params = DSTRFParams(sample_step=1, max_samples=10**9, chunk_size=args.chunk,
                             device=str(device))
        chunk = params.windows_per_chunk()
    except ConfigError as err:
        parser.error(str(err))
    bins = args.bins or (PAPER_BINS if device.type == "cuda" else 6_000)

    torch.manual_seed(0)
    models = [PopulationCNN(N_FREQ, args.units).eval().to(device) for _ in range(args.models)]

    def stimuli(n: int) -> list[np.ndarray]:
        return [np.random.default_rng(n).random((n, N_FREQ)).astype(np.float32)]

    def route(n: int):
        """Seconds of the two passes over ``n`` bins, and the subspaces."""
        stim = stimuli(n)
        start = time.perf_counter()
        stats = ensemble_statistics(models, stim, params)
        first = time.perf_counter() - start
        start = time.perf_counter()
        subs = streaming_site_subspaces(
            lambda: iter_ensemble_dstrf_chunks(models, stim, None, params, stats.scales, as_tensor=True),
            SubspaceParams(), "given", centre=stats.centre, rms=stats.rms)
        return first, time.perf_counter() - start, subs

    route(64)  # warm-up: planning, libraries' first calls
    start = time.perf_counter()
    for _ in iter_ensemble_dstrf_chunks(models, stimuli(bins), None, params,
                                        np.ones((args.models, args.units))):
        pass
    dstrf_only = time.perf_counter() - start
    first, second, (units, site) = route(bins)
    total = first + second
    cap = SubspaceParams().noise_max_samples
    finish = (args.units * finishing_seconds(device, min(bins, cap))
              + finishing_seconds(device, min(bins * args.units, cap)))
    if bins >= PAPER_BINS:
        projected = total * PAPER_BINS / bins
    else:
        full = finish if bins >= cap else (args.units + 1) * finishing_seconds(device, cap)
        projected = full + max(0.0, total - finish) * PAPER_BINS / bins
    print(f"device {device}, {bins:,} bins, {args.models} models x {args.units} units, "
          f"chunks of {chunk} windows")
    print(f"pass 1 (normalisers, outlier statistics): {first:.1f} s; pass 2 (unit and site "
          f"subspaces): {second:.1f} s; ensemble dSTRFs alone: {dstrf_only:.1f} s per pass")
    print(f"of pass 2, the subspaces' eigenproblems and noise floors (a fixed cost, timed apart): "
          f"{finish:.1f} s")
    how = "" if bins >= PAPER_BINS else " (projected: fixed cost + the rest per bin)"
    print(f"every bin: {total:.1f} s, {bins / total:,.0f} bins/s; at {PAPER_BINS:,} bins: "
          f"{projected:.0f} s{how} (goal on a GPU: 60 s); "
          f"k of unit 0: {units[0].k}, site: {site.k}")
    print(f"device={device.type} bins={bins} models={args.models} units={args.units} "
          f"every_bin_s={total:.2f} dstrf_pass_s={dstrf_only:.2f} finish_s={finish:.1f} "
          f"projected_200k_s={projected:.0f}")


if __name__ == "__main__":
    main()
