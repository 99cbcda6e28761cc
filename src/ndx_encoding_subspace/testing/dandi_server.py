"""A local DANDI-API test server, for tests and benchmarks only.

:class:`MockDandiServer` answers, on ``127.0.0.1``, the part of the DANDI REST API that the
dandi client (0.81) uses to find and read assets -- server info, Dandiset and version
info, asset listings with paging, glob and path filters, asset metadata, download
redirects -- and serves the files with HTTP range requests (206 Partial Content). It
counts the bytes it serves and can drop connections to simulate a network failing
mid-stream.

It is a test fixture, not part of the reader: nothing in the package imports it at run
time. It listens on the loopback interface only, on a free port, serves only the files it
was given, and its ``api_key`` is a fixed token to exercise the client's authorisation
path, not a security measure. Do not use it to share data.

It serves from a process of its own (started with ``spawn``), so nothing the client's
process does (holding h5py's lock while it waits for bytes, say) can stall the server;
its counters and failure settings live in shared memory, read and set from the test.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing
import re
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["MockDandiServer"]

_TIME = "2024-01-01T00:00:00.000000Z"


class MockDandiServer:
    """A threaded HTTP server, in a process of its own, answering like DANDI for one Dandiset.

    Parameters
    ----------
    files : mapping
        Asset path (e.g. ``"sub-1/sub-1_ses-1.nwb"``) -> local file to serve.
    dandiset : str
        Six-digit identifier.
    version : str
        Published version (the draft is also served, with the same assets).
    page_size : int
        Assets per page of listings (small, to exercise paging).
    api_key : str, optional
        When set, API and file requests need ``Authorization: token <api_key>``.
    encoding_formats : mapping, optional
        Asset path -> ``encodingFormat`` (default ``application/x-nwb`` for ``.nwb``).

    Attributes
    ----------
    bytes_served : int
        Body bytes sent for file requests.
    range_requests : int
        File requests received (failed ones included).
    """

    def __init__(
        self,
        files: Mapping[str, str | Path],
        *,
        dandiset: str = "000123",
        version: str = "0.230101.1234",
        page_size: int = 2,
        api_key: str | None = None,
        encoding_formats: Mapping[str, str] | None = None,
    ) -> None:
        self.dandiset = dandiset
        self.version = version
        self.page_size = page_size
        self.api_key = api_key
        formats = dict(encoding_formats or {})
        self.assets: list[dict[str, Any]] = []
        for path, local in sorted(files.items()):
            local = Path(local)
            asset_id = str(uuid.UUID(hashlib.md5(path.encode()).hexdigest()))
            fmt = formats.get(path, "application/x-nwb" if path.endswith(".nwb") else "text/plain")
            self.assets.append(
                {
                    "asset_id": asset_id,
                    "path": path,
                    "local": local,
                    "size": local.stat().st_size,
                    "format": fmt,
                }
            )
        ctx = multiprocessing.get_context("spawn")
        # bytes served, requests, whether to fail, fail after, fail count (-1: all)
        self._shared = ctx.Array("q", [0, 0, 0, 0, -1], lock=False)
        self._lock = ctx.Lock()
        self._port: int | None = None
        self._process: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_process"}

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60.0) -> MockDandiServer:
        """Start serving on a free port of 127.0.0.1 (in a new process)."""
        ctx = multiprocessing.get_context("spawn")
        here, there = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_serve, args=(self, there), daemon=True,
                                    name="mock-dandi-server")
        self._process.start()
        there.close()
        if not here.poll(timeout):
            self.stop()
            raise RuntimeError(f"the mock DANDI server did not start within {timeout} s")
        self._port = int(here.recv())
        here.close()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._process is not None:
            self._process.terminate()
            self._process.join(10)
            self._process = None
            self._port = None

    def __enter__(self) -> MockDandiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        assert self._port is not None, "server not started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """DANDI API base URL."""
        return f"{self.url}/api"

    def asset_url(self, path: str) -> str:
        """Download URL of an asset (``.../api/assets/<id>/download/``)."""
        return f"{self.api_url}/assets/{self._by_path(path)['asset_id']}/download/"

    def blob_url(self, path: str) -> str:
        """Direct file URL of an asset (no API involved)."""
        return f"{self.url}/blobs/{self._by_path(path)['asset_id']}"

    def _by_path(self, path: str) -> dict[str, Any]:
        return next(a for a in self.assets if a["path"] == path)

    # ------------------------------------------------------------------ counters
    @property
    def bytes_served(self) -> int:
        """Body bytes sent for file requests."""
        return int(self._shared[0])

    @property
    def range_requests(self) -> int:
        """File requests received (failed ones included)."""
        return int(self._shared[1])

    def reset_counters(self) -> None:
        """Set the byte and request counters to zero."""
        with self._lock:
            self._shared[0] = self._shared[1] = 0

    def fail_requests(self, count: int | None = None, *, after: int = 0) -> None:
        """Drop file requests: those after the next ``after`` ones, ``count`` of them (None: all)."""
        with self._lock:
            self._shared[2:5] = [1, self._shared[1] + after, -1 if count is None else count]

    def heal(self) -> None:
        """Stop dropping requests."""
        with self._lock:
            self._shared[2] = 0

    def _served(self, n: int) -> None:
        with self._lock:
            self._shared[0] += n

    def _should_fail(self) -> bool:
        with self._lock:
            self._shared[1] += 1
            requests, failing, after, count = self._shared[1:5]
            if not failing or requests <= after:
                return False
            return count < 0 or requests <= after + count

    # ------------------------------------------------------------------ API bodies
    def server_info(self) -> dict[str, Any]:
        """Body of ``/server-info`` and ``/api/info/``."""
        return {
            "version": "0.0.1",
            "schema_version": "0.6.10",
            "cli-minimal-version": "0.0.1",
            "cli-bad-versions": [],
            "services": {"api": {"url": self.api_url}},
        }

    def version_record(self, version: str) -> dict[str, Any]:
        """A Version as the API lists it."""
        return {
            "version": version,
            "name": "mock dandiset",
            "asset_count": len(self.assets),
            "size": sum(a["size"] for a in self.assets),
            "created": _TIME,
            "modified": _TIME,
            "status": "Valid" if version == "draft" else "Published",
        }

    def dandiset_record(self) -> dict[str, Any]:
        """The Dandiset as ``/dandisets/<id>/`` returns it."""
        return {
            "identifier": self.dandiset,
            "created": _TIME,
            "modified": _TIME,
            "contact_person": "Mock Person",
            "embargo_status": "OPEN",
            "most_recent_published_version": self.version_record(self.version),
            "draft_version": self.version_record("draft"),
        }

    def asset_record(self, asset: dict[str, Any]) -> dict[str, Any]:
        """An asset as listings return it."""
        return {
            "asset_id": asset["asset_id"],
            "blob": asset["asset_id"],
            "zarr": None,
            "path": asset["path"],
            "size": asset["size"],
            "created": _TIME,
            "modified": _TIME,
        }

    def asset_metadata(self, asset: dict[str, Any]) -> dict[str, Any]:
        """Raw asset metadata."""
        return {
            "schemaKey": "Asset",
            "schemaVersion": "0.6.10",
            "id": f"dandiasset:{asset['asset_id']}",
            "identifier": asset["asset_id"],
            "path": asset["path"],
            "contentSize": asset["size"],
            "encodingFormat": asset["format"],
            "digest": {"dandi:dandi-etag": hashlib.md5(asset["path"].encode()).hexdigest() + "-1"},
            "contentUrl": [
                f"{self.api_url}/assets/{asset['asset_id']}/download/",
                f"{self.url}/blobs/{asset['asset_id']}",
            ],
        }


class _Handler(BaseHTTPRequestHandler):
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

    def _blob(self, asset_id: str) -> None:
        owner = self.owner
        asset = next((a for a in owner.assets if a["asset_id"] == asset_id), None)
        if asset is None:
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
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
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


def _serve(owner: MockDandiServer, ready: Any) -> None:
    """The server process: bind a free port of 127.0.0.1, say which, serve until killed."""
    handler = type("Handler", (_Handler,), {"owner": owner})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    owner._port = int(server.server_address[1])
    ready.send(owner._port)
    ready.close()
    server.serve_forever()
