"""The dataset summary of a run's folder: tables, statistics and report of three sites.

Three small results files are written through ``results.write_results`` (random small
models, chosen scores, filters, asymmetry indices and unit metadata), plus one file that
is not a results file and a site record with a failed site; the summary is built once per
module (a few seconds).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats

from ndx_encoding_subspace.circuit import subspace_similarity
from ndx_encoding_subspace.data.site import UnitInfo
from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
from ndx_encoding_subspace.dataset import COLUMNS, DatasetParams
from ndx_encoding_subspace.dataset.pairs import pair_indices, pair_similarities
from ndx_encoding_subspace.dataset.statistics import site_median
from ndx_encoding_subspace.dataset.units import nonlinearity_class
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN, SubspaceNetwork
from ndx_encoding_subspace.results import (
    ModelResult,
    SiteAnalysis,
    SiteResults,
    UnitNonlinearity,
    UnitSubspace,
    write_results,
)
from ndx_encoding_subspace.testing.files import mock_site
from ndx_encoding_subspace.viz.report.dataset import FIGURES, summarize

pytestmark = [
    pytest.mark.filterwarnings("ignore:The linked table for DynamicTableRegion:UserWarning"),
    pytest.mark.filterwarnings("ignore:results of site .*no subject:UserWarning"),
]

N_FREQ, N_LAGS = 6, 4
#: Units per site (site names in file order).
SITES = {"ferret1_a": 4, "ferret1_b": 3, "ferret2_a": 2}
TABLE_NAMES = ("units.csv", "dimensions.csv", "pairs.csv", "sites.csv")


def _filters(site_index: int, unit: int, rng: np.random.Generator) -> np.ndarray:
    """Unit 0 of every site: the first two unit vectors (identical subspaces across
    sites); unit 1 of every site: the third unit vector; others random of k = 1..3."""
    eye = np.eye(N_FREQ * N_LAGS).reshape(-1, N_FREQ, N_LAGS)
    if unit == 0:
        return eye[:2]
    if unit == 1:
        return eye[2:3]
    return rng.normal(size=(1 + (unit + site_index) % 3, N_FREQ, N_LAGS))


def _site_results(site: Any, site_index: int) -> SiteResults:
    rng = np.random.default_rng(site_index)
    n = site.n_units
    every = np.arange(n)
    r_cnn = rng.uniform(0.3, 0.8, n)
    models = [
        ModelResult("cnn_jk0_init0", "cnn", PopulationCNN(N_FREQ, n, mix_channels=4,
                    fir_taps=3, hidden=(4, 4)), every,
                    scores={"r": r_cnn, "ccnorm": r_cnn + 0.1}),
        ModelResult("ln", "ln", LNPopulation(N_FREQ, n, channels=3, taps=3), every,
                    scores={"r": r_cnn - 0.2, "ccnorm": r_cnn - 0.1}),
    ]
    subspaces, nonlin = [], []
    for u in range(n):
        filters = _filters(site_index, u, rng)
        k = len(filters)
        models.append(ModelResult(f"unit_{u}", "subspace_nonlinearity",
                                  SubspaceNetwork(k, hidden=(3,)), [u], n_lags=N_LAGS,
                                  scores={"r": [r_cnn[u] - 0.05], "ccnorm": [r_cnn[u]]}))
        subspaces.append(UnitSubspace(u, filters, np.r_[np.full(k, 0.9 / k), 0.1],
                                      np.full(k + 1, 0.01), 0.95, rng.normal(size=(N_FREQ, N_LAGS)),
                                      k90=k, k95=k, k_significant=k,
                                      reliability=0.5 + 0.1 * (u % 3), reliability_rule="members"))
        mean = np.tile(np.r_[1.0, 0.0, 0.0, 0.0, 1.0], (k, 1))  # both flanks up
        ai = np.r_[0.9 if u % 2 else 0.1, np.zeros(k - 1)]  # dim 1: rectifying / symmetric
        nonlin.append(UnitNonlinearity(
            u, f"unit_{u}", np.ones(k), ai,
            tuning={"bin_edges": np.tile(np.linspace(-1, 1, 6), (k, 1)), "mean": mean,
                    "sem": np.zeros((k, 5)), "count": np.full((k, 5), 4)},
            ssrf={"bin_edges": np.tile(np.linspace(-1, 1, 4), (k, 1)),
                  "pairs": np.array([[0, j] for j in range(1, k)]).reshape(-1, 2),
                  "mean": np.zeros((k - 1, 3, 3)), "count": np.full((k - 1, 3, 3), 4)}))
    analysis = SiteAnalysis(filters=rng.normal(size=(2, N_FREQ, N_LAGS)),
                            explained_variance=np.array([0.6, 0.3]),
                            response_region_size=0.05 + 0.02 * np.arange(n),
                            subspace_similarity=np.eye(n))
    return SiteResults(site=site, models=models, subspaces=subspaces, nonlinearities=nonlin,
                       site_subspace=analysis,
                       provenance={"config": {"training": {"device": "cpu"}}})


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run's folder: three results files, a broken one, a record with a failed site."""
    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    for i, (name, n) in enumerate(SITES.items()):
        source = mock_site(n_units=n, n_sounds=3, duration=0.25, seed=i).write(folder / f"{name}.input.nwb")
        site = read_site(source, spectrogram=SpectrogramParams(n_channels=N_FREQ))
        units = UnitInfo.from_ids(
            np.arange(n) + 10 * i, depth_um=100.0 * np.arange(n) + 50 * i,
            area=np.array(["A1" if u < 3 else "PEG" for u in range(n)], dtype=object),
            spike_width_ms=np.where(np.arange(n) % 2, 0.25, 0.6),
            cell_type=np.array(["narrow" if u % 2 else "regular" for u in range(n)], dtype=object))
        site = dataclasses.replace(site, units=units)
        write_results(_site_results(site, i), folder / f"{name}.results.nwb")
        source.unlink()
    (folder / "broken.results.nwb").write_bytes(b"not an NWB file")
    (folder / "summary").mkdir()
    # the shape pipeline.dataset writes: one SiteStatus per site
    record = {"started": "", "counts": {"done": 3, "failed": 1},
              "sites": [{"site": name, "status": "done", "seconds": 12.5 + i, "device": "cuda:0",
                         "error": "", "results": str(folder / f"{name}.results.nwb")}
                        for i, name in enumerate(SITES)]
              + [{"site": "ferret3_a", "status": "failed", "error_type": "TrainingError",
                  "error": "CUDA out of memory", "seconds": None}]}
    (folder / "summary" / "sites.json").write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def summary(run_folder: Path) -> Any:
    return summarize(run_folder)


@pytest.fixture(scope="module")
def written(summary: Any) -> Path:
    """``OUT/summary`` after :func:`summarize`."""
    return summary.folder


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    return header, rows


def test_every_file_is_written_in_the_summary_folder(written: Path, summary: Any) -> None:
    folder = written
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*TABLE_NAMES, "report.html", "sites.json"])
    assert set(summary.files) == {*TABLE_NAMES, "report.html"}


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_tables_have_the_documented_columns(written: Path, name: str) -> None:
    header, _ = _read(written / name)
    assert header == list(COLUMNS[name])


def test_units_table_holds_every_unit_of_every_site(written: Path) -> None:
    _, rows = _read(written / "units.csv")
    assert len(rows) == sum(SITES.values())
    assert [r["site"] for r in rows] == [s for s, n in SITES.items() for _ in range(n)]
    first = rows[1]  # ferret1_a, unit 1: k = 1, narrow, rectifying dimension 1
    assert (first["unit"], first["area"], first["cell_type"]) == ("1", "A1", "narrow")
    assert float(first["depth_um"]) == 100.0 and float(first["spike_width_ms"]) == 0.25
    assert (first["k"], first["k90"], first["nonlinearity_class"]) == ("1", "1", "rectifying")
    assert float(first["region_size"]) == pytest.approx(0.07)
    r_cnn, r_ss = float(first["r_cnn"]), float(first["r_subspace"])
    assert float(first["r_ln"]) == pytest.approx(r_cnn - 0.2)
    assert float(first["r2_ratio"]) == pytest.approx((r_ss / r_cnn) ** 2)
    assert rows[0]["nonlinearity_class"] == "symmetric-up"
    assert (first["k_significant"], first["reliability_rule"]) == ("1", "members")
    assert float(first["reliability"]) == pytest.approx(0.6)


def test_dimensions_table_is_long_with_one_row_per_dimension(summary: Any) -> None:
    dims, units = summary.dimensions, summary.units
    assert len(dims) == int(units["k"].sum())
    assert set(dims["dimension"]) == set(range(1, int(units["k"].max()) + 1))
    first = dims["dimension"] == 1
    np.testing.assert_allclose(dims["asymmetry"][first], units["asymmetry_1"])


def test_pairs_cover_every_pair_within_and_between_sites(written: Path, summary: Any) -> None:
    _, rows = _read(written / "pairs.csv")
    n = sum(SITES.values())
    assert len(rows) == n * (n - 1) // 2
    within = sum(m * (m - 1) // 2 for m in SITES.values())
    assert sum(r["same_site"] == "True" for r in rows) == within
    assert all((r["same_site"] == "True") == (r["site_a"] == r["site_b"]) for r in rows)
    # unit 0 of every site spans the same plane; unit 1 a line orthogonal to it
    key = {(r["site_a"], r["unit_a"], r["site_b"], r["unit_b"]): r for r in rows}
    same = key[("ferret1_a", "0", "ferret2_a", "20")]
    assert same["same_site"] == "False" and float(same["similarity"]) == pytest.approx(1.0)
    assert float(key[("ferret1_a", "0", "ferret1_a", "1")]["similarity"]) == pytest.approx(0.0)
    assert key[("ferret1_a", "1", "ferret1_b", "11")]["cell_type_b"] == "narrow"


def test_batched_similarity_is_the_circuit_measure() -> None:
    rng = np.random.default_rng(5)
    filters = [rng.normal(size=(k, 3, 4)) for k in (1, 3, 2, 3, 1)] + [None]
    filters.insert(2, rng.normal(size=(2, 4, 3)))  # another filter shape: no similarity
    got = pair_similarities(filters)
    for p, (i, j) in enumerate(zip(*pair_indices(len(filters)))):
        a, b = filters[i], filters[j]
        if a is None or b is None or a.shape[1:] != b.shape[1:]:
            assert np.isnan(got[p])
        else:
            assert got[p] == pytest.approx(subspace_similarity(a, b), abs=1e-12)


def test_sites_table_reads_the_run_record_and_flags_unreadable_files(written: Path) -> None:
    _, rows = _read(written / "sites.csv")
    by_site = {r["site"]: r for r in rows}
    assert set(by_site) == {*SITES, "ferret3_a", "broken"}
    assert [by_site[s]["status"] for s in SITES] == ["done"] * 3
    assert by_site["ferret1_b"]["time_s"] == "13.5" and by_site["ferret1_b"]["n_units"] == "3"
    assert by_site["ferret3_a"]["status"] == "failed"
    assert by_site["ferret3_a"]["error"] == "TrainingError: CUDA out of memory"
    assert by_site["broken"]["status"] == "unreadable" and by_site["broken"]["error"]


def test_without_a_record_every_results_file_is_a_done_site(run_folder: Path, tmp_path: Path,
                                                           ) -> None:
    from ndx_encoding_subspace.dataset import summarize_tables

    for name in SITES:
        (tmp_path / f"{name}.results.nwb").symlink_to(run_folder / f"{name}.results.nwb")
    summary = summarize_tables(tmp_path)
    assert list(summary.sites["site"]) == list(SITES)
    assert list(summary.sites["status"]) == ["done"] * 3
    assert list(summary.sites["device"]) == ["cpu"] * 3
    assert not (tmp_path / "summary" / "report.html").exists()


def test_a_copy_of_a_results_file_is_counted_once(run_folder: Path, tmp_path: Path) -> None:
    """Two files of one results (the same identifier): the copy's units would be paired
    with themselves as another site's; it is said and left out."""
    from ndx_encoding_subspace.dataset import summarize_tables

    first = next(iter(SITES))
    for name in ("a", "b"):
        shutil.copyfile(run_folder / f"{first}.results.nwb", tmp_path / f"{name}.results.nwb")
    said = r"b\.results\.nwb: the same identifier as a\.results\.nwb \(.*\): a copy of it"
    with pytest.warns(UserWarning, match=said):
        summary = summarize_tables(tmp_path)
    assert set(summary.units["site"]) == {"a"}
    assert dict(zip(summary.sites["site"], summary.sites["n_units"], strict=True))["b"] == 0


def test_a_site_whose_name_its_file_cannot_hold_is_one_row(run_folder: Path, tmp_path: Path) -> None:
    from ndx_encoding_subspace.dataset import summarize_tables

    (tmp_path / "rec_1.results.nwb").symlink_to(run_folder / f"{next(iter(SITES))}.results.nwb")
    (tmp_path / "summary").mkdir()
    record = {"sites": [{"site": "rec 1", "status": "done", "seconds": 7.0, "results": "rec_1.results.nwb"},
                        {"site": "rec ü", "status": "failed", "error": "no sound stimulus"}]}
    (tmp_path / "summary" / "sites.json").write_text(json.dumps(record))
    sites = summarize_tables(tmp_path).sites
    assert list(sites["site"]) == ["rec_1", "rec_ü"]
    assert list(sites["status"]) == ["done", "failed"] and sites["time_s"][0] == 7.0


def test_unreadable_results_files_are_named_and_exit_9_or_6_when_none_is_readable(
        run_folder: Path, tmp_path: Path, capsys: Any) -> None:
    from ndx_encoding_subspace.cli import main

    (tmp_path / "site.results.nwb").symlink_to(run_folder / f"{next(iter(SITES))}.results.nwb")
    (tmp_path / "broken.results.nwb").write_bytes(b"not an NWB file")
    assert main(["summarize", str(tmp_path)]) == 9  # a partial summary is not taken for a whole one
    said = capsys.readouterr().err
    assert "broken.results.nwb: " in said and "(left out of the summary)" in said
    assert "1 results file(s) could not be read and are left out of the summary: broken.results.nwb" in said
    assert (tmp_path / "summary" / "units.csv").is_file()
    (tmp_path / "site.results.nwb").unlink()
    assert main(["summarize", str(tmp_path)]) == 6
    assert "no results file could be read (sites.csv names them)" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["report.html", "units.csv"])
def test_a_file_of_the_user_in_the_summary_folder_is_never_written_over(run_folder: Path, tmp_path: Path,
                                                                        capsys: Any, name: str) -> None:
    """Notes of the user's in ``summary/`` under the name of a table or of the report: the
    command refuses (exit 2) before writing anything, and the file is left as it was."""
    from ndx_encoding_subspace.cli import main

    (tmp_path / "site.results.nwb").symlink_to(run_folder / f"{next(iter(SITES))}.results.nwb")
    (tmp_path / "summary").mkdir()
    mine = tmp_path / "summary" / name
    mine.write_text("my own notes, not a table\n")
    assert main(["summarize", str(tmp_path)]) == 2
    assert f"{mine}: exists and is not a" in capsys.readouterr().err
    assert mine.read_text() == "my own notes, not a table\n"
    assert sorted(p.name for p in (tmp_path / "summary").iterdir()) == [name]
    mine.unlink()
    assert main(["summarize", str(tmp_path)]) == 0  # the package's own files it writes over
    assert main(["summarize", str(tmp_path)]) == 0


def test_results_of_different_parameters_are_said_to_be_pooled() -> None:
    from ndx_encoding_subspace.dataset.summarize import _differences

    same = {"training": {"max_epochs": 400, "device": "cpu"}, "compute": {"threads": 1}}
    other = {"training": {"max_epochs": 20, "device": "cuda"}, "compute": {"threads": 8}}
    assert _differences({"a": same, "b": {**same, "compute": {"threads": 4}}}) == []
    assert _differences({"a": same, "b": other, "c": same}) == ["training.max_epochs: 400 in a, c; 20 in b"]
    assert _differences({"a": same, "b": {"training": {}}}) == []  # made before the parameter existed
    # ... and made as it was then: CCnorm scored within clips, beside files scored on the sounds joined
    before, now = {"scoring": {"n_shuffles": 100}}, {"scoring": {"n_shuffles": 100, "signal_power": "joined"}}
    said = ['scoring.signal_power: "within_clips" in a; "joined" in b']
    assert _differences({"a": before, "b": now}) == said
    assert _differences({"a": before, "b": {"scoring": {"signal_power": "within_clips"}}}) == []


def test_a_damaged_site_record_leaves_the_results_files_tabulated(run_folder: Path, tmp_path: Path) -> None:
    from ndx_encoding_subspace.dataset import summarize_tables

    (tmp_path / "site.results.nwb").symlink_to(run_folder / f"{next(iter(SITES))}.results.nwb")
    (tmp_path / "summary").mkdir()
    (tmp_path / "summary" / "sites.json").write_text("{ not json")
    with pytest.warns(UserWarning, match="cannot read the site record .*: sites.csv lists the results files"):
        sites = summarize_tables(tmp_path).sites
    assert list(sites["site"]) == ["site"] and list(sites["status"]) == ["done"]


def test_tables_read_directly_with_pandas(written: Path) -> None:
    pd = pytest.importorskip("pandas")
    units = pd.read_csv(written / "units.csv")
    pairs = pd.read_csv(written / "pairs.csv")
    assert units["r_cnn"].dtype.kind == "f" and units["k"].dtype.kind == "i"
    assert pairs["same_site"].dtype == bool
    assert len(units) == sum(SITES.values())


def test_statistics_match_scipy_on_the_same_numbers(summary: Any) -> None:
    u, st = summary.units, summary.statistics
    sites = u["site"]
    per_site = [np.median(u["r_cnn"][sites == s]) for s in SITES]
    assert st.group("r_cnn", "all units").site_median == pytest.approx(np.median(per_site))
    assert site_median(u["r_cnn"], sites) == (pytest.approx(np.median(per_site)), 3)
    test = st.comparison("r: CNN against LN")
    diff = [np.median(u["r_cnn"][sites == s] - u["r_ln"][sites == s]) for s in np.unique(sites)]
    assert test.p_value == pytest.approx(stats.wilcoxon(diff).pvalue) and test.n_a == len(SITES)
    narrow = u["region_size"][u["cell_type"] == "narrow"]
    regular = u["region_size"][u["cell_type"] == "regular"]
    test = st.comparison("region size: narrow against regular")
    assert test.statistic == pytest.approx(stats.mannwhitneyu(narrow, regular).statistic)
    assert 0 < test.p_value <= 1 and "permuted within sites" in test.test
    assert st.narrow_fraction == pytest.approx(np.mean(u["cell_type"] == "narrow"))
    pairs = summary.pairs
    keep = np.isfinite(pairs["similarity"]) & (pairs["area_a"] == pairs["area_b"])
    test = st.comparison("similarity all pairs: within against between sites")
    means = []
    for s in np.unique(sites):
        mine = keep & ((pairs["site_a"] == s) | (pairs["site_b"] == s))
        same = mine & (pairs["site_a"] == pairs["site_b"])
        means.append((pairs["similarity"][same].mean(), pairs["similarity"][mine & ~same].mean()))
    within, between = np.array(means).T
    assert (test.n_a, test.n_b) == (len(SITES), len(SITES))
    assert test.p_value == pytest.approx(stats.wilcoxon(within - between).pvalue)
    assert st.classes["narrow"]["rectifying"] == int(np.sum(u["cell_type"] == "narrow"))


def test_report_names_every_figure_and_statistic(written: Path) -> None:
    text = (written / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text
    for caption in FIGURES.values():
        assert caption.split(":")[0] in text
    assert text.count("data:image/png;base64,") >= len(FIGURES)
    for what in ("Mann-Whitney U", "Wilcoxon signed-rank", "median of site medians",
                 "ferret3_a", "CUDA out of memory"):
        assert what in text


def test_nonlinearity_class_from_stored_values() -> None:
    up, down = np.r_[1.0, 0, 0, 0, 1], np.r_[-1.0, 0, 0, 0, -1]
    assert nonlinearity_class(0.1, up) == "symmetric-up"
    assert nonlinearity_class(-0.2, down) == "symmetric-down"
    assert nonlinearity_class(0.8, np.r_[0.0, 0, 0, 0.5, 1]) == "rectifying"
    assert nonlinearity_class(0.0, np.zeros(5)) == "flat"
    assert nonlinearity_class(0.3, up, symmetry_threshold=0.2) == "rectifying"


def test_similarity_parameters_select_pairs_and_dimensions(run_folder: Path) -> None:
    from ndx_encoding_subspace.dataset import build_summary

    strict = build_summary(run_folder, DatasetParams(min_r=0.99))
    assert strict.statistics.comparison(
        "similarity all pairs: within against between sites").n_a == 0
    first = build_summary(run_folder, DatasetParams(similarity_variance=0.4, same_area=False))
    # unit 0 keeps its first filter only: the first unit vector against unit 1's third
    assert len(first.pairs) == len(strict.pairs)
    assert first.pairs["similarity"][0] == pytest.approx(0.0)
    # the authors' share asks for more filters than the files keep (their k holds 90%): said
    assert not [n for n in first.notes if "fewer filters" in n]
    wide = build_summary(run_folder, DatasetParams(paper_variance=0.95))
    said = [n for n in wide.notes if "fewer filters" in n]
    assert len(said) == 1 and said[0].startswith(f"{len(wide.units)} unit(s) keep fewer filters (their k) "
                                                 "than 95% of their variance needs"), wide.notes


def test_the_command_line_sets_the_statistics_parameters(run_folder: Path, tmp_path: Path, capsys) -> None:
    import shutil

    from ndx_encoding_subspace.cli import main

    out = tmp_path / "copy"
    shutil.copytree(run_folder, out)
    # 9: the run folder holds a broken file (left out, said), as a partial summary exits
    assert main(["summarize", str(out), "--dataset.min_r", "0.99", "--dataset.same_area", "false"]) == 9
    text = (out / "summary" / "report.html").read_text()
    assert "min_r=0.99" in text and "same_area=False" in text
    capsys.readouterr()
    assert main(["summarize", str(out), "--dataset.min_r", "2"]) == 2
    assert "DatasetParams.min_r" in capsys.readouterr().err
    # a configuration file's [dataset] table (beside the pipeline's tables), then the flags
    config = tmp_path / "run.toml"
    config.write_text("[training]\nmax_epochs = 3\n\n[dataset]\nmin_r = 0.5\nsame_area = false\n")
    assert main(["summarize", str(out), "--config", str(config), "--dataset.min_r", "0.7"]) == 9
    text = (out / "summary" / "report.html").read_text()
    assert "min_r=0.7" in text and "same_area=False" in text
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    assert PipelineConfig.from_file(config).training.max_epochs == 3  # the run reads the same file
    config.write_text("[dataset]\nmin_rr = 0.5\n")
    capsys.readouterr()
    assert main(["summarize", str(out), "--config", str(config)]) == 2
    assert "unknown option(s) min_rr in [dataset] of" in capsys.readouterr().err


def test_a_site_made_again_after_the_record_is_done(run_folder: Path, tmp_path: Path) -> None:
    """A site that failed in a multi-site run and was then run alone into the same folder:
    its results file, newer than the record, makes it done; an older one does not."""
    import os

    from ndx_encoding_subspace.dataset import summarize_tables

    name = next(iter(SITES))
    copy = tmp_path / f"{name}.results.nwb"
    copy.write_bytes((run_folder / f"{name}.results.nwb").read_bytes())
    (tmp_path / "summary").mkdir()
    record = tmp_path / "summary" / "sites.json"
    record.write_text(json.dumps({"sites": [{"site": name, "status": "failed", "error": "truncated"}]}))
    os.utime(record, (1_000_000, 1_000_000))
    os.utime(copy, (2_000_000, 2_000_000))
    sites = summarize_tables(tmp_path).sites
    assert list(sites["status"]) == ["done"] and list(sites["error"]) == [""]
    os.utime(copy, (500_000, 500_000))  # written before the failure: the record stands
    with pytest.warns(UserWarning, match=f"the last run of site.s. {name} failed; their results files, made "
                                         "by an earlier run .* are pooled all the same"):
        summary = summarize_tables(tmp_path)
    assert list(summary.sites["status"]) == ["failed"] and len(summary.units) > 0


def test_a_site_done_whose_results_file_is_gone_is_missing(run_folder: Path, tmp_path: Path) -> None:
    from ndx_encoding_subspace.dataset import summarize_tables

    first, second = list(SITES)[:2]
    (tmp_path / f"{first}.results.nwb").symlink_to(run_folder / f"{first}.results.nwb")
    (tmp_path / "summary").mkdir()
    (tmp_path / "summary" / "sites.json").write_text(json.dumps({"sites": [
        {"site": first, "status": "done"}, {"site": second, "status": "done"}]}))
    said = f"no results file of site\\(s\\) {second} \\(missing in sites.csv\\)"
    with pytest.warns(UserWarning, match=said):
        sites = summarize_tables(tmp_path).sites
    assert list(sites["status"]) == ["done", "missing"]
    assert "results file is not in the folder" in list(sites["error"])[1]


def test_a_results_file_of_a_newer_version_is_said_in_the_summary(run_folder: Path, tmp_path: Path) -> None:
    import h5py

    from ndx_encoding_subspace.dataset import summarize_tables
    from ndx_encoding_subspace.results.versions import NewerResultsWarning

    name = next(iter(SITES))
    copy = tmp_path / f"{name}.results.nwb"
    copy.write_bytes((run_folder / f"{name}.results.nwb").read_bytes())
    with h5py.File(copy, "r+") as f:
        spec = f["specifications/ndx-encoding-subspace"]
        spec.move(list(spec)[0], "9.0.0")
    with pytest.warns(NewerResultsWarning, match="9.0.0"):
        summarize_tables(tmp_path)


def test_results_of_a_population_beside_one_cnn_per_site_are_said(tmp_path: Path) -> None:
    """One CNN across the dataset's sites against one per site: their similarities between
    sites differ in kind, and pooling them is said as for any other parameter."""
    from ndx_encoding_subspace.dataset.summarize import build_summary

    for i, pooled in enumerate((False, True)):
        source = mock_site(n_units=3, n_sounds=3, duration=0.25, seed=i).write(tmp_path / f"{i}.input.nwb")
        site = read_site(source, spectrogram=SpectrogramParams(n_channels=N_FREQ))
        results = _site_results(site, i)
        if pooled:
            results.provenance["population"] = {"sites": ["s0", "s1"], "units": 6, "key": "k"}
        write_results(results, tmp_path / f"s{i}.results.nwb")
        source.unlink()
    said = r"different parameters \(population.cnn: .site. in s0; .dataset. in s1"
    with pytest.warns(UserWarning, match=said):
        build_summary(tmp_path)


def test_subspaces_of_sites_with_other_spectrograms_are_not_compared(tmp_path: Path) -> None:
    """Two sites whose filters have the same shape over other axes (20 ms bins against
    10 ms): their units' pairs have no similarity, and the report says why; the sites'
    units are still paired within each site. A site made again is counted with results."""
    folder = tmp_path / "run"
    folder.mkdir()
    for i, (name, bin_size) in enumerate((("tens", 0.01), ("twenties", 0.02))):
        source = mock_site(n_units=3, n_sounds=3, duration=0.5, seed=i).write(tmp_path / f"{name}.nwb")
        site = read_site(source, spectrogram=SpectrogramParams(n_channels=N_FREQ, bin_size=bin_size))
        results = dataclasses.replace(_site_results(site, i), provenance={"config": {
            "training": {"device": "cpu"}, "spectrogram": {"bin_size": bin_size}}})
        write_results(results, folder / f"{name}.results.nwb")
    with pytest.warns(UserWarning, match="the results files were made with different parameters"):
        summary = summarize(folder)
    same = summary.units["site"][summary.pair_a] == summary.units["site"][summary.pair_b]
    similarity = np.asarray(summary.pairs["similarity"], dtype=float)
    assert np.all(np.isnan(similarity[~same])) and np.all(np.isfinite(similarity[same]))
    assert np.all(np.isnan(np.asarray(summary.pairs["similarity_paper"], dtype=float)[~same]))
    text = (summary.folder / "report.html").read_text()
    assert "subspaces of sites whose spectrograms differ are not compared" in text
    assert "spectrogram.bin_size: 0.01 in tens; 0.02 in twenties" in text
    assert "2 sites, 2 with results" in text
    flat = pair_similarities([np.eye(4)[:1].reshape(1, 2, 2)] * 3, axes=["a", "b", "a"])
    assert np.isnan(flat[0]) and flat[1] == 1.0 and np.isnan(flat[2])
    unknown = pair_similarities([np.eye(4)[:1].reshape(1, 2, 2)] * 3, axes=["a", None, "b"])
    assert unknown[0] == 1.0 and np.isnan(unknown[1]) and unknown[2] == 1.0  # a file without axes: compared


def test_a_summary_goes_elsewhere_and_an_unwritable_folder_is_said_before_any_file_is_read(
        run_folder: Path, tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    """A read-only OUT (an archive's mount, a shared folder): ``--out DIR`` takes the
    summary elsewhere; without it, the folder is named before the results are loaded."""
    import os

    from ndx_encoding_subspace.cli import main
    from ndx_encoding_subspace.dataset import summarize as module

    (tmp_path / "site.results.nwb").symlink_to(run_folder / f"{next(iter(SITES))}.results.nwb")
    elsewhere = tmp_path / "elsewhere" / "deeper"  # made with its parents, as run --out is
    assert main(["summarize", str(tmp_path), "--out", str(elsewhere)]) == 0
    assert {p.name for p in elsewhere.iterdir()} >= {"units.csv", "sites.csv", "report.html"}
    assert not (tmp_path / "summary").exists()
    capsys.readouterr()
    read = []
    monkeypatch.setattr(module, "build_summary", lambda *a, **k: read.append(a))
    writable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path and writable(path, mode))
    assert main(["summarize", str(tmp_path)]) == 7 and not read
    err = capsys.readouterr().err
    assert f"{tmp_path}: a folder this process cannot write in" in err and "another output folder" in err


def test_k_significant_is_empty_in_units_csv_where_no_noise_floor_was_computed(run_folder: Path) -> None:
    """``noise_repeats = 0``: the stored 0 is no count, and would enter the dataset's
    k_significant statistics as one."""
    from ndx_encoding_subspace.dataset.units import site_units
    from ndx_encoding_subspace.results import load_results

    res = load_results(run_folder / f"{next(iter(SITES))}.results.nwb")
    counted = site_units(res).units["k_significant"]
    assert all(v is not None for v in counted[[s.unit_position for s in res.subspaces]])
    no_floor = [dataclasses.replace(s, noise_floor_variance=np.full_like(s.noise_floor_variance, np.nan),
                                    k_significant=0) for s in res.subspaces]
    table = site_units(dataclasses.replace(res, subspaces=no_floor)).units
    assert all(v is None for v in table["k_significant"])


def test_summarize_without_the_viz_extra_writes_the_tables_and_says_the_report_is_left_out(
        run_folder: Path, tmp_path: Path) -> None:
    """No matplotlib: the tables are what a cluster without the viz extra needs; they are
    written, and one warning says the report is left out (it was exit 8 and no table)."""
    from ndx_encoding_subspace.testing.absent import run_without

    for name in SITES:
        (tmp_path / f"{name}.results.nwb").symlink_to(run_folder / f"{name}.results.nwb")
    code = """
import sys
from ndx_encoding_subspace.cli import main
print("rc", main(["summarize", sys.argv[1]]))
print("matplotlib" in sys.modules)
"""
    done = run_without(["matplotlib"], code, str(tmp_path))
    assert done.stdout.splitlines()[-2:] == ["rc 0", "False"], done.stdout + done.stderr[-3000:]
    assert "the dataset's report needs matplotlib, which is not installed: the tables are written" \
        in done.stderr
    assert sorted(p.name for p in (tmp_path / "summary").iterdir()) == [
        "dimensions.csv", "pairs.csv", "sites.csv", "units.csv"]
