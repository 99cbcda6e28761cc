"""Arrays a notebook hands the Python API: torch tensors (with gradients too), nested lists,
complex numbers, empty arrays and models of another precision, each taken as real numbers
or refused with the package's own error naming what was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.arrays import real_array
from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.nonlinearity.ssrf import SSRFParams, ssrf
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspaces
from ndx_encoding_subspace.subspace.projection import project, project_direct


def test_real_array_detaches_tensors_and_refuses_what_is_no_real_number():
    grad = torch.ones(3, requires_grad=True) * 2
    np.testing.assert_array_equal(real_array(grad, "x"), [2.0, 2.0, 2.0])
    assert real_array([[1, 2], [3, 4]], "x").shape == (2, 2)
    with pytest.raises(InvalidDataError, match="x: complex numbers"):
        real_array(np.ones(3) + 1j, "x")
    with pytest.raises(InvalidDataError, match="x: values of type <U1, not numbers"):
        real_array(["a", "b"], "x")
    with pytest.raises(InvalidDataError, match="x: not an array of numbers"):
        real_array([[1, 2], [3]], "x")


def test_projection_takes_tensors_and_refuses_filters_of_no_direction():
    rng = np.random.default_rng(0)
    stim, filters = rng.standard_normal((20, 4)), rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(project(torch.tensor(stim, requires_grad=True), torch.tensor(filters)),
                               project_direct(stim, filters), atol=1e-12)
    with pytest.raises(InvalidDataError, match=r"filters of shape \(0, 4, 3\) hold no direction"):
        project(stim, filters[:0])


def test_subspaces_of_nested_lists_and_ssrf_of_no_bins():
    samples = np.random.default_rng(1).standard_normal((30, 1, 2, 3))
    params = SubspaceParams(n_components=2, noise_repeats=0)
    listed = fit_subspaces(samples.tolist(), params)[0]
    direct = fit_subspaces(samples, params)[0]
    np.testing.assert_allclose(listed.explained_variance, direct.explained_variance)
    with pytest.raises(InvalidDataError, match="at least one bin and one dimension"):
        ssrf(np.zeros((0, 2)), np.zeros(0), SSRFParams())


def test_a_model_of_another_precision_is_named_as_such():
    class Double(torch.nn.Module):
        receptive_field = 3

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(4, 2, 3)

        def forward(self, x):
            return self.conv(torch.nn.functional.pad(x.transpose(1, 2), (2, 0))).transpose(1, 2)

    stim = [np.random.default_rng(2).random((20, 4))]
    with pytest.raises(InvalidDataError, match=r"Double holds torch.float64 parameters.*model.float\(\)"):
        dstrf(Double().double(), stim, params=DSTRFParams(n_lags=4, device="cpu"))


def test_a_short_description_of_any_value():
    """What the reprs of results objects show: small tensors (with gradients too) as lists,
    large ones by shape, paths whole, long mappings by their keys."""
    from pathlib import Path

    from ndx_encoding_subspace.arrays import short

    assert short(torch.ones(2, requires_grad=True)) == "[1.0, 1.0]"
    assert short(torch.zeros(3, 40)) == "<Tensor 3x40 torch.float32>"
    assert short(np.float64(0.5)) == "0.5" and short(np.array(2.0)) == "2.0" and short(None) == "None"
    long = Path("/data") / ("x" * 80) / "site.results.nwb"
    assert short(long) == repr(str(long))
    assert short({f"k{i}": i for i in range(9)}).startswith("<dict of 9: k0, k1, k2, k3, ...")
