"""Small recordings in the NWB layouts that published auditory datasets use.

Each function writes one site in one layout with the software that writes that layout in
practice, and returns what a reader should find there (:class:`LayoutSite`):

* :func:`series_per_presentation` -- neuroconv's ``AudioInterface`` converts WAV files
  (written with scipy) into one ndx-sound ``AcousticWaveformSeries`` per presentation in
  ``/stimulus/presentation`` (``AcousticWaveformSeries``, ``AcousticWaveformSeries1``, ...),
  with no presentation table; neuroconv's ``add_sorting_to_nwbfile`` writes the units of a
  spikeinterface ``NumpySorting``. Needs ``neuroconv[audio]`` and spikeinterface.
* :func:`templates_dynamic_table` -- templates in ``stimulus_template``; presentations in
  a plain ``DynamicTable`` in ``/stimulus/presentation`` (``presentation_time``,
  ``stimulus_name``).
* :func:`continuous_with_trials` -- one session-long sound in ``/stimulus/presentation``;
  a trials table alternating stimulus and baseline rows whose column names the WAV file
  of each stimulus row (``"none"`` or ``""`` for baseline rows).
* :func:`templates_file_names` -- templates ``clip01``, ``clip02``, ...; a TimeIntervals
  table whose column gives the file played (``/stimuli/Clip01.WAV``).
* :func:`ndx_sound_templates_trials` -- ndx-sound templates, a trials column naming them.
* :func:`trials_naming_wav_files` -- no waveform in the file: a trials column naming the
  WAV file of each trial (``stimuli/sound_03.wav``), the WAV files (scipy) in a folder
  beside it, read with ``reader.sound_folder``.
* :func:`tone_parameters` -- a tuning-curve session: a trials table of tone frequency,
  level and duration, and no waveforms.

The pynwb layouts are written by pynwb (and ndx-sound) as a lab's own script does. Every
site has ``n_once`` sounds heard once and ``n_repeated`` sounds heard ``repeats`` times, in
shuffled order, and units whose Poisson rate follows the envelope of the sound playing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from hdmf.common import DynamicTable
from pynwb import NWBFile, TimeSeries
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.misc import Units

from .files import INT16_FULL_SCALE, mock_sound_waveforms, write_nwb

__all__ = [
    "LayoutSite",
    "LAYOUTS",
    "series_per_presentation",
    "templates_dynamic_table",
    "continuous_with_trials",
    "templates_file_names",
    "ndx_sound_templates_trials",
    "trials_naming_wav_files",
    "tone_parameters",
]

#: Sample rate of every sound (Hz), silence between presentations (s), spike sorter clock (Hz).
RATE, GAP, SORTING_RATE = 16000.0, 0.3, 30000.0
_START = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
_SUBJECT = {"subject_id": "m01", "species": "Mus musculus", "age": "P90D", "sex": "F",
            "description": "adult C57BL/6J mouse"}
_SESSION = {
    "experiment_description": "sounds played to an anaesthetised mouse; units in auditory cortex",
    "experimenter": ["Doe, Jane"],
    "institution": "ndx-encoding-subspace test lab",
    "keywords": ["auditory cortex", "sound"],
}
#: Columns of the tone layout's trials table.
_TONE_COLUMNS = ("frequency", "level", "duration")


@dataclasses.dataclass(frozen=True)
class LayoutSite:
    """A recording written in one layout, and what a reader should find in it.

    Attributes
    ----------
    path : Path
        The NWB file.
    layout : str
        The layout (the name of the function that wrote it).
    kind : str
        The reader's name of the layout (``reader.layout``): ``"templates"``,
        ``"continuous"`` or ``"series"``; empty when the file holds no waveforms.
    n_units : int
        Units written.
    repeats : dict
        Sound (as the writer named it: template, WAV file or tone) -> its presentations.
    presentations : list of (str, float)
        Sound and start time (s) of each presentation, in time order.
    spikes : list of ndarray
        Spike times of each unit (s, on the 30 kHz clock of a spike sorter), as written.
    readable : bool
        Whether a site can be read: False when the file holds no waveforms.
    columns : tuple of str
        Columns of the presentation table that describe the stimulus.
    reader : dict
        The ``reader`` options the file needs (``sound_folder``); empty: none.
    """

    path: Path
    layout: str
    kind: str
    n_units: int
    repeats: dict[str, int]
    presentations: list[tuple[str, float]]
    spikes: list[np.ndarray]
    readable: bool = True
    columns: tuple[str, ...] = ()
    reader: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def n_presentations(self) -> int:
        """Presentations of all sounds."""
        return len(self.presentations)

    @property
    def n_sounds(self) -> int:
        """Distinct sounds."""
        return len(self.repeats)

    @property
    def repeat_counts(self) -> tuple[int, ...]:
        """Presentations of each sound, sorted (independent of how a reader names sounds)."""
        return tuple(sorted(self.repeats.values()))


@dataclasses.dataclass(frozen=True)
class _Plan:
    sounds: dict[str, np.ndarray]  # name -> int16 waveform
    order: list[str]
    starts: np.ndarray
    duration: float
    end: float
    spikes: list[np.ndarray]


def _plan(n_units: int, n_once: int, n_repeated: int, repeats: int, duration: float, seed: int) -> _Plan:
    """Sounds, shuffled presentations and spike trains driven by the sounds' envelopes."""
    rng = np.random.default_rng(seed)
    n_sounds = n_once + n_repeated
    sounds = mock_sound_waveforms(n_sounds=n_sounds, duration=duration, rate=RATE, dtype="int16", seed=rng)
    names = list(sounds)
    order = [n for k, n in enumerate(names) for _ in range(1 if k < n_once else repeats)]
    order = [order[i] for i in rng.permutation(len(order))]
    starts = GAP + np.arange(len(order)) * (duration + GAP)
    end = float(starts[-1] + duration + GAP)
    # rate = base + drive[unit, sound] * envelope of the sound (that of mock_sound_waveforms)
    base, drive = 5.0, rng.uniform(0.0, 60.0, size=(n_units, n_sounds))
    index = np.array([names.index(n) for n in order])
    spikes = []
    for u in range(n_units):
        peak = base + drive[u].max()
        t = np.sort(rng.uniform(0.0, end, rng.poisson(peak * end)))
        k = np.searchsorted(starts, t, side="right") - 1
        rel = t - starts[np.clip(k, 0, None)]
        inside = (k >= 0) & (rel < duration)
        sound = index[np.clip(k, 0, None)]
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * rel + sound)
        rate = base + np.where(inside, drive[u, sound] * envelope, 0.0)
        kept = t[rng.uniform(0.0, peak, t.size) < rate]
        spikes.append(np.unique(np.round(kept * SORTING_RATE)) / SORTING_RATE)
    return _Plan(sounds, order, starts, duration, end, spikes)


def _site(path: Path, layout: str, kind: str, plan: _Plan, names: dict[str, str] | None = None,
          **extra: object) -> LayoutSite:
    """The expectation of a site; ``names`` maps the plan's sound names to the written ones."""
    names = names or {n: n for n in plan.sounds}
    order = [names[n] for n in plan.order]
    repeats = {n: order.count(n) for n in dict.fromkeys(order)}
    return LayoutSite(path=Path(path), layout=layout, kind=kind, n_units=len(plan.spikes), repeats=repeats,
                      presentations=list(zip(order, plan.starts.tolist())), spikes=plan.spikes, **extra)


def _nwbfile(layout: str, seed: int) -> NWBFile:
    return NWBFile(
        session_description=f"auditory responses, {layout.replace('_', ' ')} layout",
        identifier=f"{layout}-{seed}",
        session_start_time=_START,
        subject=Subject(**_SUBJECT),
        **_SESSION,
    )


def _finish(nwbfile: NWBFile, plan: _Plan, path: str | Path) -> Path:
    """Add the units (spike times on the sorter's clock) and write the file."""
    nwbfile.units = Units(name="units", description="sorted units", resolution=1 / SORTING_RATE)
    for times in plan.spikes:
        nwbfile.units.add_unit(spike_times=times)
    return write_nwb(nwbfile, path)


def _sound_series(name: str, data: np.ndarray, starting_time: float = 0.0) -> TimeSeries:
    return TimeSeries(name=name, data=data.astype(np.float32) / INT16_FULL_SCALE, unit="Pa", rate=RATE,
                      starting_time=starting_time, description="sound pressure waveform")


def series_per_presentation(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.5, seed: int = 0, wav_folder: str | Path | None = None,
    parent_container: str = "stimulus", quality: Sequence[str] | None = None,
) -> LayoutSite:
    """WAV files converted by neuroconv's ``AudioInterface``, units from a spikeinterface sorting.

    One WAV file per sound (int16, scipy) in ``wav_folder`` (default: ``<path stem>_wav``
    beside ``path``); the interface gets one file path per presentation, in time order,
    and the presentation start times (``set_aligned_segment_starting_times``), and writes
    one ``AcousticWaveformSeries`` each with neuroconv's default names and descriptions.
    The units are a ``NumpySorting`` at 30 kHz written by ``add_sorting_to_nwbfile``;
    the file is written by ``configure_and_write_nwbfile`` (HDF5). ``parent_container``
    is the interface's: ``"stimulus"`` (its default) or ``"acquisition"``. ``quality``:
    a curation label per unit (``"good"``, ``"noise"``, ``"mua"``), written as the sorting's
    ``quality`` property.

    Returns
    -------
    LayoutSite
        Sounds named by their WAV file (``sound_00.wav``).
    """
    from neuroconv.datainterfaces import AudioInterface
    from neuroconv.tools.nwb_helpers import configure_and_write_nwbfile
    from neuroconv.tools.spikeinterface import add_sorting_to_nwbfile
    from scipy.io import wavfile
    from spikeinterface.core import NumpySorting

    path = Path(path)
    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    folder = Path(wav_folder) if wav_folder is not None else path.parent / f"{path.stem}_wav"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, data in plan.sounds.items():
        files[name] = folder / f"{name}.wav"
        wavfile.write(files[name], int(RATE), data)
    audio = AudioInterface(file_paths=[files[n] for n in plan.order])
    audio.set_aligned_segment_starting_times([float(s) for s in plan.starts])
    metadata = audio.get_metadata()
    metadata["NWBFile"].update(
        session_description="auditory responses, series per presentation layout",
        identifier=f"series_per_presentation-{seed}", session_start_time=_START, **_SESSION,
    )
    metadata["Subject"] = dict(_SUBJECT)
    nwbfile = audio.create_nwbfile(metadata=metadata, parent_container=parent_container)
    samples = [np.round(t * SORTING_RATE).astype(np.int64) for t in plan.spikes]
    sorting = NumpySorting.from_samples_and_labels(
        samples_list=[np.concatenate(samples)],
        labels_list=[np.repeat(np.arange(n_units), [s.size for s in samples])],
        sampling_frequency=SORTING_RATE,
    )
    if quality is not None:
        sorting.set_property("quality", np.asarray(quality))
    add_sorting_to_nwbfile(sorting, nwbfile=nwbfile)
    configure_and_write_nwbfile(nwbfile, nwbfile_path=path, backend="hdf5")
    return _site(path, "series_per_presentation", "series", plan, {n: files[n].name for n in plan.sounds})


def templates_dynamic_table(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.5, seed: int = 0, table: str = "presentations",
) -> LayoutSite:
    """Templates in stimulus_template; a plain ``DynamicTable`` ``table`` in
    ``/stimulus/presentation`` with columns ``presentation_time`` (s) and ``stimulus_name``."""
    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    nwbfile = _nwbfile("templates_dynamic_table", seed)
    for name, data in plan.sounds.items():
        nwbfile.add_stimulus_template(_sound_series(name, data))
    presentations = DynamicTable(name=table, description="sound presentations")
    presentations.add_column("presentation_time", "onset of the sound, s from session start")
    presentations.add_column("stimulus_name", "stimulus template played")
    for name, start in zip(plan.order, plan.starts):
        presentations.add_row(presentation_time=float(start), stimulus_name=name)
    nwbfile.add_stimulus(presentations)
    return _site(_finish(nwbfile, plan, path), "templates_dynamic_table", "templates", plan)


def continuous_with_trials(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.5, seed: int = 0, column: str = "stimulus_file", baseline: str = "none",
) -> LayoutSite:
    """One session-long sound ``sound`` in ``/stimulus/presentation``; trials alternate
    baseline rows (``column`` = ``baseline``: ``"none"`` or ``""``) and stimulus rows
    (``column`` = the WAV file played, ``sound_03.wav``)."""
    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    nwbfile = _nwbfile("continuous_with_trials", seed)
    full = np.zeros(int(round(plan.end * RATE)), dtype=np.int16)
    for name, start in zip(plan.order, plan.starts):
        i = int(round(start * RATE))
        full[i : i + plan.sounds[name].size] = plan.sounds[name]
    nwbfile.add_stimulus(_sound_series("sound", full))
    nwbfile.add_trial_column(column, "WAV file played in the trial (baseline trials: none)")
    nwbfile.add_trial_column("trial_type", "stimulus or baseline")
    previous = 0.0
    for name, start in zip(plan.order, plan.starts):
        nwbfile.add_trial(start_time=previous, stop_time=float(start), trial_type="baseline",
                          **{column: baseline})
        previous = float(start + duration)
        nwbfile.add_trial(start_time=float(start), stop_time=previous, trial_type="stimulus",
                          **{column: f"{name}.wav"})
    nwbfile.add_trial(start_time=previous, stop_time=plan.end, trial_type="baseline", **{column: baseline})
    names = {n: f"{n}.wav" for n in plan.sounds}
    return _site(_finish(nwbfile, plan, path), "continuous_with_trials", "continuous", plan, names)


def templates_file_names(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.5, seed: int = 0, table: str = "sound_presentations", column: str = "stimulus_file",
) -> LayoutSite:
    """Templates ``clip01``, ``clip02``, ... in stimulus_template; a TimeIntervals ``table``
    whose ``column`` gives the file played, ``/stimuli/Clip01.WAV`` (case and folder differ
    from the template names)."""
    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    nwbfile = _nwbfile("templates_file_names", seed)
    names = {n: f"clip{k + 1:02d}" for k, n in enumerate(plan.sounds)}
    for name, data in plan.sounds.items():
        nwbfile.add_stimulus_template(_sound_series(names[name], data))
    intervals = TimeIntervals(name=table, description="sound presentations")
    intervals.add_column(column, "stimulus file played")
    for name, start in zip(plan.order, plan.starts):
        intervals.add_interval(start_time=float(start), stop_time=float(start + duration),
                               **{column: f"/stimuli/C{names[name][1:]}.WAV"})
    nwbfile.add_time_intervals(intervals)
    return _site(_finish(nwbfile, plan, path), "templates_file_names", "templates", plan, names)


def ndx_sound_templates_trials(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.5, seed: int = 0, column: str = "stimulus",
) -> LayoutSite:
    """ndx-sound ``AcousticWaveformSeries`` templates (int16) and a trials ``column`` naming
    the template of each trial."""
    from ndx_sound import AcousticWaveformSeries

    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    nwbfile = _nwbfile("ndx_sound_templates_trials", seed)
    for name, data in plan.sounds.items():
        nwbfile.add_stimulus_template(AcousticWaveformSeries(
            name=name, data=data, rate=RATE, starting_time=0.0, description="sound played"))
    nwbfile.add_trial_column(column, "stimulus template played")
    for name, start in zip(plan.order, plan.starts):
        nwbfile.add_trial(start_time=float(start), stop_time=float(start + duration), **{column: name})
    return _site(_finish(nwbfile, plan, path), "ndx_sound_templates_trials", "templates", plan)


def trials_naming_wav_files(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.5, seed: int = 0, wav_folder: str | Path | None = None,
) -> LayoutSite:
    """A trials column ``stimulus_file`` naming the WAV file of each trial
    (``stimuli/sound_03.wav``) and no waveform in the file; the WAV files (int16, scipy)
    in ``wav_folder/stimuli`` (default ``wav_folder``: ``<path stem>_sounds`` beside ``path``)."""
    from scipy.io import wavfile

    path = Path(path)
    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    folder = Path(wav_folder) if wav_folder is not None else path.parent / f"{path.stem}_sounds"
    (folder / "stimuli").mkdir(parents=True, exist_ok=True)
    for name, data in plan.sounds.items():
        wavfile.write(folder / "stimuli" / f"{name}.wav", int(RATE), data)
    nwbfile = _nwbfile("trials_naming_wav_files", seed)
    nwbfile.add_trial_column("stimulus_file", "WAV file played, relative to the sound folder")
    for name, start in zip(plan.order, plan.starts):
        nwbfile.add_trial(start_time=float(start), stop_time=float(start + duration),
                          stimulus_file=f"stimuli/{name}.wav")
    return _site(_finish(nwbfile, plan, path), "trials_naming_wav_files", "templates", plan,
                 reader={"sound_folder": str(folder)})


def tone_parameters(
    *, path: str | Path, n_units: int = 4, n_once: int = 6, n_repeated: int = 2, repeats: int = 3,
    duration: float = 0.1, seed: int = 0,
) -> LayoutSite:
    """A tuning-curve session: trials with ``frequency`` (Hz), ``level`` (dB SPL) and
    ``duration`` (s) of each pure tone, and no waveform anywhere in the file."""
    plan = _plan(n_units, n_once, n_repeated, repeats, duration, seed)
    nwbfile = _nwbfile("tone_parameters", seed)
    tones = {n: (1000.0 * 2 ** (k / 2), 40.0 + 20.0 * (k % 2)) for k, n in enumerate(plan.sounds)}
    descriptions = ("tone frequency, Hz", "tone level, dB SPL", "tone duration, s")
    for name, text in zip(_TONE_COLUMNS, descriptions):
        nwbfile.add_trial_column(name, text)
    for name, start in zip(plan.order, plan.starts):
        frequency, level = tones[name]
        nwbfile.add_trial(start_time=float(start), stop_time=float(start + duration), frequency=frequency,
                          level=level, duration=duration)
    names = {n: f"{tones[n][0]:g} Hz {tones[n][1]:g} dB" for n in plan.sounds}
    return _site(_finish(nwbfile, plan, path), "tone_parameters", "", plan, names, readable=False,
                 columns=_TONE_COLUMNS)


#: Every layout's writer, by name.
LAYOUTS = {
    f.__name__: f
    for f in (series_per_presentation, templates_dynamic_table, continuous_with_trials,
              templates_file_names, ndx_sound_templates_trials, trials_naming_wav_files, tone_parameters)
}
