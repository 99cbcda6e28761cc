"""The dataset tests take sites as the unit of replication: differences between sites, and
sites holding more of one cell type, make no difference of the compared quantities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ndx_encoding_subspace.dataset.statistics import (
    compare_paired,
    compare_similarity,
    compare_within_sites,
)


def _null_sites(seed: int, n_sites: int = 10, n_units: int = 30):
    """Units whose values differ between sites and whose narrow share differs between
    sites, but not between cell types within any site."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 2, n_sites)
    share = np.linspace(0.1, 0.9, n_sites)
    sites = np.repeat([f"s{i}" for i in range(n_sites)], n_units)
    values = level.repeat(n_units) + rng.normal(0, 0.3, n_sites * n_units)
    # the narrow units are the sites' high-level ones: pooled, narrow look higher
    order = np.argsort(level)
    narrow_share = share[np.argsort(order)].repeat(n_units)
    cells = np.where(rng.random(n_sites * n_units) < narrow_share, "narrow", "regular")
    return values, cells, sites


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_cell_type_more_common_in_higher_sites_is_no_difference(seed):
    values, cells, sites = _null_sites(seed)
    pooled = stats.mannwhitneyu(values[cells == "narrow"], values[cells == "regular"]).pvalue
    test = compare_within_sites("v", "narrow", "regular", values, cells, sites, n_permutations=2000)
    assert pooled < 1e-3  # units counted as independent: a difference that is the sites'
    assert test.p_value > 0.05
    assert test.statistic == pytest.approx(
        stats.mannwhitneyu(values[cells == "narrow"], values[cells == "regular"]).statistic)


def test_a_difference_within_every_site_is_found():
    values, cells, sites = _null_sites(0)
    shifted = values + np.where(cells == "narrow", 0.3, 0.0)
    test = compare_within_sites("v", "narrow", "regular", shifted, cells, sites, n_permutations=2000)
    assert test.p_value < 0.01


def test_paired_values_differ_by_site_not_by_unit():
    rng = np.random.default_rng(4)
    sites = np.repeat(np.arange(8), 40)
    a = rng.normal(size=len(sites))
    effect = np.array([0.3, 0.25, 0.2, -0.3, 0.25, -0.2, 0.3, -0.3])  # each site its own
    b = a - effect[sites] + rng.normal(0, 0.05, len(sites))
    assert stats.wilcoxon(a, b).pvalue < 0.05  # units pooled
    test = compare_paired("v", "a", "b", a, b, sites)
    diff = [np.median(a[sites == s] - b[sites == s]) for s in range(8)]
    assert (test.n_a, test.p_value) == (8, pytest.approx(stats.wilcoxon(diff).pvalue))
    assert test.p_value > 0.2
    assert compare_paired("v", "a", "b", a, b).n_a == len(sites)  # without sites: units


def test_similarity_of_pairs_is_compared_site_by_site():
    rng = np.random.default_rng(5)
    n_sites, n_units = 6, 8
    site_of = np.repeat(np.arange(n_sites), n_units)
    first, second = np.triu_indices(len(site_of), 1)
    level = rng.uniform(0.2, 0.6, n_sites)  # no within-site excess, but levels differ by site
    sim = (level[site_of[first]] + level[site_of[second]]) / 2 + rng.normal(0, 0.02, len(first))
    sa, sb = site_of[first], site_of[second]
    pooled = stats.mannwhitneyu(sim[sa == sb], sim[sa != sb]).pvalue
    test = compare_similarity("v", sim, sa, sb)
    assert test.n_a == n_sites and test.p_value > 0.05
    raised = sim + np.where(sa == sb, 0.1, 0.0)
    assert compare_similarity("v", raised, sa, sb).p_value < 0.05
    assert np.isfinite(pooled)


def test_pair_labels_and_site_means_equal_their_direct_rules() -> None:
    """Labels and means over millions of pairs are computed from the few distinct labels;
    on random pairs they equal the rules written pair by pair and site by site."""
    from ndx_encoding_subspace.circuit.similarity import site_means
    from ndx_encoding_subspace.dataset.statistics import _pair_labels, _site_pairs, pair_class

    rng = np.random.default_rng(5)
    n = 60
    site = np.array([f"s{rng.integers(7)}" for _ in range(n)], dtype=object)
    cell = rng.choice(np.array(["narrow", "regular", "", None], dtype=object), n)
    a, b = np.triu_indices(n, 1)
    expected = ["-".join(sorted((str(x), str(y)))) if x and y else "" for x, y in zip(cell[a], cell[b])]
    assert list(pair_class(cell[a], cell[b])) == expected == list(_pair_labels(cell, a, b))
    assert list(_site_pairs(site, a, b)) == ["|".join(sorted((x, y))) for x, y in zip(site[a], site[b])]
    sim = rng.uniform(0, 1, a.size)
    sim[rng.uniform(size=a.size) < 0.1] = np.nan
    within, between = [], []
    for s in sorted(set(site)):
        w = np.isfinite(sim) & (site[a] == s) & (site[b] == s)
        x = np.isfinite(sim) & ((site[a] == s) ^ (site[b] == s))
        if w.any() and x.any():
            within.append(sim[w].mean())
            between.append(sim[x].mean())
    got = site_means(sim, site[a], site[b])
    np.testing.assert_allclose(got[0], within, rtol=1e-12)
    np.testing.assert_allclose(got[1], between, rtol=1e-12)
