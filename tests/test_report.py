"""The static HTML report: content, self-containment, errors, atomic output."""

from __future__ import annotations

import base64
import dataclasses
import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.datasets.ns1 import CITATION as NS1_CITATION
from ndx_encoding_subspace.errors import ConfigError, ResultsError
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN, SubspaceNetwork
from ndx_encoding_subspace.results import (
    ModelResult,
    SiteAnalysis,
    SiteResults,
    UnitNonlinearity,
    UnitSubspace,
    load_results,
    write_results,
)
from ndx_encoding_subspace.viz.report import ReportParams, report_path, write_report
from ndx_encoding_subspace.viz.report.sections import (
    NS1_DOI,
    dataset_citations,
    footer_lines,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:The linked table for DynamicTableRegion:UserWarning"
)

N_UNITS, N_FREQ, N_LAGS = 4, 6, 5
HEADINGS = ("Overview", "The method for example units", "LN, CNN and subspace model scores",
            "Subspace dimension k", "Subspace reliability", "SSRF maps and tuning curves",
            "Site tiling",
            "Subspace similarity", "Cell type and depth", "Provenance")
R_CNN = np.array([0.6, 0.2, 0.8, 0.4])
R_SUB = np.array([0.54, 0.1, 0.72, 0.4])
#: unit 13 (NaN) stands for a subspace whose reliability was not measured
RELIABILITY = np.array([0.9, 0.3, 0.45, np.nan])
RULE = ("members", "members", "members", "unknown")


def _site() -> SiteData:
    rng = np.random.default_rng(0)
    sounds = tuple(Sound(f"s{i}", rng.uniform(0, 1, (40, N_FREQ)).astype(np.float32),
                         rng.poisson(1.0, (1 if i < 2 else 3, 40, N_UNITS)).astype(np.float32))
                   for i in range(3))
    units = UnitInfo.from_ids([10, 11, 12, 13], depth_um=[200.0, 400.0, 600.0, 800.0],
                              cell_type=np.array(["narrow", "regular", "regular", "narrow"],
                                                 dtype=object),
                              spike_width_ms=[0.25, 0.6, 0.55, 0.3])
    return SiteData("site-a", sounds, np.geomspace(200, 20000, N_FREQ), 0.01, units,
                    ("s0", "s1"), ("s2",), source={"name": "site-a", "sha256": "ab" * 32})


def _results() -> SiteResults:
    rng = np.random.default_rng(1)
    site = _site()
    every = np.arange(N_UNITS)
    models = [ModelResult("cnn_jk0_init0", "cnn", PopulationCNN(N_FREQ, N_UNITS, mix_channels=4,
                                                                  fir_taps=3, hidden=(4, 4)),
                          every, scores={"r": R_CNN, "ccnorm": R_CNN + 0.1}),
              ModelResult("ln", "ln", LNPopulation(N_FREQ, N_UNITS, channels=4, taps=3), every,
                          scores={"r": R_CNN - 0.15, "ccnorm": R_CNN - 0.05})]
    subspaces, nonlin = [], []
    for u in range(N_UNITS):
        k = 1 + u % 3
        models.append(ModelResult(f"unit_{10 + u}", "subspace_nonlinearity",
                                  SubspaceNetwork(k, hidden=(3, 3)), [u],
                                  scores={"r": R_SUB[u:u + 1]}, n_lags=N_LAGS))
        subspaces.append(UnitSubspace(
            u, rng.normal(size=(k, N_FREQ, N_LAGS)), np.sort(rng.dirichlet(np.ones(6)))[::-1],
            np.full(6, 0.1), 0.95, rng.normal(size=(N_FREQ, N_LAGS)), k90=k, k95=k,
            reliability=RELIABILITY[u], reliability_rule=RULE[u],
            dimension_confidence=None if u == 3 else np.linspace(0.9, 0.0, 6)))
        pairs = np.array([[0, j] for j in range(1, k)], dtype=np.int32).reshape(-1, 2)
        count = rng.integers(0, 6, size=(len(pairs), 5, 5))
        nonlin.append(UnitNonlinearity(
            u, f"unit_{10 + u}", np.ones(k, dtype=int), rng.uniform(-1, 1, k),
            tuning={"bin_edges": np.tile(np.linspace(-1, 1, 6), (k, 1)),
                    "mean": rng.normal(size=(k, 5)), "sem": rng.uniform(0, .1, (k, 5)),
                    "count": rng.integers(2, 9, (k, 5))},
            ssrf={"bin_edges": np.tile(np.linspace(-1, 1, 6), (k, 1)), "pairs": pairs,
                  "mean": rng.normal(size=count.shape), "count": count}))
    sim = rng.uniform(0, 1, (N_UNITS, N_UNITS))
    analysis = SiteAnalysis(
        filters=rng.normal(size=(3, N_FREQ, N_LAGS)), explained_variance=np.array([.5, .3, .1]),
        response_region_size=np.array([0.12, 0.07, 0.08, 0.11]), region_overlap=sim / 2,
        subspace_similarity=(sim + sim.T) / 2, similarity_measure="mean squared cosine")
    return SiteResults(
        site=site, models=models, subspaces=subspaces, nonlinearities=nonlin,
        site_subspace=analysis, ssrf_min_count=2,
        subspace_parameters={"variance_threshold": 0.95, "reliability_threshold": 0.4},
        provenance={"input": {"path": "/data/site-a.nwb", "sha256": "ab" * 32},
                    "config": {"training": {"seed": 3, "lr_stage1": 0.001}},
                    "package_versions": {"numpy": np.__version__}})


@pytest.fixture(scope="module")
def results_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    meta = {"subject": {"subject_id": "f1", "species": "Mustela putorius furo", "sex": "F",
                        "age": "P1Y"}}
    return write_results(_results(), folder / "site-a.results.nwb", metadata=meta)


@pytest.fixture(scope="module")
def report(results_file: Path) -> tuple[Path, str]:
    out = write_report(results_file, params=ReportParams(n_examples=2, dpi=40))
    return out, out.read_text(encoding="utf-8")


def test_report_is_written_next_to_the_results(results_file, report) -> None:
    out, text = report
    assert out == results_file.with_suffix(".html") == report_path(results_file)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_report_has_every_section_and_its_figures(report) -> None:
    _, text = report
    headings = re.findall(r"<h2>(.*?)</h2>", text)
    assert headings == [h.replace("&", "&amp;") for h in HEADINGS]
    images = re.findall(r'<img [^>]*src="([^"]*)"', text)
    # 2 examples, scatter, k, reliability, 1 SSRF grid, asymmetry, tiling, similarity,
    # cell type
    assert len(images) == 10
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_is_self_contained(report) -> None:
    _, text = report
    assert "<script" not in text.lower()
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', text, re.IGNORECASE)
    assert "<link" not in text.lower()


def test_report_numbers_and_example_order(report) -> None:
    _, text = report
    # examples are the best CNN units: unit 12 (r 0.8) then unit 10 (r 0.6)
    assert re.findall(r"<h3>(unit \d+)</h3>", text) == ["unit 12", "unit 10"]
    ratio = float(np.median((R_SUB / R_CNN) ** 2))
    assert f"median (r_subspace / r_CNN)^2 = {ratio:.3f} over 4 units" in text
    # median r of the CNN and of the subspace models in the median table
    assert f'<td>CNN</td><td class="num">4</td><td class="num">{np.median(R_CNN):.3f}</td>' in text
    assert f'<td class="num">{np.median(R_SUB):.3f}</td>' in text
    # narrow units (10, 13) have regions 0.12 and 0.11: median 0.115
    assert ('<td>response-region size</td><td>narrow</td><td class="num">2</td>'
            '<td class="num">0.115</td>') in text
    assert "ab" * 32 in text and "training.seed" in text


def test_report_shows_reliability_and_k_significant(report) -> None:
    _, text = report
    section = re.search(r'<section id="reliability">.*?</section>', text, re.S).group(0)
    rows = re.findall(r"<tr><td>(unit \d+)</td>(.*?)</tr>", section)
    cells = {unit: re.findall(r"<td[^>]*>([^<]*)</td>", rest) for unit, rest in rows}
    # floor 0.1 for every component: k significant counts the leading variances above it
    subs = _results().subspaces
    for u, (unit, row) in enumerate(sorted(cells.items())):
        assert unit == f"unit {10 + u}"
        assert row[0] == f"{R_CNN[u]:.3f}" and int(row[1]) == 1 + u % 3
        above = np.asarray(subs[u].explained_variance) > 0.1
        assert int(row[2]) == (above.size if above.all() else int(np.argmin(above))) > 0
        assert row[4] == RULE[u]
    # the file's threshold (0.4) flags unit 11 (0.3) only; unit 13 was not measured
    assert [row[5] for _, row in sorted(cells.items())] == [
        "reliable", "unreliable", "reliable", "unknown"]
    assert [row[3] for _, row in sorted(cells.items())] == ["0.900", "0.300", "0.450", "n/a"]
    assert "2 reliable, 1 unreliable, 1 unknown." in section
    # examples carry the reliability, the k section the count above the noise floor
    assert "reliability 0.45 (members): reliable" in text
    assert "<td>k significant</td>" in text


def test_footer_cites_the_paper_and_ns1_only_for_ns1(results_file, report) -> None:
    _, text = report
    assert "doi:10.1038/s41593-026-02216-0" in text and "Harper" not in text
    loaded = load_results(results_file)
    assert loaded.related_publications == () and dataset_citations(loaded) == []
    # the decision reads the file's related_publications, not free text about NS1
    named = dataclasses.replace(loaded, provenance={"input": {"file": "/data/ns1/NS1.npz"}},
                                session_description="NS1 site")
    assert dataset_citations(named) == []
    assert NS1_DOI in NS1_CITATION
    for entry in (f"doi:{NS1_DOI}", f"https://doi.org/{NS1_DOI.upper()}", NS1_DOI):
        ns1 = dataclasses.replace(loaded, related_publications=("doi:10.1/other", entry))
        assert dataset_citations(ns1) == [NS1_CITATION]
        assert footer_lines(ns1, "0")[1] == f"Data: {NS1_CITATION}."
    other = dataclasses.replace(loaded, related_publications=(f"doi:{NS1_DOI}0",))
    assert dataset_citations(other) == []


def test_ns1_is_cited_from_the_metadata_the_results_file_carries(tmp_path: Path) -> None:
    """NS1 recordings name the paper's DOI in related_publications (datasets.ns1); the
    results writer copies session metadata, the loader reads it, the report cites."""
    meta = {"related_publications": [f"doi:{NS1_DOI}"], "keywords": ["NS1", "ferret"],
            "subject": {"subject_id": "f1", "species": "Mustela putorius furo", "sex": "U"}}
    path = write_results(_results(), tmp_path / "ns1.results.nwb", metadata=meta)
    loaded = load_results(path)
    assert loaded.related_publications == (f"doi:{NS1_DOI}",)
    assert loaded.keywords == ("NS1", "ferret")
    text = write_report(path, params=ReportParams(n_examples=0, dpi=20)).read_text()
    assert "Harper NS" in text


def test_the_report_imports_neither_ipywidgets_nor_nwbwidgets(results_file,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code = (
        "import sys\n"
        "from ndx_encoding_subspace.viz.report import ReportParams, write_report\n"
        f"write_report({str(results_file)!r}, {str(out)!r}, "
        "params=ReportParams(n_examples=1, dpi=20))\n"
        "loaded = [m for m in ('ipywidgets', 'nwbwidgets') if m in sys.modules]\n"
        "print('loaded', loaded)\n"
        "assert not loaded, loaded\n"
        "assert 'matplotlib' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert out.exists()


def test_missing_or_unreadable_results_raise_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.results.nwb"
    with pytest.raises(ResultsError, match="nope.results.nwb"):
        write_report(missing)
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ResultsError, match="bad.nwb"):
        write_report(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nwb"]


def test_existing_report_needs_overwrite_and_is_replaced_whole(results_file, report,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "custom.html"
    old = '<!DOCTYPE html>\n<html><head><meta name="generator" content="ndx-encoding-subspace">old'
    out.write_text(old)
    with pytest.raises(ConfigError, match="custom.html"):
        write_report(results_file, out)
    assert out.read_text() == old
    got = write_report(results_file, out, overwrite=True,
                       params=ReportParams(n_examples=0, dpi=30))
    assert got == out and "<h2>Overview</h2>" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom.html"]


def test_failure_while_writing_leaves_no_partial_file(results_file, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from ndx_encoding_subspace import atomic  # the report is written through it

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    out = tmp_path / "r.html"
    with pytest.raises(OSError, match="disk full"):
        write_report(results_file, out, params=ReportParams(n_examples=0, dpi=30))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("field,value", [("n_examples", -1), ("dpi", 5),
                                         ("units_per_figure", 0)])
def test_report_params_are_validated(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=field):
        ReportParams(**{field: value})


@pytest.mark.parametrize("config", ["lab defaults", {"training": "seedless run"}, 5,
                                    {"training": {"seed": 2}}])
def test_the_provenance_section_takes_a_configuration_of_any_shape(config):
    from types import SimpleNamespace

    from ndx_encoding_subspace.viz.report.sections import provenance_section

    section = provenance_section(SimpleNamespace(results=SimpleNamespace(provenance={"config": config})))
    html = "".join(section.body)
    assert ("training.seed" in html) == (config == {"training": {"seed": 2}})


def test_scores_that_are_all_undefined_are_said_so_not_absent():
    from types import SimpleNamespace

    from ndx_encoding_subspace.viz.report.sections import scores_section

    undefined = SimpleNamespace(unit_scores=lambda score: {"population_cnn": np.array([np.nan, np.nan])})
    html = "".join(scores_section(SimpleNamespace(r={}, results=undefined)).body)
    assert "Every model score of this results file is undefined (NaN)" in html
    nothing = SimpleNamespace(unit_scores=lambda score: {})
    assert "holds no model scores" in "".join(scores_section(SimpleNamespace(r={}, results=nothing)).body)


def test_k_by_significance_is_not_shown_as_k_at_the_threshold(tmp_path: Path) -> None:
    from ndx_encoding_subspace.extension.reliability import choose_k

    results = _results()
    subs = [dataclasses.replace(s, k95=choose_k(s.explained_variance, 0.95)) for s in results.subspaces]
    results = dataclasses.replace(results, subspaces=subs, subspace_parameters={
        **results.subspace_parameters, "k_rule": "significance"})
    path = write_results(results, tmp_path / "significance.results.nwb")
    text = write_report(path, params=ReportParams(n_examples=1, dpi=30)).read_text(encoding="utf-8")
    at = np.array([choose_k(s.explained_variance, 0.95) for s in results.subspaces])
    assert not np.array_equal(at, [s.k for s in results.subspaces])  # the test has something to tell apart
    row = re.search(r"<tr><td>k at 0.95</td>(.*?)</tr>", text).group(1)
    assert re.findall(r">([^<]+)<", row) == [f"{np.median(at):.3f}", str(at.min()), str(at.max())]
    assert "k is chosen by significance" in text
    if importlib.util.find_spec("nwbwidgets") is None:
        return
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.viz.widgets.subspace import SubspaceFiltersWidget

    with NWBHDF5IO(str(path), "r") as io:
        view = SubspaceFiltersWidget(io.read().processing["encoding_subspace"]["tuning_subspaces"])
        for row, sub in enumerate(results.subspaces):
            view.unit.value = row
            assert (f"k = {sub.k} filters (above the noise floor; {at[row]} at 0.95 of the variance)"
                    in view.message.value)
            assert "threshold 0.95" not in view.figure.axes[-1].get_title()


def test_without_a_noise_floor_k_significant_is_said_not_computed_not_zero(tmp_path: Path) -> None:
    """``subspace.noise_repeats = 0``: every floor NaN, the stored k_significant 0 is no
    result; the report and the view say it was not computed."""
    results = _results()
    subs = [dataclasses.replace(s, noise_floor_variance=np.full(6, np.nan), dimension_confidence=None,
                                k_significant=0) for s in results.subspaces]
    path = write_results(dataclasses.replace(results, subspaces=subs), tmp_path / "no_floor.results.nwb")
    text = write_report(path, params=ReportParams(n_examples=1, dpi=30)).read_text(encoding="utf-8")
    assert "k significant not computed (no noise floor: subspace.noise_repeats = 0)" in text
    assert "<td>k significant</td>" not in text and "k significant 0" not in text
    assert "(no noise floor was computed)" in text
    if importlib.util.find_spec("nwbwidgets") is None:
        return
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.viz.widgets.subspace import SubspaceFiltersWidget

    with NWBHDF5IO(str(path), "r") as io:
        view = SubspaceFiltersWidget(io.read().processing["encoding_subspace"]["tuning_subspaces"])
        assert "k significant = not computed (no noise floor" in view.message.value


def test_a_folder_that_cannot_be_written_is_said_before_the_report(tmp_path: Path, monkeypatch) -> None:
    """A read-only folder (a mounted archive): refused naming it and the way out, before any
    figure is drawn (root writes into any folder of a writable file system, so the file
    system's answer is what the test sets)."""
    from ndx_encoding_subspace.viz import report as report_module
    from ndx_encoding_subspace.viz.report import check_report_target

    target = tmp_path / "site.results.html"
    assert check_report_target(target) == target
    monkeypatch.setattr(report_module.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(PermissionError, match="write the report elsewhere") as caught:
        check_report_target(target)
    assert caught.value.filename == str(tmp_path)


def test_a_reliability_near_the_threshold_is_shown_on_its_side_and_split_halves_are_qualified(
        tmp_path: Path) -> None:
    from ndx_encoding_subspace.extension.reliability import SPLIT_HALVES_CAVEAT, shown_reliability

    assert [shown_reliability(v, 0.5) for v in (0.4996, 0.5, 0.83, 0.49999999)] == [
        "0.4996", "0.50", "0.83", "0.49999999"]
    assert shown_reliability(float("nan"), 0.5) == "n/a"
    results = _results()
    subs = [dataclasses.replace(s, reliability=v, reliability_rule=rule) for s, v, rule in zip(
        results.subspaces, (0.3996, 0.9, 0.8, 0.7), ("members", "split_halves", "split_halves", "members"))]
    path = write_results(dataclasses.replace(results, subspaces=subs), tmp_path / "near.results.nwb")
    text = write_report(path, params=ReportParams(n_examples=4, dpi=30)).read_text(encoding="utf-8")
    section = re.search(r'<section id="reliability">.*?</section>', text, re.S).group(0)
    assert "<td>0.3996</td>" in section.replace(' class="num"', "")  # threshold 0.4: not "0.400"
    plain = html.unescape(section)
    assert f"2 of 4 units' reliabilities ('split_halves'): {SPLIT_HALVES_CAVEAT}" in plain
    assert f"reliability 0.90 (split_halves): reliable ({SPLIT_HALVES_CAVEAT})" in html.unescape(text)
