"""NS1 (Harper et al. 2016, PLoS Comput Biol 12:e1005113): to NWB, and back under its protocol.

The archive ``ns1_compact.npz`` holds 119 ferret A1 units recorded with 20 natural clips
(5 s at 48828 Hz, 20 presentations each) and dynamic random chords (not included, and
ignored here). Units sharing ``experiment/penetration`` in their ``unit_path`` were
recorded together: one site, one NWB file, written with :func:`recording.write_recording`
by :func:`convert_ns1`.

Each file holds the 20 clips as stimulus templates (``clip00`` .. ``clip19``) and every
presentation in a session timeline built here (the original order is not in the archive):
repeat-major (all clips of repeat 0, then repeat 1, ...), each presentation starting on a
whole second, ``gap`` seconds after the end of the previous recorded window (about
5.24 s). Spike times become ``onset + t_ms / 1000``; each unit's ``obs_intervals`` are the
recorded windows. Columns: presentations ``clip``, ``repeat``, ``is_test_clip`` (clips 3, 6,
9 and 19 of the NS1 protocol); units ``depth``, ``single_unit`` (Yes / Maybe / No),
``is_valid`` (label Yes or Maybe and depth >= 0: the 73 units of the literature),
``noise_ratio``, ``electrode``, ``n_electrodes``, ``source_path``.

One binning rule: bin ``b`` of a clip holds the spikes with ``bin_index(t, bin_size) == b``
(:func:`spectrogram.bin_index`, ``t`` in seconds from the clip's onset), the rule of the
NWB reader (:func:`ndx_encoding_subspace.io.read_site`). So :func:`ns1_counts`, computed
straight from the archive, equals the counts read back from the files.

:func:`read_ns1` reads converted files back with :func:`~ndx_encoding_subspace.io.read_site`
and joins them into one :class:`SiteData` under the NS1 benchmark protocol (METHOD.md
section 9): the valid units of every file as one population, test clips 3, 6, 9 and 19
as validation sounds, 999 bins of 5 ms per clip (spikes 0-4995 ms), each presentation
smoothed with the kernel [0.5, 1, 0.5] (as written, not normalised: scale does not change
correlations).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..data.population import join_sites, smooth_counts
from ..data.recording import SessionInfo, write_recording
from ..data.site import SiteData, Sound
from ..data.spectrogram import SpectrogramParams, bin_index, n_bins
from ..errors import ConfigError, InputError, InvalidDataError, NotNWBError

__all__ = ["NS1_CLIPS", "NS1_TEST_CLIPS", "NS1_BIN_S", "NS1_N_BINS", "NS1_SIGNAL_POWER", "CITATION",
           "ns1_sites", "ns1_valid", "protocol_sites", "ns1_counts", "convert_ns1", "site_file_name",
           "clip_name", "read_ns1"]

NS1_CLIPS = 20
NS1_TEST_CLIPS = (3, 6, 9, 19)
NS1_BIN_S = 0.005
NS1_N_BINS = 999
#: the protocol's smoothing of every presentation's counts (``reader.response_kernel``)
NS1_KERNEL = (0.5, 1.0, 0.5)
#: the protocol's CCnorm: signal power within each test clip (``scoring.signal_power``)
NS1_SIGNAL_POWER = "within_clips"
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


def _is_valid(single_unit: np.ndarray, depth_um: np.ndarray) -> np.ndarray:
    """The NS1 protocol's unit rule: single-unit label Yes or Maybe, and depth >= 0."""
    return np.isin(np.asarray(single_unit).astype(str), ["Yes", "Maybe"]) & (np.asarray(depth_um) >= 0)


def clip_name(clip: int) -> str:
    """Name of a clip's stimulus template and sound, e.g. ``clip03``."""
    return f"clip{clip:02d}"


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
    return _is_valid(d["unit_singleT"], d["unit_depth_um"])


def protocol_sites(npz_path: str | os.PathLike[str]) -> list[str]:
    """Names of the sites holding at least one valid unit (27 of the 30), sorted."""
    valid = ns1_valid(npz_path)
    return [name for name, units in ns1_sites(npz_path).items() if valid[units].any()]


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
    sounds = {clip_name(c): (d["wavs"][c], fs) for c in range(NS1_CLIPS)}
    duration = d["wavs"].shape[1] / fs
    out_paths = []
    for site in names:
        units = all_sites[site]
        reps = d["n_repeats"][units][:, :NS1_CLIPS]
        if np.any(reps != reps[0]):
            raise InvalidDataError(f"{npz_path}: units of site {site!r} differ in their repeat counts")
        onsets, pres, clip_col, rep_col = _timeline(reps[0], window, duration, gap)
        obs = np.array([[t0, t0 + window] for t0, _, _ in pres])
        path = Path(out_dir) / site_file_name(site)
        write_recording(
            path, sounds=sounds, presentations=pres, spike_times=_spike_times(d, units, onsets),
            unit_ids=[int(u) for u in units], depths=d["unit_depth_um"][units], areas=["A1"] * len(units),
            spike_time_resolution=1.0 / 24414.0625, obs_intervals=[obs] * len(units), overwrite=True,
            unit_columns=_unit_columns(d, units),
            presentation_columns={
                "clip": (clip_col, "index of the natural clip (0-19) in the NS1 archive"),
                "repeat": (rep_col, "presentation index of the clip"),
                "is_test_clip": ([c in NS1_TEST_CLIPS for c in clip_col],
                                 "test clip of the NS1 benchmark protocol (3, 6, 9, 19)"),
            },
            session=_session(site), compression=compression,
        )
        out_paths.append(path)
    return out_paths


def _timeline(
    repeats: np.ndarray, window: float, duration: float, gap: float,
) -> tuple[np.ndarray, list[tuple[float, float, str]], list[int], list[int]]:
    """Repeat-major session timeline: onset table [clip, repeat], presentations, clip and repeat."""
    onsets = np.zeros((NS1_CLIPS, int(repeats.max())))
    pres: list[tuple[float, float, str]] = []
    clip_col: list[int] = []
    rep_col: list[int] = []
    cursor = 1.0
    for r in range(int(repeats.max())):
        for c in range(NS1_CLIPS):
            if r < repeats[c]:
                onsets[c, r] = cursor
                pres.append((cursor, cursor + duration, clip_name(c)))
                clip_col.append(c)
                rep_col.append(r)
                cursor = float(math.ceil(cursor + window + gap))
    return onsets, pres, clip_col, rep_col


def _spike_times(d: dict[str, np.ndarray], units: np.ndarray, onsets: np.ndarray) -> list[np.ndarray]:
    """Session spike times of each unit: its presentation's onset + ``t_ms / 1000``."""
    clips = d["stim_set"]
    out = []
    for u in units:
        m = (d["unit"] == u) & (clips < NS1_CLIPS)
        t = onsets[clips[m], d["repeat"][m]] + d["spike_times_ms"][m].astype(np.float64) / 1000.0
        out.append(np.sort(t))
    return out


def _unit_columns(d: dict[str, np.ndarray], units: np.ndarray) -> dict[str, tuple[list[Any], str]]:
    valid = _is_valid(d["unit_singleT"][units], d["unit_depth_um"][units])
    return {
        "single_unit": ([str(v) for v in d["unit_singleT"][units]], "single-unit label Yes/Maybe/No"),
        "is_valid": ([bool(v) for v in valid], "in the NS1 protocol's 73 units "
                     "(label Yes or Maybe and depth >= 0)"),
        "noise_ratio": ([float(v) for v in d["unit_noise_ratio"][units]], "noise power / signal power"),
        "electrode": ([int(v) for v in d["unit_electrode"][units]], "probe channel of the unit"),
        "n_electrodes": ([int(v) for v in d["unit_n_electrodes"][units]], "probe channel count"),
        "source_path": ([str(v) for v in d["unit_path"][units]], "original file of the unit"),
    }


def _session(site: str) -> SessionInfo:
    return SessionInfo(
        session_description=f"NS1 site {site}: ferret A1, natural sounds (Harper et al. 2016)",
        identifier=f"ns1-{site}", subject_id=site.split("/")[0], location="A1",
        # the archive holds no dates: a fixed placeholder keeps files reproducible
        session_start_time=datetime(2016, 1, 1, tzinfo=timezone.utc),
        experimenter=("Harper, Nicol S.",), institution="University of Oxford", lab="King lab",
        experiment_description="anaesthetised ferret; 20 natural clips x 20 repeats; presentation "
        "order and timing reconstructed (repeat-major); sound level nominal 80 dB SPL",
        related_publications=("doi:10.1371/journal.pcbi.1005113",),
        device_description="multi-channel silicon probe", keywords=("NS1", "ferret", "A1"),
        subject_description="anaesthetised adult ferret", sex="U",
    )


def _smooth(trials: np.ndarray) -> np.ndarray:
    """[0.5, 1, 0.5] along time of [repeats, time, units], zero outside the clip."""
    return smooth_counts(trials, NS1_KERNEL)


def _read_file(path: Path, params: SpectrogramParams) -> tuple[SiteData, np.ndarray]:
    """One converted file through :func:`read_site`, and its ``is_valid`` column."""
    # imported on use: viz.report imports CITATION from here and needs no NWB reader
    from ..io import ReaderParams, open_nwb, read_site

    reader = ReaderParams(validation_sounds=tuple(clip_name(c) for c in NS1_TEST_CLIPS))
    with open_nwb(path, reader=reader) as opened:
        units = opened.nwbfile.units
        if units is None or "is_valid" not in units.colnames:
            raise InvalidDataError(f"{path}: no units column is_valid (not written by convert_ns1)")
        valid = dict(zip(units.id.data[:].tolist(), np.asarray(units["is_valid"].data[:], dtype=bool)))
        site = read_site(opened, reader=reader, spectrogram=params, name=path.stem)
    return site, np.array([valid[int(u)] for u in site.units.ids], dtype=bool)


def read_ns1(
    paths: Sequence[str | os.PathLike[str]], spectrogram_params: SpectrogramParams | None = None,
    *, all_units: bool = False, name: str = "ns1",
) -> SiteData:
    """NS1 files written by :func:`convert_ns1`, read back as one site under the NS1 protocol.

    Each file goes through :func:`~ndx_encoding_subspace.io.read_site` (its spectrograms,
    min-max scaled over whole clips, and its spike counts); the units of all files become
    one population ordered by unit id (the archive index). Clips and counts are cut to
    :data:`NS1_N_BINS` bins and every presentation is smoothed with [0.5, 1, 0.5].

    Parameters
    ----------
    paths : sequence of path-like
        Converted site files, e.g. those of :func:`protocol_sites`.
    spectrogram_params : SpectrogramParams, optional
        Front end; default gammatone, 32 channels 200 Hz - 20 kHz, at the protocol's 5 ms bins.
    all_units : bool
        Keep every unit; default: only those with ``is_valid`` (the protocol's units).
    name : str
        Name of the joined site.

    Returns
    -------
    SiteData
        Test clips 3, 6, 9 and 19 as validation sounds, the other 16 as estimation sounds;
        ``source["recording_sites"]`` maps each file's stem to the unit ids kept from it.
    """
    params = spectrogram_params or SpectrogramParams(bin_size=NS1_BIN_S)
    if abs(params.bin_size - NS1_BIN_S) > 1e-12:
        raise InputError(f"the NS1 protocol needs 5 ms bins, got spectrogram bin_size {params.bin_size} s")
    if not paths:
        raise InputError("read_ns1: no NS1 files given")
    parts = []
    for path in map(Path, paths):
        site, valid = _read_file(path, params)
        keep = np.arange(site.n_units) if all_units else np.flatnonzero(valid)
        if keep.size:
            parts.append(site.select_units(keep))
    if not parts:
        raise InvalidDataError(f"read_ns1: no valid units in {len(paths)} file(s), e.g. {paths[0]}")
    return _join(parts, params, name)


def _join(parts: list[SiteData], params: SpectrogramParams, name: str) -> SiteData:
    """Sites holding the same clips (checked) as one population ordered by unit id."""
    try:
        joined = join_sites(parts, name)
    except ConfigError as err:
        raise InvalidDataError(f"read_ns1: {err}") from None
    order = np.argsort(joined.units.ids, kind="stable")
    sounds = tuple(Sound(s.name, s.spectrogram[:NS1_N_BINS], _smooth(s.counts[:, :NS1_N_BINS, order]))
                   for s in joined.sounds)
    source = {
        "files": [p.source.get("path", p.name) for p in parts],
        "recording_sites": {p.name: [int(u) for u in p.units.ids] for p in parts},
        "spectrogram": params.to_dict(), "protocol": "METHOD.md section 9",
    }
    return dataclasses.replace(joined, sounds=sounds, units=joined.units.subset(order), bin_size=NS1_BIN_S,
                               source=source)
