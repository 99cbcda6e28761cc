"""NWB files stored as Zarr: ``site.nwb.zarr`` folders, as hdmf-zarr writes them and DANDI
holds them.

Reading one needs hdmf-zarr (``pip install 'ndx-encoding-subspace[zarr]'``). Before pynwb
reads anything, the codecs of every array are checked (:func:`check_codecs`): an array
kept with Python's pickle codec would run code from the file when read, and the file is
refused. A chunk absent from a store reads as the array's fill value: :func:`zarr_gap`
finds the absent chunks of a span from the store's listing, as
:func:`.storage.unwritten` does for HDF5 chunks.
"""

from __future__ import annotations

import importlib
import itertools
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from ..errors import InvalidDataError, NotNWBError, RemoteError, import_optional
from ..inputs import store_files

__all__ = ["check_codecs", "is_zarr_array", "read_zarr_nwb", "zarr_gap"]

#: Codecs that run code from the file when an array is read
UNSAFE_CODECS = frozenset({"pickle"})


def _json(path: Path, label: str) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise NotNWBError(f"{label}: damaged Zarr store: {path.name} of "
                          f"{path.parent.as_posix()!r} is not readable JSON ({err})") from None
    if not isinstance(body, dict):
        raise NotNWBError(f"{label}: damaged Zarr store: {path} is not a JSON object")
    return body


def _codecs(meta: dict[str, Any]) -> list[str]:
    found = [meta.get("compressor")] + list(meta.get("filters") or [])
    return [str(c.get("id", "")) for c in found if isinstance(c, dict)]


def check_codecs(path: str | Path | Any, label: str) -> None:
    """Refuse a store any of whose arrays (as their ``.zarray`` files, or the consolidated
    ``.zmetadata``, describe them) is kept with a codec that runs code when read.

    ``path``: a store's folder, or a :class:`~.zarr_remote.ListedZarrStore`.

    Raises
    ------
    InvalidDataError
        Naming the file, the array and the codec.
    NotNWBError
        A metadata file that is not JSON.
    """
    arrays = path.array_metadata() if hasattr(path, "array_metadata") else _arrays(Path(path), label)
    for name, meta in sorted(arrays.items()):
        unsafe = sorted(set(_codecs(meta)) & UNSAFE_CODECS)
        if unsafe:
            raise InvalidDataError(
                f"{label}: {name}: kept with Python's {unsafe[0]} codec, which runs code from the "
                "file when it is read; not read (hdmf-zarr keeps object references so by "
                "default: convert the file again with hdmf_zarr.backend.ZarrIO(..., "
                "object_codec_class=numcodecs.JSON))"
            )


def _arrays(root: Path, label: str) -> dict[str, dict[str, Any]]:
    arrays: dict[str, dict[str, Any]] = {}
    for meta in store_files(root):  # linked folders included, as Zarr reads through them
        if meta.name == ".zarray":
            arrays[meta.parent.relative_to(root).as_posix()] = _json(meta, label)
    consolidated = root / ".zmetadata"
    if consolidated.is_file():
        entries = _json(consolidated, label).get("metadata", {})
        for key, meta in (entries.items() if isinstance(entries, dict) else ()):
            if key.endswith(".zarray") and isinstance(meta, dict):
                arrays[f"{key[: -len('.zarray')].rstrip('/')} (consolidated)"] = meta
    return arrays


def read_zarr_nwb(path: str | Path | Any, label: str) -> tuple[Any, Any]:
    """Open the Zarr store ``path`` (a folder, or a :class:`~.zarr_remote.ListedZarrStore`)
    with hdmf-zarr and read its NWBFile.

    Returns
    -------
    (NWBZarrIO, NWBFile)
        Close the first when done.

    Raises
    ------
    MissingDependencyError
        hdmf-zarr is not installed.
    NotNWBError
        A store of Zarr format 3, one without an NWBFile at its root, a damaged one, or one
        pynwb cannot read.
    InvalidDataError
        An array kept with the pickle codec (:func:`check_codecs`).
    """
    import_optional("hdmf_zarr", "zarr", f"reading {label} (an NWB file stored as Zarr)")
    listed = path if hasattr(path, "array_metadata") else None  # a remote store, listed
    root = Path(path) if listed is None else None
    if not (root / ".zgroup").is_file() if root is not None else ".zgroup" not in listed:
        raise NotNWBError(f"{label}: a Zarr format 3 store; NWB files in Zarr are read in format 2, "
                          "as hdmf-zarr writes them")
    if root is not None:
        attrs = _json(root / ".zattrs", label) if (root / ".zattrs").is_file() else {}
        names = [p.name for p in root.iterdir()]
    else:
        attrs = listed.metadata(".zattrs") if ".zattrs" in listed else {}
        names = listed.listdir()
    if attrs.get("neurodata_type") != "NWBFile" and "nwb_version" not in attrs:
        top = ", ".join(sorted(n for n in names if not n.startswith("."))[:10])
        raise NotNWBError(f"{label}: a Zarr store but not an NWB file (no NWBFile at its root; it "
                          f"holds {top or 'nothing'})")
    check_codecs(path, label)
    io = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old files warn about cached namespaces
            io = importlib.import_module("hdmf_zarr.nwb").NWBZarrIO(
                str(root) if listed is None else listed, mode="r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as err:
        if io is not None:
            io.close()
        remote = _remote_cause(err)
        if remote is not None:  # a remote store's network failure, however hdmf wrapped it
            raise remote from None
        raise NotNWBError(f"{label}: pynwb cannot read this NWB file (Zarr): {type(err).__name__}: "
                          f"{err}") from None
    return io, nwbfile


def _remote_cause(err: BaseException) -> RemoteError | None:
    seen: set[int] = set()
    link: BaseException | None = err
    while link is not None and id(link) not in seen:
        if isinstance(link, RemoteError):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


def is_zarr_array(data: Any) -> bool:
    """Whether ``data`` is a Zarr array (without importing Zarr)."""
    zarr = sys.modules.get("zarr")
    return zarr is not None and isinstance(data, zarr.Array)


def zarr_gap(data: Any, first: int, stop: int, unit: str = "samples") -> str:
    """The chunks of rows ``[first, stop)`` of the Zarr array ``data`` that its store
    lacks, said ('' when none is, or when ``data`` is not a Zarr array)."""
    if not is_zarr_array(data) or stop <= first or not data.shape:
        return ""
    rows = data.chunks[0]
    separator = getattr(data, "_dimension_separator", None) or "."
    prefix = f"{data.path}/" if data.path else ""
    store = data.chunk_store if data.chunk_store is not None else data.store
    others = list(itertools.product(*(range(-(-int(n) // int(c))) for n, c in
                                      zip(data.shape[1:], data.chunks[1:], strict=True))))
    missing = [k for k in range(first // rows, (stop - 1) // rows + 1)
               if any(prefix + separator.join(map(str, (k, *rest))) not in store for rest in others)]
    if not missing:
        return ""
    lo, hi = max(first, missing[0] * rows), min(stop, (missing[-1] + 1) * rows) - 1
    return (f"{len(missing)} of its Zarr chunks holding {unit} {lo} to {hi} are absent from the "
            f"store (they read as the fill value {data.fill_value})")
