"""Sound waveforms kept as WAV files beside the recording (``reader.sound_folder``).

Many labs publish the presentation table with the file name of each sound
(``stim_file = "sounds/clip03.wav"``) and keep the waveforms out of the NWB file. With
``reader.sound_folder`` the reader takes every WAV file under that folder (subfolders
included) as a sound template named by its file name, so the ``templates`` layout
matches them to the table's names as it matches templates in the file (folder,
extension and case ignored; files of one name in several folders are told apart by the
folders the table gives). Samples are read as fractions of each file's full scale, only
over the presented spans, and no file stays open between reads. A file that cannot be read
is left out and named; only a table naming it makes that matter.
"""

from __future__ import annotations

import dataclasses
import struct
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidDataError
from .names import AUDIO_EXTENSIONS, name_key

__all__ = ["WAV_EXTENSIONS", "WavSeries", "WavSamples", "folder_sounds", "folder_identity"]

#: the audio files read (PCM or float WAV, through :func:`scipy.io.wavfile.read`)
WAV_EXTENSIONS = (".wav", ".wave")
#: how inventories and error messages name the sounds read from files
KIND = "WAV file"


#: full scale of each WAV sample type: samples are read as fractions of it, whatever
#: the format each file was exported in (8-bit WAV is unsigned around 128)
_FULL_SCALE = {np.dtype(np.uint8): (1 / 128, -1.0), np.dtype(np.int16): (1 / 2**15, 0.0),
               np.dtype(np.int32): (1 / 2**31, 0.0)}


def _read(path: Path, mmap: bool) -> tuple[int, np.ndarray]:
    """scipy's reading of one WAV file; a truncated one refused (other warnings, such as
    chunks it skips, leave the samples whole)."""
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            try:
                rate, data = wavfile.read(path, mmap=mmap)
            except ValueError:  # 24-bit samples (or a truncated file) cannot be memory-mapped
                rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError, struct.error) as err:  # scipy's words for a damaged file
        raise InvalidDataError(f"{path}: not a readable WAV file ({err})") from None
    short = [str(w.message) for w in said if "EOF" in str(w.message)]
    if short:
        raise InvalidDataError(f"{path}: a truncated WAV file ({short[0]})")
    return int(rate), data


class WavSamples:
    """The samples of one WAV file, read when sliced: no file stays open between reads
    (a folder of thousands of clips would otherwise exhaust the open-file limit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rate, head = _read(path, mmap=True)
        self.shape, self.dtype = tuple(head.shape), head.dtype
        self._whole = None if isinstance(head, np.memmap) else head  # 24-bit: read whole once
        del head

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._whole is not None:
            return np.array(self._whole[key])
        _, data = _read(self.path, mmap=True)
        try:
            return np.array(data[key])
        finally:
            del data


@dataclasses.dataclass
class WavSeries:
    """A WAV file as the reader takes a sound series: samples, rate and their scale."""

    name: str
    data: WavSamples
    rate: float
    conversion: float = 1.0
    offset: float = 0.0
    starting_time: float = 0.0
    timestamps: None = None
    neurodata_type: str = "TimeSeries"
    object_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)


def _wav(path: Path, name: str) -> WavSeries:
    data = WavSamples(path)
    if data.ndim not in (1, 2) or data.shape[0] == 0:
        raise InvalidDataError(f"{path}: a WAV file without samples (shape {data.shape})")
    conversion, offset = _FULL_SCALE.get(data.dtype, (1.0, 0.0))
    return WavSeries(name, data, float(data.rate), conversion, offset)


def folder_sounds(folder: str | Path) -> tuple[list[tuple[str, WavSeries]], list[str]]:
    """The WAV files under ``folder``, as ``(path, WavSeries)`` pairs sorted by path, and
    why each file that cannot serve was left out (unreadable).

    Each sound is named by its file name without extension; files sharing that name
    (folder, extension and case ignored) are named by their path under ``folder`` instead
    (``set1/clip03``), and a table names each by its folders (``set1/clip03.wav``).

    Samples are fractions of each file's full scale (:data:`_FULL_SCALE`), so that files
    exported in different sample formats are read at the same level.

    Raises
    ------
    ConfigError
        The folder does not exist, or holds no WAV file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"reader.sound_folder = {str(folder)!r}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in WAV_EXTENSIONS and p.is_file())
    if not files:
        others = sorted({p.suffix.lower() for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS})
        also = f" (it holds {', '.join(others)} files: convert them to WAV)" if others else ""
        raise ConfigError(f"reader.sound_folder = {str(folder)!r}: no WAV file in it{also}")
    by_key: dict[str, list[Path]] = {}
    for path in files:
        by_key.setdefault(name_key(path.name), []).append(path)
    found, left = [], []
    for same in by_key.values():
        for path in same:
            name = path.stem if len(same) == 1 else path.relative_to(root).with_suffix("").as_posix()
            try:
                found.append((str(path), _wav(path, name)))
            except InvalidDataError as err:
                left.append(str(err))
    return sorted(found, key=lambda item: item[0]), left


def folder_identity(folder: str | Path) -> list[tuple[str, str]]:
    """The WAV files under ``folder``: path relative to it and SHA-256 of the contents.

    What a multi-site run compares to tell whether finished sites heard the same files
    (a file edited in place keeps its size and can keep its time). Empty when the folder
    does not exist.
    """
    from ..inputs import file_sha256

    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in WAV_EXTENSIONS and p.is_file())
    return [(str(p.relative_to(root)), file_sha256(p)) for p in files]
