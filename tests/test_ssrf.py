"""SSRF: maps, tuning curves and the asymmetry index on simulated units of known shape."""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.nonlinearity.ssrf import (
    SSRFParams,
    asymmetry_index,
    classify_shape,
    classify_stored_curve,
    curve_response_sd,
    orient,
    ssrf,
    tuning_curve,
)

N = 20_000


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


def _poisson(rng, rate):
    return rng.poisson(np.clip(rate, 0, None)).astype(float)


@pytest.mark.parametrize(
    ("name", "fn", "expected", "ai_range"),
    [
        ("phase-invariant", lambda x: 0.5 + 2 * x**2, "symmetric-up", (-0.2, 0.2)),
        ("gain control", lambda x: 6 - 2 * x**2, "symmetric-down", (-0.2, 0.2)),
        ("rectifier", lambda x: 0.5 + 3 * np.maximum(x, 0), "rectifying", (0.8, 1.0)),
        ("linear", lambda x: 3 + x, "rectifying", (0.9, 1.0)),
        ("flat", lambda x: 2 + 0 * x, "flat", (-1.0, 1.0)),
    ],
)
def test_shapes_of_simulated_units(rng, name, fn, expected, ai_range):
    z = rng.normal(size=N)
    for offset in (0.0, 4.0):  # projections of spectrograms are not centred
        x = z + offset
        r = _poisson(rng, fn(z))
        xo, _ = orient(x, r)
        assert classify_shape(xo[:, 0], r) == expected, name
        ai = asymmetry_index(xo[:, 0], r)
        assert ai_range[0] <= ai <= ai_range[1], (name, ai)


@pytest.mark.parametrize(("fn", "expected"), [
    (lambda x: 0.5 + 2 * x**2, "symmetric-up"),
    (lambda x: 6 - 2 * x**2, "symmetric-down"),
    (lambda x: 0.5 + 3 * np.maximum(x, 0), "rectifying"),
    (lambda x: 2 + 0 * x, "flat"),
    (lambda x: 2 + 0.02 * x, "flat"),  # modulation far below the response's spread
])
def test_stored_curve_class_matches_the_samples_class(rng, fn, expected):
    """The class a results file's tuning curve gives (dataset tables) is the samples' class,
    "flat" included: a dimension that leaves the response as it is must not count as
    rectifying because it was sign-flipped to correlate with noise."""
    z = rng.normal(size=(N, 2))
    r = _poisson(rng, fn(z[:, 0]))
    m = ssrf(z, r)
    assert m.shapes[0] == expected
    stored = classify_stored_curve(m.curve_mean[0], float(m.asymmetry[0]),
                                   tuning_sem=m.curve_sem[0], tuning_count=m.curve_count[0])
    assert stored == expected
    # the second dimension never drives the response
    assert classify_stored_curve(m.curve_mean[1], float(m.asymmetry[1]),
                                 tuning_sem=m.curve_sem[1], tuning_count=m.curve_count[1]) == "flat"
    inside = (z[:, 0] >= np.percentile(z[:, 0], 2.5)) & (z[:, 0] <= np.percentile(z[:, 0], 97.5))
    assert curve_response_sd(m.curve_mean[0], m.curve_sem[0], m.curve_count[0]) == pytest.approx(
        np.std(r[inside]), rel=1e-9)


@pytest.mark.parametrize("gamma_shape", [8.0, 2.0, 1.0])  # skewness 0.7, 1.4, 2
@pytest.mark.parametrize(("fn", "expected"), [
    (lambda x: 0.5 + 2 * x**2, "symmetric-up"),
    (lambda x: 6 - 2 * np.minimum(x**2, 2.9), "symmetric-down"),
    (lambda x: 0.5 + 3 * np.maximum(x, 0), "rectifying"),
])
def test_shapes_on_skewed_projections(rng, gamma_shape, fn, expected):
    x = rng.gamma(gamma_shape, size=N)
    z = (x - x.mean()) / x.std()  # symmetric about the mean stimulus
    r = _poisson(rng, fn(z))
    xo, _ = orient(x, r)
    assert classify_shape(xo[:, 0], r) == expected


def test_rectifier_on_negative_side_is_flipped(rng):
    z = rng.normal(size=N)
    r = _poisson(rng, 0.5 + 3 * np.maximum(-z, 0))
    result = ssrf(z[:, None], r)
    assert result.signs[0] == -1
    assert result.shapes == ("rectifying",)
    assert result.asymmetry[0] > 0.8


def test_two_dimensional_unit(rng):
    x = rng.normal(size=(N, 2))
    x[:, 1] = 0.7 * x[:, 1] + 0.3 * rng.normal(size=N) ** 2  # skewed second axis
    z2 = x[:, 1] - x[:, 1].mean()
    r = _poisson(rng, 0.3 + 2 * np.maximum(x[:, 0], 0) + 3 * z2**2)
    result = ssrf(x, r, SSRFParams())
    assert result.shapes == ("rectifying", "symmetric-up")
    assert result.maps.shape == (1, 20, 20) and result.edges.shape == (2, 21)
    # bins hold the mean response: check one well-filled bin against a direct mean
    i, j = 12, 10
    e = result.edges
    sel = ((x[:, 0] >= e[0, i]) & (x[:, 0] < e[0, i + 1])
           & (x[:, 1] >= e[1, j]) & (x[:, 1] < e[1, j + 1]))
    assert result.counts[0, i, j] == sel.sum() >= 3
    np.testing.assert_allclose(result.maps[0, i, j], r[sel].mean())
    assert np.isnan(result.maps[0][result.counts[0] < 3]).all()
    # the tuning curve along dim 1 rises, along dim 2 is U-shaped
    m1, m2 = result.curve_mean
    assert m1[-1] > m1[4] + 1 and m1[0] < m1[-1]
    assert m2[0] > m2[4] and m2[-1] > m2[4]


def test_tuning_curve_values(rng):
    x = rng.uniform(0, 1, size=5000)
    r = 3 * x + rng.normal(scale=0.1, size=5000)
    centres, mean, sem, count = tuning_curve(x, r, SSRFParams(n_bins_1d=10))
    assert count.sum() >= 0.94 * 5000
    np.testing.assert_allclose(mean, 3 * centres, atol=0.02)
    assert np.all(sem < 0.01)


def test_params_validation():
    with pytest.raises(ConfigError, match="percentiles"):
        SSRFParams(percentiles=(60.0, 97.5))
    with pytest.raises(ConfigError, match="n_bins_2d"):
        SSRFParams(n_bins_2d=1)
