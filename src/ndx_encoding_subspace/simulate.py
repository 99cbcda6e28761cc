"""A virtual auditory-cortex site with known tuning subspaces (the default data set).

Sounds: natural-like synthetic clips made of overlapping events of four kinds (harmonic
stacks, frequency sweeps, band-pass noise bursts, vocalisation-like calls with a rising
and falling pitch contour and formants). Estimation sounds are presented once, validation
sounds ``validation_repeats`` times, in random order with silent gaps (at least the filter
length, so that each sound starts from silence as the models assume).

Units: the site has ``n_shared_filters`` spectro-temporal filters (Gabor patches on the
[frequency, lag] grid of the spectrogram). Each unit's subspace has k = 2..6 filters:
random mixtures of 1-3 of the shared filters (the units tile the shared subspace sparsely)
plus unit-specific filters. With ``z_j`` the standardised projections of the scaled
spectrogram onto the unit's filters (``x_j(t) = sum_{f,lag} w_j[f, lag] S[t - lag, f]``),
the drive ``g`` is one of

* ``symmetric_up``: ``sum_j a_j z_j^2`` (energy-like, phase invariant);
* ``symmetric_down``: ``1 / (1 + sum_j a_j z_j^2)`` (suppressed by contrast in the subspace);
* ``rectifying``: ``sum_j a_j relu(z_j - theta_j)``;

and the rate is ``mean_rate * g^gamma / mean(g^gamma)`` spikes/s, capped at ``max_rate``.
Spikes are Poisson within each 10 ms bin, placed uniformly at 30 kHz sample centres.
Narrow-spiking units (about a quarter) have trough-to-peak widths near 0.25 ms, regular
ones near 0.6 ms. Spectrograms use :mod:`spectrogram` defaults, scaled over all sounds,
so the filters live in the space the pipeline computes from the NWB file.

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

from .errors import InvalidDataError
from .params import Params, check_range
from .recording import SessionInfo, write_recording
from .spectrogram import SpectrogramParams, minmax_scale, spectrogram

__all__ = ["SimulationParams", "UnitTruth", "SiteTruth", "SimulatedSite", "simulate_site",
           "unit_rates", "load_truth", "KINDS"]

KINDS = ("symmetric_up", "symmetric_down", "rectifying")
WAVEFORM_RATE = 30000.0
SPIKE_RESOLUTION = 1.0 / 30000.0


@dataclasses.dataclass(frozen=True)
class SimulationParams(Params):
    """Size and randomness of the simulated site.

    Defaults give a site a population CNN can fit well (about 200 s of estimation sound);
    :meth:`quick` gives a small one for smoke tests.
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


# ----------------------------------------------------------------------------- sounds


def _ramp(n: int, fs: float, ramp: float = 0.005) -> np.ndarray:
    m = max(1, min(n // 2, int(ramp * fs)))
    env = np.ones(n)
    env[:m] = np.linspace(0, 1, m)
    env[n - m:] = np.linspace(1, 0, m)
    return env


def _event(kind: str, rng: np.random.Generator, fs: float) -> np.ndarray:
    """One sound event (unit peak level before the level gain)."""
    nyq = 0.45 * fs
    dur = {"stack": (0.1, 0.5), "sweep": (0.05, 0.3), "noise": (0.02, 0.3), "call": (0.1, 0.4)}[kind]
    n = int(rng.uniform(*dur) * fs)
    t = np.arange(n) / fs
    if kind == "noise":
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / fs)
        centre = np.exp(rng.uniform(np.log(300), np.log(min(16000, nyq))))
        width = rng.uniform(0.3, 2.0)  # octaves
        spec *= np.exp(-0.5 * (np.log2(np.maximum(f, 1) / centre) / (width / 2)) ** 2)
        x = np.fft.irfft(spec, n)
    else:
        if kind == "sweep":
            f1, f2 = np.exp(rng.uniform(np.log(300), np.log(min(16000, nyq)), 2))
            f0 = f1 * (f2 / f1) ** (t / t[-1])
            harmonics = rng.integers(1, 3)
        else:
            base = np.exp(rng.uniform(np.log(150), np.log(1500 if kind == "stack" else 3000)))
            if kind == "stack":
                f0 = base * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 8) * t))
            else:  # vocalisation-like: rise and fall of the pitch
                f0 = base * (1 + rng.uniform(0.2, 0.8) * np.sin(np.pi * t / t[-1]) ** 2)
            harmonics = int(min(12, nyq / (base * 2)))
        phase = 2 * np.pi * np.cumsum(f0) / fs
        x = np.zeros(n)
        tilt = rng.uniform(-1.5, 0)
        formant = np.exp(rng.uniform(np.log(500), np.log(8000)))
        for h in range(1, max(1, harmonics) + 1):
            fh = h * f0
            gain = h**tilt * (1 + 2 * (kind == "call") * np.exp(-0.5 * np.log2(fh / formant) ** 2))
            x += np.where(fh < nyq, gain, 0.0) * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
        if kind in ("stack", "call"):
            x *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 20) * t) * rng.uniform(0, 1)
    x *= _ramp(n, fs)
    return x / (np.max(np.abs(x)) + 1e-12)


def _synth_sound(duration: float, rng: np.random.Generator, p: SimulationParams) -> np.ndarray:
    fs = p.sample_rate
    n = int(round(duration * fs))
    x = 0.002 * rng.standard_normal(n)  # faint background
    n_events = max(1, rng.poisson(p.events_per_second * duration))
    for _ in range(n_events):
        e = _event(str(rng.choice(["stack", "sweep", "noise", "call"])), rng, fs)
        e = e[: n - 1] * 10 ** (rng.uniform(-30, 0) / 20) * 0.3
        start = rng.integers(0, n - e.size + 1)
        x[start:start + e.size] += e
    return x.astype(np.float32)


# ----------------------------------------------------------------------------- units


def _gabor(rng: np.random.Generator, n_freq: int, n_lags: int) -> np.ndarray:
    f = np.arange(n_freq)[:, None]
    lag = np.arange(n_lags)[None, :]
    f0, l0 = rng.uniform(3, n_freq - 4), rng.uniform(1.5, n_lags / 2.5)
    sf, sl = rng.uniform(1.5, 4.0), rng.uniform(1.0, 3.5)
    wf, wl = rng.uniform(0, 0.15), rng.uniform(0, 0.12)
    w = np.exp(-0.5 * ((f - f0) / sf) ** 2 - 0.5 * ((lag - l0) / sl) ** 2)
    w *= np.cos(2 * np.pi * (wf * (f - f0) + wl * (lag - l0)) + rng.uniform(0, 2 * np.pi))
    w -= w.mean()
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


def _make_units(p: SimulationParams, shared: np.ndarray, timeline: np.ndarray,
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
        mix = np.linalg.qr(rng.standard_normal((n_sh, n_sh)))[0]
        own = np.einsum("ij,jfd->ifd", mix, shared[list(members)])
        private = [_gabor(rng, n_freq, n_lags) for _ in range(k - n_sh)]
        raw = np.concatenate([own, *(w[None] for w in private)])
        drafts.append(dict(
            unit_id=i, kind=kinds[i], k=k, raw_filters=raw, shared_members=members,
            weights=tuple(rng.uniform(0.5, 1.5, k)), thresholds=tuple(rng.uniform(0.0, 0.5, k)),
            gamma=float(rng.uniform(1.0, 2.0)), cell_type=str(types[i]),
            spike_width_ms=float(rng.uniform(0.18, 0.32) if narrow else rng.uniform(0.5, 0.8)),
            mean_rate=float(rng.uniform(p.min_rate, p.max_mean_rate) * (1.5 if narrow else 1.0)),
            depth_um=float(rng.uniform(100, 1500)),
        ))
    x_all = _project(timeline, np.concatenate([d["raw_filters"] for d in drafts]))
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
    sounds = {name: _synth_sound(d, rng, p) for name, d in zip(names + vnames, durations)}
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
    shared = np.stack([_gabor(rng, sp.n_channels, p.n_lags) for _ in range(p.n_shared_filters)])
    units = _make_units(p, shared, timeline, rng)
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
