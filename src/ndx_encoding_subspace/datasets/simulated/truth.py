"""Ground truth of a simulated site: its records, its storage, its generating model.

:class:`SimulationParams` (size and randomness), :class:`UnitTruth` (one unit's
generating model) and :class:`SiteTruth` (the shared filters and every unit) describe a
site made by :func:`~ndx_encoding_subspace.datasets.simulated.site.simulate_site`. The truth is stored in
the NWB file's ``/scratch``: ``simulation_truth`` (JSON text), ``simulation_truth_filters``
(every unit's orthonormal basis stacked, [sum k, F, D], then its raw filters) and
``simulation_truth_shared_filters`` ([S, F, D]); :func:`load_truth` reads it back.
:func:`truth_model` is the generating model as a torch module (the oracle).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
import torch

from ...data.spectrogram import SpectrogramParams
from ...errors import InvalidDataError
from ...params import Params, check_range

__all__ = ["SimulationParams", "UnitTruth", "SiteTruth", "truth_model", "load_truth", "KINDS"]

KINDS = ("symmetric_up", "symmetric_down", "rectifying")


@dataclasses.dataclass(frozen=True)
class SimulationParams(Params):
    """Size and randomness of the simulated site.

    Defaults give a site a population CNN can fit well (about 200 s of estimation sound);
    :meth:`quick` gives a small one for smoke tests. ``chord_bed_level`` is the level of
    the random-chord bed in dB relative to the loudest events (below -100: none);
    ``max_drive_ratio`` and ``max_draws`` bound the spread of stimulus variance over a
    unit's true directions (see :mod:`ndx_encoding_subspace.datasets.simulated.site`); ``min_dim`` and
    ``max_dim`` bound each unit's number of true filters, ``min_peak_lag`` and
    ``max_peak_lag`` the latency (bins) of their temporal peak. A filter peaking one bin
    after the sound puts a fifth of its energy in directions the sounds barely drive
    (docs/ground-truth.md). ``sound_seed`` draws the sounds from a generator of their own
    (-1: from ``seed``, with everything else), so that sites of several seeds can hear
    the same sounds.
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
    min_peak_lag: float = 1.0
    max_peak_lag: float = 5.0
    narrow_fraction: float = 0.25
    min_rate: float = 5.0
    max_mean_rate: float = 20.0
    max_rate: float = 250.0
    events_per_second: float = 5.0
    chord_bed_level: float = -6.0
    max_drive_ratio: float = 6.0
    max_draws: int = 50
    seed: int = 0
    sound_seed: int = -1

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the parameter and the bad value."""
        n = "SimulationParams."
        for name in ("n_units", "n_estimation_sounds", "n_validation_sounds", "validation_repeats",
                     "n_lags", "n_shared_filters"):
            check_range(n + name, getattr(self, name), 1, 100000)
        check_range(n + "min_dim", self.min_dim, 1, 20)
        check_range(n + "max_dim", self.max_dim, self.min_dim, 20)
        check_range(n + "min_peak_lag", self.min_peak_lag, 0.5, self.n_lags)
        check_range(n + "max_peak_lag", self.max_peak_lag, self.min_peak_lag, self.n_lags)
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
        check_range(n + "sound_seed", self.sound_seed, -1)

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



# ----------------------------------------------------------------------------- truth model


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

    Computes :func:`~.simulate_units.unit_rates` (in float32) from scaled spectrograms heard after
    silence; its dSTRFs lie in the true subspaces exactly, which makes it the oracle
    against which the dSTRF, subspace and SSRF steps are checked.
    """
    return _TruthModel(truth).eval()


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
    """Read the ground truth written by :meth:`~.site.SimulatedSite.write_nwb`.

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
