"""Bytes read when a site is streamed from a DANDI-like server, against the file size.

Builds an NWB file of about 200 MB (``--quick``: about 20 MB) -- raw int16 voltage traces
in ``acquisition`` (what makes real files large), a Units table, sound templates and a
presentation table -- serves it from a local DANDI-like server (127.0.0.1) and reads the
site (units, presentations, sounds and their spectrograms) through the dandi client and
remfile. Prints the bytes the server sent.

Last line: ``bytes_read_ratio=... bytes_read=... file_bytes=... stream_s=... inspect_ratio=...``
(goal: ``bytes_read_ratio <= 0.10``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from pynwb import TimeSeries

from ndx_encoding_subspace.io import ReaderParams, inspect_nwb, read_site
from ndx_encoding_subspace.testing.dandi_server import MockDandiServer
from ndx_encoding_subspace.testing.files import mock_site

ASSET = "sub-bench/sub-bench_ses-1_ecephys.nwb"


def build(path: Path, megabytes: float, n_units: int, n_sounds: int) -> Path:
    """Write the benchmark file: raw traces of ``megabytes`` MB plus a small site."""
    n_channels = 64
    n_samples = int(megabytes * 1e6 / (2 * n_channels))
    duration = n_samples / 30000.0
    repeats = tuple([1] * (n_sounds - 2) + [8, 8])
    site = mock_site(
        n_units=n_units,
        n_sounds=n_sounds,
        repeats=repeats,
        duration=1.0,
        rate=16000.0,
        gap=0.5,
        waveforms=False,
        extra_time=max(1.0, duration - (sum(repeats) * 1.5 + 0.5)),
    )
    rng = np.random.default_rng(0)
    raw = rng.integers(-2000, 2000, size=(n_samples, n_channels), dtype=np.int16)
    site.nwbfile.add_acquisition(
        TimeSeries(
            name="raw_voltage",
            data=raw,
            unit="V",
            rate=30000.0,
            conversion=0.195e-6,
            description="raw traces",
        )
    )
    return site.write(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 20 MB instead of 200 MB")
    parser.add_argument("--megabytes", type=float, default=None, help="raw data size, MB")
    args = parser.parse_args()
    megabytes = args.megabytes or (20.0 if args.quick else 200.0)
    os.environ.setdefault("DANDI_NO_ET", "1")
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp) / "bench.nwb", megabytes, n_units=32, n_sounds=6 if args.quick else 12)
        size = path.stat().st_size
        print(f"file: {size / 1e6:.1f} MB")
        with MockDandiServer({ASSET: path}) as server:
            params = ReaderParams(dandi_api_url=server.api_url)
            start = time.perf_counter()
            report = inspect_nwb(f"DANDI:000123/{ASSET}", reader=params)
            inspect_bytes = server.bytes_served
            print(f"inspect: {inspect_bytes} bytes ({report.use['presentations']} presentations)")
            server.reset_counters()
            start = time.perf_counter()
            site = read_site(f"DANDI:000123/{ASSET}", reader=params)
            took = time.perf_counter() - start
            served = server.bytes_served
            print(
                f"site: {site.n_units} units, {len(site.sounds)} sounds, "
                f"{server.range_requests} requests, {served} bytes in {took:.2f} s"
            )
    print(
        f"bytes_read_ratio={served / size:.4f} bytes_read={served} file_bytes={size} "
        f"stream_s={took:.2f} inspect_ratio={inspect_bytes / size:.4f}"
    )


if __name__ == "__main__":
    main()
