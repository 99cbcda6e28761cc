"""DANDI identifiers and assets: parse, list with the dandi client, locate for streaming.

Accepted inputs:

* ``DANDI:000123`` -- every NWB asset of the most recent published version (else the
  draft);
* ``DANDI:000123@0.230101.1234`` (or ``@draft``) -- a given version;
* ``DANDI:000123/sub-x/*.nwb`` or ``DANDI:000123@draft/sub-x/sub-x_ses-1.nwb`` -- a glob
  pattern or an exact asset path (a path ending in ``/`` is a folder prefix);
* asset URLs ``https://.../api/assets/<asset id>/download/`` (with or without the
  ``dandisets/<id>/versions/<version>/`` part), looked up through the API they belong to,
  and any other ``http(s)`` URL of an NWB file, streamed as it is.

The API key, needed only for embargoed data, is read from the ``DANDI_API_KEY``
environment variable and nowhere else. The API URL is the ``api_url`` argument, else the
``DANDI_API_URL`` environment variable, else the public archive.

Network policy: the dandi client on its own retries a failed request 12 times over about
a minute, asks the server for its info without any timeout, and logs every failure with a
traceback. Here its requests go through a :class:`~.stream.RetryingSession` instead, so
that ``reader.retries``, ``reader.timeout_s`` and ``reader.deadline_s`` hold for the
lookup as for the reading; the server info is fetched through that session too; the
client's log records are passed to this module's logger at DEBUG level while it works for
the reader; and every failure becomes one :class:`~ndx_encoding_subspace.errors.RemoteError`
naming the URL, the attempts made and the cause. The client's etelemetry version check (a
request to another host) is skipped unless ``DANDI_NO_ET`` is set, even to an empty value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, NotNWBError, RemoteError
from .dandi_client import (
    api_key_for,
    client_error,
    dandi_client,
    dandi_logs_to_debug,
    shareable_url,
)
from .reader_params import ReaderParams

__all__ = [
    "DandiRef",
    "RemoteAsset",
    "is_remote",
    "parse_dandi_id",
    "dandi_client",
    "list_assets",
    "resolve_remote",
    "zarr_store",
]

NWB_FORMAT = "application/x-nwb"
#: the encodingFormat DANDI gives every Zarr asset (an NWB file when its path ends in .nwb.zarr)
ZARR_FORMAT = "application/x-zarr"

_ID = re.compile(
    r"^dandi:(?P<id>\d{6})(?:@(?P<version>draft|\d+\.\d+\.\d+))?(?:/(?P<path>.*))?$",
    re.IGNORECASE,
)
_ASSET_URL = re.compile(
    r"^(?P<api>https?://.+?)/(?:dandisets/(?P<id>\d{6})/versions/(?P<version>[^/]+)/)?"
    r"assets/(?P<asset>[0-9a-fA-F-]{36})(?:/download)?/?$"
)


@dataclasses.dataclass(frozen=True)
class DandiRef:
    """A parsed ``DANDI:`` identifier.

    Parameters
    ----------
    dandiset : str
        Six-digit Dandiset identifier.
    version : str or None
        Version (``"draft"`` or ``"0.230101.1234"``); None for the latest published one.
    path : str
        Asset path, folder prefix (ending in ``/``) or glob pattern; empty for all assets.
    """

    dandiset: str
    version: str | None = None
    path: str = ""

    def __str__(self) -> str:
        version = f"@{self.version}" if self.version else ""
        path = f"/{self.path}" if self.path else ""
        return f"DANDI:{self.dandiset}{version}{path}"

    @property
    def is_glob(self) -> bool:
        """Whether the path is a glob pattern."""
        return any(c in self.path for c in "*?[")


@dataclasses.dataclass(frozen=True)
class RemoteAsset:
    """One remote file to open.

    Parameters
    ----------
    name : str
        How messages name it, e.g. ``DANDI:000123@draft/sub-x/sub-x_ses-1.nwb``.
    url : str
        URL to stream from.
    size : int or None
        Size in bytes, when known.
    path : str
        Asset path within the Dandiset (or the URL's last part).
    dandiset, version, asset_id : str
        DANDI coordinates (empty for plain URLs).
    encoding_format : str
        Media type from the asset metadata (empty when unknown).
    digest : dict
        Checksums from the asset metadata.
    zarr : str
        For an NWB file stored as Zarr, the Zarr's DANDI identifier (``url`` is then the
        store's URL, and the store's files are listed through ``api_url``); else empty.
    api_url : str
        The DANDI API the asset belongs to (for a Zarr asset).
    """

    name: str
    url: str
    size: int | None = None
    path: str = ""
    dandiset: str = ""
    version: str = ""
    asset_id: str = ""
    encoding_format: str = ""
    digest: Mapping[str, str] = dataclasses.field(default_factory=dict)
    zarr: str = ""
    api_url: str = ""

    def provenance(self, *, served: tuple[int, str] | None = None,
                   local: Path | None = None) -> dict[str, Any]:
        """JSON-compatible description for a site's ``source`` (a plain URL without the
        query parameters that sign it: results files are shared).

        ``served``: the size and validator (ETag or Last-Modified, '' when none) a plain
        URL's server gave, by which it is known (streamed or downloaded alike); ``local``:
        a downloaded copy that stays (in ``reader.cache_dir``) and is read from again.
        """
        out = {k: v for k, v in dataclasses.asdict(self).items() if v not in ("", None, {})}
        out["digest"] = dict(self.digest)
        if not self.asset_id:
            out["url"], out["name"] = shareable_url(self.url), shareable_url(self.name)
            if served is not None:
                out.update(served_bytes=int(served[0]), **({"validator": served[1]} if served[1] else {}))
        if local is not None:
            out["local"] = str(local)
        return out

    def check_nwb(self) -> None:
        """Raise :class:`NotNWBError` (an unusable input, not a network failure) unless the
        asset looks like an NWB file."""
        if self.zarr and not self.url:
            raise NotNWBError(f"{self.name}: the asset is stored as Zarr, but its metadata gives no URL of "
                              "the store (contentUrl ending in /zarr/<id>/)")
        formats = (NWB_FORMAT, ZARR_FORMAT) if self.zarr else (NWB_FORMAT,)
        if self.encoding_format and self.encoding_format not in formats:
            raise NotNWBError(
                f"{self.name}: the asset is not an NWB file (encodingFormat {self.encoding_format!r})"
            )
        if self.dandiset and not self.path.lower().endswith(".nwb.zarr" if self.zarr else ".nwb"):
            raise NotNWBError(f"{self.name}: the asset is not an NWB file (not a .nwb"
                              f"{'.zarr' if self.zarr else ''} path)")


def is_remote(source: str) -> bool:
    """Whether ``source`` names a DANDI identifier or an http(s) URL."""
    text = str(source).strip()
    return text.lower().startswith(("dandi:", "http://", "https://"))


def parse_dandi_id(text: str) -> DandiRef:
    """Parse ``DANDI:000123[@version][/path-or-glob]``.

    Raises
    ------
    ConfigError
        When ``text`` is not such an identifier.
    """
    match = _ID.match(text.strip())
    if match is None:
        raise ConfigError(
            f"not a DANDI identifier: {text!r} (expected DANDI:000123, DANDI:000123@0.230101.1234 "
            "or DANDI:000123/sub-x/*.nwb)"
        )
    return DandiRef(match["id"], match["version"], (match["path"] or "").lstrip("/"))


#: the end of the URL of a Zarr asset's store, among its ``contentUrl``
_STORE_URL = re.compile(r"/zarr/[^/]+/?$")


def _is_zarr(asset: Any) -> bool:
    return getattr(asset, "zarr", None) is not None


def _store_url(meta: Mapping[str, Any]) -> str:
    """The store's URL among the asset's ``contentUrl`` ('' when none: said on opening)."""
    urls = [str(u) for u in (meta.get("contentUrl") or []) if _STORE_URL.search(str(u))]
    return urls[-1].rstrip("/") + "/" if urls else ""


def _asset_record(asset: Any, ref_text: str) -> RemoteAsset:
    meta: dict[str, Any] = {}
    try:
        meta = asset.get_raw_metadata() or {}
    except Exception as err:
        raise RemoteError(f"{ref_text}: cannot read metadata of asset {asset.path!r}: {err}") from None
    zarr = str(asset.zarr) if _is_zarr(asset) else ""
    dandiset = getattr(asset, "dandiset_id", "")
    version = getattr(asset, "version_id", "")
    name = f"DANDI:{dandiset}@{version}/{asset.path}" if dandiset else f"DANDI asset {asset.path}"
    return RemoteAsset(
        name=name,
        url=_store_url(meta) if zarr else asset.base_download_url,
        size=int(asset.size),
        path=asset.path,
        dandiset=dandiset,
        version=version,
        asset_id=asset.identifier,
        encoding_format=str(meta.get("encodingFormat", "")),
        digest={str(k): str(v) for k, v in (meta.get("digest") or {}).items()},
        zarr=zarr,
        api_url=str(asset.client.api_url) if zarr else "",
    )


def list_assets(
    ref: DandiRef | str,
    *,
    api_url: str | None = None,
    nwb_only: bool = True,
    reader: ReaderParams | None = None,
) -> list[RemoteAsset]:
    """Assets of a Dandiset matching an identifier, sorted by path.

    Parameters
    ----------
    ref : DandiRef or str
        Parsed or textual ``DANDI:`` identifier.
    api_url : str, optional
        DANDI API base URL (default: ``reader.dandi_api_url``, else ``$DANDI_API_URL``,
        else the public archive).
    nwb_only : bool
        Keep only ``.nwb`` assets when the identifier names no single asset.
    reader : ReaderParams, optional
        Network parameters (``retries``, ``retry_backoff_s``, ``timeout_s``,
        ``deadline_s``) of every API request.

    Raises
    ------
    RemoteError
        When the Dandiset, version or path does not exist, or the API cannot be reached
        (the message names the URL, the attempts made and the cause).
    """
    if isinstance(ref, str):
        ref = parse_dandi_id(ref)
    client = dandi_client(api_url, reader=reader, name=str(ref))
    with _asking(client, str(ref)):
        dandiset = client.get_dandiset(ref.dandiset, ref.version, lazy=False)
        if ref.is_glob:
            found = list(dandiset.get_assets_by_glob(ref.path, order="path"))
        elif ref.path and not ref.path.endswith("/"):
            found = [dandiset.get_asset_by_path(ref.path)]
            nwb_only = False
        else:
            found = list(dandiset.get_assets_with_path_prefix(ref.path, order="path"))
        if nwb_only:
            found = [a for a in found if a.path.lower().endswith(".nwb.zarr" if _is_zarr(a) else ".nwb")]
        records = [_asset_record(a, str(ref)) for a in found]
    if not records:
        raise InputError(f"{ref}: no NWB asset matches")
    return sorted(records, key=lambda r: r.path)


@contextlib.contextmanager
def _asking(client: Any, where: str) -> Iterator[None]:
    """The client open while looking up ``where``; its failures as one RemoteError each (an
    asset that is no NWB file, and the other input errors, as they are)."""
    from dandi.exceptions import NotFoundError

    try:
        with client, dandi_logs_to_debug():
            yield
    except NotFoundError as err:
        raise RemoteError(f"{where}: not found on the DANDI API: {err}") from None
    except InputError:
        raise
    except Exception as err:  # requests / pydantic errors of the client
        raise client_error(err, client, where) from None


def _asset_from_url(url: str, match: re.Match[str], reader: ReaderParams | None) -> RemoteAsset:
    client = dandi_client(match["api"], reader=reader, name=url)
    with _asking(client, url):
        if match["id"]:
            dandiset = client.get_dandiset(match["id"], match["version"], lazy=True)
            asset = dandiset.get_asset(match["asset"])
        else:
            asset = client.get_asset(match["asset"])
        record = _asset_record(asset, url)
    if not record.dandiset:
        record = dataclasses.replace(record, name=url)
    return record


def resolve_remote(
    source: str, *, api_url: str | None = None, reader: ReaderParams | None = None
) -> list[RemoteAsset]:
    """The remote files that ``source`` names (a DANDI identifier or a URL).

    ``reader`` gives the network parameters of the API requests (see :func:`list_assets`).
    """
    text = source.strip()
    if text.lower().startswith("dandi:"):
        return list_assets(text, api_url=api_url, reader=reader)
    match = _ASSET_URL.match(text)
    if match is not None:
        return [_asset_from_url(text, match, reader)]
    path = text.split("?", 1)[0].rstrip("/").rpartition("/")[2]
    return [RemoteAsset(name=shareable_url(text), url=text, path=path)]  # named without its signature


def zarr_store(asset: RemoteAsset, session: Any, reader: ReaderParams | None = None) -> Any:
    """The Zarr store of ``asset`` (a Zarr asset), its files as the DANDI API lists them
    (:meth:`dandi.dandiapi.RemoteZarrAsset.iterfiles`), read through ``session``: from the
    store's URL, or with ``DANDI_API_KEY`` set, through the API's download URL of each file
    (the key sent to the API only), kept in ``reader.cache_dir`` when set.

    Raises
    ------
    RemoteError
        When the API cannot be reached, or no longer holds the asset.
    """
    from .zarr_remote import ListedZarrStore, list_store

    params = ReaderParams.of(reader)
    client = dandi_client(asset.api_url or None, reader=params, name=asset.name)
    with _asking(client, asset.name):
        sizes = list_store(client.get_asset(asset.asset_id), asset.name)
        api = str(client.api_url).rstrip("/")
    key = api_key_for(api, params)
    via = ""
    if key:
        session.headers["Authorization"] = f"token {key}"  # dropped by requests at the redirect
        via = f"{api}/zarr/{asset.zarr}/files/?prefix={{key}}&download=true"
    # a draft's store changes under one id: its files are kept by the store's checksum
    tag = asset.digest.get("dandi:dandi-zarr-checksum") or hashlib.sha256(
        json.dumps(sorted(sizes.items())).encode()).hexdigest()[:16]
    cache = Path(params.cache_dir) / "zarr" / asset.zarr / tag if params.cache_dir else None
    return ListedZarrStore(asset.url, sizes, session, asset.name, via=via, cache_dir=cache)
