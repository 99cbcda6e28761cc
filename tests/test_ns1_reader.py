"""NS1 converted to NWB and read back by the site reader gives the archive's exact counts."""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
from ndx_encoding_subspace.datasets.ns1 import convert_ns1, ns1_counts, ns1_sites
from ndx_encoding_subspace.io import ReaderParams, read_site


@pytest.mark.shared
def test_read_site_counts_equal_archive(ns1_npz, tmp_path):
    sites = ns1_sites(ns1_npz)
    name = min(sites, key=lambda s: len(sites[s]))  # the smallest site keeps this quick
    (path,) = convert_ns1(ns1_npz, tmp_path, sites=[name])
    site = read_site(path, reader=ReaderParams(), spectrogram=SpectrogramParams(n_channels=8))
    units = sites[name]
    expected = ns1_counts(ns1_npz, units, bin_size=0.01)
    assert site.n_units == len(units)
    assert len(site.sounds) == len(expected)
    total = 0
    for sound in site.sounds:
        clip = int("".join(ch for ch in sound.name if ch.isdigit()))
        want = expected[clip]
        assert sound.counts.shape == want.shape, sound.name
        np.testing.assert_array_equal(sound.counts, want)
        total += int(want.sum())
    assert total > 0
