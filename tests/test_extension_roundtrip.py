"""HDF5 round trips of every type, reading without the package, validation and inspection."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, validate
from pynwb.testing import TestCase

from ndx_encoding_subspace import (
    EncodingModel,
    EncodingModels,
    SiteSubspace,
    SpectrogramSeries,
    SubspaceNonlinearityTable,
    TuningSubspaceTable,
)
from ndx_encoding_subspace.testing import mock_results_nwbfile
from ndx_encoding_subspace.testing.mock import MODULE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The linked table for DynamicTableRegion:UserWarning"
)


PATHS = ["spectrogram", "population_cnn", "subspace_models", "tuning_subspaces",
         "subspace_nonlinearities", "site_subspace"]


@pytest.fixture(scope="module")
def written() -> Iterator[tuple[Path, NWBFile]]:
    """The mock file written once: (path, the in-memory NWBFile that was written)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roundtrip.nwb"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            nwbfile = mock_results_nwbfile()
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
        yield path, nwbfile


@pytest.fixture(scope="module")
def read_back(written: tuple[Path, NWBFile]) -> Iterator[NWBFile]:
    with NWBHDF5IO(str(written[0]), "r") as io:
        yield io.read()


def _assert_models_equal(case: TestCase, got: EncodingModel, expected: EncodingModel) -> None:
    case.assertContainerEqual(got, expected, ignore_hdmf_attrs=True)
    assert sorted(got.model_parameters) == sorted(expected.model_parameters)
    for key, tensor in expected.model_parameters.items():
        case.assertContainerEqual(got.model_parameters[key], tensor, ignore_hdmf_attrs=True)


@pytest.mark.parametrize("name", PATHS)
def test_every_type_round_trips_with_equal_values(
    name: str, written: tuple[Path, NWBFile], read_back: NWBFile
) -> None:
    expected = written[1].processing[MODULE][name]
    got = read_back.processing[MODULE][name]
    assert type(got) is type(expected)
    assert got.object_id == expected.object_id
    case = TestCase()
    case.assertContainerEqual(got, expected, ignore_hdmf_attrs=True)
    if isinstance(expected, EncodingModels):
        assert sorted(got.models) == sorted(expected.models) and len(expected.models) > 0
        for key, model in expected.models.items():
            _assert_models_equal(case, got.models[key], model)


@pytest.fixture(scope="module")
def results_file(written: tuple[Path, NWBFile]) -> Path:
    """Path of the file holding every type."""
    return written[0]


def test_accessors_after_reading(results_file: Path) -> None:
    memory = mock_results_nwbfile().processing[MODULE]
    with NWBHDF5IO(str(results_file), "r") as io:
        module = io.read().processing[MODULE]
        spec = module["spectrogram"]
        assert isinstance(spec, SpectrogramSeries)
        assert spec.filterbank == "gammatone" and spec.compression == 0.25
        np.testing.assert_array_equal(spec.frequencies[:], memory["spectrogram"].frequencies)

        model = module["population_cnn"].get_model("cnn_jk1_init0")
        assert isinstance(model, EncodingModel)
        expected = memory["population_cnn"].get_model("cnn_jk1_init0").state_dict()
        got = model.state_dict()
        assert list(got) == sorted(expected)
        for key, value in expected.items():
            assert got[key].shape == value.shape and got[key].dtype == value.dtype
            np.testing.assert_array_equal(got[key], value)
        assert model.get_architecture()["core"][0]["kind"] == "gaussian_mix"
        assert model.spectrogram is spec
        np.testing.assert_array_equal(model.unit_rows(), [0, 1, 2])
        assert list(model.estimation_sounds[:]) == ["sound_a", "sound_b"]
        curves = model.training_log.get_loss_curves()
        np.testing.assert_allclose(curves["training_loss"], np.linspace(1.0, 0.5, 4))
        assert set(model.scores.get_unit_scores(2)) == {"r", "ccnorm", "noise_ceiling",
                                                        "shuffle_floor"}
        assert json.loads(model.package_versions)["numpy"] == np.__version__

        table = module["tuning_subspaces"]
        assert isinstance(table, TuningSubspaceTable)
        assert table.source_models is module["population_cnn"]
        ref = memory["tuning_subspaces"]
        for row in range(len(table)):
            assert table.get_filters(row).shape == (row + 1, 4, 5)
            np.testing.assert_array_equal(table.get_filters(row), ref.get_filters(row))
            np.testing.assert_array_equal(table.get_mean_dstrf(row), ref.get_mean_dstrf(row))
            np.testing.assert_array_equal(table.get_explained_variance(row),
                                          ref.get_explained_variance(row))
        np.testing.assert_array_equal(table["k"].data[:], [1, 2, 3])
        assert table.row_of_unit(2) == 2

        nonlin = module["subspace_nonlinearities"]
        assert isinstance(nonlin, SubspaceNonlinearityTable)
        assert nonlin.min_count == 2
        assert nonlin.get_model(1) is module["subspace_models"].get_model("unit_1")
        ssrf = nonlin.get_ssrf(0)
        assert ssrf["pairs"].shape == (0, 2) and ssrf["mean"].shape == (0, 6, 6)
        ssrf = nonlin.get_ssrf(2)
        np.testing.assert_array_equal(ssrf["pairs"], [[0, 1], [0, 2]])
        np.testing.assert_array_equal(ssrf["mean"], memory["subspace_nonlinearities"]
                                      .get_ssrf(2)["mean"])  # NaN in the same places
        assert nonlin.get_tuning_curves(1)["bin_edges"].shape == (2, 11)

        site = module["site_subspace"]
        assert isinstance(site, SiteSubspace)
        np.testing.assert_array_equal(site.get_unit_similarity(1),
                                      memory["site_subspace"].subspace_similarity[1])
        assert site.get_response_region(0).dtype == np.bool_


def test_file_validates(results_file: Path) -> None:
    errors = validate(path=str(results_file))
    assert errors == [] or errors == ([], 0), errors


def test_fresh_process_reads_without_the_package(results_file: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from pynwb import NWBHDF5IO
        with NWBHDF5IO({str(results_file)!r}, "r", load_namespaces=True) as io:
            m = io.read().processing["encoding_subspace"]
            t = m["tuning_subspaces"]
            assert type(t).__name__ == "TuningSubspaceTable", type(t)
            print(t["filters"][2].shape)
            em = m["population_cnn"]["cnn_jk0_init0"]
            print(type(em).__name__, em.n_lags, em.units.data[:].tolist())
            print(m["site_subspace"].subspace_similarity.shape)
            print(m["subspace_nonlinearities"]["ssrf_mean"][2].shape)
        assert not any(k.startswith("ndx_encoding_subspace") for k in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=results_file.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["(3, 4, 5)", "EncodingModel 5 [0, 1, 2]",
                                           "(3, 3)", "(2, 6, 6)"]


def test_nwbinspector_finds_no_violation(results_file: Path) -> None:
    from nwbinspector import Importance, inspect_nwbfile

    bad = [m for m in inspect_nwbfile(nwbfile_path=str(results_file))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION,
                               Importance.ERROR)]
    assert bad == [], [f"{m.check_function_name}: {m.message}" for m in bad]


def test_mock_models_load_as_torch_modules(results_file: Path) -> None:
    """The mock file's models are real architectures: the loader rebuilds and runs them."""
    import torch

    from ndx_encoding_subspace.results import load_results

    loaded = load_results(results_file)
    assert loaded.models, "no models loaded from the mock results file"
    memory = mock_results_nwbfile().processing[MODULE]["population_cnn"].get_model("cnn_jk1_init0")
    model = next(m for m in loaded.models if m.name == "cnn_jk1_init0")
    for key, value in memory.state_dict().items():
        np.testing.assert_array_equal(model.module.state_dict()[key].numpy(), value)
    out = model.module(torch.zeros(1, 7, 4))
    assert out.shape == (1, 7, 3) and torch.isfinite(out).all()
