"""The simulated units: their filters, their drive and rates, their waveforms.

A unit's subspace is spanned by shared and private smooth STRF-like filters
(:func:`_strf`); its generating filters are the principal axes of that span under the
stimulus (:func:`_unit_filters`), and its rate is a nonlinearity of the standardised
projections (:func:`_drive`, :func:`unit_rates`). The module docstring of
:mod:`ndx_encoding_subspace.datasets.simulated.site` gives the whole model.
"""

from __future__ import annotations

import numpy as np

from .truth import KINDS, SimulationParams, SiteTruth, UnitTruth

__all__ = ["unit_rates", "WAVEFORM_RATE"]

WAVEFORM_RATE = 30000.0


def _strf(rng: np.random.Generator, n_freq: int, n_lags: int,
          peak_lags: tuple[float, float]) -> np.ndarray:
    """A smooth STRF-like filter [F, D], unit Frobenius norm.

    An excitatory field, Gaussian over frequency (sigma 1.2-3.5 channels, about 0.25-0.7
    octave) times a gamma-shaped temporal kernel peaking ``peak_lags`` (lowest, highest) bins
    after the sound, plus, most of the time, an inhibitory component of the same form: a spectral side band
    (offset 2-5 channels) or a delayed inhibition (2-6 bins later) or both.
    """
    f = np.arange(n_freq)[:, None]
    lag = np.arange(n_lags)[None, :]

    def component(f0: float, sf: float, peak: float) -> np.ndarray:
        tau = peak / 2.0
        h = (lag / tau) ** 2 * np.exp(-lag / tau)
        return np.exp(-0.5 * ((f - f0) / sf) ** 2) * h / h.max()

    f0, sf, peak = rng.uniform(3, n_freq - 4), rng.uniform(1.2, 3.5), rng.uniform(*peak_lags)
    w = component(f0, sf, peak)
    form = rng.choice(["none", "side", "delayed", "both"], p=[0.2, 0.35, 0.3, 0.15])
    if form in ("side", "both"):
        shift = rng.uniform(2, 5) * rng.choice([-1, 1])
        w -= rng.uniform(0.3, 0.9) * component(f0 + shift, sf * rng.uniform(0.8, 1.5), peak)
    if form in ("delayed", "both"):
        w -= rng.uniform(0.3, 0.9) * component(f0, sf * rng.uniform(1.0, 1.5),
                                               min(peak + rng.uniform(2, 6), n_lags / 2))
    return w / np.linalg.norm(w)


def _orthonormal(filters: np.ndarray) -> np.ndarray:
    k = filters.shape[0]
    q, _ = np.linalg.qr(filters.reshape(k, -1).T)
    return q.T.reshape(filters.shape)


def _project(spec: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """x_j(t) = sum_{f, lag} w_j[f, lag] * spec[t - lag, f] with zeros before t = 0; [T, J]."""
    n_t = spec.shape[0]
    out = np.zeros((n_t, filters.shape[0]))
    spec = np.asarray(spec, dtype=np.float64)
    for lag in range(min(filters.shape[2], n_t)):
        out[lag:] += spec[: n_t - lag] @ filters[:, :, lag].T
    return out


def _drive(z: np.ndarray, u: UnitTruth | dict) -> np.ndarray:
    get = (lambda k: u[k]) if isinstance(u, dict) else (lambda k: getattr(u, k))
    a = np.asarray(get("weights"))
    if get("kind") == "symmetric_up":
        g = (a * z**2).sum(axis=1)
    elif get("kind") == "symmetric_down":
        g = 1.0 / (1.0 + (a * z**2).sum(axis=1))
    else:
        g = (a * np.maximum(z - np.asarray(get("thresholds")), 0.0)).sum(axis=1)
    return np.maximum(g, 0.0) ** get("gamma")


def unit_rates(truth: SiteTruth, spec: np.ndarray, max_rate: float | None = None) -> np.ndarray:
    """True rates (spikes/s), [time, units], of a scaled spectrogram [time, F] heard after silence."""
    cap = truth.params.max_rate if max_rate is None else max_rate
    x_all = _project(spec, np.concatenate([u.raw_filters for u in truth.units]))
    out = np.empty((spec.shape[0], len(truth.units)))
    row = 0
    for i, u in enumerate(truth.units):
        z = (x_all[:, row:row + u.k] - np.asarray(u.mu)) / np.asarray(u.sigma)
        row += u.k
        out[:, i] = np.minimum(u.mean_rate * _drive(z, u) / u.g_mean, cap)
    return out


def _window_covariance(specs: list[np.ndarray], n_lags: int) -> np.ndarray:
    """Covariance [F*D, F*D] of the stimulus windows (each sound after silence)."""
    n_freq = specs[0].shape[1]
    total = np.zeros((n_freq * n_lags, n_freq * n_lags))
    s1 = np.zeros(n_freq * n_lags)
    count = 0
    for spec in specs:
        padded = np.concatenate([np.zeros((n_lags - 1, n_freq)), np.asarray(spec, dtype=np.float64)])
        win = np.lib.stride_tricks.sliding_window_view(padded, n_lags, axis=0)[..., ::-1]
        win = win.reshape(len(spec), -1)  # [time, F*D], lag fastest, lag 0 first
        total += win.T @ win
        s1 += win.sum(axis=0)
        count += len(spec)
    mean = s1 / count
    return total / count - np.outer(mean, mean)


def _unit_filters(p: SimulationParams, members: np.ndarray, k: int, cov: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A unit's generating filters [k, F, D] and the stimulus variance along each.

    The subspace is spanned by a random rotation of the shared ``members`` and ``k -
    len(members)`` private filters (:func:`_strf`). Its generating basis is orthonormal
    and decorrelated over the stimulus (the principal axes of the projections), so each
    filter is an independent direction of the stimulus. Draws of the private filters are
    repeated (at most ``p.max_draws``) until the stimulus variance along the least-driven
    axis is at least ``1 / p.max_drive_ratio`` of the most-driven one; the best draw is
    kept otherwise.
    """
    n_sh, (n_freq, n_lags) = len(members), members.shape[1:]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(p.max_draws):
        mix = np.linalg.qr(rng.standard_normal((n_sh, n_sh)))[0]
        own = np.einsum("ij,jfd->ifd", mix, members)
        private = [_strf(rng, n_freq, n_lags, (p.min_peak_lag, p.max_peak_lag))[None]
                   for _ in range(k - n_sh)]
        basis = _orthonormal(np.concatenate([own, *private]))
        flat = basis.reshape(k, -1)
        drive, axes = np.linalg.eigh(flat @ cov @ flat.T)
        ratio = drive.max() / max(drive.min(), 1e-30)
        if best is None or ratio < best[0]:
            rotated = np.einsum("jk,jfd->kfd", axes, basis)[::-1]
            best = (ratio, np.ascontiguousarray(rotated), drive[::-1].copy())
        if ratio <= p.max_drive_ratio:
            break
    assert best is not None
    return best[1], best[2]


def _make_units(p: SimulationParams, shared: np.ndarray, specs: list[np.ndarray], cov: np.ndarray,
                rng: np.random.Generator) -> tuple[UnitTruth, ...]:
    n_freq, n_lags = shared.shape[1:]
    n_narrow = int(round(p.narrow_fraction * p.n_units))
    types = rng.permutation(["narrow"] * n_narrow + ["regular"] * (p.n_units - n_narrow))
    kinds = [KINDS[i % 3] for i in rng.permutation(p.n_units)]
    drafts = []
    for i in range(p.n_units):
        narrow = types[i] == "narrow"
        k = int(rng.integers(max(p.min_dim, 3) if narrow and p.max_dim >= 3 else p.min_dim, p.max_dim + 1))
        n_sh = int(min(k, rng.integers(1, 4), shared.shape[0]))
        members = tuple(int(m) for m in sorted(rng.choice(shared.shape[0], n_sh, replace=False)))
        raw, drive = _unit_filters(p, shared[list(members)], k, cov, rng)
        gain = rng.uniform(0.8, 1.2, k) * np.sqrt(drive / drive.mean())
        drafts.append(dict(
            unit_id=i, kind=kinds[i], k=k, raw_filters=raw, shared_members=members,
            weights=tuple(gain), thresholds=tuple(rng.uniform(0.0, 0.5, k)),
            gamma=float(rng.uniform(1.0, 2.0)), cell_type=str(types[i]),
            spike_width_ms=float(rng.uniform(0.18, 0.32) if narrow else rng.uniform(0.5, 0.8)),
            mean_rate=float(rng.uniform(p.min_rate, p.max_mean_rate) * (1.5 if narrow else 1.0)),
            depth_um=float(rng.uniform(100, 1500)),
        ))
    filters = np.concatenate([d["raw_filters"] for d in drafts])
    x_all = np.concatenate([_project(spec, filters) for spec in specs])
    units, row = [], 0
    for d in drafts:
        x = x_all[:, row:row + d["k"]]
        row += d["k"]
        mu, sigma = x.mean(axis=0), x.std(axis=0) + 1e-12
        g_mean = float(_drive((x - mu) / sigma, d).mean())
        units.append(UnitTruth(filters=_orthonormal(d["raw_filters"]), mu=tuple(mu), sigma=tuple(sigma),
                               g_mean=g_mean, **d))
    return tuple(units)


def _waveform(width_ms: float, rng: np.random.Generator, n: int = 82) -> np.ndarray:
    """Mean extracellular waveform (volts): trough at 1 ms, peak ``width_ms`` later."""
    t = np.arange(n) / WAVEFORM_RATE * 1000.0
    trough = -np.exp(-0.5 * ((t - 1.0) / (0.08 + 0.1 * width_ms)) ** 2)
    peak = 0.35 * np.exp(-0.5 * ((t - 1.0 - width_ms) / (0.5 * width_ms)) ** 2)
    return (rng.uniform(60, 150) * 1e-6 * (trough + peak)).astype(np.float32)
