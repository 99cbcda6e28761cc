"""NS1 (Harper et al. 2016) as one :class:`SiteData` under the benchmark protocol.

METHOD.md section 9: the 73 units labelled single-unit Yes or Maybe with depth >= 0;
natural clips 3, 6, 9 and 19 (0-based) as validation (test) sounds, the other 16 as
estimation sounds; spikes 0-4995 ms in 5 ms bins (999 bins per clip); each trial
smoothed with the kernel [0.5, 1, 0.5] (as written, not normalised: scale does not
change correlations); the fitting target is the trial mean.

The 73 units come from several penetrations; the benchmark treats them as one population,
as the peers do. The spectrogram is this package's own front end
(:mod:`ndx_encoding_subspace.data.spectrogram`, gammatone by default) at 5 ms bins; bin ``i``
covers ``[5 i, 5 i + 5)`` ms of the sound, like the spike bins.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..data.site import SiteData, Sound, UnitInfo
from ..data.spectrogram import SpectrogramParams, filterbank_frequencies, minmax_scale, spectrogram
from ..errors import InputError

__all__ = ["NS1_TEST_CLIPS", "NS1_BIN_S", "NS1_N_BINS", "ns1_valid_units", "load_ns1_site"]

NS1_TEST_CLIPS = (3, 6, 9, 19)
NS1_BIN_S = 0.005
NS1_N_BINS = 999
_KERNEL = np.array([0.5, 1.0, 0.5])


def ns1_valid_units(archive: dict) -> np.ndarray:
    """Indices of the 73 valid units (single-unit Yes/Maybe and depth >= 0)."""
    single = np.asarray(archive["unit_singleT"]).astype(str)
    depth = np.asarray(archive["unit_depth_um"], dtype=float)
    return np.flatnonzero(np.isin(single, ["Yes", "Maybe"]) & (depth >= 0))


def _smooth(trials: np.ndarray) -> np.ndarray:
    """[0.5, 1, 0.5] along time of [repeats, time, units], zero outside the clip."""
    out = trials.copy()
    out[:, 1:] += 0.5 * trials[:, :-1]
    out[:, :-1] += 0.5 * trials[:, 1:]
    return out


def load_ns1_site(
    path: str | Path, spectrogram_params: SpectrogramParams | None = None,
    *, units: np.ndarray | None = None,
) -> SiteData:
    """Build the NS1 benchmark site from ``ns1_compact.npz``.

    Parameters
    ----------
    path : path
        The compact NS1 archive.
    spectrogram_params : SpectrogramParams, optional
        Front end; default gammatone, 32 channels 200 Hz - 20 kHz, 5 ms bins.
    units : array of int, optional
        Archive unit indices to keep (default: the 73 valid units).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"NS1 archive {path} does not exist")
    params = spectrogram_params or SpectrogramParams(bin_size=NS1_BIN_S)
    if abs(params.bin_size - NS1_BIN_S) > 1e-12:
        raise InputError(f"NS1 archive {path}: the protocol needs 5 ms bins, got {params.bin_size} s")
    with np.load(path, allow_pickle=False) as d:
        archive = {k: d[k] for k in d.files}
    keep = ns1_valid_units(archive) if units is None else np.asarray(units, dtype=np.int64)
    fs = float(archive["wav_fs"])
    n_clips = archive["wavs"].shape[0]
    specs = [spectrogram(archive["wavs"][c], fs, params)[:NS1_N_BINS] for c in range(n_clips)]
    specs = [s.astype(np.float32) for s in minmax_scale(specs)]

    t, unit, stim, rep = (archive[k] for k in ("spike_times_ms", "unit", "stim_set", "repeat"))
    col = np.full(int(unit.max()) + 1, -1, dtype=np.int64)
    col[keep] = np.arange(len(keep))
    n_rep = archive["n_repeats"][keep][:, :n_clips]
    sel = (stim < n_clips) & (col[unit] >= 0) & (t >= 0) & (t < NS1_N_BINS * 5.0)
    sounds = []
    for c in range(n_clips):
        reps = int(n_rep[:, c].min())
        if reps != int(n_rep[:, c].max()):
            raise InputError(f"NS1 archive {path}: clip {c} has unequal repeats across units")
        m = sel & (stim == c) & (rep < reps)
        counts = np.zeros((reps, NS1_N_BINS, len(keep)), np.float32)
        bins = np.floor(t[m] / 5.0).astype(np.int64)
        np.add.at(counts, (rep[m].astype(np.int64), bins, col[unit[m]]), 1.0)
        sounds.append(Sound(f"clip{c:02d}", specs[c], _smooth(counts)))
    names = [s.name for s in sounds]
    test = tuple(names[c] for c in NS1_TEST_CLIPS)
    est = tuple(n for n in names if n not in test)
    depth = archive["unit_depth_um"][keep]
    info = UnitInfo.from_ids(keep, depth_um=depth, area=np.full(len(keep), "A1", dtype=object))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SiteData(
        name="ns1", sounds=tuple(sounds), frequencies=filterbank_frequencies(params),
        bin_size=NS1_BIN_S, units=info, estimation=est, validation=test,
        source={"file": str(path), "sha256": digest, "spectrogram": params.to_dict(),
                "protocol": "METHOD.md section 9"},
    )

