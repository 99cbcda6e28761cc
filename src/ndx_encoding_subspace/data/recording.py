"""Public writer API: sounds, their presentations and sorted units into a standard NWB file.

The layout written here is the one the readers in :mod:`ndx_encoding_subspace.io` find
first, and uses only core NWB types:

* each sound: a ``TimeSeries`` in ``/stimulus/templates`` named after the sound, with its
  sample rate and ``starting_time = 0`` (sound time, not session time);
* presentations: the ``TimeIntervals`` table ``/intervals/sound_presentations`` with the
  session times ``start_time`` / ``stop_time``, a text column ``sound`` naming the template,
  the standard ``timeseries`` column referencing the whole template, and any extra columns;
* units: the ``Units`` table with ``spike_times`` (session time, sorted), ``depth`` (um),
  ``area``, optional ``waveform_mean`` and extra columns; electrodes with location and group;
* optional ``ScratchData`` entries (for example a simulation's ground truth).

The file is written under a temporary name in the destination folder and moved into place
with :func:`os.replace`, so a reader never sees a partly written file.

Example
-------
>>> write_recording(  # doctest: +SKIP
...     "site.nwb",
...     sounds={"call": (waveform, 44100.0)},
...     presentations=[(1.0, 2.5, "call"), (4.0, 5.5, "call")],
...     spike_times=[unit0_times, unit1_times],
...     depths=[350.0, 720.0],
... )
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import InvalidDataError

__all__ = ["SessionInfo", "write_recording", "PRESENTATIONS_TABLE", "SOUND_COLUMN"]

PRESENTATIONS_TABLE = "sound_presentations"
SOUND_COLUMN = "sound"

Column = tuple[Sequence[Any] | np.ndarray, str]


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """Session metadata written into the NWB file.

    Parameters
    ----------
    session_description, identifier : str
        ``identifier`` defaults to a random UUID.
    session_start_time : datetime, optional
        Timezone-aware; defaults to the time of writing (UTC).
    subject_id, species, age, sex, subject_description : str
        Subject fields: ``species`` as a Latin binomial or an NCBI taxonomy link (default:
        the ferret, NCBITaxon 9669); ``age`` an ISO 8601 duration or range (``"P1Y/P3Y"``);
        ``sex`` one of ``"F"``, ``"M"``, ``"U"``, ``"O"``.
    location : str
        Brain area of the probe, used where units have no area of their own.
    device_description : str
        The probe.
    lab, institution, experimenter, experiment_description, related_publications
        Optional provenance.
    keywords : tuple of str
        Searchable keywords.
    """

    session_description: str = "auditory cortex recording with sound presentations"
    identifier: str = ""
    session_start_time: datetime | None = None
    subject_id: str = "subject"
    species: str = "http://purl.obolibrary.org/obo/NCBITaxon_9669"
    subject_description: str = "recorded animal"
    age: str = "P1Y/P3Y"
    sex: str = "U"
    location: str = "auditory cortex"
    device_description: str = "extracellular probe"
    lab: str | None = None
    institution: str | None = None
    experimenter: tuple[str, ...] = ()
    experiment_description: str | None = None
    related_publications: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ("auditory cortex", "natural sounds")


def write_recording(
    path: str | os.PathLike[str],
    *,
    sounds: Mapping[str, tuple[np.ndarray, float]],
    presentations: Sequence[tuple[float, float, str]],
    spike_times: Sequence[np.ndarray],
    unit_ids: Sequence[int] | None = None,
    depths: Sequence[float] | None = None,
    areas: Sequence[str] | None = None,
    waveforms_mean: np.ndarray | None = None,
    waveform_rate: float | None = None,
    waveform_unit: str = "volts",
    spike_time_resolution: float | None = None,
    obs_intervals: Sequence[np.ndarray] | None = None,
    unit_columns: Mapping[str, Column] | None = None,
    presentation_columns: Mapping[str, Column] | None = None,
    sound_unit: str = "a.u.",
    session: SessionInfo | None = None,
    scratch: Mapping[str, tuple[np.ndarray | str, str]] | None = None,
    compression: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write one recording site into a standard NWB file (atomically).

    Parameters
    ----------
    path : path-like
        Output file; replaced if it exists.
    sounds : mapping of name to (waveform, sample_rate)
        Mono waveforms (1-D, finite) and their sample rates in Hz. Names must not
        contain ``/``.
    presentations : sequence of (start_time, stop_time, sound_name)
        When each sound was played, in session seconds.
    spike_times : sequence of 1-D arrays
        Spike times of each unit in session seconds (sorted on writing).
    unit_ids : sequence of int, optional
        Defaults to ``0..n_units-1``.
    depths : sequence of float, optional
        Depth of each unit in micrometres (NaN where unknown), column ``depth``.
    areas : sequence of str, optional
        Brain area of each unit (column ``area`` and the electrode location);
        defaults to ``session.location``.
    waveforms_mean : ndarray, optional
        Mean waveform per unit, ``(units, samples)`` or ``(units, samples, channels)``.
    waveform_rate : float, optional
        Sample rate of the waveforms, Hz (required with ``waveforms_mean``).
    waveform_unit : str
        Unit of the waveforms.
    spike_time_resolution : float, optional
        Smallest possible difference between two spike times, seconds (1 / the sample
        rate of the acquisition system); NWB best practice asks for it.
    obs_intervals : sequence of (n, 2) arrays, optional
        Per unit, the session intervals in which its spikes were recorded (when recording
        was not continuous).
    unit_columns, presentation_columns : mapping of name to (values, description), optional
        Extra columns of the Units and presentations tables.
    sound_unit : str
        Unit of the sound waveforms (``"Pa"`` for calibrated pressure).
    session : SessionInfo, optional
        Session and subject metadata.
    scratch : mapping of name to (data, description), optional
        Extra arrays or strings stored as ``ScratchData``.
    compression : bool
        Gzip the sound, spike and waveform datasets.
    overwrite : bool
        Replace ``path`` when it exists (default: refuse).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InvalidDataError
        Non-finite values, unknown sound names, inconsistent lengths, bad times.
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: file exists (pass overwrite=True to replace it)")
    unit_ids = _unit_ids(path, unit_ids, len(spike_times))
    _check_inputs(path, sounds, presentations, spike_times, depths, areas, waveforms_mean, waveform_rate,
                  obs_intervals, spike_time_resolution)
    nwbfile = _build(
        path, sounds, presentations, spike_times, unit_ids, depths, areas, waveforms_mean,
        waveform_rate, waveform_unit, unit_columns or {}, presentation_columns or {}, sound_unit,
        session or SessionInfo(), scratch or {}, compression, spike_time_resolution, obs_intervals,
    )
    return _write_atomic(nwbfile, path)


def _unit_ids(path: Path, unit_ids: Sequence[int] | None, n: int) -> np.ndarray:
    if n == 0:
        raise InvalidDataError(f"{path}: no units given (spike_times is empty)")
    ids = np.arange(n) if unit_ids is None else np.asarray(unit_ids)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
        raise InvalidDataError(f"{path}: unit_ids must be {n} integers, got {ids!r}")
    if len(np.unique(ids)) != n:
        raise InvalidDataError(f"{path}: unit_ids are not unique")
    return ids.astype(np.int64)


def _check_inputs(path, sounds, presentations, spike_times, depths, areas, waveforms, waveform_rate,
                  obs_intervals, resolution) -> None:
    if resolution is not None and not (0 < resolution < 1):
        raise InvalidDataError(f"{path}: spike_time_resolution must be in (0, 1) s, got {resolution!r}")
    if not sounds:
        raise InvalidDataError(f"{path}: no sounds given")
    for name, value in sounds.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise InvalidDataError(f"{path}: sound name {name!r} must be a non-empty string without '/'")
        if not (isinstance(value, tuple | list) and len(value) == 2):
            raise InvalidDataError(f"{path}: sound {name!r} must be (waveform, sample_rate)")
        wave, rate = np.asarray(value[0]), value[1]
        if wave.ndim != 1 or wave.size == 0:
            raise InvalidDataError(
                f"{path}: sound {name!r} must be a non-empty 1-D waveform, got {wave.shape}"
            )
        if not np.all(np.isfinite(wave)):
            raise InvalidDataError(f"{path}: sound {name!r} holds NaN or inf")
        if rate is None or not np.isfinite(rate) or rate <= 0:
            raise InvalidDataError(f"{path}: sound {name!r} has no valid sample rate ({rate!r})")
    for i, row in enumerate(presentations):
        start, stop, name = row
        if name not in sounds:
            raise InvalidDataError(f"{path}: presentation {i} names unknown sound {name!r}")
        if not (np.isfinite(start) and np.isfinite(stop) and 0 <= start < stop):
            raise InvalidDataError(f"{path}: presentation {i} of {name!r} has bad times {start!r}, {stop!r}")
    if not presentations:
        raise InvalidDataError(f"{path}: no presentations given")
    for i, times in enumerate(spike_times):
        t = np.asarray(times, dtype=float)
        if t.ndim != 1 or not np.all(np.isfinite(t)):
            raise InvalidDataError(f"{path}: spike times of unit {i} must be 1-D and finite")
    n = len(spike_times)
    for label, values in (("depths", depths), ("areas", areas), ("obs_intervals", obs_intervals)):
        if values is not None and len(values) != n:
            raise InvalidDataError(f"{path}: {label} has {len(values)} entries for {n} units")
    if waveforms is not None:
        w = np.asarray(waveforms)
        if w.ndim not in (2, 3) or w.shape[0] != n:
            raise InvalidDataError(
                f"{path}: waveforms_mean must be (units={n}, samples[, channels]), got {w.shape}"
            )
        if not np.all(np.isfinite(w)):
            raise InvalidDataError(f"{path}: waveforms_mean holds NaN or inf")
        if waveform_rate is None or not np.isfinite(waveform_rate) or waveform_rate <= 0:
            raise InvalidDataError(f"{path}: waveforms_mean given without a valid waveform_rate")


def _wrap(data: np.ndarray, compression: bool) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    if not compression or data.size < 1024:
        return data
    return H5DataIO(data, compression="gzip", compression_opts=4, shuffle=True, chunks=True)


def _build(path, sounds, presentations, spike_times, unit_ids, depths, areas, waveforms, waveform_rate,
           waveform_unit, unit_columns, presentation_columns, sound_unit, session, scratch,
           compression, resolution, obs_intervals):
    """The in-memory NWB file of a recording, from validated inputs."""
    from pynwb.core import ScratchData
    from pynwb.misc import Units

    nwbfile = _new_file(session)
    templates = _add_sounds(nwbfile, sounds, sound_unit, compression)
    _add_presentations(nwbfile, path, presentations, templates, presentation_columns)
    n_units = len(unit_ids)
    area_list = [session.location] * n_units if areas is None else [str(a) for a in areas]
    group, electrodes_of_unit = _add_electrodes(nwbfile, session, area_list, waveforms)
    units = Units(
        name="units", description="sorted units", electrode_table=nwbfile.electrodes,
        waveform_rate=None if waveforms is None else float(waveform_rate),
        waveform_unit=waveform_unit, resolution=resolution,
    )
    units.add_column(name="depth", description="recording depth of the unit, micrometres")
    units.add_column(name="area", description="brain area of the unit")
    for col, (_, description) in unit_columns.items():
        units.add_column(name=col, description=description)
    depth_values = np.full(n_units, np.nan) if depths is None else np.asarray(depths, dtype=float)
    for i in range(n_units):
        kwargs = {}
        if waveforms is not None:
            kwargs["waveform_mean"] = np.asarray(waveforms[i], dtype=np.float32)
        if obs_intervals is not None:
            kwargs["obs_intervals"] = np.asarray(obs_intervals[i], dtype=np.float64).reshape(-1, 2)
        extra = {col: _item(values, i, path, col) for col, (values, _) in unit_columns.items()}
        units.add_unit(
            spike_times=np.sort(np.asarray(spike_times[i], dtype=np.float64)), id=int(unit_ids[i]),
            electrodes=electrodes_of_unit[i], electrode_group=group,
            depth=float(depth_values[i]), area=area_list[i], **kwargs, **extra,
        )
    nwbfile.units = units
    for name, (data, description) in scratch.items():
        value = data if isinstance(data, str) else _wrap(np.asarray(data), compression)
        nwbfile.add_scratch(ScratchData(name=name, data=value, description=description))
    return nwbfile


def _new_file(session: SessionInfo) -> Any:
    """An empty NWB file holding the session and subject metadata."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    start = session.session_start_time or datetime.now(timezone.utc).replace(microsecond=0)
    nwbfile = NWBFile(
        session_description=session.session_description,
        identifier=session.identifier or str(uuid.uuid4()),
        session_start_time=start,
        lab=session.lab,
        institution=session.institution,
        experimenter=list(session.experimenter) or None,
        experiment_description=session.experiment_description,
        related_publications=list(session.related_publications) or None,
        keywords=list(session.keywords) or None,
    )
    nwbfile.subject = Subject(
        subject_id=session.subject_id, species=session.species, age=session.age, sex=session.sex,
        description=session.subject_description,
    )
    return nwbfile


def _add_sounds(nwbfile: Any, sounds: Mapping[str, tuple[np.ndarray, float]], sound_unit: str,
                compression: bool) -> dict[str, tuple[Any, int]]:
    """Each sound as a stimulus template; returns name -> (TimeSeries, number of samples)."""
    from pynwb import TimeSeries

    templates = {}
    for name, (wave, rate) in sounds.items():
        data = np.array(wave, copy=True)
        ts = TimeSeries(
            name=name, data=_wrap(data, compression), unit=sound_unit, rate=float(rate),
            starting_time=0.0, description=f"sound waveform {name!r}, sound time from its onset",
        )
        nwbfile.add_stimulus_template(ts)
        templates[name] = (ts, data.shape[0])
    return templates


def _add_presentations(nwbfile: Any, path: Path, presentations: Sequence[tuple[float, float, str]],
                       templates: dict[str, tuple[Any, int]], columns: Mapping[str, Column]) -> None:
    """The presentations table, each row referencing its whole sound template."""
    from pynwb.base import TimeSeriesReference
    from pynwb.epoch import TimeIntervals

    table = TimeIntervals(name=PRESENTATIONS_TABLE, description="sound presentations; column 'sound' names "
                          "the waveform in stimulus templates")
    table.add_column(name=SOUND_COLUMN, description="name of the presented sound in /stimulus/templates")
    for col, (_, description) in columns.items():
        table.add_column(name=col, description=description)
    for i, (t0, t1, name) in enumerate(presentations):
        ts, n = templates[name]
        extra = {col: _item(values, i, path, col) for col, (values, _) in columns.items()}
        table.add_row(start_time=float(t0), stop_time=float(t1), timeseries=[TimeSeriesReference(0, n, ts)],
                      **{SOUND_COLUMN: name}, **extra)
    nwbfile.add_time_intervals(table)


def _add_electrodes(nwbfile: Any, session: SessionInfo, area_list: list[str],
                    waveforms: np.ndarray | None) -> tuple[Any, list[list[int]]]:
    """The probe, its electrode group and electrodes; returns the group and each unit's
    electrodes (every channel of multi-channel waveforms, else one electrode per unit)."""
    device = nwbfile.create_device(name="probe", description=session.device_description)
    group = nwbfile.create_electrode_group(
        name="probe", description=session.device_description, location=session.location, device=device,
    )
    n_units = len(area_list)
    n_channels = 1 if waveforms is None or np.ndim(waveforms) == 2 else np.shape(waveforms)[2]
    if n_channels > 1:
        for _ in range(n_channels):
            nwbfile.add_electrode(group=group, location=session.location)
        return group, [list(range(n_channels))] * n_units
    for i in range(n_units):
        nwbfile.add_electrode(group=group, location=area_list[i])
    return group, [[i] for i in range(n_units)]


def _item(values: Sequence[Any] | np.ndarray, i: int, path: Path, column: str) -> Any:
    try:
        value = values[i]
    except IndexError:
        raise InvalidDataError(f"{path}: column {column!r} has too few values (needs row {i})") from None
    return value.item() if isinstance(value, np.generic) else value


def _write_atomic(nwbfile: Any, path: Path) -> Path:
    from pynwb import NWBHDF5IO

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    return path
