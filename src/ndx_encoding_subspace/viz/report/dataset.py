"""The dataset report: the paper's cross-site figures and statistics of a whole run.

:func:`summarize` is what ``encoding-subspace summarize OUT`` and the end of a multi-site
run call: it writes the tables of :func:`~ndx_encoding_subspace.dataset.summarize_tables`
and ``OUT/summary/report.html``, one self-contained page (inline PNG figures, no
scripts) built with :mod:`.html`. Sections: the sites of the run; LN, CNN and subspace
model over all units; the distribution of k; subspace similarity within against between
sites, by cell type and by depth; response-region size by cell type; nonlinearity
classes by cell type; the columns of the tables.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ...dataset import COLUMNS, DatasetParams, DatasetSummary, summarize_tables
from ...dataset.statistics import (
    CELL_TYPES,
    SHAPES,
    Comparison,
    Group,
    classes_of,
    similarity_selection,
)
from ...dataset.summarize import SUMMARY_FOLDER, check_summary_folder
from ...results.roles import CNN, LN, SUBSPACE
from .. import dataset_plots as plots
from . import ReportParams
from .html import Section, figure_img, page, paragraph, refuse_foreign, table, write_atomic

__all__ = ["summarize", "write_dataset_report", "FIGURES", "REPORT_NAME"]

#: File name of the page in ``OUT/summary``.
REPORT_NAME = "report.html"

#: Caption of each figure of the page, by key.
FIGURES = {
    "scores": "Figure 1: r of the LN and subspace models against the CNN's, every unit of "
              "every site, and the distribution of (r_subspace / r_CNN)^2.",
    "k": "Figure 2: distribution of the subspace dimension k (at the run's threshold, and at 90% "
         "of the variance) over all units, and the median k of each site.",
    "similarity": "Figure 3: subspace similarity of unit pairs within one site against "
                  "pairs from different sites.",
    "similarity_classes": "Figure 4: subspace similarity within and between sites by the "
                          "cell types and by the depths of the two units.",
    "region": "Figure 5: response-region size by cell type: every unit and each site's "
              "median.",
    "classes": "Figure 6: nonlinearity classes of dimension 1 by cell type, and the "
               "|asymmetry index| of dimension 1.",
}

#: Embeds a figure with its caption in the page.
_Draw = Callable[[Figure, str], str]

_GROUP_HEADER = ("value", "group", "n", "sites", "median", "median of site medians")
_TEST_HEADER = ("comparison", "a", "b", "n a", "n b", "median a", "median b", "test",
                "statistic", "p")


def _groups(groups: Sequence[Group], caption: str = "") -> str:
    return table(_GROUP_HEADER, [(g.what, g.group, g.n, g.n_sites, g.median, g.site_median)
                                 for g in groups], caption)


#: what the tests' tables say of their n
_TESTS_CAPTION = ("Sites are what the tests count as independent: n is sites for the tests over "
                  "sites (medians: of the site values), units for the tests whose p-values come from "
                  "permutations of the cell types within sites.")


def _tests(tests: Sequence[Comparison]) -> str:
    return table(_TEST_HEADER, [(c.what, c.a, c.b, c.n_a, c.n_b, c.median_a, c.median_b,
                                 c.test, c.statistic, _p(c.p_value)) for c in tests], _TESTS_CAPTION)


def _p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3g}"


def _sites_section(s: DatasetSummary) -> Section:
    sec = Section("sites", "Sites of the run")
    st = s.sites
    done = int(np.sum(np.isin(st["status"], ("done", "skipped"))))  # skipped: done by an earlier run
    sec.add(paragraph(f"{len(st)} sites, {done} with results; {len(s.units)} units; "
                      f"{len(s.pairs)} unit pairs. Folder: {s.out}"))
    for note in s.notes:
        sec.add(paragraph(f"Note: {note}.", "note"))
    rows = [tuple(st[c][i] for c in ("site", "status", "n_units", "time_s", "device", "error"))
            for i in range(len(st))]
    return sec.add(table(("site", "status", "units", "time (s)", "device", "error"), rows))


def _scores_section(s: DatasetSummary, fig: _Draw) -> Section:
    sec = Section("scores", "LN, CNN and subspace model over all units")
    u, st = s.units, s.statistics
    r = {LN.name: u["r_ln"], CNN.name: u["r_cnn"], SUBSPACE.name: u["r_subspace"]}
    sec.add(fig(plots.dataset_scores(r, u["r2_ratio"]), FIGURES["scores"]))
    sec.add(_groups([g for g in st.groups if g.group == "all units"]))
    sec.add(_tests([c for c in st.comparisons if c.what.startswith("r: ")]))
    return sec.add(paragraph("Paper (medians of site medians): LN r 0.415, CNN r 0.600, "
                             "subspace model r 0.583; median (r_subspace / r_CNN)^2 about "
                             "0.95.", "note"))


def _k_section(s: DatasetSummary, fig: _Draw) -> Section:
    sec = Section("k", "Subspace dimension")
    u, st = s.units, s.statistics
    sec.add(fig(plots.dataset_k(u["k"], u["k90"], u["site"]), FIGURES["k"]))
    sec.add(_groups([g for g in st.groups if g.what in ("k", "k90", "k_significant", "reliability")]))
    return sec.add(_tests([c for c in st.comparisons if c.what.startswith("k:")]))


def _similarity_section(s: DatasetSummary, fig: _Draw) -> Section:
    sec = Section("similarity", "Subspace similarity within and between sites")
    p = s.params
    sel = similarity_selection(s.units, s.pair_a, s.pair_b, s.pairs["similarity"], p)
    same = sel["same_site"]
    sec.add(paragraph(f"Pairs of units whose CNN r is at least {p.min_r:g}"
                      + (", in the same area" if p.same_area else "")
                      + f": {len(same)} of {len(s.pairs)}. Depth classes split at "
                      f"{s.statistics.depth_split_um:.0f} um.", "note"))
    sec.add(fig(plots.similarity_within_between(sel["similarity"][same],
                                                sel["similarity"][~same]),
                FIGURES["similarity"]))
    sec.add(fig(plots.similarity_by_class(sel["similarity"], same,
                                          {"cell type": sel["cell_types"],
                                           "depth": sel["depths"]}),
                FIGURES["similarity_classes"]))
    st = s.statistics
    sec.add(_groups([g for g in st.groups if g.what.startswith("similarity")],
                    "Sites: site pairs; median of site medians: median over site pairs of "
                    "their mean similarity."))
    sec.add(_tests([c for c in st.comparisons if c.what.startswith("similarity")]))
    return sec.add(paragraph("Paper: about 0.55 within sites against 0.35 between sites.",
                             "note"))


def _region_section(s: DatasetSummary, fig: _Draw) -> Section:
    sec = Section("region", "Response-region size by cell type")
    u, st = s.units, s.statistics
    sec.add(fig(plots.region_by_cell_type(u["region_size"], u["cell_type"], u["site"]),
                FIGURES["region"]))
    sec.add(_groups([g for g in st.groups if g.what == "region size"]))
    sec.add(_tests([c for c in st.comparisons if c.what.startswith("region size")]))
    return sec.add(paragraph(f"Narrow-spiking units: {100 * st.narrow_fraction:.0f}% of the "
                             "units with a cell type. Paper: narrow-spiking units have larger "
                             "response regions (about 0.115 against 0.076 of the volume); "
                             "about 17% of units narrow.", "note"))


def _classes_section(s: DatasetSummary, fig: _Draw) -> Section:
    sec = Section("classes", "Nonlinearity classes by cell type")
    u, st = s.units, s.statistics
    ai = {t: np.abs(u["asymmetry_1"][u["cell_type"] == t]) for t in CELL_TYPES}
    sec.add(fig(plots.nonlinearity_classes(classes_of(st), CELL_TYPES, SHAPES, ai),
                FIGURES["classes"]))
    rows = [(t, *(st.classes[t][shape] for shape in SHAPES)) for t in (*CELL_TYPES, "all")]
    sec.add(table(("cell type", *SHAPES), rows, "Units per class of dimension 1."))
    sec.add(_groups([g for g in st.groups if g.what.startswith("|asymmetry")]))
    return sec.add(_tests([c for c in st.comparisons if "asymmetry" in c.what
                           or c.what.startswith("nonlinearity class")]))


def _columns_section() -> Section:
    sec = Section("tables", "Tables")
    sec.add(paragraph("Tidy CSV files next to this page: one row per observation, one "
                      "column per variable; unknown values are empty fields."))
    for name, columns in COLUMNS.items():
        sec.add(table(("column", "meaning"), list(columns.items()), name))
    return sec


def write_dataset_report(summary: DatasetSummary, path: str | Path | None = None, *,
                         params: ReportParams | None = None) -> Path:
    """Write the dataset page of ``summary`` (default ``OUT/summary/report.html``),
    atomically."""
    from ... import __version__

    params = ReportParams.of(params)
    target = refuse_foreign(Path(path) if path is not None else summary.folder / REPORT_NAME)

    def fig(figure: Figure, caption: str) -> str:
        return figure_img(figure, caption, dpi=params.dpi)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # medians of empty groups
        warnings.simplefilter("ignore", UserWarning)  # layout of small figures
        sections = [_sites_section(summary)]
        sections += [build(summary, fig) for build in (_scores_section, _k_section,
                                                       _similarity_section, _region_section,
                                                       _classes_section)]
    sections.append(_columns_section())
    footer = [f"ndx-encoding-subspace {__version__}",
              "Parameters: " + ", ".join(f"{k}={'default' if v is None else v}" for k, v in
                                         summary.params.to_dict().items())]
    title = f"Encoding subspace: dataset summary of {summary.out.name}"
    subtitle = (f"{len(summary.sites)} sites, {len(summary.units)} units. Medians of site "
                "medians; tests count sites as independent (docs/statistics.md).")
    return write_atomic(page(title, subtitle, sections, footer), target)


def summarize(out: str | Path, *, params: DatasetParams | None = None,
              report: ReportParams | None = None, folder: str | Path | None = None) -> DatasetSummary:
    """Summarise a run's folder: the tables and the report in ``OUT/summary/``.

    Parameters
    ----------
    out : str or Path
        Output folder of a run, holding its ``*.results.nwb`` files (and, written by the
        run, ``summary/sites.json``).
    params : DatasetParams, optional
        Which units and pairs enter the statistics.
    report : ReportParams, optional
        Resolution of the figures.
    folder : str or Path, optional
        Where the tables and the report go (default ``OUT/summary``; elsewhere for a
        read-only ``OUT``).

    Returns
    -------
    DatasetSummary
        Tables, statistics and ``files``: ``units.csv``, ``dimensions.csv``,
        ``pairs.csv``, ``sites.csv`` and ``report.html``, each written atomically.
    """
    target = check_summary_folder(Path(out) / SUMMARY_FOLDER if folder is None else folder)
    refuse_foreign(target / REPORT_NAME)  # before any table is written
    summary = summarize_tables(out, params=params, folder=target)
    summary.files[REPORT_NAME] = write_dataset_report(summary, params=report)
    return summary

