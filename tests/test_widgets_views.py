"""nwbwidgets views of the extension's types: what they draw, and their registration."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("nwbwidgets") is None:
    pytest.skip("nwbwidgets (viz extra) not installed", allow_module_level=True)

import ipywidgets  # noqa: E402
from pynwb import NWBHDF5IO  # noqa: E402

from ndx_encoding_subspace import (  # noqa: E402
    EncodingModel,
    EncodingModels,
    ModelScoresTable,
    SiteSubspace,
    SpectrogramSeries,
    SubspaceNonlinearityTable,
    TrainingLog,
    TuningSubspaceTable,
)
from ndx_encoding_subspace.testing.mock import (  # noqa: E402
    mock_encoding_model,
    mock_results_nwbfile,
    mock_units,
)
from ndx_encoding_subspace.viz.widgets import (  # noqa: E402
    CSS_CLASSES,
    neurodata_vis_spec,
    register_widgets,
    results_widget,
)
from ndx_encoding_subspace.viz.widgets.compat import import_nwbwidgets  # noqa: E402
from ndx_encoding_subspace.viz.widgets.scores import (  # noqa: E402
    ScoreComparisonWidget,
    ScoresTableWidget,
    TrainingLogWidget,
    collect_scores,
)
from ndx_encoding_subspace.viz.widgets.site import (  # noqa: E402
    SimilarityWidget,
    SiteFiltersWidget,
    TilingWidget,
)
from ndx_encoding_subspace.viz.widgets.ssrf import SSRFWidget  # noqa: E402
from ndx_encoding_subspace.viz.widgets.subspace import (  # noqa: E402
    SpectrogramWidget,
    SubspaceFiltersWidget,
)

PNG = b"\x89PNG\r\n\x1a\n"
OUR_TYPES = (EncodingModel, TuningSubspaceTable, SubspaceNonlinearityTable, EncodingModels, ModelScoresTable,
             TrainingLog, SiteSubspace, SpectrogramSeries)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("views") / "results.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(mock_results_nwbfile())
    return path


@pytest.fixture(scope="module", params=["memory", "hdf5"])
def module(request: pytest.FixtureRequest, written: Path) -> Iterator:
    """The results processing module, in memory or read back from HDF5."""
    if request.param == "memory":
        yield mock_results_nwbfile().processing["encoding_subspace"]
        return
    io = NWBHDF5IO(str(written), "r")
    try:
        yield io.read().processing["encoding_subspace"]
    finally:
        io.close()


def _images(fig) -> list[np.ndarray]:
    return [np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images]


def _shows_png(view: ipywidgets.Widget, css: str) -> None:
    assert css in view._dom_classes
    assert bytes(view.image.value).startswith(PNG)


def test_subspace_view_shows_mean_and_filters_of_the_chosen_unit(module):
    table = module["tuning_subspaces"]
    view = SubspaceFiltersWidget(table)
    _shows_png(view, CSS_CLASSES["subspace"])
    for row in range(len(table)):
        view.unit.value = row
        filters = table.get_filters(row)
        shown = _images(view.figure)
        assert len(shown) == len(filters) + 1
        np.testing.assert_allclose(shown[0], table.get_mean_dstrf(row), rtol=1e-6)
        np.testing.assert_allclose(np.stack(shown[1:]), filters, rtol=1e-6)
        # the mean dSTRF on its own colour scale, the filters on theirs (else they draw blank)
        limits = [ax.images[0].get_clim() for ax in view.figure.axes if ax.images]
        np.testing.assert_allclose(limits[0], np.array([-1, 1]) * np.abs(shown[0]).max(), rtol=1e-6)
        for clim in limits[1:]:
            np.testing.assert_allclose(clim, np.array([-1, 1]) * np.abs(filters).max(), rtol=1e-6)
        variance, confidence = table.get_explained_variance(row), table.get_dimension_confidence(row)
        titles = [ax.get_title() for ax in view.figure.axes if ax.images][1:]
        assert titles == [f"filter {j + 1}: {100 * variance[j]:.1f}% var"
                          + (f", conf {confidence[j]:.2f}" if np.isfinite(confidence[j]) else "")
                          for j in range(len(filters))]
        assert f"k = {len(filters)} filters" in view.message.value
    # frequencies found through the source models' spectrogram (kHz tick labels)
    freqs = module["spectrogram"].frequencies[:]
    first = view.figure.axes[0]
    assert first.get_yticklabels()[0].get_text() == f"{freqs[0] / 1000:.2g}"
    assert first.get_xlabel() == "lag (ms)"


def test_ssrf_view_maps_curves_and_asymmetry(module):
    table = module["subspace_nonlinearities"]
    view = SSRFWidget(table)
    _shows_png(view, CSS_CLASSES["ssrf"])
    assert view.unit.value == 1  # the first unit with a map (k = 2)
    assert len(view.figure.axes) == 2 + 2 + 2  # mean, count (+ colour bars), two curves
    view.unit.value = 2  # k = 3: two maps
    assert [label for label, _ in view.pair.options] == ["dim 1 x dim 2", "dim 1 x dim 3"]
    view.pair.value = 1
    ssrf = table.get_ssrf(2)
    mesh = view.figure.axes[0].collections[0]
    expected = np.ma.masked_where(ssrf["count"][1] < table.min_count, ssrf["mean"][1])
    shown = mesh.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown).ravel(),
                                  np.ma.getmaskarray(expected).ravel())
    np.testing.assert_allclose(shown.compressed(), expected.compressed())
    # the 1-D curves: one errorbar per dimension with the stored mean and sem
    tuning = table.get_tuning_curves(2)
    curves = [ax for ax in view.figure.axes if ax.get_title().startswith("dim ")]
    assert len(curves) == 3
    for d, ax in enumerate(curves):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), tuning["mean"][d])
        edges = tuning["bin_edges"][d]
        np.testing.assert_allclose(ax.lines[0].get_xdata(), (edges[:-1] + edges[1:]) / 2)
        assert f"AI = {table.get_asymmetry_index(2)[d]:+.2f}" in ax.get_title()
    for value in table.get_asymmetry_index(2):
        assert f"{value:+.2f}" in view.message.value
    view.unit.value = 0  # k = 1: no map, one curve
    assert view.pair.label == "none (k = 1)"
    assert not any(ax.collections and ax.get_title().startswith("SSRF")
                   for ax in view.figure.axes)
    assert len(view.figure.axes) == 1


def _scores_reference(collections, metric):
    out: dict[str, dict[int, list[float]]] = {}
    for collection in collections:
        for name in collection.models:
            model = collection.models[name]
            rows = list(model.units.data[:])
            for i, row in enumerate(rows):
                value = float(model.scores[metric].data[i])
                out.setdefault(model.role, {}).setdefault(int(row), []).append(value)
    return {role: {row: sum(v) / len(v) for row, v in units.items()} for role, units in out.items()}


@pytest.mark.parametrize("metric", ["r", "ccnorm"])
def test_collect_scores_matches_reference(module, metric):
    collections = [module["population_cnn"], module["subspace_models"]]
    got = collect_scores(collections, metric)
    want = _scores_reference(collections, metric)
    assert got.keys() == want.keys() == {"cnn", "subspace_nonlinearity"}
    for role in want:
        assert got[role].keys() == want[role].keys()
        np.testing.assert_allclose([got[role][r] for r in sorted(want[role])],
                                   [want[role][r] for r in sorted(want[role])])


def test_score_comparison_plots_roles_against_each_other(module):
    view = ScoreComparisonWidget(module["population_cnn"])
    _shows_png(view, CSS_CLASSES["scores"])
    # siblings in the processing module are gathered: both roles are offered, labelled
    assert view.x_role.options == (("CNN", "cnn"), ("subspace", "subspace_nonlinearity"))
    view.x_role.value, view.y_role.value = "cnn", "subspace_nonlinearity"
    view.metric.value = "ccnorm"
    scores = collect_scores(view.collections, "ccnorm")
    points = view.figure.axes[0].collections[0].get_offsets()
    rows = sorted(scores["cnn"])
    np.testing.assert_allclose(points, [[scores["cnn"][r],
                                         scores["subspace_nonlinearity"][r]] for r in rows])
    assert view.figure.axes[0].get_xlabel() == "CNN ccnorm"
    medians = [p.get_height() for p in view.figure.axes[1].patches]
    np.testing.assert_allclose(medians, [np.median(list(scores[r].values()))
                                         for r in ("cnn", "subspace_nonlinearity")])
    assert [t.get_text() for t in view.figure.axes[1].get_xticklabels()] == ["CNN", "subspace"]


def test_score_comparison_reads_role_population_cnn_as_the_cnn():
    """Example files of release 0.1.0 stored the CNN's role as ``population_cnn``."""
    units = mock_units()
    models = [mock_encoding_model(units=units, name="old", role="population_cnn"),
              mock_encoding_model(units=units, name="ln", role="ln")]
    view = ScoreComparisonWidget(EncodingModels(name="population_cnn", description="d",
                                                models=models))
    assert view.x_role.options == (("LN", "ln"), ("CNN", "population_cnn"))


def test_site_views_show_the_stored_matrices(module):
    site = module["site_subspace"]
    tiling = TilingWidget(site)
    _shows_png(tiling, CSS_CLASSES["tiling"])
    heights = [p.get_height() for p in tiling.figure.axes[0].patches]
    np.testing.assert_allclose(heights, site.response_region_size[:])
    np.testing.assert_allclose(_images(tiling.figure)[0], site.region_overlap[:])
    tiling.unit.value = 1
    region = site.get_response_region(1).any(axis=2)
    region_mesh = tiling.figure.axes[-2].collections[0].get_array()
    np.testing.assert_array_equal(np.asarray(region_mesh).reshape(region.shape), region)

    similarity = SimilarityWidget(site)
    _shows_png(similarity, CSS_CLASSES["similarity"])
    np.testing.assert_allclose(_images(similarity.figure)[0], site.subspace_similarity[:])
    assert site.similarity_measure in similarity.message.value

    filters = SiteFiltersWidget(site)
    _shows_png(filters, CSS_CLASSES["site_filters"])
    np.testing.assert_allclose(np.stack(_images(filters.figure)), site.get_filters(), rtol=1e-6)


def test_model_scores_training_and_spectrogram_views(module):
    model = module["population_cnn"].models["cnn_jk0_init0"]
    table = ScoresTableWidget(model.scores)
    _shows_png(table, CSS_CLASSES["scores"])
    r_bars = [p.get_height() for p in table.figure.axes[0].patches][: len(model.scores)]
    np.testing.assert_allclose(r_bars, model.scores["r"].data[:])
    log = TrainingLogWidget(model.training_log)
    _shows_png(log, CSS_CLASSES["training"])
    np.testing.assert_allclose(log.figure.axes[0].lines[0].get_ydata(),
                               model.training_log["training_loss"].data[:])
    spectrogram = SpectrogramWidget(module["spectrogram"])
    _shows_png(spectrogram, CSS_CLASSES["spectrogram"])
    np.testing.assert_allclose(_images(spectrogram.figure)[0],
                               np.asarray(module["spectrogram"].data[:]).T, rtol=1e-6)


def test_register_widgets_maps_our_types_into_the_given_spec():
    nwbwidgets = import_nwbwidgets()
    generic = dict(nwbwidgets.default_neurodata_vis_spec)
    mine = dict(generic)
    assert register_widgets(mine) is mine
    for cls in OUR_TYPES:
        assert cls in mine and cls not in generic
    assert list(mine[SubspaceNonlinearityTable])[0] == "SSRF"
    assert mine[SubspaceNonlinearityTable]["SSRF"] is SSRFWidget
    assert mine[TuningSubspaceTable]["Subspace filters"] is SubspaceFiltersWidget
    assert list(mine[SiteSubspace]) == ["Tiling", "Similarity", "Site filters"]
    # a fresh spec leaves nwbwidgets' default alone
    assert SSRFWidget in neurodata_vis_spec()[SubspaceNonlinearityTable].values()
    assert nwbwidgets.default_neurodata_vis_spec.keys() == generic.keys()


def test_register_widgets_default_changes_nwbwidgets_default():
    nwbwidgets = import_nwbwidgets()
    default = nwbwidgets.default_neurodata_vis_spec
    saved = dict(default)
    try:
        assert register_widgets() is default
        table = mock_results_nwbfile().processing["encoding_subspace"]["subspace_nonlinearities"]
        shown = nwbwidgets.nwb2widget(table)  # the plain call now uses our view
        assert isinstance(shown.children[0], SSRFWidget)
    finally:
        default.clear()
        default.update(saved)


# nwbwidgets' Units views are slow and not ours; one model of each collection is enough
_REPEATED_MODELS = {"cnn_jk1_init0", "unit_1", "unit_2"}


def _expand(widget: ipywidgets.Widget, found: list, skipped: list, depth: int = 0) -> None:
    """Open every tab and accordion (nwbwidgets builds their content lazily).

    nwbwidgets' own views of core types may fail on this small file (e.g. its Units
    views without trials); those are recorded in ``skipped``. A failure raised from
    this package's code is raised.
    """
    found.append(widget)
    if depth > 12:
        return
    if isinstance(widget, (ipywidgets.Tab, ipywidgets.Accordion)):
        for i in range(len(widget.children)):
            title = widget.titles[i] if i < len(widget.titles) else str(i)
            if title.startswith("units") or title.split(":")[0] in _REPEATED_MODELS:
                continue
            try:
                widget.selected_index = i
            except Exception as err:
                frames = traceback.extract_tb(err.__traceback__)
                if any(f"{os.sep}ndx_encoding_subspace{os.sep}" in f.filename for f in frames):
                    raise
                skipped.append((title, repr(err)))
    for child in getattr(widget, "children", ()):
        _expand(child, found, skipped, depth + 1)


def test_nwb2widget_uses_our_views_instead_of_generic_ones(written):
    nwbwidgets = import_nwbwidgets()
    nwbfile = mock_results_nwbfile()
    ours: list = []
    _expand(results_widget(nwbfile), ours, [])
    view_types = (SubspaceFiltersWidget, SSRFWidget, ScoreComparisonWidget, TilingWidget,
                  SpectrogramWidget, ScoresTableWidget, TrainingLogWidget)
    for cls in view_types:
        assert any(isinstance(w, cls) for w in ours), cls.__name__
    # nwbwidgets' default spec shows the same objects with its generic views
    generic = dict(nwbwidgets.default_neurodata_vis_spec)
    for name, obj in nwbfile.processing["encoding_subspace"].data_interfaces.items():
        shown: list = []
        _expand(nwbwidgets.nwb2widget(obj, neurodata_vis_spec=generic), shown, [], depth=10)
        assert not any(isinstance(w, view_types) for w in shown), name
    # from a path: the file is opened, and kept open by the widget
    from_path = results_widget(written)
    try:
        assert from_path.opened is not None
        assert from_path.opened.nwbfile.processing["encoding_subspace"]
        assert "ndx-es-results" in from_path._dom_classes
    finally:
        from_path.opened.close()


def test_a_file_linking_to_another_is_refused_from_a_path_as_the_loader_does(written, tmp_path):
    import shutil

    import h5py

    from ndx_encoding_subspace.errors import ResultsError

    linked = tmp_path / "linked.results.nwb"
    shutil.copyfile(written, linked)
    with h5py.File(linked, "r+") as f:
        f["processing/encoding_subspace/elsewhere"] = h5py.ExternalLink("/etc/hostname", "/")
    with pytest.raises(ResultsError, match="elsewhere: link to another file"):
        results_widget(linked)


def test_a_stored_reliability_threshold_outside_0_1_shows_the_default():
    from ndx_encoding_subspace.extension.reliability import (
        DEFAULT_RELIABILITY_THRESHOLD,
        reliability_threshold_of,
    )

    for bad in (float("nan"), -0.5, 7.0, "x", None):
        assert reliability_threshold_of({"reliability_threshold": bad}) == DEFAULT_RELIABILITY_THRESHOLD
    assert reliability_threshold_of({"reliability_threshold": 0.8}) == 0.8


def test_importing_the_package_stays_light():
    code = ("import sys, ndx_encoding_subspace, ndx_encoding_subspace.results.roles, "
            "ndx_encoding_subspace.viz.widgets as w; "
            "heavy = [m for m in ('nwbwidgets', 'ipywidgets', 'matplotlib', 'torch') "
            "if m in sys.modules]; "
            "print(heavy); assert not heavy; assert callable(w.register_widgets)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_importing_the_widgets_module_is_enough_for_nwb2widget(written):
    """``import ndx_encoding_subspace.widgets``: shim installed, views registered, vis_spec."""
    names = ", ".join(cls.__name__ for cls in OUR_TYPES)
    code = f"""
import sys
import ndx_encoding_subspace.widgets as w
assert sys.modules["ndx_icephys_meta"].__ndx_encoding_subspace_shim__
from nwbwidgets import default_neurodata_vis_spec, nwb2widget
from pynwb import NWBHDF5IO
from ndx_encoding_subspace import {names}
from ndx_encoding_subspace.viz.widgets.ssrf import SSRFWidget
assert set(w.vis_spec) == {{{names}}}, w.vis_spec
assert all(default_neurodata_vis_spec[t] is v for t, v in w.vis_spec.items())
assert w.vis_spec[SubspaceNonlinearityTable]["SSRF"] is SSRFWidget
with NWBHDF5IO({str(written)!r}, "r") as io:
    table = io.read().processing["encoding_subspace"]["subspace_nonlinearities"]
    shown = nwb2widget(table)
    assert isinstance(shown.children[0], SSRFWidget), shown.children
print("registered")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "registered" in proc.stdout


def _tampered(written: Path, tmp_path: Path, change) -> Path:
    import shutil

    import h5py

    path = tmp_path / "tampered.results.nwb"
    shutil.copyfile(written, path)
    with h5py.File(path, "r+") as f:
        change(f["processing/encoding_subspace"])
    return path


def _set(where: str, row: int, value: float):
    def change(module) -> None:
        module[where][row] = value
    return change


def _wide_reliability(module) -> None:
    table = module["tuning_subspaces"]
    values, attrs = np.asarray(table["reliability"][:]), dict(table["reliability"].attrs)
    del table["reliability"]
    table.create_dataset("reliability", data=np.stack([values, values], axis=1)).attrs.update(attrs)


@pytest.mark.parametrize(("change", "said"), [
    (_set("tuning_subspaces/k", 0, 50), "k is 50 where the row holds 1 filters"),
    (_set("tuning_subspaces/k_significant", 0, -3), "k_significant is -3"),
    (_set("tuning_subspaces/reliability", 0, np.inf), "reliability inf is outside"),
    (_wide_reliability, "column 'reliability' of shape"),
])
def test_a_subspace_the_loader_refuses_is_refused_in_its_view_too(written, tmp_path, change, said):
    from ndx_encoding_subspace.errors import ResultsError
    from ndx_encoding_subspace.results import load_results

    path = _tampered(written, tmp_path, change)
    with pytest.raises(ResultsError, match=said):
        load_results(path)
    with NWBHDF5IO(str(path), "r") as io:
        view = SubspaceFiltersWidget(io.read().processing["encoding_subspace"]["tuning_subspaces"])
        assert "cannot be drawn" in view.figure.texts[0].get_text() and said.split(" of")[0] in \
            view.figure.texts[0].get_text()


def test_site_and_ssrf_views_refuse_what_the_loader_refuses(written, tmp_path):
    path = _tampered(written, tmp_path, _set("site_subspace/subspace_similarity", (0, 1), 7.0))
    with NWBHDF5IO(str(path), "r") as io:
        view = SimilarityWidget(io.read().processing["encoding_subspace"]["site_subspace"])
        assert "cannot be drawn" in view.figure.texts[0].get_text()
    path = _tampered(written, tmp_path, _set("subspace_nonlinearities/tuning_count", 0, -1))
    with NWBHDF5IO(str(path), "r") as io:
        view = SSRFWidget(io.read().processing["encoding_subspace"]["subspace_nonlinearities"])
        view.unit.value = 0
        view.redraw()
        assert "cannot be drawn" in view.figure.texts[0].get_text()


def test_the_viz_extra_alone_shows_a_results_file_without_torch(written):
    """docs/viewing.md: the viz extra is what viewing needs; torch (the model extra) is not
    part of it, so neither importing the views nor drawing them may import torch."""
    from ndx_encoding_subspace.testing.absent import run_without

    code = """
import sys
import ndx_encoding_subspace.widgets  # noqa: F401
from nwbwidgets import nwb2widget
from pynwb import NWBHDF5IO
from ndx_encoding_subspace.viz.widgets import neurodata_vis_spec
with NWBHDF5IO(sys.argv[1], "r") as io:
    nwbfile = io.read()
    nwb2widget(nwbfile)
    spec = neurodata_vis_spec()
    for obj in nwbfile.processing["encoding_subspace"].data_interfaces.values():
        views = spec.get(type(obj))
        for view in (views.values() if isinstance(views, dict) else [views] if views else []):
            view(obj)
print("shown")
"""
    done = run_without(["torch"], code, str(written))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("shown")
