"""Batched fitting of many members equals fitting each alone with fit_model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ndx_encoding_subspace.errors import ConfigError, InvalidDataError, TrainingError
from ndx_encoding_subspace.fitting.members import fit_members
from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model
from ndx_encoding_subspace.models import LNPopulation, SubspaceNetwork

FAST = dict(max_epochs=30, patience=4, segment_length=60, batch_size=4, device="cpu",
            lr_stage1=1e-2, lr_stage2=1e-3)


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(seed, n_in, n_sounds=6, n_bins=180, units=1, noise=0.3):
    """Each member its own stimuli and rectified-linear responses with noise."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n_in, units))
    x = [rng.normal(size=(n_bins, n_in)).astype(np.float32) for _ in range(n_sounds)]
    y = [(np.maximum(a @ w, 0) + noise * rng.normal(size=(n_bins, units))).astype(np.float32) for a in x]
    return x, y


def _compare(make, n_in, params, units=1, n=4):
    models, inputs, targets = [], [], []
    for i in range(n):
        torch.manual_seed(100 + i)
        models.append(make())
        x, y = _data(i, n_in, units=units)
        if params.loss == "poisson":  # counts are not negative
            y = [np.maximum(t, 0) for t in y]
        inputs.append(x)
        targets.append(y)
    alone = [copy.deepcopy(m) for m in models]
    seeds = [7 + 3 * i for i in range(n)]
    ref = [fit_model(m, x, y, params.replace(seed=s)) for m, x, y, s in zip(alone, inputs, targets, seeds)]
    got = fit_members(models, inputs, targets, params, seeds)
    for r, g, a, b in zip(ref, got, alone, models):
        assert (g.stage, g.epochs, g.best_epoch, g.stage2_epochs, g.seed) == \
            (r.stage, r.epochs, r.best_epoch, r.stage2_epochs, r.seed)
        np.testing.assert_allclose(g.val_loss, r.val_loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(g.train_loss, r.train_loss, rtol=1e-4, atol=1e-6)
        assert g.selection_loss == pytest.approx(r.selection_loss, rel=1e-4)
        assert g.params == r.params and g.fit_sounds == r.fit_sounds
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().cpu().numpy(),
                                       rtol=1e-3, atol=1e-5, err_msg=name)
    return ref


def test_subspace_networks_fit_together_as_alone():
    ref = _compare(lambda: SubspaceNetwork(3, hidden=(5, 4)), 3, TrainingParams(**FAST), n=6)
    # half the members ended stage 1 while others went on: finished members were frozen
    # and then dropped from the working stack
    stage1 = sorted(r.stage.count("stage1") for r in ref)
    assert stage1[len(stage1) // 2 - 1] < stage1[-1], stage1


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run in the GPU checks)")


@CUDA
def test_members_fit_together_as_alone_on_cuda():
    params = TrainingParams(**{**FAST, "device": "cuda"})
    _compare(lambda: SubspaceNetwork(3, hidden=(5, 4)), 3, params, n=4)


@CUDA
def test_mixed_precision_members_train_like_full_precision_on_cuda():
    def fit(mixed):
        torch.manual_seed(0)
        models = [LNPopulation(4, 2, channels=3, taps=3) for _ in range(3)]
        data = [_data(i, 4, units=2) for i in range(3)]
        params = TrainingParams(**{**FAST, "device": "cuda", "mixed_precision": mixed})
        return fit_members(models, [d[0] for d in data], [d[1] for d in data], params, [1, 2, 3])

    for full, mixed in zip(fit(False), fit(True)):
        assert np.isfinite(mixed.selection_loss)
        assert mixed.selection_loss == pytest.approx(full.selection_loss, rel=0.1)


def test_causal_population_models_and_stage2_early_stop():
    # a receptive field > 1 (segments with context), two outputs, Gaussian mixing and FIRs
    params = TrainingParams(**FAST, stage2="early_stop")
    _compare(lambda: LNPopulation(4, 2, channels=3, taps=3), 4, params, units=2, n=3)


def test_single_stage_module_and_poisson_loss():
    class Plain(nn.Module):
        receptive_field = 1

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            return nn.functional.softplus(self.lin(x))

    ref = _compare(Plain, 3, TrainingParams(**FAST, loss="poisson", l2=1e-2))
    assert set(ref[0].stage) == {"single"}


def test_bad_members_are_refused():
    x, y = _data(0, 3)
    params = TrainingParams(**FAST)
    with pytest.raises(ConfigError, match="model 1"):
        fit_members([SubspaceNetwork(3), SubspaceNetwork(2)], [x, x], [y, y], params)
    with pytest.raises(ConfigError, match="as many"):
        fit_members([SubspaceNetwork(3)], [x, x], [y], params)
    short = [a[:100] for a in x], [a[:100] for a in y]
    with pytest.raises(InvalidDataError, match="same lengths"):
        fit_members([SubspaceNetwork(3), SubspaceNetwork(3)], [x, short[0]], [y, short[1]], params)


def test_non_finite_loss_names_the_member():
    x, y = _data(0, 3)
    bad = [a.copy() for a in y]
    bad[0][5, 0] = np.inf
    with pytest.raises(InvalidDataError):
        fit_members([SubspaceNetwork(3), SubspaceNetwork(3)], [x, x], [y, bad], TrainingParams(**FAST))
    net = SubspaceNetwork(3)
    with torch.no_grad():
        net.core_layers[0].linear.weight.fill_(1e38)
    with pytest.raises(TrainingError, match="member 1 of 2"):
        fit_members([SubspaceNetwork(3), net], [x, x], [y, y], TrainingParams(**FAST))


def test_rollback_of_one_member_then_giving_up_names_it():
    x, y = _data(0, 3)
    net = SubspaceNetwork(3)
    with torch.no_grad():
        net.core_layers[0].linear.weight.fill_(1e38)
    params = TrainingParams(**FAST, nan_policy="rollback", max_rollbacks=2)
    with pytest.raises(TrainingError, match=r"member 1 of 2.*2 rollbacks"):
        fit_members([SubspaceNetwork(3), net], [x, x], [y, y], params)
