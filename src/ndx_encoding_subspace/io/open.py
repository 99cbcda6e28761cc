"""Opening an NWB file from a local path, a URL, a DANDI asset or an NWBFile object.

:func:`open_nwb` returns an :class:`OpenedNWB`, a context manager holding the NWBFile, the
objects that keep it readable (h5py file, NWBHDF5IO, remote stream) and a ``name`` that
every error message uses. Failures to open become :class:`NotNWBError` (missing, truncated,
not HDF5, HDF5 but not NWB, unreadable by pynwb), :class:`RemoteError` (network, DANDI
API) or :class:`AmbiguousInputError` (an identifier naming several assets). Whatever was
opened is closed again when opening fails part way.

Inside :meth:`OpenedNWB.reading`, HDF5 read failures become :class:`NotNWBError` (a
damaged file), this package's own errors pass unchanged, and any other exception (most
likely a bug) becomes :class:`UnexpectedReadError`, naming the file, what was being read
and the original error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
from pynwb import NWBHDF5IO, NWBFile

from ..errors import (
    AmbiguousInputError,
    EncodingSubspaceError,
    InvalidDataError,
    NotNWBError,
    import_optional,
)
from ..inputs import file_sha256, input_sha256, input_stat, is_zarr_store
from ..preflight import local_nwb
from .dandi import RemoteAsset, is_remote, resolve_remote
from .dandi_client import api_key_for
from .download import download
from .filters import load_filter_plugins, mentions_filter, missing_filter_message
from .links import unlinked_reference, warn_dangling_links
from .read_errors import is_damage, of_this_machine, write_refused
from .reader_params import ReaderParams

if TYPE_CHECKING:
    from .stream import RetryingSession

__all__ = [
    "OpenedNWB",
    "UnexpectedReadError",
    "open_nwb",
    "open_local",
    "open_remote",
    "HDF5_SIGNATURE",
    "file_sha256",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

class UnexpectedReadError(RuntimeError):
    """Reading an open file failed otherwise than a damaged file or a known user error would
    (a bug?); it names the file, what was read and the original error (``__cause__``)."""


@dataclasses.dataclass
class OpenedNWB:
    """An open NWB file and what keeps it open.

    Attributes
    ----------
    name : str
        The file as messages name it (path, URL or DANDI asset).
    nwbfile : NWBFile
        The file's contents (read lazily).
    provenance : dict
        JSON-compatible description of the source (path and checksum, or asset; for an
        NWBFile passed in, its identifier and the local file it was read from).
    session : RetryingSession or None
        HTTP session of a streamed file (its ``failure`` explains network errors).
    """

    name: str
    nwbfile: NWBFile
    provenance: dict[str, Any]
    session: RetryingSession | None = None
    _io: NWBHDF5IO | None = None
    _h5: h5py.File | None = None
    _stream: Any = None
    _owned: bool = True
    _tempdir: Path | None = None

    def close(self) -> None:
        """Close the file (does nothing for NWBFile objects passed in)."""
        if not self._owned:
            return
        if self._io is not None:
            with contextlib.suppress(Exception):
                self._io.close()
        if self._h5 is not None:
            with contextlib.suppress(Exception):
                self._h5.close()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        if self.session is not None:
            self.session.close()
        if self._tempdir is not None:  # a download made without reader.cache_dir
            shutil.rmtree(self._tempdir, ignore_errors=True)
        self._io = self._h5 = self._stream = self._tempdir = None

    def __enter__(self) -> OpenedNWB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def reading(self, what: str = "") -> Iterator[None]:
        """Turn low-level read failures into errors naming the file: a network failure the
        session recorded into :class:`RemoteError`; HDF5 and OS read errors, and hdmf failing
        to build an object, into :class:`NotNWBError` (a damaged file); this package's own
        errors pass unchanged; anything else becomes :class:`UnexpectedReadError` naming the
        file, ``what`` and the original error."""
        try:
            yield
        except EncodingSubspaceError:
            if self.session is not None:
                self.session.check()
            raise
        except UnexpectedReadError:
            raise  # already named by an inner reading()
        except MemoryError:
            raise
        except Exception as err:
            if self.session is not None:
                self.session.check()
            where = f" while reading {what}" if what else ""
            cause = f"{type(err).__name__}: {err}"
            missing = missing_filter_message(self._h5, self.name) \
                if self._h5 is not None and mentions_filter(err) else ""
            if missing:
                raise NotNWBError(missing) from err
            refused = write_refused(err)
            if refused is not None:  # writing the output while this file is read: not its damage
                raise refused from err
            if of_this_machine(err):
                raise
            if is_damage(err):
                raise NotNWBError(f"{self.name}: the file is damaged{where}: {cause}") from err
            raise UnexpectedReadError(f"{self.name}: unexpected error{where}: {cause}") from err


def open_nwb(source: Any, *, reader: ReaderParams | None = None) -> OpenedNWB:
    """Open an NWB file for reading.

    Parameters
    ----------
    source : str, Path, NWBFile or OpenedNWB
        Local path, ``DANDI:`` identifier naming one asset, http(s) URL, an NWBFile
        already in memory, or an OpenedNWB (returned as it is, still owned by the caller).
    reader : ReaderParams, optional
        Streaming options (API URL, cache, download, retries).

    Returns
    -------
    OpenedNWB
        Close it (or use it as a context manager) when done.
    """
    params = ReaderParams.of(reader)
    if isinstance(source, OpenedNWB):
        return dataclasses.replace(source, _owned=False)
    if isinstance(source, NWBFile):
        name = source.container_source or f"NWBFile {source.identifier!r}"
        return OpenedNWB(name=str(name), nwbfile=source, provenance=_read_from(source), _owned=False)
    text = str(source)
    if is_remote(text):
        assets = resolve_remote(text, api_url=params.dandi_api_url or None, reader=params)
        if len(assets) > 1:
            listing = ", ".join(a.path for a in assets[:20])
            more = f" and {len(assets) - 20} more" if len(assets) > 20 else ""
            raise AmbiguousInputError(
                f"{text} names {len(assets)} NWB assets; give one of them, e.g. "
                f"{assets[0].name}: {listing}{more}"
            )
        return open_remote(assets[0], reader=params)
    return open_local(Path(text))


def _read_from(nwbfile: NWBFile) -> dict:
    """An NWBFile's provenance: the local file it was read from, as :func:`open_local` has it."""
    prov, where = {"nwbfile": nwbfile.identifier}, nwbfile.container_source
    if isinstance(where, str) and not is_remote(where) and (path := Path(where)).exists():
        with contextlib.suppress(OSError):  # results then copy its units and session
            prov.update(path=str(path.resolve()), size=input_stat(path)[0], sha256=input_sha256(path),
                        **({"format": "zarr"} if is_zarr_store(path) else {}))
    return prov


def open_local(path: Path, *, name: str | None = None, provenance: dict | None = None) -> OpenedNWB:
    """Open a local NWB file (see :func:`open_nwb`)."""
    label = name or str(path)
    local_nwb(path, label)
    if is_zarr_store(path):
        return _open_zarr(path, label, provenance)
    prov = provenance or {"path": str(path.resolve()), "size": path.stat().st_size,
                          "sha256": file_sha256(path)}
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        if "unable to lock file" in str(err):  # an OS refusal (exit 7), not damage
            raise OSError(f"{label}: locked by another process (a writer that still has it open?): "
                          "wait for it to close the file, or set HDF5_USE_FILE_LOCKING=FALSE to read it "
                          "anyway") from None
        raise NotNWBError(_h5_open_error(label, _signature(path), path.stat().st_size, err)) from None
    warn_dangling_links(h5, path, label)
    return _open_h5(h5, label, prov)


def _open_zarr(path: Path, label: str, provenance: dict | None) -> OpenedNWB:
    from .zarr_store import read_zarr_nwb

    io, nwbfile = read_zarr_nwb(path, label)
    try:
        prov = provenance or {"path": str(path.resolve()), "size": input_stat(path)[0],
                              "sha256": input_sha256(path), "format": "zarr"}
    except OSError as err:  # a file of the store that cannot be read (a dangling link...)
        io.close()
        raise NotNWBError(f"{label}: a file of the store cannot be read: {err}") from None
    except BaseException:
        io.close()
        raise
    return OpenedNWB(name=label, nwbfile=nwbfile, provenance=prov, _io=io)


def open_remote(asset: RemoteAsset, *, reader: ReaderParams | None = None) -> OpenedNWB:
    """Open a remote NWB file by streaming it, or by downloading it when asked (without
    ``reader.cache_dir``, to a temporary folder removed when the file is closed)."""
    params = ReaderParams.of(reader)
    asset.check_nwb()
    if params.download:
        return _open_downloaded(asset, params)
    if asset.zarr:
        return _open_remote_zarr(asset, params)
    key = api_key_for(asset.url, params)  # sent to the configured DANDI API's host only
    from .stream import check_served, open_stream  # streaming needs the ``dandi`` extra; local files do not

    stream, session = open_stream(
        asset.url,
        name=asset.name,
        size=asset.size,
        retries=params.retries,
        backoff_s=params.retry_backoff_s,
        timeout_s=params.timeout_s,
        deadline_s=params.deadline_s,
        cache_dir=params.cache_dir or None,
        headers={"Authorization": f"token {key}"} if key else None,
    )
    try:
        try:
            h5 = h5py.File(stream, "r")
        except Exception as err:  # h5py passes on whatever the file object raised
            session.check()
            if asset.size is not None:  # the size came from a listing: is the file there?
                check_served(session, asset.url, asset.size)
            head = b""
            with contextlib.suppress(Exception):
                stream.seek(0)
                head = stream.read(min(8, stream.length))
            raise NotNWBError(_h5_open_error(asset.name, head, stream.length, err)) from None
        served = (stream.length, session.tag)
        opened = _open_h5(h5, asset.name, asset.provenance(served=served), session=session)
    except BaseException:
        with contextlib.suppress(Exception):
            stream.close()
        session.close()
        raise
    opened._stream = stream
    return opened


def _open_remote_zarr(asset: RemoteAsset, params: ReaderParams) -> OpenedNWB:
    """An NWB file stored as Zarr on DANDI, its store's files listed and fetched when read
    (:mod:`.zarr_remote`)."""
    import_optional("hdmf_zarr", "zarr", f"reading {asset.name} (an NWB file stored as Zarr)")
    from .dandi import zarr_store
    from .stream import RetryingSession
    from .zarr_remote import open_listed

    session = RetryingSession.from_params(asset.name, params)
    try:
        io, nwbfile = open_listed(zarr_store(asset, session, params))
    except BaseException:
        session.close()
        raise
    return OpenedNWB(name=asset.name, nwbfile=nwbfile, provenance={**asset.provenance(), "format": "zarr"},
                     session=session, _io=io)


def _open_downloaded(asset: RemoteAsset, params: ReaderParams) -> OpenedNWB:
    temporary = None if params.cache_dir else Path(tempfile.mkdtemp(prefix="encoding-subspace-"))
    try:
        local, validator = download(asset, params.cache_dir or temporary, reader=params)
        served = (local.stat().st_size, validator)  # a temporary copy would not last: not named
        opened = open_local(local, name=asset.name, provenance=asset.provenance(
            served=served, local=None if temporary else local))
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    opened._tempdir = temporary
    return opened


def _open_h5(
    h5: h5py.File, name: str, provenance: dict, *, session: RetryingSession | None = None
) -> OpenedNWB:
    load_filter_plugins()
    try:
        attrs = dict(h5.attrs)
        kind = attrs.get("neurodata_type")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind != "NWBFile" and "nwb_version" not in attrs:
            top = ", ".join(sorted(h5.keys())[:10]) or "nothing"
            raise NotNWBError(
                f"{name}: an HDF5 file but not an NWB file (no NWBFile at its root; it holds {top})"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old files warn about cached namespaces
            io = NWBHDF5IO(file=h5, mode="r", load_namespaces=True)
            nwbfile = io.read()
    except (NotNWBError, InvalidDataError):
        h5.close()
        raise
    except Exception as err:
        broken = _unlinked(h5) if session is None else None  # a stream is not walked again
        h5.close()
        if session is not None:
            session.check()
        text = str(err)
        if "either 'timestamps' or 'rate' must be specified" in text:
            where = re.search(r"root/(\S+) GroupBuilder", text)
            what = where.group(1) if where else "a TimeSeries"
            raise InvalidDataError(
                f"{name}: {what} has no sample rate (neither rate nor timestamps)"
            ) from None
        if broken:
            raise NotNWBError(f"{name}: {broken[0]} refers (attribute {broken[1]!r}) to an object that is no "
                              "longer in the file (deleted after it was written?); pynwb cannot read "
                              f"it: {type(err).__name__}: {text}") from None
        raise NotNWBError(f"{name}: pynwb cannot read this NWB file: {type(err).__name__}: "
                          f"{_without_builders(text)}") from None
    return OpenedNWB(name=name, nwbfile=nwbfile, provenance=provenance, session=session, _io=io, _h5=h5)


def _without_builders(text: str) -> str:
    """hdmf's construction errors name the object and the cause after a dump of its whole
    builder: ``(root/a/b GroupBuilder {...}, "Could not construct ...")`` becomes
    ``root/a/b: Could not construct ...``."""
    found = re.match(r"^\(?(root/\S*) (?:Group|Dataset)Builder \{.*\}, ['\"](.*)['\"]\)?$", text, re.S)
    return f"{found.group(1)}: {found.group(2)}" if found else text


def _signature(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(8)


def _h5_open_error(name: str, head: bytes, size: int, err: Exception) -> str:
    text = str(err)
    if head[:8] == HDF5_SIGNATURE:
        if "truncated" in text.lower():
            return f"{name}: truncated HDF5 file ({size} bytes; {text})"
        return f"{name}: damaged HDF5 file: {text}"
    if size == 0:
        return f"{name}: empty file, not an NWB file"
    return f"{name}: not an HDF5 file, so not an NWB file (HDF5 signature missing)"


def _unlinked(h5: h5py.File) -> tuple[str, str] | None:
    try:
        return unlinked_reference(h5)
    except Exception:  # only said in a message: a file too damaged to walk is named as it is
        return None
