"""Streaming remote files over HTTP range requests (remfile), with one retry policy.

:class:`RetryingSession` retries failed requests (connection errors, timeouts, 5xx and
429 answers) with exponential backoff. remfile has a retry loop of its own (8 retries,
about 25 s) that it skips only for 4xx answers; so that the policy of
:class:`~ndx_encoding_subspace.io.ReaderParams` is the only one, the session answers a
request that failed after every retry with a synthetic ``408`` response, which remfile
reports at once, and records the real cause in :attr:`RetryingSession.failure`. Readers
check that record to raise :class:`~ndx_encoding_subspace.errors.RemoteError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from ..errors import RemoteError, import_optional
from .reader_params import ReaderParams

__all__ = ["RetryingSession", "remote_size", "open_stream"]

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryingSession(requests.Session):
    """A :class:`requests.Session` that retries with exponential backoff.

    Parameters
    ----------
    name : str
        How error messages name the remote file.
    retries : int, optional
        Retries after the first attempt.
    backoff_s : float, optional
        Wait before the first retry, doubled at each further retry.
    timeout_s : float, optional
        Timeout of each request.
        (Each None: the :class:`~.ReaderParams` default.)
    sleep : callable
        Waiting function (replaceable in tests).

    Attributes
    ----------
    failure : str or None
        Description of the last request that failed after every retry.
    n_requests, bytes_received : int
        Requests sent (retries included) and body bytes received.
    """

    def __init__(
        self,
        name: str,
        *,
        retries: int | None = None,
        backoff_s: float | None = None,
        timeout_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        defaults = ReaderParams()
        self.name = name
        self.retries = defaults.retries if retries is None else retries
        self.backoff_s = defaults.retry_backoff_s if backoff_s is None else backoff_s
        self.timeout_s = defaults.timeout_s if timeout_s is None else timeout_s
        self._sleep = sleep
        self.failure: str | None = None
        self.n_requests = 0
        self.bytes_received = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send a request, retrying transient failures; never raises for network errors."""
        kwargs.setdefault("timeout", self.timeout_s)
        cause = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            self.n_requests += 1
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as err:
                cause = f"{type(err).__name__}: {err}"
                continue
            if response.status_code in _RETRY_STATUSES:
                cause = f"HTTP {response.status_code} {response.reason}"
                continue
            if not kwargs.get("stream"):
                self.bytes_received += len(response.content)
            return response
        byte_range = (kwargs.get("headers") or {}).get("Range", "")
        what = f" ({byte_range.replace('=', ' ')})" if byte_range else ""
        self.failure = (
            f"{self.name}: network failure reading {url}{what} after {self.retries + 1} attempts: {cause}"
        )
        return _failed_response(url, self.failure)

    def check(self) -> None:
        """Raise :class:`RemoteError` if a request failed after every retry."""
        if self.failure is not None:
            raise RemoteError(self.failure)


def _failed_response(url: str, message: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 408
    response.reason = "Request Timeout (retries exhausted)"
    response.url = url
    response._content = message.encode()  # a body, so that .text works
    return response


def remote_size(session: RetryingSession, url: str) -> int:
    """Size in bytes of the file at ``url`` (one one-byte range request)."""
    response = session.get(url, headers={"Range": "bytes=0-0"}, stream=True)
    response.close()  # the body is not needed (and may be the whole file)
    session.check()
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        if total.isdigit():
            return int(total)
    if response.status_code == 200 and response.headers.get("Content-Length", "").isdigit():
        raise RemoteError(
            f"{session.name}: {url} does not answer HTTP range requests, so it cannot be "
            "streamed; set reader.download = true to download it"
        )
    raise RemoteError(f"{session.name}: cannot read {url}: HTTP {response.status_code} {response.reason}")


def open_stream(
    url: str,
    *,
    name: str,
    size: int | None = None,
    retries: int | None = None,
    backoff_s: float | None = None,
    timeout_s: float | None = None,
    cache_dir: str | Path | None = None,
    headers: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Any, RetryingSession]:
    """A read-only file object over ``url`` for :class:`h5py.File`, and its session.

    Parameters
    ----------
    url : str
        HTTP(S) URL answering range requests (redirects are followed).
    name : str
        How error messages name the file (e.g. the DANDI asset).
    size : int, optional
        File size when known (saves one request).
    retries, backoff_s, timeout_s : int, float, float
        Retry policy of every request (see :class:`RetryingSession`); None: the
        :class:`~.ReaderParams` default.
    cache_dir : path, optional
        Folder keeping every byte range read, so that a second read costs no transfer.
    headers : dict, optional
        Sent with every request (e.g. ``Authorization``; requests drops it on redirects
        to another host).
    sleep : callable
        Waiting function between retries.

    Returns
    -------
    remfile.File, RetryingSession

    Raises
    ------
    MissingDependencyError
        When remfile (the ``dandi`` extra) is not installed, with the install command.
    """
    remfile = import_optional("remfile", "dandi", "streaming a remote file")
    session = RetryingSession(name, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s, sleep=sleep)
    session.headers.update(headers or {})
    if size is None:
        size = remote_size(session, url)
    cache = None
    if cache_dir:
        folder = Path(cache_dir) / "ranges"
        folder.mkdir(parents=True, exist_ok=True)
        cache = remfile.DiskCache(str(folder))
    stream = remfile.File(url, disk_cache=cache, _size=int(size))
    stream.session = session
    return stream, session
