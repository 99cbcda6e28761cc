"""Time the main job: ``encoding-subspace demo`` (simulate, fit, subspaces, NWB, report).

Goal: the default demo in under 10 minutes, ``--quick`` in under 2, on a 2-core machine.
Because the machine may be shared, a float32 matmul rate measured in the same run is
printed beside the times, so that runs on different days can be compared.

Last line: ``demo_seconds=... matmul_gflops=... similarity_mean=... ...``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Float32 matmul rate of this process's torch threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick demo (CI smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="keep outputs here")
    args = parser.parse_args()
    from ndx_encoding_subspace.pipeline.demo import run_demo

    rate = matmul_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "demo"
        start = time.perf_counter()
        summary = run_demo(out, quick=args.quick, progress=False)
        seconds = time.perf_counter() - start
        print(summary.format())
        rec = summary.recovery
        print(f"demo_seconds={seconds:.1f} quick={int(args.quick)} threads={torch.get_num_threads()} "
              f"matmul_gflops={rate:.1f} similarity_mean={rec['similarity_mean']:.3f} "
              f"k_within_one={rec['k_within_one']:.2f} shape_correct={rec['shape_correct']:.2f} "
              f"n_scored={rec['n_scored']}")


if __name__ == "__main__":
    main()
