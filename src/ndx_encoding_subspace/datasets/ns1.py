"""NS1 (Harper et al. 2016, PLoS Comput Biol 12:e1005113) into standard NWB files.

The archive ``ns1_compact.npz`` holds 119 ferret A1 units recorded with 20 natural clips
(5 s at 48828 Hz, 20 presentations each) and dynamic random chords (not included, and
ignored here). Units sharing ``experiment/penetration`` in their ``unit_path`` were
recorded together: one site, one NWB file, written with :func:`recording.write_recording`.

Each file holds the 20 clips as stimulus templates (``clip00`` .. ``clip19``) and every
presentation in a session timeline built here (the original order is not in the archive):
repeat-major (all clips of repeat 0, then repeat 1, ...), each presentation starting on a
whole second, ``gap`` seconds after the end of the previous recorded window (about
5.24 s). Spike times become ``onset + t_ms / 1000``; each unit's ``obs_intervals`` are the
recorded windows. Columns: presentations ``clip``, ``repeat``, ``is_test_clip`` (clips 3, 6,
9 and 19 of the NS1 protocol); units ``depth``, ``single_unit`` (Yes / Maybe / No),
``is_valid`` (label Yes or Maybe and depth >= 0: the 73 units of the literature),
``noise_ratio``, ``electrode``, ``n_electrodes``, ``source_path``.

Spike counts are binned with :func:`spectrogram.bin_index`, so counts read back from the
files equal :func:`ns1_counts` computed straight from the archive.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.recording import SessionInfo, write_recording
from ..data.spectrogram import bin_index, n_bins
from ..errors import InvalidDataError, NotNWBError

__all__ = ["NS1_CLIPS", "NS1_TEST_CLIPS", "ns1_sites", "ns1_valid", "ns1_counts", "convert_ns1",
           "site_file_name"]

NS1_CLIPS = 20
NS1_TEST_CLIPS = (3, 6, 9, 19)
CITATION = (
    "Harper NS, Schoppe O, Willmore BDB, Cui Z, Schnupp JWH, King AJ (2016) Network receptive "
    "field modeling reveals extensive integration and multi-feature selectivity in auditory "
    "cortical neurons. PLoS Comput Biol 12(11):e1005113. doi:10.1371/journal.pcbi.1005113"
)
_KEYS = ("wavs", "wav_fs", "spike_times_ms", "unit", "stim_set", "repeat", "n_repeats", "set_info",
         "set_info_columns", "unit_path", "unit_depth_um", "unit_noise_ratio", "unit_singleT",
         "unit_n_electrodes", "unit_electrode")


def _load(npz_path: str | os.PathLike[str], keys: Sequence[str] = _KEYS) -> dict[str, np.ndarray]:
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise InvalidDataError(f"{npz_path}: not the NS1 archive, missing {missing}")
            return {k: data[k] for k in keys}
    except (OSError, ValueError) as err:
        raise NotNWBError(f"{npz_path}: cannot read the NS1 archive ({err})") from None


def ns1_sites(npz_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Site name (``experiment/penetration``) to the unit indices recorded there, sorted by name."""
    paths = _load(npz_path, ("unit_path",))["unit_path"]
    sites: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        sites.setdefault("/".join(str(p).split("/")[:2]), []).append(i)
    return {name: np.array(sites[name]) for name in sorted(sites)}


def ns1_valid(npz_path: str | os.PathLike[str]) -> np.ndarray:
    """Boolean mask of the units of the NS1 protocol: label Yes or Maybe, depth >= 0."""
    d = _load(npz_path, ("unit_singleT", "unit_depth_um"))
    return np.isin(d["unit_singleT"], ["Yes", "Maybe"]) & (d["unit_depth_um"] >= 0)


def site_file_name(site: str) -> str:
    """File name of a site's NWB file, e.g. ``ns1_exp45_1x32_P07-SH.En.C.U.nwb``."""
    return "ns1_" + re.sub(r"[^A-Za-z0-9._-]+", "_", site) + ".nwb"


def ns1_counts(
    npz_path: str | os.PathLike[str], unit_indices: Sequence[int], bin_size: float = 0.01,
    *, n_bins_per_clip: int | None = None,
) -> dict[int, np.ndarray]:
    """Spike counts per clip straight from the archive.

    Parameters
    ----------
    npz_path : path-like
        ``ns1_compact.npz``.
    unit_indices : sequence of int
        Units (archive indices), in the order of the last axis.
    bin_size : float
        Seconds; bin ``i`` counts spikes with ``bin_index(t_ms / 1000, bin_size) == i``.
    n_bins_per_clip : int, optional
        Defaults to the spectrogram's bin count of a clip (``ceil(duration / bin_size)``).

    Returns
    -------
    dict of clip index to ndarray (repeats, bins, units), int64
    """
    d = _load(npz_path, ("wavs", "wav_fs", "spike_times_ms", "unit", "stim_set", "repeat", "n_repeats"))
    units = np.asarray(unit_indices)
    nb = n_bins_per_clip or n_bins(d["wavs"].shape[1], float(d["wav_fs"]), bin_size)
    reps = d["n_repeats"][units][:, :NS1_CLIPS].max(axis=0)
    out = {c: np.zeros((int(reps[c]), nb, len(units)), dtype=np.int64) for c in range(NS1_CLIPS)}
    position = np.full(int(d["unit"].max()) + 1, -1)
    position[units] = np.arange(len(units))
    keep = (d["stim_set"] < NS1_CLIPS) & (position[d["unit"]] >= 0)
    b = bin_index(d["spike_times_ms"][keep].astype(np.float64) / 1000.0, bin_size)
    clip, rep, col = d["stim_set"][keep], d["repeat"][keep], position[d["unit"][keep]]
    inside = (b >= 0) & (b < nb)
    for c in range(NS1_CLIPS):
        m = inside & (clip == c)
        np.add.at(out[c], (rep[m].astype(np.int64), b[m], col[m]), 1)
    return out


def convert_ns1(
    npz_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
    sites: Sequence[str] | None = None, gap: float = 1.0, compression: bool = True,
) -> list[Path]:
    """Write one NWB file per NS1 site.

    Parameters
    ----------
    npz_path : path-like
        ``ns1_compact.npz``.
    out_dir : path-like
        Folder for the files (created).
    sites : sequence of str, optional
        Site names from :func:`ns1_sites`; all 30 by default.
    gap : float
        Seconds between the end of one recorded window and the next presentation.
    compression : bool
        Gzip the datasets.

    Returns
    -------
    list of Path
        The files written, in the order of ``sites``.
    """
    d = _load(npz_path)
    all_sites = ns1_sites(npz_path)
    names = list(all_sites) if sites is None else list(sites)
    unknown = [s for s in names if s not in all_sites]
    if unknown:
        raise InvalidDataError(f"{npz_path}: unknown NS1 site(s) {unknown}; known: {list(all_sites)}")
    fs = float(d["wav_fs"])
    columns = [str(c) for c in d["set_info_columns"]]
    window = float(d["set_info"][:NS1_CLIPS, columns.index("length_signal_ms")].max()) / 1000.0
    sounds = {f"clip{c:02d}": (d["wavs"][c], fs) for c in range(NS1_CLIPS)}
    duration = d["wavs"].shape[1] / fs
    valid = np.isin(d["unit_singleT"], ["Yes", "Maybe"]) & (d["unit_depth_um"] >= 0)
    clips_all = d["stim_set"]
    out_paths = []
    for site in names:
        units = all_sites[site]
        reps = d["n_repeats"][units][:, :NS1_CLIPS]
        if np.any(reps != reps[0]):
            raise InvalidDataError(f"{npz_path}: units of site {site!r} differ in their repeat counts")
        onsets, pres, rep_col, clip_col = {}, [], [], []
        cursor = 1.0
        for r in range(int(reps[0].max())):
            for c in range(NS1_CLIPS):
                if r < reps[0, c]:
                    onsets[(c, r)] = cursor
                    pres.append((cursor, cursor + duration, f"clip{c:02d}"))
                    rep_col.append(r)
                    clip_col.append(c)
                    cursor = float(math.ceil(cursor + window + gap))
        onset_table = np.zeros((NS1_CLIPS, int(reps.max())))
        for (c, r), t in onsets.items():
            onset_table[c, r] = t
        spike_times = []
        for u in units:
            m = (d["unit"] == u) & (clips_all < NS1_CLIPS)
            t = onset_table[clips_all[m], d["repeat"][m]] + d["spike_times_ms"][m].astype(np.float64) / 1000.0
            spike_times.append(np.sort(t))
        obs = np.array([[t0, t0 + window] for t0, _, _ in pres])
        path = Path(out_dir) / site_file_name(site)
        write_recording(
            path, sounds=sounds, presentations=pres, spike_times=spike_times,
            unit_ids=[int(u) for u in units], depths=d["unit_depth_um"][units], areas=["A1"] * len(units),
            spike_time_resolution=1.0 / 24414.0625, obs_intervals=[obs] * len(units),
            unit_columns={
                "single_unit": ([str(v) for v in d["unit_singleT"][units]], "single-unit label Yes/Maybe/No"),
                "is_valid": ([bool(v) for v in valid[units]], "in the NS1 protocol's 73 units "
                             "(label Yes or Maybe and depth >= 0)"),
                "noise_ratio": ([float(v) for v in d["unit_noise_ratio"][units]],
                                "noise power / signal power"),
                "electrode": ([int(v) for v in d["unit_electrode"][units]], "probe channel of the unit"),
                "n_electrodes": ([int(v) for v in d["unit_n_electrodes"][units]], "probe channel count"),
                "source_path": ([str(v) for v in d["unit_path"][units]], "original file of the unit"),
            },
            presentation_columns={
                "clip": (clip_col, "index of the natural clip (0-19) in the NS1 archive"),
                "repeat": (rep_col, "presentation index of the clip"),
                "is_test_clip": ([c in NS1_TEST_CLIPS for c in clip_col],
                                 "test clip of the NS1 benchmark protocol (3, 6, 9, 19)"),
            },
            session=SessionInfo(
                session_description=f"NS1 site {site}: ferret A1, natural sounds (Harper et al. 2016)",
                identifier=f"ns1-{site}", subject_id=site.split("/")[0], location="A1",
                session_start_time=_start_time(), experimenter=("Harper, Nicol S.",),
                institution="University of Oxford", lab="King lab",
                experiment_description="anaesthetised ferret; 20 natural clips x 20 repeats; presentation "
                "order and timing reconstructed (repeat-major); sound level nominal 80 dB SPL",
                related_publications=("doi:10.1371/journal.pcbi.1005113",),
                device_description="multi-channel silicon probe", keywords=("NS1", "ferret", "A1"),
                subject_description="anaesthetised adult ferret", sex="U"),
            compression=compression,
        )
        out_paths.append(path)
    return out_paths


def _start_time():
    from datetime import datetime, timezone

    # The archive holds no dates: a fixed placeholder keeps files reproducible.
    return datetime(2016, 1, 1, tzinfo=timezone.utc)
