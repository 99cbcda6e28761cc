"""Write ``results_v0_1_0.nwb``: a small results file of extension version 0.1.0.

The file kept beside this script was written by release 0.1.0 of the package (spec
version 0.1.0, before tuning subspaces carried their reliability, their per-dimension
confidence and ``k_significant``), so that ``tests/test_results_backcompat.py`` checks
that files written then still load. To write it again, run this script with the 0.1.0
code on the path, e.g. from a checkout of that release::

    git worktree add --detach /tmp/v010 <0.1.0 commit>
    PYTHONPATH=/tmp/v010/src python tests/data/make_results_v0_1_0.py

Run with the current code it writes a file of the current version instead (the script
uses only the writer's public API, which both versions share).
"""

from __future__ import annotations

import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN, SubspaceNetwork
from ndx_encoding_subspace.results import (
    ModelResult,
    SiteAnalysis,
    SiteResults,
    UnitNonlinearity,
    UnitSubspace,
    write_results,
)

N_UNITS, N_FREQ, N_LAGS, N_COMPONENTS = 3, 6, 5, 6
HERE = Path(__file__).resolve().parent


def site() -> SiteData:
    """Three sounds of 40 bins, three units."""
    rng = np.random.default_rng(0)
    sounds = tuple(Sound(f"s{i}", rng.uniform(0, 1, (40, N_FREQ)).astype(np.float32),
                         rng.poisson(1.0, (1 if i < 2 else 3, 40, N_UNITS)).astype(np.float32))
                   for i in range(3))
    units = UnitInfo.from_ids([10, 11, 12], depth_um=[200.0, 400.0, 600.0])
    return SiteData("site-v010", sounds, np.geomspace(200, 20000, N_FREQ), 0.01, units,
                    ("s0", "s1"), ("s2",), source={"name": "site-v010"})


def results() -> SiteResults:
    """Tiny models, subspaces with k = 1, 2, 3, nonlinearities and a site analysis."""
    import torch

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    every = np.arange(N_UNITS)
    r_cnn = np.array([0.6, 0.3, 0.8])
    models = [ModelResult("cnn_jk0", "cnn", PopulationCNN(N_FREQ, N_UNITS, mix_channels=3,
                                                          fir_taps=3, hidden=(3, 3)),
                          every, scores={"r": r_cnn}, jackknife_index=0, init_index=0),
              ModelResult("ln", "ln", LNPopulation(N_FREQ, N_UNITS, channels=3, taps=3), every,
                          scores={"r": r_cnn - 0.1})]
    subspaces, nonlin = [], []
    for u in range(N_UNITS):
        k = u + 1
        models.append(ModelResult(f"unit_{10 + u}", "subspace_nonlinearity",
                                  SubspaceNetwork(k, hidden=(2, 2)), [u],
                                  scores={"r": r_cnn[u:u + 1] - 0.05}, n_lags=N_LAGS))
        variance = np.sort(rng.dirichlet(np.ones(N_COMPONENTS)))[::-1]
        floor = np.full(N_COMPONENTS, variance[min(k, N_COMPONENTS - 1)])
        subspaces.append(UnitSubspace(
            u, rng.normal(size=(k, N_FREQ, N_LAGS)), variance, floor, 0.95,
            rng.normal(size=(N_FREQ, N_LAGS)), n_samples=80, n_outliers=u, k90=k, k95=k))
        pairs = np.array([[0, j] for j in range(1, k)], dtype=np.int32).reshape(-1, 2)
        count = rng.integers(0, 6, size=(len(pairs), 4, 4))
        nonlin.append(UnitNonlinearity(
            u, f"unit_{10 + u}", np.ones(k, dtype=int), rng.uniform(-1, 1, k),
            tuning={"bin_edges": np.tile(np.linspace(-1, 1, 5), (k, 1)),
                    "mean": rng.normal(size=(k, 4)), "sem": rng.uniform(0, .1, (k, 4)),
                    "count": rng.integers(2, 9, (k, 4))},
            ssrf={"bin_edges": np.tile(np.linspace(-1, 1, 5), (k, 1)), "pairs": pairs,
                  "mean": rng.normal(size=count.shape), "count": count}))
    sim = rng.uniform(0, 1, (N_UNITS, N_UNITS))
    analysis = SiteAnalysis(
        filters=rng.normal(size=(2, N_FREQ, N_LAGS)), explained_variance=np.array([.6, .3]),
        response_region_size=np.array([0.12, 0.07, 0.08]), region_overlap=sim / 2,
        subspace_similarity=(sim + sim.T) / 2, similarity_measure="mean squared cosine")
    return SiteResults(
        site=site(), models=models, subspaces=subspaces, nonlinearities=nonlin,
        site_subspace=analysis, ssrf_min_count=2,
        subspace_parameters={"n_components": N_COMPONENTS, "variance_threshold": 0.95},
        provenance={"config": {"training": {"seed": 3}}})


def main(out: Path) -> Path:
    """Write the file to ``out`` (replaced when it exists)."""
    meta = {"subject": {"subject_id": "f1", "species": "Mustela putorius furo", "sex": "F",
                        "age": "P1Y"},
            "session_start_time": datetime(2024, 1, 1, tzinfo=timezone.utc)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_results(results(), out, metadata=meta, overwrite=True)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results_v0_1_0.nwb"
    print(main(target))
