"""dSTRF throughput for the paper CNN (50 units, D = 30) against the one-bin-at-a-time loop.

Prints, for 1 and 2 CPU threads (and the GPU when there is one): windows x units per
second of :func:`ndx_encoding_subspace.dstrf.dstrf`, of the reference loop
(``torch.autograd.functional.jacobian`` on one 30-bin window at a time, all units), the
float32 matrix-multiply rate measured in the same run, and the share of that rate the
batched dSTRF reaches, counting the minimum work of a reverse pass per window (every
layer evaluated only on the bins the last output depends on). The three timings are
taken in turn, ``--repeats`` rounds, and the best of each is kept, so that a busy spell
of the shared machine weighs on all of them alike. Last line: ``name=value``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
from ndx_encoding_subspace.models import PopulationCNN

N_FREQ, N_UNITS, N_LAGS = 32, 50, 30


def min_flop_per_window(u: int = N_UNITS) -> float:
    """Reverse pass of the paper CNN (32-90-100-120-U, FIR 15) for U outputs at one bin."""
    dense3 = 120 * 100
    dense2 = 15 * 100 * 90  # 15 bins feed the second FIR
    fir2 = 15 * 100
    fir1 = 15 * 15 * 90
    mix = 29 * 90 * 32
    return 2.0 * u * (dense3 + dense2 + fir2 + fir1 + mix)


def timed(fn) -> float:
    """Seconds taken by ``fn()``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def matmul_run(device: torch.device, n: int = 1024, repeats: int = 20):
    """A timed function and its FLOP count: ``repeats`` products of two n x n matrices."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)

    def run() -> None:
        for _ in range(repeats):
            a @ b
        _sync(device)

    return run, 2.0 * n**3 * repeats


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def loop_run(model: torch.nn.Module, stim: np.ndarray, n_windows: int):
    """The reference loop over ``n_windows`` windows and its count of windows x units."""
    padded = np.concatenate([np.zeros((N_LAGS - 1, N_FREQ), np.float32), stim])
    times = np.arange(100, 100 + n_windows)

    def run() -> None:
        for t in times:
            window = torch.from_numpy(padded[t:t + N_LAGS])[None]
            torch.autograd.functional.jacobian(lambda w: model(w)[0, -1], window)

    run()
    return run, n_windows * N_UNITS


def batched_run(model, stim, n_windows: int, device: str, chunk: int):
    """:func:`dstrf` on ``n_windows`` windows and its count of windows x units."""
    params = DSTRFParams(n_lags=N_LAGS, chunk_size=chunk, device=device)
    times = np.arange(n_windows)
    dstrf(model, stim, times[: min(n_windows, 2 * chunk)], params)  # warm-up

    def run() -> None:
        dstrf(model, stim, times, params)
        _sync(torch.device(device))

    return run, n_windows * N_UNITS


def best_rates(runs: dict, rounds: int) -> dict:
    """Work per second of each ``name: (fn, work)``, best over ``rounds`` taken in turn."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, (fn, _) in runs.items():
            best[name] = min(best[name], timed(fn))
    return {name: work / best[name] for name, (_, work) in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny run (CI smoke test)")
    parser.add_argument("--chunk", type=int, default=256, help="windows per chunk (CPU)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of timings (best of each kept)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = PopulationCNN(N_FREQ, N_UNITS).eval()
    with torch.no_grad():
        for layer in model.core_layers:
            if hasattr(layer, "shift"):
                layer.shift.normal_(0.0, 0.3)
    n_windows = 256 if args.quick else 2048
    best_of = 1 if args.quick else args.repeats
    n_loop = 3 if args.quick else 20
    stim = np.random.default_rng(0).random((n_windows + 200, N_FREQ)).astype(np.float32)
    flop = min_flop_per_window()
    print(f"minimum work: {flop / 1e6:.1f} MFLOP per window (reverse pass, {N_UNITS} units)")
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cpu = torch.device("cpu")
        rates = best_rates({"matmul": matmul_run(cpu), "loop": loop_run(model, stim, n_loop),
                            "batched": batched_run(model, stim, n_windows, "cpu", args.chunk)},
                           best_of)
        fast, loop, mm = rates["batched"], rates["loop"], rates["matmul"]
        share = 100.0 * fast / N_UNITS * flop / mm
        print(f"threads={threads}: batched {fast:,.0f} windows*units/s "
              f"({1e3 * N_UNITS / fast:.3f} ms/window), loop {loop:,.0f} windows*units/s "
              f"({1e3 * N_UNITS / loop:.1f} ms/window), speedup {fast / loop:.1f}x, "
              f"matmul {mm / 1e9:.1f} GFLOP/s, {share:.1f}% of it")
        results[threads] = (fast, loop, mm, share)
    line = {
        "windows_units_per_s_1t": f"{results[1][0]:.0f}",
        "windows_units_per_s_2t": f"{results[2][0]:.0f}",
        "loop_windows_units_per_s_2t": f"{results[2][1]:.0f}",
        "matmul_gflops_2t": f"{results[2][2] / 1e9:.1f}",
        "pct_of_matmul_1t": f"{results[1][3]:.1f}",
        "pct_of_matmul_2t": f"{results[2][3]:.1f}",
        "speedup_vs_loop_1t": f"{results[1][0] / results[1][1]:.1f}",
    }
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        rates = best_rates({"matmul": matmul_run(gpu, 4096),
                            "batched": batched_run(model, stim, n_windows, "cuda", 1024)}, best_of)
        fast, mm = rates["batched"], rates["matmul"]
        line["gpu_windows_units_per_s"] = f"{fast:.0f}"
        line["gpu_pct_of_matmul"] = f"{100.0 * fast / N_UNITS * flop / mm:.1f}"
    line["speedup_vs_loop"] = f"{results[2][0] / results[2][1]:.1f}"
    print(" ".join(f"{k}={v}" for k, v in line.items()))


if __name__ == "__main__":
    main()
