"""Training throughput of the paper's population CNN (50 units, 32 channels).

Measures optimiser steps (forward, backward, Adam, L2) on random data in segments of
``segment_length`` bins plus the 28-bin context, as :func:`fit_model` runs them, and
reports estimation bins per second on 1 and 2 CPU threads (and CUDA when available).
On the CPU it also times the same steps with the FIR layers' weight gradient taken
through ``conv1d``'s own backward (oneDNN's depthwise weight gradient) instead of the
forward convolution the layers use (:func:`~ndx_encoding_subspace.models.layers.depthwise_conv`),
in the same run: ``fir_grad_speedup_{1,2}t`` is the ratio of their throughputs.

Extrapolation to a paper-scale site: 200,000 estimation bins, 8 jackknifes x 4
initialisations = 32 fits; each fit sees ``7/8`` of the bins per epoch, for
``--epochs`` epochs in all (both stages; ~400 per fit on NS1 with the defaults).
Seconds = 32 * epochs * 200,000 * 7/8 / throughput (fits one after another).

Usage: ``python benchmarks/bench_training.py [--quick] [--epochs 400]``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator

import torch

from ndx_encoding_subspace.models import PopulationCNN, layers


@contextlib.contextmanager
def conv1d_backward() -> Iterator[None]:
    """The FIR layers through plain ``conv1d`` (autograd's own weight gradient) meanwhile."""
    mine = layers.depthwise_conv
    layers.depthwise_conv = lambda z, w: torch.nn.functional.conv1d(z, w, groups=w.shape[0])
    try:
        yield
    finally:
        layers.depthwise_conv = mine


def throughput(device: str, threads: int, *, steps: int, batch: int, segment: int) -> float:
    """Bins per second of training steps (the context bins are not counted)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PopulationCNN(32, 50).to(device)
    ctx = model.receptive_field - 1
    x = torch.rand(batch, segment + ctx, 32, device=device)
    y = torch.rand(batch, segment, 50, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]

    def step() -> None:
        out = model.core(x)[:, ctx:]
        loss = ((out - y) ** 2).mean() + 1e-4 * sum((w ** 2).sum() for w in weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch * segment / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=400, help="epochs per fit, both stages")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--segment", type=int, default=200)
    args = ap.parse_args(argv)
    steps = 3 if args.quick else 30
    out: dict[str, float] = {}
    for threads in (2, 1):
        out[f"cpu{threads}_bins_per_s"] = throughput("cpu", threads, steps=steps, batch=args.batch,
                                                     segment=args.segment)
        with conv1d_backward():
            reference = throughput("cpu", threads, steps=steps, batch=args.batch, segment=args.segment)
        out[f"fir_grad_speedup_{threads}t"] = out[f"cpu{threads}_bins_per_s"] / reference
    if torch.cuda.is_available():
        for batch in (args.batch, 64):
            out[f"cuda_b{batch}_bins_per_s"] = throughput("cuda", 1, steps=steps * 3, batch=batch,
                                                          segment=args.segment)
    work = 32 * args.epochs * 200_000 * 7 / 8
    for key in [k for k in out if k.endswith("bins_per_s")]:
        out[key.replace("bins_per_s", "paper_site_min")] = work / out[key] / 60.0
    out["needed_bins_per_s_for_10min"] = work / 600.0
    print(" ".join(f"{k}={v:.3g}" if "speedup" in k else f"{k}={v:.1f}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
