"""Tutorial 2: convert the NS1 data set into standard NWB files with the public writer API,
and read them back the way the NS1 benchmark (``benchmarks/bench_ns1.py``) does.

NS1: Harper, Schoppe, Willmore, Cui, Schnupp & King (2016), "Network receptive field
modeling reveals extensive integration and multi-feature selectivity in auditory cortical
neurons", PLoS Comput Biol 12:e1005113 (ferret primary auditory cortex, natural sounds).

Run from the repository root::

    python tutorials/02_ns1_to_nwb.py --quick          # one site
    python tutorials/02_ns1_to_nwb.py --out ns1_nwb    # all 30 sites (about 0.5 GB)

The archive is read from ``../shared/data/ns1/ns1_compact.npz`` (or ``$NDX_ES_SHARED_DATA``);
when it is absent the tutorial says so and exits without error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NDX_ES_SHARED_DATA", REPO.parent / "shared" / "data"))

# %% [markdown]
# ## 1. Where the data is
parser = argparse.ArgumentParser(description="Convert NS1 into one NWB file per recording site.")
parser.add_argument("--quick", action="store_true", help="convert one small site only")
parser.add_argument("--out", type=Path, default=Path("ns1_nwb"), help="output folder")
args = parser.parse_args()

npz = SHARED / "ns1" / "ns1_compact.npz"
if not npz.exists():
    print(f"skipped: the NS1 archive {npz} is absent (set NDX_ES_SHARED_DATA to its data folder)")
    sys.exit(0)

from pynwb import NWBHDF5IO  # noqa: E402

from ndx_encoding_subspace.data.spectrogram import bin_index  # noqa: E402
from ndx_encoding_subspace.datasets.ns1 import (  # noqa: E402
    NS1_BIN_S,
    convert_ns1,
    ns1_counts,
    ns1_sites,
    ns1_valid,
    read_ns1,
)

# %% [markdown]
# ## 2. Sites: units that share ``experiment/penetration`` were recorded together
sites = ns1_sites(npz)
valid = ns1_valid(npz)
print(f"{len(sites)} sites, {sum(len(u) for u in sites.values())} units, {valid.sum()} valid "
      "(single-unit label Yes or Maybe, depth >= 0)")
chosen = ["exp45_1x32/P03-SH.En.C.U"] if args.quick else list(sites)

# %% [markdown]
# ## 3. Convert. ``convert_ns1`` calls ``write_recording`` (the same API you would use for your
# own recordings): sounds as stimulus templates, presentations in
# ``intervals/sound_presentations``, spikes in the Units table.
paths = convert_ns1(npz, args.out, sites=chosen)
for site, path in zip(chosen, paths):
    print(f"{site:40s} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# ## 4. Read one file back with plain pynwb and check its spike counts against the archive
path, units = paths[0], sites[chosen[0]]
with NWBHDF5IO(str(path), "r") as io:
    nwb = io.read()
    print(nwb.units.to_dataframe()[["depth", "single_unit", "is_valid"]])
    table = nwb.intervals["sound_presentations"].to_dataframe()
    print(table[["start_time", "stop_time", "sound", "repeat", "is_test_clip"]].head())
    spikes = [nwb.units["spike_times"][i] for i in range(len(units))]

expected = ns1_counts(npz, units, bin_size=0.01)
n_bins = expected[0].shape[1]
mismatches = 0
for _, row in table.iterrows():
    for j, t in enumerate(spikes):
        b = bin_index(t - row["start_time"], 0.01)
        got = np.bincount(b[(b >= 0) & (b < n_bins)], minlength=n_bins)
        mismatches += int(np.any(got != expected[int(row["clip"])][int(row["repeat"]), :, j]))
print(f"presentations x units whose 10 ms counts differ from the archive: {mismatches}")

# %% [markdown]
# ## 5. Read the files as the benchmark does
# ``read_ns1`` passes each file through ``read_site`` (the reader for any NWB file: its
# spectrograms and spike counts, bin ``b`` holding the spikes with
# ``floor((t - onset) / bin_size) == b``), keeps the valid units of every file as one
# population and applies the NS1 protocol: test clips 3, 6, 9 and 19 as validation sounds,
# 999 bins of 5 ms per clip, each presentation smoothed with [0.5, 1, 0.5].
site = read_ns1(paths)
print(site.summary())
print(f"validation sounds: {site.validation}; {site.sounds[0].n_bins} bins of {NS1_BIN_S * 1000:g} ms")
print(f"sites_converted={len(paths)} count_mismatches={mismatches} protocol_units={site.n_units}")
