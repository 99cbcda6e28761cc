"""Simulated site: ground truth, its storage, and consistency with what the pipeline computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from ndx_encoding_subspace.data.spectrogram import minmax_scale, spectrogram
from ndx_encoding_subspace.datasets.simulated.site import (
    KINDS,
    SimulationParams,
    _drive,
    load_truth,
    simulate_site,
    unit_rates,
)
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError

SMALL = SimulationParams(
    n_units=9, n_estimation_sounds=8, estimation_duration=0.6, n_validation_sounds=2,
    validation_duration=0.5, validation_repeats=6, sample_rate=44100.0, seed=3,
)


@pytest.fixture(scope="module")
def site():
    return simulate_site(SMALL)


@pytest.fixture(scope="module")
def nwb_path(site, tmp_path_factory) -> Path:
    return site.write_nwb(tmp_path_factory.mktemp("sim") / "site.nwb")


def test_truth_structure(site):
    truth = site.truth
    assert truth.shared_filters.shape == (8, 32, 20)
    assert {u.kind for u in truth.units} == set(KINDS)
    assert sum(u.cell_type == "narrow" for u in truth.units) == round(0.25 * 9)
    for u in truth.units:
        assert 2 <= u.k <= 6 and u.filters.shape == (u.k, 32, 20)
        flat = u.filters.reshape(u.k, -1)
        np.testing.assert_allclose(flat @ flat.T, np.eye(u.k), atol=1e-10)
        # the orthonormal basis spans the generating filters
        raw = u.raw_filters.reshape(u.k, -1)
        np.testing.assert_allclose(raw @ flat.T @ flat, raw, atol=1e-10)
        assert 1 <= len(u.shared_members) <= min(3, u.k)
        low, high = (0.15, 0.35) if u.cell_type == "narrow" else (0.45, 0.85)
        assert low < u.spike_width_ms < high


def test_shared_members_lie_in_unit_subspace(site):
    """Sparse tiling: each unit's subspace contains the shared filters it draws on."""
    for u in site.truth.units:
        basis = u.filters.reshape(u.k, -1)
        for m in u.shared_members:
            w = site.truth.shared_filters[m].ravel()
            assert np.linalg.norm(basis @ w) == pytest.approx(np.linalg.norm(w), rel=1e-8)


def test_nonlinearity_shapes():
    z = np.linspace(-3, 3, 61)[:, None]
    base = dict(weights=(1.0,), thresholds=(0.2,), gamma=1.5)
    up = _drive(z, dict(base, kind="symmetric_up"))
    down = _drive(z, dict(base, kind="symmetric_down"))
    rect = _drive(z, dict(base, kind="rectifying"))
    np.testing.assert_allclose(up, up[::-1])
    np.testing.assert_allclose(down, down[::-1])
    assert up[30] == 0 and np.all(np.diff(up[30:]) > 0)
    assert down[30] == 1 and np.all(np.diff(down[30:]) < 0)
    assert np.all(rect[z[:, 0] <= 0.2] == 0) and np.all(np.diff(rect[z[:, 0] > 0.2]) > 0)


def test_rates_follow_from_truth(site):
    for name, spec in site.spectrograms.items():
        np.testing.assert_allclose(site.rates[name], unit_rates(site.truth, spec), rtol=1e-10, atol=1e-10)
    allr = np.concatenate(list(site.rates.values()))
    assert np.all(allr >= 0) and allr.max() <= SMALL.max_rate


def test_presentations_and_spikes(site):
    pres = sorted(site.presentations)
    n_val = sum(name in site.validation for _, _, name in pres)
    assert n_val == 2 * 6 and len(pres) - n_val == 8
    for (_, a1, _), (b0, _, _) in zip(pres, pres[1:]):
        assert b0 - a1 >= SMALL.n_lags * SMALL.bin_size - 1e-9
    for (t0, t1, name) in pres:
        assert t1 - t0 == pytest.approx(site.spectrograms[name].shape[0] * SMALL.bin_size)
    end = pres[-1][1] + SMALL.gap
    for times in site.spike_times:
        assert np.all(np.diff(times) >= 0) and times.min() > 0 and times.max() < end


def test_spectrograms_reproduced_from_the_nwb_file(site, nwb_path):
    """The truth lives in the space the pipeline computes from the file."""
    with NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        names = list(nwb.stimulus_template)
        waves = [(nwb.stimulus_template[n].data[:], nwb.stimulus_template[n].rate) for n in names]
        table = nwb.intervals["sound_presentations"].to_dataframe()
    specs = minmax_scale([spectrogram(w, r) for w, r in waves])
    for name, spec in zip(names, specs):
        np.testing.assert_array_equal(spec, site.spectrograms[name])
    assert set(table["sound"]) == set(site.sounds)
    assert table["validation"].sum() == 12


def test_counts_match_rates(site, nwb_path):
    """Mean validation counts per bin follow the true rate (Poisson)."""
    with NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        spikes = [nwb.units["spike_times"][i] for i in range(len(nwb.units))]
        table = nwb.intervals["sound_presentations"].to_dataframe()
    total_expected = total_observed = 0.0
    for _, row in table.iterrows():
        n_bins = site.spectrograms[row["sound"]].shape[0]
        for i, t in enumerate(spikes):
            rel = t[(t >= row["start_time"]) & (t < row["start_time"] + n_bins * 0.01)] - row["start_time"]
            total_observed += rel.size
            total_expected += site.rates[row["sound"]][:, i].sum() * 0.01
    assert total_observed == pytest.approx(total_expected, rel=5 * total_expected**-0.5)


def test_truth_round_trip(site, nwb_path):
    loaded = load_truth(nwb_path)
    assert loaded.params == SMALL
    np.testing.assert_allclose(loaded.shared_filters, site.truth.shared_filters, atol=1e-6)
    for a, b in zip(loaded.units, site.truth.units):
        assert (a.kind, a.k, a.cell_type, a.shared_members) == (b.kind, b.k, b.cell_type, b.shared_members)
        np.testing.assert_allclose(a.filters, b.filters, atol=1e-6)
        assert a.depth_um == b.depth_um and a.mu == b.mu
    spec = site.spectrograms["val00"]
    np.testing.assert_allclose(unit_rates(loaded, spec), site.rates["val00"], rtol=1e-3, atol=1e-3)


def test_nwb_passes_inspector(nwb_path):
    nwbinspector = pytest.importorskip("nwbinspector")
    messages = list(nwbinspector.inspect_nwbfile(
        nwbfile_path=nwb_path, importance_threshold=nwbinspector.Importance.BEST_PRACTICE_VIOLATION,
    ))
    assert messages == [], [m.message for m in messages]


def test_deterministic_by_seed():
    p = SimulationParams.quick(n_units=3, n_estimation_sounds=2, n_validation_sounds=1,
                               validation_repeats=2, estimation_duration=0.3, validation_duration=0.3)
    a, b = simulate_site(p), simulate_site(p)
    c = simulate_site(p.replace(seed=1))
    np.testing.assert_array_equal(a.sounds["est000"], b.sounds["est000"])
    for x, y in zip(a.spike_times, b.spike_times):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.sounds["est000"], c.sounds["est000"])


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="gap"):
        SimulationParams(gap=0.05)
    with pytest.raises(ConfigError, match="max_dim"):
        SimulationParams(min_dim=4, max_dim=3)
    other = tmp_path / "plain.nwb"
    other.write_bytes(b"")
    import h5py

    with h5py.File(other, "w") as f:
        f.create_group("scratch")
    with pytest.raises(InvalidDataError, match="plain.nwb"):
        load_truth(other)


def test_true_directions_are_driven_by_the_sounds(site):
    """Every generating filter is an uncorrelated, well-driven direction of the stimulus."""
    from ndx_encoding_subspace.datasets.simulated.site import _window_covariance

    cov = _window_covariance(list(site.spectrograms.values()), SMALL.n_lags)
    ratios = []
    for u in site.truth.units:
        flat = u.raw_filters.reshape(u.k, -1)
        np.testing.assert_allclose(flat @ flat.T, np.eye(u.k), atol=1e-10)
        c = flat @ cov @ flat.T
        np.testing.assert_allclose(c - np.diag(np.diag(c)), 0, atol=1e-8 * c.max())
        ratios.append(np.diag(c).max() / np.diag(c).min())
    assert np.median(ratios) <= SMALL.max_drive_ratio, ratios


def test_chord_bed_enriches_the_stimulus():
    """The random-chord bed multiplies the well-driven spectro-temporal directions."""
    from ndx_encoding_subspace.datasets.simulated.site import _window_covariance

    def n_directions(level: float) -> int:
        p = SMALL.replace(n_units=2, n_estimation_sounds=6, n_validation_sounds=1, chord_bed_level=level)
        ev = np.linalg.eigvalsh(_window_covariance(list(simulate_site(p).spectrograms.values()), 10))
        return int((ev > 1e-2 * ev.max()).sum())

    assert n_directions(-6.0) > 2 * n_directions(-200.0)
