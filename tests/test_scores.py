"""Scores: Pearson r, shuffle floor, signal power, CCnorm, noise ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.fitting.scores import (
    ccnorm,
    noise_ceiling,
    pearson_r,
    score_predictions,
    shuffle_floor,
    signal_power,
)


def _slow_ccnorm(pred_clips, trial_clips, unit):
    """Schoppe et al. (2016) written out with loops, one unit."""
    p = [x for c in pred_clips for x in c[:, unit]]
    y = [float(np.mean(c[:, t, unit])) for c in trial_clips for t in range(c.shape[1])]
    mp, my = sum(p) / len(p), sum(y) / len(y)
    cov = sum((a - mp) * (b - my) for a, b in zip(p, y)) / len(p)
    var_p = sum((a - mp) ** 2 for a in p) / len(p)
    sps, lens = [], []
    for c in trial_clips:
        n, t_len = c.shape[0], c.shape[1]
        tot = [sum(c[r, t, unit] for r in range(n)) for t in range(t_len)]
        m_tot = sum(tot) / t_len
        var_tot = sum((v - m_tot) ** 2 for v in tot) / t_len
        var_each = 0.0
        for r in range(n):
            m_r = sum(c[r, :, unit]) / t_len
            var_each += sum((v - m_r) ** 2 for v in c[r, :, unit]) / t_len
        sps.append((var_tot - var_each) / (n * (n - 1)))
        lens.append(t_len)
    sp = sum(s * w for s, w in zip(sps, lens)) / sum(lens)
    return cov / math.sqrt(var_p * sp)


def _data(seed=0, lengths=(40, 25), n_rep=6, units=3, noise=1.0):
    rng = np.random.default_rng(seed)
    signals = [rng.normal(size=(t, units)) for t in lengths]
    trials = [s[None] + noise * rng.normal(size=(n_rep, *s.shape)) for s in signals]
    preds = [s + 0.5 * rng.normal(size=s.shape) for s in signals]
    return signals, trials, preds


def _slow_between(trial_clips, unit):
    """The variance of the clips' mean rates beyond their noise, with loops, one unit."""
    lens = [c.shape[1] for c in trial_clips]
    w = [t / sum(lens) for t in lens]
    means, noise = [], []
    for c in trial_clips:
        n, t_len = c.shape[0], c.shape[1]
        each = [sum(c[r, :, unit]) / t_len for r in range(n)]
        means.append(sum(each) / n)
        noise.append(sum((e - means[-1]) ** 2 for e in each) / (n - 1) / n)
    grand = sum(wi * m for wi, m in zip(w, means))
    return (sum(wi * (m - grand) ** 2 for wi, m in zip(w, means))
            - sum(wi * (1 - wi) * v for wi, v in zip(w, noise)))


def test_ccnorm_matches_slow_formula_over_clips():
    _, trials, preds = _data(lengths=(40, 25, 31))
    trials[1] += 2.0  # clips of different mean rates
    within = ccnorm(preds, trials, "within_clips")
    joined = ccnorm(preds, trials)  # the default
    for u in range(3):
        slow = _slow_ccnorm(preds, trials, u)
        assert within[u] == pytest.approx(slow, rel=1e-10)
        sp_within = signal_power(trials, "within_clips")[u]
        expected = slow * math.sqrt(sp_within / (sp_within + _slow_between(trials, u)))
        assert joined[u] == pytest.approx(expected, rel=1e-10)
    one = [trials[0]]  # one clip: nothing between clips
    np.testing.assert_array_equal(signal_power(one), signal_power(one, "within_clips"))
    with pytest.raises(InvalidDataError, match="signal power's rule .* got 'pooled'"):
        signal_power(trials, "pooled")


def test_the_true_rate_scores_one_when_the_sounds_differ_in_mean_rate():
    """A prediction of the true rate has CCnorm 1 on average under the default rule, with
    sounds of different mean rates and repeats (2 to 20); within clips only, the signal
    power leaves out the spread of the means that the PSTH keeps, and CCnorm passes 1."""
    rng = np.random.default_rng(7)
    units, repeats = 300, (2, 5, 20, 8)
    rates = [np.exp(rng.normal(size=(t, units)) * 0.5 + level)
             for t, level in zip((120, 80, 150, 60), (-0.5, 0.5, 0.0, 1.0))]
    trials = [rng.poisson(np.broadcast_to(r, (n, *r.shape))).astype(float) for r, n in zip(rates, repeats)]
    joined, within = ccnorm(rates, trials), ccnorm(rates, trials, "within_clips")
    assert np.nanmean(joined) == pytest.approx(1.0, abs=0.03)
    assert np.nanmean(within) > 1.15
    sp = signal_power(trials)
    truth = np.concatenate(rates).var(axis=0)
    assert np.mean(sp) == pytest.approx(np.mean(truth), rel=0.05)


def test_ccnorm_is_ccraw_over_noise_ceiling():
    _, trials, preds = _data(1, lengths=(50,))
    r = pearson_r(preds[0], trials[0].mean(0))
    np.testing.assert_allclose(ccnorm(preds, trials), r / noise_ceiling(trials), rtol=1e-10)


def test_signal_power_unbiased_on_average():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(200, 1)) * 2.0  # variance ~4
    est = [signal_power(signal[None] + 3.0 * rng.normal(size=(10, 200, 1)))[0] for _ in range(200)]
    assert np.mean(est) == pytest.approx(signal.var(), rel=0.05)


def test_true_signal_gets_ccnorm_near_one():
    signals, trials, _ = _data(3, lengths=(400, 300), n_rep=20, noise=3.0)
    cc = ccnorm(signals, trials)
    assert np.all(np.abs(cc - 1.0) < 0.1)
    assert np.all(pearson_r(signals, [t.mean(0) for t in trials]) < 0.9)


def test_pearson_and_floor():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(300, 2))
    pred = np.stack([y[:, 0], rng.normal(size=300)], axis=1)
    r = pearson_r(pred, y)
    assert r[0] == pytest.approx(1.0)
    floor = shuffle_floor(pred, y, n_shuffles=200, rng=0)
    assert 0.0 < floor[0] < 0.2 and 0.0 < floor[1] < 0.2
    assert np.isnan(pearson_r(np.ones((10, 1)), rng.normal(size=(10, 1)))[0])


def test_score_predictions_and_errors():
    _, trials, preds = _data(5)
    s = score_predictions(preds, trials, n_shuffles=20)
    np.testing.assert_allclose(s.r, s.ccraw)
    assert set(s.summary()) >= {"ccnorm_mean", "ccnorm_median", "r_floor_mean"}
    with pytest.raises(InvalidDataError):
        ccnorm([np.zeros((3, 3))], [np.zeros((0, 3, 3))])  # no presentation


def test_single_presentations_score_r_and_leave_ccnorm_undefined():
    _, trials, preds = _data(5)
    once = [t[:1] for t in trials]
    s = score_predictions(preds, once, n_shuffles=20)
    psth = [t[0].astype(float) for t in once]
    np.testing.assert_allclose(s.r, pearson_r(preds, psth))
    assert np.all(np.isfinite(s.r)) and np.all(np.isnan(s.ccnorm)) and np.all(np.isnan(s.noise_ceiling))
    summary = s.summary()
    assert np.isnan(summary["ccnorm_median"]) and np.isfinite(summary["r_median"])
    mixed = [trials[0], trials[1][:1]]  # one clip of one presentation: no signal power for any unit
    assert np.all(np.isnan(ccnorm([preds[0], preds[1]], mixed)))
    with pytest.raises(InvalidDataError):
        pearson_r(np.full((5, 1), np.nan), np.zeros((5, 1)))


def test_the_subspace_to_cnn_ratio_keeps_the_sign_and_leaves_out_cnns_that_predict_nothing():
    from ndx_encoding_subspace.fitting.scores import r2_ratio

    ratio = r2_ratio(np.array([0.5, -0.28, 0.3, np.nan, 0.2]), np.array([0.5, 0.22, -0.1, 0.4, 0.0]))
    np.testing.assert_allclose(ratio, [1.0, -(0.28 / 0.22) ** 2, np.nan, np.nan, np.nan])


def test_tensors_tables_and_lists_of_numbers_are_one_clip_each():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    p, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    expected = pearson_r(p, y)
    for given in (torch.as_tensor(p), p.tolist(), torch.as_tensor(p, dtype=torch.float64).requires_grad_()):
        np.testing.assert_allclose(pearson_r(given, y), expected)
    np.testing.assert_allclose(pearson_r([torch.as_tensor(p[:20]), torch.as_tensor(p[20:])], y), expected)


def test_predictions_cut_otherwise_than_the_trials_and_impossible_settings_are_refused():
    rng = np.random.default_rng(4)
    trials = [rng.poisson(2.0, (4, 30, 2)).astype(float), rng.poisson(2.0, (4, 20, 2)).astype(float)]
    preds = [rng.standard_normal((30, 2)), rng.standard_normal((20, 2))]
    joined = score_predictions([np.concatenate(preds)], trials, n_shuffles=5)  # joined end to end: one clip
    np.testing.assert_allclose(joined.ccnorm, score_predictions(preds, trials, n_shuffles=5).ccnorm)
    with pytest.raises(InvalidDataError, match=r"2 clip\(s\) of \[20, 30\] bins for trials of 2 clip\(s\) "):
        score_predictions(preds[::-1], trials)
    with pytest.raises(InvalidDataError, match="different numbers of units"):
        ccnorm(preds, [trials[0], trials[1][:, :, :1]])
    with pytest.raises(InvalidDataError, match="n_shuffles must be"):
        shuffle_floor(preds[0], preds[0], n_shuffles=0)
    with pytest.raises(InvalidDataError, match="percentile must be 0 to 100"):
        shuffle_floor(preds[0], preds[0], percentile=150)
    from ndx_encoding_subspace.fitting.scores import r2_ratio

    np.testing.assert_allclose(r2_ratio(np.array([0.5, -0.5]), 1.0), [0.25, -0.25])
