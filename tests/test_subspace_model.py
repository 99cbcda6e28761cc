"""Subspace model: a network on the true subspace predicts a simulated unit well."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError
from ndx_encoding_subspace.fitting.schedule import TrainingParams
from ndx_encoding_subspace.fitting.scores import shuffle_floor
from ndx_encoding_subspace.models import MemberAverage, SubspaceNetwork
from ndx_encoding_subspace.models.params import ScoringParams, SubspaceModelParams
from ndx_encoding_subspace.nonlinearity.subspace_model import fit_subspace_model, fit_subspace_models
from ndx_encoding_subspace.subspace.pca import fit_subspace
from ndx_encoding_subspace.subspace.projection import project

F, D = 5, 4


def _model(n_init: int = 1, **changes) -> SubspaceModelParams:
    return SubspaceModelParams(n_init=n_init, **changes)


def _scoring(n_shuffles: int, **changes) -> ScoringParams:
    return ScoringParams(n_shuffles=n_shuffles, **changes)


def _site(rng):
    filters = rng.normal(size=(2, F, D))
    filters /= np.linalg.norm(filters.reshape(2, -1), axis=1)[:, None, None]

    def rate(spec):
        x = project(spec - 0.5, filters)
        return 0.2 + 2.0 * np.maximum(x[:, 0], 0) + 1.5 * x[:, 1] ** 2

    sounds, names = [], []
    for i in range(8):
        spec = rng.random((300, F)).astype(np.float32)
        reps = 1 if i < 6 else 10
        counts = rng.poisson(np.tile(rate(spec)[None, :, None], (reps, 1, 1)))
        sounds.append(Sound(f"s{i}", spec, counts.astype(np.float32)))
        names.append(f"s{i}")
    site = SiteData("sim", tuple(sounds), np.arange(F, dtype=float), 0.01,
                    UnitInfo.from_ids([7]), tuple(names[:6]), tuple(names[6:]))
    return site, filters


def test_subspace_model_on_true_subspace():
    rng = np.random.default_rng(0)
    site, filters = _site(rng)
    samples = rng.normal(size=(300, 2)) @ filters.reshape(2, -1)
    samples += 0.01 * rng.normal(size=samples.shape)
    sub = fit_subspace(samples.reshape(300, F, D))
    assert sub.k == 2
    params = TrainingParams(max_epochs=60, patience=10, lr_stage1=1e-2, lr_stage2=1e-3,
                            segment_length=100, device="cpu")
    (model,) = fit_subspace_models(site, [sub], params, _model(), _scoring(10))
    assert model.unit == 0 and model.k == 2
    # the paper's network, k -> 15 -> 15 -> 1 with ReLUs and a double exponential, fitted
    # in two stages (core alone, then everything)
    for net in getattr(model.network, "members", [model.network]):
        dense = [m.linear.weight.shape for m in net.core_layers if hasattr(m, "linear")]
        assert dense == [(15, 2), (15, 15), (1, 15)]
        assert type(net.output).__name__ == "DoubleExponential"
    assert all({"stage1", "stage2"} <= set(r.stage) for r in model.records)
    assert model.predictions[0].shape == (300,)
    r = float(model.scores.r[0])
    assert r > 0.8, r
    assert model.scores.ccnorm[0] > r
    # one dimension alone misses the squared part
    (one,) = fit_subspace_models(site, [dataclasses.replace(sub, k=1)], params, _model(),
                                  _scoring(10))
    assert one.k == 1 and float(one.scores.r[0]) < r - 0.05


def test_scores_follow_the_scoring_parameters():
    rng = np.random.default_rng(0)
    site, filters = _site(rng)
    params = TrainingParams(max_epochs=2, patience=2, segment_length=100, device="cpu")
    pair = [(0, filters)]
    a, b = (fit_subspace_models(site, pair, params, _model(),
                                _scoring(10, seed=seed, floor_percentile=50.0))[0]
            for seed in (1, 2))
    np.testing.assert_array_equal(a.predictions[0], b.predictions[0])
    assert a.scores.r_floor[0] != b.scores.r_floor[0]
    psth = [s.counts[:, :, [0]].astype(np.float64).mean(axis=0) for s in site.split("validation")]
    want = shuffle_floor([p[:, None] for p in a.predictions], psth, n_shuffles=10,
                         percentile=50.0, rng=1)
    np.testing.assert_allclose(a.scores.r_floor, want, rtol=1e-5)


def test_fitting_leaves_the_global_random_state_alone():
    rng = np.random.default_rng(0)
    site, filters = _site(rng)
    params = TrainingParams(max_epochs=2, patience=2, segment_length=100, device="cpu")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_subspace_models(site, [(0, filters)], params, _model(), _scoring(5))
    assert torch.equal(torch.rand(3), expected)


def test_filters_must_match_site():
    rng = np.random.default_rng(1)
    site, _ = _site(rng)
    with pytest.raises(InvalidDataError, match="filters must be"):
        fit_subspace_model(site, 0, np.zeros((2, F + 1, D)))


def test_best_of_several_initialisations_is_kept():
    rng = np.random.default_rng(2)
    site, filters = _site(rng)
    params = TrainingParams(max_epochs=6, patience=3, segment_length=100, device="cpu")
    one = fit_subspace_model(site, 0, filters, params, _model(1), _scoring(5))
    three = fit_subspace_model(site, 0, filters, params, _model(3, combine="best"), _scoring(5))
    assert isinstance(three.network, SubspaceNetwork) and len(three.records) == 1
    # the first initialisation is the same seed, so three fits can only do as well or better
    assert three.record.selection_loss <= one.record.selection_loss
    again = fit_subspace_model(site, 0, filters, params, _model(1), _scoring(5))
    np.testing.assert_array_equal(again.predictions[0], one.predictions[0])
    with pytest.raises(ConfigError, match="SubspaceModelParams.n_init"):
        _model(0)
    with pytest.raises(ConfigError, match="SubspaceModelParams.combine"):
        _model(2, combine="median")


def test_mean_of_initialisations_equals_the_average_of_single_fits():
    rng = np.random.default_rng(3)
    site, filters = _site(rng)
    params = TrainingParams(max_epochs=6, patience=3, segment_length=100, device="cpu")
    mean = fit_subspace_model(site, 0, filters, params, _model(3, combine="mean"), _scoring(5))
    best = fit_subspace_model(site, 0, filters, params, _model(3, combine="best"), _scoring(5))
    assert isinstance(mean.network, MemberAverage) and len(mean.network.members) == 3
    assert len(mean.records) == 3
    assert mean.record.selection_loss == best.record.selection_loss
    # reference: each member alone, standardised and run by hand, then averaged
    stim = site.split("validation")[0].spectrogram
    x = torch.from_numpy(mean.inputs(stim))[None]
    with torch.no_grad():
        each = [m(x)[0, :, 0].numpy() for m in mean.network.members]
    np.testing.assert_allclose(mean.predictions[0], np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(e, each[0]) for e in each[1:])
    # the best single fit is one of the members
    assert any(np.allclose(best.predictions[0], e, rtol=1e-5, atol=1e-6) for e in each)


def _two_unit_site():
    """The simulated site with a second unit (units 7 and 8), and its filters."""
    site, filters = _site(np.random.default_rng(4))
    site = dataclasses.replace(site, units=UnitInfo.from_ids([7, 8]), sounds=tuple(
        dataclasses.replace(s, counts=np.concatenate([s.counts, s.counts[..., ::-1] * 0.5], axis=2))
        for s in site.sounds))
    return site, filters


def test_units_fitted_together_equal_units_fitted_alone():
    # two units with different k share one batched fit (the smaller one zero-padded)
    site, filters = _two_unit_site()
    params = TrainingParams(max_epochs=8, patience=3, segment_length=100, device="cpu")
    pairs = [(0, filters[:1]), (1, filters)]
    together = fit_subspace_models(site, pairs, params, _model(2), _scoring(5))
    for (unit, f), model in zip(pairs, together):
        alone = fit_subspace_model(site, unit, f, params, _model(2), _scoring(5))
        assert model.unit == unit and model.k == f.shape[0]
        assert [m.n_inputs for m in model.network.members] == [f.shape[0]] * 2
        assert [r.epochs for r in model.records] == [r.epochs for r in alone.records]
        np.testing.assert_allclose(model.predictions[0], alone.predictions[0], rtol=1e-4, atol=1e-5)
    # a memory bound of one member per group gives the same models
    split = fit_subspace_models(site, pairs, params, _model(2), _scoring(5), max_batch_bytes=1)
    for a, b in zip(together, split):
        np.testing.assert_allclose(a.predictions[0], b.predictions[0], rtol=1e-4, atol=1e-5)


def test_finished_fits_are_kept_and_reused(tmp_path, monkeypatch):
    from ndx_encoding_subspace.nonlinearity import subspace_model

    site, filters = _two_unit_site()
    params = TrainingParams(max_epochs=5, patience=3, segment_length=100, device="cpu")
    pairs = [(0, filters[:1]), (1, filters)]
    folder = tmp_path / "fits"
    first = fit_subspace_models(site, pairs, params, _model(2), _scoring(5), checkpoint_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "unit0_init0.pt", "unit0_init1.pt", "unit1_init0.pt", "unit1_init1.pt"]

    # one fit lost (a run killed before it was written): only that one is fitted again
    (folder / "unit1_init1.pt").unlink()
    real, fitted = subspace_model.fit_members, []

    def counting(models, *args, **kwargs):
        fitted.append(len(models))
        return real(models, *args, **kwargs)

    monkeypatch.setattr(subspace_model, "fit_members", counting)
    again = fit_subspace_models(site, pairs, params, _model(2), _scoring(5), checkpoint_dir=folder)
    assert fitted == [1]
    for a, b in zip(first, again):
        np.testing.assert_allclose(b.predictions[0], a.predictions[0], rtol=1e-5, atol=1e-6)
        assert [r.stage for r in b.records] == [r.stage for r in a.records]
        for ra, rb in zip(a.records, b.records):  # the refitted one ran alone: same to rounding
            np.testing.assert_allclose(rb.val_loss, ra.val_loss, rtol=1e-4)
    assert again[0].records[0].to_dict() == first[0].records[0].to_dict()  # kept: exact
    fitted.clear()  # another device's name: the fits are kept
    fit_subspace_models(site, pairs, params.replace(device="auto"), _model(2), _scoring(5),
                        checkpoint_dir=folder)
    assert fitted == []

    # other training parameters or a damaged file: fitted again, never trusted
    (folder / "unit0_init0.pt").write_bytes(b"not a checkpoint")
    fitted.clear()
    fit_subspace_models(site, pairs, params, _model(2), _scoring(5), checkpoint_dir=folder)
    assert fitted == [1]
    fitted.clear()
    fit_subspace_models(site, pairs, params.replace(max_epochs=4), _model(2), _scoring(5),
                        checkpoint_dir=folder)
    assert sum(fitted) == 4


def test_defaults_are_those_of_the_parameter_classes(monkeypatch):
    from ndx_encoding_subspace.nonlinearity import subspace_model

    site, filters = _site(np.random.default_rng(5))
    real, fitted = subspace_model.fit_members, []

    def counting(models, *args, **kwargs):
        fitted.append(len(models))
        return real(models, *args, **kwargs)

    monkeypatch.setattr(subspace_model, "fit_members", counting)
    params = TrainingParams(max_epochs=1, patience=1, segment_length=100, device="cpu")
    model = fit_subspace_model(site, 0, filters, params)
    defaults = SubspaceModelParams()
    assert sum(fitted) == defaults.n_init == 4  # the pipeline's number of fits per unit
    assert isinstance(model.network, MemberAverage) and len(model.records) == defaults.n_init
    for net in model.network.members:
        dense = [m.linear.out_features for m in net.core_layers if hasattr(m, "linear")]
        assert tuple(dense[:-1]) == defaults.hidden
