"""Before a sound or a column is read: what reading it costs, and whether it is in the file.

An HDF5 dataset declares its shape; its samples may lie elsewhere or nowhere. A few
hundred kilobytes of file can declare a sound of gigabytes whose chunks were never
written (they read as the fill value, silence), keep its samples in external raw files
(read as zeros past their end), or map them from other files (a virtual dataset, read as
the fill value where a source is missing). The reader reads only the presented span of a
sound, and only after these checks:

* :func:`check_span`: the span's declared length against ``reader.max_sound_s``; the
  memory that reading it and computing its spectrogram takes against a share of the
  memory available (:data:`MEMORY_SHARE`); and the storage of every one of its samples
  (:func:`unwritten`). A streamed file's dataset with external or virtual storage is
  refused outright: its storage would be looked up on this machine.
* :func:`check_demand`: every sound of the site together (the largest read, and the
  spectrograms and spike counts that are kept) against the same share.
* :func:`check_whole`: a dataset read whole (a table's column, the flat values of a
  ragged column such as ``spike_times``) against the same share, and its storage.

Each refusal is an :class:`~ndx_encoding_subspace.errors.InvalidDataError` naming the
file, the sound and the object, said before any sample is read.
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..compute import host_memory
from ..errors import InvalidDataError
from .inventory import Presentation
from .zarr_store import is_zarr_array, zarr_gap

__all__ = ["MEMORY_SHARE", "available_memory", "read_bytes", "check_span", "check_demand", "check_whole",
           "unwritten"]

#: Share of the memory available that reading the sounds of a site may plan to fill.
MEMORY_SHARE = 0.5

#: Peak bytes of the spectrogram of a mono float64 waveform, per byte of the waveform
#: (measured: below 5 at 16 kHz, less at higher rates), with a margin.
SPECTROGRAM_FACTOR = 6


def available_memory() -> int:
    """Bytes the system could give without swapping (``psutil`` when installed, else
    ``MemAvailable`` of ``/proc/meminfo``); 4 GiB when neither says. Asked at most once
    a second: a file's datasets are checked one after another."""
    now = time.monotonic()
    if now - _ASKED[0] > 1.0:
        _ASKED[:] = [now, host_memory()]
    return int(_ASKED[1])


_ASKED: list[float] = [-math.inf, 0.0]  # when the memory available was last asked, and the answer


def _itemsize(data: Any) -> int:
    dtype = getattr(data, "dtype", None)
    try:
        return int(np.dtype(dtype).itemsize) if dtype is not None else 8
    except TypeError:
        return 8


def _declared(pres: Presentation) -> tuple[int, int]:
    """(samples the series declares, samples of the span within them)."""
    series = pres.series
    shape = getattr(series.series.data, "shape", None)
    total = int(shape[0]) if shape is not None and len(shape) else series.n_samples
    return total, max(0, min(pres.n_samples, total - pres.first_sample))


def read_bytes(pres: Presentation) -> int:
    """Peak bytes of reading the span of ``pres`` and computing its spectrogram: the
    samples as stored, as float64, the mono waveform and the spectrogram's work."""
    _, n = _declared(pres)
    channels = max(pres.series.n_channels, 1)
    return n * channels * (_itemsize(pres.series.series.data) + 8) + n * 8 * SPECTROGRAM_FACTOR


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def _what(pres: Presentation, name: str) -> str:
    return f"{name}: sound {pres.sound!r} ({pres.series.path})"


def check_span(pres: Presentation, name: str, max_sound_s: float, available: int | None = None,
               *, warn: bool = True) -> None:
    """Refuse the span of ``pres`` before reading it (see the module's text).

    Parameters
    ----------
    pres : Presentation
        The span: series, first sample, number of samples.
    name : str
        How messages name the file.
    max_sound_s : float
        ``reader.max_sound_s``.
    available : int, optional
        Bytes of memory available (default: :func:`available_memory`).
    warn : bool
        Warn of a Zarr array's absent chunks (off for a check made again before reading).

    Raises
    ------
    InvalidDataError
        A span longer than ``max_sound_s``, more than :data:`MEMORY_SHARE` of the memory
        available, or with samples that were never written to the file.
    """
    series = pres.series
    data = series.series.data
    total, n = _declared(pres)
    if series.rate and n / series.rate > max_sound_s:
        size = n * max(series.n_channels, 1) * _itemsize(data)
        raise InvalidDataError(
            f"{_what(pres, name)} declares {n} samples x {series.n_channels} channel(s) at "
            f"{series.rate:g} Hz: {n / series.rate:g} s ({_gb(size)} as stored), longer than "
            f"reader.max_sound_s = {max_sound_s:g} s; not read (check the series' shape and rate, "
            "or raise reader.max_sound_s)"
        )
    need = read_bytes(pres)
    free = available_memory() if available is None else available
    if need > MEMORY_SHARE * free:
        raise InvalidDataError(
            f"{_what(pres, name)}: reading its presented {n} samples x {series.n_channels} channel(s) "
            f"and computing their spectrogram needs about {_gb(need)}, more than {MEMORY_SHARE:g} of "
            f"the {_gb(free)} of memory available; not read (check the series' shape and rate)"
        )
    absent = zarr_gap(data, pres.first_sample, pres.first_sample + n)
    if absent and getattr(data, "fill_value", None) is None:
        raise InvalidDataError(f"{_what(pres, name)}: {absent}, and the array declares no fill value, so "
                               "they would read as whatever memory holds; not read")
    if absent and warn:  # Zarr lets a writer leave out chunks that hold only the fill value
        warnings.warn(f"{_what(pres, name)}: {absent}; read so, as a writer that leaves out such "
                      "chunks means them (if the store was copied, check that the copy is complete)",
                      stacklevel=2)
    gap = unwritten(data, pres.first_sample, n)
    if gap:
        raise InvalidDataError(
            f"{_what(pres, name)}: {gap}; its presented samples {pres.first_sample} to "
            f"{pres.first_sample + n - 1} (of the {total} it declares) are not read"
        )


def check_demand(spans: Sequence[Presentation], name: str, bin_size: float, n_channels: int,
                 n_units: int, available: int | None = None) -> None:
    """Refuse a site whose sounds together need more than :data:`MEMORY_SHARE` of the
    memory available: the largest read (one sound at a time) plus what is kept of every
    sound (its spectrogram twice, before and after scaling, and its spike counts).

    Raises
    ------
    InvalidDataError
        Naming the file, the number of sounds and the longest of them.
    """
    if not spans:
        return
    kept = 0
    for pres in spans:
        rate = pres.series.rate or 0.0
        bins = math.ceil(_declared(pres)[1] / (rate * bin_size)) if rate else 0
        kept += bins * (2 * 4 * n_channels + 8 * n_units)
    peak = max(spans, key=read_bytes)
    need = read_bytes(peak) + kept
    free = available_memory() if available is None else available
    if need > MEMORY_SHARE * free:
        raise InvalidDataError(
            f"{name}: its {len(spans)} presented sounds need about {_gb(need)} to read, as "
            f"spectrograms and spike counts ({_gb(kept)} kept, and the largest read, sound "
            f"{peak.sound!r} ({peak.series.path}), {_gb(read_bytes(peak))}), more than "
            f"{MEMORY_SHARE:g} of the {_gb(free)} of memory available; not read "
            f"({_fewer(kept, need, bin_size)})"
        )


def _fewer(kept: int, need: int, bin_size: float) -> str:
    """What to change when the sounds need too much memory: the bins, where they are far
    finer than the paper's 5-10 ms and what is kept dominates, else the sounds."""
    if bin_size < 1e-3 and kept > need / 2:
        return (f"spectrogram.bin_size = {bin_size:g} s makes {0.005 / bin_size:,.0f} times as many bins "
                "as the paper's 5 ms")
    return "choose fewer sounds with reader.sounds or reader.presentations"


def check_whole(data: Any, what: str, available: int | None = None) -> None:
    """Refuse reading the whole of ``data`` (``what`` names the file and the object: a
    table's column) when it would take more than :data:`MEMORY_SHARE` of the memory
    available, or when some of it would not read as stored (:func:`unwritten`).

    Raises
    ------
    InvalidDataError
    """
    shape = getattr(data, "shape", None)
    if shape is None or not len(shape):
        return
    size = math.prod(int(n) for n in shape) * _itemsize(data)
    free = available_memory() if available is None else available
    if size > MEMORY_SHARE * free:
        raise InvalidDataError(
            f"{what} declares {' x '.join(str(int(n)) for n in shape)} values ({_gb(size)}), more than "
            f"{MEMORY_SHARE:g} of the {_gb(free)} of memory available; not read"
        )
    gap = unwritten(data, 0, int(shape[0]), unit="values")
    if gap:
        raise InvalidDataError(f"{what}: {gap}; not read")


# --- where the samples of an HDF5 dataset are ------------------------------------------------

def unwritten(data: Any, first: int, count: int, unit: str = "samples") -> str:
    """Why ``unit`` (elements along the first axis: samples, values) ``first`` to
    ``first + count - 1`` of ``data`` would not read as stored ('' when they would, or
    when ``data`` is neither an HDF5 dataset nor a Zarr array; the absent chunks of a
    Zarr array's samples, silence to Zarr, are warned of by :func:`check_span` instead).

    Chunks never allocated, a contiguous dataset never written, external raw files that
    are missing or end early, and virtual sources that are missing are found from the
    file's metadata, without reading the samples.
    """
    if is_zarr_array(data):
        return "" if unit == "samples" else zarr_gap(data, first, first + count, unit)
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        return ""
    if not isinstance(data, h5py.Dataset) or count <= 0 or data.size == 0:
        return ""
    stop = min(first + count, int(data.shape[0]))
    if stop <= first:
        return ""
    if data.is_virtual:
        return (
            f"its {unit} are mapped from other files (an HDF5 virtual dataset), which a streamed "
            "file cannot hold" if _streamed(data) else _virtual_gap(data, first, stop, unit)
        )
    if data.external:
        return (
            f"its {unit} are kept in external raw files, which a streamed file cannot hold"
            if _streamed(data) else _external_gap(data, first, stop, unit)
        )
    if data.chunks is not None:
        return _chunk_gap(data, first, stop, unit)
    if data.id.get_storage_size() == 0:
        return (f"its {unit} were never written (no storage is allocated for the dataset: they "
                f"would read as the fill value {_fill(data)})")
    return ""


def _streamed(data: Any) -> bool:
    """Whether ``data`` lies in a file read through a Python file object (streamed)."""
    return bool(data.file.driver == "fileobj")


def _fill(data: Any) -> str:
    try:
        value = np.asarray(data.fillvalue)
        return f"{value.item():g}" if value.ndim == 0 and value.dtype.kind in "iuf" else str(value)
    except (OSError, TypeError, ValueError):
        return "0"


def _samples(lo: int, hi: int, unit: str = "samples") -> str:
    return f"{unit.rstrip('s')} {lo}" if lo == hi else f"{unit} {lo} to {hi}"


def _chunk_gap(data: Any, first: int, stop: int, unit: str) -> str:
    """The first run of unallocated chunks in rows ``[first, stop)``, said ('' if none)."""
    dsid, shape, chunks = data.id, tuple(data.shape), tuple(data.chunks)
    grid = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]
    try:
        allocated = dsid.get_num_chunks()
    except (AttributeError, RuntimeError, ValueError):  # an HDF5 without chunk queries
        return ""
    if allocated >= math.prod(grid):
        return ""
    rows = chunks[0]
    k0, k1 = first // rows, (stop - 1) // rows
    per_row = math.prod(grid[1:])
    found: collections.Counter[int] = collections.Counter()
    if hasattr(dsid, "chunk_iter") and allocated <= (k1 - k0 + 1) * per_row:
        def visit(info: Any) -> None:
            k = info.chunk_offset[0] // rows
            if k0 <= k <= k1:
                found[k] += 1
        dsid.chunk_iter(visit)
    else:
        steps = (range(0, n, c) for n, c in zip(shape[1:], chunks[1:], strict=True))
        others = list(itertools.product(*steps))
        for k in range(k0, k1 + 1):
            for rest in others:
                if dsid.get_chunk_info_by_coord((k * rows, *rest)).byte_offset is not None:
                    found[k] += 1
    missing = [k for k in range(k0, k1 + 1) if found[k] < per_row]
    if not missing:
        return ""
    run_end, gaps = missing[0], set(missing)
    while run_end + 1 in gaps:
        run_end += 1
    lo, hi = max(first, missing[0] * rows), min(stop, (run_end + 1) * rows) - 1
    n_missing = sum(min(stop, (k + 1) * rows) - max(first, k * rows) for k in missing)
    more = f" ({n_missing} of the span in all)" if n_missing > hi - lo + 1 else ""
    return (f"{_samples(lo, hi, unit)}{more} lie in HDF5 chunks that were never written (they would "
            f"read as the fill value {_fill(data)})")


def _prefixed(name: str, prefix: str, origin: Path) -> Path:
    if os.path.isabs(name) or not prefix:
        return Path(name)
    return Path(prefix.replace("${ORIGIN}", str(origin))) / name


def _external_gap(data: Any, first: int, stop: int, unit: str) -> str:
    """External raw files that miss bytes of rows ``[first, stop)``, said ('' if none).

    Names resolve as HDF5 resolves them: ``HDF5_EXTFILE_PREFIX``, else the dataset's
    external-file prefix, else the current folder.
    """
    row = _itemsize(data) * math.prod(data.shape[1:])
    lo, hi = first * row, stop * row
    origin = Path(data.file.filename).resolve().parent
    dapl_prefix = data.id.get_access_plist().get_efile_prefix() or b""
    prefix = os.environ.get("HDF5_EXTFILE_PREFIX") or dapl_prefix.decode(errors="replace")
    begin = 0
    for entry in data.external:
        file_name, offset, size = str(entry[0]), int(entry[1]), int(entry[2])
        end = begin + size if size != _unlimited() else hi
        if end > lo and begin < hi:
            path = _prefixed(file_name, prefix, origin)
            try:
                length: int | None = path.stat().st_size
            except OSError:
                length = None
            held = 0 if length is None else max(0, min(size, length - offset))
            if begin + held < min(end, hi):
                have = ("is missing" if length is None
                        else f"holds only {max(0, length - offset)} bytes from byte {offset}")
                bad = max(lo, begin + held) // row
                return (f"{_samples(bad, min(end, hi) // row - 1, unit)} are kept in external file "
                        f"{str(path)!r}, which {have} (they would read as zeros)")
        begin = end
        if begin >= hi:
            break
    if begin < hi:
        end_at = _samples(begin // row, begin // row, unit)
        return f"its external files end at {end_at} (later ones would read as zeros)"
    return ""


def _unlimited() -> int:
    """The size HDF5 gives an external file that extends to its end."""
    import h5py

    return int(h5py.h5f.UNLIMITED)


def _virtual_gap(data: Any, first: int, stop: int, unit: str) -> str:
    """Sources of a virtual dataset, mapped into rows ``[first, stop)``, that cannot be found
    ('' if every one is found).

    Names resolve as HDF5 resolves them: ``HDF5_VDS_PREFIX``, the dataset's virtual prefix,
    the folder of the file, the current folder.
    """
    import h5py

    origin = Path(data.file.filename).resolve().parent
    dapl_prefix = (data.id.get_access_plist().get_virtual_prefix() or b"").decode(errors="replace")
    prefixes = [os.environ.get("HDF5_VDS_PREFIX", ""), dapl_prefix, str(origin), ""]
    for source in data.virtual_sources():
        bounds = source.vspace.get_select_bounds()
        if bounds is None or bounds[1][0] < first or bounds[0][0] >= stop:
            continue
        mapped, where = _samples(bounds[0][0], bounds[1][0], unit), source.file_name
        if where == ".":
            if source.dset_name in data.file:
                continue
            return (f"{mapped} are mapped from {source.dset_name!r} of the same file, which it does not "
                    f"hold (they would read as the fill value {_fill(data)})")
        found = False
        for prefix in ([""] if os.path.isabs(where) else [p for p in prefixes if p] + [""]):
            path = _prefixed(where, prefix, origin)
            if path.is_file():
                try:
                    with h5py.File(path, "r") as other:
                        found = source.dset_name in other
                except OSError:
                    found = False
                break
        if not found:
            return (f"{mapped} are mapped from {source.dset_name!r} of file "
                    f"{where!r}, which cannot be found or does not hold it (they would read as the fill "
                    f"value {_fill(data)})")
    return ""
