"""Site data: what one recording site gives the models, ready for analysis.

A :class:`SiteData` holds, for one site (one probe insertion), the spectrogram of every
presented sound, the binned spike counts of every unit for every presentation of that
sound, the estimation / validation split and per-unit metadata. Readers build it; the
models, subspace and analysis steps only ever see this object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import real_array, summary_repr
from ..errors import InvalidDataError

__all__ = ["Sound", "UnitInfo", "SiteData"]


@dataclasses.dataclass(frozen=True)
class Sound:
    """One sound as the models see it.

    Parameters
    ----------
    name : str
        Identifier of the sound, unique within the site.
    spectrogram : ndarray, shape (time, frequency), float32
        Stimulus spectrogram in bins of the site's ``bin_size``.
    counts : ndarray, shape (repeats, time, units), float32
        Spike counts (or smoothed rates) per bin for every presentation of the sound.
    """

    name: str
    spectrogram: np.ndarray
    counts: np.ndarray

    __repr__ = summary_repr

    def __post_init__(self) -> None:
        for field in ("spectrogram", "counts"):  # nested lists of numbers, as a notebook gives them
            value = getattr(self, field)
            if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
                raise InvalidDataError(f"sound {self.name!r}: {field} is a masked array with masked values; "
                                       "fill or drop the masked bins (the mask would be ignored)")
            # real numbers only (complex, text, dates refused), in one memory layout: a view with
            # negative strides or in Fortran order gives the same results as a plain array
            array = np.ascontiguousarray(real_array(value, f"sound {self.name!r}: {field}"))
            if array is not value:
                object.__setattr__(self, field, array)
        spec, counts = self.spectrogram, self.counts
        if spec.ndim != 2:
            raise InvalidDataError(f"sound {self.name!r}: spectrogram must be 2-D [time, frequency]")
        if counts.ndim != 3 or counts.shape[1] != spec.shape[0]:
            raise InvalidDataError(
                f"sound {self.name!r}: counts must be [repeats, time, units] with time = "
                f"{spec.shape[0]}, got shape {counts.shape}"
            )
        if spec.shape[0] == 0 or counts.shape[0] == 0:
            empty = "no time bin" if spec.shape[0] == 0 else "no presentation"
            raise InvalidDataError(f"sound {self.name!r}: {empty}")
        if not np.all(np.isfinite(spec)):
            raise InvalidDataError(f"sound {self.name!r}: spectrogram holds NaN or inf")
        if not np.all(np.isfinite(counts)):
            raise InvalidDataError(f"sound {self.name!r}: counts hold NaN or inf")

    @property
    def n_bins(self) -> int:
        """Number of time bins."""
        return int(self.spectrogram.shape[0])

    @property
    def n_repeats(self) -> int:
        """Number of presentations."""
        return int(self.counts.shape[0])

    @property
    def psth(self) -> np.ndarray:
        """Mean response over presentations, shape (time, units)."""
        return self.counts.mean(axis=0)


@dataclasses.dataclass(frozen=True)
class UnitInfo:
    """Per-unit metadata, one entry per unit in the order of the count arrays.

    Unknown values are NaN (numbers) or the empty string (labels).

    Parameters
    ----------
    ids : ndarray of int
        Unit ids as in the source Units table.
    rows : ndarray of int
        Row index of each unit in the source Units table (for DynamicTableRegion).
    depth_um : ndarray of float
        Recording depth in micrometres.
    area : ndarray of str
        Brain area, e.g. ``"A1"``.
    spike_width_ms : ndarray of float
        Trough-to-peak duration of the mean waveform in ms.
    cell_type : ndarray of str
        ``"narrow"``, ``"regular"`` or ``""``.
    """

    ids: np.ndarray
    rows: np.ndarray
    depth_um: np.ndarray
    area: np.ndarray
    spike_width_ms: np.ndarray
    cell_type: np.ndarray

    @classmethod
    def from_ids(cls, ids: Sequence[int], **columns: Any) -> UnitInfo:
        """Build with defaults (unknown) for every column not given."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        defaults = {
            "rows": np.arange(n, dtype=np.int64),
            "depth_um": np.full(n, np.nan),
            "area": np.full(n, "", dtype=object),
            "spike_width_ms": np.full(n, np.nan),
            "cell_type": np.full(n, "", dtype=object),
        }
        for key, value in columns.items():
            if key not in defaults:
                raise TypeError(f"UnitInfo has no column {key!r}")
            if value is not None:
                defaults[key] = np.asarray(value)
        for key, value in defaults.items():
            if len(value) != n:
                raise InvalidDataError(f"unit column {key!r} has {len(value)} entries for {n} units")
        return cls(ids=ids, **defaults)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> UnitInfo:
        """The units at positions ``index``."""
        index = np.asarray(index)
        return UnitInfo(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})


@dataclasses.dataclass(frozen=True)
class SiteData:
    """Analysis-ready data of one recording site.

    Parameters
    ----------
    name : str
        Site identifier (used to name outputs).
    sounds : tuple of Sound
        Every presented sound.
    frequencies : ndarray of float
        Centre frequency of each spectrogram channel, Hz.
    bin_size : float
        Time bin of spectrograms and counts, seconds.
    units : UnitInfo
        Metadata of the units, in the order of the count arrays' last axis.
    estimation : tuple of str
        Names of the sounds used for fitting (early stopping takes its held-out part
        from these).
    validation : tuple of str
        Names of the sounds used only for scoring.
    source : dict
        Provenance of the data: file path and checksum or DANDI asset, reader options,
        spectrogram parameters.
    """

    name: str
    sounds: tuple[Sound, ...]
    frequencies: np.ndarray
    bin_size: float
    units: UnitInfo
    estimation: tuple[str, ...]
    validation: tuple[str, ...]
    source: dict = dataclasses.field(default_factory=dict)

    __repr__ = summary_repr

    def __post_init__(self) -> None:
        size = self.bin_size
        if isinstance(size, bool) or not isinstance(size, int | float | np.number) or not (
                np.isfinite(size) and size > 0):
            raise InvalidDataError(f"site {self.name!r}: bin_size must be a positive number of seconds, "
                                   f"got {size!r}")
        if not isinstance(self.units, UnitInfo):
            raise InvalidDataError(f"site {self.name!r}: units must be a UnitInfo "
                                   f"(UnitInfo.from_ids(ids, ...)), got {type(self.units).__name__}")
        lengths = {f.name: len(getattr(self.units, f.name)) for f in dataclasses.fields(UnitInfo)}
        if len(set(lengths.values())) > 1:
            raise InvalidDataError(f"site {self.name!r}: the units' columns differ in length: {lengths}")
        wrong = [type(s).__name__ for s in self.sounds if not isinstance(s, Sound)]
        if wrong:
            raise InvalidDataError(f"site {self.name!r}: sounds must be Sound objects, got {wrong[0]}")
        names = [s.name for s in self.sounds]
        if len(set(names)) != len(names):
            raise InvalidDataError(f"site {self.name!r}: sound names are not unique")
        known = set(names)
        for split in ("estimation", "validation"):
            missing = [n for n in getattr(self, split) if n not in known]
            if missing:
                raise InvalidDataError(f"site {self.name!r}: {split} sounds not found: {missing}")
        overlap = set(self.estimation) & set(self.validation)
        if overlap:
            raise InvalidDataError(
                f"site {self.name!r}: sounds in both estimation and validation: {sorted(overlap)}"
            )
        for s in self.sounds:
            if s.spectrogram.shape[1] != len(self.frequencies):
                raise InvalidDataError(
                    f"site {self.name!r}: sound {s.name!r} has {s.spectrogram.shape[1]} channels, "
                    f"expected {len(self.frequencies)}"
                )
            if s.counts.shape[2] != len(self.units):
                raise InvalidDataError(
                    f"site {self.name!r}: sound {s.name!r} has {s.counts.shape[2]} units, "
                    f"expected {len(self.units)}"
                )

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.units)

    @property
    def n_frequencies(self) -> int:
        """Number of spectrogram channels."""
        return len(self.frequencies)

    def sound(self, name: str) -> Sound:
        """The sound called ``name``."""
        for s in self.sounds:
            if s.name == name:
                return s
        raise KeyError(f"site {self.name!r} has no sound {name!r}")

    def split(self, which: str) -> list[Sound]:
        """Sounds of ``"estimation"`` or ``"validation"``, in their listed order."""
        if which not in ("estimation", "validation"):
            raise ValueError(f"split must be 'estimation' or 'validation', got {which!r}")
        return [self.sound(n) for n in getattr(self, which)]

    def stimuli(self, which: str) -> list[np.ndarray]:
        """Spectrograms [time, frequency] of a split."""
        return [s.spectrogram for s in self.split(which)]

    def responses(self, which: str) -> list[np.ndarray]:
        """Mean responses over repeats [time, units] of a split (fitting targets, PSTHs)."""
        return [s.psth for s in self.split(which)]

    def trials(self, which: str) -> list[np.ndarray]:
        """Per-repeat responses [repeats, time, units] of a split (for CCnorm)."""
        return [s.counts for s in self.split(which)]

    def select_units(self, index: Sequence[int] | np.ndarray) -> SiteData:
        """A site restricted to the units at positions ``index`` (or where a boolean mask of
        one value per unit is true)."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape == (self.n_units,):
            index = np.flatnonzero(index)
        if index.ndim != 1 or not index.size or not np.issubdtype(index.dtype, np.integer) or \
                index.min() < -self.n_units or index.max() >= self.n_units:
            raise InvalidDataError(f"site {self.name!r}: select_units takes unit positions in "
                                   f"0..{self.n_units - 1} (at least one), got {index.tolist()[:10]!r}")
        sounds = tuple(
            Sound(s.name, s.spectrogram, np.ascontiguousarray(s.counts[:, :, index]))
            for s in self.sounds
        )
        return dataclasses.replace(self, sounds=sounds, units=self.units.subset(index))

    def summary(self) -> dict[str, Any]:
        """Counts a person checks first: units, sounds per split, bins of sound per split
        (each sound counted once, however often it was heard), repeats
        (``validation_repeats``: of the validation sound presented fewest times)."""
        est, val = self.split("estimation"), self.split("validation")
        return {
            "site": self.name,
            "units": self.n_units,
            "frequencies": self.n_frequencies,
            "bin_size_s": self.bin_size,
            "estimation_sounds": len(est),
            "estimation_bins": int(sum(s.n_bins for s in est)),
            "validation_sounds": len(val),
            "validation_bins": int(sum(s.n_bins for s in val)),
            "validation_repeats": int(min((s.n_repeats for s in val), default=0)),
            "validation_repeats_max": int(max((s.n_repeats for s in val), default=0)),
        }
