"""Constructors and accessors of the extension's classes, in memory."""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace import (
    EncodingModel,
    EncodingModels,
    ModelParameter,
    SiteSubspace,
    SpectrogramSeries,
    SubspaceNonlinearityTable,
    TrainingLog,
    TuningSubspaceTable,
    ragged_column,
)
from ndx_encoding_subspace.testing import (
    mock_encoding_model,
    mock_site_subspace,
    mock_spectrogram_series,
    mock_subspace_nonlinearity_table,
    mock_tuning_subspace_table,
    mock_units,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:The linked table for DynamicTableRegion:UserWarning"
)


@pytest.fixture
def units():
    return mock_units(n_units=4)


def test_ragged_column_rows_and_empty_entries() -> None:
    arrays = [np.ones((2, 3)), np.zeros((0, 3)), np.full((1, 3), 7.0)]
    index, column = ragged_column("x", "test", arrays, np.float32)
    assert column.data.shape == (3, 3) and column.data.dtype == np.float32
    np.testing.assert_array_equal(index.data, [2, 2, 3])
    assert index.target is column and index.name == "x_index"
    index, column = ragged_column("p", "test", [[], []], np.int32, element_shape=(2,))
    assert column.data.shape == (0, 2)


def test_constructors_are_keyword_only() -> None:
    # hdmf's docval raises SyntaxError for positional arguments when they are not allowed
    with pytest.raises(SyntaxError, match="Only keyword arguments"):
        ModelParameter("w", np.zeros(3))
    with pytest.raises(SyntaxError, match="Only keyword arguments"):
        EncodingModels("models", "description")
    with pytest.raises(SyntaxError, match="Only keyword arguments"):
        TrainingLog("log")
    assert TrainingLog(name="log").name == "log"


def test_model_parameter_rejects_slash() -> None:
    with pytest.raises(ValueError, match="contains '/'"):
        ModelParameter(name="layers/0", data=np.zeros(2))


def test_encoding_model_from_mapping_keeps_every_tensor(units) -> None:
    model = mock_encoding_model(units=units, rows=[1, 3])
    state = model.state_dict()
    assert list(state) == sorted(state)
    assert state["core_layers.2.linear.weight"].shape == (2, 3)
    assert state["output.base"].shape == (2,)
    np.testing.assert_array_equal(model.unit_rows(), [1, 3])
    assert model.get_architecture()["core"][0]["kind"] == "gaussian_mix"
    assert model.n_lags == 5 and isinstance(model.n_lags, int)


def test_encoding_model_rejects_wrong_types(units) -> None:
    model = mock_encoding_model(units=units)
    with pytest.raises(TypeError, match="bin_size"):
        EncodingModel(name="m", description="d", role="ln", architecture="{}", bin_size="10ms",
                      n_lags=3, units=model.units)


def test_encoding_models_holds_several(units) -> None:
    models = EncodingModels(name="ens", description="two",
                            models=[mock_encoding_model(units=units, name=f"m{i}") for i in range(2)])
    assert sorted(models.models) == ["m0", "m1"]
    assert models.get_model("m1").name == "m1"


def test_spectrogram_series_fields() -> None:
    spec = mock_spectrogram_series(n_times=7, n_freq=3)
    assert isinstance(spec, SpectrogramSeries)
    assert spec.data.shape == (7, 3) and spec.frequencies.shape == (3,)
    assert spec.n_channels == 3 and spec.min_frequency == pytest.approx(200.0)


def test_tuning_subspace_table_accessors(units) -> None:
    table = mock_tuning_subspace_table(units=units)
    assert isinstance(table, TuningSubspaceTable)
    assert len(table) == 3
    for row in range(3):
        assert table.get_filters(row).shape == (row + 1, 4, 5)
        assert table.get_mean_dstrf(row).shape == (4, 5)
        assert table.get_explained_variance(row).shape == (6,)
        assert table.get_noise_floor_variance(row).shape == (6,)
    np.testing.assert_array_equal(table["k"].data, [1, 2, 3])
    # the ragged rows are the arrays given, in order
    filters = np.asarray(table["filters"].target.data)  # the index resolves to its target
    np.testing.assert_array_equal(table.get_filters(2), filters[3:6])
    np.testing.assert_array_equal(table.get_filters(-1), filters[3:6])
    with pytest.raises(IndexError):
        table.get_filters(3)
    assert table.row_of_unit(1) == 1
    with pytest.raises(KeyError):
        table.row_of_unit(3)


def test_tuning_subspace_table_checks_lengths(units) -> None:
    with pytest.raises(ValueError, match="threshold has 1 rows, expected 2"):
        TuningSubspaceTable.from_arrays(
            units=units, unit_rows=[0, 1], filters=[np.zeros((1, 2, 2))] * 2,
            explained_variance=[np.ones(3)] * 2, noise_floor_variance=[np.ones(3)] * 2,
            threshold=[0.9], mean_dstrf=np.zeros((2, 2, 2)),
        )


def test_subspace_nonlinearity_table_accessors(units) -> None:
    table = mock_subspace_nonlinearity_table(units=units)
    assert isinstance(table, SubspaceNonlinearityTable)
    assert table.get_model(0) is None  # built without models
    assert table.get_asymmetry_index(2).shape == (3,)
    assert set(np.unique(table.get_dimension_sign(2))) <= {-1, 1}
    curves = table.get_tuning_curves(1)
    assert curves["bin_edges"].shape == (2, 11) and curves["mean"].shape == (2, 10)
    ssrf = table.get_ssrf(2)
    assert ssrf["pairs"].shape == (2, 2) and ssrf["mean"].shape == (2, 6, 6)
    np.testing.assert_array_equal(np.isnan(ssrf["mean"]), ssrf["count"] < 2)
    assert table.get_ssrf(0)["mean"].shape == (0, 6, 6)


def test_subspace_nonlinearity_table_checks_lengths(units) -> None:
    good = dict(
        units=units, unit_rows=[0], min_count=2, dimension_sign=[np.ones(1)],
        asymmetry_index=[np.zeros(1)], tuning_bin_edges=[np.zeros((1, 3))],
        tuning_mean=[np.zeros((1, 2))], tuning_sem=[np.zeros((1, 2))],
        tuning_count=[np.zeros((1, 2))], ssrf_bin_edges=[np.zeros((1, 4))],
        ssrf_pairs=[np.zeros((0, 2))], ssrf_mean=[np.zeros((0, 3, 3))],
        ssrf_count=[np.zeros((0, 3, 3))],
    )
    assert len(SubspaceNonlinearityTable.from_arrays(**good)) == 1
    with pytest.raises(ValueError, match="asymmetry_index has 2 rows"):
        SubspaceNonlinearityTable.from_arrays(**{**good, "asymmetry_index": [[0.0], [1.0]]})


def test_site_subspace_accessors(units) -> None:
    site = mock_site_subspace(units=units)
    assert site.get_filters().shape == (3, 4, 5)
    np.testing.assert_array_equal(site.get_unit_similarity(2), site.subspace_similarity[2])
    np.testing.assert_array_equal(site.get_unit_overlap(0), site.region_overlap[0])
    assert site.get_response_region(1).shape == (4, 4, 4)
    np.testing.assert_array_equal(site.unit_rows(), [0, 1, 2, 3])
    bare = SiteSubspace(description="d", units=site.units, filters=np.zeros((1, 2, 2)),
                        explained_variance=np.ones(1))
    with pytest.raises(AttributeError, match="subspace_similarity"):
        bare.get_unit_similarity(0)


def test_package_import_stays_light() -> None:
    import subprocess
    import sys

    heavy = ("torch", "sklearn", "matplotlib", "dask", "spikeinterface", "dandi")
    code = ("import sys, ndx_encoding_subspace, ndx_encoding_subspace.testing; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_ragged_column_refuses_rows_whose_elements_disagree_naming_the_column_and_row() -> None:
    """Its docstring: the axes after the first must agree (with ``element_shape`` when
    given); a row that disagrees was stored as it was (element_shape ignored) or failed in
    numpy without naming the column."""
    import numpy as np
    import pytest

    from ndx_encoding_subspace import ragged_column

    with pytest.raises(ValueError, match=r"'filters': row 0 has elements of shape \(3,\), not \(4,\)"):
        ragged_column("filters", "d", [np.zeros((2, 3))], np.float32, element_shape=(4,))
    with pytest.raises(ValueError, match=r"'filters': row 1 has elements of shape \(4,\), not \(3,\)"):
        ragged_column("filters", "d", [np.zeros((2, 3)), np.zeros((1, 4))], np.float32)
    index, data = ragged_column("filters", "d", [np.zeros((2, 3)), np.zeros(0), np.ones((1, 3))], np.float32)
    assert np.asarray(data.data).shape == (3, 3) and list(np.asarray(index.data)) == [2, 2, 3]
    index, data = ragged_column("values", "d", [[1, 2], [], [3]], np.int64)
    assert list(np.asarray(data.data)) == [1, 2, 3]
    # a row of four empty elements is no empty row: its length would be lost
    with pytest.raises(ValueError, match=r"'filters': row 1 has elements of shape \(0,\), not \(3,\)"):
        ragged_column("filters", "d", [np.zeros((2, 3)), np.zeros((4, 0))], np.float32)
    with pytest.raises(ValueError, match=r"'values': row 0 is a scalar"):
        ragged_column("values", "d", [np.float32(1.0)], np.float32)


def test_every_row_accessor_refuses_a_row_out_of_range_or_not_an_integer_naming_the_object() -> None:
    from ndx_encoding_subspace.testing.mock import mock_results_nwbfile

    results = mock_results_nwbfile().processing["encoding_subspace"]
    site, tuning = results["site_subspace"], results["tuning_subspaces"]
    nonlinearities = results["subspace_nonlinearities"]
    scores = next(iter(results["population_cnn"].models.values())).scores
    for accessor, name in ((site.get_unit_similarity, "site_subspace"),
                           (site.get_response_region, "site_subspace"),
                           (tuning.get_mean_dstrf, "tuning_subspaces"),
                           (tuning.get_reliability, "tuning_subspaces"),
                           (tuning.get_reliability_rule, "tuning_subspaces"),
                           (tuning.get_filters, "tuning_subspaces"),
                           (nonlinearities.get_model, "subspace_nonlinearities"),
                           (scores.get_unit_scores, "scores")):
        with pytest.raises(IndexError, match=rf"row -9 out of range for .*{name}.* \(\d+ rows\)"):
            accessor(-9)
        with pytest.raises(IndexError, match=name):
            accessor(99)
        with pytest.raises(TypeError, match=rf"{name}.*integer position, not 1.0"):
            accessor(1.0)
    # the last row counted from the end, as a sequence's
    np.testing.assert_array_equal(tuning.get_mean_dstrf(-1), tuning.get_mean_dstrf(len(tuning) - 1))
    np.testing.assert_array_equal(site.get_unit_similarity(np.int64(-1)), site.get_unit_similarity(2))


def test_a_row_out_of_range_is_refused_where_the_file_lacks_the_column_too() -> None:
    """A file of release 0.1.0 has no reliability columns, and a table may have no model
    column: the accessors' defaults (NaN, 'unknown', None) are for rows that are there."""
    from pathlib import Path

    import pytest
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.testing.mock import mock_subspace_nonlinearity_table

    old = Path(__file__).resolve().parent / "data" / "results_v0_1_0.nwb"
    with NWBHDF5IO(str(old), "r") as io:
        tuning = io.read().processing["encoding_subspace"]["tuning_subspaces"]
        assert "reliability" not in tuning.colnames
        assert tuning.get_reliability_rule(0) == "unknown"
        for accessor in (tuning.get_reliability, tuning.get_reliability_rule):
            with pytest.raises(IndexError, match=r"row 99 out of range for 'tuning_subspaces'"):
                accessor(99)
            with pytest.raises(TypeError, match=r"'tuning_subspaces'.*integer position, not 1.0"):
                accessor(1.0)
    table = mock_subspace_nonlinearity_table()
    assert "model" not in table.colnames and table.get_model(0) is None
    with pytest.raises(IndexError, match=r"row 9 out of range for table 'subspace_nonlinearities'"):
        table.get_model(9)


def test_ragged_column_keeps_the_length_of_a_row_of_empty_elements_whatever_their_shape():
    """Rows whose elements are empty ((3, 0): three elements of shape (0,)) keep their
    length, given the element shape or taken from them."""
    from ndx_encoding_subspace.extension.columns import ragged_column

    rows = [np.zeros((3, 0)), np.zeros((2, 0)), np.zeros((0,))]
    for shape in ((0,), None):
        index, column = ragged_column("x", "d", rows, np.float64, shape)
        assert [int(e) for e in index.data] == [3, 5, 5]
        assert np.shape(column.data) == (5, 0)
