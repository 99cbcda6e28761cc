"""DANDI and HTTP sources without a network: one-line errors, named retries, the deadline honoured.

Every server here is on 127.0.0.1: a port where nothing listens (connections refused) or
a socket that accepts connections and never answers. Nothing contacts the internet.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from ndx_encoding_subspace.errors import ConfigError, RemoteError
from ndx_encoding_subspace.io import ReaderParams, list_assets, read_site
from ndx_encoding_subspace.io.stream import RetryingSession

ASSET = "0123abcd-0123-4567-89ab-0123456789ab"


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.port = self._socket.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                continue
            self.connections.append(conn)

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.connections:
            conn.close()
        self._socket.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    with HangingServer() as server:
        yield server


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port where nothing listens: bound, never listening, and held for the test (a
    port closed again could be taken meanwhile by a server of another test process)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_dandi_telemetry(monkeypatch):
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)


def _seconds(message: str) -> str:
    """The time that a failure message reports, as written."""
    found = re.search(r" attempts? in (\d+\.\d) s ", message)
    assert found, message
    return found.group(1)


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANDI_")}
    env["DANDI_NO_ET"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "ndx_encoding_subspace.cli", "run", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


def test_deadline_is_a_reader_parameter():
    assert ReaderParams().deadline_s == 15.0
    with pytest.raises(ConfigError, match=r"reader.deadline_s must be above 0.0"):
        ReaderParams(deadline_s=0.0).validate()


def test_dandi_lookup_against_a_server_that_never_answers(hanging, capsys, caplog):
    params = ReaderParams(
        dandi_api_url=f"http://127.0.0.1:{hanging.port}/api", retries=1, retry_backoff_s=0.1, timeout_s=1.0
    )
    with caplog.at_level(logging.DEBUG, logger="ndx_encoding_subspace.io.dandi"):
        with pytest.raises(RemoteError) as err:
            list_assets("DANDI:000123/*.nwb", reader=params)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("DANDI:000123/*.nwb: cannot reach the DANDI API: network failure reading ")
    assert f"http://127.0.0.1:{hanging.port}/api/info/ after 2 attempts" in message
    assert "reader.retries = 1" in message
    assert f"no answer from 127.0.0.1:{hanging.port} within 1 s" in message
    assert len(hanging.connections) == 2  # one try and one retry, no retry loop of the client
    assert "Traceback" not in capsys.readouterr().err


def test_deadline_cuts_timeouts_and_retries(hanging):
    params = ReaderParams(
        dandi_api_url=f"http://127.0.0.1:{hanging.port}/api",
        retries=5, retry_backoff_s=0.1, timeout_s=30.0, deadline_s=1.0,
    )
    stopped = r"after 1 attempt in \d+\.\d s .*stopped by reader.deadline_s = 1 s"
    with pytest.raises(RemoteError, match=stopped):
        list_assets("DANDI:000123", reader=params)
    assert len(hanging.connections) == 1  # the deadline left no time for the 5 retries


def test_session_stops_retrying_at_the_deadline(refused_port, monkeypatch):
    from types import SimpleNamespace

    from ndx_encoding_subspace.io import stream

    # the session's clock advances by its waits only: a loaded machine's lag between the
    # refused attempts (0.4 s would leave no time for the third) does not count
    now = [0.0]
    clock = SimpleNamespace(monotonic=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    monkeypatch.setattr(stream, "time", clock)
    session = RetryingSession("x", retries=10, backoff_s=0.2, timeout_s=1.0, deadline_s=1.0,
                              sleep=clock.sleep)
    response = session.get(f"http://127.0.0.1:{refused_port}/x.nwb")
    assert response.status_code == 408
    assert session.n_requests == 3  # waits 0.2 and 0.4; a third wait of 0.8 would pass 1 s
    with pytest.raises(RemoteError) as err:
        session.check()
    assert str(err.value) == (
        f"x: network failure reading http://127.0.0.1:{refused_port}/x.nwb after 3 attempts in "
        f"{_seconds(str(err.value))} s (reader.retries = 10, stopped by "
        f"reader.deadline_s = 1 s): connection refused by 127.0.0.1:{refused_port}"
    )


def test_plain_url_refused(refused_port):
    params = ReaderParams(retries=2, retry_backoff_s=0.05, timeout_s=1.0)
    url = f"http://127.0.0.1:{refused_port}/sub-1.nwb"
    with pytest.raises(RemoteError) as err:
        read_site(url, reader=params)
    assert str(err.value) == (
        f"{url}: network failure reading {url} (bytes 0-0) after 3 attempts in "
        f"{_seconds(str(err.value))} s (reader.retries = 2): "
        f"connection refused by 127.0.0.1:{refused_port}"
    )


def test_download_follows_the_reader_parameters(hanging, tmp_path):
    params = ReaderParams(retries=1, retry_backoff_s=0.05, timeout_s=0.5, download=True,
                          cache_dir=str(tmp_path))
    with pytest.raises(RemoteError, match="after 2 attempts .*no answer from"):
        read_site(f"http://127.0.0.1:{hanging.port}/x.nwb", reader=params)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no partial file left


@pytest.mark.parametrize("kind", ["dandi-id", "asset-url"])
def test_cli_one_line_error_without_traceback(hanging, tmp_path, kind):
    api = f"http://127.0.0.1:{hanging.port}/api"
    source = "DANDI:000123/*.nwb" if kind == "dandi-id" else f"{api}/assets/{ASSET}/download/"
    done = _run_cli(
        source, "--out", str(tmp_path / "out"), "--reader.dandi_api_url", api,
        "--reader.retries", "1", "--reader.retry_backoff_s", "0.1", "--reader.timeout_s", "1",
    )
    assert done.returncode == RemoteError.exit_code == 4
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith(f"encoding-subspace: error: {source}: cannot reach the DANDI API: ")
    assert f"{api}/info/ after 2 attempts" in lines[0] and "reader.retries = 1" in lines[0]
    float(_seconds(lines[0]))  # the time taken is reported


def test_cli_plain_url_refused(refused_port, tmp_path):
    url = f"http://127.0.0.1:{refused_port}/sub-1.nwb"
    done = _run_cli(url, "--out", str(tmp_path / "out"), "--reader.retries", "1",
                       "--reader.retry_backoff_s", "0.1")
    assert done.returncode == 4
    assert done.stderr.strip() == (
        f"encoding-subspace: error: {url}: network failure reading {url} (bytes 0-0) after 2 "
        f"attempts in {_seconds(done.stderr)} s (reader.retries = 1): "
        f"connection refused by 127.0.0.1:{refused_port}"
    )
