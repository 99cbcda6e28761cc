"""Streaming PCA of every bin: peak memory stays bounded by the chunk size.

Streams the ensemble dSTRFs of two small CNNs over stimuli of two lengths the way the
pipeline does (:func:`~ndx_encoding_subspace.pipeline.stages.tuning_subspaces`): one pass for
the normalisers and the outlier statistics
(:func:`~ndx_encoding_subspace.dstrf.ensemble.ensemble_statistics`), one for the units'
and the site's subspaces
(:func:`~ndx_encoding_subspace.subspace.stream.streaming_site_subspaces`), each length in
a fresh process, and prints each run's peak resident memory (``ru_maxrss``) and its growth
over the process's memory before the run. At the shorter length it also times the
separate route (normalisers, then two passes for the units and two for the site) in
the same way and prints the ratio of the two times. Last line: ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

N_FREQ, N_UNITS, N_LAGS = 32, 4, 30


def run_one(n_bins: int, chunk: int, route: str = "shared") -> dict[str, float]:
    import numpy as np
    import torch

    from ndx_encoding_subspace.dstrf import DSTRFParams
    from ndx_encoding_subspace.dstrf.ensemble import (
        ensemble_statistics,
        iter_ensemble_dstrf_chunks,
        model_scales,
    )
    from ndx_encoding_subspace.models import PopulationCNN
    from ndx_encoding_subspace.subspace.pca import SubspaceParams
    from ndx_encoding_subspace.subspace.stream import streaming_site_subspaces, streaming_subspaces

    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = [PopulationCNN(N_FREQ, N_UNITS, mix_channels=20, hidden=(20, 20)).eval()
              for _ in range(2)]
    stim = np.random.default_rng(0).random((n_bins, N_FREQ)).astype(np.float32)
    params = DSTRFParams(n_lags=N_LAGS, chunk_size=chunk, device="cpu", sample_step=1,
                         max_samples=10**9)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    sub_params = SubspaceParams(noise_repeats=1, noise_max_samples=500)
    if route == "shared":
        stats = ensemble_statistics(models, stim, params)
        subs, _site = streaming_site_subspaces(
            lambda: iter_ensemble_dstrf_chunks(models, stim, "all", params, stats.scales),
            sub_params, "given", centre=stats.centre, rms=stats.rms)
    else:
        scales = model_scales(models, stim, params)

        def chunks():
            return iter_ensemble_dstrf_chunks(models, stim, "all", params, scales)

        def pooled():
            for c in chunks():
                yield c.values.reshape(-1, 1, *c.values.shape[2:])

        subs = streaming_subspaces(chunks, sub_params)
        streaming_subspaces(pooled, sub_params, units=[-1])
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"bins": n_bins, "peak_mb": peak, "growth_mb": peak - before, "seconds": took,
            "k_unit0": subs[0].k,
            "all_bins_mb": len(models) * n_bins * N_UNITS * N_FREQ * N_LAGS * 4 / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--route", default="shared", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.chunk, args.route)))
        return
    lengths = (1_000, 4_000) if args.quick else (10_000, 80_000)

    def fresh(n: int, route: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--chunk", str(args.chunk),
                              "--route", route], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    rows = []
    for n in lengths:
        row = fresh(n, "shared")
        rows.append(row)
        print(f"bins={n}: peak {row['peak_mb']:.0f} MB (growth {row['growth_mb']:.0f} MB) "
              f"while all dSTRFs would take {row['all_bins_mb']:.0f} MB; {row['seconds']:.1f} s")
    a, b = rows
    separate = fresh(lengths[0], "separate")
    ratio = separate["seconds"] / a["seconds"]
    print(f"bins={lengths[0]}, separate passes: {separate['seconds']:.1f} s, "
          f"{ratio:.2f}x the shared route")
    print(f"separate_over_shared={ratio:.2f} "
          f"bins_short={a['bins']} peak_mb_short={a['peak_mb']:.0f} bins_long={b['bins']} "
          f"peak_mb_long={b['peak_mb']:.0f} peak_ratio={b['peak_mb'] / a['peak_mb']:.2f} "
          f"dstrf_mb_long={b['all_bins_mb']:.0f}")


if __name__ == "__main__":
    main()
