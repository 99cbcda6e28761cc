"""Small NWB recordings in the layouts the reader accepts, for tests and benchmarks.

The factories follow pynwb's mock conventions (:mod:`pynwb.testing.mock`): ``mock_X(*, ...,
nwbfile=None)`` takes keyword arguments only, returns the object it builds and, when
``nwbfile`` is given, also adds it there. pynwb's own ``mock_NWBFile`` and
``mock_TimeSeries`` build the file and the plain sound series; sounds of ndx-sound's type
are the real ``ndx_sound.AcousticWaveformSeries`` (int16 samples, unit ``"n.a."``,
``conversion`` 1.0), which needs ndx-sound (the package's ``test`` extra).

:func:`mock_site` puts the pieces together: sounds, their presentations and Poisson spike
trains, returned with the ground truth (:class:`MockSite`) so that what the reader finds
can be checked against what was written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.build import BuildManager
from hdmf.common import DynamicTable
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.base import TimeSeriesReference
from pynwb.epoch import TimeIntervals
from pynwb.misc import Units
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from pynwb.testing.mock.utils import name_generator

__all__ = [
    "MockSite",
    "mock_site",
    "mock_sound_waveforms",
    "mock_AcousticWaveformSeries",
    "mock_sound_presentations",
    "mock_spiking_units",
    "write_nwb",
    "INT16_FULL_SCALE",
]

#: int16 sounds hold the float waveform (peak about 1) times this, rounded.
INT16_FULL_SCALE = 2**14
_SOUND_TYPES = ("TimeSeries", "AcousticWaveformSeries")
_ADD = {w: f"add_{w}" for w in ("stimulus_template", "stimulus", "acquisition")}


@dataclasses.dataclass
class MockSite:
    """An NWBFile in memory and the ground truth it was built from.

    Attributes
    ----------
    nwbfile : NWBFile
    spikes : list of ndarray
        Spike times of each unit (s).
    presentations : list of (str, float)
        Sound name and start time of each presentation.
    waveforms : dict
        Sound name -> waveform, exactly as written (float32, or int16 for
        ``AcousticWaveformSeries``).
    rate : float
        Sound sample rate (Hz).
    """

    nwbfile: NWBFile
    spikes: list[np.ndarray]
    presentations: list[tuple[str, float]]
    waveforms: dict[str, np.ndarray]
    rate: float

    def write(self, path: str | Path) -> Path:
        """Write the file; returns its path."""
        return write_nwb(self.nwbfile, path)


def mock_sound_waveforms(
    *,
    n_sounds: int = 4,
    duration: float = 0.5,
    rate: float = 16000.0,
    dtype: str = "float32",
    seed: int | np.random.Generator = 0,
) -> dict[str, np.ndarray]:
    """Amplitude-modulated tones with a little noise, named ``sound_00``, ``sound_01``, ...

    Sound ``k`` has carrier ``300 * 1.6**k`` Hz; ``duration`` (s) and ``rate`` (Hz) give
    its length. ``dtype`` ``"float32"`` (or ``"float64"``) gives a peak of about 1,
    ``"int16"`` the same times :data:`INT16_FULL_SCALE`, rounded. ``seed`` is a seed or a
    generator to draw the noise from. Returns name -> waveform of shape (n_samples,).
    """
    kind = np.dtype(dtype)
    if kind not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int16)):
        raise ValueError(f"dtype must be float32, float64 or int16, got {dtype!r}")
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration * rate))) / rate
    out = {}
    for k in range(n_sounds):
        f0 = 300.0 * 1.6**k
        wave = np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t + k))
        wave = wave + 0.05 * rng.standard_normal(t.size)
        if kind == np.int16:
            wave = np.clip(np.round(wave * INT16_FULL_SCALE), -32768, 32767)
        out[f"sound_{k:02d}"] = wave.astype(kind)
    return out


def _add(nwbfile: NWBFile, obj: Any, where: str) -> None:
    if where not in _ADD:
        raise ValueError(f"where must be one of {sorted(_ADD)}, got {where!r}")
    getattr(nwbfile, _ADD[where])(obj)


def mock_AcousticWaveformSeries(  # noqa: N802 - pynwb's mock naming: mock_<neurodata type>
    *,
    name: str | None = None,
    data: np.ndarray | None = None,
    rate: float = 16000.0,
    starting_time: float | None = None,
    conversion: float = 1.0,
    offset: float = 0.0,
    description: str = "sound pressure waveform",
    seed: int = 0,
    where: str = "stimulus_template",
    nwbfile: NWBFile | None = None,
) -> TimeSeries:
    """A real ndx-sound ``AcousticWaveformSeries``.

    Parameters
    ----------
    name : str, optional
        Default: a fresh name from pynwb's ``name_generator``.
    data : ndarray, optional
        Samples, shape (time,) or (time, channels); default: a 0.1 s int16 tone (``seed``).
    rate, starting_time, conversion, offset : float
        Sample rate (Hz), time of the first sample (s); value = data * conversion + offset.
    where : str
        Where ``nwbfile`` gets it: ``"stimulus_template"``, ``"stimulus"``, ``"acquisition"``.
    nwbfile : NWBFile, optional
        File to add the series to.

    Returns
    -------
    ndx_sound.AcousticWaveformSeries
    """
    try:
        from ndx_sound import AcousticWaveformSeries
    except ImportError as err:  # pragma: no cover - ndx-sound is in the test extra
        raise ImportError("needs ndx-sound: pip install 'ndx-encoding-subspace[test]'") from err
    if data is None:
        data = mock_sound_waveforms(n_sounds=1, duration=0.1, rate=rate, dtype="int16", seed=seed)["sound_00"]
    series = AcousticWaveformSeries(
        name=name or name_generator("AcousticWaveformSeries"),
        data=data,
        rate=rate,
        starting_time=starting_time,
        conversion=conversion,
        offset=offset,
        description=description,
    )
    if nwbfile is not None:
        _add(nwbfile, series, where)
    return series


def _add_sounds(
    nwbfile: NWBFile,
    layout: str,
    sound_type: str,
    sounds: dict[str, np.ndarray],
    order: list[str],
    starts: np.ndarray,
    end: float,
    rate: float,
) -> dict[str, TimeSeries]:
    """Templates in stimulus_template, or one series ``sound`` (0 to ``end`` s) in stimulus."""
    if layout == "continuous":
        full = np.zeros(int(round(end * rate)), dtype=next(iter(sounds.values())).dtype)
        for name, start in zip(order, starts):
            i = int(round(start * rate))
            full[i : i + sounds[name].size] = sounds[name]
        sounds, where = {"sound": full}, "stimulus"
    else:
        where = "stimulus_template"
    series = {}
    for name, data in sounds.items():
        if sound_type == "AcousticWaveformSeries":
            series[name] = mock_AcousticWaveformSeries(name=name, data=data, rate=rate, starting_time=0.0)
        else:
            series[name] = mock_TimeSeries(
                name=name, data=data, unit="Pa", rate=rate, starting_time=0.0, description="sound"
            )
        _add(nwbfile, series[name], where)
    return series


def mock_sound_presentations(
    *,
    sounds: Sequence[str],
    starts: Sequence[float],
    duration: float = 0.5,
    name: str = "sound_presentations",
    column: str = "sound",
    series: Mapping[str, TimeSeries] | None = None,
    nwbfile: NWBFile | None = None,
) -> TimeIntervals:
    """A TimeIntervals table with one row per presentation.

    Parameters
    ----------
    sounds, starts : sequence
        Sound name and start time (s) of each row; rows last ``duration`` seconds.
    name : str
        Table name; ``"trials"`` makes it the file's trials table.
    column : str
        Column naming the sound; ``"timeseries"`` writes TimeSeriesReference values to
        ``series[sound]`` (whole series) or, when absent, to ``series["sound"]`` (the
        samples of the row's time span).
    series : mapping, optional
        Name -> sound series; needed for ``column="timeseries"``.
    nwbfile : NWBFile, optional
        File to add the table to.

    Returns
    -------
    TimeIntervals
    """
    series = dict(series or {})
    intervals = TimeIntervals(name=name, description="sound presentations")
    if column != "timeseries":
        intervals.add_column(column, "sound presented")
    for sound, start in zip(sounds, starts, strict=True):
        row: dict[str, Any] = {"start_time": float(start), "stop_time": float(start + duration)}
        if column == "timeseries":
            target = series.get(sound, series.get("sound"))
            if target is None:
                raise ValueError(f"column='timeseries' needs series[{sound!r}] or series['sound']")
            rate, t0 = float(target.rate), float(target.starting_time or 0.0)
            first = 0 if target.name == sound else int(round((start - t0) * rate))
            row["timeseries"] = [TimeSeriesReference(first, int(round(duration * rate)), target)]
        else:
            row[column] = sound
        DynamicTable.add_row(intervals, **row)  # keeps the given sample ranges
    if nwbfile is not None:
        if name == "trials":
            nwbfile.trials = intervals
        else:
            nwbfile.add_time_intervals(intervals)
    return intervals


def _poisson_trains(n_units: int, end: float, rate: float, rng: np.random.Generator) -> list[np.ndarray]:
    return [np.sort(rng.uniform(0, end, rng.poisson(rate * end))) for _ in range(n_units)]


def mock_spiking_units(
    *,
    spike_times: Sequence[np.ndarray] | None = None,
    n_units: int = 4,
    duration: float = 10.0,
    firing_rate: float = 20.0,
    waveforms: bool = True,
    depth: bool = True,
    seed: int | np.random.Generator = 0,
    nwbfile: NWBFile | None = None,
) -> Units:
    """A Units table of Poisson spike trains, with spike waveforms and depths.

    pynwb's ``mock_Units`` draws its own spike times and has neither ``waveform_mean`` nor
    ``depth``, which the reader's cell typing and metadata need; hence this factory.

    Parameters
    ----------
    spike_times : sequence of ndarray, optional
        Spike times of each unit (s); default: ``n_units`` Poisson trains of
        ``firing_rate`` spikes/s over ``duration`` seconds.
    waveforms : bool
        Write ``waveform_mean`` at 30 kHz: even units narrow (trough-to-peak 0.25 ms),
        odd units regular (0.6 ms).
    depth : bool
        Write a ``depth`` column: 100 um times the unit's number (from 1).
    nwbfile : NWBFile, optional
        File whose ``units`` it becomes.

    Returns
    -------
    Units
    """
    if spike_times is None:
        spike_times = _poisson_trains(n_units, duration, firing_rate, np.random.default_rng(seed))
    units = Units(
        name="units",
        description="mock units",
        waveform_rate=30000.0 if waveforms else None,
        waveform_unit="volts",
    )
    if depth:
        units.add_column("depth", "depth below the surface, um")
    t = np.arange(60) / 30000.0
    for k, times in enumerate(spike_times):
        row: dict[str, Any] = {"spike_times": times}
        if depth:
            row["depth"] = 100.0 * (k + 1)
        if waveforms:
            width = 0.25e-3 if k % 2 == 0 else 0.6e-3
            trough, peak = 0.5e-3, 0.5e-3 + width
            row["waveform_mean"] = -np.exp(-(((t - trough) / 1e-4) ** 2)) + 0.4 * np.exp(
                -(((t - peak) / 2e-4) ** 2)
            )
        units.add_unit(**row)
    if nwbfile is not None:
        nwbfile.units = units
    return units


def _schedule(
    names: list[str], repeats: tuple[int, ...], duration: float, gap: float, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """Presentation order (shuffled repeats) and start times."""
    reps = list(repeats) or [1] * (len(names) - 1) + [5]
    order = [n for n, r in zip(names, reps) for _ in range(r)]
    order = [order[i] for i in rng.permutation(len(order))]
    return order, gap + np.arange(len(order)) * (duration + gap)


def mock_site(
    *,
    layout: str = "templates",
    n_units: int = 4,
    n_sounds: int = 4,
    repeats: tuple[int, ...] = (),
    duration: float = 0.5,
    rate: float = 16000.0,
    gap: float = 0.25,
    seed: int = 0,
    table: str = "sound_presentations",
    column: str = "sound",
    sound_type: str = "TimeSeries",
    waveforms: bool = True,
    depth: bool = True,
    firing_rate: float = 20.0,
    extra_time: float = 1.0,
    nwbfile: NWBFile | None = None,
) -> MockSite:
    """A recording with units, sounds and presentations in a chosen layout.

    Parameters
    ----------
    layout : str
        ``"templates"`` (waveforms in stimulus_template, presentations in ``table``) or
        ``"continuous"`` (one series ``sound`` in stimulus, rows of ``table`` naming
        segments; ``table=""`` writes no table).
    n_units, n_sounds, seed : int
        Counts, and the seed of sounds, presentation order and spikes.
    repeats : tuple of int
        Presentations of each sound (default: 1 for all but the last, which gets 5).
    duration, rate, gap : float
        Sound length (s), sample rate (Hz), silence between presentations (s).
    table, column : str
        Presentation table (``"trials"`` uses the trials table) and the column naming the
        sound (``"timeseries"`` writes TimeSeriesReference values instead of names).
    sound_type : str
        ``"TimeSeries"`` (float32, unit ``"Pa"``) or ``"AcousticWaveformSeries"`` (the real
        ndx-sound type: int16, unit ``"n.a."``).
    waveforms, depth : bool
        Write ``waveform_mean`` (+ ``waveform_rate``) and a ``depth`` column.
    firing_rate : float
        Poisson rate of each unit (spikes/s).
    extra_time : float
        Recording time after the last presentation (s).
    nwbfile : NWBFile, optional
        File to add everything to; default: a new one from pynwb's ``mock_NWBFile``.

    Returns
    -------
    MockSite
    """
    if layout not in ("templates", "continuous"):
        raise ValueError(f"layout must be 'templates' or 'continuous', got {layout!r}")
    if sound_type not in _SOUND_TYPES:
        raise ValueError(f"sound_type must be one of {_SOUND_TYPES}, got {sound_type!r}")
    rng = np.random.default_rng(seed)
    dtype = "int16" if sound_type == "AcousticWaveformSeries" else "float32"
    sounds = mock_sound_waveforms(n_sounds=n_sounds, duration=duration, rate=rate, dtype=dtype, seed=rng)
    order, starts = _schedule(list(sounds), repeats, duration, gap, rng)
    end = float(starts[-1] + duration + extra_time)
    if nwbfile is None:
        nwbfile = mock_NWBFile(
            session_description="mock site",
            identifier=f"mock-{seed}",
            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        )
    series = _add_sounds(nwbfile, layout, sound_type, sounds, order, starts, end, rate)
    if table:
        mock_sound_presentations(
            sounds=order, starts=starts, duration=duration, name=table, column=column, series=series,
            nwbfile=nwbfile,
        )
    spikes = _poisson_trains(n_units, end, firing_rate, rng)
    mock_spiking_units(spike_times=spikes, waveforms=waveforms, depth=depth, nwbfile=nwbfile)
    return MockSite(nwbfile, spikes, list(zip(order, starts.tolist())), sounds, rate)


def write_nwb(nwbfile: NWBFile, path: str | Path, *, manager: BuildManager | None = None) -> Path:
    """Write ``nwbfile`` to ``path`` (with ``manager`` for types outside the global type map)."""
    path = Path(path)
    kwargs = {"manager": manager} if manager is not None else {}
    with NWBHDF5IO(str(path), "w", **kwargs) as io:
        io.write(nwbfile)
    return path
