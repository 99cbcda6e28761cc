"""Ground-truth recovery on the simulated site (METHOD.md sections 3-5).

The oracle is the generating model itself (:func:`truth_model`): its dSTRFs lie in the
true subspaces, so the dSTRF step (sign, lag and frequency orientation), the PCA and the
choice of k, the projection and the nonlinearity classification are all checked
against the truth, through the same similarity as the results (mean squared cosine of
the principal angles, Frobenius inner product over [F, D], truth zero-padded to D).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.circuit import subspace_similarity
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site, truth_model
from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
from ndx_encoding_subspace.nonlinearity.ssrf import classify_shape, orient
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspaces
from ndx_encoding_subspace.subspace.projection import project

SIZE = SimulationParams.quick(n_units=6, n_estimation_sounds=12, seed=4)
D = 30


def _pad(filters: np.ndarray, n_lags: int) -> np.ndarray:
    out = np.zeros(filters.shape[:2] + (n_lags,))
    out[..., : filters.shape[2]] = filters
    return out


@pytest.fixture(scope="module")
def site():
    return simulate_site(SIZE)


@pytest.fixture(scope="module")
def recovered(site):
    model = truth_model(site.truth)
    est = [site.spectrograms[n] for n in site.estimation]
    times = [np.arange(0, len(s), 2) for s in est]
    values = dstrf(model, est, times, DSTRFParams(n_lags=D, device="cpu"))
    return model, fit_subspaces(values, SubspaceParams(noise_repeats=0))


def test_truth_model_gives_the_rates(site):
    model = truth_model(site.truth)
    for name in (site.estimation[0], site.validation[0]):
        with torch.no_grad():
            out = model(torch.from_numpy(site.spectrograms[name])[None])[0].numpy()
        np.testing.assert_allclose(out, site.rates[name], rtol=1e-3, atol=1e-3 * site.rates[name].max())


def test_oracle_recovers_the_true_subspaces(site, recovered):
    _, subs = recovered
    sims = [subspace_similarity(_pad(u.filters, D), s.filters) for u, s in zip(site.truth.units, subs)]
    assert min(sims) > 0.99, sims
    k_ok = [abs(s.k - u.k) <= 1 for u, s in zip(site.truth.units, subs)]
    assert np.mean(k_ok) >= 0.8, [(u.k, s.k) for u, s in zip(site.truth.units, subs)]


def test_oracle_nonlinearity_classes(site, recovered):
    _, subs = recovered
    names = list(site.estimation) + list(site.validation)
    right = []
    for i, (u, s) in enumerate(zip(site.truth.units, subs)):
        x = np.concatenate([project(site.spectrograms[n], s.filters[:1]) for n in names])
        r = np.concatenate([site.rates[n][:, i] for n in names])
        shape = classify_shape(orient(x, r)[0][:, 0], r)
        right.append(shape.replace("-", "_") == u.kind)
    assert np.mean(right) >= 2 / 3, right


def test_a_wrong_lag_convention_is_caught(site, recovered):
    """The check can fail: filters reversed in lag are far from the truth."""
    _, subs = recovered
    sims = [subspace_similarity(_pad(u.filters, D), s.filters[..., ::-1].copy())
            for u, s in zip(site.truth.units, subs)]
    assert max(sims) < 0.5, sims
