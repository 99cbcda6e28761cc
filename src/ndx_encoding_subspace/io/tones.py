"""Pure tones for a table of tone parameters (``reader.synthesize_tones``).

Tuning-curve sessions that store each tone's frequency, level (or attenuation) and
duration but no waveform (:func:`~ndx_encoding_subspace.io.parameters.parameter_tables`)
can be read as if each distinct tone were a ``stimulus_template`` sound:
:func:`synthesize_tones` builds the tones (:func:`tone`) in memory, as the reader's sound
series and presentations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from pynwb import TimeSeries

from ..errors import AmbiguousInputError, ConfigError, InvalidDataError, NoSoundStimulusError
from .choose import pick_path
from .inventory import Presentation, SoundSeries
from .parameters import ParameterTable, no_waveform_message, numeric_values, parameter_tables
from .reader_params import ReaderParams

__all__ = ["SynthesizedTones", "tone", "synthesize_tones"]


def tone(
    frequency: float,
    duration: float,
    sample_rate: float,
    *,
    level_db: float = 0.0,
    reference_db: float = 0.0,
    ramp_s: float | None = None,
    length_s: float = 0.0,
) -> np.ndarray:
    """A pure tone with raised-cosine ramps, float32.

    Parameters
    ----------
    frequency : float
        Hz, below ``sample_rate / 2``.
    duration : float
        Tone duration in seconds, ramps included.
    sample_rate : float
        Hz.
    level_db, reference_db : float
        The tone's RMS amplitude is ``10 ** ((level_db - reference_db) / 20)`` (sine phase 0).
    ramp_s : float, optional
        Onset and offset ramp duration (s), at most half the tone; None: the default of
        ``reader.tone_ramp_ms`` (:class:`~.reader_params.ReaderParams`).
    length_s : float
        Total length (s) when longer than the tone: silence follows it.

    Returns
    -------
    ndarray, shape (max(round(duration * sample_rate), round(length_s * sample_rate)),)
    """
    if ramp_s is None:
        ramp_s = ReaderParams().tone_ramp_ms * 1e-3
    n_tone = int(round(duration * sample_rate))
    n = max(n_tone, int(round(length_s * sample_rate)))
    t = np.arange(n_tone) / sample_rate
    wave = np.sqrt(2.0) * 10 ** ((level_db - reference_db) / 20) * np.sin(2 * np.pi * frequency * t)
    m = min(int(round(ramp_s * sample_rate)), n_tone // 2)
    if m > 0:
        ramp = np.sin(0.5 * np.pi * np.arange(m) / m) ** 2
        wave[:m] *= ramp
        wave[n_tone - m:] *= ramp[::-1]
    out = np.zeros(n, dtype=np.float32)
    out[:n_tone] = wave
    return out


@dataclasses.dataclass(frozen=True)
class SynthesizedTones:
    """Pure tones built from a parameter table, as the reader's sounds and presentations.

    Attributes
    ----------
    table : str
        Object path of the parameter table.
    columns : tuple of str
        The columns used (frequency, then level or attenuation, then duration).
    sounds : tuple of SoundSeries
        One in-memory series per distinct tone (path ``synthesized/<name>``, place
        ``"template"``), named ``tone_<f>Hz_<level>dB_<duration>ms``.
    presentations : tuple of Presentation
        One per row with a tone, in row order; ``stop`` is ``start`` plus the sound's length.
    skipped_rows : tuple of int
        Rows left out for a missing (NaN) frequency, level or duration (e.g. blank trials).
    """

    table: str
    columns: tuple[str, ...]
    sounds: tuple[SoundSeries, ...]
    presentations: tuple[Presentation, ...]
    skipped_rows: tuple[int, ...]

    def describe(self) -> str:
        """One line saying what was synthesized."""
        skipped = ""
        if self.skipped_rows:
            skipped = f"; rows without a tone left out: {list(self.skipped_rows[:10])}"
        return (
            f"{len(self.sounds)} pure tones synthesized from {self.table} columns "
            f"{', '.join(self.columns)}, {len(self.presentations)} presentations{skipped}"
        )

    def provenance(self) -> dict[str, Any]:
        """JSON-compatible summary for a site's ``source``."""
        return {
            "synthesized_from": self.table,
            "columns": list(self.columns),
            "sounds": len(self.sounds),
            "presentations": len(self.presentations),
            "skipped_rows": list(self.skipped_rows),
        }


def _times(table: ParameterTable, column: str, name: str) -> np.ndarray:
    """The table's time column ``column`` in seconds, one per row (all NaN when '')."""
    if not column:
        return np.full(table.rows, np.nan)
    values = numeric_values(table.table[column])
    if values is None or values.shape != (table.rows,):
        raise InvalidDataError(
            f"{name}: {table.path} column {column!r} does not hold one number (time, s) per row"
        )
    return values


def _row_parameters(
    table: ParameterTable, name: str, params: ReaderParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Frequency (Hz), level (dB), duration (s), start and window (s) of every row.

    Times come from the table's onset and stop columns (``start_time``/``stop_time`` of a
    TimeIntervals table, ``presentation_time``... of another table); without a stop
    column the window is the tone's duration.
    """
    freq_col = table.column("frequency")
    if freq_col is None:
        raise NoSoundStimulusError(f"{name}: {table.path} has no frequency column for the tones")
    level_col = table.column("level") or table.column("attenuation")
    dur_col = table.column("duration")
    start = _times(table, table.onset, name)
    stop = _times(table, table.stop, name)
    bad = np.flatnonzero(~np.isfinite(start))
    if bad.size:
        raise InvalidDataError(f"{name}: {table.path} rows {bad[:10].tolist()} have no finite {table.onset}")
    level = np.full(table.rows, params.tone_reference_db)
    if level_col is not None:
        sign = -1.0 if level_col.kind == "attenuation" else 1.0
        base = params.tone_reference_db if level_col.kind == "attenuation" else 0.0
        level = base + sign * level_col.si
    if dur_col is not None:
        duration = dur_col.si
    else:
        duration = stop - start
        if not np.any(np.isfinite(duration)):
            raise InvalidDataError(
                f"{name}: {table.path} has no duration column and no finite "
                f"{table.stop or 'stop time column'}: the tones' durations are unknown"
            )
    window = np.where(np.isfinite(stop) & (stop - start > duration), stop - start, duration)
    used = tuple(c.name for c in (freq_col, level_col, dur_col) if c is not None)
    return freq_col.si, level, duration, start, window, used


def _check_rows(
    freq: np.ndarray, duration: np.ndarray, keep: np.ndarray, table: ParameterTable, name: str,
    params: ReaderParams,
) -> None:
    bad = np.flatnonzero(keep & ((freq <= 0) | (duration <= 0)))
    if bad.size:
        raise InvalidDataError(
            f"{name}: {table.path} rows {bad[:10].tolist()} have a frequency or duration at or below 0"
        )
    high = np.flatnonzero(keep & (freq >= params.tone_sample_rate / 2))
    if high.size:
        raise ConfigError(
            f"reader.tone_sample_rate = {params.tone_sample_rate:g} Hz is too low for the "
            f"{freq[high].max():g} Hz tones of {table.path} in {name}: set it above "
            f"{2 * freq[high].max():g}"
        )


def _check_lengths(
    total: np.ndarray, keep: np.ndarray, table: ParameterTable, name: str, params: ReaderParams
) -> None:
    """Refuse rows whose sound (tone and silence to the row's end) exceeds ``max_sound_s``
    (by more than half a sample: times like ``1.3 - 1.0`` are not exact)."""
    long = np.flatnonzero(keep & (total > params.max_sound_s + 0.5 / params.tone_sample_rate))
    if long.size:
        stop = f" and silence up to its {table.stop}" if table.stop else ""
        raise InvalidDataError(
            f"{name}: {table.path} rows {long[:10].tolist()} would give sounds of up to "
            f"{total[long].max():g} s (the tone{stop}), longer than reader.max_sound_s = "
            f"{params.max_sound_s:g} s: check these rows, or raise reader.max_sound_s"
        )


def _tone_series(
    key: tuple[float, float, float], length_s: float, table: str, params: ReaderParams
) -> SoundSeries:
    """The in-memory sound series of one (frequency, level, duration) tone."""
    frequency, level, duration = key
    rate = float(params.tone_sample_rate)
    label = f"tone_{frequency:g}Hz_{level:g}dB_{duration * 1e3:g}ms"
    wave = tone(frequency, duration, rate, level_db=level, reference_db=params.tone_reference_db,
                ramp_s=params.tone_ramp_ms * 1e-3, length_s=length_s)
    series = TimeSeries(
        name=label, data=wave, unit="a.u.", rate=rate,
        description=(f"pure tone synthesized from {table}: RMS 1 at "
                     f"{params.tone_reference_db:g} dB, {params.tone_ramp_ms:g} ms ramps"),
    )
    path = f"synthesized/{label}"
    return SoundSeries(label, path, "TimeSeries", "template", rate, 0.0, wave.size, 1, series)


def _choose_table(tables: list[ParameterTable], name: str, params: ReaderParams) -> ParameterTable:
    if params.presentations:
        chosen = pick_path(params.presentations, [t.path for t in tables], "reader.presentations", name)
        table = next(t for t in tables if t.path == chosen)
        if table.column("frequency") is None:
            raise NoSoundStimulusError(
                f"{name}: reader.synthesize_tones needs a frequency column; {table.describe()}"
            )
        return table
    usable = [t for t in tables if t.column("frequency") is not None]
    if not usable:
        raise NoSoundStimulusError(no_waveform_message(name, tables))
    if len(usable) > 1:
        raise AmbiguousInputError(
            f"{name}: several tables give tone parameters: {'; '.join(t.describe() for t in usable)}; "
            "choose one with reader.presentations"
        )
    return usable[0]


def synthesize_tones(
    nwbfile: Any,
    name: str,
    params: ReaderParams | None = None,
    tables: Sequence[ParameterTable] | None = None,
) -> SynthesizedTones:
    """Pure tones for every row of the file's tone-parameter table.

    Each distinct (frequency, level, duration) becomes one sound: a tone of that
    frequency and duration with ``reader.tone_ramp_ms`` raised-cosine ramps, RMS amplitude
    ``10 ** ((level - reader.tone_reference_db) / 20)``, sampled at
    ``reader.tone_sample_rate``, followed by silence up to the shortest interval
    (stop minus onset, from the table's onset and stop columns) of its rows when that is
    longer than the tone.

    Parameters
    ----------
    nwbfile : NWBFile
        An open file.
    name : str
        How error messages name the file.
    params : ReaderParams, optional
        ``presentations`` chooses the table; ``tone_*`` set the synthesis.
    tables : sequence of ParameterTable, optional
        From :func:`~ndx_encoding_subspace.io.parameters.parameter_tables` (found again
        when not given).

    Returns
    -------
    SynthesizedTones

    Raises
    ------
    NoSoundStimulusError
        No table with a frequency column (or every row lacks a tone).
    AmbiguousInputError
        Several such tables and no ``reader.presentations``.
    InvalidDataError
        Rows without a finite onset, frequencies or durations at or below 0, no duration,
        sounds longer than ``reader.max_sound_s`` (refused before they are built).
    ConfigError
        A frequency at or above half ``reader.tone_sample_rate``; an unknown table.
    """
    params = ReaderParams.of(params)
    table = _choose_table(list(parameter_tables(nwbfile) if tables is None else tables), name, params)
    freq, level, duration, start, window, used = _row_parameters(table, name, params)
    keep = np.isfinite(freq) & np.isfinite(level) & np.isfinite(duration)
    _check_rows(freq, duration, keep, table, name, params)
    if not keep.any():
        raise NoSoundStimulusError(f"{name}: no row of {table.path} gives a tone ({', '.join(used)})")
    keys = [(float(freq[i]), float(level[i]), float(duration[i])) for i in range(table.rows)]
    length: dict[tuple[float, float, float], float] = {}
    for i in np.flatnonzero(keep):
        length[keys[i]] = min(length.get(keys[i], np.inf), float(window[i]))
    total = np.array([max(keys[i][2], length.get(keys[i], 0.0)) for i in range(table.rows)])
    _check_lengths(total, keep, table, name, params)
    sounds = {key: _tone_series(key, total, table.path, params) for key, total in length.items()}
    presentations = []
    for i in np.flatnonzero(keep):
        sound = sounds[keys[i]]
        begin = float(start[i])
        end = begin + sound.n_samples / float(params.tone_sample_rate)
        presentations.append(Presentation(sound.name, begin, end, int(i), sound, 0, sound.n_samples))
    skipped = tuple(int(i) for i in np.flatnonzero(~keep))
    return SynthesizedTones(table.path, used, tuple(sounds.values()), tuple(presentations), skipped)
