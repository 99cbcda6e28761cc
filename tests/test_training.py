"""Training: two-stage schedule, early stopping, determinism, NaN handling, LN recovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ndx_encoding_subspace.errors import ConfigError, TrainingError
from ndx_encoding_subspace.fitting.schedule import FitRecord, TrainingParams, fit_model
from ndx_encoding_subspace.models import LNPopulation

FAST = dict(max_epochs=15, patience=4, segment_length=60, batch_size=4, device="cpu",
            lr_stage1=1e-2, lr_stage2=1e-3)


pytestmark = pytest.mark.usefixtures("one_thread")


def simulated_ln(seed=0, n_sounds=6, n_bins=240, n_f=6, taps=4, units=2):
    """Random stimuli and noiseless responses of LN neurons: relu(filter * stim)."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(units, n_f, taps))
    stims, resps = [], []
    for _ in range(n_sounds):
        x = rng.random((n_bins, n_f)).astype(np.float32)
        lin = np.zeros((n_bins, units))
        for lag in range(taps):
            lin[lag:] += np.einsum("tf,uf->tu", x[: n_bins - lag], h[:, :, lag])
        stims.append(x)
        resps.append(np.maximum(lin - lin.mean(), 0).astype(np.float32))
    return stims, resps, h


def _model(seed=0, n_f=6, units=2):
    torch.manual_seed(seed)
    return LNPopulation(n_f, units, channels=6, taps=4)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_two_stage_record_and_split():
    x, y, _ = simulated_ln()
    model = _model()
    rec = fit_model(model, x, y, TrainingParams(**FAST))
    assert rec.fit_sounds == [0, 1, 2, 3, 4] and rec.early_stop_sounds == [5]
    assert rec.stage.count("stage1") >= rec.best_epoch + 1
    assert rec.stage2_epochs == rec.best_epoch + 1  # stage 2 runs as long as stage 1 needed
    assert len(rec.train_loss) == len(rec.val_loss) == rec.epochs
    stage1 = [v for s, v in zip(rec.stage, rec.val_loss) if s == "stage1"]
    assert rec.selection_loss == pytest.approx(min(stage1))
    assert rec.versions["torch"] == torch.__version__
    assert FitRecord.from_dict(rec.to_dict()) == rec
    assert rec.val_loss[0] > rec.selection_loss  # it learned


def test_deterministic_for_a_seed():
    x, y, _ = simulated_ln()
    a, b, c = _model(), _model(), _model()
    ra = fit_model(a, x, y, TrainingParams(**FAST))
    rb = fit_model(b, x, y, TrainingParams(**FAST))
    fit_model(c, x, y, TrainingParams(**FAST, seed=1))
    assert ra.train_loss == rb.train_loss and ra.val_loss == rb.val_loss
    for k, v in _weights(a).items():
        assert torch.equal(v, _weights(b)[k])
    assert any(not torch.equal(v, _weights(c)[k]) for k, v in _weights(a).items())


def test_early_stop_mode_for_stage2_and_single_stage_module():
    x, y, _ = simulated_ln()
    rec = fit_model(_model(), x, y, TrainingParams(**FAST, stage2="early_stop"))
    stage2 = [v for s, v in zip(rec.stage, rec.val_loss) if s == "stage2"]
    assert rec.selection_loss <= min(stage2) + 1e-12
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(6, 2))  # a user module: one stage, whole sounds
    rec = fit_model(plain, x, y, TrainingParams(**FAST))
    assert set(rec.stage) == {"single"} and rec.stage2_epochs == 0


class _Exploding(nn.Module):
    """Returns NaN from epoch ``at`` on (counts its forward calls in training mode)."""

    receptive_field = 1

    def __init__(self, at_call: int) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 2)
        self.at, self.calls = at_call, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = self.lin(x)
        return out * float("nan") if self.calls >= self.at else out


def test_nan_raises_naming_the_epoch():
    x, y, _ = simulated_ln()
    model = _Exploding(at_call=9)  # 5 fit sounds x 4 segments / batch 4 = 5 steps per epoch
    with pytest.raises(TrainingError, match="single epoch 1"):
        fit_model(model, x, y, TrainingParams(**FAST))


def test_nan_rollback_lowers_lr_then_gives_up():
    x, y, _ = simulated_ln()
    with pytest.raises(TrainingError, match="2 rollbacks"):
        fit_model(_Exploding(at_call=9), x, y, TrainingParams(**FAST, nan_policy="rollback", max_rollbacks=2))


def test_params_validation():
    with pytest.raises(ConfigError, match="loss"):
        TrainingParams(loss="mse")
    with pytest.raises(ConfigError, match="early_stop_fraction"):
        TrainingParams(early_stop_fraction=1.0)
    with pytest.raises(ConfigError, match="unknown option"):
        TrainingParams.from_dict({"learning_rate": 1})


def test_ln_filter_recovered():
    x, y, h = simulated_ln(seed=2, n_sounds=8, units=1)
    model = _model(units=1)
    fit_model(model, x, y, TrainingParams(**{**FAST, "max_epochs": 80, "patience": 10}))
    # the core of the LN model is linear: its impulse responses are its filter
    est = np.zeros((6, 4))
    with torch.no_grad():
        base = model.core(torch.zeros(1, 4, 6))[0, -1, 0]
        for f in range(6):
            for lag in range(4):
                imp = torch.zeros(1, 4, 6)
                imp[0, 3 - lag, f] = 1.0
                est[f, lag] = float(model.core(imp)[0, -1, 0] - base)
    r = np.corrcoef(est.ravel(), h[0].ravel())[0, 1]
    assert r > 0.9


def test_l2_shrinks_dense_weights_and_poisson_runs():
    x, y, _ = simulated_ln()
    short = {**FAST, "max_epochs": 5}
    norms = []
    for l2 in (0.0, 1.0):
        model = _model()
        fit_model(model, x, y, TrainingParams(**short, l2=l2))
        norms.append(float(model.core_layers[2].weight.detach().norm()))
    assert norms[1] < 0.5 * norms[0]
    rec = fit_model(_model(), x, y, TrainingParams(**short, loss="poisson"))
    assert all(np.isfinite(rec.val_loss))


def test_training_data_that_cannot_be_fitted_is_refused_before_training():
    """A sound of no bins (held out, it would make early stopping void) and negative
    targets for the poisson loss."""
    from ndx_encoding_subspace.errors import InvalidDataError

    rng = np.random.default_rng(0)
    x = [rng.random((60, 6)).astype(np.float32) for _ in range(4)]
    y = [rng.poisson(1, (60, 3)).astype(np.float32) for _ in range(4)]
    params = TrainingParams(max_epochs=2, patience=1, device="cpu")
    with pytest.raises(InvalidDataError, match="training data: sound 4 has no bins"):
        fit_model(LNPopulation(6, 3), [*x, np.zeros((0, 6), np.float32)], [*y, np.zeros((0, 3), np.float32)],
                  params)
    with pytest.raises(InvalidDataError, match="sound 0 has negative targets, which the poisson loss"):
        fit_model(LNPopulation(6, 3), x, [t - 1 for t in y], params.replace(loss="poisson"))
    fit_model(LNPopulation(6, 3), x, [t - 1 for t in y], params)  # a baseline-subtracted PSTH: nmse fits it
