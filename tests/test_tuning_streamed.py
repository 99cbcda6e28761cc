"""The pipeline's tuning-subspace step: streamed (dSTRFs too large for memory) = in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.fitting.ensemble import Ensemble
from ndx_encoding_subspace.models import PopulationCNN
from ndx_encoding_subspace.pipeline import stages as analysis
from ndx_encoding_subspace.pipeline.config import PipelineConfig

F, U = 6, 3


def _site() -> SiteData:
    rng = np.random.default_rng(0)
    sounds = [Sound(f"s{i}", rng.random((n, F)).astype(np.float32),
                    rng.poisson(1.0, (1, n, U)).astype(np.float32))
              for i, n in enumerate((90, 70, 60))]
    return SiteData("streamed", tuple(sounds), np.arange(F, dtype=float), 0.01,
                    UnitInfo.from_ids([1, 2, 3]), ("s0", "s1"), ("s2",))


@pytest.mark.parametrize("shrinkage", [0.0, 1.0])
def test_streamed_tuning_subspaces_equal_in_memory(monkeypatch, shrinkage):
    torch.manual_seed(0)
    members = [PopulationCNN(F, U, mix_channels=5, fir_taps=4, hidden=(5, 4)).eval() for _ in range(2)]
    ensemble = Ensemble(members, [], [], [])
    config = PipelineConfig.from_dict({
        "dstrf": {"n_lags": 10, "sample_step": 1, "chunk_size": 16, "device": "cpu",
                  "shrinkage": shrinkage},
        "subspace": {"n_components": 8, "noise_repeats": 2},
    })
    site = _site()
    memory, shared = analysis.tuning_subspaces(ensemble, site, config)
    monkeypatch.setattr(analysis, "IN_MEMORY_DSTRF_BYTES", 0)
    streamed, streamed_shared = analysis.tuning_subspaces(ensemble, site, config)
    for a, b in zip([*memory, shared], [*streamed, streamed_shared]):
        assert (a.unit, a.k, a.k90, a.k95, a.n_samples, a.n_outliers) == (
            b.unit, b.k, b.k90, b.k95, b.n_samples, b.n_outliers)
        np.testing.assert_allclose(b.explained_variance, a.explained_variance, rtol=1e-4, atol=1e-7)
        ca, cb = (c.components.reshape(len(c.components), -1) for c in (a, b))
        np.testing.assert_allclose(np.abs((cb @ ca.T).diagonal())[:a.k], 1.0, atol=1e-4)
        np.testing.assert_allclose(b.mean, a.mean, rtol=1e-4, atol=1e-6)
    assert shared.unit == streamed_shared.unit == -1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run in the GPU checks)")
def test_streamed_on_the_gpu_equal_the_cpu(monkeypatch):
    torch.manual_seed(0)
    members = [PopulationCNN(F, U, mix_channels=5, fir_taps=4, hidden=(5, 4)).eval() for _ in range(2)]
    ensemble = Ensemble(members, [], [], [])
    monkeypatch.setattr(analysis, "IN_MEMORY_DSTRF_BYTES", 0)
    got = {}
    for device in ("cpu", "cuda"):
        config = PipelineConfig.from_dict({
            # each device's own chunk size: the reservoirs do not depend on the chunks
            "dstrf": {"n_lags": 10, "sample_step": 1, "device": device},
            "subspace": {"n_components": 8, "noise_repeats": 2, "noise_max_samples": 50},
        })
        units, shared = analysis.tuning_subspaces(ensemble, _site(), config)
        got[device] = [*units, shared]
    for a, b in zip(got["cpu"], got["cuda"]):
        assert (a.k, a.n_samples, a.n_outliers) == (b.k, b.n_samples, b.n_outliers)
        np.testing.assert_allclose(b.explained_variance, a.explained_variance, rtol=1e-4, atol=1e-7)
        # the card draws its own shuffles: another draw of the floor (2 of 50 samples here)
        np.testing.assert_allclose(b.noise_floor, a.noise_floor, rtol=0.3)
        cosines = (b.components[:a.k] * a.components[:a.k]).sum(axis=(1, 2))
        np.testing.assert_allclose(np.abs(cosines), 1.0, atol=1e-4)


@pytest.mark.parametrize(("shrinkage", "passes"), [(0.0, 2), (1.0, 3)])
def test_streamed_progress_counts_the_windows_of_every_pass(monkeypatch, shrinkage, passes):
    torch.manual_seed(0)
    members = [PopulationCNN(F, U, mix_channels=5, fir_taps=4, hidden=(5, 4)).eval() for _ in range(2)]
    ensemble = Ensemble(members, [], [], [])
    monkeypatch.setattr(analysis, "IN_MEMORY_DSTRF_BYTES", 0)
    config = PipelineConfig.from_dict({
        "dstrf": {"n_lags": 10, "sample_step": 1, "device": "cpu", "shrinkage": shrinkage,
                  "chunk_size": 50},
        "subspace": {"n_components": 8, "noise_repeats": 1},
    })
    calls = []
    analysis.tuning_subspaces(ensemble, _site(), config,
                              progress=lambda stage, done, total: calls.append((stage, done, total)))
    n = 160  # the estimation bins: every one (sample_step 1)
    assert {total for _, _, total in calls} == {passes * n}
    done = [d for _, d, _ in calls]
    assert done == sorted(done) and done[-1] == passes * n
    labels = [stage for stage, _, _ in calls]
    assert [f"pass {i} of {passes}" in " ".join(labels) for i in range(1, passes + 1)] == [True] * passes


def test_the_kept_subspaces_key_ignores_where_and_in_how_many_windows():
    from ndx_encoding_subspace.pipeline.stages import _subspace_key

    torch.manual_seed(0)
    members = [PopulationCNN(F, U, mix_channels=5, fir_taps=4, hidden=(5, 4)).eval() for _ in range(2)]
    ensemble, site = Ensemble(members, [], [], []), _site()
    base = PipelineConfig.from_dict({"dstrf": {"n_lags": 10}})
    key = _subspace_key(ensemble, site, base)
    assert _subspace_key(ensemble, site, base.replace(dstrf={"chunk_size": 7, "device": "cpu"})) == key
    assert _subspace_key(ensemble, site, base.replace(dstrf={"sample_step": 5})) != key
