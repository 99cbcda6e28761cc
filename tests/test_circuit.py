"""Local-circuit analyses: shared subspace, tiling, similarity, summaries."""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace.circuit import (
    TilingParams,
    shared_subspace,
    shared_subspace_streaming,
    similarity_matrix,
    subspace_similarity,
    summarise_by_cell_type,
    summarise_by_depth,
    tiling,
    within_between,
)
from ndx_encoding_subspace.data.site import UnitInfo
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspace

F, D = 6, 8


def _unit_samples(rng, basis, n=400, noise=0.05):
    coef = rng.normal(size=(n, basis.shape[1])) * np.linspace(2, 1, basis.shape[1])
    return (coef @ basis.T + noise * rng.normal(size=(n, F * D))).reshape(n, F, D)


def test_subspace_similarity_known_angles():
    e = np.eye(5)
    assert subspace_similarity(e[:, :2], e[:, :2]) == pytest.approx(1.0)
    assert subspace_similarity(e[:, :2], e[:, 2:4]) == pytest.approx(0.0)
    theta = 0.3
    b = np.stack([e[:, 0], np.cos(theta) * e[:, 1] + np.sin(theta) * e[:, 2]], axis=1)
    assert subspace_similarity(e[:, :2], b) == pytest.approx((1 + np.cos(theta) ** 2) / 2)
    # invariant to the basis chosen inside a subspace
    mix = np.array([[0.6, 0.8], [-0.8, 0.6]])
    assert subspace_similarity(e[:, :2] @ mix, b) == pytest.approx((1 + np.cos(theta) ** 2) / 2)
    # a filter of zeros, or one the others make, spans nothing: QR would make a direction up
    from ndx_encoding_subspace.errors import InvalidDataError

    for degenerate in (np.stack([e[:, 0], 0 * e[:, 1]], axis=1), np.stack([e[:, 0], 2 * e[:, 0]], axis=1)):
        with pytest.raises(InvalidDataError, match="subspace a: its 2 filters span fewer dimensions"):
            subspace_similarity(degenerate, b)
    with pytest.raises(InvalidDataError, match="no filter"):
        subspace_similarity(e[:, :0], b)


def test_shared_subspace_and_within_between():
    rng = np.random.default_rng(0)
    params = SubspaceParams(n_components=5, noise_repeats=0, variance_threshold=0.9)
    sites = []
    for _ in range(2):
        site_basis, _ = np.linalg.qr(rng.normal(size=(F * D, 3)))
        units = []
        for _ in range(3):  # units share 2 of their 3 dimensions with the site
            own = rng.normal(size=(F * D, 1))
            basis, _ = np.linalg.qr(np.concatenate([site_basis[:, :2], own], axis=1))
            units.append(_unit_samples(rng, basis))
        sites.append(np.stack(units, axis=1))
    subspaces = [[fit_subspace(s[:, u], params, unit=u) for u in range(3)] for s in sites]
    assert all(s.k == 3 for site in subspaces for s in site)
    result = within_between(subspaces)
    assert len(result["within"]) == 6 and len(result["between"]) == 9
    assert result["within_median"] > 0.55 > 0.2 > result["between_median"]
    sim = similarity_matrix(subspaces[0])
    np.testing.assert_allclose(np.diag(sim), 1.0)
    np.testing.assert_allclose(sim, sim.T)
    shared = shared_subspace(sites[0], params)
    assert shared.unit == -1 and shared.n_samples == 1200
    streamed = shared_subspace_streaming(lambda: (sites[0][i:i + 50] for i in range(0, 400, 50)),
                                         params)
    np.testing.assert_allclose(streamed.components, shared.components, atol=1e-8)


def test_tiling_regions_and_overlap():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60_000, 3))
    wide = np.exp(-0.5 * ((x[:, 0] - 0.5) ** 2) / 1.0)  # broad tuning on dim 1
    narrow = np.exp(-0.5 * (((x - [1.0, 0, 0]) ** 2).sum(1)) / 0.15)  # small blob
    other = np.exp(-0.5 * (((x - [-1.2, 0, 0]) ** 2).sum(1)) / 0.15)  # disjoint blob
    result = tiling(x, np.stack([wide, narrow, other], axis=1), TilingParams())
    assert result.maps.shape == (3, 16, 16, 16)
    np.testing.assert_allclose(np.nanmax(result.maps.reshape(3, -1), axis=1), 1.0)
    size = result.region_size
    assert size[0] > 3 * size[1] and size[1] > 0
    assert result.overlap[1, 2] == 0.0 and result.overlap[0, 1] > 0
    np.testing.assert_allclose(np.diag(result.overlap), 1.0)
    inter = (result.regions[0] & result.regions[1]).sum()
    union = (result.regions[0] | result.regions[1]).sum()
    assert result.overlap[0, 1] == pytest.approx(inter / union)
    # visited voxels: a ball-like cloud does not fill the corners of the cube
    assert 0.3 < result.visited.mean() < 1.0
    np.testing.assert_allclose(size, result.regions.reshape(3, -1).mean(axis=1))  # of the volume
    of_visited = tiling(x, np.stack([wide, narrow, other], axis=1),
                        TilingParams(region_size_of="visited")).region_size
    np.testing.assert_allclose(of_visited, size / result.visited.mean())
    with pytest.raises(ConfigError, match="level"):
        TilingParams(level=1.0)
    broken = np.stack([wide, narrow, other], axis=1)
    broken[5, 2] = np.nan
    with pytest.raises(InvalidDataError, match="predictions of column 2 hold NaN"):
        tiling(x, broken)


@pytest.mark.parametrize("unvisited", ["excluded", "zero"])
def test_a_baseline_rate_widens_a_region_unless_subtracted(unvisited):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40_000, 3))
    blob = np.exp(-0.5 * (((x - [0.5, 0, 0]) ** 2).sum(1)) / 0.3)
    rates = np.stack([blob, 0.3 + blob, 4.0 * (0.3 + blob)], axis=1)  # same tuning, baseline 0.3
    plain = tiling(x, rates, TilingParams(unvisited=unvisited)).region_size
    assert plain[1] > 1.5 * plain[0] and plain[2] == pytest.approx(plain[1])
    less = tiling(x, rates, TilingParams(unvisited=unvisited, baseline="minimum")).region_size
    assert less[0] == pytest.approx(less[1], rel=0.05) == pytest.approx(less[2], rel=0.05)
    with pytest.raises(ConfigError, match="baseline"):
        TilingParams(baseline="spontaneous")


def test_summaries_by_cell_type_and_depth():
    units = UnitInfo.from_ids(range(6), cell_type=["narrow", "regular", "narrow", "regular",
                                                   "regular", ""],
                              depth_um=[100, 300, 500, 700, 900, np.nan])
    values = np.array([0.2, 0.1, 0.3, 0.05, 0.08, 9.0])
    by_type = summarise_by_cell_type(values, units)
    assert by_type["narrow"]["n"] == 2 and by_type["narrow"]["median"] == pytest.approx(0.25)
    assert by_type["regular"]["mean"] == pytest.approx(0.23 / 3)
    by_depth = summarise_by_depth(values, units)
    assert by_depth["spearman_rho"] == pytest.approx(-0.6)
    assert set(by_depth["bins"]) == {0.0, 200.0, 400.0, 600.0, 800.0}
    assert summarise_by_depth(values, UnitInfo.from_ids(range(6))) == {}
    assert summarise_by_cell_type(values, UnitInfo.from_ids(range(6))) == {}
