"""Finished stages kept for a rerun: exact round trip, keys, no pickles, bad archives.

The generic store is :mod:`ndx_encoding_subspace.cache` (keys, fitted networks); the
pipeline keeps the tuning subspaces with :mod:`ndx_encoding_subspace.pipeline.stage_cache`.
"""

from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.cache import load_fit, save_fit, stage_key
from ndx_encoding_subspace.pipeline.stage_cache import load_subspaces, save_subspaces
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspaces


def _subspaces():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(4 * 5, 2)))[0].T
    x = rng.normal(size=(300, 3, 2)) @ (basis * [[3.0], [1.0]]) + 0.01 * rng.normal(size=(300, 3, 20))
    units = fit_subspaces(x.reshape(300, 3, 4, 5), SubspaceParams(n_components=4, noise_repeats=2))
    shared = dataclasses.replace(units[0], unit=-1)
    return units, shared


def _assert_equal(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert type(x) is type(y) or isinstance(x, np.ndarray), f.name
        np.testing.assert_array_equal(y, x, err_msg=f.name)


def test_subspaces_round_trip_exactly_without_pickles(tmp_path):
    units, shared = _subspaces()
    path = tmp_path / "subspaces.npz"
    save_subspaces(path, "k1", units, shared)
    got_units, got_shared = load_subspaces(path, "k1")
    assert len(got_units) == 3
    for a, b in zip([*units, shared], [*got_units, got_shared]):
        _assert_equal(a, b)
    assert isinstance(got_units[1].k, int) and got_shared.unit == -1
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert all(z[name].dtype.kind != "O" for name in z.files)
    assert [p.name for p in tmp_path.iterdir()] == ["subspaces.npz"]  # no temporary left


def test_another_key_or_a_bad_archive_means_recompute(tmp_path):
    units, shared = _subspaces()
    path = tmp_path / "subspaces.npz"
    assert load_subspaces(path, "k1") is None  # absent
    save_subspaces(path, "k1", units, shared)
    assert load_subspaces(path, "k2") is None
    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.warns(UserWarning, match=f"{path}: damaged archive in the work folder"):
        assert load_subspaces(path, "k1") is None
    with zipfile.ZipFile(path, "w") as z:  # a zip of something else: no key of ours
        z.writestr("key.npy", b"not an array")
    assert load_subspaces(path, "k1") is None
    np.savez(path, key=np.array([{"a": 1}], dtype=object))  # a pickle is never read
    with pytest.warns(UserWarning, match="damaged archive"):
        assert load_subspaces(path, "k1") is None


def test_the_key_follows_weights_stimuli_and_parameters():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    stim = [np.arange(12, dtype=np.float32).reshape(4, 3)]
    params = {"subspace": SubspaceParams().to_dict()}
    key = stage_key([model], stim, params)
    assert key == stage_key([model], [s.copy() for s in stim], dict(params))
    other = torch.nn.Linear(3, 2)
    other.load_state_dict(model.state_dict())
    assert stage_key([other], stim, params) == key
    with torch.no_grad():
        other.weight[0, 0] += 1e-6
    assert stage_key([other], stim, params) != key
    assert stage_key([model], [stim[0] + 1], params) != key
    assert stage_key([model], stim, {"subspace": SubspaceParams(seed=1).to_dict()}) != key


def test_the_key_takes_scalar_tensors_and_the_format():
    model = torch.nn.BatchNorm1d(3)  # holds a 0-d buffer
    key = stage_key([model], [], {})
    assert key == stage_key([model], [], {}) and len(key) == 64


def test_fits_round_trip_exactly_without_pickles(tmp_path):
    torch.manual_seed(0)
    state = torch.nn.Linear(3, 2).state_dict()
    record = {"epochs": 3, "val_loss": [1.5, None]}
    path = tmp_path / "fit.pt"
    assert load_fit(path, "k1") is None  # absent
    save_fit(path, "k1", state, record)
    got_state, got_record = load_fit(path, "k1")
    assert got_record == record and set(got_state) == set(state)
    for name, tensor in state.items():
        assert torch.equal(got_state[name], tensor)
    assert load_fit(path, "k2") is None
    assert [p.name for p in tmp_path.iterdir()] == ["fit.pt"]  # no temporary left
    torch.save({"key": "k1", "state": {}, "record": object()}, path)  # a pickle is never run
    with pytest.warns(UserWarning, match="damaged fit"):
        assert load_fit(path, "k1") is None
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match=f"{path}: damaged fit in the work folder"):
        assert load_fit(path, "k1") is None


def test_the_generic_store_imports_no_stage():
    import subprocess
    import sys

    code = ("import sys, ndx_encoding_subspace.cache; "
            "stages = ('pipeline', 'nonlinearity', 'subspace', 'dstrf', 'fitting', 'models', "
            "'circuit', 'results', 'viz', 'io', 'data'); "
            "print([m for m in sys.modules if m.split('.')[0] == 'ndx_encoding_subspace' "
            "and len(m.split('.')) > 1 and m.split('.')[1] in stages])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_old_module_path_gives_every_name():
    import importlib
    import sys

    sys.modules.pop("ndx_encoding_subspace.stage_cache", None)
    with pytest.warns(DeprecationWarning, match="ndx_encoding_subspace.cache or "):
        old = importlib.import_module("ndx_encoding_subspace.stage_cache")
    for name in ("stage_key", "save_fit", "load_fit", "save_subspaces", "load_subspaces"):
        assert callable(getattr(old, name)), name
    assert old.stage_key is stage_key and old.save_subspaces is save_subspaces
