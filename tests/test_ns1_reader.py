"""NS1 converted to NWB and read back by the site reader gives the archive's exact counts.

The sites and the binning are those of ``benchmarks/bench_ns1.py``: every site holding a
valid unit, 5 ms bins, 999 bins per clip. The expected counts are computed here from the
archive with the protocol's plain rule (bin ``floor(t_ms / 5)``, spikes 0-4995 ms), not
with the package's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
from ndx_encoding_subspace.datasets.ns1 import (
    NS1_BIN_S,
    NS1_N_BINS,
    NS1_TEST_CLIPS,
    clip_name,
    convert_ns1,
    ns1_sites,
    ns1_valid,
    protocol_sites,
    read_ns1,
)
from ndx_encoding_subspace.io import ReaderParams, read_site

pytestmark = pytest.mark.shared

# the counts do not depend on the front end: one channel keeps the reads short
FRONT_END = SpectrogramParams(bin_size=NS1_BIN_S, n_channels=1)


@pytest.fixture(scope="module")
def protocol_files(ns1_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The benchmark's sites converted with the public converter (uncompressed: faster)."""
    sites = protocol_sites(ns1_npz)
    paths = convert_ns1(ns1_npz, tmp_path_factory.mktemp("ns1-protocol"), sites=sites, compression=False)
    return dict(zip(sites, paths, strict=True))


@pytest.fixture(scope="module")
def archive(ns1_npz: Path) -> dict[str, np.ndarray]:
    keys = ("spike_times_ms", "unit", "stim_set", "repeat", "n_repeats")
    with np.load(ns1_npz) as d:
        return {k: d[k] for k in keys}


def expected_counts(archive: dict[str, np.ndarray], unit: int, clip: int) -> np.ndarray:
    """Counts [repeats, 999] of one unit and clip, bin ``floor(t_ms / 5)`` of 0 <= t < 4995 ms."""
    reps = int(archive["n_repeats"][unit, clip])
    m = (archive["unit"] == unit) & (archive["stim_set"] == clip)
    t = archive["spike_times_ms"][m].astype(np.float64)
    rep = archive["repeat"][m].astype(np.int64)
    inside = (t >= 0) & (t < NS1_N_BINS * 5.0)
    out = np.zeros((reps, NS1_N_BINS), dtype=np.int64)
    np.add.at(out, (rep[inside], np.floor(t[inside] / 5.0).astype(np.int64)), 1)
    return out


def test_benchmark_sites(ns1_npz):
    sites = protocol_sites(ns1_npz)
    valid = ns1_valid(ns1_npz)
    units = ns1_sites(ns1_npz)
    assert len(sites) == 27
    assert sum(int(valid[units[s]].sum()) for s in sites) == valid.sum() == 73


def test_read_site_counts_equal_archive(ns1_npz, protocol_files, archive):
    reader = ReaderParams(validation_sounds=tuple(clip_name(c) for c in NS1_TEST_CLIPS))
    all_sites = ns1_sites(ns1_npz)
    mismatches, presentations, spikes = [], 0, 0
    for name, path in protocol_files.items():
        units = all_sites[name]
        site = read_site(path, reader=reader, spectrogram=FRONT_END)
        np.testing.assert_array_equal(site.units.ids, units)
        assert [s.name for s in site.sounds] == [clip_name(c) for c in range(20)]
        assert site.validation == tuple(clip_name(c) for c in NS1_TEST_CLIPS)
        for clip, sound in enumerate(site.sounds):
            got = sound.counts[:, :NS1_N_BINS].astype(np.int64)
            for j, unit in enumerate(units):
                want = expected_counts(archive, int(unit), clip)
                if got.shape[0] != want.shape[0] or not np.array_equal(got[:, :, j], want):
                    mismatches.append((name, int(unit), clip, got.shape[0], want.shape[0]))
                presentations += want.shape[0]
                spikes += int(want.sum())
    assert not mismatches, f"(site, unit, clip, presentations read, in archive): {mismatches[:10]}"
    assert presentations == 20 * 20 * sum(len(all_sites[s]) for s in protocol_files)
    assert spikes > 1_000_000


def test_read_ns1_protocol_site(ns1_npz, protocol_files, archive):
    names = list(protocol_files)[:3]
    site = read_ns1([protocol_files[n] for n in names], FRONT_END)
    valid = ns1_valid(ns1_npz)
    units = np.sort(np.concatenate([u[valid[u]] for u in (ns1_sites(ns1_npz)[n] for n in names)]))
    np.testing.assert_array_equal(site.units.ids, units)
    assert site.validation == tuple(clip_name(c) for c in NS1_TEST_CLIPS)
    assert len(site.estimation) == 16 and site.bin_size == NS1_BIN_S
    assert sorted(u for ids in site.source["recording_sites"].values() for u in ids) == list(units)
    for clip in (0, 19):
        sound = site.sound(clip_name(clip))
        assert sound.spectrogram.shape == (NS1_N_BINS, 1)
        raw = np.stack([expected_counts(archive, int(u), clip) for u in units], axis=-1).astype(np.float32)
        smoothed = raw.copy()
        smoothed[:, 1:] += 0.5 * raw[:, :-1]
        smoothed[:, :-1] += 0.5 * raw[:, 1:]
        np.testing.assert_array_equal(sound.counts, smoothed)


def test_read_ns1_refuses_other_bins(protocol_files):
    from ndx_encoding_subspace.errors import InputError

    with pytest.raises(InputError, match="5 ms"):
        read_ns1(list(protocol_files.values())[:1], SpectrogramParams(bin_size=0.01))
