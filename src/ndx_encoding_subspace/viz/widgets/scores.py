"""Views of how well models predict: LN / CNN / subspace comparison, scores, loss curves.

Roles are labelled and ordered by :mod:`ndx_encoding_subspace.results.roles` (the
vocabulary the writer stores), so the CNN of a results file (role ``cnn``) shows as CNN.

:class:`ScoreComparisonWidget` (for EncodingModels) gathers every EncodingModels of the
same processing module, averages each unit's score over the models of one role (e.g.
the jackknife members of the CNN ensemble), and plots one role against another per unit,
with the median of each role. :class:`ScoresTableWidget` shows a ModelScoresTable per
output; :class:`TrainingLogWidget` the loss per epoch of a TrainingLog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from ...extension import EncodingModels, ModelScoresTable, TrainingLog
from ...results.roles import role_label, role_order
from ..plotting import draw_identity_scatter, role_colour
from . import CSS_CLASSES, FigureView, unit_labels

__all__ = [
    "ScoreComparisonWidget",
    "ScoresTableWidget",
    "TrainingLogWidget",
    "collect_scores",
    "sibling_collections",
]


def sibling_collections(node: EncodingModels) -> list[EncodingModels]:
    """Every EncodingModels of ``node``'s processing module (``[node]`` without one)."""
    interfaces = getattr(getattr(node, "parent", None), "data_interfaces", None)
    if not interfaces:
        return [node]
    found = [c for c in interfaces.values() if isinstance(c, EncodingModels)]
    return found if node in found else [node, *found]


def collect_scores(
    collections: Sequence[EncodingModels], metric: str = "r"
) -> dict[str, dict[int, float]]:
    """Each role's score per unit, averaged over the models of that role.

    Parameters
    ----------
    collections : sequence of EncodingModels
    metric : str
        Column of the models' ModelScoresTable (``r``, ``ccnorm``, ...).

    Returns
    -------
    dict
        role -> {Units table row -> mean score over the models of that role predicting
        the unit}; models without scores or without ``metric`` are left out, and NaN
        scores are ignored.
    """
    sums: dict[str, dict[int, list[float]]] = {}
    for collection in collections:
        for model in collection.models.values():
            scores = model.scores
            if scores is None or metric not in scores.colnames:
                continue
            values = np.asarray(scores[metric].data[:], dtype=float)
            per_unit = sums.setdefault(model.role, {})
            for unit_row, value in zip(model.unit_rows(), values):
                if np.isfinite(value):
                    per_unit.setdefault(int(unit_row), []).append(float(value))
    return {role: {row: float(np.mean(v)) for row, v in sorted(units.items())}
            for role, units in sums.items()}


def _metrics(collections: Sequence[EncodingModels]) -> list[str]:
    names: list[str] = []
    for collection in collections:
        for model in collection.models.values():
            for name in getattr(model.scores, "colnames", ()):
                if name not in names and name not in ("noise_ceiling", "shuffle_floor"):
                    names.append(name)
    return names or ["r"]


class ScoreComparisonWidget(FigureView):
    """Per-unit scores of one model role against another, and each role's median.

    Parameters
    ----------
    models : EncodingModels
        Any collection of the results; its siblings in the processing module are included.
    neurodata_vis_spec : dict, optional
        Accepted for nwbwidgets; unused.
    """

    css = CSS_CLASSES["scores"]

    def __init__(self, models: EncodingModels, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.collections = sibling_collections(models)
        self.metric = widgets.Dropdown(options=_metrics(self.collections), description="score")
        roles = sorted(collect_scores(self.collections, self.metric.value), key=role_order)
        options = [(role_label(r), r) for r in roles] or [("none", None)]
        self.x_role = widgets.Dropdown(options=options, value=options[0][1], description="x")
        y_default = options[-1][1]
        self.y_role = widgets.Dropdown(options=options, value=y_default, description="y")
        super().__init__([self.metric, self.x_role, self.y_role])
        self.redraw()

    def draw(self) -> Figure:
        metric = self.metric.value
        scores = collect_scores(self.collections, metric)
        roles = sorted(scores, key=role_order)
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        ax_scatter, ax_bars = fig.subplots(1, 2)
        x, y = self.x_role.value, self.y_role.value
        if x in scores and y in scores:
            rows = sorted(set(scores[x]) & set(scores[y]))
            draw_identity_scatter(ax_scatter, np.array([scores[x][r] for r in rows]),
                                  np.array([scores[y][r] for r in rows]),
                                  f"{role_label(x)} {metric}", f"{role_label(y)} {metric}",
                                  role_colour(y))
            ax_scatter.set_title(f"{len(rows)} units", fontsize=9)
        for i, role in enumerate(roles):
            values = np.array(list(scores[role].values()))
            ax_bars.bar(i, np.median(values), color="lightsteelblue")
            ax_bars.plot(np.full(values.size, i), values, "k.", ms=4)
        ax_bars.set_xticks(range(len(roles)))
        ax_bars.set_xticklabels([role_label(r) for r in roles])
        ax_bars.set_ylabel(f"{metric} (bars: median over units)")
        medians = ", ".join(f"{role_label(r)} {np.median(list(scores[r].values())):.3f} "
                            f"({len(scores[r])} units)" for r in roles)
        self.message.value = f"median {metric}: {medians or 'no scores'}"
        return fig


class ScoresTableWidget(FigureView):
    """Scores of every output of one model, with noise ceiling and shuffle floor."""

    css = CSS_CLASSES["scores"]

    def __init__(self, table: ModelScoresTable, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.table = table
        super().__init__()
        self.redraw()

    def draw(self) -> Figure:
        n = len(self.table)
        units = getattr(getattr(self.table, "parent", None), "units", None)
        labels = unit_labels(units) if units is not None else [f"output {i}" for i in range(n)]
        fig = Figure(figsize=(max(5.0, 0.5 * n + 2), 3.4), layout="constrained")
        ax = fig.add_subplot()
        shown = [c for c in ("r", "ccnorm") if c in self.table.colnames]
        width = 0.8 / max(len(shown), 1)
        for j, name in enumerate(shown):
            ax.bar(np.arange(n) + j * width, self.table[name].data[:], width, label=name)
        for name, style in (("noise_ceiling", "k_"), ("shuffle_floor", "r_")):
            if name in self.table.colnames:
                ax.plot(np.arange(n), self.table[name].data[:], style, ms=14, label=name)
        ax.set_xticks(np.arange(n))
        ax.set_xticklabels(labels, rotation=45 if n > 8 else 0, fontsize=8)
        ax.set_ylabel("score")
        ax.legend(fontsize=8)
        return fig


class TrainingLogWidget(FigureView):
    """Training and early-stopping loss per epoch, one panel per stage."""

    css = CSS_CLASSES["training"]

    def __init__(self, log: TrainingLog, neurodata_vis_spec: dict | None = None,
                 **_kwargs: Any) -> None:
        self.training_log = log
        super().__init__()
        self.redraw()

    def draw(self) -> Figure:
        curves = self.training_log.get_loss_curves()
        stages = np.unique(curves["stage"]) if len(self.training_log) else np.array([1])
        fig = Figure(figsize=(4.0 * len(stages), 3.2), layout="constrained")
        for ax, stage in zip(fig.subplots(1, len(stages), squeeze=False)[0], stages):
            members = curves.get("member", np.zeros(len(curves["stage"]), dtype=np.int64))
            for member in np.unique(members):
                mine = (curves["stage"] == stage) & (members == member)
                suffix = f" (member {member})" if "member" in curves else ""
                for name in ("training_loss", "early_stopping_loss"):
                    if name in curves:
                        ax.plot(curves["epoch"][mine], curves[name][mine], label=name + suffix)
            ax.set_title(f"stage {stage}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss")
            ax.legend(fontsize=8)
        return fig
