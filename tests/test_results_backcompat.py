"""Files of extension version 0.1.0 still load, view and report with the current code.

``tests/data/results_v0_1_0.nwb`` was written by release 0.1.0 (its cached namespace is
0.1.0; ``tests/data/make_results_v0_1_0.py`` wrote it). Its tuning subspaces have none of
the columns of 0.2.0: their reliability reads as NaN, its rule as "unknown", each
dimension's confidence as NaN, and ``k_significant`` is counted from the stored
variances and noise floor.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO
from ruamel.yaml import YAML

from ndx_encoding_subspace.extension.reliability import (
    DIMENSION_CONFIDENCE,
    K_SIGNIFICANT,
    RELIABILITY,
    RELIABILITY_RULE,
    RULE_UNKNOWN,
)
from ndx_encoding_subspace.results import MODULE, load_results
from ndx_encoding_subspace.results.versions import (
    NewerResultsWarning,
    installed_version,
    warn_if_newer,
    written_versions,
)
from ndx_encoding_subspace.viz.report import ReportParams, write_report

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DATA = Path(__file__).resolve().parent / "data"
OLD = DATA / "results_v0_1_0.nwb"
SPEC = Path(__file__).resolve().parents[1] / "spec" / "ndx-encoding-subspace.namespace.yaml"


def _cached_versions(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return sorted(f["specifications"]["ndx-encoding-subspace"])


def test_the_kept_file_is_small_and_of_the_previous_version() -> None:
    assert OLD.stat().st_size < 600_000
    assert _cached_versions(OLD) == ["0.1.0"]
    current = YAML(typ="safe", pure=True).load(SPEC.read_text())["namespaces"][0]["version"]
    assert current != "0.1.0"
    with h5py.File(OLD, "r") as f:
        columns = set(f[f"processing/{MODULE}/tuning_subspaces"])
    assert not columns & {K_SIGNIFICANT, RELIABILITY, RELIABILITY_RULE, DIMENSION_CONFIDENCE}


def test_load_results_reads_the_old_file_with_unknown_reliability() -> None:
    loaded = load_results(OLD)
    assert [s.k for s in loaded.subspaces] == [1, 2, 3]
    for sub in loaded.subspaces:
        assert np.isnan(sub.reliability) and sub.reliability_rule == RULE_UNKNOWN
        assert sub.dimension_confidence.shape == sub.explained_variance.shape
        assert np.isnan(sub.dimension_confidence).all()
        # the writer of 0.1.0 stored the floor at component k's variance: k above it
        assert sub.k_significant == sub.k
    assert [m.name for m in loaded.ensemble("cnn").members] == ["cnn_jk0"]
    stim = np.random.default_rng(0).uniform(0, 1, (30, 6)).astype(np.float32)
    assert np.isfinite(loaded.ensemble("cnn").predict(stim)).all()


def test_old_file_tables_answer_the_new_accessors() -> None:
    with NWBHDF5IO(str(OLD), "r") as io:
        table = io.read().processing[MODULE]["tuning_subspaces"]
        assert K_SIGNIFICANT not in table.colnames
        for row in range(len(table)):
            assert np.isnan(table.get_reliability(row))
            assert table.get_reliability_rule(row) == RULE_UNKNOWN
            assert np.isnan(table.get_dimension_confidence(row)).all()
            assert table.get_k_significant(row) == row + 1


def test_report_of_the_old_file_says_reliability_unknown(tmp_path: Path) -> None:
    out = write_report(OLD, tmp_path / "old.html", params=ReportParams(n_examples=1, dpi=20))
    text = out.read_text(encoding="utf-8")
    assert "Subspace reliability" in text and "3 unknown." in text
    assert "reliability unknown" in text


def test_subspace_view_of_the_old_file() -> None:
    if importlib.util.find_spec("ipywidgets") is None:
        pytest.skip("ipywidgets (viz extra) not installed")
    from ndx_encoding_subspace.viz.widgets.subspace import SubspaceFiltersWidget

    with NWBHDF5IO(str(OLD), "r") as io:
        view = SubspaceFiltersWidget(io.read().processing[MODULE]["tuning_subspaces"])
        assert [label for label, _ in view.unit.options] == ["unit 10", "unit 11", "unit 12"]
        assert "reliability unknown" in view.message.value
        assert "k significant = 1" in view.message.value


def _with_cached_version(tmp_path: Path, version: str) -> Path:
    path = tmp_path / "site.results.nwb"
    path.write_bytes(OLD.read_bytes())
    with h5py.File(path, "a") as f:
        spec = f["specifications/ndx-encoding-subspace"]
        spec.move("0.1.0", version)
    return path


@pytest.mark.filterwarnings("error::ndx_encoding_subspace.results.versions.NewerResultsWarning")
def test_an_older_file_loads_without_a_version_warning() -> None:
    assert written_versions(OLD) == ["0.1.0"]
    assert warn_if_newer(OLD) is None
    load_results(OLD)


def test_a_file_of_a_newer_extension_loads_with_a_warning_naming_it(tmp_path: Path) -> None:
    path = _with_cached_version(tmp_path, "9.1.0")
    expected = r"site\.results\.nwb: written with version 9\.1\.0"
    with pytest.warns(NewerResultsWarning, match=expected) as caught:
        loaded = load_results(path)
    assert f"reads {installed_version()}" in str(caught[0].message)
    assert [s.k for s in loaded.subspaces] == [1, 2, 3]
    assert loaded.newer_version == "9.1.0" and load_results(OLD).newer_version is None


def test_the_report_and_the_viewer_say_a_file_is_of_a_newer_extension(tmp_path: Path) -> None:
    """The report is what people share: it carries the note that the warning gives."""
    pytest.importorskip("matplotlib")
    from ndx_encoding_subspace.viz.report import write_report

    path = _with_cached_version(tmp_path, "9.1.0")
    with pytest.warns(NewerResultsWarning):
        html = write_report(path, tmp_path / "r.html").read_text()
    assert "written with version 9.1.0 of the extension, newer than the one that made this report" in html
    if importlib.util.find_spec("nwbwidgets") is None:
        pytest.skip("nwbwidgets is not installed (the viz extra)")
    from ndx_encoding_subspace.viz.widgets import results_widget  # nwbwidgets through its shim

    with pytest.warns(NewerResultsWarning, match="written with version 9\\.1\\.0"):
        widget = results_widget(path)
    widget.opened.close()


def test_an_unparsable_cached_version_is_not_taken_for_a_newer_one(tmp_path: Path) -> None:
    assert warn_if_newer(_with_cached_version(tmp_path, "unreleased")) is None


def test_a_file_without_k90_and_k95_counts_them_from_its_variances(tmp_path: Path) -> None:
    """Both columns are optional in the spec: a file without them (written by other code)
    gives the counts that its stored explained variances give, not 0."""
    from ndx_encoding_subspace.extension.reliability import choose_k

    copy = tmp_path / "no_k90.nwb"
    copy.write_bytes(OLD.read_bytes())
    with h5py.File(copy, "r+") as f:
        table = f[f"processing/{MODULE}/tuning_subspaces"]
        for name in ("k90", "k95"):
            del table[name]
        table.attrs["colnames"] = [c for c in table.attrs["colnames"] if c not in ("k90", "k95")]
    for sub in load_results(copy).subspaces:
        assert sub.k90 == choose_k(sub.explained_variance, 0.90) >= 1
        assert sub.k95 == choose_k(sub.explained_variance, 0.95) >= sub.k90
