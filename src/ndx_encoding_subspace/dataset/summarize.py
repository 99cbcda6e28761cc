"""The cross-site tables of a run's output folder: read every results file, write CSVs.

:func:`summarize_tables` reads every ``OUT/*.results.nwb`` and writes ``units.csv``,
``dimensions.csv``, ``pairs.csv`` and ``sites.csv`` to ``OUT/summary/`` (each atomically);
the HTML page with the cross-site figures is written over the same
:class:`DatasetSummary` by :func:`ndx_encoding_subspace.viz.report.dataset.summarize`.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ResultsError
from ..params import ADDED_LATER, VOLATILE_NAMES, VOLATILE_SECTIONS
from ..preflight import output_folder, results_folder
from ..results.loader import load_results
from ..results.versions import NewerResultsWarning
from .pairs import pair_indices, pair_similarities, pairs_table
from .params import DatasetParams
from .sites import RECORD_NAMES, read_site_record, site_states
from .statistics import DatasetStatistics, dataset_statistics
from .tables import DIMENSION_COLUMNS, SITE_COLUMNS, UNIT_COLUMNS, Table
from .units import SUFFIX, SiteUnits, site_name, site_units

__all__ = ["DatasetSummary", "summarize_tables", "build_summary", "check_summary_folder", "SUMMARY_FOLDER"]

#: Folder of the summary inside a run's output folder.
SUMMARY_FOLDER = "summary"


@dataclasses.dataclass
class DatasetSummary:
    """The tables and statistics of a run's output folder.

    Attributes
    ----------
    out : Path
        The run's output folder.
    units, dimensions, pairs, sites : Table
        The rows of ``units.csv``, ``dimensions.csv``, ``pairs.csv`` and ``sites.csv``.
    pair_a, pair_b : ndarray of int
        Rows of ``units`` of each pair's units.
    statistics : DatasetStatistics
    params : DatasetParams
    files : dict of str -> Path
        Every file written, by name (``units.csv``, ..., ``report.html``).
    notes : list of str
        What the report says of the pooling: results made with different parameters, sites
        whose spectrograms differ.
    summary_folder : Path, optional
        Where the tables and the report go (default ``OUT/summary``).
    """

    out: Path
    units: Table
    dimensions: Table
    pairs: Table
    sites: Table
    pair_a: np.ndarray
    pair_b: np.ndarray
    statistics: DatasetStatistics
    params: DatasetParams
    files: dict[str, Path] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    summary_folder: Path | None = None

    @property
    def folder(self) -> Path:
        """Where the tables and the report go: ``summary_folder``, else ``OUT/summary``."""
        return self.summary_folder if self.summary_folder is not None else self.out / SUMMARY_FOLDER

    @property
    def unreadable(self) -> list[str]:
        """The results files that could not be read (named in ``sites.csv``)."""
        return [str(name) for name, state in zip(self.sites["results"], self.sites["status"])
                if name and state == "unreadable"]


def check_summary_folder(folder: str | Path) -> Path:
    """The folder a summary is written to, checked before any results file is read: a
    folder, or a path that can become one (made with its parents), that this process can
    write in (:func:`~..preflight.output_folder`).

    Raises
    ------
    FileExistsError, NotADirectoryError
        A file where the folder, or one above it, should be.
    PermissionError
        It cannot be written in (a read-only folder or file system, an archive's mount).
    """
    return output_folder(folder)


def _load_sites(out: Path, params: DatasetParams) -> tuple[list[SiteUnits], dict[str, dict]]:
    found: list[SiteUnits] = []
    loaded: dict[str, dict] = {}
    seen: dict[str, str] = {}  # identifier -> file: each written file has its own
    for path in sorted(out.glob(f"*{SUFFIX}")):
        site = site_name(path)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")  # hdmf's notes on linked tables are not said
                res = load_results(path)
                units = site_units(res, params)
            for said in caught:
                if issubclass(said.category, NewerResultsWarning):
                    warnings.warn(str(said.message), NewerResultsWarning, stacklevel=3)
        except ResultsError as err:
            warnings.warn(f"{err} (left out of the summary)", stacklevel=3)
            loaded[site] = {"results": path.name, "error": str(err), "n_units": 0}
            continue
        if res.identifier in seen:  # a copy: its units would be counted twice, and paired with themselves
            said = (f"the same identifier as {seen[res.identifier]} ({res.identifier}): a copy of it, or a "
                    "file exported or edited from it")
            warnings.warn(f"{path}: {said}; left out of the summary", stacklevel=3)
            loaded[site] = {"results": path.name, "error": said, "n_units": 0}
            continue
        seen[res.identifier] = path.name
        found.append(units)
        loaded[site] = {"results": path.name, "n_units": len(units.units),
                        "device": units.device, "written": path.stat().st_mtime}
    return found, loaded


def _differences(configs: dict[str, dict[str, Any]], shown: int = 3) -> list[str]:
    """The first ``shown`` parameters whose values differ between the sites that record
    them, as ``name: value in sites; value in sites``; a file made before a parameter
    existed records what it did (:data:`~..params.ADDED_LATER`)."""
    flat: dict[str, dict[str, str]] = {}
    for site, config in configs.items():
        for section, table in config.items():
            if section in VOLATILE_SECTIONS or not isinstance(table, dict):
                continue
            earlier = {name: value for (part, name), value in ADDED_LATER.items() if part == section}
            for name, value in {**earlier, **table}.items():  # a file made before: as it was made
                if name not in VOLATILE_NAMES:
                    flat.setdefault(f"{section}.{name}", {})[site] = json.dumps(value, sort_keys=True)
    out = []
    for name, values in flat.items():
        by_value: dict[str, list[str]] = {}
        for site, value in values.items():
            by_value.setdefault(value, []).append(site)
        if len(by_value) > 1:
            out.append(f"{name}: " + "; ".join(f"{v} in {', '.join(s[:3])}{' ...' if len(s) > 3 else ''}"
                                               for v, s in by_value.items()))
    return out[:shown] + ([f"{len(out) - shown} more"] if len(out) > shown else [])


def build_summary(out: str | Path, params: DatasetParams | None = None) -> DatasetSummary:
    """Tables and statistics of every results file in ``out``, in memory.

    Raises
    ------
    ResultsError
        ``out`` is not a folder.
    """
    out = results_folder(out)
    params = DatasetParams.of(params)
    found, loaded = _load_sites(out, params)
    mixed = _differences({s.site: s.config for s in found})
    notes = []
    if mixed:
        notes.append(f"the results files were made with different parameters ({'; '.join(mixed)}): "
                     "their units are pooled in the tables all the same")
        warnings.warn(f"{out}: {notes[-1]}", stacklevel=2)
    units = Table.concat([s.units for s in found], list(UNIT_COLUMNS))
    dimensions = Table.concat([s.dimensions for s in found], list(DIMENSION_COLUMNS))
    axes = [s.axes or None for s in found for _ in s.filters]
    similarity = pair_similarities([f for s in found for f in s.filters], axes=axes)
    paper = pair_similarities([f for s in found for f in s.paper_filters], axes=axes)
    if len({a for a in axes if a is not None}) > 1:
        notes.append("the sites' spectrograms differ (bin size or channel frequencies): subspaces of sites "
                     "whose spectrograms differ are not compared (their pairs' similarity is empty)")
    if short := sum(s.short for s in found):
        notes.append(f"{short} unit(s) keep fewer filters (their k) than {params.paper_variance:.0%} of "
                     "their variance needs (subspace.variance_threshold below it, or k by significance): the "
                     "authors' statistic takes the filters they have")
    a, b = pair_indices(len(units))
    try:
        record = read_site_record(out / SUMMARY_FOLDER)
    except ResultsError as err:  # the results files are tabulated all the same
        warnings.warn(f"{err}: sites.csv lists the results files only", stacklevel=2)
        record = None
    records = [out / SUMMARY_FOLDER / n for n in RECORD_NAMES if (out / SUMMARY_FOLDER / n).is_file()]
    since = records[0].stat().st_mtime if records else None
    rows = site_states(record, loaded, since)
    gone = [r["site"] for r in rows if r["status"] == "missing"]
    if gone:
        more = " ..." if len(gone) > 5 else ""
        warnings.warn(f"{out}: no results file of site(s) {', '.join(gone[:5])}{more} (missing in sites.csv)",
                      stacklevel=2)
    older = [r["site"] for r in rows if r["status"] == "failed" and loaded.get(r["site"], {}).get("n_units")]
    if older:
        more = " ..." if len(older) > 5 else ""
        warnings.warn(f"{out}: the last run of site(s) {', '.join(older[:5])}{more} failed; their results "
                      "files, made by an earlier run (of the input and parameters of then), are pooled all "
                      "the same: run them again, or move those files out of the folder", stacklevel=2)
    sites = Table.from_rows(rows, list(SITE_COLUMNS))
    return DatasetSummary(out, units, dimensions, pairs_table(units, similarity, paper), sites, a, b,
                          dataset_statistics(units, a, b, similarity, params, paper), params, notes=notes)


def summarize_tables(out: str | Path, *, params: DatasetParams | None = None,
                     folder: str | Path | None = None) -> DatasetSummary:
    """Write ``OUT/summary/{units,dimensions,pairs,sites}.csv`` from ``OUT/*.results.nwb``.

    Parameters
    ----------
    out : str or Path
        A run's output folder.
    params : DatasetParams, optional
    folder : str or Path, optional
        Where the tables go (default ``OUT/summary``; elsewhere for a read-only ``OUT``).

    Returns
    -------
    DatasetSummary
        The tables, statistics and the paths written (``files``).
    """
    target = check_summary_folder(Path(out) / SUMMARY_FOLDER if folder is None else folder)
    summary = build_summary(out, params)
    summary.summary_folder = target
    summary.folder.mkdir(parents=True, exist_ok=True)
    tables = (("units.csv", summary.units), ("dimensions.csv", summary.dimensions),
              ("pairs.csv", summary.pairs), ("sites.csv", summary.sites))
    for name, table in tables:  # all checked before any is written
        _refuse_foreign(summary.folder / name, list(table.columns))
    for name, table in tables:
        summary.files[name] = table.write_csv(summary.folder / name)
    return summary


def _refuse_foreign(path: Path, columns: list[str]) -> None:
    """Refuse to write a table over a file that is not one (its first line not our header's
    first columns): a file of the user's in the summary folder is never written over."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            head = handle.readline().rstrip("\r\n").split(",")
    except (OSError, UnicodeDecodeError):
        head = []
    if head[:2] != columns[:2]:
        raise ConfigError(f"{path}: exists and is not a table of this package (its first line is not "
                          f"{','.join(columns[:2])},...); it is never written over (move it, or remove it)")
