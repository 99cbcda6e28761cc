"""The samples of the presented sounds: read, mixed down, scaled, and turned into spectrograms.

:func:`read_waveform` reads one presentation's samples (channel ``reader.channel``, or the
channels' mean where they do not cancel), scaled by the series' ``conversion`` and
``offset``; :func:`read_spectrograms` does so for every sound of a site and says, as
notes, what the samples hold with a caveat: silence, a sample rate below the
spectrogram's top channels, a DC offset (removed with ``reader.remove_offset``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.spectrogram import SpectrogramParams, filterbank_frequencies, spectrogram
from ..errors import ConfigError, InvalidDataError, NotNWBError
from .locate import Layout, Presentation
from .reader_params import ReaderParams
from .storage import check_span

__all__ = ["ABOVE_NYQUIST", "CANCELLING_POWER", "OFFSET_SHARE", "dc_offset", "above_nyquist_note",
           "read_waveform", "read_spectrograms", "mixed_sample_formats", "mixed_units_note", "sample_scale",
           "integer_span", "wide_integers_note"]

#: a sound whose mean sample is at least this share of its RMS holds a DC offset
OFFSET_SHARE = 0.5

#: channels whose mean holds less than this share of their power cancel (``reader.channel = -1``)
CANCELLING_POWER = 0.1

#: channels whose samples correlate less than this (in absolute value) are not one sound
#: (a sync pulse or a microphone beside the speaker signal, or a dichotic stimulus)
UNRELATED_CORRELATION = 0.2
#: samples beyond this magnitude (after conversion) are no sound: their power overflows
MAX_SAMPLE = 1e9


def dc_offset(wave: np.ndarray) -> float | None:
    """The mean sample of ``wave`` when it is a DC offset (at least :data:`OFFSET_SHARE`
    of the RMS), else None; ``reader.remove_offset`` subtracts it."""
    mean = float(np.mean(wave))
    return mean if mean != 0 and abs(mean) >= OFFSET_SHARE * float(np.sqrt(np.mean(wave**2))) else None


#: what :func:`above_nyquist_note` says of the channels above a sound's Nyquist frequency
ABOVE_NYQUIST = "hold no power"


def channels_above_nyquist(rate: float, params: SpectrogramParams) -> int:
    """How many of the spectrogram's channels are centred above ``rate / 2`` (silent in a
    sound sampled at ``rate``)."""
    return int(np.sum(np.asarray(filterbank_frequencies(params)) > rate / 2))


def above_nyquist_note(sounds: list[str], rate: float, params: SpectrogramParams, *,
                       fitted: bool = False) -> str:
    """The note for sounds sampled too slowly for the spectrogram's top channels; with
    ``fitted``, of sounds the models are fitted on, which then learn nothing there."""
    top = filterbank_frequencies(params)
    empty = channels_above_nyquist(rate, params)
    which = f"sound {sounds[0]!r}" if len(sounds) == 1 else f"{len(sounds)} sounds (e.g. {sounds[0]!r})"
    return (f"{which} sampled at {rate:g} Hz: their {empty} spectrogram channel(s) above "
            f"{rate / 2:g} Hz (of {len(top)}, up to spectrogram.max_frequency = "
            f"{params.max_frequency:g} Hz) {ABOVE_NYQUIST}"
            + (": a model's weights there are fitted to no data, yet its dSTRFs and subspaces take "
               "them in" if fitted else "")
            + f"; lower --spectrogram.max_frequency to {rate / 2:g} to use every channel")


def read_waveform(
    pres: Presentation, channel: int, name: str, max_sound_s: float | None = None, *,
    full_scale: bool = False, unrelated: list[float] | None = None,
    silent_channels: list[int] | None = None,
) -> np.ndarray:
    """The samples of one presentation's sound, mono float64, checked finite.

    Parameters
    ----------
    pres : Presentation
        The presentation (series, first sample, number of samples).
    channel : int
        ``reader.channel``: a channel of a multi-channel sound, -1 their mean.
    name : str
        How messages name the file.
    max_sound_s : float, optional
        ``reader.max_sound_s`` (None: its default): a longer presentation, by its declared
        shape and rate, is refused before it is read.
    full_scale : bool
        Read integer samples without a conversion as fractions of their full scale (as
        WAV readers do; :func:`plain_integers` says which). The site reader always does.
    unrelated : list, optional
        Where the channels are averaged and correlate less than
        :data:`UNRELATED_CORRELATION`, their lowest correlation is appended to it.
    silent_channels : list, optional
        Where the channels are averaged and some are constant (silent) while others are
        not, the silent ones are left out of the mean (a sound played to one ear of a
        stereo pair keeps its level), and their number is appended to it.

    Only the presentation's samples are read, after :func:`~.storage.check_span` (length,
    memory, samples never written to the file).

    Raises
    ------
    InvalidDataError
        Longer than ``max_sound_s``, more than the memory allows, with samples that are
        not in the file, empty, or holding NaN or inf.
    ConfigError
        ``channel`` beyond the sound's channels.
    """
    limit = ReaderParams().max_sound_s if max_sound_s is None else max_sound_s
    check_span(pres, name, limit)
    series = pres.series
    if channel >= series.n_channels:  # before any sample is read
        raise ConfigError(f"reader.channel = {channel}: {series.path} in {name} has {series.n_channels} "
                          f"channel{'s' if series.n_channels > 1 else ''} (the first is 0)")
    stop = pres.first_sample + pres.n_samples
    dtype = getattr(series.series.data, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind not in "biuf":  # text, complex, records
        what = "complex values (a spectrum, or an analytic signal?)" if np.dtype(dtype).kind == "c" else \
            f"values of type {np.dtype(dtype)}"
        raise InvalidDataError(f"{name}: sound {pres.sound!r}: {series.path}/data holds {what}, not the real "
                               "samples of a waveform")
    try:
        data = np.asarray(series.series.data[pres.first_sample : stop], dtype=np.float64)
    except OSError as err:  # a chunk h5py cannot decompress
        raise NotNWBError(f"{name}: sound {pres.sound!r}: {series.path}/data cannot be read (samples "
                          f"{pres.first_sample} to {stop - 1}): {err}") from None
    if data.ndim == 2:
        if channel < 0 and data.shape[1] > 1 and len(data) > 1:
            sounding = np.ptp(data, axis=0) > 0
            if 0 < sounding.sum() < data.shape[1]:
                data = data[:, sounding]
                if silent_channels is not None:
                    silent_channels.append(int((~sounding).sum()))
        if channel < 0 and unrelated is not None and (r := _correlation(data)) < UNRELATED_CORRELATION:
            unrelated.append(r)
        data = _mixed_down(data, pres, name) if channel < 0 else data[:, channel]
    if data.size == 0:
        raise InvalidDataError(f"{name}: sound {pres.sound!r} ({series.path}) is empty"
                               f"{_missing_link(series)}")
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        raise InvalidDataError(
            f"{name}: sound {pres.sound!r} ({series.path}) holds {bad.size} NaN or inf samples "
            f"(first at sample {pres.first_sample + int(bad[0])})"
        )
    conversion, offset = sample_scale(series.series)
    dtype = np.dtype(getattr(series.series.data, "dtype", np.float64))
    if full_scale and plain_integers(series):
        span = integer_span(dtype)
        conversion, offset = conversion / span, offset / span
    values = data * conversion + offset
    peak = float(np.max(np.abs(values)))
    if not peak <= MAX_SAMPLE:  # its power would overflow the spectrogram
        at = int(np.argmax(np.abs(values)))
        raise InvalidDataError(
            f"{name}: sound {pres.sound!r} ({series.path}) holds samples of magnitude {peak:.3g} (first at "
            f"sample {pres.first_sample + at}), beyond {MAX_SAMPLE:g}: damaged samples, or a conversion "
            "that does not give the sound's level?")
    return values


def _missing_link(series: Any) -> str:
    """Why a sound's samples read empty when they are an HDF5 external link to a file that
    is not there ('' otherwise)."""
    source = getattr(series.series, "container_source", None)
    if not source or not str(source).endswith((".nwb", ".h5", ".hdf5")):
        return ""
    import h5py

    try:
        with h5py.File(source, "r") as f:
            link = f.get(f"/{series.path}/data", getlink=True)
    except (OSError, ValueError, KeyError):
        return ""
    if not isinstance(link, h5py.ExternalLink):
        return ""
    target = Path(link.filename)
    target = target if target.is_absolute() else Path(source).parent / target
    return "" if target.exists() else (f": its samples are an external link to {link.filename} "
                                       f"({link.path}), a file that is not there")


def _mixed_down(data: np.ndarray, pres: Presentation, name: str) -> np.ndarray:
    """The channels' mean, refused where they cancel (channels in antiphase): their mean
    then holds less than :data:`CANCELLING_POWER` of the channels' power."""
    mean = data.mean(axis=1)
    if data.shape[1] < 2 or data.size == 0:
        return mean
    power = float(np.mean(data**2))  # NaN where samples are: refused after, naming them
    if power > 0 and float(np.mean(mean**2)) < CANCELLING_POWER * power:
        raise InvalidDataError(
            f"{name}: sound {pres.sound!r} ({pres.series.path}): its {data.shape[1]} channels cancel when "
            f"averaged (their mean holds less than {CANCELLING_POWER:.0%} of their power); choose one "
            "with --reader.channel (0 is the first)")
    return mean


def _correlation(data: np.ndarray) -> float:
    """The lowest absolute correlation between two channels of ``data`` (1 for one channel,
    or where a channel is constant: the mean is then the other channels' sound)."""
    if data.shape[1] < 2 or not np.all(np.isfinite(data)):
        return 1.0
    spread = data.std(axis=0)
    if np.any(spread == 0):
        return 1.0
    return float(np.min(np.abs(np.corrcoef(data.T))))


def integer_span(dtype: Any) -> float:
    """The full scale of integer samples of a width WAV files use (8, 16, 24 in 32 or 32
    bits): 32768 for 16 bits; 0 for any other type."""
    dtype = np.dtype(dtype)
    return 2.0 ** (8 * dtype.itemsize - 1) if dtype.kind in "iu" and dtype.itemsize <= 4 else 0.0


def plain_integers(series: Any) -> bool:
    """Whether a sound series (a SoundSeries) holds integer samples of a width WAV files use
    (8, 16, 24 in 32 or 32 bits) without a conversion: they are read as fractions of their
    full scale (32768 for 16 bits), as WAV files mean them, so that a sound's level does not
    depend on how it was stored."""
    dtype = np.dtype(getattr(series.series.data, "dtype", np.float64))
    plain = float(getattr(series.series, "conversion", 1.0) or 1.0) == 1.0
    return bool(integer_span(dtype)) and plain


def mixed_sample_formats(layout: Layout) -> bool:
    """Whether the presented sounds mix integer samples without a conversion (as
    neuroconv's AudioInterface writes int16 WAV files) with floating-point ones or integer
    ones with a conversion: their levels then differ by the integers' full scale (32768 for
    16 bits), and the integer ones without a conversion are read as fractions of it."""
    kinds = set()
    for p in layout.presentations:
        kind = np.dtype(getattr(p.series.series.data, "dtype", np.float64)).kind
        kinds.add("int" if plain_integers(p.series) else "wide" if _wide_integers(p.series)
                  else "float" if kind == "f" else "converted")
    return "int" in kinds and bool(kinds & {"float", "converted"})


def _wide_integers(series: Any) -> bool:
    """64-bit integer samples without a conversion (a width no WAV file has)."""
    dtype = np.dtype(getattr(series.series.data, "dtype", np.float64))
    plain = float(getattr(series.series, "conversion", 1.0) or 1.0) == 1.0
    return dtype.kind in "iu" and dtype.itemsize > 4 and plain


def wide_integers_note(layout: Layout) -> str:
    """A note when sounds hold 64-bit integer samples without a conversion (``astype(int)``
    of 16-bit PCM): read as their raw values, there being no full scale to read them
    against, where the same sound stored as int16 is read as a fraction of 32768."""
    wide = {p.series.path: p.sound for p in layout.presentations if _wide_integers(p.series)}
    if not wide:
        return ""
    path, sound = next(iter(wide.items()))
    return (f"{len(wide)} sound series hold 64-bit integer samples without a conversion (e.g. {path}, sound "
            f"{sound!r}): they are read as their raw values, since no WAV file has 64-bit samples to give "
            "them a full scale, so 16-bit samples stored so play 32768 times louder than the same samples "
            "stored as int16; give the series a conversion (1/32768 for 16-bit samples) or store them as "
            "int16 or int32")


#: ``unit`` values that say no unit
_NO_UNIT = {"", "n.a.", "na", "n/a", "none", "unknown", "no unit", "a.u.", "au", "arbitrary", "unitless"}


def mixed_units_note(layout: Layout) -> str:
    """A note when the presented sounds' series name different units (``'Pa'`` beside
    ``'volts'``): their samples are scaled together as if they shared one."""
    units: dict[str, str] = {}
    for p in layout.presentations:
        unit = str(getattr(p.series.series, "unit", "") or "").strip()
        if unit.lower() not in _NO_UNIT:
            units.setdefault(unit, p.sound)
    if len(units) < 2:
        return ""
    said = ", ".join(f"{u!r} ({s!r})" for u, s in list(units.items())[:4])
    return (f"the sounds' series are in different units ({said}): their samples are read on one scale, "
            "so their levels compare only if those units do")


def sample_scale(series: Any) -> tuple[float, float]:
    """A sound series' ``conversion`` and ``offset``: a conversion of 0 is read as 1, and
    unsigned 8-bit samples without an offset are centred on their midpoint, 128 (as WAV
    files store them); :func:`~.notes.layout_notes` says both."""
    conversion = float(getattr(series, "conversion", 1.0) or 1.0)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    if offset == 0.0 and getattr(series.data, "dtype", None) == np.uint8:
        offset = -128.0 * conversion
    return conversion, offset


def _offset_note(sounds: list[str]) -> str:
    return (f"sounds with a DC offset (mean sample at least {OFFSET_SHARE:g} of their RMS): "
            f"{', '.join(sounds[:10])}; the step from silence to the offset makes each one's start and "
            "end a click in every spectrogram channel; --reader.remove_offset true subtracts each "
            "sound's mean (no speaker plays a DC offset)")


def read_spectrograms(
    presentations: Sequence[Presentation], reader: ReaderParams, params: SpectrogramParams, label: str, *,
    full_scale: bool = False, progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """The spectrogram of each presentation's sound (before scaling), and the notes on them.

    Parameters
    ----------
    presentations : sequence of Presentation
        One presentation of each sound, in the site's order.
    reader : ReaderParams
        ``channel``, ``max_sound_s``, ``remove_offset`` and ``response_tail_s`` (silence
        appended to each sound) are used.
    params : SpectrogramParams
    label : str
        How messages name the file.
    full_scale : bool
        See :func:`read_waveform`.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Raises
    ------
    InvalidDataError
        Every sound is silent, a sound is sampled too slowly for every spectrogram channel,
        or :func:`read_waveform` refuses one.
    """
    raw, silent, offset, notes, mixed, one_sided = [], [], [], [], [], []
    slow: dict[float, list[str]] = {}
    stage, total = "reading sounds and spectrograms", len(presentations)
    lowest = float(np.min(filterbank_frequencies(params)))
    for i, pres in enumerate(presentations):
        if progress is not None:
            progress(stage, i, total)
        if pres.series.rate / 2 < lowest:
            raise InvalidDataError(
                f"{label}: sound {pres.sound!r} ({pres.series.path}) is sampled at {pres.series.rate:g} Hz: "
                f"every spectrogram channel (from {lowest:g} Hz, spectrogram.min_frequency) lies above its "
                f"Nyquist frequency ({pres.series.rate / 2:g} Hz), so its spectrogram would be empty; give "
                f"--spectrogram.min_frequency and --spectrogram.max_frequency below {pres.series.rate / 2:g}")
        unrelated: list[float] = []
        quiet: list[int] = []
        wave = read_waveform(pres, reader.channel, label, reader.max_sound_s, full_scale=full_scale,
                             unrelated=unrelated, silent_channels=quiet)
        mixed += [(pres.sound, unrelated[0])] if unrelated else []  # one presentation per sound
        one_sided += [(pres.sound, quiet[0], pres.series.n_channels)] if quiet else []
        if np.ptp(wave) == 0:
            silent.append(pres.sound)
        elif (mean := dc_offset(wave)) is not None:
            if reader.remove_offset:
                wave = wave - mean
            else:
                offset.append(pres.sound)
        if channels_above_nyquist(pres.series.rate, params):
            slow.setdefault(float(pres.series.rate), []).append(pres.sound)
        if reader.response_tail_s:  # silence after the sound, its responses still counted
            wave = np.concatenate([wave, np.zeros(int(round(reader.response_tail_s * pres.series.rate)))])
        raw.append(spectrogram(wave, pres.series.rate, params, name=pres.sound))
    if progress is not None:
        progress(stage, total, total)
    if silent and len(silent) == total:
        raise InvalidDataError(f"{label}: every sound is silent (constant samples), e.g. {silent[0]!r} "
                               f"({presentations[0].series.path}); nothing to encode")
    if silent:
        notes.append(f"silent sounds (constant samples): {', '.join(silent[:10])}")
    if offset:
        notes.append(_offset_note(offset))
    # fitted to no data only where no sound fills the channels: above the fastest slow rate's
    # Nyquist frequency, when every sound is slow (else the others' samples fit them)
    everywhere = sum(map(len, slow.values())) == total
    notes.extend(above_nyquist_note(sounds, rate, params, fitted=everywhere and rate == max(slow))
                 for rate, sounds in slow.items())
    if one_sided:
        sound, n, of = one_sided[0]
        notes.append(f"{len(one_sided)} sound(s) with silent channels ({n} of {of} in {sound!r}) are read "
                     "as the mean of their other channels, at the level those play; choose a channel with "
                     "--reader.channel (0 is the first)")
    if mixed:
        sound, r = mixed[0]
        notes.append(f"{len(mixed)} sound(s) whose channels are unrelated (correlation {r:.2f} in {sound!r}) "
                     "are read as the mean of their channels; if a channel holds no sound (a sync pulse, "
                     "a microphone), choose the sound's with --reader.channel (0 is the first)")
    return raw, notes
