"""Reliability of tuning subspaces: the formulas against slow references, and the stage on
a simulated site whose generating model is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg
import torch

from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site, truth_model
from ndx_encoding_subspace.dstrf import DSTRFParams, sample_times
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError
from ndx_encoding_subspace.fitting.ensemble import Ensemble
from ndx_encoding_subspace.pipeline import stages as analysis
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspace
from ndx_encoding_subspace.subspace.reliability import (
    SubspaceReliability,
    dimension_confidence,
    mean_squared_cosine,
    parts_reliability,
    reliability_times,
    resolve_rule,
    split_halves,
    unit_reliability,
)

P = 40


def _orthonormal(rng: np.random.Generator, n: int, p: int = P) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(p, n)))[0].T  # [n, p], orthonormal rows


def _slow_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared cosine of the principal angles, from scipy's angles."""
    angles = scipy.linalg.subspace_angles(a, b)
    return float(np.mean(np.cos(angles) ** 2))


def test_mean_squared_cosine_equals_the_principal_angles_reference():
    rng = np.random.default_rng(0)
    for ka, kb in ((1, 1), (3, 3), (2, 5), (4, 2)):
        a, b = rng.normal(size=(P, ka)), rng.normal(size=(P, kb))
        assert mean_squared_cosine(a, b) == pytest.approx(_slow_similarity(a, b), abs=1e-10)
    a = rng.normal(size=(P, 3))
    assert mean_squared_cosine(a, a @ rng.normal(size=(3, 3))) == pytest.approx(1.0)
    with pytest.raises(InvalidDataError, match="different sizes"):
        mean_squared_cosine(a, rng.normal(size=(P + 1, 3)))


def test_identical_parts_are_reliable_and_orthogonal_ones_are_not():
    rng = np.random.default_rng(1)
    own = _orthonormal(rng, 6)
    same, stab, agree = parts_reliability([own, own.copy(), own[[1, 0, 2, 3, 4, 5]]], own, 3)
    assert same == pytest.approx(1.0) and agree == pytest.approx(1.0)
    np.testing.assert_allclose(stab, 1.0)  # every component within each part's span
    q = _orthonormal(rng, 9)
    apart, stab, agree = parts_reliability([q[:3], q[3:6], q[6:9]], q[:3], 3)
    assert apart == pytest.approx(0.0, abs=1e-12)
    assert agree == pytest.approx(1.0 / 3.0)  # one of the three parts is the unit's own
    np.testing.assert_allclose(stab, 1.0 / 3.0)


def test_reliability_and_stability_equal_the_slow_loops():
    rng = np.random.default_rng(2)
    own = _orthonormal(rng, 5)
    parts = [_orthonormal(rng, 5) for _ in range(4)]
    k = 2
    got, stab, agree = parts_reliability(parts, own, k)
    pairs = list(itertools.combinations(range(4), 2))
    want = np.mean([_slow_similarity(parts[a][:k].T, parts[b][:k].T) for a, b in pairs])
    assert got == pytest.approx(want, abs=1e-10)
    assert agree == pytest.approx(np.mean([_slow_similarity(p[:k].T, own[:k].T)
                                           for p in parts]), abs=1e-10)
    for j in range(5):
        m = max(k, j + 1)
        share = [np.linalg.norm(p[:m].T @ np.linalg.lstsq(p[:m].T, own[j], rcond=None)[0]) ** 2
                 for p in parts]  # squared norm of the projection onto the part's span
        assert stab[j] == pytest.approx(np.mean(share), abs=1e-10)
    with pytest.raises(InvalidDataError, match="at least two"):
        parts_reliability(parts[:1], own, k)


def test_dimension_confidence_formula():
    ratio = np.array([0.5, 0.2, 0.05, 0.01, 0.0])
    floor = np.full(5, 0.05)
    stability = np.array([1.0, 0.5, 1.0, 1.0, 1.0])
    got = dimension_confidence(ratio, floor, stability)
    np.testing.assert_allclose(got, [0.9, 0.375, 0.0, 0.0, 0.0])
    assert np.all((got >= 0) & (got <= 1))
    assert np.isnan(dimension_confidence(ratio, np.full(5, np.nan), stability)).all()


def _samples(rng: np.random.Generator, basis: np.ndarray, n: int, noise: float) -> np.ndarray:
    coef = rng.normal(size=(n, len(basis))) * np.array([3.0, 2.0, 1.5])[: len(basis)]
    return (coef @ basis + noise * rng.normal(size=(n, basis.shape[1]))).reshape(n, 5, 8)


def test_unit_reliability_separates_agreeing_from_disagreeing_members():
    rng = np.random.default_rng(3)
    params = SubspaceParams(n_components=6, noise_repeats=3)
    basis = _orthonormal(rng, 3)
    members = [_samples(rng, basis, 400, 0.05) for _ in range(3)]
    own = fit_subspace(np.mean(members, axis=0), params)
    assert own.k == 3
    good = unit_reliability(members, own, params, "members")
    assert good.reliability > 0.99 and good.rule == "members" and good.n_parts == 3
    assert np.all(good.stability[:3] > 0.99)
    np.testing.assert_allclose(good.confidence, dimension_confidence(
        own.explained_variance_ratio, own.noise_floor, good.stability))
    # the stronger the component against the floor, the surer; noise dimensions at 0
    assert 1 > good.confidence[0] > good.confidence[1] > good.confidence[2] > 0.3
    assert np.all(good.confidence[3:] < 0.05)
    others = [_samples(rng, _orthonormal(rng, 3), 400, 0.05) for _ in range(2)]
    bad = unit_reliability([members[0], *others], own, params, "members")
    assert bad.reliability < 0.2 and np.all(bad.confidence[:3] < good.confidence[:3])
    halves = unit_reliability(split_halves(members[0]), own, params, "split_halves")
    assert halves.reliability > 0.99 and halves.n_parts == 2 and halves.n_samples == 200
    unknown = SubspaceReliability.unknown(own)
    assert np.isnan(unknown.reliability) and unknown.rule == "unknown"
    assert unknown.confidence.shape == (6,)


def test_rules_and_bounded_sample():
    assert resolve_rule("auto", 1) == "split_halves"
    assert resolve_rule("auto", 4) == "members"
    assert resolve_rule("none", 4) == "none"
    with pytest.raises(ConfigError, match="two members or more"):
        resolve_rule("members", 1)
    lengths = [500, 300, 700]
    dstrf = DSTRFParams(sample_step=2, max_samples=10_000)
    every = sample_times(lengths, dstrf)
    assert [len(t) for t in reliability_times(lengths, dstrf, 10_000)] == [len(t) for t in every]
    fewer = reliability_times(lengths, dstrf, 100)
    assert sum(len(t) for t in fewer) == 100
    for got, full in zip(fewer, every):
        assert np.isin(got, full).all()
    with pytest.raises(InvalidDataError, match="at least 4"):
        split_halves(np.zeros((3, 2, 2)))


def test_params_of_the_k_and_reliability_rules_are_validated():
    with pytest.raises(ConfigError, match="k_rule"):
        SubspaceParams(k_rule="elbow")
    with pytest.raises(ConfigError, match="noise_repeats must be at least 1"):
        SubspaceParams(k_rule="significance", noise_repeats=0)
    with pytest.raises(ConfigError, match="reliability_rule"):
        SubspaceParams(reliability_rule="bootstrap")
    with pytest.raises(ConfigError, match="reliability_threshold"):
        SubspaceParams(reliability_threshold=1.5)
    with pytest.raises(ConfigError, match="reliability_max_samples"):
        SubspaceParams(reliability_max_samples=2)


# ---------------------------------------------------------------- the stage, on a known site


class _Swapped(torch.nn.Module):
    """The generating model with two units' outputs exchanged."""

    def __init__(self, model: torch.nn.Module, a: int, b: int, n_units: int) -> None:
        super().__init__()
        self.model = model
        self.receptive_field = model.receptive_field
        order = list(range(n_units))
        order[a], order[b] = b, a
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[..., self.order]


@pytest.fixture(scope="module")
def known():
    """A simulated site as SiteData, its generating model, and the config of the stage."""
    sim = simulate_site(SimulationParams.quick(n_units=4, n_estimation_sounds=6, seed=4))
    n_units = len(sim.truth.units)
    sounds = tuple(Sound(name, sim.spectrograms[name].astype(np.float32),
                         np.zeros((1, len(sim.spectrograms[name]), n_units), np.float32))
                   for name in (*sim.estimation, *sim.validation))
    site = SiteData("known", sounds, np.arange(sounds[0].spectrogram.shape[1], dtype=float),
                    0.01, UnitInfo.from_ids(np.arange(n_units)), tuple(sim.estimation),
                    tuple(sim.validation))
    config = PipelineConfig.from_dict({
        "dstrf": {"n_lags": 20, "sample_step": 3, "device": "cpu"},
        "subspace": {"n_components": 8, "noise_repeats": 2}})
    return sim, site, truth_model(sim.truth), config


@pytest.mark.slow
def test_members_that_agree_are_reliable_and_swapped_units_are_not(known, monkeypatch):
    sim, site, model, config = known
    n_units = site.n_units
    same = Ensemble([model, model], [], [], [])
    subs, _ = analysis.tuning_subspaces(same, site, config)
    rel = analysis.subspace_reliability(same, site, config, subs)
    assert [r.rule for r in rel] == ["members"] * n_units
    np.testing.assert_allclose([r.reliability for r in rel], 1.0, atol=1e-6)
    # the two units whose true subspaces differ most exchange outputs in the second member
    true = [np.asarray(u.filters).reshape(u.k, -1).T for u in sim.truth.units]
    a, b = min(itertools.combinations(range(n_units), 2),
               key=lambda ab: mean_squared_cosine(true[ab[0]], true[ab[1]]))
    swapped = Ensemble([model, _Swapped(model, a, b, n_units)], [], [], [])
    monkeypatch.setattr(analysis, "IN_MEMORY_DSTRF_BYTES", 1)  # one unit at a time
    rel = analysis.subspace_reliability(swapped, site, config, subs)
    values = np.array([r.reliability for r in rel])
    rest = [u for u in range(n_units) if u not in (a, b)]
    assert np.all(values[rest] > 0.999), values
    assert np.all(values[[a, b]] < 0.7), values
    assert np.all(values[[a, b]] < values[rest].min() - 0.3)


@pytest.mark.slow
def test_a_single_member_is_measured_on_split_halves(known):
    _, site, model, config = known
    one = Ensemble([model], [], [], [])
    subs, _ = analysis.tuning_subspaces(one, site, config)
    bounded = config.replace(subspace={"reliability_max_samples": 120})
    rel = analysis.subspace_reliability(one, site, bounded, subs)
    assert [r.rule for r in rel] == ["split_halves"] * site.n_units
    assert all(0.0 <= r.reliability <= 1.0 for r in rel)
    assert all(r.n_samples == 60 for r in rel)  # 200 sampled bins, bounded to 120, halved
    # the generating model's dSTRFs lie in the true subspace: both halves find it
    assert np.mean([r.reliability for r in rel]) > 0.8
    none = config.replace(subspace={"reliability_rule": "none"})
    assert all(np.isnan(r.reliability) for r in
               analysis.subspace_reliability(one, site, none, subs))


def test_reliabilities_are_kept_for_a_rerun(tmp_path):
    from ndx_encoding_subspace.pipeline.stage_cache import load_reliability, save_reliability

    rng = np.random.default_rng(5)
    params = SubspaceParams(n_components=6, noise_repeats=2)
    basis = _orthonormal(rng, 3)
    parts = [_samples(rng, basis, 200, 0.1) for _ in range(2)]
    own = fit_subspace(np.mean(parts, axis=0), params)
    items = [unit_reliability(parts, own, params, "members"), SubspaceReliability.unknown(own)]
    path = tmp_path / "reliability.npz"
    save_reliability(path, "key-1", items)
    back = load_reliability(path, "key-1")
    assert back is not None and len(back) == 2
    for got, want in zip(back, items):
        assert (got.unit, got.rule, got.n_parts, got.n_samples) == (
            want.unit, want.rule, want.n_parts, want.n_samples)
        np.testing.assert_array_equal(got.reliability, want.reliability)
        np.testing.assert_array_equal(got.confidence, want.confidence)
        np.testing.assert_array_equal(got.stability, want.stability)
    assert load_reliability(path, "key-2") is None
    path.write_bytes(b"not an archive")
    assert load_reliability(path, "key-1") is None
