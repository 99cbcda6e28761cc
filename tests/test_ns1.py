"""NS1 to NWB: counts read back with plain pynwb equal counts straight from the archive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from ndx_encoding_subspace.data.spectrogram import bin_index
from ndx_encoding_subspace.datasets.ns1 import (
    NS1_TEST_CLIPS,
    convert_ns1,
    ns1_counts,
    ns1_sites,
    ns1_valid,
    site_file_name,
)
from ndx_encoding_subspace.errors import InvalidDataError

pytestmark = pytest.mark.shared

SITE = "exp45_1x32/P03-SH.En.C.U"  # three units, small file


@pytest.fixture(scope="module")
def converted(ns1_npz: Path, tmp_path_factory) -> Path:
    (path,) = convert_ns1(ns1_npz, tmp_path_factory.mktemp("ns1"), sites=[SITE])
    return path


def counts_from_nwb(path: Path, bin_size: float, n_bins: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Counts per clip [repeats, bins, units] from the file, with plain pynwb."""
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ids = nwb.units.id[:]
        spikes = [nwb.units["spike_times"][i] for i in range(len(ids))]
        table = nwb.intervals["sound_presentations"].to_dataframe()
    out: dict[int, np.ndarray] = {}
    for _, row in table.iterrows():
        clip = int(row["sound"][4:])
        counts = np.zeros((n_bins, len(ids)), dtype=np.int64)
        for j, t in enumerate(spikes):
            b = bin_index(t[(t >= row["start_time"] - 1) & (t < row["start_time"] + 10)] - row["start_time"],
                          bin_size)
            b = b[(b >= 0) & (b < n_bins)]
            counts[:, j] = np.bincount(b, minlength=n_bins)
        out.setdefault(clip, {})[int(row["repeat"])] = counts
    return ids, {c: np.stack([reps[r] for r in sorted(reps)]) for c, reps in out.items()}


def test_sites_and_valid_units(ns1_npz):
    sites = ns1_sites(ns1_npz)
    assert len(sites) == 30
    assert sum(len(u) for u in sites.values()) == 119
    assert ns1_valid(ns1_npz).sum() == 73
    assert site_file_name(SITE) == "ns1_exp45_1x32_P03-SH.En.C.U.nwb"


@pytest.mark.parametrize("bin_size", [0.01, 0.005])
def test_counts_read_back_exactly(ns1_npz, converted, bin_size):
    units = ns1_sites(ns1_npz)[SITE]
    expected = ns1_counts(ns1_npz, units, bin_size)
    n_bins = expected[0].shape[1]
    ids, got = counts_from_nwb(converted, bin_size, n_bins)
    np.testing.assert_array_equal(ids, units)
    assert sorted(got) == list(range(20))
    for clip in range(20):
        assert got[clip].shape == (20, n_bins, len(units))
        np.testing.assert_array_equal(got[clip], expected[clip])
    assert sum(e.sum() for e in expected.values()) > 1000


def test_file_contents(ns1_npz, converted):
    data = np.load(ns1_npz)
    units = ns1_sites(ns1_npz)[SITE]
    with NWBHDF5IO(str(converted), "r") as io:
        nwb = io.read()
        clip = nwb.stimulus_template["clip07"]
        np.testing.assert_array_equal(clip.data[:], data["wavs"][7])
        assert clip.rate == float(data["wav_fs"])
        np.testing.assert_array_equal(nwb.units["depth"][:], data["unit_depth_um"][units])
        assert list(nwb.units["single_unit"][:]) == list(data["unit_singleT"][units])
        np.testing.assert_array_equal(nwb.units["is_valid"][:], ns1_valid(ns1_npz)[units])
        table = nwb.intervals["sound_presentations"].to_dataframe()
        assert len(table) == 400
        assert set(table.loc[table["is_test_clip"], "clip"]) == set(NS1_TEST_CLIPS)
        starts = table["start_time"].to_numpy()
        assert np.all(np.diff(starts) > 5.242)  # windows never overlap
        # every spike lies inside a recorded window of its unit
        for i in range(len(units)):
            t = nwb.units["spike_times"][i]
            obs = nwb.units["obs_intervals"][i]
            k = np.searchsorted(obs[:, 0], t, side="right") - 1
            assert np.all(k >= 0) and np.all(t <= obs[k, 1])
            assert t.size == int(((data["unit"] == units[i]) & (data["stim_set"] < 20)).sum())


def test_passes_nwbinspector(converted):
    nwbinspector = pytest.importorskip("nwbinspector")
    messages = list(nwbinspector.inspect_nwbfile(
        nwbfile_path=converted, importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION,
    ))
    assert messages == [], [m.message for m in messages]


def test_unknown_site(ns1_npz, tmp_path):
    with pytest.raises(InvalidDataError, match="unknown NS1 site"):
        convert_ns1(ns1_npz, tmp_path, sites=["nope/nope"])
