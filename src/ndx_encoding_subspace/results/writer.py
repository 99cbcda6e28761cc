"""Writing one site's results into a new, standalone NWB file, atomically.

The file is written to ``.<name>.tmp-<pid>`` in the target's directory, closed, fsynced
and renamed into place with :func:`os.replace`, so a process killed mid-write leaves no
file under the final name. The input is only ever opened for reading. The layout is in
docs/results-layout.md; the objects themselves are built by :mod:`.convert`.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.misc import Units

from ..atomic import atomic_path
from ..data.spectrogram import NYQUIST_RULE
from ..errors import ResultsError
from ..io.open import OpenedNWB, open_nwb
from ..io.reader_params import ReaderParams
from .bundle import SiteResults
from .convert import MODULE, add_results
from .limits import one_line

__all__ = ["write_results", "build_nwbfile", "MODULE", "package_versions"]

_PACKAGES = ("ndx-encoding-subspace", "numpy", "scipy", "torch", "pynwb", "hdmf", "h5py")
_SESSION_FIELDS = ("session_description", "session_start_time", "experimenter",
                   "experiment_description", "session_id", "institution", "lab", "keywords",
                   "related_publications", "protocol")
_SUBJECT_FIELDS = ("age", "description", "genotype", "sex", "species", "subject_id", "weight",
                   "date_of_birth", "strain")


def package_versions() -> dict[str, str]:
    """Installed version of each package the results depend on; this package's own is the
    version of the code that runs (``__version__``), not of whatever distribution of it the
    environment's metadata names (an editable install keeps the version it was installed at;
    a source tree on ``PYTHONPATH`` may have none, or another one installed beside it)."""
    from .. import __version__

    out = {}
    for name in _PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = __version__ if name == "ndx-encoding-subspace" else version(name)
    return out


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray | list | tuple) or hasattr(value, "shape"):
        return [_text(v) for v in np.asarray(value[:]).tolist()]
    return value


def _session_metadata(nwbfile: NWBFile) -> dict[str, Any]:
    """Session fields of the input worth carrying over (None where absent)."""
    meta = {}
    for key in _SESSION_FIELDS:
        value = getattr(nwbfile, key, None)
        if value is not None:
            meta[key] = value if key == "session_start_time" else _text(value)
    subject = getattr(nwbfile, "subject", None)
    if subject is not None:
        fields = {k: _text(getattr(subject, k, None)) for k in _SUBJECT_FIELDS}
        meta["subject"] = Subject(**{k: v for k, v in fields.items() if v is not None})
    return meta


def _units_in(nwbfile: NWBFile, where: str, name: str) -> Any:
    if where in ("", "units"):
        table = nwbfile.units
    else:
        parts = where.strip("/").split("/")
        table = None
        if len(parts) == 3 and parts[0] == "processing":
            module = nwbfile.processing.get(parts[1])
            table = module.data_interfaces.get(parts[2]) if module is not None else None
    if table is None:
        raise ResultsError(f"{name}: no Units table at {where!r} to copy the analysed units from")
    return table


def _copy_units(results: SiteResults, opened: OpenedNWB | None) -> Units:
    """The analysed units, in the site's order, with spike times when the input is given."""
    info = results.site.units
    n = len(info)
    source_units = None
    if opened is not None:
        where = str(results.site.source.get("units", "units"))
        source_units = _units_in(opened.nwbfile, where, opened.name)
        n_source = len(source_units.id)
        if n and int(np.max(info.rows)) >= n_source:
            raise ResultsError(f"{opened.name}: {where} has {n_source} rows; the site's units "
                               f"refer to row {int(np.max(info.rows))}")
    has_wave = source_units is not None and "waveform_mean" in source_units.colnames
    units = Units(
        name="units",
        description=f"The {n} units analysed at site {results.site.name!r}, copied from the "
                    "input file (ids as there; source_row is their row in its Units table).",
        waveform_rate=getattr(source_units, "waveform_rate", None) if has_wave else None,
        waveform_unit=getattr(source_units, "waveform_unit", None) or "volts",
        resolution=getattr(source_units, "resolution", None) if source_units is not None else None,
    )
    columns: dict[str, tuple[str, np.ndarray]] = {
        "source_row": ("Row of the unit in the input file's Units table.", info.rows),
    }
    optional = {
        "depth_um": ("Recording depth, micrometres.", np.asarray(info.depth_um, dtype=float)),
        "area": ("Brain area.", info.area),
        "spike_width_ms": ("Trough-to-peak time of the mean waveform, ms.",
                           np.asarray(info.spike_width_ms, dtype=float)),
        "cell_type": ("Spike-width class: narrow or regular.", info.cell_type),
    }
    for key, (text, values) in optional.items():
        known = (np.isfinite(values) if values.dtype.kind == "f"
                 else np.array([str(v) != "" for v in values], dtype=bool))
        if n and known.any():
            columns[key] = (text, values)
    for key, (text, _) in columns.items():
        units.add_column(name=key, description=text)
    for pos in range(n):
        row: dict[str, Any] = {"id": int(info.ids[pos])}
        for key, (_, values) in columns.items():
            value = values[pos]
            row[key] = str(value) if key in ("area", "cell_type") else value.item()
        if source_units is not None:
            src = int(info.rows[pos])
            row["spike_times"] = np.asarray(source_units["spike_times"][src], dtype=np.float64)
            if has_wave:
                row["waveform_mean"] = np.asarray(source_units["waveform_mean"][src])
        units.add_unit(**row)
    return units


def _check_identity(results: SiteResults, opened: OpenedNWB) -> None:
    expected = results.site.source.get("sha256")
    got = opened.provenance.get("sha256")
    if expected and got and expected != got:
        raise ResultsError(f"{opened.name}: sha256 {got} differs from the file site "
                           f"{results.site.name!r} was read from ({expected})")


def _overrides(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = dict(metadata or {})
    unknown = sorted(set(meta) - {*_SESSION_FIELDS, "subject"})
    if unknown:
        raise ResultsError(f"results metadata: unknown field(s) {unknown}; known: "
                           f"{', '.join((*_SESSION_FIELDS, 'subject'))}")
    subject = meta.get("subject")
    if isinstance(subject, Mapping):
        bad = sorted(set(subject) - set(_SUBJECT_FIELDS))
        if bad:
            raise ResultsError(f"results metadata: unknown subject field(s) {bad}")
        meta["subject"] = Subject(**subject)
    return meta


def build_nwbfile(results: SiteResults, opened: OpenedNWB | None = None,
                  metadata: Mapping[str, Any] | None = None) -> NWBFile:
    """The results file in memory: session metadata, units and the processing module.

    Parameters
    ----------
    results : SiteResults
    opened : OpenedNWB, optional
        The input file: session metadata, subject and spike times are copied from it.
    metadata : mapping, optional
        Session fields (``session_description``, ``experimenter``, ...) and ``subject``
        (a dict of Subject fields) that replace or supply the input's.
    """
    site = results.site
    meta: dict[str, Any] = {}
    input_name = str(site.source.get("name", site.source.get("path", "unknown input")))
    if opened is not None:
        _check_identity(results, opened)
        meta = _session_metadata(opened.nwbfile)
        input_name = opened.name
    meta.update(_overrides(metadata))
    if opened is None:
        warnings.warn(f"results of site {site.name!r}: no input file to copy the units' spike times, the "
                      "subject and the session from (the site was not read from a local file: from "
                      "Python pass write_results(..., source=the input))", UserWarning, stacklevel=3)
    if meta.get("subject") is None:
        warnings.warn(f"results of site {site.name!r}: no subject in the input or metadata; "
                      "nwbinspector reports this as CRITICAL and DANDI needs one (give the input "
                      "file a Subject, or from Python pass write_results(..., metadata={'subject': "
                      "{...}}))", UserWarning, stacklevel=3)
    meta.setdefault("session_description",
                    f"Site {site.name!r} (no input file given: session start is the write time).")
    meta.setdefault("session_start_time", datetime.now(timezone.utc))
    versions = package_versions()
    nwbfile = NWBFile(
        identifier=str(uuid.uuid4()),
        notes=f"Encoding-subspace results of site {site.name!r}, derived from {input_name}. "
              f"Results are in processing/{MODULE}; see its 'provenance' table.",
        was_generated_by=[[k, v] for k, v in versions.items()
                          if k in ("ndx-encoding-subspace", "pynwb", "torch")],
        **meta,
    )
    nwbfile.units = _copy_units(results, opened)
    provenance = {**results.provenance}
    provenance.setdefault("site", site.name)
    provenance.setdefault("input", dict(site.source))
    provenance.setdefault("spectrogram_parameters", {**site.source.get("spectrogram", {}),
                                                     **results.spectrogram_parameters})
    if "spectrogram_scale" in site.source:  # what the reader scaled each channel by: for new sounds
        provenance.setdefault("spectrogram_scale", site.source["spectrogram_scale"])
    provenance.setdefault("spectrogram_rule", NYQUIST_RULE)  # and how a new sound's channels are made
    if opened is not None:
        provenance["input_file"] = opened.provenance
    provenance.setdefault("package_versions", versions)
    provenance["written"] = {"time": datetime.now(timezone.utc).isoformat(),
                             "writer": f"ndx-encoding-subspace "
                                       f"{versions.get('ndx-encoding-subspace', '')}"}
    with warnings.catch_warnings():  # regions are built before their parents exist
        warnings.filterwarnings("ignore", "The linked table for DynamicTableRegion")
        add_results(nwbfile, results, provenance)
    return nwbfile


@contextlib.contextmanager
def _opened(source: Any, reader: ReaderParams | None) -> Iterator[OpenedNWB | None]:
    if source is None:
        yield None
        return
    with open_nwb(source, reader=reader) as opened, opened.reading("units and session metadata"):
        yield opened


def _same_file(a: Path, b: Any) -> bool:
    if b is None or not isinstance(b, str | os.PathLike):
        return False
    with contextlib.suppress(OSError):
        return a.exists() and Path(b).exists() and os.path.samefile(a, b)
    return False


def write_results(
    results: SiteResults, path: str | os.PathLike, *, source: Any = None,
    overwrite: bool = False, metadata: Mapping[str, Any] | None = None, reader: ReaderParams | None = None,
) -> Path:
    """Write one site's results to a new standalone NWB file, atomically.

    Parameters
    ----------
    results : SiteResults
        What the pipeline computed.
    path : str or Path
        The output file; its directory must exist.
    source : str, Path, NWBFile or OpenedNWB, optional
        The input the site was read from (path, URL, ``DANDI:`` id): session metadata,
        subject and the analysed units' spike times and waveforms are copied from it. It
        is opened read-only and never modified. Default: ``site.source["path"]`` when the
        site was read from that local file and it exists. Without any, the units carry the
        site's metadata only (no spike times) and the session start is the write time.
    overwrite : bool
        Replace an existing output file (never the input).
    reader : ReaderParams, optional
        How a remote ``source`` is reached (the run's DANDI API URL, cache, retries).
    metadata : mapping, optional
        Session fields and ``subject`` (dict of Subject fields) that replace or supply
        the input's; a file without subject is written with a warning.

    Returns
    -------
    Path
        ``path``, holding the complete file.

    Raises
    ------
    ResultsError
        The output exists (without ``overwrite``) or is the input, a model cannot be
        described, unknown metadata fields, or parts of the results disagree (the file
        written would not load back: :func:`~.loader.load_results`); the message names the
        file and object.
    """
    path = Path(path)
    if source is None:  # the local file the site was read from (not a DANDI asset's path)
        local = None if results.site.source.get("url") else results.site.source.get("path")
        source = local if local and Path(str(local)).is_absolute() and Path(str(local)).exists() else None
    if _same_file(path, source):
        raise ResultsError(f"{path}: refusing to write results over the input file")
    if path.exists() and not overwrite:
        raise ResultsError(f"{path}: output file exists (pass overwrite=True to replace it)")
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise ResultsError(f"{path}: {path.parent} {what}")
    with atomic_path(path) as tmp:
        with _opened(source, reader) as opened:
            try:
                nwbfile = build_nwbfile(results, opened, metadata)
            except IndexError as err:  # e.g. a subspace's unit_position outside the site's units
                raise ResultsError(f"{path}: not written: {one_line(err)}") from None
            image = _image(nwbfile)
        try:
            with open(tmp, "xb") as handle:  # a full disk is one OSError here, nothing left open
                handle.write(image)
        except OSError as err:
            raise OSError(err.errno, f"{err.strerror} (writing {len(image):,} bytes)", str(path)) from None
        _loads(tmp, path)
    return path


def _image(nwbfile: NWBFile) -> bytes:
    """The bytes of ``nwbfile`` written as HDF5, built in memory: HDF5 failing to write to a
    full disk would leave its objects open, to fail again (and crash) at exit."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The linked table for DynamicTableRegion")
        with h5py.File(buffer, "w") as f, NWBHDF5IO(file=f, mode="w") as writer:
            writer.write(nwbfile, cache_spec=True)
    return buffer.getvalue()


def _loads(tmp: Path, path: Path) -> None:
    """Refuse (before it replaces anything) a file the loader would refuse: results whose
    parts contradict each other are never written."""
    from .loader import load_results

    try:
        load_results(tmp)
    except ResultsError as err:
        raise ResultsError(f"{path}: not written: {str(err).replace(str(tmp), 'the file')}") from None
