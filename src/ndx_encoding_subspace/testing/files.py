"""Small NWB files in the layouts the reader accepts, written with plain pynwb.

Used by the reader's tests and the streaming benchmark, and by anyone checking that their
own layout is read as they expect. Spike times are drawn from a Poisson process and kept
in the returned :class:`MockSite` so that counts can be checked against them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.build import BuildManager
from pynwb import NWBHDF5IO, NWBFile, TimeSeries, get_type_map
from pynwb.epoch import TimeIntervals

__all__ = ["MockSite", "mock_site", "write_nwb", "acoustic_waveform_class"]


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
        Sound name -> waveform.
    rate : float
        Sound sample rate (Hz).
    manager : BuildManager or None
        Needed to write files holding extension types.
    """

    nwbfile: NWBFile
    spikes: list[np.ndarray]
    presentations: list[tuple[str, float]]
    waveforms: dict[str, np.ndarray]
    rate: float
    manager: BuildManager | None = None

    def write(self, path: str | Path) -> Path:
        """Write the file; returns its path."""
        return write_nwb(self.nwbfile, path, manager=self.manager)


def acoustic_waveform_class(folder: str | Path) -> tuple[type, BuildManager]:
    """A stand-in for ndx-sound's ``AcousticWaveformSeries`` (a TimeSeries subtype).

    Writes a one-type namespace ``ndx-sound`` into ``folder`` and loads it into a copy of
    pynwb's type map, so that nothing global changes and ndx-sound need not be installed.
    """
    from pynwb.spec import NWBGroupSpec, NWBNamespaceBuilder

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    builder = NWBNamespaceBuilder(
        doc="acoustic stimuli",
        name="ndx-sound",
        version="0.2.0",
        author=["test"],
        contact=["test@example.org"],
    )
    builder.include_type("TimeSeries", namespace="core")
    spec = NWBGroupSpec(
        neurodata_type_def="AcousticWaveformSeries",
        neurodata_type_inc="TimeSeries",
        doc="sound pressure waveform",
    )
    builder.add_spec("ndx-sound.extensions.yaml", spec)
    builder.export("ndx-sound.namespace.yaml", outdir=str(folder))
    type_map = get_type_map()
    type_map.load_namespaces(str(folder / "ndx-sound.namespace.yaml"))
    return type_map.get_dt_container_cls("AcousticWaveformSeries", "ndx-sound"), BuildManager(type_map)


def _sounds(n_sounds: int, duration: float, rate: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(int(round(duration * rate))) / rate
    out = {}
    for k in range(n_sounds):
        f0 = 300.0 * 1.6**k
        wave = np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t + k))
        out[f"sound_{k:02d}"] = (wave + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    return out


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
    type_folder: str | Path | None = None,
    waveforms: bool = True,
    depth: bool = True,
    firing_rate: float = 20.0,
    extra_time: float = 1.0,
) -> MockSite:
    """An NWBFile with units, sounds and presentations in a chosen layout.

    Parameters
    ----------
    layout : str
        ``"templates"`` (waveforms in stimulus_template, presentations in ``table``) or
        ``"continuous"`` (one TimeSeries ``sound`` in stimulus, rows of ``table`` naming
        segments; ``table=""`` writes no table).
    n_units, n_sounds : int
        Counts.
    repeats : tuple of int
        Presentations of each sound (default: 1 for all but the last, which gets 5).
    duration, rate, gap : float
        Sound length (s), sample rate (Hz), silence between presentations (s).
    table, column : str
        Presentation table (``"trials"`` uses the trials table) and the column naming the
        sound (``"timeseries"`` writes TimeSeriesReference values instead of names).
    sound_type : str
        ``"TimeSeries"`` or ``"AcousticWaveformSeries"`` (needs ``type_folder``).
    waveforms, depth : bool
        Write ``waveform_mean`` (+ ``waveform_rate``) and a ``depth`` column.
    firing_rate : float
        Poisson rate of each unit (spikes/s).
    extra_time : float
        Recording time after the last presentation (s).
    """
    rng = np.random.default_rng(seed)
    sounds = _sounds(n_sounds, duration, rate, rng)
    names = list(sounds)
    reps = list(repeats) or [1] * (n_sounds - 1) + [5]
    order = [n for n, r in zip(names, reps) for _ in range(r)]
    order = [order[i] for i in rng.permutation(len(order))]
    starts = gap + np.arange(len(order)) * (duration + gap)
    end = float(starts[-1] + duration + extra_time)
    nwbfile = NWBFile(
        session_description="mock site",
        identifier=f"mock-{seed}",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
    )
    manager = None
    series: dict[str, Any] = {}
    if layout == "templates":
        cls: Any = TimeSeries
        if sound_type == "AcousticWaveformSeries":
            cls, manager = acoustic_waveform_class(type_folder or Path.cwd() / "ndx-sound-spec")
        for name, wave in sounds.items():
            series[name] = cls(name=name, data=wave, unit="Pa", rate=rate, description="sound")
            nwbfile.add_stimulus_template(series[name])
    elif layout == "continuous":
        full = np.zeros(int(round(end * rate)), dtype=np.float32)
        for name, s in zip(order, starts):
            i = int(round(s * rate))
            full[i : i + sounds[name].size] = sounds[name]
        series["sound"] = TimeSeries(name="sound", data=full, unit="Pa", rate=rate, starting_time=0.0)
        nwbfile.add_stimulus(series["sound"])
    else:
        raise ValueError(f"layout must be 'templates' or 'continuous', got {layout!r}")
    if table:
        _add_table(nwbfile, table, column, order, starts, duration, rate, series, layout)
    spikes = [np.sort(rng.uniform(0, end, rng.poisson(firing_rate * end))) for _ in range(n_units)]
    _add_units(nwbfile, spikes, rng, waveforms=waveforms, depth=depth)
    return MockSite(nwbfile, spikes, list(zip(order, starts.tolist())), sounds, rate, manager)


def _add_table(
    nwbfile: NWBFile,
    table: str,
    column: str,
    order: list[str],
    starts: np.ndarray,
    duration: float,
    rate: float,
    series: dict[str, Any],
    layout: str,
) -> None:
    from hdmf.common import DynamicTable
    from pynwb.base import TimeSeriesReference

    intervals = TimeIntervals(name=table, description="sound presentations")
    if column != "timeseries":
        intervals.add_column(column, "sound presented")
    for name, s in zip(order, starts):
        row: dict[str, Any] = {"start_time": float(s), "stop_time": float(s + duration)}
        if column == "timeseries":
            target = series.get(name, series.get("sound"))
            first = 0 if layout == "templates" else int(round(s * rate))
            row["timeseries"] = [TimeSeriesReference(first, int(round(duration * rate)), target)]
        else:
            row[column] = name
        DynamicTable.add_row(intervals, **row)  # keeps the given sample ranges
    if table == "trials":
        nwbfile.trials = intervals
    else:
        nwbfile.add_time_intervals(intervals)


def _add_units(
    nwbfile: NWBFile, spikes: list[np.ndarray], rng: np.random.Generator, *, waveforms: bool, depth: bool
) -> None:
    from pynwb.misc import Units

    nwbfile.units = Units(
        name="units",
        description="mock units",
        waveform_rate=30000.0 if waveforms else None,
        waveform_unit="volts",
    )
    if depth:
        nwbfile.add_unit_column("depth", "depth below the surface, um")
    t = np.arange(60) / 30000.0
    for k, times in enumerate(spikes):
        row: dict[str, Any] = {"spike_times": times}
        if depth:
            row["depth"] = 100.0 * (k + 1)
        if waveforms:
            width = 0.25e-3 if k % 2 == 0 else 0.6e-3
            trough, peak = 0.5e-3, 0.5e-3 + width
            row["waveform_mean"] = -np.exp(-(((t - trough) / 1e-4) ** 2)) + 0.4 * np.exp(
                -(((t - peak) / 2e-4) ** 2)
            )
        nwbfile.add_unit(**row)


def write_nwb(nwbfile: NWBFile, path: str | Path, *, manager: BuildManager | None = None) -> Path:
    """Write ``nwbfile`` to ``path`` (with ``manager`` for extension types)."""
    path = Path(path)
    kwargs = {"manager": manager} if manager is not None else {}
    with NWBHDF5IO(str(path), "w", **kwargs) as io:
        io.write(nwbfile)
    return path
