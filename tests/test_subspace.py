"""Tuning subspaces: recovery of a known subspace, outlier filter, streaming = in memory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.errors import ConfigError, InvalidDataError
from ndx_encoding_subspace.subspace.linalg import add_grams, gram, symmetric, top_eigh, top_eigvalsh
from ndx_encoding_subspace.subspace.moments import MomentAccumulator
from ndx_encoding_subspace.subspace.pca import (
    SubspaceParams,
    _device_shuffles,
    _noise_floor,
    choose_k,
    fit_subspace,
    fit_subspaces,
    outlier_keep,
)
from ndx_encoding_subspace.subspace.stream import (
    _Reservoir,
    pooled_outlier_statistics,
    streaming_site_subspaces,
    streaming_subspaces,
)

F, D = 8, 10


def _basis(rng: np.random.Generator, k: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(F * D, k)))
    return q.T  # [k, F*D] orthonormal rows


def _samples(rng: np.random.Generator, n: int, sds=(3.0, 2.0, 1.0), noise=0.02,
             basis: np.ndarray | None = None):
    basis = _basis(rng, len(sds)) if basis is None else basis
    mean = rng.normal(size=F * D)
    coef = rng.normal(size=(n, len(sds))) * np.asarray(sds)
    x = mean + coef @ basis + noise * rng.normal(size=(n, F * D))
    return x.reshape(n, F, D), basis, mean


def test_recovers_known_subspace():
    rng = np.random.default_rng(0)
    x, basis, mean = _samples(rng, 2000)
    sub = fit_subspace(x, SubspaceParams(n_components=8, noise_repeats=3))
    comps = sub.components.reshape(8, -1)
    overlap = np.abs(comps[:3] @ basis.T)
    np.testing.assert_allclose(np.sort(overlap.max(axis=1)), 1.0, atol=2e-3)
    assert np.all(comps.sum(axis=1) >= 0)  # sign convention
    np.testing.assert_allclose(comps @ comps.T, np.eye(8), atol=1e-10)
    np.testing.assert_allclose(sub.explained_variance[:3], [9, 4, 1], rtol=0.1)
    # 9 + 4 = 13 of ~14.0 total (first 8 components): 93% -> k95 = 3, k90 = 2
    assert (sub.k90, sub.k95, sub.k) == (2, 3, 3)
    assert sub.filters.shape == (3, F, D)
    assert sub.n_significant == 3
    assert sub.basis(8).shape == (F * D, 8)
    for k in (0, 9, 2.5):
        with pytest.raises(InvalidDataError, match="k must be a whole number from 1 to the 8 components"):
            sub.basis(k)
    assert np.all(sub.noise_floor[:3] < sub.explained_variance_ratio[:3])
    np.testing.assert_allclose(sub.mean.ravel(), mean, atol=0.2)
    assert sub.n_samples + sub.n_outliers == 2000


def test_k_by_significance_counts_the_components_above_the_noise_floor():
    rng = np.random.default_rng(0)
    x, _, _ = _samples(rng, 2000, sds=(3.0, 2.0, 1.5, 1.2))
    # variances 9, 4, 2.25, 1.44: 91% in the first three
    common = {"n_components": 8, "noise_repeats": 3, "variance_threshold": 0.9}
    by_variance = fit_subspace(x, SubspaceParams(**common))
    by_floor = fit_subspace(x, SubspaceParams(**common, k_rule="significance"))
    assert by_variance.n_significant == by_floor.n_significant == 4
    assert by_floor.k == by_floor.k_significant == 4 and by_variance.k == 3
    np.testing.assert_array_equal(by_floor.components, by_variance.components)
    assert (by_floor.k90, by_floor.k95) == (by_variance.k90, by_variance.k95)
    # no component above the floor still keeps one filter
    flat = rng.normal(size=(500, F, D))
    assert fit_subspace(flat, SubspaceParams(n_components=8, noise_repeats=3,
                                             k_rule="significance")).k >= 1


def test_components_past_the_samples_rank_are_never_significant():
    # fewer samples than components: the ratios past the rank are float rounding (1e-17),
    # as are the floor's; none of them counts, whatever its sign
    for n in (2, 3, 4, 5, 8, 12, 20):
        for seed in range(10):
            x = np.random.default_rng(seed).standard_normal((n, 4, 5))
            sub = fit_subspace(x, SubspaceParams(n_components=20, noise_repeats=3, k_rule="significance"))
            assert sub.n_significant <= n - 1, (n, seed, sub.n_significant)
            assert sub.k <= max(n - 1, 1)


def test_outlier_filter_drops_extreme_samples_only():
    rng = np.random.default_rng(1)
    x, basis, _ = _samples(rng, 500)
    x = x.copy()
    x[[3, 77, 400]] += 60.0  # far beyond 5 RMS deviations
    sub = fit_subspace(x, SubspaceParams(n_components=5, noise_repeats=0))
    assert sub.n_outliers == 3 and sub.n_samples == 497
    assert np.max(np.abs(sub.components[:3].reshape(3, -1) @ basis.T), axis=1).min() > 0.99
    keep = outlier_keep(x.reshape(500, -1), 5.0)
    assert not keep[[3, 77, 400]].any() and keep.sum() == 497
    assert np.all(np.isnan(sub.noise_floor))
    everything = fit_subspace(x, SubspaceParams(n_components=5, noise_repeats=0,
                                                outlier_sd=float("inf")))
    assert everything.n_outliers == 0
    # Markov: at most 1/outlier_sd^2 of any sample can be dropped
    heavy = rng.standard_cauchy(size=(1000, 12))
    assert (~outlier_keep(heavy, 5.0)).mean() <= 1 / 25


@pytest.mark.parametrize("chunk", [37, 1000])
def test_streaming_equals_in_memory(chunk):
    rng = np.random.default_rng(2)
    units = []
    for _ in range(3):
        x, _, _ = _samples(rng, 300, sds=(2.0, 1.5, 1.0, 0.5), noise=0.1)
        units.append(x)
    data = np.stack(units, axis=1).astype(np.float32)  # [n, units, F, D]
    data[5, 1] += 40.0
    params = SubspaceParams(n_components=6, noise_repeats=2, seed=3)
    memory = fit_subspaces(data, params)

    def chunks():
        return (data[i:i + chunk] for i in range(0, len(data), chunk))

    streamed = streaming_subspaces(chunks, params)
    referenced = streaming_subspaces(chunks, params, outliers="reference", reference=data)
    for a, b, c in zip(memory, streamed, referenced):
        for other in (b, c):
            assert (a.k, a.k90, a.k95, a.n_samples, a.n_outliers) == (
                other.k, other.k90, other.k95, other.n_samples, other.n_outliers)
            np.testing.assert_allclose(other.components, a.components, atol=1e-8)
            np.testing.assert_allclose(other.explained_variance, a.explained_variance, rtol=1e-9)
            np.testing.assert_allclose(other.mean, a.mean, atol=1e-10)
            np.testing.assert_allclose(other.noise_floor, a.noise_floor, rtol=1e-9)
    assert memory[1].n_outliers == 1 and memory[0].n_outliers == 0


def _assert_same(a, b):
    assert (a.unit, a.k, a.k90, a.k95, a.n_samples, a.n_outliers) == (
        b.unit, b.k, b.k90, b.k95, b.n_samples, b.n_outliers)
    np.testing.assert_allclose(b.components, a.components, atol=1e-7)
    np.testing.assert_allclose(b.explained_variance, a.explained_variance, rtol=1e-8)
    np.testing.assert_allclose(b.mean, a.mean, atol=1e-9)
    np.testing.assert_allclose(b.noise_floor, a.noise_floor, rtol=1e-8)


@pytest.mark.parametrize("outliers", ["two_pass", "given"])
def test_site_subspaces_in_one_pass_equal_in_memory(outliers):
    rng = np.random.default_rng(6)
    units = [_samples(rng, 250, sds=(2.0, 1.0, 0.5), noise=0.1)[0] + rng.normal(size=(F, D))
             for _ in range(3)]
    data = np.stack(units, axis=1).astype(np.float32)
    data[7, 2] += 60.0  # an outlier for its unit and for the pool
    params = SubspaceParams(n_components=6, noise_repeats=2, seed=1)
    memory = fit_subspaces(data, params)
    pooled = fit_subspaces(data.reshape(-1, 1, F, D), params)[0]
    flat = data.reshape(*data.shape[:2], -1).astype(np.float64)
    centre = flat.mean(axis=0)
    rms = np.sqrt(((flat - centre) ** 2).sum(axis=2).mean(axis=0))
    passes = []

    def chunks():
        passes.append(1)
        return (data[i:i + 40] for i in range(0, len(data), 40))

    kwargs = {"centre": centre, "rms": rms} if outliers == "given" else {}
    got, site = streaming_site_subspaces(chunks, params, outliers, **kwargs)
    assert len(passes) == (1 if outliers == "given" else 2)
    for a, b in zip(memory, got):
        _assert_same(a, b)
    assert pooled.n_outliers >= 1
    _assert_same(dataclasses.replace(pooled, unit=-1), site)
    # the pooled statistics follow from the per-unit ones
    p_centre, p_rms = pooled_outlier_statistics(centre, rms)
    every = flat.reshape(-1, flat.shape[2])
    np.testing.assert_allclose(p_centre, every.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(p_rms, np.sqrt(((every - every.mean(axis=0)) ** 2).sum(1).mean()), rtol=1e-12)
    with pytest.raises(ConfigError, match="centre"):
        streaming_site_subspaces(chunks, params, "given")
    with pytest.raises(ConfigError, match="two_pass"):
        streaming_site_subspaces(chunks, params, "reference")


def test_streaming_noise_floor_uses_a_bounded_reservoir():
    rng = np.random.default_rng(4)
    x, _, _ = _samples(rng, 900, noise=0.1)
    data = x[:, None]
    params = SubspaceParams(n_components=5, noise_repeats=2, noise_max_samples=200)
    sub = streaming_subspaces(lambda: (data[i:i + 64] for i in range(0, 900, 64)), params)[0]
    full = fit_subspace(x, params)
    np.testing.assert_allclose(sub.components, full.components, atol=1e-8)
    # fewer samples -> a floor at least as high for the first component, same order
    assert sub.noise_floor[0] >= 0.9 * full.noise_floor[0]
    assert sub.n_significant == full.n_significant == 3


def _algorithm_r(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Slow reference: one row at a time."""
    kept = []
    for seen, row in enumerate(rows):
        if seen < cap:
            kept.append(row)
            continue
        slot = rng.integers(0, seen + 1)
        if slot < cap:
            kept[slot] = row
    return np.array(kept)


@pytest.mark.parametrize("cap", [5, 23, 1000])
def test_reservoir_equals_the_row_by_row_algorithm_whatever_the_chunks(cap):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(120, 2, 3)).astype(np.float32)
    keep = rng.random((120, 2)) < 0.8
    samples = []
    for pieces in (7, 1, 40):  # batches that fill the last slots and replace at once, too
        res = _Reservoir(2, cap, 4, torch.float32)
        for rows in np.array_split(np.arange(120), pieces):
            res.add(torch.as_tensor(x[rows]), keep[rows])
        samples.append([res.sample(u).numpy() for u in range(2)])
    for u in range(2):
        unit_rng = np.random.default_rng(np.random.SeedSequence(4).spawn(2)[u])
        want = _algorithm_r(x[keep[:, u], u], cap, unit_rng)
        for got in samples:
            np.testing.assert_array_equal(got[u], want)
    if cap >= 120:
        np.testing.assert_array_equal(samples[0][1], x[keep[:, 1], 1])


def test_streaming_refuses_non_finite_dstrfs_and_skips_empty_chunks():
    rng = np.random.default_rng(13)
    data = rng.normal(size=(50, 3, F, D)).astype(np.float32)
    bad = data.copy()
    bad[7, 2, 1, 1] = np.nan
    params = SubspaceParams(n_components=4, noise_repeats=1)
    with pytest.raises(InvalidDataError, match="NaN or inf"):
        streaming_subspaces(lambda: [bad[:20], bad[20:]], params)
    centre = data.reshape(50, 3, -1).mean(axis=0)
    rms = np.ones(3)
    with pytest.raises(InvalidDataError, match="unit 12: dSTRFs hold NaN"):
        streaming_subspaces(lambda: [bad[:20], bad[20:]], params, "given", units=[10, 11, 12],
                            centre=centre, rms=rms)
    with pytest.raises(InvalidDataError, match="2 unit numbers for 3 units"):
        streaming_subspaces(lambda: [data], params, units=[1, 2])
    with_empty = streaming_subspaces(lambda: [data[:0], data[:25], data[25:25], data[25:]], params)
    plain = streaming_subspaces(lambda: [data], params)
    for a, b in zip(plain, with_empty):
        _assert_same(a, b)


def test_moment_accumulator_drops_masked_rows_even_when_they_are_nan():
    x = np.arange(24, dtype=float).reshape(4, 2, 3)
    x[1, 0] = np.nan
    keep = np.ones((4, 2), dtype=bool)
    keep[1, 0] = False
    acc = MomentAccumulator(2, 3)
    acc.add(x[:0])  # an empty first batch sets no shift
    acc.add(x, keep)
    np.testing.assert_allclose(acc.mean[0], x[[0, 2, 3], 0].mean(axis=0))
    np.testing.assert_allclose(acc.covariance(0), np.cov(x[[0, 2, 3], 0].T))
    np.testing.assert_array_equal(acc.count, [3, 4])


def test_moment_accumulator_merges_like_one_batch():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(101, 7)) + 1e4  # large offset: a naive sum of squares would fail
    acc = MomentAccumulator(1, 7)
    for part in np.array_split(x, 9):
        acc.add(part[:, None])
    np.testing.assert_allclose(acc.covariance(0), np.cov(x.T), rtol=1e-8)
    np.testing.assert_allclose(acc.mean[0], x.mean(axis=0), rtol=1e-12)
    assert acc.nbytes == (1 + 7 + 1 + 7 * 7 + 7) * 8  # independent of the number of samples
    far = MomentAccumulator(1, 7, shift=np.full((1, 7), 1e4 - 10.0))  # 10 SD off the mean
    for part in np.array_split(x, 9):
        far.add(part[:, None])
    np.testing.assert_allclose(far.covariance(0), np.cov(x.T), rtol=1e-8)
    trace_only = MomentAccumulator(1, 7, scatter=False)
    for part in np.array_split(x, 9):
        trace_only.add(part[:, None])
    np.testing.assert_allclose(trace_only.trace[0], np.trace(np.cov(x.T)) * 100, rtol=1e-9)
    with pytest.raises(ConfigError, match="scatter"):
        trace_only.covariance(0)


def test_moment_accumulator_leaves_out_masked_samples_unit_by_unit():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(60, 3, 5)) * np.array([1.0, 2.0, 3.0])[None, :, None] + 50.0
    keep = rng.random((60, 3)) < 0.7
    keep[:, 2] = False
    keep[:20, 2] = True  # unit 2: samples only in the first batch
    acc = MomentAccumulator(3, 5)
    for rows in np.array_split(np.arange(60), 4):
        acc.add(x[rows], keep[rows])
    np.testing.assert_array_equal(acc.count, keep.sum(axis=0))
    for u in range(3):
        kept = x[keep[:, u], u]
        np.testing.assert_allclose(acc.covariance(u), np.cov(kept.T), rtol=1e-9)
        np.testing.assert_allclose(acc.mean[u], kept.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(acc.trace[u], ((kept - kept.mean(0)) ** 2).sum(), rtol=1e-9)
    with pytest.raises(InvalidDataError, match=r"\[n, 3, 5\]"):
        acc.add(x[:, :2])


def test_choose_k_and_params():
    assert choose_k(np.array([5.0, 3.0, 1.0, 1.0]), 0.8) == 2
    assert choose_k(np.array([5.0, 3.0, 1.0, 1.0]), 0.81) == 3
    assert choose_k(np.array([1.0, 0.0]), 0.95) == 1
    with pytest.raises(ConfigError, match="variance_threshold"):
        SubspaceParams(variance_threshold=1.5)
    with pytest.raises(ConfigError, match="outlier_sd"):
        SubspaceParams(outlier_sd=0)
    with pytest.raises(ConfigError, match="outlier_sd must be at least 1"):  # most samples: outliers
        SubspaceParams(outlier_sd=0.1)
    spread = np.array([[[0.0, 0.0]], [[5.0, 0.0]], [[-5.0, 0.0]]])  # deviations 0, 5, 5: RMS 4.1
    with pytest.raises(InvalidDataError, match=r"unit 0: 1 of 3 dSTRF samples left after the outlier filter"):
        fit_subspace(spread, SubspaceParams(outlier_sd=1.0, noise_repeats=0))
    with pytest.raises(ConfigError, match="outliers"):
        streaming_subspaces(lambda: [], outliers="bogus")


def test_device_and_host_eigensolvers_agree():
    rng = np.random.default_rng(10)
    a = rng.normal(size=(40, 30))
    m = torch.as_tensor(a.T @ a)
    want = np.sort(np.linalg.eigvalsh(m.numpy()))[::-1][:6]
    for host in (True, False):  # False: the solver a GPU would run, here on the CPU
        np.testing.assert_allclose(top_eigvalsh(m, 6, host), want, rtol=1e-10)
        val, vec = top_eigh(m, 6, host)
        np.testing.assert_allclose(val, want, rtol=1e-10)
        np.testing.assert_allclose(m.numpy() @ vec, vec * val, atol=1e-8)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (run in the GPU checks)"))]


@pytest.mark.parametrize("device", DEVICES)
def test_device_shuffles_permute_every_element_on_its_own(device):
    x = torch.arange(60 * 4, dtype=torch.float32, device=device).reshape(60, 4)
    params = SubspaceParams(noise_repeats=3, seed=5)
    shuffles = list(_device_shuffles(x, params))
    assert len(shuffles) == 3
    for shuffled in shuffles:
        assert shuffled.dtype == torch.float64 and shuffled.device == x.device
        # every column keeps its values, each in an order of its own
        shuffled = shuffled + x.double().mean(dim=0)  # yielded centred
        np.testing.assert_allclose(shuffled.sort(dim=0).values.cpu(), x.double().cpu())
        order = np.round(shuffled.cpu().numpy()).astype(int) // 4  # the row each value came from
        assert len({tuple(column) for column in order.T}) == 4
    assert not torch.equal(shuffles[0], shuffles[1])
    again = list(_device_shuffles(x, params))  # the seed fixes the shuffles
    assert all(torch.equal(a, b) for a, b in zip(shuffles, again))


@pytest.mark.parametrize("device", DEVICES)
def test_noise_floor_drawn_on_the_device_agrees_with_the_host_shuffle(device):
    rng = np.random.default_rng(11)
    x = _samples(rng, 2000, noise=0.1)[0].reshape(2000, -1).astype(np.float32)
    params = SubspaceParams(n_components=5, noise_repeats=10, seed=7)
    host = _noise_floor(x, params, 2.0, host=True)
    device_floor = _noise_floor(torch.as_tensor(x, device=device), params, 2.0, host=False)
    # two draws of one Monte-Carlo estimate: below 1% apart at this size
    np.testing.assert_allclose(device_floor, host, rtol=0.03)
    assert not np.array_equal(device_floor, host)
    assert np.all(np.diff(host) <= 0) and host[0] > 0
    np.testing.assert_array_equal(
        _noise_floor(torch.as_tensor(x, device=device), params, 2.0, host=False), device_floor)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gram_products_equal_the_matrix_product(dtype):
    rng = np.random.default_rng(12)
    a = torch.as_tensor(rng.normal(size=(3, 40, 9)), dtype=dtype)
    out = torch.zeros(3, 9, 9, dtype=dtype)
    add_grams(out, a)
    add_grams(out, a[:, :13])
    want = a.transpose(1, 2) @ a + a[:, :13].transpose(1, 2) @ a[:, :13]
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12}
    np.testing.assert_allclose(symmetric(out), want, **tol)
    np.testing.assert_allclose(gram(a[0]), a[0].T @ a[0], **tol)
    np.testing.assert_allclose(gram(a[0].T), a[0] @ a[0].T, **tol)  # a transposed view
    strided = a[:, ::2, ::2]
    np.testing.assert_allclose(gram(strided[1]), strided[1].T @ strided[1], **tol)


def test_a_subspace_prints_in_a_few_lines_however_large():
    x = np.random.default_rng(0).standard_normal((400, 32, 30))
    text = repr(fit_subspace(x, SubspaceParams(n_components=25, noise_repeats=1)))
    assert text.startswith("TuningSubspace(") and len(text) < 1500, len(text)
