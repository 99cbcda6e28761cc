"""What a streamed file's server may answer, checked against servers started here: a range
request answered with the whole file or another range fails at once, unread; a trickling
answer is stopped by the deadline; ranges kept on disk are read back only whole and only
for the same file."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ndx_encoding_subspace.io.stream import RangeCache, RetryingSession

DATA = bytes(range(256)) * 64  # 16 kB


class _Server(BaseHTTPRequestHandler):
    mode = "good"
    served = 0
    ranges: list = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        asked = self.headers.get("Range") or f"bytes=0-{len(DATA) - 1}"
        first, _, last = asked.removeprefix("bytes=").partition("-")
        first, last = int(first), int(last) if last else len(DATA) - 1
        type(self).served += 1
        cuts = {"cut_once": 1, "cut_twice": 2, "changed": 1, "from_start": 1, "untagged": 1}.get(self.mode, 0)
        type(self).ranges.append(self.headers.get("Range"))
        if type(self).served > cuts and self.mode in ("changed", "from_start") and first:
            first = 0  # the file changed (If-Range: the whole of it), or a server that ignores the offset
            body = DATA
            self.send_response(200 if self.mode == "changed" else 206)
            if self.mode == "from_start":
                self.send_header("Content-Range", f"bytes 0-{len(DATA) - 1}/{len(DATA)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.mode == "untagged" and type(self).served > cuts and "Range" not in self.headers:
            self.send_response(200)  # the whole file, asked whole again
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
            return
        if type(self).served <= cuts:
            body = DATA[first: last + 1]  # headers, half the body, and the connection closed
            self.send_response(206)
            if self.mode != "untagged":
                self.send_header("ETag", '"v1"')
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(DATA)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: max(len(body) // 2, 0)])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.mode == "whole":
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
            return
        shift = 16 if self.mode == "shifted" else 0
        body = DATA[first + shift: last + shift + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first + shift}-{last + shift}/{len(DATA)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "trickle":
            for k in range(0, len(body), 64):
                self.wfile.write(body[k: k + 64])
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    srv.daemon_threads = True
    # a client that hung up on a trickle is the test's point: no traceback on stderr, which
    # would land in whatever test runs next
    srv.handle_error = lambda request, address: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Server.served = 0
    _Server.ranges = []
    yield f"http://127.0.0.1:{srv.server_address[1]}/blob"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(("mode", "said"), [
    ("whole", "does not answer HTTP range requests (it sent the whole file)"),
    ("shifted", "answered bytes 116-215/16384 to a request for bytes=100-199: not the bytes asked"),
])
def test_a_range_answered_with_other_bytes_fails_at_once(server, mode, said):
    _Server.mode = mode
    session = RetryingSession("probe", retries=3, backoff_s=0.01)
    response = session.get(server, headers={"Range": "bytes=100-199"})
    assert response.status_code == 408 and said in session.failure and _Server.served == 1


def test_a_trickling_answer_is_stopped_by_the_deadline(server):
    _Server.mode = "trickle"  # 64 bytes every 50 ms: 8 kB in 6.4 s, each part well within its timeout
    session = RetryingSession("probe", retries=1, backoff_s=0.01, timeout_s=1.0, deadline_s=1.0)
    start = time.monotonic()
    response = session.get(server, headers={"Range": "bytes=0-8191"})
    # the whole answer would take 6.4 s; a stop at the deadline takes about 1 s (a loaded
    # machine's lag allowed for)
    assert time.monotonic() - start < 5.0 and response.status_code == 408
    assert "came too slowly to be read within reader.deadline_s" in session.failure


def test_a_good_range_is_read_whole(server):
    _Server.mode = "good"
    session = RetryingSession("probe", retries=0)
    assert session.get(server, headers={"Range": "bytes=100-199"}).content == DATA[100:200]
    assert session.failure is None and session.bytes_received == 100


def test_kept_ranges_are_read_only_whole_and_only_for_the_same_file(tmp_path):
    cache = RangeCache(tmp_path, size=250, tag='"v1"')
    key = "http://h/f.nwb|100|1"
    cache.set(key, DATA[100:200])
    assert cache.get(key) == DATA[100:200]
    assert cache.get("http://h/f.nwb|100|2") is None
    cache.set("http://h/f.nwb|100|2", DATA[200:250])  # the last range: up to the file's end
    assert cache.get("http://h/f.nwb|100|2") == DATA[200:250]
    assert RangeCache(tmp_path, size=250, tag='"v2"').get(key) is None  # changed at the same URL
    assert RangeCache(tmp_path, size=260, tag='"v1"').get(key) is None
    kept = next(p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == DATA[100:200])
    kept.write_bytes(DATA[100:150])  # cut short by a kill, or by another run writing it
    assert cache.get(key) is None
    cache.set(key, DATA[100:150])  # never kept short
    assert cache.get(key) is None


def test_a_first_answer_cut_mid_body_is_asked_again(server):
    """The size of a plain URL is asked with a one-byte range; an answer whose body is cut
    is retried as any other request (it failed at once, exit 7)."""
    from ndx_encoding_subspace.io.stream import remote_size

    _Server.mode = "cut_once"
    session = RetryingSession("probe", retries=2, backoff_s=0.01)
    assert remote_size(session, server) == len(DATA) and _Server.served == 2
    assert session.failure is None


@pytest.mark.parametrize("mode", ["cut_once", "cut_twice"])
def test_a_download_cut_mid_body_goes_on_from_where_it_was(server, tmp_path, mode):
    from ndx_encoding_subspace.io.dandi import RemoteAsset
    from ndx_encoding_subspace.io.download import download_asset
    from ndx_encoding_subspace.io.reader_params import ReaderParams

    _Server.mode = mode
    asset = RemoteAsset(name=server, url=server, path="blob.nwb")
    local = download_asset(asset, tmp_path, reader=ReaderParams(retries=2, retry_backoff_s=0.01))
    assert local.read_bytes() == DATA
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [local]


def test_a_trickling_download_is_stopped_and_leaves_nothing(server, tmp_path):
    """64 bytes every 50 ms (1.3 kB/s) is below the floor of 16 kB/s over reader.timeout_s:
    stopped, asked again (reader.retries), then refused, within seconds, not days."""
    from ndx_encoding_subspace.errors import RemoteError
    from ndx_encoding_subspace.io.dandi import RemoteAsset
    from ndx_encoding_subspace.io.download import download_asset
    from ndx_encoding_subspace.io.reader_params import ReaderParams

    _Server.mode = "trickle"
    asset = RemoteAsset(name=server, url=server, path="blob.nwb")
    start = time.monotonic()
    with pytest.raises(RemoteError, match=r"failed after 2 attempts \(reader.retries = 1\).*stalled"):
        download_asset(asset, tmp_path, reader=ReaderParams(retries=1, retry_backoff_s=0.01, timeout_s=1.0))
    assert time.monotonic() - start < 8.0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_download_kept_without_etag_is_not_taken_for_the_file_now_served(server, tmp_path, monkeypatch):
    """A server without ETag or Last-Modified: a file changed there at the same size could
    not be told from the copy kept in reader.cache_dir, so it is downloaded again."""
    import sys

    from ndx_encoding_subspace.io.dandi import RemoteAsset
    from ndx_encoding_subspace.io.download import download_asset
    from ndx_encoding_subspace.io.reader_params import ReaderParams

    _Server.mode = "good"
    asset = RemoteAsset(name=server, url=server, path="blob.nwb")
    params = ReaderParams(retries=0)
    first = download_asset(asset, tmp_path, reader=params)
    assert first.read_bytes() == DATA
    changed = bytes(reversed(DATA))
    monkeypatch.setattr(sys.modules[__name__], "DATA", changed)
    again = download_asset(asset, tmp_path, reader=params)
    assert again == first and again.read_bytes() == changed


@pytest.mark.parametrize(("mode", "said"), [
    ("changed", "the file changed at the server since"),
    ("from_start", "the server answered bytes 0-16383/16384 for the bytes from 8192"),
])
def test_a_download_goes_on_only_with_the_rest_of_the_same_file(server, tmp_path, mode, said):
    """After a cut, the rest is asked with If-Range: a file changed since (the whole new
    file sent), or an answer from another offset, is refused, never spliced."""
    from ndx_encoding_subspace.errors import RemoteError
    from ndx_encoding_subspace.io.dandi import RemoteAsset
    from ndx_encoding_subspace.io.download import download_asset
    from ndx_encoding_subspace.io.reader_params import ReaderParams

    _Server.mode = mode
    asset = RemoteAsset(name=server, url=server, path="blob.nwb")
    with pytest.raises(RemoteError, match=f"was cut after 8192 bytes and {said}"):
        download_asset(asset, tmp_path, reader=ReaderParams(retries=2, retry_backoff_s=0.01))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_download_cut_without_etag_is_asked_again_whole(server, tmp_path):
    """Nothing tells that the rest would be of the same file: the whole file is asked again,
    never spliced."""
    from ndx_encoding_subspace.io.dandi import RemoteAsset
    from ndx_encoding_subspace.io.download import download_asset
    from ndx_encoding_subspace.io.reader_params import ReaderParams

    _Server.mode = "untagged"
    asset = RemoteAsset(name=server, url=server, path="blob.nwb")
    local = download_asset(asset, tmp_path, reader=ReaderParams(retries=2, retry_backoff_s=0.01))
    assert local.read_bytes() == DATA and _Server.ranges == [None, None]
