"""NWB files stored as Zarr on DANDI, streamed: read without a copy of the store.

DANDI keeps a Zarr asset as the files of its store, each at the store's URL (the asset's
``contentUrl`` ending in ``/zarr/<id>/``). The files are listed by the DANDI API (the dandi
client's :meth:`~dandi.dandiapi.RemoteZarrAsset.iterfiles`, with their sizes), and each is
fetched whole when Zarr asks for it, through one
:class:`~.stream.RetryingSession` (the reader's retries, timeouts and deadline). As for a
local store (:mod:`.zarr_store`), every array's codecs are checked before pynwb reads
anything, and a chunk the listing lacks reads as the fill value and is said
(:func:`~.zarr_store.zarr_gap`, from the listing). ``reader.download`` copies the listed
files into a folder instead, atomically, and reads that.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from zarr.errors import ReadOnlyError
from zarr.storage import DirectoryStore

from ..atomic import write_bytes
from ..errors import NotNWBError, RemoteError
from .stream import RetryingSession

__all__ = ["ListedZarrStore", "list_store", "open_listed", "download_store"]


class ListedZarrStore(DirectoryStore):
    """A read-only Zarr store of files listed beforehand, each fetched over HTTP when read.

    A :class:`~zarr.storage.DirectoryStore` only because hdmf-zarr opens no other class of
    store; it holds no folder.

    Parameters
    ----------
    url : str
        The store's URL (each file at ``url/<key>``).
    sizes : mapping of str to int
        Every file of the store (its key) and its size in bytes.
    session : RetryingSession
        Sends every request (retries, deadline; its ``failure`` names a network failure).
    name : str
        How messages name the file.
    via : str, optional
        A URL template (``{key}`` in it) each file is fetched from instead of ``url/<key>``:
        the DANDI API's download URL, which answers an API key with a redirect to the file.
    cache_dir : path, optional
        Folder keeping each file fetched (by its key and size), so that a second read
        costs no transfer.

    Metadata files (``.zarray``, ``.zattrs``, ``.zgroup``, ``.zmetadata``) are fetched once
    and kept: what the codec check reads is what Zarr reads.
    """

    def __init__(self, url: str, sizes: Mapping[str, int], session: RetryingSession, name: str,
                 via: str = "", cache_dir: str | Path | None = None) -> None:
        self.path = url.rstrip("/")
        self._sizes = dict(sizes)
        self._session = session
        self._name = name
        self._via = via
        self._cache = Path(cache_dir) if cache_dir else None
        self._metadata: dict[str, bytes] = {}
        self._normalize_keys = False
        self._dimension_separator = None

    def url_of(self, key: str) -> str:
        """The URL of the file ``key``."""
        return self._via.format(key=quote(key)) if self._via else f"{self.path}/{quote(key)}"

    def __getitem__(self, key: str) -> bytes:
        if key not in self._sizes:
            raise KeyError(key)  # an absent chunk: Zarr reads the fill value
        if key in self._metadata:
            return self._metadata[key]
        cached = self._cache / key if self._cache is not None else None
        if cached is not None and cached.is_file() and cached.stat().st_size == self._sizes[key]:
            body = cached.read_bytes()
        else:
            body = self._fetch(key)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                write_bytes(cached, lambda out: out.write(body))
        if key.rpartition("/")[2].startswith(".z"):
            self._metadata[key] = body
        return body

    def _fetch(self, key: str) -> bytes:
        url = self.url_of(key)
        response = self._session.get(url)
        self._session.check()
        if response.status_code != 200:
            raise RemoteError(f"{self._name}: cannot read {url}: HTTP {response.status_code} "
                              f"{response.reason} (the DANDI API lists it)")
        body = response.content
        if len(body) != self._sizes[key]:
            raise RemoteError(f"{self._name}: {url} serves {len(body)} bytes where the DANDI API lists "
                              f"{self._sizes[key]} (a file cut short, or changed since it was listed)")
        return body

    def __contains__(self, key: object) -> bool:
        return key in self._sizes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ListedZarrStore) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def keys(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self._sizes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)

    def dir_path(self, path: str | None = None) -> str:
        return f"{self.path}/{path.strip('/')}" if path else self.path

    def listdir(self, path: str | None = None) -> list[str]:
        prefix = f"{path.strip('/')}/" if path and path.strip("/") else ""
        return sorted({k[len(prefix):].split("/", 1)[0] for k in self._sizes if k.startswith(prefix)})

    def getsize(self, path: str | None = None) -> int:
        key = (path or "").strip("/")
        if key in self._sizes:
            return self._sizes[key]
        prefix = f"{key}/" if key else ""
        return sum(n for k, n in self._sizes.items() if k.startswith(prefix) and "/" not in k[len(prefix):])

    def __setitem__(self, key: str, value: Any) -> None:
        raise ReadOnlyError()

    def __delitem__(self, key: str) -> None:
        raise ReadOnlyError()

    def rmdir(self, path: str | None = None) -> None:
        raise ReadOnlyError()

    def rename(self, src_path: str, dst_path: str) -> None:
        raise ReadOnlyError()

    def clear(self) -> None:
        raise ReadOnlyError()

    def metadata(self, key: str) -> dict[str, Any]:
        """The JSON object of the metadata file ``key`` (``.zattrs``, ``.zmetadata``...)."""
        try:
            body = json.loads(self[key])
        except (ValueError, UnicodeDecodeError) as err:
            raise NotNWBError(f"{self._name}: damaged Zarr store: {key} is not readable JSON "
                              f"({err})") from None
        if not isinstance(body, dict):
            raise NotNWBError(f"{self._name}: damaged Zarr store: {key} is not a JSON object")
        return body

    def array_metadata(self) -> dict[str, dict[str, Any]]:
        """Every array's ``.zarray`` metadata (from the consolidated ``.zmetadata``, and from
        the ``.zarray`` files it does not cover), by the array's path."""
        arrays: dict[str, dict[str, Any]] = {}
        if ".zmetadata" in self:
            entries = self.metadata(".zmetadata").get("metadata", {})
            for key, meta in (entries.items() if isinstance(entries, dict) else ()):
                if key.endswith(".zarray") and isinstance(meta, dict):
                    arrays[f"{key[: -len('.zarray')].rstrip('/')} (consolidated)"] = meta
        covered = {name.removesuffix(" (consolidated)") for name in arrays}
        for key in self._sizes:
            if key.rpartition("/")[2] == ".zarray" and key[: -len(".zarray")].rstrip("/") not in covered:
                arrays[key[: -len(".zarray")].rstrip("/")] = self.metadata(key)
        return arrays


def list_store(asset: Any, name: str) -> dict[str, int]:
    """The files of a DANDI Zarr asset (``RemoteZarrAsset``) and their sizes, by key."""
    sizes = {str(entry): int(entry.size) for entry in asset.iterfiles()}
    unsafe = [k for k in sizes if k.startswith("/") or ".." in k.split("/") or "\\" in k]
    if unsafe:  # a copy would be written outside its folder
        raise NotNWBError(f"{name}: the DANDI API lists files outside the Zarr store: {unsafe[0]!r}")
    if not sizes:
        raise NotNWBError(f"{name}: the DANDI API lists no file in this Zarr asset (an empty store)")
    return sizes


def open_listed(store: ListedZarrStore) -> tuple[Any, Any]:
    """Open a listed remote store as :func:`~.zarr_store.read_zarr_nwb` opens a folder."""
    from .zarr_store import read_zarr_nwb

    return read_zarr_nwb(store, store._name)


def download_store(store: ListedZarrStore, target: Path) -> Path:
    """Copy every listed file of ``store`` into the folder ``target`` (kept when already
    complete): written into a folder of its own beside it, then renamed into place, so that
    a killed download leaves nothing under the target's name, and a copy another process
    completed meanwhile is kept (and ours dropped) rather than replaced under its reader."""
    if _complete(target, store):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for key in store.keys():
            path = partial / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(store[key])
        if _complete(target, store):
            shutil.rmtree(partial)
            return target
        if target.exists():  # an incomplete copy (an older draft's): moved aside, then removed
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale.", dir=target.parent))
            os.replace(target, stale / target.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(partial, target)
        except OSError:
            if not _complete(target, store):  # another process put its copy there meanwhile
                raise
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _complete(target: Path, store: ListedZarrStore) -> bool:
    """Whether ``target`` holds every listed file of ``store`` at its size, and no other."""
    if not target.is_dir():
        return False
    sizes = {k: store.getsize(k) for k in store.keys()}
    found = {p.relative_to(target).as_posix(): p.stat().st_size for p in target.rglob("*") if p.is_file()}
    return found == sizes
