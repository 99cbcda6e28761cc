"""The request handler of :class:`~.dandi_server.MockDandiServer` (tests and benchmarks only).

It answers from its ``owner``, the server object, set on a subclass made per server:
API bodies, asset listings with paging and glob filters, redirects, and the files with
HTTP range requests, counting the bytes served and dropping requests when told to.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

if TYPE_CHECKING:
    from .dandi_server import MockDandiServer

__all__ = ["DandiHandler"]


class DandiHandler(BaseHTTPRequestHandler):
    owner: MockDandiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # ------------------------------------------------------------------ helpers
    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, text: str) -> None:
        self._json({"detail": text}, status)

    def _authorised(self) -> bool:
        key = self.owner.api_key
        return key is None or self.headers.get("Authorization") == f"token {key}"

    def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
        size = int(query.get("page_size", [self.owner.page_size])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * size : page * size]
        following = None
        if page * size < len(items):
            params = {k: v[0] for k, v in query.items()}
            params["page"] = str(page + 1)
            following = f"{self.owner.url}{urlsplit(self.path).path}?{urlencode(params)}"
        return {"count": len(items), "next": following, "previous": None, "results": chunk}

    # ------------------------------------------------------------------ routes
    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        owner = self.owner
        if path.startswith("/blobs/"):
            self._blob(path.rsplit("/", 1)[1])
            return
        m = re.fullmatch(r"/zarr/([0-9a-f-]{36})/(.+)", path)
        if m:
            self._zarr_file(m.group(1), unquote(m.group(2)))
            return
        if path in ("/server-info", "/api/info/", "/api/info"):
            self._json(owner.server_info())
            return
        if path.rstrip("/") == "/api/auth/token":
            self._json({}, 200 if self._authorised() else 401)
            return
        if not self._authorised():
            self._error(401, "Invalid token.")
            return
        m = re.fullmatch(
            r"/api/(?:dandisets/(\d{6})/versions/([^/]+)/)?assets/([0-9a-f-]{36})/(info/|download/)?", path
        )
        if m:
            self._asset(m.group(1), m.group(2), m.group(3), m.group(4) or "")
            return
        m = re.fullmatch(r"/api/zarr/([0-9a-f-]{36})/files/?", path)
        if m:
            self._zarr_listing(m.group(1), query)
            return
        m = re.fullmatch(r"/api/dandisets/(\d{6})/(?:versions/(?:([^/]+)/(?:(info|assets)/)?)?)?", path)
        if not m or m.group(1) != owner.dandiset:
            self._error(404, "Not found.")
            return
        version, what = m.group(2), m.group(3)
        if "versions/" not in path:
            self._json(owner.dandiset_record())
        elif version is None:
            self._json(
                self._page([owner.version_record(owner.version), owner.version_record("draft")], query)
            )
        elif version not in (owner.version, "draft"):
            self._error(404, "No Version matches the given query.")
        elif what == "info":
            self._json(
                {
                    **owner.version_record(version),
                    "asset_validation_errors": [],
                    "version_validation_errors": [],
                    "metadata": {"name": "mock dandiset"},
                }
            )
        elif what == "assets":
            self._json(self._page(self._assets(query), query))
        else:
            self._json({"name": "mock dandiset", "schemaKey": "Dandiset"})

    def _assets(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        found = list(self.owner.assets)
        if "glob" in query:
            found = [a for a in found if fnmatch.fnmatchcase(a["path"], query["glob"][0])]
        if "path" in query:
            found = [a for a in found if a["path"].startswith(query["path"][0])]
        order = query.get("order", ["path"])[0]
        found.sort(key=lambda a: a["path"], reverse=order.startswith("-"))
        return [self.owner.asset_record(a) for a in found]

    def _asset(self, dandiset: str | None, version: str | None, asset_id: str, what: str) -> None:
        owner = self.owner
        asset = next((a for a in owner.assets if a["asset_id"] == asset_id), None)
        if asset is None or (dandiset and dandiset != owner.dandiset):
            self._error(404, "No Asset matches the given query.")
        elif what == "download/":
            self.send_response(302)
            self.send_header("Location", f"{owner.url}/blobs/{asset_id}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif what == "info/":
            self._json({**owner.asset_record(asset), "metadata": owner.asset_metadata(asset)})
        else:
            self._json(owner.asset_metadata(asset))

    def _zarr_store(self, zarr_id: str) -> Path | None:
        asset = next((a for a in self.owner.assets if a["asset_id"] == zarr_id and a["zarr"]), None)
        return None if asset is None else Path(asset["local"])

    def _zarr_listing(self, zarr_id: str, query: dict[str, list[str]]) -> None:
        """The files of a Zarr store, as the DANDI API lists them (``Key``, ``Size``...), or
        with ``download=true``, a redirect to the file ``prefix`` names."""
        root = self._zarr_store(zarr_id)
        if root is None:
            self._error(404, "No Zarr matches the given query.")
            return
        prefix = query.get("prefix", [""])[0]
        if query.get("download", [""])[0] == "true":
            self.send_response(302)
            self.send_header("Location", f"{self.owner.url}/zarr/{zarr_id}/{quote(prefix)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        files = sorted(p for p in root.rglob("*") if p.is_file())
        entries = [{"Key": p.relative_to(root).as_posix(), "LastModified": "2023-01-01T00:00:00Z",
                    "ETag": hashlib.md5(p.read_bytes()).hexdigest(), "Size": p.stat().st_size}
                   for p in files if p.relative_to(root).as_posix().startswith(prefix)]
        self._json(self._page(entries, query))

    def _zarr_file(self, zarr_id: str, key: str) -> None:
        root = self._zarr_store(zarr_id)
        path = None if root is None else root / key
        if path is None or ".." in key.split("/") or not path.is_file():
            self._error(404, "NoSuchKey")
            return
        if not self._authorised():
            self._error(403, "Forbidden")
            return
        if self.owner._should_fail():
            self.close_connection = True
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.owner._served(len(body))

    def _blob(self, asset_id: str) -> None:
        owner = self.owner
        asset = next((a for a in owner.assets if a["asset_id"] == asset_id), None)
        if asset is None or not Path(asset["local"]).exists():  # listed, but the blob is gone
            self._error(404, "no such blob")
            return
        if not self._authorised():
            self._error(403, "Forbidden")
            return
        if owner._should_fail():
            self.close_connection = True  # drop the connection without an answer
            return
        size = asset["size"]
        start, end, status = 0, size - 1, 200
        header = self.headers.get("Range")
        if header:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
            if not m or int(m.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            status = 206
        length = end - start + 1
        stat = Path(asset["local"]).stat()
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"')  # as nginx makes it
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(asset["local"], "rb") as f:
            f.seek(start)
            left = length
            while left > 0:
                block = f.read(min(left, 1 << 20))
                if not block:
                    break
                try:
                    self.wfile.write(block)
                except (BrokenPipeError, ConnectionResetError):
                    break
                left -= len(block)
                owner._served(len(block))
        if left > 0:  # the file ended before the length announced: the connection ends too
            self.close_connection = True
