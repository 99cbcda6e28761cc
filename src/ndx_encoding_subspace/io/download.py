"""Downloading a remote NWB file whole (``reader.download``), resumed where it was cut.

A download is one streamed answer, read in parts: a connection that drops, or an answer
that stalls, is asked again from the first byte not yet written (an HTTP range request),
up to ``reader.retries`` times. An answer stalls when it brings fewer than
:data:`MIN_BYTES_PER_S` bytes a second over ``reader.timeout_s`` (a server trickling a file
would otherwise hold a run, or a cluster job, for days), and a server that cannot send the
rest of a file (no range requests) has the download refused after a cut. The file is
written atomically (:func:`~ndx_encoding_subspace.atomic.write_bytes`): nothing appears
under its name until it is whole.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, BinaryIO

from ..atomic import write_bytes
from ..errors import RemoteError, import_optional
from .dandi import RemoteAsset, zarr_store
from .dandi_client import api_key_for, api_session, content_folder
from .reader_params import ReaderParams

__all__ = ["download_asset", "download", "MIN_BYTES_PER_S"]

#: an answer bringing fewer bytes a second than this over ``reader.timeout_s`` has stalled
MIN_BYTES_PER_S = 16 * 1024


def download_asset(
    asset: RemoteAsset,
    folder: str | Path,
    *,
    api_url: str | None = None,
    reader: ReaderParams | None = None,
) -> Path:
    """Download ``asset`` whole into ``folder`` (kept when already there, unless its server
    gives no ETag or Last-Modified to tell a changed file by); its local path.

    The file is written atomically: a temporary file of its own, fsynced, then renamed, so
    that a killed download leaves nothing under the target's name and two processes
    downloading the same asset do not write into each other's file. A download shorter or
    longer than the asset's size is refused. ``reader`` gives the network parameters
    (retries, timeouts; see the module docstring for cuts and stalls).
    """
    return download(asset, folder, reader=reader)[0]


def download(asset: RemoteAsset, folder: str | Path, *,
             reader: ReaderParams | None = None) -> tuple[Path, str]:
    """:func:`download_asset`, and what its server said of the content (a plain URL's ETag
    or Last-Modified, '' when none; a DANDI asset's checksum or id)."""
    folder = Path(folder)
    kept, validator = content_folder(asset, reader)  # per content: a changed file is not taken for the old
    target = folder / "downloads" / (asset.dandiset or "url") / (asset.version or "") / kept / (
        asset.path or "file.nwb")
    if asset.zarr:
        import_optional("hdmf_zarr", "zarr", f"downloading {asset.name} (an NWB file stored as Zarr)")
        from .zarr_remote import download_store

        with api_session(asset.name, reader) as session:
            store = zarr_store(asset, session, dataclasses.replace(ReaderParams.of(reader), cache_dir=""))
            return download_store(store, target), validator
    if validator and target.is_file() and (asset.size is None or target.stat().st_size == asset.size):
        return target, validator
    target.parent.mkdir(parents=True, exist_ok=True)
    params = ReaderParams.of(reader)
    headers = {}
    key = api_key_for(asset.url, params)
    if key:  # the configured DANDI API's host only (requests drops it at a redirect elsewhere)
        headers["Authorization"] = f"token {key}"
    with api_session(asset.name, reader) as session:
        write_bytes(target, lambda out: _copy_body(session, asset, out, headers, params))
    return target, validator


def _copy_body(session: Any, asset: RemoteAsset, out: BinaryIO, headers: dict[str, str],
               params: ReaderParams) -> None:
    """Every byte of ``asset`` into ``out``, asked again from where it was cut: only of the
    same file (``If-Range`` with the first answer's ETag or Last-Modified, and the same
    total), unencoded (a range counts bytes as sent), from the first byte lacking; from the
    start when the first answer gave neither ETag nor Last-Modified."""
    written, causes, first = 0, [], None
    headers = {**headers, "Accept-Encoding": "identity"}
    for attempt in range(params.retries + 1):
        if attempt:
            time.sleep(params.retry_backoff_s * 2 ** (attempt - 1))
        rest = {}
        if written and not first[0]:  # nothing tells the same file: the whole of it again
            out.seek(0)
            out.truncate()
            written = 0
        if written:  # the rest of the same file only
            rest = {"Range": f"bytes={written}-", "If-Range": first[0]}
        with session.get(asset.url, stream=True, headers={**headers, **rest}) as response:
            session.check()
            if response.status_code >= 400:
                raise RemoteError(f"{asset.name}: download from {asset.url} failed: HTTP "
                                  f"{response.status_code} {response.reason}")
            if first is None:
                first = (response.headers.get("ETag") or response.headers.get("Last-Modified") or "",
                         response.headers.get("Content-Length", ""), response.headers.get("Content-Encoding"))
            elif written and (why := _not_the_rest(response, written, first)):  # a range was asked
                raise RemoteError(f"{asset.name}: download from {asset.url} was cut after {written} bytes "
                                  f"and {why}; try again later ({'; '.join(causes)})")
            try:
                written += _read_answer(response, out, params.timeout_s)
                break
            except _Cut as err:
                written += err.written
                causes.append(str(err)[:160])
                if first[2] not in (None, "identity"):
                    raise RemoteError(f"{asset.name}: download from {asset.url} was cut ({err}), and its "
                                      f"answer is encoded ({first[2]}): it cannot be taken up where it "
                                      "was; try again later") from None
    else:
        raise RemoteError(f"{asset.name}: download from {asset.url} failed after {params.retries + 1} "
                          f"attempts (reader.retries = {params.retries}), {written} bytes written: "
                          f"{'; '.join(causes)}")
    if asset.size is not None and written != asset.size:
        raise RemoteError(
            f"{asset.name}: download from {asset.url} gave {written} bytes, not the asset's "
            f"{asset.size}"
        )


def _not_the_rest(response: Any, written: int, first: tuple[str, str, str | None]) -> str:
    """Why the answer to a resumed download is not the rest of the file first served
    ('' when it is)."""
    if response.status_code != 206:
        changed = first[0] and response.status_code == 200
        return ("the file changed at the server since (If-Range)" if changed else
                f"the server cannot send the rest (HTTP {response.status_code} to a range request)")
    served = response.headers.get("Content-Range", "")
    start, total = served.removeprefix("bytes ").partition("-")[0], served.rpartition("/")[2]
    if start != str(written) or (first[1].isdigit() and total.isdigit() and int(total) != int(first[1])):
        return f"the server answered {served or 'no Content-Range'} for the bytes from {written}"
    return ""


class _Cut(OSError):
    """An answer that ended or stalled before its end; ``written`` bytes were kept."""

    def __init__(self, message: str, written: int) -> None:
        super().__init__(message)
        self.written = written


def _read_answer(response: Any, out: BinaryIO, window_s: float) -> int:
    """The bytes of ``response`` into ``out``: how many. Raises :class:`_Cut` (with the
    bytes kept) when the connection fails or the answer stalls (module docstring); an
    error writing ``out`` (a full disk) is raised as it is."""
    written, mark, since = 0, 0, time.monotonic()
    while True:
        try:
            part = response.raw.read1(1 << 20, decode_content=True)
        except Exception as err:  # the connection dropped or timed out mid-answer
            raise _Cut(f"{type(err).__name__}: {err}", written) from None
        if not part:
            break
        out.write(part)
        written += len(part)
        now = time.monotonic()
        if now - since >= window_s:
            if written - mark < MIN_BYTES_PER_S * (now - since):
                raise _Cut(f"the answer stalled ({written - mark} bytes in {now - since:.0f} s)", written)
            mark, since = written, now
    expected = response.headers.get("Content-Length", "")
    if expected.isdigit() and written < int(expected) and not response.headers.get("Content-Encoding"):
        raise _Cut(f"the answer was cut short ({written} of {expected} bytes)", written)
    return written
