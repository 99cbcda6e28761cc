"""The dandi client, held to the reader's network policy.

The dandi client on its own retries a failed request 12 times over about a minute, asks
the server for its info without any timeout, and logs every failure with a traceback.
:func:`dandi_client` builds it so that its requests go through a
:class:`~.stream.RetryingSession` (``reader.retries``, ``reader.timeout_s`` and
``reader.deadline_s`` hold for the lookup as for the reading), the server info is fetched
through that session too, and :func:`dandi_logs_to_debug` passes the client's log
records to this module's logger at DEBUG level while it works for the reader. Every
failure becomes one :class:`~ndx_encoding_subspace.errors.RemoteError` naming the URL,
the attempts made and the cause. The client's etelemetry version check (a request to
another host) is skipped unless ``DANDI_NO_ET`` is set, even to an empty value.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from ..errors import ConfigError, RemoteError
from .reader_params import ReaderParams

if TYPE_CHECKING:
    from .stream import RetryingSession

__all__ = ["API_URL_ENV", "API_KEY_ENV", "dandi_client", "dandi_logs_to_debug", "api_session",
           "content_folder", "api_key_for", "unreachable", "client_error", "shareable_url"]

API_URL_ENV = "DANDI_API_URL"
API_KEY_ENV = "DANDI_API_KEY"


def _api_url(api_url: str | None) -> str | None:
    return api_url or os.environ.get(API_URL_ENV) or None


_log = logging.getLogger(__name__)


class _DandiLogsToDebug(logging.Filter):
    """Passes the records of the ``dandi`` logger to this module's logger at DEBUG level.

    The reader reports every failure of the dandi client as one error; the client's own
    warnings and tracebacks would repeat it on stderr.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _log.debug("dandi client: %s", record.getMessage(), exc_info=record.exc_info)
        return False


_ROUTE = _DandiLogsToDebug()
_route_lock = threading.Lock()
_route_users = 0


@contextlib.contextmanager
def dandi_logs_to_debug() -> Iterator[None]:
    """Route the dandi client's log records to DEBUG for the duration of the block."""
    global _route_users
    logger = logging.getLogger("dandi")
    with _route_lock:
        _route_users += 1
        logger.addFilter(_ROUTE)
    try:
        yield
    finally:
        with _route_lock:
            _route_users -= 1
            if not _route_users:
                logger.removeFilter(_ROUTE)


def content_folder(asset: Any, reader: ReaderParams | None) -> tuple[str, str]:
    """A folder per content: a DANDI asset's id (a changed draft file is another asset), or for
    a plain URL a hash of it and of its size and ETag (another URL, or a file changed there);
    and what tells that content (a DANDI checksum or asset id, a URL's ETag or Last-Modified):
    '' for a URL whose server gives neither, whose copy found there is not taken (a file
    changed there at the same size could not be told apart)."""
    if asset.asset_id:  # and its checksum, where the listing gives one
        digest = asset.digest.get("dandi:dandi-etag") or asset.digest.get("dandi:sha2-256") or ""
        return (f"{asset.asset_id}-{digest[:16]}" if digest else asset.asset_id), digest or asset.asset_id
    with api_session(asset.name, reader) as session:
        said = session.head(asset.url, allow_redirects=True).headers
    validator = said.get("ETag") or said.get("Last-Modified", "")
    tag = [asset.url, said.get("Content-Length", ""), validator]
    return hashlib.sha1("|".join(tag).encode()).hexdigest()[:16], validator


def api_session(name: str, reader: ReaderParams | None) -> RetryingSession:
    from .stream import RetryingSession

    return RetryingSession.from_params(name, reader or ReaderParams())


def _dandi_instance(api_url: str | None, session: RetryingSession) -> Any:
    """The :class:`dandi.consts.DandiInstance` at ``api_url``, from its server info.

    Does what :func:`dandi.utils.get_instance` does (known instances, ``/info/``, the
    minimal client version), but through ``session``, so within the reader's deadline.
    """
    from dandi import __version__ as client_version
    from dandi.consts import DandiInstance, known_instances, known_instances_rev
    from dandi.utils import ServerInfo
    from packaging.version import Version

    if api_url is None:
        instance_name = os.environ.get("DANDI_INSTANCE", "dandi")
        if instance_name not in known_instances:
            raise ConfigError(
                f"unknown DANDI instance {instance_name!r} (DANDI_INSTANCE); known: "
                + ", ".join(sorted(known_instances))
            )
        known = known_instances[instance_name]
    else:
        name = known_instances_rev.get(api_url.rstrip("/"))
        known = known_instances[name] if name else None
    url = (known.api if known is not None else str(api_url)).rstrip("/")
    response = session.get(f"{url}/info/", headers={"accept": "application/json"})
    if session.failure is not None:
        raise unreachable(session)
    try:
        response.raise_for_status()
        info = ServerInfo.model_validate(response.json())
        minimal = Version(info.cli_minimal_version)
        bad = [Version(v) for v in info.cli_bad_versions]
    except Exception as err:
        if known is not None:
            return known  # as the dandi client does: the known URLs without the server's word
        raise RemoteError(
            f"{session.name}: {url} does not answer as a DANDI API ({url}/info/: "
            f"{type(err).__name__}: {err})"
        ) from None
    ours = Version(client_version)
    if ours < minimal or ours in bad:
        raise RemoteError(
            f"{session.name}: the DANDI API at {url} refuses the installed dandi client {ours} "
            f"(it needs at least {minimal}, and none of {[str(v) for v in bad]}); "
            "pip install --upgrade dandi"
        )
    api = info.services.api.url
    return DandiInstance(
        name=known.name if known is not None else url,
        gui=info.services.webui.url if info.services.webui is not None else None,
        api=api,
    )


#: the public archive's API, where no other is configured
PUBLIC_API = "https://api.dandiarchive.org/api"


def api_key_for(url: str | None, reader: ReaderParams | None) -> str | None:
    """``DANDI_API_KEY`` where ``url`` lies on the host of the configured DANDI API
    (``reader.dandi_api_url``, ``$DANDI_API_URL``, or the public archive); None elsewhere, so
    that a URL naming another host never receives the key."""
    from urllib.parse import urlsplit

    key = os.environ.get(API_KEY_ENV) or None
    home = _api_url(reader.dandi_api_url if reader is not None else None) or PUBLIC_API
    return key if url is None or urlsplit(url).netloc == urlsplit(home).netloc else None


def dandi_client(
    api_url: str | None = None, *, reader: ReaderParams | None = None, name: str = ""
) -> Any:
    """A :class:`dandi.dandiapi.DandiAPIClient`, authenticated when ``DANDI_API_KEY`` is set.

    Parameters
    ----------
    api_url : str, optional
        DANDI API base URL (default: ``reader.dandi_api_url``, else ``$DANDI_API_URL``,
        else the public archive).
    reader : ReaderParams, optional
        Its ``retries``, ``retry_backoff_s``, ``timeout_s`` and ``deadline_s`` govern
        every request of the client.
    name : str
        How error messages name what is being looked up (default: the API).

    Raises
    ------
    RemoteError
        When the API cannot be reached (after the retries) or refuses the key.
    """
    from dandi.dandiapi import DandiAPIClient

    url = _api_url(api_url or (reader.dandi_api_url if reader is not None else None))
    token = api_key_for(url, reader)
    os.environ.setdefault("DANDI_NO_ET", "1")
    session = api_session(name or f"DANDI API {url or 'of the public archive'}", reader)
    with dandi_logs_to_debug():
        try:
            client = DandiAPIClient(dandi_instance=_dandi_instance(url, session))
            session.headers.update(client.session.headers)  # the client's User-Agent
            client.session.close()
            client.session = session
            if token is not None:
                client.authenticate(token)
        except (RemoteError, ConfigError):
            session.close()
            raise
        except Exception as err:  # the client raises RuntimeError/HTTPError/ValueError
            session.close()
            if session.failure is not None:
                raise unreachable(session) from None
            raise RemoteError(f"{session.name}: DANDI API request failed: {type(err).__name__}: "
                              f"{err}{_key_hint(err)}") from None
    return client


def _key_hint(err: Exception) -> str:
    """What to do about a refusal (401, 403: embargoed data, or a key the archive does not
    know); '' for other failures."""
    if getattr(getattr(err, "response", None), "status_code", None) not in (401, 403):
        return ""
    if not os.environ.get(API_KEY_ENV):
        return f" (set {API_KEY_ENV} to an API key of the archive that may read it)"
    return f" (the archive refuses the key in {API_KEY_ENV})"


def unreachable(session: RetryingSession) -> RemoteError:
    """The error for a request of ``session`` that failed after every retry."""
    detail = str(session.failure).removeprefix(f"{session.name}: ")
    return RemoteError(f"{session.name}: cannot reach the DANDI API: {detail}")


def client_error(err: Exception, client: Any, where: str) -> RemoteError:
    """The error to raise for a failure of the dandi client while looking up ``where``."""
    if getattr(client.session, "failure", None) is not None:
        return unreachable(client.session)
    return RemoteError(f"{where}: DANDI API request failed: {type(err).__name__}: {err}{_key_hint(err)}")


#: query parameters that sign or authorise a URL (S3, Google Cloud Storage, Azure SAS,
#: CloudFront, OAuth): left out of what results files keep
_SIGNING = re.compile(r"^(x-amz-.*|x-goog-.*|signature|sig|expires|awsaccesskeyid|key-pair-id|policy|"
                      r"se|sp|sv|sr|st|spr|skoid|sktid|skt|ske|sks|skv|token|access_token|api_key|apikey|"
                      r"access_key|auth|password|passwd|secret|jwt|credential)$", re.IGNORECASE)


def shareable_url(url: str) -> str:
    """``url`` without what signs or authorises it (a presigned URL's signature is a
    credential): the query parameters named so, a user and password before the host, and a
    fragment. The rest is kept as written (the other parameters may name the file); a URL
    without any of them is returned unchanged."""
    text = str(url)
    parts = urlsplit(text)
    netloc = parts.netloc.rpartition("@")[2]
    segments = parts.query.split("&") if parts.query else []
    kept = [seg for seg in segments if not _SIGNING.match(unquote_plus(seg.partition("=")[0]))]
    if netloc == parts.netloc and len(kept) == len(segments) and not parts.fragment:
        return text
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(kept), fragment=""))
