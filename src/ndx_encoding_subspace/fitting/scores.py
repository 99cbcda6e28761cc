"""Prediction scores per unit (METHOD.md section 7), computed in numpy.

Conventions: predictions and PSTHs are ``[time, units]``; trials are
``[repeats, time, units]``; several clips are given as lists and joined end to end.
Every variance and covariance uses ``ddof=0``. Scores are NaN for a unit whose
prediction or PSTH is constant, or whose estimated signal power is not positive.

CCnorm follows Schoppe et al. (2016, Front Comput Neurosci 10:10)::

    SP      = (Var(sum_n r_n) - sum_n Var(r_n)) / (N (N - 1))      (Sahani & Linden)
    CCnorm  = Cov(pred, psth) / sqrt(Var(pred) * SP)
    CCmax   = sqrt(SP / Var(psth))          (noise ceiling; CCnorm = CCraw / CCmax)

With several clips the covariance and variances are taken over the clips joined end to
end. SP is estimated within each clip and averaged weighted by clip length; under the rule
``"joined"`` (the default, :class:`~..models.params.ScoringParams`) the variance of the
clips' mean rates is added, less what their noise contributes (estimated from each
presentation's mean rate), so that SP is the signal power of the joined clips whose
covariance CCnorm takes. Under ``"within_clips"`` (the NS1 protocol, METHOD.md section 9)
it is not, and CCnorm comes out high when the clips' mean rates differ.
CCnorm is not clipped: it may exceed 1 when the signal power is underestimated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from ..arrays import real_array
from ..errors import InvalidDataError
from ..models.params import SIGNAL_POWER_RULES, ScoringParams

__all__ = [
    "pearson_r",
    "shuffle_floor",
    "signal_power",
    "noise_ceiling",
    "ccnorm",
    "UnitScores",
    "score_model",
    "score_predictions",
    "r2_ratio",
]

ArrayOrList = np.ndarray | Sequence[np.ndarray]


def _array(x: object) -> np.ndarray:
    """``x`` as a numpy array of real numbers (:func:`~..arrays.real_array`)."""
    return real_array(x, "scores")


def _clips(x: ArrayOrList) -> list[np.ndarray]:
    """The clips of ``x``: a sequence of arrays (or tensors) is one clip each; an array, a
    tensor, a table or nested lists of numbers is one clip."""
    if isinstance(x, Sequence) and not isinstance(x, str) and len(x) and all(
            hasattr(a, "ndim") for a in x):
        return [_array(a) for a in x]
    if isinstance(x, Sequence) and not isinstance(x, str) and not len(x):
        return []
    return [_array(x)]


def _join(x: ArrayOrList, what: str) -> np.ndarray:
    """One clip ([time] or [time, units]) or a list of clips joined along time, as 2-D."""
    arrays = _clips(x)
    if not arrays:
        raise InvalidDataError(f"{what}: no clips given")
    out = []
    for a in arrays:
        a = a[:, None] if a.ndim == 1 else a
        if a.ndim != 2:
            raise InvalidDataError(f"{what}: expected [time, units] arrays, got shape {a.shape}")
        out.append(a.astype(np.float64))
    if len({a.shape[1] for a in out}) > 1:
        raise InvalidDataError(f"{what}: clips of different numbers of units {[a.shape[1] for a in out]}")
    joined = np.concatenate(out, axis=0)
    if not np.all(np.isfinite(joined)):
        raise InvalidDataError(f"{what}: holds NaN or inf")
    return joined


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = (a * b).mean(axis=0)
    den = np.sqrt((a * a).mean(axis=0) * (b * b).mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def pearson_r(pred: ArrayOrList, psth: ArrayOrList) -> np.ndarray:
    """Pearson correlation per unit between prediction and PSTH, shape ``(units,)``."""
    p = _join(pred, "prediction")
    y = _join(psth, "psth")
    if p.shape != y.shape:
        raise InvalidDataError(f"prediction shape {p.shape} differs from psth shape {y.shape}")
    return _corr(p, y)


def _scoring(n_shuffles: int | None, percentile: float | None,
             rng: np.random.Generator | int | None) -> tuple[int, float, np.random.Generator | int]:
    defaults = ScoringParams()
    return (defaults.n_shuffles if n_shuffles is None else n_shuffles,
            defaults.floor_percentile if percentile is None else percentile,
            defaults.seed if rng is None else rng)


def shuffle_floor(
    pred: ArrayOrList, psth: ArrayOrList, n_shuffles: int | None = None, percentile: float | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Chance level of Pearson r: a percentile of r with time-shuffled predictions.

    Each shuffle permutes the time bins of the (joined) prediction, the same permutation
    for every unit. Returns shape ``(units,)``. ``n_shuffles``, ``percentile`` and ``rng``
    (a seed) default to :class:`~.ScoringParams`' ``n_shuffles``, ``floor_percentile``
    and ``seed``.
    """
    n_shuffles, percentile, rng = _scoring(n_shuffles, percentile, rng)
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, int | np.integer) or n_shuffles < 1:
        raise InvalidDataError(f"n_shuffles must be a whole number of at least 1, got {n_shuffles!r}")
    if not 0 <= percentile <= 100:
        raise InvalidDataError(f"percentile must be 0 to 100, got {percentile!r}")
    p = _join(pred, "prediction")
    y = _join(psth, "psth")
    if p.shape != y.shape:
        raise InvalidDataError(f"prediction shape {p.shape} differs from psth shape {y.shape}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rs = np.empty((n_shuffles, p.shape[1]))
    for i in range(n_shuffles):
        rs[i] = _corr(p[gen.permutation(p.shape[0])], y)
    return np.percentile(rs, percentile, axis=0)


def _clip_list(trials: ArrayOrList) -> list[np.ndarray]:
    clips = _clips(trials)
    out = []
    for i, c in enumerate(clips):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim == 2:
            c = c[:, :, None]
        which = f"validation sound {i} of {len(clips)}"
        if c.ndim != 3:
            raise InvalidDataError(f"{which}: responses must be [repeats, time, units], got shape {c.shape}")
        if c.shape[0] < 1:
            raise InvalidDataError(f"{which}: no presentation to score on")
        if not np.all(np.isfinite(c)):
            raise InvalidDataError(f"{which}: responses hold NaN or inf")
        out.append(c)
    if not out:
        raise InvalidDataError("no validation sounds to score on")
    if len({c.shape[2] for c in out}) > 1:
        raise InvalidDataError(f"validation sounds of different numbers of units {[c.shape[2] for c in out]}")
    return out


def _same_clips(pred: ArrayOrList, clips: Sequence[np.ndarray]) -> None:
    """Predictions cut into the clips of the trials (one per sound, of its length), or
    joined end to end: the signal power is estimated within each clip."""
    preds = _clips(pred)
    lengths = [len(p) for p in preds]
    expected = [c.shape[1] for c in clips]
    if lengths != expected and not (len(preds) == 1 and lengths[0] == sum(expected)):  # or joined
        raise InvalidDataError(f"predictions of {len(preds)} clip(s) of {lengths} bins for trials of "
                               f"{len(clips)} clip(s) of {expected} bins: give one prediction per sound, "
                               "of its length")


def _rule(rule: str | None) -> str:
    rule = ScoringParams().signal_power if rule is None else rule
    if rule not in SIGNAL_POWER_RULES:
        raise InvalidDataError(f"the signal power's rule must be one of {list(SIGNAL_POWER_RULES)}, "
                               f"got {rule!r}")
    return rule


def signal_power(trials: ArrayOrList, rule: str | None = None) -> np.ndarray:
    """Sahani-Linden signal power per unit, length-weighted over clips, shape ``(units,)``.

    ``rule`` (default :attr:`ScoringParams.signal_power`): ``"joined"`` adds the variance
    of the clips' mean rates beyond their noise, ``"within_clips"`` does not (module
    docstring). NaN for every unit when a clip was presented once: its signal and noise
    cannot be told apart, so CCnorm and the noise ceiling are undefined (r still is).
    """
    rule = _rule(rule)
    clips = _clip_list(trials)
    if any(c.shape[0] < 2 for c in clips):
        return np.full(clips[0].shape[2], np.nan)
    sps, weights = [], []
    for c in clips:
        n = c.shape[0]
        total = c.sum(axis=0).var(axis=0)
        each = c.var(axis=1).sum(axis=0)
        sps.append((total - each) / (n * (n - 1)))
        weights.append(c.shape[1])
    w = np.asarray(weights, dtype=float) / sum(weights)
    within = np.average(np.stack(sps), axis=0, weights=w)
    if rule == "within_clips" or len(clips) == 1:
        return within
    return within + _between_clips(clips, w)


def _between_clips(clips: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """The length-weighted variance of the clips' true mean rates: that of their measured
    means, less the noise of each (the variance of its presentations' means over their
    number), as ``E[sum w (m - m_bar)^2] = var_w(mu) + sum w (1 - w) noise``."""
    means = np.stack([c.mean(axis=(0, 1)) for c in clips])  # [clips, units]
    noise = np.stack([c.mean(axis=1).var(axis=0, ddof=1) / c.shape[0] for c in clips])
    spread = (w[:, None] * (means - (w[:, None] * means).sum(axis=0)) ** 2).sum(axis=0)
    return spread - ((w * (1 - w))[:, None] * noise).sum(axis=0)


def noise_ceiling(trials: ArrayOrList, rule: str | None = None) -> np.ndarray:
    """CCmax = sqrt(SP / Var(PSTH)) per unit (PSTH of the joined clips; ``rule``: that of
    :func:`signal_power`)."""
    clips = _clip_list(trials)
    sp = signal_power(clips, rule)
    var_y = np.concatenate([c.mean(axis=0) for c in clips], axis=0).var(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((sp > 0) & (var_y > 0), np.sqrt(np.clip(sp, 0, None) / var_y), np.nan)


def ccnorm(pred: ArrayOrList, trials: ArrayOrList, rule: str | None = None) -> np.ndarray:
    """Normalised correlation coefficient (Schoppe et al. 2016) per unit, shape ``(units,)``
    (``rule``: that of :func:`signal_power`)."""
    clips = _clip_list(trials)
    _same_clips(pred, clips)
    p = _join(pred, "prediction")
    y = np.concatenate([c.mean(axis=0) for c in clips], axis=0)
    if p.shape != y.shape:
        raise InvalidDataError(f"prediction shape {p.shape} differs from trial-mean shape {y.shape}")
    sp = signal_power(clips, rule)
    cov = ((p - p.mean(axis=0)) * (y - y.mean(axis=0))).mean(axis=0)
    den = p.var(axis=0) * sp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, cov / np.sqrt(np.where(den > 0, den, 1.0)), np.nan)


@dataclasses.dataclass(frozen=True)
class UnitScores:
    """Scores of one model on the validation sounds, one entry per unit.

    Attributes
    ----------
    r : Pearson r between prediction and PSTH (= ``ccraw``).
    r_floor : shuffle floor of r (95th percentile).
    ccnorm : noise-normalised correlation.
    ccraw : raw correlation with the trial mean.
    noise_ceiling : CCmax, the largest r any prediction could reach.
    """

    r: np.ndarray
    r_floor: np.ndarray
    ccnorm: np.ndarray
    ccraw: np.ndarray
    noise_ceiling: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean and median of every score over units (NaN units ignored)."""
        out = {}
        for f in dataclasses.fields(self):
            v = np.asarray(getattr(self, f.name), dtype=np.float64)
            v = v[np.isfinite(v)]  # none: NaN (CCnorm of single presentations), not numpy's warning
            out[f"{f.name}_mean"] = float(np.mean(v)) if len(v) else float("nan")
            out[f"{f.name}_median"] = float(np.median(v)) if len(v) else float("nan")
        return out


def score_predictions(
    preds: Sequence[np.ndarray], trials: Sequence[np.ndarray], *, n_shuffles: int | None = None,
    rng: np.random.Generator | int | None = None, percentile: float | None = None,
    signal_power_rule: str | None = None,
) -> UnitScores:
    """Scores from predictions ``[time, units]`` and trials ``[repeats, time, units]`` per clip.

    ``n_shuffles``, ``rng`` and ``percentile``: the shuffle floor's (see :func:`shuffle_floor`);
    ``signal_power_rule``: that of CCnorm and the noise ceiling (see :func:`signal_power`).
    """
    trials = _clip_list(trials)
    preds = _clips(preds)
    _same_clips(preds, trials)
    psth = [t.mean(axis=0) for t in trials]
    r = pearson_r(list(preds), psth)
    return UnitScores(
        r=r,
        r_floor=shuffle_floor(list(preds), psth, n_shuffles=n_shuffles, percentile=percentile,
                              rng=rng),
        ccnorm=ccnorm(list(preds), list(trials), signal_power_rule),
        ccraw=r.copy(),
        noise_ceiling=noise_ceiling(list(trials), signal_power_rule),
    )


def score_model(
    predict_fn: Callable[[np.ndarray], np.ndarray], site, *, n_shuffles: int | None = None,
    rng: np.random.Generator | int | None = None, signal_power_rule: str | None = None,
) -> UnitScores:
    """Score any model on a site's validation sounds.

    Parameters
    ----------
    predict_fn : callable
        Maps one spectrogram ``[time, frequency]`` to a prediction ``[time, units]``.
    site : SiteData
        Its validation sounds and their trials are used.
    n_shuffles, rng
        Of the shuffle floor (see :func:`shuffle_floor`).
    signal_power_rule : str, optional
        Of CCnorm and the noise ceiling (see :func:`signal_power`).
    """
    sounds = site.split("validation")
    if not sounds:
        raise InvalidDataError(f"site {site.name!r}: no validation sounds to score on")
    preds = []
    for s in sounds:
        p = np.asarray(predict_fn(s.spectrogram))
        if p.ndim == 1:
            p = p[:, None]
        if p.shape != (s.n_bins, site.n_units):
            raise InvalidDataError(
                f"site {site.name!r}: prediction for sound {s.name!r} has shape {p.shape}, "
                f"expected {(s.n_bins, site.n_units)}"
            )
        preds.append(p)
    return score_predictions(preds, [s.counts for s in sounds], n_shuffles=n_shuffles, rng=rng,
                             signal_power_rule=signal_power_rule)


def r2_ratio(r_subspace: np.ndarray, r_cnn: np.ndarray) -> np.ndarray:
    """Per unit, how much of the CNN's explained variance the subspace model keeps.

    Parameters
    ----------
    r_subspace, r_cnn : array_like
        Correlation of each unit's subspace model and CNN with the validation PSTH.

    Returns
    -------
    ndarray
        ``(r_subspace / r_cnn)^2`` with the sign of ``r_subspace`` (a subspace model that
        predicts against the data counts negative); NaN where ``r_cnn <= 0`` or either r
        is NaN.
    """
    r_subspace, r_cnn = np.broadcast_arrays(np.asarray(r_subspace, dtype=np.float64),
                                            np.asarray(r_cnn, dtype=np.float64))
    ok = np.isfinite(r_subspace) & np.isfinite(r_cnn) & (r_cnn > 0)
    out = np.full(np.broadcast(r_subspace, r_cnn).shape, np.nan)
    out[ok] = np.sign(r_subspace[ok]) * (r_subspace[ok] / r_cnn[ok]) ** 2
    return out
