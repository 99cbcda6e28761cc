"""Whole datasets: the cross-site tables and statistics of a run's results files.

A multi-site run writes one results file per site; this stage reads them all back
(:func:`~ndx_encoding_subspace.results.load_results`) and builds tidy tables of every
unit, every subspace dimension, every pair of units (within and between sites) and every
site, and the paper's cross-site statistics (METHOD.md sections 6-8). The report page
that draws them is :mod:`ndx_encoding_subspace.viz.report.dataset`, whose ``summarize``
writes tables and page together.

Names load on first use (:mod:`.._lazy`): :class:`DatasetParams` without scipy or pynwb.
"""

from .._lazy import attach

__all__ = ["DatasetParams", "DatasetSummary", "DatasetStatistics", "Group", "Comparison",
           "Table", "COLUMNS", "SUMMARY_FOLDER", "build_summary", "summarize_tables",
           "dataset_statistics"]

attach(__name__, {
    "params": ("DatasetParams",),
    "statistics": ("Comparison", "DatasetStatistics", "Group", "dataset_statistics"),
    "summarize": ("SUMMARY_FOLDER", "DatasetSummary", "build_summary", "summarize_tables"),
    "tables": ("COLUMNS", "Table"),
})
