"""A virtual auditory-cortex site with known tuning subspaces (the default data set).

Sounds (:mod:`.sounds`): natural-like events (harmonic stacks, sweeps, band-pass noise
bursts, vocalisation-like calls, click trains) over a bed of dynamic random chords, which
makes the spectrograms vary along many spectro-temporal directions. Estimation sounds
are presented once, validation sounds ``validation_repeats`` times, in random order with
silent gaps (at least the filter length, so each sound starts from silence as the models
assume).

Units (:mod:`.simulate_units`): the site has ``n_shared_filters`` smooth STRF-like filters
(:func:`~.simulate_units._strf`: a Gaussian-over-frequency excitatory field times a
gamma-shaped temporal kernel peaking ``min_peak_lag`` to ``max_peak_lag`` bins after the
sound, with spectral or delayed inhibition), as A1 STRFs are. Each unit's subspace has k =
``min_dim``..``max_dim`` dimensions (narrow-spiking units at least 3) spanned by a random
rotation of 1-3 shared filters (the units tile the shared subspace sparsely) and private
filters of the same form. The unit's generating filters ``w_j`` are the principal axes of
that span under the stimulus (orthonormal, with uncorrelated projections); draws whose
least-driven axis has less than ``1 / max_drive_ratio`` of the variance of the most-driven
one are redrawn, so that every true direction is driven by the sounds. With ``z_j`` the
standardised projections of the scaled spectrogram
(``x_j(t) = sum_{f,lag} w_j[f, lag] S[t - lag, f]``), the drive ``g`` is one of

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
file. :func:`~.simulate_truth.truth_model` is the generating model as a torch module (the
oracle).

Ground truth (:mod:`.simulate_truth`) is stored in the NWB file's ``/scratch``:
``simulation_truth`` (JSON text), ``simulation_truth_filters`` (every unit's orthonormal
basis stacked, [sum k, F, D]) and ``simulation_truth_shared_filters`` ([S, F, D]);
:func:`~.simulate_truth.load_truth` reads it back.

This module builds the site (:func:`simulate_site`) and writes it; every name of
``__all__`` is importable from here, wherever it is defined.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ...data.recording import SessionInfo, write_recording
from ...data.sounds import synth_sound
from ...data.spectrogram import SpectrogramParams, minmax_scale, spectrogram
from .truth import (
    KINDS,
    SimulationParams,
    SiteTruth,
    UnitTruth,
    _truth_to_json,
    load_truth,
    truth_model,
)
from .units import (
    WAVEFORM_RATE,
    _drive,  # noqa: F401 - importable from here, as before the split
    _make_units,
    _strf,
    _waveform,
    _window_covariance,
    unit_rates,
)

__all__ = ["SimulationParams", "UnitTruth", "SiteTruth", "SimulatedSite", "simulate_site",
           "unit_rates", "truth_model", "load_truth", "KINDS"]

SPIKE_RESOLUTION = 1.0 / 30000.0


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

    def write_nwb(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the site (sounds, presentations, units, ground truth) as an NWB file
        (``FileExistsError`` when ``path`` exists, unless ``overwrite``)."""
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
            overwrite=overwrite,
        )


# ----------------------------------------------------------------------------- site


def simulate_site(params: SimulationParams | None = None) -> SimulatedSite:
    """Simulate one site: sounds, presentations, spikes and the ground truth."""
    p = SimulationParams.of(params)
    sp = SpectrogramParams(bin_size=p.bin_size)
    rng = np.random.default_rng(p.seed)
    names = [f"est{i:03d}" for i in range(p.n_estimation_sounds)]
    vnames = [f"val{i:02d}" for i in range(p.n_validation_sounds)]
    durations = [p.estimation_duration] * len(names) + [p.validation_duration] * len(vnames)
    sound_rng = rng if p.sound_seed < 0 else np.random.default_rng(p.sound_seed)
    sounds = {name: synth_sound(d, sound_rng, p.sample_rate, p.events_per_second, p.chord_bed_level)
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
    shared = np.stack([_strf(rng, sp.n_channels, p.n_lags, (p.min_peak_lag, p.max_peak_lag))
                       for _ in range(p.n_shared_filters)])
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
