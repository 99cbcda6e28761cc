"""A virtual auditory-cortex site with known tuning subspaces (the default data set).

Sounds (:mod:`.sounds`): natural-like events (harmonic stacks, sweeps, band-pass noise
bursts, vocalisation-like calls, click trains) over a bed of dynamic random chords, which
makes the spectrograms vary along many spectro-temporal directions. Estimation sounds
are presented once, validation sounds ``validation_repeats`` times, in random order with
silent gaps (at least the filter length, so each sound starts from silence as the models
assume).

Units: the site has ``n_shared_filters`` smooth STRF-like filters (:func:`_strf`: a
Gaussian-over-frequency excitatory field times a gamma-shaped temporal kernel, with
spectral or delayed inhibition), as A1 STRFs are. Each unit's subspace has k = 2..6
dimensions spanned by a random rotation of 1-3 shared filters (the units tile the shared
subspace sparsely) and private filters of the same form. The unit's generating filters
``w_j`` are the principal axes of that span under the stimulus (orthonormal, with
uncorrelated projections); draws whose least-driven axis has less than
``1 / max_drive_ratio`` of the variance of the most-driven one are redrawn, so that every
true direction is driven by the sounds. With ``z_j`` the standardised projections of the
scaled spectrogram (``x_j(t) = sum_{f,lag} w_j[f, lag] S[t - lag, f]``), the drive ``g``
is one of

* ``symmetric_up``: ``sum_j a_j z_j^2`` (energy-like, phase invariant);
* ``symmetric_down``: ``1 / (1 + sum_j a_j z_j^2)`` (suppressed by contrast in the subspace);
* ``rectifying``: ``sum_j a_j relu(z_j - theta_j)``;

with weights ``a_j = u_j * sd_j / rms(sd)`` (``u_j`` in 0.8-1.2, ``sd_j`` the standard
deviation of ``x_j``), so that each dimension moves the unit's gradient (its dSTRF) by a
similar amount; the rate is ``mean_rate * g^gamma / mean(g^gamma)`` spikes/s, capped at
``max_rate``. Statistics (``mu``, ``sigma``, the mean of ``g^gamma``) are taken over the
distinct sounds. Spikes are Poisson within each 10 ms bin, placed uniformly at 30 kHz
sample centres. Narrow-spiking units (about a quarter) have trough-to-peak widths near
0.25 ms, regular ones near 0.6 ms. Spectrograms use :mod:`spectrogram` defaults, scaled
over all sounds, so the filters live in the space the pipeline computes from the NWB
file. :func:`truth_model` is the generating model as a torch module (the oracle).

Ground truth is stored in the NWB file's ``/scratch``: ``simulation_truth`` (JSON text),
``simulation_truth_filters`` (every unit's orthonormal basis stacked, [sum k, F, D]) and
``simulation_truth_shared_filters`` ([S, F, D]); :func:`load_truth` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InvalidDataError
from .params import Params, check_range
from .recording import SessionInfo, write_recording
from .sounds import synth_sound
from .spectrogram import SpectrogramParams, minmax_scale, spectrogram

__all__ = ["SimulationParams", "UnitTruth", "SiteTruth", "SimulatedSite", "simulate_site",
           "unit_rates", "truth_model", "load_truth", "KINDS"]

KINDS = ("symmetric_up", "symmetric_down", "rectifying")
WAVEFORM_RATE = 30000.0
SPIKE_RESOLUTION = 1.0 / 30000.0


@dataclasses.dataclass(frozen=True)
class SimulationParams(Params):
    """Size and randomness of the simulated site.

    Defaults give a site a population CNN can fit well (about 200 s of estimation sound);
    :meth:`quick` gives a small one for smoke tests. ``chord_bed_level`` is the level of
    the random-chord bed in dB relative to the loudest events (below -100: none);
    ``max_drive_ratio`` and ``max_draws`` bound the spread of stimulus variance over a
    unit's true directions (see the module docstring).
    """

    n_units: int = 24
    n_estimation_sounds: int = 100
    estimation_duration: float = 2.0
    n_validation_sounds: int = 6
    validation_duration: float = 2.0
    validation_repeats: int = 20
    gap: float = 0.5
    sample_rate: float = 44100.0
    bin_size: float = 0.01
    n_lags: int = 20
    n_shared_filters: int = 8
    min_dim: int = 2
    max_dim: int = 6
    narrow_fraction: float = 0.25
    min_rate: float = 5.0
    max_mean_rate: float = 20.0
    max_rate: float = 250.0
    events_per_second: float = 5.0
    chord_bed_level: float = -6.0
    max_drive_ratio: float = 6.0
    max_draws: int = 50
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the parameter and the bad value."""
        n = "SimulationParams."
        for name in ("n_units", "n_estimation_sounds", "n_validation_sounds", "validation_repeats",
                     "n_lags", "n_shared_filters"):
            check_range(n + name, getattr(self, name), 1, 100000)
        check_range(n + "min_dim", self.min_dim, 1, 20)
        check_range(n + "max_dim", self.max_dim, self.min_dim, 20)
        for name in ("estimation_duration", "validation_duration"):
            check_range(n + name, getattr(self, name), self.bin_size, 600)
        check_range(n + "bin_size", self.bin_size, 0.001, 0.1)
        check_range(n + "gap", self.gap, self.n_lags * self.bin_size, 60)
        check_range(n + "sample_rate", self.sample_rate, 8000, 200000)
        check_range(n + "narrow_fraction", self.narrow_fraction, 0, 1)
        check_range(n + "min_rate", self.min_rate, 0, low_open=True)
        check_range(n + "max_mean_rate", self.max_mean_rate, self.min_rate)
        check_range(n + "max_rate", self.max_rate, self.max_mean_rate)
        check_range(n + "events_per_second", self.events_per_second, 0.1, 100)
        check_range(n + "chord_bed_level", self.chord_bed_level, -200, 20)
        check_range(n + "max_drive_ratio", self.max_drive_ratio, 1)
        check_range(n + "max_draws", self.max_draws, 1, 10000)

    @classmethod
    def quick(cls, **changes: Any) -> SimulationParams:
        """A small site (8 units, 30 s of estimation sound) for smoke tests."""
        small = dict(n_units=8, n_estimation_sounds=30, estimation_duration=1.0, n_validation_sounds=3,
                     validation_duration=1.0, validation_repeats=10, sample_rate=44100.0)
        return cls.from_dict({**small, **changes})


@dataclasses.dataclass(frozen=True)
class UnitTruth:
    """The generating model of one unit.

    ``filters`` is an orthonormal basis [k, F, D] of the unit's subspace (Frobenius inner
    product); ``raw_filters`` are the filters the nonlinearity acts on.
    """

    unit_id: int
    kind: str
    k: int
    filters: np.ndarray
    raw_filters: np.ndarray
    shared_members: tuple[int, ...]
    weights: tuple[float, ...]
    thresholds: tuple[float, ...]
    mu: tuple[float, ...]
    sigma: tuple[float, ...]
    gamma: float
    mean_rate: float
    cell_type: str
    spike_width_ms: float
    depth_um: float
    g_mean: float


@dataclasses.dataclass(frozen=True)
class SiteTruth:
    """Ground truth of a simulated site: shared filters [S, F, D] and every unit."""

    shared_filters: np.ndarray
    units: tuple[UnitTruth, ...]
    params: SimulationParams
    spectrogram_params: SpectrogramParams

    def unit(self, unit_id: int) -> UnitTruth:
        """Truth of the unit with id ``unit_id``."""
        for u in self.units:
            if u.unit_id == unit_id:
                return u
        raise KeyError(f"no unit {unit_id} in the simulation truth")


@dataclasses.dataclass(frozen=True)
class SimulatedSite:
    """A simulated recording and its ground truth.

    ``spectrograms`` are the scaled spectrograms [time, F] and ``rates`` the true rates
    [time, units] (spikes/s) of each sound.
    """

    params: SimulationParams
    sounds: dict[str, np.ndarray]
    sample_rate: float
    presentations: list[tuple[float, float, str]]
    spike_times: list[np.ndarray]
    unit_ids: np.ndarray
    depths: np.ndarray
    waveforms_mean: np.ndarray
    estimation: tuple[str, ...]
    validation: tuple[str, ...]
    spectrograms: dict[str, np.ndarray]
    rates: dict[str, np.ndarray]
    truth: SiteTruth

    def write_nwb(self, path: str | os.PathLike[str]) -> Path:
        """Write the site (sounds, presentations, units, ground truth) as an NWB file."""
        is_val = {name: name in self.validation for name in self.sounds}
        truth_json, stacked = _truth_to_json(self.truth)
        return write_recording(
            path,
            sounds={name: (w, self.sample_rate) for name, w in self.sounds.items()},
            presentations=self.presentations,
            spike_times=self.spike_times,
            unit_ids=self.unit_ids,
            depths=self.depths,
            areas=["A1"] * len(self.unit_ids),
            waveforms_mean=self.waveforms_mean,
            waveform_rate=WAVEFORM_RATE,
            spike_time_resolution=SPIKE_RESOLUTION,
            presentation_columns={"validation": ([is_val[p[2]] for p in self.presentations],
                                                 "true for repeated (validation) sounds")},
            session=SessionInfo(
                session_description="simulated auditory cortex site with known tuning subspaces",
                identifier=f"simulated-site-seed{self.params.seed}",
                session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
                subject_id="virtual-ferret", location="A1", experimenter=("simulation",),
                institution="none (simulated)", lab="none (simulated)",
                experiment_description="synthetic natural-like sounds and Poisson units with known subspaces",
                device_description="simulated probe", keywords=("simulation", "auditory cortex")),
            scratch={
                "simulation_truth": (truth_json, "ground truth of the simulation (JSON)"),
                "simulation_truth_filters": (stacked, "orthonormal filters of every unit, [sum k, F, D]"),
                "simulation_truth_shared_filters": (self.truth.shared_filters.astype(np.float32),
                                                    "shared site filters [S, F, D]"),
            },
        )


# ----------------------------------------------------------------------------- units


def _strf(rng: np.random.Generator, n_freq: int, n_lags: int) -> np.ndarray:
    """A smooth STRF-like filter [F, D], unit Frobenius norm.

    An excitatory field, Gaussian over frequency (sigma 1.2-3.5 channels, about 0.25-0.7
    octave) times a gamma-shaped temporal kernel peaking 10-50 ms after the sound, plus,
    most of the time, an inhibitory component of the same form: a spectral side band
    (offset 2-5 channels) or a delayed inhibition (2-6 bins later) or both.
    """
    f = np.arange(n_freq)[:, None]
    lag = np.arange(n_lags)[None, :]

    def component(f0: float, sf: float, peak: float) -> np.ndarray:
        tau = peak / 2.0
        h = (lag / tau) ** 2 * np.exp(-lag / tau)
        return np.exp(-0.5 * ((f - f0) / sf) ** 2) * h / h.max()

    f0, sf, peak = rng.uniform(3, n_freq - 4), rng.uniform(1.2, 3.5), rng.uniform(1.0, 5.0)
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


class _TruthModel(torch.nn.Module):
    """The generating model as a causal torch module (see :func:`truth_model`)."""

    def __init__(self, truth: SiteTruth) -> None:
        super().__init__()
        units = truth.units
        w = np.concatenate([u.raw_filters for u in units])
        self.receptive_field = int(w.shape[2])
        self.cap = float(truth.params.max_rate)
        self.kinds = [u.kind for u in units]
        self.ks = [u.k for u in units]
        self.gamma = [u.gamma for u in units]
        self.scale = [u.mean_rate / u.g_mean for u in units]
        self.register_buffer("w", torch.tensor(np.ascontiguousarray(w[..., ::-1]), dtype=torch.float32))
        for name in ("mu", "sigma", "weights", "thresholds"):
            self.register_buffer(name, torch.tensor(np.concatenate([getattr(u, name) for u in units]),
                                                    dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(x.transpose(1, 2), (self.receptive_field - 1, 0))
        z = (torch.nn.functional.conv1d(x, self.w).transpose(1, 2) - self.mu) / self.sigma
        outs, row = [], 0
        for kind, k, gamma, scale in zip(self.kinds, self.ks, self.gamma, self.scale):
            zj, a = z[..., row:row + k], self.weights[row:row + k]
            if kind == "symmetric_up":
                g = (a * zj**2).sum(-1)
            elif kind == "symmetric_down":
                g = 1.0 / (1.0 + (a * zj**2).sum(-1))
            else:
                g = (a * torch.relu(zj - self.thresholds[row:row + k])).sum(-1)
            row += k
            outs.append(torch.clamp(scale * torch.clamp(g, min=0.0) ** gamma, max=self.cap))
        return torch.stack(outs, dim=-1)


def truth_model(truth: SiteTruth) -> torch.nn.Module:
    """The site's generating model as a torch module, ``[batch, time, F] -> [batch, time, units]``.

    Computes :func:`unit_rates` (in float32) from scaled spectrograms heard after
    silence; its dSTRFs lie in the true subspaces exactly, which makes it the oracle
    against which the dSTRF, subspace and SSRF steps are checked.
    """
    return _TruthModel(truth).eval()


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
        private = [_strf(rng, n_freq, n_lags)[None] for _ in range(k - n_sh)]
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


# ----------------------------------------------------------------------------- site


def simulate_site(params: SimulationParams | None = None) -> SimulatedSite:
    """Simulate one site: sounds, presentations, spikes and the ground truth."""
    p = params or SimulationParams()
    sp = SpectrogramParams(bin_size=p.bin_size)
    rng = np.random.default_rng(p.seed)
    names = [f"est{i:03d}" for i in range(p.n_estimation_sounds)]
    vnames = [f"val{i:02d}" for i in range(p.n_validation_sounds)]
    durations = [p.estimation_duration] * len(names) + [p.validation_duration] * len(vnames)
    sounds = {name: synth_sound(d, rng, p.sample_rate, p.events_per_second, p.chord_bed_level)
              for name, d in zip(names + vnames, durations)}
    specs = dict(zip(sounds, minmax_scale([spectrogram(w, p.sample_rate, sp, name=n)
                                           for n, w in sounds.items()])))
    order = names + [v for v in vnames for _ in range(p.validation_repeats)]
    order = [order[i] for i in rng.permutation(len(order))]
    gap_bins = int(round(p.gap / p.bin_size))
    starts, pos = [], gap_bins
    for name in order:
        starts.append(pos)
        pos += specs[name].shape[0] + gap_bins
    timeline = np.zeros((pos, sp.n_channels), dtype=np.float32)
    for name, s in zip(order, starts):
        timeline[s:s + specs[name].shape[0]] = specs[name]
    shared = np.stack([_strf(rng, sp.n_channels, p.n_lags) for _ in range(p.n_shared_filters)])
    cov = _window_covariance(list(specs.values()), p.n_lags)
    units = _make_units(p, shared, list(specs.values()), cov, rng)
    truth = SiteTruth(shared_filters=shared, units=units, params=p, spectrogram_params=sp)
    rates = unit_rates(truth, timeline)
    counts = rng.poisson(rates * p.bin_size)
    per_bin = int(round(p.bin_size * WAVEFORM_RATE))
    spike_times = []
    for i in range(p.n_units):
        bins = np.repeat(np.arange(pos), counts[:, i])
        samples = bins * per_bin + rng.integers(0, per_bin, bins.size)
        spike_times.append(np.sort((samples + 0.5) / WAVEFORM_RATE))
    presentations = [(s * p.bin_size, (s + specs[n].shape[0]) * p.bin_size, n) for n, s in zip(order, starts)]
    return SimulatedSite(
        params=p, sounds=sounds, sample_rate=p.sample_rate, presentations=presentations,
        spike_times=spike_times, unit_ids=np.arange(p.n_units),
        depths=np.array([u.depth_um for u in units]),
        waveforms_mean=np.stack([_waveform(u.spike_width_ms, rng) for u in units]),
        estimation=tuple(names), validation=tuple(vnames), spectrograms=specs,
        rates={n: rates[s:s + specs[n].shape[0]] for n, s in zip(order, starts)}, truth=truth,
    )


# ----------------------------------------------------------------------------- truth I/O

_ARRAYS = ("filters", "raw_filters")


def _truth_to_json(truth: SiteTruth) -> tuple[str, np.ndarray]:
    units, offset = [], 0
    for u in truth.units:
        d = {f.name: getattr(u, f.name) for f in dataclasses.fields(u) if f.name not in _ARRAYS}
        d["rows"] = [offset, offset + u.k]
        offset += u.k
        units.append(d)
    stacked = np.concatenate([np.concatenate([u.filters for u in truth.units]),
                              np.concatenate([u.raw_filters for u in truth.units])]).astype(np.float32)
    doc = {"format": "ndx-encoding-subspace simulation truth 1", "n_filter_rows": offset,
           "params": truth.params.to_dict(), "spectrogram_params": truth.spectrogram_params.to_dict(),
           "units": units}
    return json.dumps(doc), stacked


def load_truth(path: str | os.PathLike[str]) -> SiteTruth:
    """Read the ground truth written by :meth:`SimulatedSite.write_nwb`.

    Raises
    ------
    InvalidDataError
        The file holds no simulation truth.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            doc = json.loads(f["scratch/simulation_truth"][()])
            stacked = f["scratch/simulation_truth_filters"][()].astype(np.float64)
            shared = f["scratch/simulation_truth_shared_filters"][()].astype(np.float64)
    except KeyError:
        raise InvalidDataError(f"{path}: no simulation ground truth in /scratch") from None
    n = doc["n_filter_rows"]
    units = []
    for d in doc["units"]:
        a, b = d.pop("rows")
        for key in ("shared_members", "weights", "thresholds", "mu", "sigma"):
            d[key] = tuple(d[key])
        units.append(UnitTruth(filters=stacked[a:b], raw_filters=stacked[n + a:n + b], **d))
    return SiteTruth(
        shared_filters=shared, units=tuple(units),
        params=SimulationParams.from_dict(doc["params"]),
        spectrogram_params=SpectrogramParams.from_dict(doc["spectrogram_params"]),
    )
