"""The state of every site of a run: from the run's site record, else from its files.

A multi-site run leaves a record of each site's state in ``OUT/summary/sites.json``
(``pipeline.dataset.run_dataset`` writes ``{"started", "updated", "counts", "sites":
[...]}``, one ``SiteStatus`` per site, and ``"earlier"``: the sites of earlier runs into
the folder that the last run left alone). :func:`read_site_record` accepts the shapes such a
record takes: a list of site objects, ``{"sites": [...]}``, or an object keyed by site
name; in each site object the names below are read, the first one present winning:

- site: ``site``, ``name``;
- status: ``status``, ``state``;
- error: ``error``, ``message``, ``reason`` (after ``error_type`` and a colon when the
  record names the exception's class);
- time: ``time_s``, ``seconds``, ``elapsed_s``, ``wall_s``, ``duration_s``, ``time``;
- device: ``device``.

Without a record, every results file in ``OUT`` is a site whose status is ``done``; a
results file that cannot be loaded is ``unreadable``, with the loader's message as error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from ..results.files import SUFFIX, file_stem

__all__ = ["RECORD_NAMES", "read_site_record", "site_states"]

#: File names of a run's site record in ``OUT/summary``, tried in order.
RECORD_NAMES = ("sites.json", "site_states.json", "state.json")

_KEYS = {
    "site": ("site", "name"),
    "status": ("status", "state"),
    "error": ("error", "message", "reason"),
    "time_s": ("time_s", "seconds", "elapsed_s", "wall_s", "duration_s", "time"),
    "device": ("device",),
}


def _pick(record: Mapping[str, Any], field: str) -> Any:
    return next((record[k] for k in _KEYS[field] if record.get(k) is not None), None)


def _time(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_site_record(summary: str | Path) -> dict[str, dict[str, Any]] | None:
    """Site -> ``{status, error, time_s, device}`` from the run's record in ``summary``.

    Returns None when the folder holds no record.

    Raises
    ------
    ResultsError
        The record is not JSON, or not one of the shapes the module docstring lists.
    """
    path = next((Path(summary) / n for n in RECORD_NAMES if (Path(summary) / n).is_file()), None)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: cannot read the site record ({err})") from None
    if isinstance(data, Mapping) and isinstance(data.get("sites"), Sequence | Mapping):
        earlier = data.get("earlier")  # sites of earlier runs into the folder that the last left alone
        data = [*earlier, *data["sites"]] if isinstance(earlier, list) and isinstance(data["sites"], list) \
            else data["sites"]
    if isinstance(data, Mapping):
        data = [{"site": name, **(v if isinstance(v, Mapping) else {"status": v})}
                for name, v in data.items()]
    if not isinstance(data, Sequence) or not all(isinstance(r, Mapping) for r in data):
        raise ResultsError(f"{path}: the site record is not a list of sites or an object "
                           "keyed by site")
    out = {}
    for record in data:
        site = _pick(record, "site")
        if site is None:
            raise ResultsError(f"{path}: a site in the record has no name: {dict(record)}")
        site = file_stem(Path(str(site)).name.removesuffix(SUFFIX))  # as its results file is named
        error = _pick(record, "error")
        if error and record.get("error_type"):
            error = f"{record['error_type']}: {error}"
        out[site] = {"status": str(_pick(record, "status") or ""),
                     "error": "" if error is None else str(error),
                     "time_s": _time(_pick(record, "time_s")),
                     "device": str(_pick(record, "device") or "")}
    return out


def site_states(record: Mapping[str, Mapping[str, Any]] | None,
                loaded: Mapping[str, Mapping[str, Any]], since: float | None = None) -> list[dict[str, Any]]:
    """Rows of ``sites.csv``: every site of the record, then every other results file.

    A site the record calls anything but done or skipped whose results file was written
    after the record (``since``; a site run again alone, for example) is done; one the
    record calls done or skipped whose results file is gone is missing.

    Parameters
    ----------
    record : dict or None
        :func:`read_site_record` output.
    loaded : dict
        Site -> ``{results, n_units, device, error, written}`` of each results file found
        (``error`` non-empty when the file could not be loaded; ``written``, its time).
    since : float, optional
        When the record was written (seconds since the epoch).
    """
    rows = []
    for site in list(record or {}) + sorted(set(loaded) - set(record or {})):
        state = dict((record or {}).get(site, {}))
        found = loaded.get(site, {})
        status = state.get("status") or ("done" if found.get("results") else "missing")
        newer = since is not None and float(found.get("written", 0.0)) > since
        if status not in ("done", "skipped") and found.get("results") and newer:
            status, state["error"] = "done", ""  # made again after the record
        if found.get("error"):
            status, state["error"] = "unreadable", found["error"]
        elif status in ("done", "skipped") and not found.get("results"):
            status, state["error"] = "missing", "the record says done; its results file is not in the folder"
        rows.append({"site": site, "status": status, "error": state.get("error", ""),
                     "time_s": state.get("time_s"),
                     "device": state.get("device") or found.get("device", ""),
                     "n_units": int(found.get("n_units", 0)),
                     "results": found.get("results", "")})
    return rows
