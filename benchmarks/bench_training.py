"""Training throughput of the paper's population CNN (50 units, 32 channels).

Measures optimiser steps (forward, backward, Adam, L2) on random data in segments of
``segment_length`` bins plus the 28-bin context, as :func:`fit_model` runs them, and
reports estimation bins per second on 1 and 2 CPU threads (and CUDA when available).
On the CPU it also times the same steps with the FIR layers' weight gradient taken
through ``conv1d``'s own backward (oneDNN's depthwise weight gradient) instead of the
forward convolution the layers use (:func:`~ndx_encoding_subspace.models.layers.depthwise_conv`),
in the same run: ``fir_grad_speedup_{1,2}t`` is the ratio of their throughputs.

Batched members: one optimiser step of a :class:`~ndx_encoding_subspace.fitting.memberset.MemberSet`
of ``--members`` CNNs (stacked parameters under ``vmap``, as the ensembles train) against
the same step of a set of one, per member: ``batched_step_speedup_{1,2}t`` (above 1:
batching saves time per member). On the CPU a member's step is bound by its own
arithmetic and memory traffic, so batching saves only the per-operation overhead.

Extrapolation to a paper-scale site: 200,000 estimation bins, 8 jackknifes x 4
initialisations = 32 fits; each fit sees ``7/8`` of the bins per epoch, for
``--epochs`` epochs in all (both stages; ~400 per fit on NS1 with the defaults).
Seconds = 32 * epochs * 200,000 * 7/8 / throughput (fits one after another).

Usage: ``python benchmarks/bench_training.py [--quick] [--epochs 400] [--members 32]``.
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


def _member_step_seconds(ms, steps: int, batch: int) -> float:
    """Seconds per optimiser step of every member of ``ms`` at once (after one warm-up step)."""
    n = len(ms)
    opt, live = ms.optimizer([1e-3] * n), list(range(n))

    def step() -> None:
        sel = ms.permutations(live, "fit")[0][:, :batch]
        weights = ms.weights(live)
        total = ms.batch_losses(weights, live, sel, True).sum() + 1e-4 * ms.l2_penalty(weights)
        opt.zero_grad()
        total.backward()
        opt.step(live)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def batched_step_speedup(threads: int, members: int, *, steps: int, batch: int, segment: int) -> float:
    """Seconds per member of one step alone over the same in a set of ``members`` (CPU)."""
    import numpy as np

    from ndx_encoding_subspace.fitting.memberdata import own_data
    from ndx_encoding_subspace.fitting.memberset import MemberSet, layout
    from ndx_encoding_subspace.fitting.training_params import TrainingParams

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((2 * segment, 32)).astype(np.float32) for _ in range(2 * batch)]
    y = [rng.poisson(1.0, (2 * segment, 50)).astype(np.float32) for _ in range(2 * batch)]
    params = TrainingParams(segment_length=segment, batch_size=batch)
    per_member = []
    for n in (1, members):
        torch.manual_seed(0)
        models = [PopulationCNN(32, 50) for _ in range(n)]
        context, length = layout(models[0], params)
        data = own_data([x] * n, [y] * n, 0.2, context, length, torch.device("cpu"))
        ms = MemberSet(models, data, params, list(range(n)), torch.device("cpu"))
        per_member.append(_member_step_seconds(ms, steps, batch) / n)
    return per_member[0] / per_member[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=400, help="epochs per fit, both stages")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--segment", type=int, default=200)
    ap.add_argument("--members", type=int, default=32, help="members of the batched step")
    args = ap.parse_args(argv)
    steps = 3 if args.quick else 30
    out: dict[str, float] = {}
    for threads in (2, 1):
        out[f"cpu{threads}_bins_per_s"] = throughput("cpu", threads, steps=steps, batch=args.batch,
                                                     segment=args.segment)
        with conv1d_backward():
            reference = throughput("cpu", threads, steps=steps, batch=args.batch, segment=args.segment)
        out[f"fir_grad_speedup_{threads}t"] = out[f"cpu{threads}_bins_per_s"] / reference
        out[f"batched_step_speedup_{threads}t"] = batched_step_speedup(
            threads, 4 if args.quick else args.members, steps=max(2, steps // 3), batch=args.batch,
            segment=args.segment)
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
