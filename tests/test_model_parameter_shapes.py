"""Every tensor of an EncodingModel reads back with the shape and dtype it was written with."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hdmf.common import DynamicTableRegion
from pynwb import NWBHDF5IO, NWBFile, validate
from pynwb.file import Subject
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace import EncodingModel, EncodingModels, ModelParameter
from ndx_encoding_subspace.models import LNPopulation
from ndx_encoding_subspace.models.architecture import state_arrays, to_architecture
from ndx_encoding_subspace.results import MODULE, load_results
from ndx_encoding_subspace.testing.mock import FERRET, mock_units

pytestmark = pytest.mark.filterwarnings(
    "ignore:The linked table for DynamicTableRegion:UserWarning"
)

SHAPES = [(), (1,), (1, 1), (1, 1, 1), (3,), (2, 1), (0,)]
DTYPES = [np.float32, np.int64]
COLLECTION, MODEL = "models", "model"


def _tensors() -> dict[str, np.ndarray]:
    """One tensor per shape and dtype, values distinct from 0 and from each other."""
    out = {}
    for i, shape in enumerate(SHAPES):
        for dtype in DTYPES:
            size = int(np.prod(shape))
            out[f"t{i}.{np.dtype(dtype).name}"] = (
                np.arange(size, dtype=dtype).reshape(shape) + 7 * i + 3)
    return out


def _nwbfile(params: dict[str, np.ndarray], architecture: str = "{}",
             n_units: int = 1) -> NWBFile:
    nwbfile = mock_NWBFile(subject=Subject(subject_id="ferret-1", species=FERRET, sex="F",
                                           age="P365D", description="Example subject."))
    mock_units(n_units=n_units, nwbfile=nwbfile)
    units = DynamicTableRegion(name="units", data=list(range(n_units)),
                               description="Units the model predicts.", table=nwbfile.units)
    model = EncodingModel(name=MODEL, description="Shapes test.", role="ln",
                          architecture=architecture, bin_size=0.01, n_lags=3, units=units,
                          model_parameters=params)
    module = nwbfile.create_processing_module(MODULE, "Encoding models.")
    module.add(EncodingModels(name=COLLECTION, description="One model.", models=[model]))
    return nwbfile


def _write(nwbfile: NWBFile, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].shape == value.shape, key
        assert got[key].dtype == value.dtype, key
        np.testing.assert_array_equal(got[key], value)


@pytest.fixture(scope="module")
def shapes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(_nwbfile(_tensors()), tmp_path_factory.mktemp("shapes") / "shapes.nwb")


def test_the_file_stores_every_shape(shapes_file: Path) -> None:
    with h5py.File(shapes_file, "r") as f:
        group = f[f"processing/{MODULE}/{COLLECTION}/{MODEL}/parameters"]
        for key, value in _tensors().items():
            assert group[key].shape == value.shape and group[key].dtype == value.dtype


def test_state_dict_keeps_every_shape_after_reading(shapes_file: Path) -> None:
    expected = _tensors()
    with NWBHDF5IO(str(shapes_file), "r") as io:
        model = io.read().processing[MODULE][COLLECTION].get_model(MODEL)
        _assert_same(model.state_dict(), expected)
        tensor = model.get_model_parameter("t1.float32")
        assert isinstance(tensor, ModelParameter) and tensor.data.shape == (1,)


def test_in_memory_state_dict_keeps_every_shape() -> None:
    model = _nwbfile(_tensors()).processing[MODULE][COLLECTION].get_model(MODEL)
    _assert_same(model.state_dict(), _tensors())


def test_export_keeps_every_shape(shapes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported.nwb"
    with NWBHDF5IO(str(shapes_file), "r") as src:
        nwbfile = src.read()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with NWBHDF5IO(str(out), "w") as dst:
                dst.export(src_io=src, nwbfile=nwbfile)
    with NWBHDF5IO(str(out), "r") as io:
        model = io.read().processing[MODULE][COLLECTION].get_model(MODEL)
        _assert_same(model.state_dict(), _tensors())


def test_shapes_file_validates(shapes_file: Path) -> None:
    errors = validate(path=str(shapes_file))
    assert errors == [] or errors == ([], 0), errors


def test_nwbinspector_finds_no_violation(shapes_file: Path) -> None:
    from nwbinspector import Importance, inspect_nwbfile

    bad = [m for m in inspect_nwbfile(nwbfile_path=str(shapes_file))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION,
                               Importance.ERROR)]
    assert bad == [], [f"{m.check_function_name}: {m.message}" for m in bad]


@pytest.mark.parametrize("squeezed", [False, True], ids=["stored_shape", "stored_as_scalar"])
def test_one_unit_model_loads(squeezed: bool, tmp_path: Path) -> None:
    """A one-unit model has per-unit tensors of shape (1,); files that hold them as 0-d
    datasets (exported after they were read as scalars) still load into the module."""
    torch.manual_seed(0)
    module = LNPopulation(4, 1, channels=2, taps=3)
    expected = state_arrays(module)
    assert sum(v.shape == (1,) for v in expected.values()) >= 4
    stored = {k: v.reshape(()) if squeezed and v.shape == (1,) else v
              for k, v in expected.items()}
    path = _write(_nwbfile(stored, json.dumps(to_architecture(module))), tmp_path / "ln.nwb")

    with NWBHDF5IO(str(path), "r") as io:
        model = io.read().processing[MODULE][COLLECTION].get_model(MODEL)
        _assert_same(model.state_dict(), stored)

    loaded = load_results(path).collections[COLLECTION].members[0]
    _assert_same(state_arrays(loaded.module), expected)
    x = torch.randn(1, 5, 4)
    torch.testing.assert_close(loaded.module(x), module.eval()(x))
