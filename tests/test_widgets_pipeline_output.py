"""Every view and the report, built from a results file that ``run_site`` wrote.

The example objects of ``testing.mock`` are written by hand; this module runs the real
pipeline once (a tiny simulated site, tiny models: well under a minute) and checks that
what the writer stores is what the viewers expect: roles labelled and ordered by
``results.roles`` (the CNN shown as CNN), every view drawn, every model named in the
report.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from conftest import TINY_CONFIG
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.run import run_site
from ndx_encoding_subspace.results import MODULE, load_results
from ndx_encoding_subspace.results.roles import CNN, LN, ROLES, SUBSPACE
from ndx_encoding_subspace.viz.report import ReportParams, write_report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The linked table for DynamicTableRegion:UserWarning"),
]

PNG = b"\x89PNG\r\n\x1a\n"
TINY = {**TINY_CONFIG, "compute": {"threads": 1}}
LABELS = [role.label for role in ROLES]


@pytest.fixture(scope="session")
def pipeline_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results file of one tiny simulated site, run once per test session."""
    folder = tmp_path_factory.mktemp("pipeline_output")
    params = SimulationParams.quick(n_units=3, n_estimation_sounds=8, n_validation_sounds=2,
                                    validation_repeats=4, n_lags=8, max_dim=3, seed=3)
    recording = simulate_site(params).write_nwb(folder / "site.nwb")
    result = run_site(recording, folder / "out", PipelineConfig.from_dict(TINY), progress=False)
    return result.path


@pytest.fixture(scope="module")
def module(pipeline_results: Path) -> Iterator[Any]:
    """The results processing module, read from the file."""
    with NWBHDF5IO(str(pipeline_results), "r") as io:
        yield io.read().processing[MODULE]


def _widgets() -> Any:
    if importlib.util.find_spec("nwbwidgets") is None:
        pytest.skip("nwbwidgets (viz extra) not installed")
    from ndx_encoding_subspace.viz import widgets

    return widgets


def test_the_writer_stores_the_roles_of_the_vocabulary(pipeline_results: Path) -> None:
    loaded = load_results(pipeline_results)
    assert list(loaded.collections) == [role.container for role in ROLES]
    for role in ROLES:
        members = loaded.ensemble(role.name).members
        assert members and {m.role for m in members} == {role.name}
    assert loaded.ensemble(CNN.name).description == CNN.description


def test_the_pipeline_stores_reliability_and_k_significant(pipeline_results: Path) -> None:
    loaded = load_results(pipeline_results)
    assert loaded.parameters["subspace"]["reliability_rule"] == "auto"
    for sub in loaded.subspaces:
        assert sub.reliability_rule == "members"  # two jackknife fits
        assert 0.0 <= sub.reliability <= 1.0
        assert sub.dimension_confidence.shape == sub.explained_variance.shape
        assert np.all((sub.dimension_confidence >= 0) & (sub.dimension_confidence <= 1))
        above = sub.explained_variance > sub.noise_floor_variance
        assert sub.k_significant == (above.size if above.all() else int(np.argmin(above)))


def test_score_comparison_labels_and_orders_the_pipeline_roles(module: Any) -> None:
    widgets = _widgets()
    from ndx_encoding_subspace.viz.widgets.scores import ScoreComparisonWidget, collect_scores

    view = ScoreComparisonWidget(module[CNN.container])
    assert view.x_role.options == tuple((role.label, role.name) for role in ROLES)
    assert widgets.CSS_CLASSES["scores"] in view._dom_classes
    assert bytes(view.image.value).startswith(PNG)
    ticks = [t.get_text() for t in view.figure.axes[1].get_xticklabels()]
    assert ticks == LABELS
    assert all(f"{label} " in view.message.value for label in LABELS)
    view.x_role.value, view.y_role.value = LN.name, CNN.name
    assert (view.figure.axes[0].get_xlabel(), view.figure.axes[0].get_ylabel()) == ("LN r",
                                                                                   "CNN r")
    scores = collect_scores(view.collections, "r")
    points = view.figure.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(points, [[scores[LN.name][u], scores[CNN.name][u]]
                                        for u in sorted(scores[CNN.name])])


def test_every_view_draws_the_pipeline_output(module: Any) -> None:
    widgets = _widgets()
    from ndx_encoding_subspace.viz.widgets.scores import ScoresTableWidget, TrainingLogWidget
    from ndx_encoding_subspace.viz.widgets.site import (
        SimilarityWidget,
        SiteFiltersWidget,
        TilingWidget,
    )
    from ndx_encoding_subspace.viz.widgets.ssrf import SSRFWidget
    from ndx_encoding_subspace.viz.widgets.subspace import SpectrogramWidget, SubspaceFiltersWidget

    member = next(iter(module[CNN.container].models.values()))
    views = {
        "subspace": SubspaceFiltersWidget(module["tuning_subspaces"]),
        "ssrf": SSRFWidget(module["subspace_nonlinearities"]),
        "tiling": TilingWidget(module["site_subspace"]),
        "similarity": SimilarityWidget(module["site_subspace"]),
        "site_filters": SiteFiltersWidget(module["site_subspace"]),
        "spectrogram": SpectrogramWidget(module["spectrogram"]),
        "scores": ScoresTableWidget(member.scores),
        "training": TrainingLogWidget(member.training_log),
    }
    for name, view in views.items():
        assert widgets.CSS_CLASSES[name] in view._dom_classes, name
        assert bytes(view.image.value).startswith(PNG), name
    table = module["tuning_subspaces"]
    for row in range(len(table)):
        views["subspace"].unit.value = row
        images = [ax for ax in views["subspace"].figure.axes if ax.images]
        assert len(images) == len(table.get_filters(row)) + 1
    # the stored spectrogram gives the filters a frequency axis in kHz
    assert views["subspace"].figure.axes[0].get_ylabel() == "frequency (kHz)"
    # each unit's reliability, its rule and k above the noise floor; the unreliable flagged
    threshold = json.loads(table.parameters)["reliability_threshold"]
    for row in range(len(table)):
        views["subspace"].unit.value = row
        value = float(table["reliability"].data[row])
        message = views["subspace"].message.value
        assert f"reliability {value:.2f} (members)" in message
        assert f"k significant = {int(table['k_significant'].data[row])}" in message
        flagged = views["subspace"].unit.label.endswith("(unreliable)")
        assert flagged == (value < threshold) == (": unreliable" in message)


def test_nwb2widget_shows_our_views_of_the_pipeline_output(pipeline_results: Path) -> None:
    widgets = _widgets()
    from ndx_encoding_subspace.viz.widgets.scores import ScoreComparisonWidget
    from ndx_encoding_subspace.viz.widgets.ssrf import SSRFWidget

    spec = widgets.neurodata_vis_spec()
    shown = widgets.results_widget(pipeline_results, vis_spec=spec)
    try:
        nwbwidgets = widgets.compat.import_nwbwidgets()
        module = shown.opened.nwbfile.processing[MODULE]
        tabs = nwbwidgets.nwb2widget(module[CNN.container], neurodata_vis_spec=spec)
        assert isinstance(tabs.children[0], ScoreComparisonWidget)
        assert tabs.children[0].x_role.options[1] == (CNN.label, CNN.name)
        tabs = nwbwidgets.nwb2widget(module["subspace_nonlinearities"], neurodata_vis_spec=spec)
        assert isinstance(tabs.children[0], SSRFWidget)
    finally:
        shown.opened.close()


def test_the_report_names_each_model(pipeline_results: Path, tmp_path: Path) -> None:
    out = write_report(pipeline_results, tmp_path / "report.html",
                       params=ReportParams(n_examples=1, dpi=20))
    text = out.read_text(encoding="utf-8")
    # the median table: one row per model, labelled, in role order
    medians = re.search(r"<table><thead><tr><th>model</th>.*?</table>", text).group(0)
    assert re.findall(r"<tr><td>([^<]*)</td>", medians) == LABELS
    examples = re.findall(r"<p>(r LN [^<]*)</p>", text)
    assert len(examples) == 1
    assert all(f"r {label} " in examples[0] for label in LABELS)
    assert f"CCnorm {CNN.label} " in examples[0]
    assert "median (r_subspace / r_CNN)^2 = " in text
    assert SUBSPACE.container in text  # the overview lists the collections by name
    assert "Harper" not in text  # a simulated site names no dataset
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', text)) >= 6
    # the reliability table: one row per unit with its value, rule and status
    loaded = load_results(pipeline_results)
    section = re.search(r'<section id="reliability">.*?</section>', text, re.S).group(0)
    for sub in loaded.subspaces:
        label = f"unit {int(loaded.units['id'][sub.unit_position])}"
        row = re.search(rf"<tr><td>{label}</td>(.*?)</tr>", section).group(1)
        assert f">{sub.reliability:.3f}<" in row and ">members<" in row
        assert f">{sub.k_significant}<" in row
        assert (">unreliable<" in row) == (sub.reliability < 0.5)


def _damaged(pipeline_results: Path, folder: Path, name: str, where: str, value: Any) -> Path:
    """A copy of the pipeline's results with ``where`` (in the results module) set to
    ``value``: a slice assignment when ``value`` is a tuple ``(index, number)``, else a
    replacement of the dataset."""
    import shutil

    import h5py

    path = folder / f"{name}.results.nwb"
    shutil.copyfile(pipeline_results, path)
    with h5py.File(path, "r+") as f:
        key = f"processing/{MODULE}/{where}"
        if isinstance(value, tuple):
            f[key][value[0]] = value[1]
        else:
            attrs = dict(f[key].attrs)
            del f[key]
            f.create_dataset(key, data=value)
            f[key].attrs.update(attrs)
    return path


@pytest.mark.parametrize(("name", "where", "value", "says"), [
    ("reliability_inf", "tuning_subspaces/reliability", (0, np.inf), r"reliability inf is outside \[0, 1\]"),
    ("asymmetry_inf", "subspace_nonlinearities/asymmetry_index", (0, np.inf),
     r"asymmetry_index holds values outside \[-1, 1\]"),
    ("ssrf_edges_inf", "subspace_nonlinearities/ssrf_bin_edges", ((0, 0), np.inf),
     "ssrf_bin_edges hold NaN or infinite values"),
    ("tiling_edges_nan", "site_subspace/tiling_bin_edges", ((0, 1), np.nan),
     "tiling_bin_edges are not finite and increasing"),
    ("similarity_of_two_units", "site_subspace/subspace_similarity", np.eye(2),
     r"subspace_similarity of shape \(2, 2\) for the 3 units of the site"),
    ("region_sizes_of_one_unit", "site_subspace/response_region_size", np.ones(1),
     r"response_region_size of shape \(1,\) for the 3 units"),
])
def test_impossible_values_of_a_real_file_are_refused_and_the_views_say_why(
        pipeline_results: Path, tmp_path: Path, name: str, where: str, value: Any, says: str) -> None:
    """Infinite values where the package writes a range, NaN edges, and per-unit arrays of
    another length are refused by the loader (exit 6 from the command line); the views,
    reading the file with pynwb, show why in place of the figure."""
    from ndx_encoding_subspace.cli import main
    from ndx_encoding_subspace.errors import ResultsError

    path = _damaged(pipeline_results, tmp_path, name, where, value)
    with pytest.raises(ResultsError, match=says):
        load_results(path)
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 6
    if where.startswith("site_subspace"):
        _widgets()
        from ndx_encoding_subspace.viz.widgets.site import SimilarityWidget, TilingWidget

        with NWBHDF5IO(str(path), "r") as io:
            site = io.read().processing[MODULE]["site_subspace"]
            view = TilingWidget(site) if "tiling" in where or "region" in where else SimilarityWidget(site)
            assert bytes(view.image.value).startswith(PNG)
            assert "do not have the shapes or values" in view.message.value


def test_a_similarity_undefined_for_every_pair_still_draws(pipeline_results: Path, tmp_path: Path) -> None:
    path = _damaged(pipeline_results, tmp_path, "all_nan", "site_subspace/subspace_similarity",
                    np.full((3, 3), np.nan))
    load_results(path)  # NaN: similarities not defined, allowed
    _widgets()
    from ndx_encoding_subspace.viz.widgets.site import SimilarityWidget

    with NWBHDF5IO(str(path), "r") as io:
        view = SimilarityWidget(io.read().processing[MODULE]["site_subspace"])
        assert "over 0 pairs" in view.figure.axes[1].get_title()
