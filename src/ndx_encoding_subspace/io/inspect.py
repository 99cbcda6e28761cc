"""What the reader finds in an NWB file, for ``encoding-subspace inspect``.

:func:`inspect_nwb` raises only when the file cannot be opened at all (missing, truncated,
not NWB, network failure); everything else it finds missing or wrong is listed in
:attr:`InspectionReport.problems`, e.g. "no sound stimulus".
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.site import SiteData
from ..data.spectrogram import SpectrogramParams
from ..errors import InputError
from .locate import inventory, locate
from .open import open_nwb
from .reader_params import ReaderParams
from .site_reader import build_site

__all__ = ["InspectionReport", "inspect_nwb"]


@dataclasses.dataclass(frozen=True)
class InspectionReport:
    """What a file holds and what the reader would use.

    Attributes
    ----------
    source : str
        The file as messages name it.
    metadata : dict
        Session and subject fields (identifier, description, start time, species...).
    units : list of dict
        Each Units table: path, unit count, spike count, columns.
    sounds : list of dict
        Each sound-like series: path, type, place (template/continuous), rate, duration.
    presentations : list of dict
        Each table with times (TimeIntervals, or a DynamicTable with an onset column
        anywhere in the file): path, type, rows, columns, onset and stop columns, columns
        that could name sounds.
    use : dict
        What :func:`read_site` would use (empty when it would fail): ``layout`` and
        ``reason`` (why it was chosen), ``units``, ``sounds``, ``table``, ``column``,
        ``presentations``, ``sounds_presented``, ``repeated_sounds``, ``repeats`` (sound ->
        presentations), ``unmatched`` (the first 20 names matching no sound) and
        ``unmatched_count`` (how many), ``notes``, ``unused``
        (every object left unused, ``path (type)``) and ``description``.
    site : dict
        The site's summary counts when it could be built (``check=True``), else empty.
    problems : list of str
        Why the file cannot be used as it is (one message each).
    """

    source: str
    metadata: dict[str, Any]
    units: list[dict[str, Any]]
    sounds: list[dict[str, Any]]
    presentations: list[dict[str, Any]]
    use: dict[str, Any]
    site: dict[str, Any]
    problems: list[str]

    @property
    def usable(self) -> bool:
        """Whether a site can be read from the file."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dictionary."""
        return dataclasses.asdict(self)

    def format(self) -> str:
        """Readable multi-line text."""
        lines = [f"file: {self.source}"]
        for key, value in self.metadata.items():
            lines.append(f"  {key}: {value}")
        lines.append(f"units tables: {len(self.units) or 'none'}")
        for u in self.units:
            lines.append(
                f"  {u['path']}: {u['units']} units, {u['spikes']} spikes; columns {', '.join(u['columns'])}"
            )
        lines.append(f"sound series: {len(self.sounds) or 'none'}")
        for s in self.sounds:
            rate = f"{s['rate']:g} Hz" if s["rate"] else "no sample rate"
            dur = f", {s['duration_s']:.3f} s" if s["duration_s"] else ""
            dur += f", {s['channels']} channels" if s["channels"] > 1 else ""
            lines.append(f"  {s['path']} ({s['type']}, {s['place']}, {rate}{dur})")
        lines.append(f"tables with times: {len(self.presentations) or 'none'}")
        for t in self.presentations:
            named = f"; sound columns {', '.join(t['sound_columns'])}" if t["sound_columns"] else ""
            kind = "" if t.get("type", "TimeIntervals") == "TimeIntervals" else f" ({t['type']})"
            lines.append(
                f"  {t['path']}{kind}: {t['rows']} rows; columns {', '.join(t['columns'])}{named}"
            )
        if self.use:
            lines.extend(_use_lines(self.use))
        for key, value in self.site.items():
            lines.append(f"  {key}: {value}")
        if self.problems:
            lines.append("problems:")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("usable: yes")
        return "\n".join(lines)


def _metadata(nwbfile: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "identifier": str(nwbfile.identifier),
        "session_description": str(nwbfile.session_description),
        "session_start_time": str(nwbfile.session_start_time),
    }
    for key in ("institution", "lab", "experiment_description"):
        value = getattr(nwbfile, key, None)
        if value:
            out[key] = str(value)
    subject = nwbfile.subject
    if subject is not None:
        for key in ("subject_id", "species", "age", "sex"):
            value = getattr(subject, key, None)
            if value:
                out[f"subject_{key}"] = str(value)
    return out


def _units_summary(path: str, units: Any) -> dict[str, Any]:
    spikes = 0
    if "spike_times" in units.colnames:
        spikes = int(len(units["spike_times"].target)) if hasattr(units["spike_times"], "target") else 0
    return {"path": path, "units": len(units), "spikes": spikes, "columns": list(units.colnames)}


def inspect_nwb(
    source: Any,
    *,
    reader: ReaderParams | None = None,
    check: bool = False,
    spectrogram: SpectrogramParams | None = None,
    validate: Callable[[SiteData], list[str]] | None = None,
) -> InspectionReport:
    """Describe what the reader finds in ``source`` and what it would use.

    Parameters
    ----------
    source : str, Path, NWBFile or OpenedNWB
        As for :func:`read_site`.
    reader : ReaderParams, optional
        Overrides, as for :func:`read_site`.
    check : bool
        Also build the site (reads every sound and computes the spectrograms) and report
        its summary. Without it only the layout is detected: the tables' name, time and
        flag columns are read, and no sound is read except where the ``series`` layout
        compares waveforms of the same shape (their first samples, then the whole
        waveform of those whose first samples are equal).
    spectrogram : SpectrogramParams, optional
        Used with ``check``.
    validate : callable, optional
        With ``check``: further problems of the built site (``run`` passes the checks it
        makes before any computation, :func:`~ndx_encoding_subspace.pipeline.checks.site_problems`).

    Raises
    ------
    NotNWBError, RemoteError, AmbiguousInputError
        When the file cannot be opened.
    """
    reader = ReaderParams.of(reader)
    try:
        with open_nwb(source, reader=reader) as opened, opened.reading("the file's layout"):
            nwbfile = opened.nwbfile
            inv = inventory(nwbfile, reader)
            problems: list[str] = []
            use: dict[str, Any] = {}
            site: dict[str, Any] = {}
            try:
                layout = locate(nwbfile, opened.name, reader)
            except InputError as err:
                problems.append(str(err))
            else:
                use = _use(layout)
                if check:
                    site, site_problems = _site_summary(opened, reader, spectrogram, validate)
                    problems.extend(site_problems)
            return InspectionReport(
                source=opened.name,
                metadata=_metadata(nwbfile),
                units=[_units_summary(p, u) for p, u in inv.units],
                sounds=[_sound_summary(s) for s in (*inv.templates, *inv.continuous)],
                presentations=[_table_summary(t) for t in inv.tables],
                use=use,
                site=site,
                problems=problems,
            )
    finally:
        gc.collect()  # as read_site does: hdmf's reference cycles freed in this thread


def _use(layout: Any) -> dict[str, Any]:
    """What the reader would use: the layout's provenance, its description, how many
    sounds are presented (and repeated), and every object left unused."""
    use = {**layout.provenance(), "description": layout.describe()}
    repeats: dict[str, int] = layout.repeats()
    use["sounds_presented"] = len(repeats)
    use["repeated_sounds"] = int(np.sum(np.array(list(repeats.values())) >= 2))
    use["repeats"] = repeats
    use["unused"] = list(layout.unused)
    return use


def _use_lines(use: dict[str, Any]) -> list[str]:
    """The ``use`` part of :meth:`InspectionReport.format`."""
    repeats: dict[str, int] = use.get("repeats", {})
    again = [f"{s} x{n}" for s, n in repeats.items() if n >= 2]
    once = sum(1 for n in repeats.values() if n < 2)
    where = f"{use['table']} column {use['column']!r}" if use.get("column") else use.get("table")
    where = where or ("fixed segments" if use["layout"] == "segments" else "the series' own starting times")
    lines = [
        f"would use: {use['layout']} layout",
        f"  why: {use.get('reason', '')}",
        f"  units: {use['units']}",
        f"  sounds from: {_short(use['sounds'])}",
        f"  presentations: {use['presentations']} of {use['sounds_presented']} sounds, from {where}",
        f"  repeats: {once} sounds presented once; {len(again)} repeated"
        + (f": {_short(again, 20)}" if again else ""),
    ]
    lines.extend(f"  note: {n}" for n in use.get("notes", []))
    if use.get("unmatched"):
        count = use.get("unmatched_count", len(use["unmatched"]))
        more = f" and {count - len(use['unmatched'])} more" if count > len(use["unmatched"]) else ""
        lines.append(f"  names matching no sound ({count}): {', '.join(use['unmatched'])}{more}")
    unused = use.get("unused", [])
    lines.append(f"  left unused: {len(unused) or 'nothing'}")
    lines.extend(f"    {u}" for u in unused)
    return lines


def _short(items: list[str], shown: int = 6) -> str:
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _site_summary(opened: Any, reader: ReaderParams, spectrogram: SpectrogramParams | None,
                  validate: Callable[[SiteData], list[str]] | None = None,
                  ) -> tuple[dict[str, Any], list[str]]:
    """The built site's summary and its problems, or no summary and why the site could
    not be built."""
    try:
        data = build_site(opened, reader=reader, spectrogram_params=spectrogram)
    except InputError as err:
        return {}, [str(err)]
    return data.summary(), validate(data) if validate else []


def _sound_summary(s: Any) -> dict[str, Any]:
    return {
        "path": s.path,
        "name": s.name,
        "type": s.neurodata_type,
        "place": s.place,
        "rate": s.rate,
        "duration_s": s.duration,
        "channels": s.n_channels,
    }


def _table_summary(t: Any) -> dict[str, Any]:
    return {
        "path": t.path,
        "type": t.neurodata_type,
        "rows": t.rows,
        "columns": list(t.columns),
        "onset": t.onset,
        "stop": t.stop,
        "duration": t.duration,
        "sound_columns": list(t.sound_columns),
    }
