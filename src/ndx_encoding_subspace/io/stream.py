"""Streaming remote files over HTTP range requests (remfile), with one retry policy.

:class:`RetryingSession` retries failed requests (connection errors, timeouts, 5xx and
429 answers) with exponential backoff. remfile has a retry loop of its own (8 retries,
about 25 s) that it skips only for 4xx answers; so that the policy of
:class:`~ndx_encoding_subspace.io.ReaderParams` is the only one, the session answers a
request that failed after every retry with a synthetic ``408`` response, which remfile
reports at once, and records the real cause in :attr:`RetryingSession.failure`. Readers
check that record to raise :class:`~ndx_encoding_subspace.errors.RemoteError`. The DANDI
API client of :mod:`.dandi` sends its requests through the same session class, so that
looking up an asset and reading it follow one policy, bounded by ``reader.deadline_s``.
"""

from __future__ import annotations

import hashlib
import io
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..atomic import write_bytes
from ..errors import MissingDependencyError, RemoteError, import_optional
from .reader_params import ReaderParams

try:  # both come with the dandi extra (dandi and remfile need them), not with the base install
    import requests
    import urllib3
except ModuleNotFoundError as _missing:
    if _missing.name not in ("requests", "urllib3"):
        raise
    raise MissingDependencyError(
        f"streaming a remote file needs {_missing.name}, which is not installed: "
        "pip install 'ndx-encoding-subspace[dandi]'") from _missing

__all__ = ["RetryingSession", "RangeCache", "network_cause", "remote_size", "check_served", "open_stream"]

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryingSession(requests.Session):
    """A :class:`requests.Session` that retries with exponential backoff, within a deadline.

    Parameters
    ----------
    name : str
        How error messages name the remote file (or the DANDI identifier being looked up).
    retries : int, optional
        Retries after the first attempt.
    backoff_s : float, optional
        Wait before the first retry, doubled at each further retry.
    timeout_s : float, optional
        Timeout of each attempt (to connect, then for each part of the answer).
    deadline_s : float, optional
        Time allowed for one request with all its retries: no retry starts (or waits)
        past it, and each attempt's timeout is cut to the time left.
        (Each None: the :class:`~.ReaderParams` default.)
    sleep : callable
        Waiting function (replaceable in tests).

    Attributes
    ----------
    failure : str or None
        Description of the last request that failed after every retry: the URL, the
        attempts made, the time taken and the cause.
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
        deadline_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        defaults = ReaderParams()
        self.name = name
        self.retries = defaults.retries if retries is None else retries
        self.backoff_s = defaults.retry_backoff_s if backoff_s is None else backoff_s
        self.timeout_s = defaults.timeout_s if timeout_s is None else timeout_s
        self.deadline_s = defaults.deadline_s if deadline_s is None else deadline_s
        self._sleep = sleep
        self.failure: str | None = None
        self.tag = ""  # the ETag (or Last-Modified) of the file, when an answer gave it
        self.n_requests = 0
        self.bytes_received = 0

    @classmethod
    def from_params(
        cls, name: str, params: ReaderParams, *, sleep: Callable[[float], None] = time.sleep
    ) -> RetryingSession:
        """A session following the network parameters of ``params``."""
        return cls(
            name,
            retries=params.retries,
            backoff_s=params.retry_backoff_s,
            timeout_s=params.timeout_s,
            deadline_s=params.deadline_s,
            sleep=sleep,
        )

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send a request, retrying transient failures; never raises for network errors.

        Unless ``stream`` is asked, the body is read here, within the deadline (a server
        trickling its answer is stopped by it, not by each part's timeout). A range request
        answered with the whole file (200) or another range fails at once, unread: the bytes
        would be taken for the range asked.
        """
        timeout = kwargs.pop("timeout", None) or self.timeout_s
        if isinstance(timeout, tuple):
            timeout = max(t for t in timeout if t is not None)
        streamed = kwargs.pop("stream", False)
        byte_range = (kwargs.get("headers") or {}).get("Range", "")
        start = time.monotonic()
        cause = ""
        attempts = 0
        stopped = ""
        for attempt in range(self.retries + 1):
            if attempt:
                wait = self.backoff_s * 2 ** (attempt - 1)
                if time.monotonic() - start + wait >= self.deadline_s:
                    stopped = f", stopped by reader.deadline_s = {self.deadline_s:g} s"
                    break
                self._sleep(wait)
            left = self.deadline_s - (time.monotonic() - start)
            this_timeout = max(min(timeout, left), 0.001)
            attempts += 1
            self.n_requests += 1
            try:
                response = super().request(method, url, *args, timeout=this_timeout, stream=True, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as err:  # a body cut short: sent again
                cause = network_cause(err, url, this_timeout)
                continue
            if response.status_code in _RETRY_STATUSES:
                cause = f"HTTP {response.status_code} {response.reason}"
                response.close()
                continue
            wrong = _wrong_range(response, byte_range)
            if wrong:  # the server's way, not a passing failure: not asked again
                response.close()
                self.failure = f"{self.name}: {url} {wrong}"
                return _failed_response(url, self.failure)
            if streamed:
                return response
            try:
                body = _body_within(response, start + self.deadline_s)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                response.close()
                cause = str(err) if isinstance(err, TimeoutError) else network_cause(err, url, this_timeout)
                continue
            self.bytes_received += len(body)
            if response.status_code == 206 and len(body) < _range_length(byte_range, response):
                cause = f"the answer from {urlsplit(url).hostname} was cut short ({len(body)} bytes)"
                continue
            return response
        what = f" ({byte_range.replace('=', ' ')})" if byte_range else ""
        elapsed = time.monotonic() - start
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        self.failure = (
            f"{self.name}: network failure reading {url}{what} after {tries} in {elapsed:.1f} s "
            f"(reader.retries = {self.retries}{stopped}): {cause}"
        )
        return _failed_response(url, self.failure)

    def check(self) -> None:
        """Raise :class:`RemoteError` if a request failed after every retry."""
        if self.failure is not None:
            raise RemoteError(self.failure)


def network_cause(err: BaseException, url: str, timeout: float) -> str:
    """A short description of why a request to ``url`` failed.

    The chain of exceptions that requests and urllib3 build (``ConnectionError`` around
    ``MaxRetryError`` around ``NameResolutionError`` around :class:`socket.gaierror`) is
    reduced to its root: a host that does not resolve, a refused connection, a timeout.
    """
    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"{host}:{parts.port}" if parts.port else host
    if isinstance(err, requests.ConnectTimeout):
        return f"no connection to {where} within {timeout:.3g} s"
    if isinstance(err, requests.Timeout):
        return f"no answer from {where} within {timeout:.3g} s"
    if isinstance(err, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        return f"the answer from {where} was cut short ({str(err.args[0] if err.args else err)[:120]})"
    root: BaseException = err
    seen = {id(err)}
    link: BaseException | None = err
    while link is not None:
        if isinstance(link, OSError) and not isinstance(link, requests.RequestException):
            root = link
        nested = link.__cause__ or link.__context__ or getattr(link, "reason", None)
        if not isinstance(nested, BaseException) or id(nested) in seen:
            break
        seen.add(id(nested))
        link = nested
    if isinstance(root, socket.gaierror):
        return f"cannot resolve host {host} ({root.strerror or root})"
    if isinstance(root, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(root, socket.timeout):
        return f"no answer from {where} within {timeout:.3g} s"
    if root is not err and isinstance(root, OSError) and root.strerror:
        return f"{type(root).__name__} from {where}: {root.strerror}"
    return f"{type(err).__name__}: {err}"


def _asked(byte_range: str) -> tuple[int, int] | None:
    """First and last byte of a ``Range: bytes=a-b`` header; None for any other."""
    first, sep, last = byte_range.removeprefix("bytes=").partition("-")
    return (int(first), int(last)) if sep and first.isdigit() and last.isdigit() else None


def _range_length(byte_range: str, response: requests.Response) -> int:
    """Bytes a range answer should hold (its Content-Range, cut at the file's end)."""
    served = response.headers.get("Content-Range", "").removeprefix("bytes ").partition("/")[0]
    first, _, last = served.partition("-")
    if first.isdigit() and last.isdigit():
        return int(last) - int(first) + 1
    asked = _asked(byte_range)
    return asked[1] - asked[0] + 1 if asked else 0


def _wrong_range(response: requests.Response, byte_range: str) -> str:
    """Why an answer to a range request does not hold the range asked ('' when it does)."""
    asked = _asked(byte_range)
    if asked is None or response.status_code not in (200, 206):
        return ""
    if response.status_code == 200:
        return ("does not answer HTTP range requests (it sent the whole file), so it cannot be streamed; "
                "set reader.download = true to download it")
    served = response.headers.get("Content-Range", "")
    first, _, last = served.removeprefix("bytes ").partition("/")[0].partition("-")
    total = served.rpartition("/")[2]
    end = min(asked[1], int(total) - 1) if total.isdigit() else asked[1]
    if not (first.isdigit() and last.isdigit()) or (int(first), int(last)) != (asked[0], end):
        return f"answered {served or 'no Content-Range'} to a request for {byte_range}: not the bytes asked"
    return ""


def _body_within(response: requests.Response, deadline: float) -> bytes:
    """The body of ``response``, read before ``deadline`` (time.monotonic()); kept on it."""
    parts = []
    while part := response.raw.read1(1 << 16, decode_content=True):  # as soon as bytes come, not 64 kB
        parts.append(part)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the answer from {urlsplit(response.url).hostname} came too slowly to be "
                               "read within reader.deadline_s")
    body = b"".join(parts)
    response._content = body
    response._content_consumed = True
    return body


def _failed_response(url: str, message: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 408
    response.reason = "Request Timeout (retries exhausted)"
    response.url = url
    response._content = message.encode()  # a body, so that .text works
    response._content_consumed = True  # so that .close() does not look for a connection
    response.raw = io.BytesIO(response._content)
    return response


def remote_size(session: RetryingSession, url: str) -> int:
    """Size in bytes of the file at ``url`` (one one-byte range request)."""
    # read within the session's retries (a server answering the whole file is refused unread)
    response = session.get(url, headers={"Range": "bytes=0-0"})
    session.check()
    if response.status_code == 206:
        session.tag = response.headers.get("ETag") or response.headers.get("Last-Modified") or ""
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        if total.isdigit():
            return int(total)
    if response.status_code == 200 and response.headers.get("Content-Length", "").isdigit():
        raise RemoteError(
            f"{session.name}: {url} does not answer HTTP range requests, so it cannot be "
            "streamed; set reader.download = true to download it"
        )
    raise RemoteError(f"{session.name}: cannot read {url}: HTTP {response.status_code} {response.reason}")


def check_served(session: RetryingSession, url: str, size: int) -> None:
    """Raise :class:`RemoteError` when ``url`` cannot be read (an HTTP error such as 404)
    or serves another size than ``size`` (a listing's): what a file that h5py cannot open
    may owe to the server rather than to its bytes."""
    served = remote_size(session, url)
    if served != int(size):
        raise RemoteError(f"{session.name}: {url} serves {served} bytes where {int(size)} were expected "
                          "(a file cut short, or changed since it was listed)")


class RangeCache:
    """remfile's disk cache of byte ranges, made safe to share: an entry is written whole or
    not at all (atomically), read back only when it holds the bytes its range should (a
    range cut short by a kill, or by another run writing it, is fetched again), and keyed
    by the file's size and ETag as well as its URL (a file changed at the same URL is not
    read from the old one's ranges).

    Parameters
    ----------
    folder : Path
        Where the ranges are kept.
    size : int
        The file's size in bytes.
    tag : str
        What the server says of the file's version (ETag or Last-Modified; '' when unknown).
    """

    def __init__(self, folder: Path, size: int, tag: str = "") -> None:
        self.folder, self.size, self.tag = Path(folder), int(size), tag

    def _path(self, key: str) -> Path:
        digest = hashlib.sha1(f"{self.size}|{self.tag}|{key}".encode()).hexdigest()
        return self.folder / digest[:2] / digest[2:4] / digest

    def _length(self, key: str) -> int:
        """Bytes of the range ``key`` names (``url|chunk size|chunk index``, remfile's key)."""
        _, chunk, index = key.rsplit("|", 2)
        return max(0, min(int(chunk), self.size - int(index) * int(chunk)))

    def get(self, key: str) -> bytes | None:
        """The range of ``key`` when kept whole, else None."""
        try:
            value = self._path(key).read_bytes()
        except OSError:
            return None
        return value if len(value) == self._length(key) else None

    def set(self, key: str, value: bytes) -> None:
        """Keep the range of ``key`` (only whole)."""
        if len(value) != self._length(key):
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, lambda handle: handle.write(value))


def open_stream(
    url: str,
    *,
    name: str,
    size: int | None = None,
    retries: int | None = None,
    backoff_s: float | None = None,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
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
        File size when known (saves one request; :func:`check_served` checks it where the
        file cannot be read).
    retries, backoff_s, timeout_s, deadline_s : int, float, float, float
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
    session = RetryingSession(
        name, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s, deadline_s=deadline_s, sleep=sleep
    )
    try:  # the session is closed on every failure: nobody else holds it yet
        session.headers.update(headers or {})
        measured = size is None  # a plain URL: its size, and what its server says of the content, asked
        if size is None:
            size = remote_size(session, url)
        cache = None
        if cache_dir and measured and not session.tag:
            warnings.warn(f"{name}: {url} gives no ETag or Last-Modified, so a file changed there could "
                          "not be told from the one read before: its ranges are not kept in "
                          "reader.cache_dir", stacklevel=3)
        elif cache_dir:
            cache = RangeCache(Path(cache_dir) / "ranges", int(size), session.tag)
        stream = remfile.File(url, disk_cache=cache, _size=int(size))
        stream.session = session
    except BaseException:
        session.close()
        raise
    return stream, session
