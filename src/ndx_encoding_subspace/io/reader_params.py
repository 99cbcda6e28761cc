"""Parameters of the NWB reader: where to look, how to split, how to stream."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..errors import ConfigError
from ..params import Params, check_choice, check_range

__all__ = ["ReaderParams", "SOUND_COLUMNS", "LAYOUTS"]

#: Values of ``reader.layout``: ``auto`` and the layouts of :mod:`~.layouts` (kept in step
#: with ``layouts.ORDER`` by the tests).
LAYOUTS = ("auto", "templates", "continuous", "series", "segments", "tones")

#: Column names that, in a presentation or trials table, name the sound played.
SOUND_COLUMNS = ("sound", "stimulus", "stim_name", "sound_name", "stimulus_name")


def _field(default: object, text: str) -> Any:
    """A dataclass field with its command-line help text."""
    return dataclasses.field(default=default, metadata={"help": text})


@dataclasses.dataclass(frozen=True)
class ReaderParams(Params):
    """How the reader finds units, sounds and presentations, splits sounds and streams.

    Every field left at its default means "detect automatically". Object paths are paths
    inside the NWB file, e.g. ``"units"``, ``"processing/ecephys/units"``,
    ``"stimulus/templates/tone_1"``, ``"stimulus/presentation/sound"``,
    ``"intervals/trials"`` (a leading ``/`` is ignored; a bare name is accepted when it is
    unique).

    Parameters
    ----------
    units : str
        Object path of the Units table.
    layout : str
        ``"auto"`` (the layouts tried in the order of ``io.layouts.ORDER``), ``"templates"``
        (sound waveforms in ``stimulus_template`` presented according to a table naming
        them), ``"continuous"`` (one sound series aligned to the session, cut at the rows of
        a table naming what played, else into fixed segments), ``"series"`` (one sound
        series per presentation, each with its own starting time, as neuroconv's
        AudioInterface writes), ``"segments"`` (one sound series cut into fixed segments)
        or ``"tones"`` (pure tones synthesized from a table of tone parameters; needs
        ``synthesize_tones = true``, and then skips the layouts with waveforms).
    sounds : tuple of str
        Object paths (or base names, or patterns such as ``stimulus/presentation/sound_*``)
        of the sound series to use (templates or the continuous sound). Without it, series
        of the session named for another signal (``laser_command``, ``sync``) are no sound.
    presentations : str
        Object path of the table holding the presentations (or segments): a
        TimeIntervals table, or any DynamicTable with an onset column (``start_time``,
        ``presentation_time``, ``onset``, ``timestamp``), wherever it lies in the file.
        Several paths separated by commas read the presentations of several tables
        together (in the ``templates`` layout; they must not overlap in time).
    sound_column : str
        Column of that table naming the sound of each row (text, or a
        TimeSeriesReferenceVectorData column).
    onset_column : str
        Column of that table holding each sound's onset (s), for tables whose rows begin
        before their sound (a trial's start, then the sound). Empty: in a table of timed
        rows, the first of ``stimulus_onset_time``, ``stim_onset_time``,
        ``sound_onset_time``, ``stimulus_onset``, ``stim_onset``, ``sound_onset``,
        ``stimulus_start_time``, ``stim_start_time``, ``sound_start_time``
        (:data:`~ndx_encoding_subspace.io.names.SOUND_ONSET_COLUMNS`) it has, else the
        rows' ``start_time``.
    where : tuple of str
        ``column=value`` entries choosing the rows of the presentation table to read, for
        sessions that play the sounds under several conditions (``phase=baseline``,
        ``laser=0``): a row is read when, for every column named, its value is one of those
        given for that column (text compared without case; ``1`` matches ``1.0``). Empty:
        every row, the presentations of one sound under different conditions read as its
        repeats (a warning says so; :mod:`~ndx_encoding_subspace.io.conditions`).
    sound_folder : str
        Folder of WAV files (subfolders included; a local path, relative to the current
        folder, made absolute for the workers of a multi-site run) holding the sounds that
        the presentation table names by file name, for
        recordings that keep their waveforms outside the NWB file. Each file is a sound
        template named by its file name (:mod:`~ndx_encoding_subspace.io.sound_files`).
        Empty: the waveforms are in the NWB file.
    segment_s : float
        Continuous layout without a presentation table: the sound is cut into segments
        of this many seconds (the last between half a segment and one and a half: a
        shorter leftover joins it), each presented once.
    channel : int
        Audio channel of multi-channel sounds; -1 averages the channels (a sound whose
        channels cancel when averaged, as in antiphase, is refused: choose one).
    remove_offset : bool
        Subtract from each sound with a DC offset (mean sample at least half its RMS) its
        mean: the step from silence to the offset would otherwise make the sound's start
        and end a click in every spectrogram channel. False keeps the samples as stored
        and says which sounds hold an offset.
    response_tail_s : float
        Seconds after each sound's end over which its presentations' spikes are still
        counted, with silence appended to its spectrogram: for brief sounds (clicks, tone
        pips) whose responses outlast them. 0 counts spikes only while the sound plays. A
        tail reaching into the next presentation or past the recording's end is refused;
        the tail counts as part of its presentation for ``invalid_times`` and the units'
        ``obs_intervals``.
    min_sample_rate : float
        Series sampled slower than this (Hz) are not taken for sounds.
    min_spikes : int
        Units with fewer spikes are left out (and listed in the site's provenance).
    rel_y_direction : str
        Which way the electrodes' ``rel_y`` grows, where depth comes from it: ``"up"``
        toward the probe's top, as probeinterface, spikeinterface and neuroconv write it
        (depth is then measured down from the highest contact), or ``"down"`` with depth.
        So does the units ``depth`` that neuroconv's Phy and Kilosort interfaces copy from
        the sorting (the y of the probe's channel positions, from its tip up).
    unit_column : str
        Which units to keep: the name of a true/false column of the Units table (such as
        ``is_valid``: the units where it is true), or ``column=value`` with one or more
        values separated by commas (``quality=good``, ``KSLabel=good,mua``: the units
        labelled so, compared without case). Empty: all; the reader then warns of units a
        curation column (``quality``, ``KSLabel``, ...) labels noise or multi-unit.
    response_kernel : tuple of float
        Kernel convolved along time with every presentation's spike counts, centred
        (e.g. ``0.5, 1, 0.5``, the NS1 protocol's); empty: the counts as they are. Its
        numbers must not be negative (the responses stay non-negative counts).
    use_waveforms : bool
        Compute spike width and cell class from the Units ``waveform_mean`` column.
    validation_sounds : tuple of str
        Names of the validation sounds; empty: every sound presented at least
        ``min_validation_repeats`` times.
    min_validation_repeats : int
        Presentations needed for a sound to count as a validation sound.
    validation_fraction : float
        When no sound or every sound is repeated as often (every sound repeated, those
        presented at least twice as often as the least presented are the validation set,
        said in a warning), the last sounds (in order of first presentation) up to this
        fraction form the validation set.
    dandi_api_url : str
        DANDI API base URL; empty: the ``DANDI_API_URL`` environment variable, else the
        public archive.
    cache_dir : str
        Folder for a local cache of streamed byte ranges (and downloads); empty: none.
    download : bool
        Download remote files whole into ``cache_dir`` (or a temporary folder) instead of
        streaming them.
    retries : int
        Retries of a failed HTTP request (connection error, timeout, 429 or 5xx answer)
        before the read fails; DANDI API requests and file reads alike.
    retry_backoff_s : float
        Wait before the first retry; doubled at each further retry.
    timeout_s : float
        How long one attempt waits to connect, and then for each part of the answer.
    deadline_s : float
        How long one HTTP request may take with all its retries: no attempt starts
        after it, and each attempt's timeout is cut to the time left. With the defaults,
        an unreachable server (or archive) is reported within 15 s.
    synthesize_tones : bool
        A file without sound waveforms but with a presentation table of tone parameters
        (frequency, level or attenuation, duration columns): build each row's pure tone
        (:mod:`~ndx_encoding_subspace.io.parameters`) instead of failing.
    tone_sample_rate : float
        Sample rate of the synthesized tones, Hz (above twice the highest frequency).
    tone_reference_db : float
        Level (dB) of a synthesized tone of RMS amplitude 1; 94 makes the waveform pascals
        when the level column is dB SPL. An attenuation column ``a`` gives the level
        ``tone_reference_db - a``; without a level column every tone is at this level.
    tone_ramp_ms : float
        Duration of each synthesized tone's raised-cosine onset and offset ramps, ms.
    max_sound_s : float
        Longest sound or presentation the reader builds or reads, s: a synthesized tone
        (with its silence up to the row's end) or a declared waveform longer than this is
        refused before any memory is allocated for it (a damaged stop time or shape could
        otherwise ask for hundreds of gigabytes). Raise it for longer sounds.
    """

    units: str = _field("", "object path of the Units table (empty: detect)")
    layout: str = _field("auto", "auto, templates, continuous, series, segments or tones")
    sounds: tuple[str, ...] = _field((), "object paths or patterns of the sound series (empty: detect)")
    presentations: str = _field("", "object path of the presentation table, or several separated by commas "
                                  "(empty: detect)")
    sound_column: str = _field("", "column naming the sound of each presentation (empty: detect)")
    onset_column: str = _field("", "column of each sound's onset in the presentation table (empty: detect)")
    where: tuple[str, ...] = _field((), "column=value: read only the presentation rows with these values "
                                    "(empty: all)")
    sound_folder: str = _field("", "folder of the WAV files the presentation table names (empty: none)")
    segment_s: float = _field(10.0, "segment length when a continuous sound has no presentations, s")
    channel: int = _field(-1, "audio channel of multi-channel sounds (-1: mean of channels)")
    remove_offset: bool = _field(False, "subtract each sound's mean sample (a DC offset no speaker plays)")
    response_tail_s: float = _field(0.0, "seconds of silence after each sound over which spikes are still "
                                         "counted (brief sounds)")
    min_sample_rate: float = _field(4000.0, "slowest sample rate taken for a sound, Hz")
    min_spikes: int = _field(1, "units with fewer spikes are left out")
    rel_y_direction: str = _field("up", "electrodes' rel_y grows 'up' toward the probe's top or 'down'")
    unit_column: str = _field("", "Units to keep: a true/false Units column, or column=value[,value] "
                                  "(e.g. quality=good); empty: all")
    response_kernel: tuple[float, ...] = _field((), "kernel convolved with counts along time (empty: none)")
    use_waveforms: bool = _field(True, "spike width and cell class from waveform_mean")
    validation_sounds: tuple[str, ...] = _field((), "validation sounds (empty: the repeated ones)")
    min_validation_repeats: int = _field(2, "presentations that make a sound a validation sound")
    validation_fraction: float = _field(0.2, "validation share when no sound (or every sound) is repeated")
    dandi_api_url: str = _field("", "DANDI API URL (empty: $DANDI_API_URL or the public archive)")
    cache_dir: str = _field("", "local cache folder for streamed data (empty: none)")
    download: bool = _field(False, "download remote files whole instead of streaming")
    retries: int = _field(4, "retries of a failed HTTP request")
    retry_backoff_s: float = _field(0.5, "first retry wait, doubled each retry, s")
    timeout_s: float = _field(60.0, "timeout of one HTTP attempt (connect, then each read), s")
    deadline_s: float = _field(15.0, "time for one HTTP request with all its retries, s")
    synthesize_tones: bool = _field(False, "build pure tones from tone-parameter columns when no waveform")
    tone_sample_rate: float = _field(48000.0, "sample rate of synthesized tones, Hz")
    tone_reference_db: float = _field(94.0, "level of a synthesized tone of RMS 1, dB")
    tone_ramp_ms: float = _field(5.0, "onset and offset ramps of synthesized tones, ms")
    max_sound_s: float = _field(600.0, "longest sound or presentation read or synthesized, s")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the parameter and the bad value."""
        check_choice("reader.layout", self.layout, LAYOUTS)
        if self.layout == "tones" and self.synthesize_tones is not True:
            raise ConfigError(
                "reader.layout = 'tones' synthesizes pure tones from a table of tone parameters: "
                "set reader.synthesize_tones = true as well (with reader.layout = 'auto', the "
                "tones are tried after every layout with waveforms)"
            )
        check_range("reader.segment_s", self.segment_s, 0.0, low_open=True)
        check_choice("reader.rel_y_direction", self.rel_y_direction, ("up", "down"))
        check_range("reader.min_sample_rate", self.min_sample_rate, 0.0)
        check_range("reader.min_spikes", self.min_spikes, 0)
        check_range("reader.min_validation_repeats", self.min_validation_repeats, 2)
        check_range("reader.validation_fraction", self.validation_fraction, 0.0, 1.0, high_open=True)
        check_range("reader.retries", self.retries, 0, 50)
        check_range("reader.retry_backoff_s", self.retry_backoff_s, 0.0)
        check_range("reader.timeout_s", self.timeout_s, 0.0, low_open=True)
        check_range("reader.deadline_s", self.deadline_s, 0.0, low_open=True)
        check_range("reader.tone_sample_rate", self.tone_sample_rate, 0.0, low_open=True)
        check_range("reader.tone_reference_db", self.tone_reference_db, -400.0, 400.0)
        check_range("reader.tone_ramp_ms", self.tone_ramp_ms, 0.0)
        check_range("reader.max_sound_s", self.max_sound_s, 0.0, low_open=True)
        check_range("reader.response_tail_s", self.response_tail_s, 0.0, 60.0)
        if not math.isfinite(self.max_sound_s):
            raise ConfigError(f"reader.max_sound_s must be a finite number of s, got {self.max_sound_s!r}")
        kernel = self.response_kernel
        if not isinstance(kernel, tuple) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in kernel):
            raise ConfigError(f"reader.response_kernel must be a list of finite numbers, got {kernel!r}")
        if len(kernel) > 101 or (kernel and not any(kernel)):
            raise ConfigError(f"reader.response_kernel must hold 1 to 101 numbers, not all zero, "
                              f"got {kernel!r}")
        if any(v < 0 for v in kernel):  # smoothed counts must stay counts (Poisson loss, PSTHs)
            raise ConfigError(f"reader.response_kernel must not hold negative numbers: smoothed spike "
                              f"counts must stay non-negative, got {kernel!r}")
        for name in ("units", "presentations", "sound_column", "onset_column", "sound_folder",
                     "dandi_api_url", "cache_dir", "unit_column"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"reader.{name} must be text, got {getattr(self, name)!r}")
        for name in ("sounds", "validation_sounds", "where"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"reader.{name} must be a list of text, got {value!r}")
        for entry in self.where:
            column, sep, value = entry.partition("=")
            if not (sep and column.strip() and value.strip()):
                raise ConfigError(f"reader.where: {entry!r} is not column=value (e.g. phase=baseline)")
        column, sep, values = self.unit_column.partition("=")
        if sep and not (column.strip() and any(v.strip() for v in values.split(","))):
            raise ConfigError(f"reader.unit_column: {self.unit_column!r} is neither a column name nor "
                              "column=value (e.g. quality=good)")
        if isinstance(self.channel, bool) or not isinstance(self.channel, int) or self.channel < -1:
            raise ConfigError(f"reader.channel must be an integer >= -1, got {self.channel!r}")
        for name in ("use_waveforms", "download", "synthesize_tones", "remove_offset"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"reader.{name} must be true or false, got {getattr(self, name)!r}")
