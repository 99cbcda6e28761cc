"""What loading a results file may cost, checked before anything of it is read.

A results file may come from anywhere, so its metadata is checked with h5py before pynwb
reads it, in time and memory proportional to the number of its objects:

- **Size.** The arrays that the file's datasets hold when read (shape x item size, 64
  bytes per variable-length element; a dataset counted once per link to it) may not
  exceed :data:`FLOOR_BYTES` + :data:`BYTES_PER_FILE_BYTE` x the file's size on disk.
  Compressed or never-written chunks cannot make a small file expand into a large one.
- **Standalone.** No external links, external raw storage or virtual datasets: a results
  file holds its data itself (docs/results-layout.md), and reading never opens another file.
- **Tables.** Every column a table lists is in the file.
- **Ragged columns.** Every ``VectorIndex`` is one-dimensional, of integers, never
  decreasing and within its target, so that rows partition the data and reading every
  row reads each value once.

:func:`parse_json` parses the file's JSON documents with bounded size and nesting depth.
Every refusal is a :class:`~ndx_encoding_subspace.errors.ResultsError` naming the file
and the object.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import ResultsError
from .dtypes import check_dtypes

__all__ = ["FLOOR_BYTES", "BYTES_PER_FILE_BYTE", "MAX_JSON_CHARS", "MAX_JSON_DEPTH",
           "check_file", "parse_json", "one_line", "read_error"]

#: bytes that reading any results file may take, whatever its size
FLOOR_BYTES = 64 << 20
#: further bytes that reading may take per byte of the file on disk
BYTES_PER_FILE_BYTE = 32
#: bytes counted per element of a variable-length dataset (strings, references)
_VLEN_BYTES = 64
#: longest JSON document, in characters
MAX_JSON_CHARS = 16 << 20
#: deepest nesting of a JSON document (lists and objects); the package's own are 5 deep
MAX_JSON_DEPTH = 32

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def one_line(text: Any, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _nesting(text: str) -> int:
    """Deepest nesting of lists and objects in JSON text (strings skipped), iteratively."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e309: beyond a float
        raise ValueError(f"number {text[:40]} is beyond a float's range")
    return value


def parse_json(text: Any, where: str, *, max_depth: int = MAX_JSON_DEPTH, kind: type = dict) -> Any:
    """Parse one JSON document of a results file, refusing what could not be parsed safely.

    Parameters
    ----------
    text : str or bytes
        The document.
    where : str
        The file and object, for messages.
    max_depth : int
        Deepest nesting of lists and objects allowed.
    kind : type
        What the document must be (an object by default).

    Raises
    ------
    ResultsError
        Not text, longer than :data:`MAX_JSON_CHARS`, nested deeper than ``max_depth``,
        not JSON (``NaN``, ``Infinity``, numbers beyond a float's range and a key given twice
        in one object included), or not of ``kind``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ResultsError(f"{where}: not UTF-8 text ({err})") from None
    if not isinstance(text, str):
        raise ResultsError(f"{where}: expected a JSON text, got {type(text).__name__}")
    if len(text) > MAX_JSON_CHARS:
        raise ResultsError(f"{where}: JSON document of {len(text):,} characters, more than "
                           f"{MAX_JSON_CHARS:,}")
    depth = _nesting(text)
    if depth > max_depth:
        raise ResultsError(f"{where}: JSON document nested {depth} deep, more than {max_depth}")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                           object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as err:
        raise ResultsError(f"{where}: not valid JSON ({one_line(err)})") from None
    if not isinstance(value, kind):
        raise ResultsError(f"{where}: expected a JSON {'object' if kind is dict else kind.__name__}, "
                           f"got {type(value).__name__}")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of ``pairs``, refused (ValueError) where a key is given twice: readers that
    keep the first and the last would read other values."""
    found = dict(pairs)
    if len(found) < len(pairs):
        twice = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise ValueError(f"key {twice!r} given twice in one object")
    return found


def _dataset_bytes(ds: h5py.Dataset, path: Path) -> int:
    """Bytes that reading ``ds`` takes; refuses data kept outside the file."""
    if ds.is_virtual or ds.external:
        raise ResultsError(f"{path}: {ds.name.lstrip('/')}: data kept outside the file (virtual or "
                           "external dataset); a results file holds its data itself")
    size = int(ds.size or 0)
    dtype = ds.dtype
    item = _VLEN_BYTES if dtype.kind == "O" or h5py.check_vlen_dtype(dtype) is not None else dtype.itemsize
    return size * max(int(item), 1)


def _is_index(ds: h5py.Dataset) -> bool:
    kind = ds.attrs.get("neurodata_type")
    return (kind.decode() if isinstance(kind, bytes) else kind) == "VectorIndex"


def _check_columns(group: h5py.Group, path: Path) -> None:
    """Every column a table lists (its ``colnames``) is there."""
    names = group.attrs.get("colnames")
    if names is None:
        return
    for name in np.atleast_1d(names):
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        if name not in group:
            raise ResultsError(f"{path}: {group.name.lstrip('/')}: column {name!r} is listed by the "
                               "table but absent from the file (damaged table)")


def _walk(f: h5py.File, path: Path) -> tuple[int, tuple[int, str], list[h5py.Dataset]]:
    """Bytes of every dataset link, the largest dataset (bytes, name), the ragged indexes;
    no object is read but the tables' column lists."""
    total, largest, indexes, seen = 0, (0, ""), [], {f.id}
    stack: list[h5py.Group] = [f]
    while stack:
        group = stack.pop()
        _check_columns(group, path)
        check_dtypes(group, path)
        _check_references(f, group, path)
        for name in group:
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                where = f"{group.name}/{name}".strip("/")
                raise ResultsError(f"{path}: {where}: link to another file; a results file holds its "
                                   "data itself")
            obj = group.get(name)
            if obj is None and isinstance(link, h5py.SoftLink):  # e.g. the models a table was made from
                where = f"{group.name}/{name}".strip("/")
                raise ResultsError(f"{path}: {where}: link to {link.path}, which the file does not hold")
            if isinstance(obj, h5py.Dataset):
                _check_references(f, obj, path)
                size = _dataset_bytes(obj, path)
                total += size
                largest = max(largest, (size, obj.name.lstrip("/")))
                if isinstance(link, h5py.HardLink) and _is_index(obj):
                    indexes.append(obj)
            elif isinstance(obj, h5py.Group) and isinstance(link, h5py.HardLink):
                if obj.id in seen:
                    raise ResultsError(f"{path}: {obj.name.lstrip('/')}: group reached by more than one path")
                seen.add(obj.id)
                stack.append(obj)
    return total, largest, indexes


#: a dataset of object references holds at most this many (each is followed when checked)
MAX_REFERENCES = 100_000


def _check_references(f: h5py.File, obj: h5py.Group | h5py.Dataset, path: Path) -> None:
    """Refuse an attribute of ``obj``, or (a dataset) a value, that points to an object the
    file does not hold (a table's rows into a removed Units table, a nonlinearity's models)."""
    refs = []
    for key in obj.attrs:
        try:
            value = obj.attrs[key]
        except (OSError, TypeError, ValueError):
            continue  # read, and named, where it is used
        if isinstance(value, h5py.Reference) and value:
            refs.append((f"attribute {key!r}", value))
    if isinstance(obj, h5py.Dataset) and h5py.check_ref_dtype(obj.dtype) is h5py.Reference:
        if obj.size > MAX_REFERENCES:
            raise ResultsError(f"{path}: {obj.name.lstrip('/')}: {obj.size:,} references, more than "
                               f"{MAX_REFERENCES:,}")
        refs += [(f"row {i}", r) for i, r in enumerate(np.asarray(obj[()]).reshape(-1)) if r]
    for said, ref in refs:
        try:
            name = f[ref].name
        except (KeyError, ValueError, TypeError, OSError):
            name = None
        if name is None:  # gone, or left without a path in the file (its link removed)
            raise ResultsError(f"{path}: {obj.name.lstrip('/') or 'root'}: {said} points to an object the "
                               "file does not hold (removed?)")


def _check_index(f: h5py.File, ds: h5py.Dataset, path: Path) -> None:
    where = f"{path}: {ds.name.lstrip('/')}"
    if ds.ndim != 1 or ds.dtype.kind not in "iu":
        raise ResultsError(f"{where}: a ragged index must be one-dimensional integers, got "
                           f"{ds.dtype} of shape {ds.shape}")
    try:
        target = f[ds.attrs["target"]]
    except (KeyError, ValueError, TypeError, OSError):
        raise ResultsError(f"{where}: ragged index without a readable target") from None
    if not isinstance(target, h5py.Dataset) or target.ndim < 1:
        raise ResultsError(f"{where}: the target of a ragged index must be an array")
    ends = np.asarray(ds[()], dtype=np.int64)
    if ends.size and (ends[0] < 0 or np.any(np.diff(ends) < 0) or ends[-1] > target.shape[0]):
        raise ResultsError(f"{where}: ragged index decreases or points past the end of its "
                           f"{target.shape[0]} values")


def check_file(path: Path) -> None:
    """Check a results file's metadata before it is read (see the module's description).

    Raises
    ------
    ResultsError
        The file is not HDF5, would take more memory than its size allows, refers to
        other files, holds a damaged ragged index, or a table lacks a column it lists.
    """
    budget = FLOOR_BYTES + BYTES_PER_FILE_BYTE * path.stat().st_size
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: cannot read as NWB ({read_error(err)})") from None
    try:
        total, (size, name), indexes = _walk(f, path)
        if total > budget:
            raise ResultsError(f"{path}: its datasets hold {total:,} bytes when read ({name}: {size:,}), "
                               f"out of proportion to the {path.stat().st_size:,} bytes of the file "
                               f"(at most {budget:,})")
        for ds in indexes:
            _check_index(f, ds, path)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
        raise ResultsError(f"{path}: damaged HDF5 structure ({type(err).__name__}: "
                           f"{one_line(err)})") from None
    finally:
        f.close()


def read_error(err: Exception) -> str:
    """pynwb's error in one line: for an object it could not build, the object's path and
    the cause (not the builder's contents); a missing table, said as such."""
    text = str(err)
    built = re.match(r"^\('?(root/\S+|root) (?:Group|Dataset)Builder", text)
    cause = re.search(r"due to: (?:[\w.<>]+: )?(.*?)[\"']?\)?$", text, flags=re.S)
    if built and cause:
        return f"{built.group(1).removeprefix('root/') or 'root'}: {one_line(cause.group(1))}"
    if isinstance(err, TypeError) and "NoneType" in text:
        return f"a required object is missing ({type(err).__name__}: {one_line(err)})"
    return f"{type(err).__name__}: {one_line(err)}"
