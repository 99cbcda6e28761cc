"""The sites a command names: ``INPUT...`` expanded into one source per site.

Each input is one of

* an NWB file (``site.nwb``, or ``site.nwb.zarr``, a Zarr store);
* a folder: every ``*.nwb`` file (any case) and every Zarr store of an NWB file inside it and
  its sub-folders, sorted by path (hidden files, and results files ``*.results.nwb`` this
  package wrote, are left out);
* a glob pattern (``data/*/sub-*.nwb``, ``**`` for any depth), sorted;
* a DANDI identifier naming one asset or many (``DANDI:000123``,
  ``DANDI:000123@0.230101.1234/sub-1/*.nwb``), listed through the DANDI API
  (:func:`~ndx_encoding_subspace.io.list_assets`): each asset becomes the identifier of
  that one asset, pinned to the version listed;
* an http(s) URL of one NWB file (a DANDI asset URL is looked up as that asset).

A site is named as :func:`~ndx_encoding_subspace.io.read_site` names it, after its file
(``sub-1_ses-1`` for ``.../sub-1_ses-1.nwb`` or ``.../sub-1_ses-1.nwb.zarr``), and its results go to
``OUT/<site>.results.nwb``. The same file named twice (by two inputs, or an input
twice) is one site; two different files of one name are an error, since they would
write the same results file. Two local HDF5 files that are one NWB file (copied or
renamed: the same ``object_id`` and size) are said in a warning, since each runs as its own site and a
dataset's summary would count its units twice.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, InputError
from ..inputs import is_nwb_store, is_zarr_store, nwb_stem
from ..io import ReaderParams
from ..io.dandi import is_remote, resolve_remote
from .run import results_path

__all__ = ["SiteSource", "expand_inputs"]

_GLOB_CHARS = "*?["


@dataclasses.dataclass(frozen=True)
class SiteSource:
    """One site to run.

    Attributes
    ----------
    site : str
        Site name; its results file is ``OUT/<site>.results.nwb``.
    source : str
        What :func:`~.run.run_site` reads: a local path (absolute), a DANDI identifier
        naming one asset, or a URL.
    input : str
        The input it came from (for messages).
    version : str
        What tells a remote asset's content apart (DANDI asset id, size and digest: a draft
        asset replaced gets a new one); empty for local files, whose size and time do.
    """

    site: str
    source: str
    input: str
    version: str = ""

    @property
    def is_local(self) -> bool:
        """Whether the source is a local file."""
        return not is_remote(self.source)


def _is_results(path: Path) -> bool:
    return path.name.lower().endswith(".results.nwb") or path.name.startswith(".")


def _in_folder(root: Path) -> list[Path]:
    """The NWB files in a folder and its sub-folders: ``*.nwb`` files and Zarr stores of
    NWB files (not searched further), hidden ones and results files left out."""
    found = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        stores = [d for d in dirs if not d.startswith(".") and is_nwb_store(here / d)]
        found.extend(here / d for d in stores)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in stores
                         and not is_zarr_store(here / d))
        found.extend(here / n for n in names if n.lower().endswith(".nwb")  # site.NWB too
                     and not _is_results(here / n) and (here / n).is_file())
        for n in names:
            if n.lower().endswith(".nwb") and (here / n).is_symlink() and not (here / n).exists():
                warnings.warn(f"{here / n}: a link to {os.readlink(here / n)}, which does not exist: "
                              "left out", stacklevel=2)
    return sorted(found, key=lambda p: p.as_posix())


def _local_files(text: str) -> list[Path]:
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # ~name of no user on this machine
        raise InputError(f"input {text!r}: no home folder of that user on this machine") from None
    if is_zarr_store(path) or path.is_file():
        return [path]
    if path.exists() and not path.is_dir():
        raise InputError(f"input {text!r}: not a regular file (a pipe, socket or device); give the NWB file "
                         "itself")
    if path.is_dir():
        return _in_folder(path)
    if any(c in text for c in _GLOB_CHARS):
        matches = [Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True)]
        in_store = functools.lru_cache(maxsize=None)(is_zarr_store)  # the files of a store are not sites
        return sorted((p for p in matches if (p.is_file() or is_nwb_store(p)) and not _is_results(p)
                       and not any(in_store(parent) for parent in p.parents)), key=lambda p: p.as_posix())
    return []


def _remote(text: str, reader: ReaderParams) -> list[SiteSource]:
    api_url = reader.dandi_api_url or None
    found = []
    for asset in resolve_remote(text, api_url=api_url, reader=reader):
        source = asset.name if asset.dandiset else asset.url
        stem = nwb_stem(asset.path.split("?", 1)[0]) or asset.asset_id or asset.name
        version = json.dumps({"asset_id": asset.asset_id, "size": asset.size, "digest": dict(asset.digest)},
                             sort_keys=True) if asset.asset_id else _served(asset.url, reader)
        found.append(SiteSource(site=stem, source=source, input=text, version=version))
    return found


def _served(url: str, reader: ReaderParams) -> str:
    """What the server of a plain URL says of its file (size and validator, from a one-byte
    range request), so that a file changed there is run again; one that cannot be asked now
    is never taken for the finished one (its site then fails, naming the cause)."""
    from ..io.stream import RetryingSession, remote_size

    try:
        with RetryingSession.from_params(url, reader) as session:
            size, tag = remote_size(session, url), session.tag
    except Exception:  # a server without range requests (downloaded): its HEAD answer
        try:
            with RetryingSession.from_params(url, reader) as session:
                said = session.head(url, allow_redirects=True)
                session.check()
            size, tag = int(said.headers["Content-Length"]), said.headers.get("ETag") or said.headers.get(
                "Last-Modified", "")
        except Exception:  # said when the site is read
            return json.dumps({"unanswered": time.time_ns()})
    return json.dumps({"served_bytes": size, "validator": tag}, sort_keys=True)


def _expand_one(text: str, reader: ReaderParams) -> list[SiteSource]:
    if is_remote(text):
        return _remote(text, reader)
    files = _local_files(text)
    if not files:
        what = "no NWB file" if Path(text).is_dir() or any(c in text for c in _GLOB_CHARS) else "nothing"
        raise InputError(f"input {text!r} matches {what} (give NWB files, folders, globs or "
                         "DANDI identifiers)")
    # named as the site reader names them: after the file itself, where a link leads
    return [SiteSource(site=nwb_stem(p.resolve()), source=str(p.resolve()), input=text) for p in files]


def _object_id(path: Path) -> str | None:
    """The ``object_id`` an HDF5 NWB file was given when made (kept by copies and renames),
    or None where it cannot be read here (the reader says why when the site runs)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            found = f.attrs.get("object_id")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(found, bytes):
        found = found.decode("utf-8", "replace")
    return found if isinstance(found, str) and found else None


def _warn_copies(sites: Sequence[SiteSource]) -> None:
    """Warn of local files that are one NWB file under two names: the same ``object_id``
    and size (files made from one template and then filled differ in size)."""
    first: dict[tuple[str, int], SiteSource] = {}
    for item in sites:
        path = Path(item.source)
        found = _object_id(path) if item.is_local and path.is_file() else None
        if found is None:
            continue
        oid = (found, path.stat().st_size)
        if oid in first:
            warnings.warn(f"{item.source} and {first[oid].source} are one NWB file (object_id {found}), "
                          "copied or renamed: both run as sites, and a summary counts their units twice; "
                          "name one of them", stacklevel=3)
        else:
            first[oid] = item


def _key(item: SiteSource) -> str:
    if item.is_local:
        return os.path.realpath(item.source)
    return item.source.lower() if item.source.lower().startswith("dandi:") else item.source


def expand_inputs(inputs: Sequence[str | Path], *, reader: ReaderParams | None = None) -> list[SiteSource]:
    """Expand command-line inputs into the sites they name, in order, without duplicates.

    Parameters
    ----------
    inputs : sequence of str or Path
        Files, folders, glob patterns, DANDI identifiers and URLs (see the module notes).
    reader : ReaderParams, optional
        DANDI API URL (``dandi_api_url``) and network parameters of the listings.

    Returns
    -------
    list of SiteSource
        Sites in the order of the inputs (the files of one input sorted by path); a file
        named more than once appears once, where first named.

    Raises
    ------
    InputError
        An input matches no file; the message names it.
    RemoteError
        A DANDI identifier names nothing, or the API cannot be reached.
    ConfigError
        No input at all, or two different files would write the same results file.
    """
    if not inputs:
        raise ConfigError("no input given: name NWB files, folders, globs or DANDI identifiers")
    reader = ReaderParams.of(reader)
    seen: dict[str, SiteSource] = {}
    by_results: dict[str, SiteSource] = {}
    for text in inputs:
        for item in _expand_one(str(text).strip(), reader):
            key = _key(item)
            if key in seen:
                continue
            other = by_results.get(results_path("", item.site).name)
            if other is not None:
                raise ConfigError(
                    f"{other.source} (from {other.input!r}) and {item.source} (from {item.input!r}) "
                    f"are both site {item.site!r} and would write the same results file; "
                    "run them into different output folders"
                )
            seen[key] = by_results[results_path("", item.site).name] = item
    _warn_copies(list(seen.values()))
    return list(seen.values())
