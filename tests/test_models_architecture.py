"""Architecture documents: JSON round trip, strict state loading, validation errors."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.errors import ConfigError, ResultsError
from ndx_encoding_subspace.models import (
    LNPopulation,
    MemberAverage,
    PopulationCNN,
    SubspaceNetwork,
    SubspaceNetworks,
    from_architecture,
    load_state,
    state_arrays,
    to_architecture,
    validate_architecture,
)


@pytest.mark.parametrize("make", [
    lambda: PopulationCNN(16, 7, mix_channels=10, fir_taps=5, hidden=(12, 9)),
    lambda: LNPopulation(16, 7, channels=8, taps=4),
    lambda: SubspaceNetwork(3),
    lambda: SubspaceNetworks([2, 4, 1], hidden=(5, 3)),
    lambda: MemberAverage([SubspaceNetwork(3, hidden=(4, 2)) for _ in range(3)]),
    lambda: MemberAverage([LNPopulation(16, 7, channels=8, taps=4)]),
])
def test_round_trip_predicts_identically(make):
    torch.manual_seed(3)
    model = make()
    doc = json.loads(json.dumps(to_architecture(model)))
    rebuilt = from_architecture(doc)
    load_state(rebuilt, state_arrays(model))
    n_in = model.n_inputs
    x = torch.rand(2, 30, n_in)
    assert torch.equal(model(x), rebuilt(x))
    assert rebuilt.receptive_field == model.receptive_field
    assert to_architecture(rebuilt) == doc


def test_member_average_is_the_mean_and_members_must_agree():
    torch.manual_seed(0)
    nets = [SubspaceNetwork(2, hidden=(4, 3)) for _ in range(3)]
    avg = MemberAverage(nets)
    x = torch.rand(1, 20, 2)
    torch.testing.assert_close(avg(x), sum(n(x) for n in nets) / 3)
    doc = to_architecture(avg)
    assert doc["members"] == 3 and "members" not in to_architecture(nets[0])
    assert set(state_arrays(avg)) == {f"members.{i}.{k}" for i in range(3) for k in state_arrays(nets[0])}
    with pytest.raises(ConfigError, match="differ in architecture"):
        to_architecture(MemberAverage([SubspaceNetwork(2, hidden=(4, 3)), SubspaceNetwork(2, hidden=(5, 3))]))
    with pytest.raises(ConfigError, match="number of outputs"):
        MemberAverage([LNPopulation(4, 2, channels=2, taps=2), LNPopulation(4, 3, channels=2, taps=2)])
    with pytest.raises(ConfigError, match="at least one"):
        MemberAverage([])
    for bad in (0, -1, 2.0, "2", True, None):
        with pytest.raises(ResultsError, match="members"):
            validate_architecture({**doc, "members": bad})


def _doc():
    return to_architecture(LNPopulation(8, 3, channels=4, taps=3))


def test_unknown_kind_and_parameters_rejected():
    doc = _doc()
    bad = copy.deepcopy(doc)
    bad["core"][0]["kind"] = "lstm"
    with pytest.raises(ResultsError, match="unknown layer kind 'lstm'"):
        validate_architecture(bad)
    bad = copy.deepcopy(doc)
    bad["core"][1]["params"]["dilation"] = 2
    with pytest.raises(ResultsError, match="unknown parameter"):
        from_architecture(bad)
    bad = copy.deepcopy(doc)
    del bad["core"][2]["params"]["n_out"]
    with pytest.raises(ResultsError, match="missing parameter"):
        from_architecture(bad)
    bad = copy.deepcopy(doc)
    bad["core"][1]["params"]["taps"] = "3"
    with pytest.raises(ResultsError, match="taps"):
        validate_architecture(bad)
    bad = copy.deepcopy(doc)
    bad["version"] = 99
    with pytest.raises(ResultsError, match="version"):
        validate_architecture(bad)


def test_load_state_is_strict():
    model = from_architecture(_doc())
    arrays = state_arrays(model)
    extra = {**arrays, "extra.weight": np.zeros(2)}
    with pytest.raises(ResultsError, match="unexpected"):
        load_state(model, extra)
    missing = dict(arrays)
    missing.pop(next(iter(missing)))
    with pytest.raises(ResultsError, match="missing"):
        load_state(model, missing)
    key = next(k for k, v in arrays.items() if v.ndim == 2)
    wrong = {**arrays, key: np.zeros((1, 1), np.float32)}
    with pytest.raises(ResultsError, match="shape"):
        load_state(model, wrong)


def test_load_state_takes_big_endian_arrays():
    # a results file stored big-endian is valid HDF5; torch refuses non-native byte order
    torch.manual_seed(0)
    model = from_architecture(_doc())
    arrays = state_arrays(model)
    swapped = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in arrays.items()}
    rebuilt = load_state(from_architecture(_doc()), swapped)
    for key, value in rebuilt.state_dict().items():
        assert np.array_equal(value.numpy(), arrays[key])


def test_user_module_has_no_document():
    with pytest.raises(ConfigError):
        to_architecture(torch.nn.Linear(3, 2))


def test_a_document_without_the_optional_min_width_takes_the_models_default():
    from ndx_encoding_subspace.models.params import CNNParams

    doc = to_architecture(LNPopulation(8, 3, channels=4, taps=3))
    del doc["core"][0]["params"]["min_width"]
    assert from_architecture(doc).core_layers[0].min_width == CNNParams().min_width
