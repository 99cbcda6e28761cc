"""Projection: causal convolution equals the defining sum and the dSTRF's local model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.subspace.projection import project, project_all, project_direct


def test_convolution_equals_direct_sum():
    rng = np.random.default_rng(0)
    stim = rng.random((50, 7))
    filters = rng.normal(size=(3, 7, 9))
    fast = project(stim, filters)
    assert fast.shape == (50, 3)
    np.testing.assert_allclose(fast, project_direct(stim, filters), atol=1e-12)
    # causality: changing the future leaves the past unchanged
    later = stim.copy()
    later[30:] = 0
    np.testing.assert_allclose(project(later, filters)[:30], fast[:30], atol=1e-12)
    # a single filter as [F, lag]
    np.testing.assert_allclose(project(stim, filters[0])[:, 0], fast[:, 0], atol=1e-12)
    parts = project_all([stim[:20], stim[20:]], filters)
    np.testing.assert_allclose(parts[0], fast[:20], atol=1e-12)


def test_projection_matches_a_linear_models_dstrf():
    """For a linear model, output(t) = <dSTRF(t), window(t)>: the same lag convention."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(5, 2, 6, bias=False)

    class Linear(torch.nn.Module):
        receptive_field = 6

        def forward(self, x):
            return conv(torch.nn.functional.pad(x.transpose(1, 2), (5, 0))).transpose(1, 2)

    stim = np.random.default_rng(1).random((40, 5)).astype(np.float32)
    filt = dstrf(Linear(), stim, [25], DSTRFParams(n_lags=8, device="cpu"))[0]  # [U, F, lag]
    with torch.no_grad():
        out = Linear()(torch.from_numpy(stim)[None])[0].numpy()
    np.testing.assert_allclose(project(stim, filt), out, atol=1e-5)


def test_shape_errors():
    with pytest.raises(InvalidDataError, match="same frequencies"):
        project(np.zeros((10, 4)), np.zeros((2, 5, 3)))
