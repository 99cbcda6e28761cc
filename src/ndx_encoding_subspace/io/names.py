"""Sound names as people write them, and the column names the reader recognises.

A table may name a sound ``/stimuli/Clip03.WAV`` where the template is called ``clip03``:
:func:`name_key` drops the folder, a known audio extension, surrounding blanks and case,
so that both give ``"clip03"``. :class:`NameIndex` matches names through these keys and
counts the names that matched nothing, keeping the first :data:`UNMATCHED_SHOWN` of them
for the layout's description and ``inspect``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from .reader_params import SOUND_COLUMNS

__all__ = [
    "listing",
    "path_key",
    "OTHER_EVENT_WORDS",
    "AUDIO_EXTENSIONS",
    "NAME_COLUMNS",
    "ONSET_COLUMNS",
    "SOUND_ONSET_COLUMNS",
    "STOP_COLUMNS",
    "DURATION_COLUMNS",
    "BASELINE_VALUES",
    "STIMULUS_FLAG_COLUMNS",
    "TYPE_COLUMNS",
    "CONDITION_COLUMNS",
    "says_sound_onset",
    "name_words",
    "name_key",
    "display_name",
    "is_baseline_value",
    "looks_like_file",
    "NameIndex",
    "UNMATCHED_SHOWN",
]

#: Unmatched names kept (for messages, ``inspect`` and provenance); the rest are counted.
UNMATCHED_SHOWN = 20

#: Extensions dropped from sound names (lower case, with the dot).
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".mp3", ".ogg", ".aif", ".aiff", ".au", ".snd", ".mat", ".npy")

#: Columns that name the sound of a row, in order of preference (compared in lower case).
NAME_COLUMNS = (
    *SOUND_COLUMNS,
    "stim",
    "sound_file",
    "stimulus_file",
    "stim_file",
    "wav",
    "wav_file",
    "wav_name",
    "wavfile",
    "file",
    "filename",
    "file_name",
    "sound_id",
    "stimulus_id",
    "stim_id",
)

#: Columns holding the onset of a row, in order of preference.
ONSET_COLUMNS = ("start_time", "presentation_time", "onset", "onset_time", "timestamp", "timestamps")

#: Columns of a table of timed rows (trials) holding the sound's own onset, when a row
#: begins before its sound, in order of preference.
SOUND_ONSET_COLUMNS = (
    "stimulus_onset_time",
    "stim_onset_time",
    "sound_onset_time",
    "stimulus_onset",
    "stim_onset",
    "sound_onset",
    "stimulus_start_time",
    "stim_start_time",
    "sound_start_time",
)

#: Columns holding the end of a row, in order of preference.
STOP_COLUMNS = ("stop_time", "offset_time", "end_time", "stop", "end")
#: columns of each row's duration (s), used where a table has no stop column (an
#: ``EventsTable``'s ``duration``)
DURATION_COLUMNS = ("duration", "duration_s", "sound_duration")

#: Cell values (after :func:`name_key`) that mark a row where no sound played.
BASELINE_VALUES = frozenset(
    {
        "",
        "none",
        "nan",
        "null",
        "n/a",
        "na",
        "-",
        "baseline",
        "silence",
        "silent",
        "blank",
        "spontaneous",
        "no sound",
    }
)

#: Columns of true/false (or 1/0) saying that a sound played in the row; a column whose
#: name holds ``baseline`` says the opposite.
STIMULUS_FLAG_COLUMNS = (
    "is_stimulus",
    "is_stim",
    "stimulus_on",
    "stim_on",
    "has_stimulus",
    "sound_on",
    "is_sound",
)

#: Text columns naming the kind of row; a value in :data:`BASELINE_VALUES` marks a baseline row.
TYPE_COLUMNS = (
    "stimulus_type",
    "stim_type",
    "trial_type",
    "row_type",
    "epoch_type",
    "block_type",
    "condition",
    "type",
    "kind",
    "phase",
)

#: Columns saying under which experimental condition a row played (a drug, a laser, a
#: block of a task); presentations of one sound under several are read as repeats, said in
#: a note (:mod:`~ndx_encoding_subspace.io.conditions`).
CONDITION_COLUMNS = (
    "condition",
    "phase",
    "block_type",
    "epoch_type",
    "state",
    "drug",
    "treatment",
    "manipulation",
    "laser",
    "laser_on",
    "stim_present",  # the photostimulation of the Svoboda lab's trials tables
    "photostim",
    "photostim_on",
    "opto",
    "light",
    "light_on",
    "context",
    "task",
    "behavior",
    "behaviour",
    "engaged",
    "passive",
    "active",
)

T = TypeVar("T")


def name_key(text: Any) -> str:
    """The comparable form of a sound name: no folder, no audio extension, lower case.

    Examples
    --------
    >>> name_key("/stimuli/Clip03.WAV")
    'clip03'
    >>> name_key(b"C:\\\\sounds\\\\tone_1k.wav")
    'tone_1k'
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    value = str(text).strip().replace("\\", "/").rstrip("/")
    value = value.rpartition("/")[2].strip()
    lower = value.lower()
    for ext in AUDIO_EXTENSIONS:
        if lower.endswith(ext) and len(lower) > len(ext):
            return lower[: -len(ext)]
    return lower


def path_key(text: Any) -> str:
    """A sound name with its folders: ``/`` separators, no audio extension, lower case,
    no leading or trailing ``/`` (``C:\\Stim\\Set1\\Clip03.WAV`` -> ``c:/stim/set1/clip03``)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    folder, _, _ = str(text).strip().replace("\\", "/").strip("/").rpartition("/")
    return f"{folder.lower()}/{name_key(text)}" if folder else name_key(text)


def display_name(text: Any) -> str:
    """A sound name as shown to people: no folder, no audio extension, case kept."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    value = str(text).strip().replace("\\", "/").rstrip("/").rpartition("/")[2].strip()
    key = name_key(value)
    return value[: len(key)] if key and value.lower().startswith(key) else value


def is_baseline_value(value: Any) -> bool:
    """Whether a cell naming a sound says that none played (empty, none, NaN, baseline...)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return name_key(value) in BASELINE_VALUES


def looks_like_file(value: Any) -> bool:
    """Whether a cell looks like an audio file name (``.../clip.wav``)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.strip().lower().endswith(AUDIO_EXTENSIONS)


class NameIndex(Generic[T]):
    """Objects by name, matched by :func:`name_key`; unmatched names are counted.

    Parameters
    ----------
    items : iterable of (name, object)
        Exact names first take precedence; a key shared by several objects matches none
        of them by key (only exactly).

    Attributes
    ----------
    unmatched : list of str
        The first :data:`UNMATCHED_SHOWN` different names that matched nothing.
    n_unmatched : int
        How many different names matched nothing.
    n_matched : int
        How many calls of :meth:`get` found an object.
    ambiguous : dict of str to list of str
        Names that matched nothing exactly and several objects by key (``clip03`` beside
        ``clip03.wav`` and ``Clip03.flac``): the name and the names of those objects.
    """

    def __init__(self, items: Iterable[tuple[str, T]]) -> None:
        self._exact: dict[str, T] = {}
        by_key: dict[str, list[tuple[str, T]]] = {}
        self._paths: list[tuple[str, T]] = []
        for name, obj in items:
            self._exact.setdefault(name, obj)
            by_key.setdefault(name_key(name), []).append((name, obj))
            if "/" in path_key(name):
                self._paths.append((path_key(name), obj))
        self._by_key = {k: v[0][1] for k, v in by_key.items() if all(o is v[0][1] for _, o in v)}
        self._shared = {k: list({id(o): n for n, o in v}.values()) for k, v in by_key.items()
                        if k not in self._by_key}
        self.ambiguous: dict[str, list[str]] = {}
        self._missed: set[str] = set()
        self.unmatched: list[str] = []
        self.n_matched = 0

    @property
    def n_unmatched(self) -> int:
        """How many different names matched nothing."""
        return len(self._missed)

    def peek(self, name: Any) -> T | None:
        """The object ``name`` designates, or None, without counting it as unmatched."""
        text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        found = self._exact.get(text)
        if found is None:
            found = self._exact.get(text.strip().lstrip("/"))
        if found is None:
            found = self._by_key.get(name_key(text))
        return found if found is not None or name_key(text) not in self._shared else self._by_folder(text)

    def _by_folder(self, text: str) -> T | None:
        """Among objects sharing the name of ``text``, the one whose path and ``text``'s end
        alike, one ending the other at a folder (``set1/clip03.wav`` names
        ``/data/stimuli/set1/clip03.wav``, not ``set2/clip03.wav``); None unless exactly one."""
        wanted = path_key(text)
        if "/" not in wanted:
            return None
        found = {id(obj): obj for have, obj in self._paths
                 if have == wanted or have.endswith("/" + wanted) or wanted.endswith("/" + have)}
        if len(found) > 1:  # one named by exactly these folders (set1/clip03 beside old/set1/clip03)
            found = {id(obj): obj for have, obj in self._paths if have == wanted}
        return next(iter(found.values())) if len(found) == 1 else None

    def get(self, name: Any) -> T | None:
        """The object ``name`` designates, or None (then counted in :attr:`n_unmatched`)."""
        text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        found = self.peek(text)
        if found is not None:
            self.n_matched += 1
        elif name_key(text) in self._shared:
            self.ambiguous.setdefault(text, self._shared[name_key(text)])
        elif text not in self._missed:
            self._missed.add(text)
            if len(self.unmatched) < UNMATCHED_SHOWN:
                self.unmatched.append(text)
        return found


def listing(items: Iterable[Any], shown: int = 10) -> str:
    """``"a, b, c"``, or the first ``shown`` and ``"and N more"``, for messages."""
    items = [str(item) for item in items]
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


_STIMULUS_WORDS = frozenset({"stim", "stimulus", "sound", "tone", "audio", "clip", "playback", "speaker"})
_ONSET_WORDS = frozenset({"on", "onset", "onsets", "start", "starts"})
#: words naming events other than sounds in an IntervalSeries' name (stimuli of other
#: kinds, behaviour): such intervals do not cut a recorded track
OTHER_EVENT_WORDS = frozenset({"laser", "opto", "optogenetic", "light", "electrical", "shock", "reward",
                               "visual", "tactile", "whisker", "airpuff", "puff", "odor", "odour", "water",
                               "lick", "licks", "licking", "running", "movement", "motion", "pupil", "sleep",
                               "artifact", "artefact"})
#: words of a series' name that say it records no sound (a laser's command, a sync pulse)
#: words in a series' name or description that say it holds sound (a speaker's signal)
SOUND_WORDS = frozenset({"sound", "sounds", "audio", "speaker", "speakers", "loudspeaker", "microphone",
                         "mic", "acoustic", "stimulus", "stim", "wav", "waveform", "playback", "earphone",
                         "headphone", "vocalization", "vocalizations"})
NOT_SOUND_WORDS = frozenset({"laser", "opto", "optogenetic", "optostim", "led", "shock", "lick", "licks",
                             "licking", "pupil", "whisker", "airpuff", "ttl", "sync", "photodiode", "camera"})
_NOT_ONSET_WORDS = frozenset({"off", "offset", "stop", "end", "dur", "duration", "ms", "sample", "samples",
                              "frame", "frames", "idx", "index", "id", "relative", "rel", "delay", "latency",
                              # stimuli of other kinds, in sessions that also play sounds
                              "laser", "opto", "optogenetic", "light", "led", "electrical", "elec",
                              "pulse", "train", "shock", "reward", "visual", "vis", "tactile", "whisker",
                              "airpuff", "puff", "odor", "odour", "water"})


def name_words(column: str) -> set[str]:
    """The lower-case words of a column's name, split at non-letters and at camelCase
    (``stimOn_times`` -> ``{"stim", "on", "times"}``)."""
    return set(re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()))


_OTHER_TIMING_WORDS = frozenset({"ms", "sample", "samples", "frame", "frames", "relative", "rel", "delay"})
_END_WORDS = frozenset({"off", "offset", "stop", "end", "dur", "duration"})
#: words of a column holding another time than the sound's onset (a response's latency, a
#: task's period, a cue) or a constant of the hardware (a speaker's delay)
_NOT_SOUND_TIME_WORDS = frozenset({"response", "resp", "lick", "licks", "licking", "rt", "reaction",
                                   "spike", "spikes", "first", "period", "cue", "go", "latency", "speaker",
                                   "playback"})


def says_other_onset(column: str) -> bool:
    """Whether a column's name says it holds the sound's onset in a form the reader does
    not take as onsets: in milliseconds, samples or frames, or relative to the row
    (``stim_onset_ms``, ``sound_delay``, ``stimOnset_samples``); not a response's latency,
    a task's period or a speaker's delay."""
    words = name_words(column)
    stimulus = words & (_STIMULUS_WORDS - {"speaker", "playback"})
    return bool(stimulus and words & (_ONSET_WORDS | {"delay"}) and words & _OTHER_TIMING_WORDS
                and not words & (_END_WORDS | _NOT_SOUND_TIME_WORDS)
                and not words & (_NOT_ONSET_WORDS - _OTHER_TIMING_WORDS - _END_WORDS
                                 - {"sample", "samples", "idx", "index", "id", "latency"}))


def says_sound_onset(column: str) -> bool:
    """Whether a column's name says it holds the sound's onset (``stim_on_time``,
    ``stimOn_times``, ``sound_onset_s``): a stimulus word and an onset word, and no word of
    an end, a unit other than seconds, an index or a delay."""
    words = name_words(column)
    for word in list(words):  # "stimon", "soundonset"
        for stem in _STIMULUS_WORDS:
            if word.startswith(stem) and word[len(stem):] in _ONSET_WORDS:
                words |= {stem, word[len(stem):]}
    return bool(words & _STIMULUS_WORDS and words & _ONSET_WORDS and not words & _NOT_ONSET_WORDS)
