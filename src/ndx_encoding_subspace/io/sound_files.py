"""Sound waveforms kept as WAV files beside the recording (``reader.sound_folder``).

Many labs publish the presentation table with the file name of each sound
(``stim_file = "sounds/clip03.wav"``) and keep the waveforms out of the NWB file. With
``reader.sound_folder`` the reader takes every WAV file under that folder (subfolders
included) as a sound template named by its file name, so the ``templates`` layout
matches them to the table's names as it matches templates in the file (folder,
extension and case ignored). The files are memory-mapped, and only the presented spans
are read, as for templates in the file.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AmbiguousInputError, ConfigError, InvalidDataError
from .names import AUDIO_EXTENSIONS, name_key

if TYPE_CHECKING:
    from pynwb import TimeSeries

__all__ = ["WAV_EXTENSIONS", "folder_sounds", "folder_identity"]

#: the audio files read (PCM or float WAV, through :func:`scipy.io.wavfile.read`)
WAV_EXTENSIONS = (".wav", ".wave")
#: how inventories and error messages name the sounds read from files
KIND = "WAV file"


def _wav(path: Path) -> TimeSeries:
    from pynwb import TimeSeries
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            try:
                rate, data = wavfile.read(path, mmap=True)
            except ValueError:  # 24-bit samples (or a truncated file) cannot be memory-mapped
                rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError, struct.error) as err:  # scipy's words for a damaged file
        raise InvalidDataError(f"{path}: not a readable WAV file ({err})") from None
    # other warnings (chunks scipy skips, such as LIST metadata) leave the samples whole
    short = [str(w.message) for w in said if "EOF" in str(w.message)]
    if short:
        raise InvalidDataError(f"{path}: a truncated WAV file ({short[0]})")
    if data.ndim not in (1, 2) or data.shape[0] == 0:
        raise InvalidDataError(f"{path}: a WAV file without samples (shape {data.shape})")
    offset = -128.0 if data.dtype == np.uint8 else 0.0  # 8-bit WAV is unsigned around 128
    return TimeSeries(name=path.stem, data=data, rate=float(rate), unit="n.a.", offset=offset,
                      description=f"read from {path}")


def folder_sounds(folder: str | Path) -> list[tuple[str, Any]]:
    """The WAV files under ``folder``, as ``(path, TimeSeries)`` pairs sorted by path.

    Raises
    ------
    ConfigError
        The folder does not exist, or holds no WAV file.
    AmbiguousInputError
        Two files whose names differ only by folder, extension or case.
    InvalidDataError
        A WAV file that cannot be read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"reader.sound_folder = {str(folder)!r}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in WAV_EXTENSIONS)
    if not files:
        others = sorted({p.suffix.lower() for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS})
        also = f" (it holds {', '.join(others)} files: convert them to WAV)" if others else ""
        raise ConfigError(f"reader.sound_folder = {str(folder)!r}: no WAV file in it{also}")
    by_key: dict[str, Path] = {}
    for path in files:
        twin = by_key.setdefault(name_key(path.name), path)
        if twin is not path:
            raise AmbiguousInputError(f"{twin} and {path}: two sound files of the same name in "
                                      "reader.sound_folder (folder, extension and case are ignored)")
    return [(str(path), _wav(path)) for path in files]


def folder_identity(folder: str | Path) -> list[tuple[str, int, int]]:
    """The WAV files under ``folder``: path relative to it, size and modification time (ns).

    Cheap (no file is read): what a multi-site run compares to tell whether finished
    sites heard the same files. Empty when the folder does not exist.
    """
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in WAV_EXTENSIONS and p.is_file())
    return [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
