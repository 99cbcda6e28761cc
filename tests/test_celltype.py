"""Spike width through spikeinterface's template metrics, and the narrow/regular class."""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace.data.celltype import CellTypeParams, classify, spike_widths
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError

FS = 30000.0


def biphasic(trough: int, gap: int, n: int = 90, sigma: float = 1.5, peak_ratio: float = 0.4) -> np.ndarray:
    t = np.arange(n)
    return (-np.exp(-0.5 * ((t - trough) / sigma) ** 2)
            + peak_ratio * np.exp(-0.5 * ((t - trough - gap) / sigma) ** 2)) * 1e-4


@pytest.mark.parametrize("backend", ["spikeinterface", "numpy"])
def test_known_trough_to_peak(backend):
    gaps = [6, 9, 12, 18, 24]  # samples at 30 kHz: 0.2 .. 0.8 ms
    w = np.stack([biphasic(30, g) for g in gaps])
    widths = spike_widths(w, FS, backend=backend)
    np.testing.assert_allclose(widths, np.array(gaps) / FS * 1000, atol=0.01)


def test_backends_agree_on_realistic_shapes():
    rng = np.random.default_rng(0)
    t = np.arange(82) / FS * 1000
    w = []
    for width in rng.uniform(0.2, 0.9, 12):
        trough = -np.exp(-0.5 * ((t - 1.0) / (0.08 + 0.1 * width)) ** 2)
        peak = 0.3 * np.exp(-0.5 * ((t - 1 - width) / (0.5 * width)) ** 2)
        w.append(trough + peak + 0.002 * rng.standard_normal(t.size))
    w = np.array(w)
    np.testing.assert_allclose(spike_widths(w, FS), spike_widths(w, FS, backend="numpy"), atol=0.02)


def test_main_channel_is_largest():
    w = np.zeros((1, 90, 3))
    w[0, :, 0] = biphasic(30, 20) * 0.2
    w[0, :, 1] = biphasic(30, 8)
    w[0, :, 2] = biphasic(30, 20) * 0.5
    assert spike_widths(w, FS)[0] == pytest.approx(8 / FS * 1000, abs=0.01)


def test_flat_waveform_is_nan_and_input_untouched():
    w = np.stack([np.zeros(60), biphasic(30, 9, n=60)])
    before = w.copy()
    widths = spike_widths(w, FS)
    assert np.isnan(widths[0]) and np.isfinite(widths[1])
    np.testing.assert_array_equal(w, before)


def test_classify_threshold():
    labels = classify([0.2, 0.399, 0.4, 0.7, np.nan])
    assert list(labels) == ["narrow", "narrow", "regular", "regular", ""]
    assert list(classify([0.3], CellTypeParams(narrow_threshold_ms=0.25))) == ["regular"]


def test_simulated_waveforms_follow_their_cell_type():
    from ndx_encoding_subspace.datasets.simulated.site import _waveform

    rng = np.random.default_rng(1)
    narrow = np.stack([_waveform(w, rng) for w in np.linspace(0.18, 0.32, 5)])
    regular = np.stack([_waveform(w, rng) for w in np.linspace(0.5, 0.8, 5)])
    assert set(classify(spike_widths(narrow, FS))) == {"narrow"}
    assert set(classify(spike_widths(regular, FS))) == {"regular"}


def test_errors_name_the_source():
    w = np.stack([biphasic(30, 9), biphasic(30, 9)])
    w[1, 5] = np.nan
    with pytest.raises(InvalidDataError, match=r"file.nwb:/units.*unit 1.*NaN"):
        spike_widths(w, FS, where="file.nwb:/units")
    with pytest.raises(InvalidDataError, match="sampling rate"):
        spike_widths(w[:1], None)
    with pytest.raises(InvalidDataError, match="shape"):
        spike_widths(np.zeros(5), FS)
    with pytest.raises(ConfigError, match="narrow_threshold_ms"):
        CellTypeParams(narrow_threshold_ms=-1)
