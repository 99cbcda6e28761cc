"""Static HTML report of a results file, with figures in the manner of the paper's.

``encoding-subspace report RESULTS.nwb`` calls :func:`write_report`. The report is one
self-contained HTML file (inline CSS, figures as base64 PNG, no scripts, nothing loaded
from the network), written atomically next to the results file by default. Sections:

1. overview of the file;
2. the method for example units (best CNN r): mean dSTRF, subspace filters, variance
   against the noise floor, SSRF map and tuning curves with asymmetry index;
3. LN, CNN and subspace model scores (scatter plots, medians, (r_subspace / r_CNN)^2);
4. the distribution of the subspace dimension k (at the threshold, at 90% and above
   the noise floor);
5. the reliability of every unit's subspace, its rule, k by significance, and the units
   flagged unreliable;
6. SSRF maps and tuning curves of every unit, and the asymmetry indices;
7. site tiling (response-region sizes and overlaps);
8. subspace similarity within the site;
9. cell type and depth summaries (when the units carry that metadata);
10. provenance (input identity, key parameters, package versions).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import warnings
from pathlib import Path

from ...errors import ConfigError
from ...params import Params, check_range

__all__ = ["write_report", "check_report_target", "ReportParams", "report_path"]


@dataclasses.dataclass(frozen=True)
class ReportParams(Params):
    """How the report is drawn.

    Parameters
    ----------
    n_examples : int
        Example units shown through the whole method (best CNN r first).
    dpi : int
        Resolution of the embedded PNG figures.
    units_per_figure : int
        Units per figure of the SSRF grid.
    """

    n_examples: int = 3
    dpi: int = 80
    units_per_figure: int = 32

    def validate(self) -> None:
        check_range("ReportParams.n_examples", self.n_examples, 0)
        check_range("ReportParams.dpi", self.dpi, 20, 600)
        check_range("ReportParams.units_per_figure", self.units_per_figure, 1)


def report_path(results_path: str | Path) -> Path:
    """Default report location: the results file with ``.html`` in place of ``.nwb``."""
    path = Path(results_path)
    return path.with_suffix(".html") if path.suffix == ".nwb" else path.with_name(
        path.name + ".html")


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def check_report_target(target: Path, overwrite: bool = False) -> Path:
    """The file a report is written to (where a link leads), checked before anything is
    computed for it.

    Raises
    ------
    ConfigError
        ``target`` exists and ``overwrite`` is False, its folder does not exist, or it is a
        folder, an NWB (HDF5) file or any other file but a report of this package.
    PermissionError
        Its folder cannot be written in.
    """
    from .html import refuse_foreign

    target = Path(target)
    if target.is_symlink():
        target = target.resolve()  # the file the link names is the one written
    if target.exists() and not target.is_file() and not target.is_dir():
        raise ConfigError(f"{target}: not a regular file (a device, FIFO or socket); a report is written "
                          "to a file of its own")
    if target.is_dir():
        raise ConfigError(f"{target}: a folder; give the report a file name (e.g. {target / 'report.html'})")
    if target.suffix.lower() == ".nwb" or _is_hdf5(target):
        raise ConfigError(f"{target}: an NWB (HDF5) file; a report is HTML and is never written over one "
                          "(give a name ending in .html)")
    if target.exists() and not overwrite:
        raise ConfigError(f"{target}: report exists; pass overwrite=True to replace it")
    refuse_foreign(target)
    if not target.parent.is_dir():
        what = "is a file, not a folder" if target.parent.exists() else "does not exist"
        raise ConfigError(f"{target}: {target.parent} {what}")
    if not os.access(target.parent, os.W_OK):  # said before the report is made, not after
        raise PermissionError(errno.EACCES, "a folder this process cannot write in (a read-only folder or "
                              "file system): write the report elsewhere (--out)", str(target.parent))
    return target


def write_report(
    results_path: str | Path, out: str | Path | None = None, *, overwrite: bool = False,
    params: ReportParams | None = None,
) -> Path:
    """Write the HTML report of a results file.

    Parameters
    ----------
    results_path : str or Path
        Results NWB file written by :func:`~ndx_encoding_subspace.pipeline.run.run_site`.
    out : str or Path, optional
        The HTML file; default :func:`report_path` (next to the results file).
    overwrite : bool
        Replace an existing report.
    params : ReportParams, optional

    Returns
    -------
    Path
        The report, complete (written to a temporary file, then renamed).

    Raises
    ------
    ResultsError
        The results file is missing or cannot be read; the message names it.
    ConfigError
        ``out`` exists and ``overwrite`` is False, its folder does not exist, or it is a
        folder, an NWB (HDF5) file or any other file but a report of this package (never
        written over, even with ``overwrite``).
    """
    from ... import __version__
    from ...results import load_results
    from .html import page, write_atomic
    from .sections import SECTIONS, ReportData, footer_lines, ssrf_section

    params = ReportParams.of(params)
    target = check_report_target(Path(out) if out is not None else report_path(results_path), overwrite)
    results = load_results(results_path)
    data = ReportData.build(results, params.n_examples, params.dpi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty slices of all-NaN scores
        warnings.simplefilter("ignore", UserWarning)  # layout warnings on tiny figures
        sections = [ssrf_section(data, params.units_per_figure) if build is ssrf_section
                    else build(data) for build in SECTIONS]
    title = f"Encoding subspace report: {results.identifier}"
    subtitle = f"{results.path.name}: {results.session_description}"
    return write_atomic(page(title, subtitle, sections, footer_lines(results, __version__)),
                        target)
