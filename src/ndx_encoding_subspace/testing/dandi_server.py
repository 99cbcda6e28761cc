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

import hashlib
import multiprocessing
import uuid
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..inputs import input_stat

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
            kind = "application/x-zarr" if local.is_dir() else "application/x-nwb"  # as DANDI says
            fmt = formats.get(path, kind if path.endswith((".nwb", ".nwb.zarr")) else "text/plain")
            self.assets.append(
                {
                    "asset_id": asset_id,
                    "path": path,
                    "local": local,
                    "size": input_stat(local)[0],
                    "zarr": local.is_dir(),  # a Zarr store, listed as DANDI lists one
                    "format": fmt,
                    # of the content, as DANDI's (a file changed at one path gets another)
                    "etag": hashlib.md5(path.encode() if local.is_dir() else
                                        local.read_bytes()).hexdigest() + "-1",
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
            "blob": None if asset["zarr"] else asset["asset_id"],
            "zarr": asset["asset_id"] if asset["zarr"] else None,
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
            "digest": {"dandi:dandi-zarr-checksum" if asset["zarr"] else "dandi:dandi-etag": asset["etag"]},
            "contentUrl": [
                f"{self.api_url}/assets/{asset['asset_id']}/download/",
                f"{self.url}/{'zarr' if asset['zarr'] else 'blobs'}/{asset['asset_id']}"
                + ("/" if asset["zarr"] else ""),
            ],
        }


def _serve(owner: MockDandiServer, ready: Any) -> None:
    """The server process: bind a free port of 127.0.0.1, say which, serve until killed."""
    from .dandi_handler import DandiHandler

    handler = type("Handler", (DandiHandler,), {"owner": owner})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    owner._port = int(server.server_address[1])
    ready.send(owner._port)
    ready.close()
    server.serve_forever()
