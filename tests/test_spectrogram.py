"""Spectrogram: against slow references, pure tones, clicks, energy and scaling."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from ndx_encoding_subspace.data.spectrogram import (
    SpectrogramParams,
    channel_power,
    erb_bandwidth,
    filter_responses,
    filterbank_frequencies,
    minmax_scale,
    n_bins,
    spectrogram,
)
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError

FS = 44100.0


def reference_power(x: np.ndarray, fs: float, params: SpectrogramParams) -> np.ndarray:
    """Slow reference: each channel filtered over the full band at the full sample rate.

    Untruncated responses; every sample's power ``|z|^2 / 2`` averaged into bins by
    ``floor(t / bin_size)``.
    """
    n = scipy.fft.next_fast_len(x.size + int(np.ceil(params.pad * fs)), real=True)  # same padding
    spectrum = np.fft.fft(x, n)
    freqs = np.fft.fftfreq(n, 1 / fs)
    positive = freqs > 0
    out_bins = n_bins(x.size, fs, params.bin_size)
    bins = np.floor(np.arange(n) / fs / params.bin_size + 1e-9).astype(int)
    out = np.empty((out_bins, params.n_channels))
    responses = filter_responses(np.abs(freqs), params)
    for c in range(params.n_channels):
        analytic = np.where(positive, 2 * spectrum * responses[c], 0)
        z = np.fft.ifft(analytic)
        power = 0.5 * np.abs(z) ** 2
        out[:, c] = (np.bincount(bins, power) / np.bincount(bins))[:out_bins]
    return out


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1).standard_normal(int(2 * FS))


def test_frequencies_log_spaced():
    f = filterbank_frequencies(SpectrogramParams())
    assert f.shape == (32,)
    assert f[0] == pytest.approx(200) and f[-1] == pytest.approx(20000)
    np.testing.assert_allclose(np.diff(np.log(f)), np.log(100) / 31)


@pytest.mark.parametrize("kind", ["gammatone", "log"])
def test_matches_slow_reference(noise, kind):
    params = SpectrogramParams(filterbank=kind, min_samples_per_bin=441, truncation_db=80)
    fast = channel_power(noise, FS, params)
    ref = reference_power(noise, FS, params)
    assert fast.shape == ref.shape == (200, 32)
    np.testing.assert_allclose(fast, ref, rtol=2e-3, atol=1e-4 * ref.mean())


def test_default_sampling_close_to_reference(noise):
    params = SpectrogramParams()
    fast = channel_power(noise, FS, params)
    ref = reference_power(noise, FS, params)
    rel = np.abs(fast - ref) / ref.mean(axis=0)
    assert rel.mean() < 0.01
    for c in range(32):
        assert np.corrcoef(fast[:, c], ref[:, c])[0, 1] > 0.99


def test_time_domain_gammatone_agrees(noise):
    """An independent FIR gammatone (scipy.signal) gives the same bin powers."""
    params = SpectrogramParams()
    fast = channel_power(noise, FS, params)
    bins = np.floor(np.arange(noise.size) / FS / 0.01 + 1e-9).astype(int)
    for c in (4, 12, 20, 28):
        fc = filterbank_frequencies(params)[c]
        taps, _ = scipy.signal.gammatone(fc, "fir", numtaps=int(0.06 * FS), fs=FS)
        gain = np.abs(np.fft.rfft(taps, 1 << 20)).max()
        y = scipy.signal.fftconvolve(noise, taps / gain)[: noise.size]
        slow = np.bincount(bins, y**2) / np.bincount(bins)
        assert np.corrcoef(slow[5:], fast[5:, c])[0, 1] > 0.97
        assert slow[5:].mean() / fast[5:, c].mean() == pytest.approx(1, abs=0.05)


def test_white_noise_power_matches_bandwidth():
    """Energy conservation: mean channel power = sigma^2 * 2 b * (5 pi / 16) / fs."""
    x = np.random.default_rng(2).standard_normal(int(6 * FS)) * 0.5
    p = channel_power(x, FS)
    b = 1.019 * erb_bandwidth(filterbank_frequencies())
    expected = 0.25 * 2 * b * (5 * np.pi / 16) / FS
    ratio = p.mean(axis=0) / expected
    assert np.all(np.abs(ratio[16:] - 1) < 0.05)
    assert np.exp(np.mean(np.log(ratio))) == pytest.approx(1, abs=0.02)


@pytest.mark.parametrize("kind", ["gammatone", "log"])
def test_pure_tone_peaks_at_its_channel(kind):
    params = SpectrogramParams(filterbank=kind)
    t = np.arange(int(0.5 * FS)) / FS
    for c in (0, 7, 15, 23, 31):
        fc = filterbank_frequencies(params)[c]
        tone = np.sin(2 * np.pi * fc * t)
        p = channel_power(tone, FS, params)[10:-10]
        assert p.mean(axis=0).argmax() == c
        # unit gain at the centre: mean power of a unit sine is 1/2
        assert p[:, c].mean() == pytest.approx(0.5, rel=0.02 if kind == "gammatone" else 0.06)


def test_click_lands_in_its_bin():
    x = np.zeros(int(0.5 * FS))
    t_click = 0.1234
    x[int(round(t_click * FS))] = 1.0
    p = channel_power(x, FS)
    i = int(t_click / 0.01)
    for c in (8, 16, 24, 28, 31):
        assert p[:, c].argmax() == i
    for c in (20, 24, 28):  # causal: nothing before the click (31 is cut at Nyquist)
        assert p[:i, c].max() < 1e-6 * p[i, c]


def test_bins_count_and_shape():
    assert n_bins(441, 44100, 0.01) == 1
    assert n_bins(442, 44100, 0.01) == 2
    assert n_bins(244140, 48828, 0.01) == 500
    s = spectrogram(np.ones(1000), 16000.0)
    assert s.shape == (7, 32) and s.dtype == np.float32


def test_channels_above_nyquist_are_zero():
    """Every channel centred above Nyquist is silent, also those whose lower skirt reaches
    below it (that skirt would hold a faint copy of the top band, stretched to the full range
    by the site-wide scaling); every channel below has power."""
    x = np.random.default_rng(3).standard_normal(16000)
    p = channel_power(x, 16000.0)
    fc = filterbank_frequencies()
    u_max = np.sqrt(10 ** (50 / 40) - 1)  # default truncation_db = 50
    reaching = (fc > 8000) & (fc - u_max * 1.019 * erb_bandwidth(fc) < 8000)
    assert reaching.sum() >= 1  # the test has skirts to tell apart
    assert np.all(p[:, fc > 8000] == 0)
    assert np.all(p[:, fc <= 8000].mean(axis=0) > 0)


def test_compression_formula():
    params = SpectrogramParams(compression=0.25, log_scale=10)
    x = np.random.default_rng(4).standard_normal(4410)
    p = channel_power(x, FS, params)
    np.testing.assert_allclose(spectrogram(x, FS, params), np.log(10 * p**0.25 + 1), rtol=1e-5)


def test_minmax_scale_over_all_sounds():
    a = np.array([[0.0, 1.0], [2.0, 1.0]], dtype=np.float32)
    b = np.array([[4.0, 1.0]], dtype=np.float32)
    sa, sb = minmax_scale([a, b])
    np.testing.assert_allclose(sa, [[0, 0], [0.5, 0]])
    np.testing.assert_allclose(sb, [[1, 0]])
    assert a[1, 0] == 2.0  # inputs untouched


def test_input_not_modified_and_errors():
    x = np.random.default_rng(5).standard_normal(4410).astype(np.float32)
    before = x.copy()
    spectrogram(x, FS)
    np.testing.assert_array_equal(x, before)
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(InvalidDataError, match="clip.*NaN"):
        spectrogram(bad, FS, name="clip")
    with pytest.raises(InvalidDataError, match="sample rate"):
        spectrogram(x, 0.0)
    with pytest.raises(ConfigError, match="filterbank"):
        SpectrogramParams(filterbank="mel")
    with pytest.raises(ConfigError, match="bin_size"):
        SpectrogramParams(bin_size=-1)
