"""The report's section on the reliability of each unit's subspace, and k by significance.

One row per unit: CNN r, k (by the file's ``k_rule``), ``k_significant`` (components above
the shuffle noise floor), the reliability, the rule that measured it and the status
(``reliable`` / ``unreliable`` against the file's ``reliability_threshold``, ``unknown``
for files written before reliability was stored); and a figure of reliability against
CNN r with the threshold drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ...extension.reliability import (
    RELIABLE,
    RULE_SPLIT_HALVES,
    SPLIT_HALVES_CAVEAT,
    UNKNOWN,
    UNRELIABLE,
    reliability_status,
    reliability_threshold_of,
    shown_reliability,
    shown_significant,
)
from ...results.bundle import UnitSubspace
from ...results.roles import CNN
from .html import Section, paragraph, table

if TYPE_CHECKING:  # pragma: no cover
    from .sections import ReportData

__all__ = ["reliability_section", "reliability_figure", "threshold_of", "unit_reliability_text"]

_COLOURS = {RELIABLE: "tab:blue", UNRELIABLE: "tab:red", UNKNOWN: "tab:gray"}


def threshold_of(d: ReportData) -> float:
    """The reliability threshold stored with the file's subspace parameters."""
    return reliability_threshold_of(d.results.parameters.get("subspace"))


def unit_reliability_text(sub: UnitSubspace, threshold: float) -> str:
    """``k significant 3, reliability 0.82 (members): reliable`` for one unit."""
    status = reliability_status(sub.reliability, threshold)
    caveat = f" ({SPLIT_HALVES_CAVEAT})" if sub.reliability_rule == RULE_SPLIT_HALVES else ""
    value = (f"reliability {shown_reliability(sub.reliability, threshold)} ({sub.reliability_rule}): "
             f"{status}{caveat}" if status != UNKNOWN else "reliability unknown")
    significant = shown_significant(sub.significant_count(), sub.noise_floor_variance)
    return f"k significant {significant}, {value}"


def reliability_figure(reliability: np.ndarray, r_cnn: np.ndarray | None, status: list[str],
                       threshold: float) -> Figure:
    """Reliability of every unit against its CNN r (against the unit's position when
    there is no CNN score), coloured by status, with the threshold dashed."""
    fig = Figure(figsize=(4.8, 3.4), layout="constrained")
    ax = fig.add_subplot()
    x = (np.asarray(r_cnn, dtype=float) if r_cnn is not None
         else np.arange(len(reliability), dtype=float))
    for kind, colour in _COLOURS.items():
        mine = np.array([s == kind for s in status], dtype=bool)
        if mine.any():
            y = np.nan_to_num(np.asarray(reliability, dtype=float)[mine], nan=0.0)
            ax.scatter(x[mine], y, s=18, color=colour, label=kind)
    ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:.2f}")
    ax.set_xlabel(f"r {CNN.label}" if r_cnn is not None else "unit position")
    ax.set_ylabel("subspace reliability")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return fig


def reliability_section(d: ReportData) -> Section:
    """Per-unit reliability, its rule and status, k at the threshold and by significance."""
    s = Section("reliability", "Subspace reliability")
    subs = sorted(d.results.subspaces, key=lambda x: x.unit_position)
    if not subs:
        return s.add(paragraph("This results file holds no tuning subspaces.", "note"))
    threshold = threshold_of(d)
    r_cnn = d.r.get(CNN.name)
    values = np.array([float(x.reliability) for x in subs])
    status = [reliability_status(v, threshold) for v in values]
    positions = [x.unit_position for x in subs]
    fraction = d.results.parameters.get("subspace", {}).get("reliability_variance")
    upto = (f" up to {100 * float(fraction):.0f}% of its variance (at most k)"
            if fraction is not None else "")
    s.add(paragraph(
        "How far each unit's tuning subspace stays the same across the CNN ensemble's "
        "members (rule 'members': the mean squared cosine of the principal angles between "
        f"the members' subspaces of the unit's leading components{upto}, over pairs) or, "
        "with a single member, across the two halves of its dSTRF samples "
        "('split_halves'). Units below the threshold "
        f"({threshold:.2f}) are flagged unreliable; k significant counts the components "
        "above the shuffle noise floor."))
    scores = None if r_cnn is None else r_cnn[positions]
    s.add(d.fig(reliability_figure(values, scores, status, threshold),
                "Subspace reliability of every unit against its CNN prediction."))
    rows = [(d.labels[x.unit_position], np.nan if r_cnn is None else float(r_cnn[x.unit_position]),
             x.k, shown_significant(x.significant_count(), x.noise_floor_variance),
             shown_reliability(x.reliability, threshold, 3), x.reliability_rule,
             st) for x, st in zip(subs, status)]
    s.add(table(("unit", f"r {CNN.label}", "k", "k significant", "reliability", "rule",
                 "status"), rows))
    halves = sum(x.reliability_rule == RULE_SPLIT_HALVES for x in subs)
    if halves:
        s.add(paragraph(f"{halves} of {len(subs)} units' reliabilities ('split_halves'): "
                        f"{SPLIT_HALVES_CAVEAT}; fit two ensemble members or more (--ensemble.n_jackknife) "
                        "for the rule 'members'.", "note"))
    counts = {kind: status.count(kind) for kind in (RELIABLE, UNRELIABLE, UNKNOWN)}
    return s.add(paragraph(", ".join(f"{n} {kind}" for kind, n in counts.items() if n) + "."))
