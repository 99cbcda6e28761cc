"""Spectrogram speed as a multiple of real time on one core, for 44.1 kHz audio.

Times :func:`ndx_encoding_subspace.data.spectrogram.spectrogram` (default parameters: 32
gammatone channels, 200 Hz-20 kHz, 10 ms bins) on noise with one thread for numpy/scipy
and torch; reports the best of several runs. Goal: at least 100x real time.

Last line: ``realtime_factor=... seconds_audio=... seconds_compute=... filterbank=...``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams, spectrogram  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short audio, few repeats")
    parser.add_argument("--seconds", type=float, default=None, help="audio length (default 30, quick 3)")
    parser.add_argument("--filterbank", default="gammatone", choices=["gammatone", "log"])
    parser.add_argument("--sample-rate", type=float, default=44100.0)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    repeats = 2 if args.quick else 5
    params = SpectrogramParams(filterbank=args.filterbank)
    audio = np.random.default_rng(0).standard_normal(int(seconds * args.sample_rate)).astype(np.float32)
    spectrogram(audio[: int(args.sample_rate)], args.sample_rate, params)  # warm up FFT plans
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = spectrogram(audio, args.sample_rate, params)
        best = min(best, time.perf_counter() - start)
    print(f"output shape {out.shape}, best of {repeats}: {best:.4f} s for {seconds:g} s of audio")
    print(f"realtime_factor={seconds / best:.1f} seconds_audio={seconds:g} seconds_compute={best:.4f} "
          f"filterbank={args.filterbank}")


if __name__ == "__main__":
    main()
