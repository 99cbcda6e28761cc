"""Ground-truth recovery through a fitted CNN, at a size that runs in CI.

The whole pipeline (NWB in, CNN ensemble, dSTRFs, PCA, k, SSRF, results NWB out) runs on
a small simulated site of identifiable units (1 or 2 true filters peaking 20-50 ms after
the sound, 200 s of estimation sound, 4 jackknife fits) and its results file is scored
against the truth with :func:`~ndx_encoding_subspace.pipeline.demo.recovery`, with the criterion
of the full-size benchmark (docs/ground-truth.md): for units whose CNN r is at least
0.5, mean squared cosine of the principal angles at least 0.9, k within one of the truth
and the nonlinearity class right for most. So that 200 s of sound carry enough spikes,
the units fire three times as much as the default site's (15-60 spikes/s on average).
Measured on this seed: similarity 0.91 with the ensemble's fits one after another, 0.89
with them batched (the same fits up to float rounding, which a 200 s site's training
amplifies), k at 90% within one for all four units, every class right (about three
minutes on one thread). Other seeds at this size give 0.80-0.91, so this test asks for
0.85; the full-size criterion of 0.9 is the benchmark's (``benchmarks/bench_recovery.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace.circuit import subspace_similarity
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, load_truth, simulate_site
from ndx_encoding_subspace.pipeline.demo import _pad_lags, demo_config, recovery
from ndx_encoding_subspace.pipeline.run import run_site
from ndx_encoding_subspace.results import load_results

_BASE = SimulationParams()
SITE = SimulationParams(n_units=4, n_estimation_sounds=100, n_validation_sounds=3, validation_repeats=10,
                        min_dim=1, max_dim=2, min_peak_lag=2.0, narrow_fraction=0.0, seed=0,
                        min_rate=3 * _BASE.min_rate, max_mean_rate=3 * _BASE.max_mean_rate)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cnn_recovery")
    recording = simulate_site(SITE).write_nwb(folder / "site.nwb")
    config = demo_config(device="cpu").replace(
        training={"max_epochs": 100, "patience": 10}, ensemble={"n_jackknife": 4, "n_init": 1},
        ln={"enabled": False}, subspace={"noise_repeats": 2}, scoring={"n_shuffles": 20},
        dstrf={"sample_step": 2}, compute={"threads": 1})
    result = run_site(recording, folder / "out", config, progress=False)
    truth, loaded = load_truth(recording), load_results(result.path)
    return truth, loaded, recovery(truth, loaded)


@pytest.mark.slow
def test_cnn_subspaces_recover_the_truth(scored):
    _, _, rec = scored
    assert rec["n_scored"] >= 3, rec["units"]
    assert rec["similarity_mean"] >= 0.85, rec["units"]
    assert rec["k90_within_one"] > 0.5, rec["units"]
    assert rec["shape_correct"] > 0.5, rec["units"]
    from ndx_encoding_subspace.dataset.units import site_units

    table = site_units(scored[1]).units  # the class is scored as units.csv gives it
    assert [row["shape"] for row in rec["units"]] == [str(c) for c in table["nonlinearity_class"]]
    for row, sub in zip(rec["units"], sorted(scored[1].subspaces, key=lambda s: s.unit_position)):
        assert row["concentration"] == pytest.approx(float(np.sum(sub.explained_variance[:2])))
    for key in ("reliability_truth_spearman", "reliability_truth_spearman_top_k",
                "concentration_truth_spearman", "concentration_truth_spearman_top_k"):
        assert key in rec and (np.isnan(rec[key]) or -1 <= rec[key] <= 1)


@pytest.mark.slow
def test_recovered_subspaces_are_specific_to_their_unit(scored):
    """Each unit's subspace is closer to its own truth than to the truths of units that
    share no filter with it (units of a site may share filters)."""
    truth, loaded, rec = scored
    ids = np.asarray(loaded.units["id"])
    own, other = [], []
    for sub, row in zip(loaded.subspaces, rec["units"]):
        true = truth.unit(int(ids[sub.unit_position]))
        assert row["unit"] == true.unit_id
        if row["r_cnn"] < 0.5:
            continue
        mine = sub.filters[: true.k]
        others = [u for u in truth.units
                  if u.unit_id != true.unit_id and not set(u.shared_members) & set(true.shared_members)]
        own.append(row["similarity_top_k"])
        other.append(max((subspace_similarity(_pad_lags(u.filters, mine.shape[2]), mine)
                          for u in others), default=0.0))
    assert own and all(a > b + 0.2 for a, b in zip(own, other)), (own, other)


@pytest.mark.parametrize("rule", ["members", "split_halves"])
def test_the_ground_truth_line_says_when_reliabilities_come_from_one_fit(rule: str) -> None:
    from ndx_encoding_subspace.pipeline.demo import ground_truth_line

    rec = {"n_scored": 2, "similarity_mean": 0.5, "k_within_one": 0.5, "k_significant_within_one": 0.5,
           "shape_correct": 1.0, "reliability_threshold": 0.5, "n_reliable": 2,
           "similarity_reliable_mean": 0.04, "n_unreliable": 0, "similarity_unreliable_mean": float("nan"),
           "units": [{"rule": rule}, {"rule": rule}]}
    line = ground_truth_line(rec)
    assert "reliable (2): 0.040" in line
    assert ("a single fit: its reliabilities compare the two halves of its samples" in line) == \
        (rule == "split_halves")


def test_no_unit_scored_is_said_as_nothing_not_as_zero_percent() -> None:
    """A quick demo whose CNN reaches r 0.5 for no unit scored nothing: its shares are
    unknown (as its mean similarity is), not 0% of the units right."""
    from types import SimpleNamespace

    from ndx_encoding_subspace.pipeline.demo import ground_truth_line

    loaded = SimpleNamespace(models=[], subspaces=[], nonlinearities=[], units={"id": np.array([])},
                             parameters={})
    rec = recovery(SimpleNamespace(unit=None), loaded)
    assert rec["n_scored"] == 0
    for key in ("similarity_mean", "k_within_one", "k90_within_one", "k_significant_within_one",
                "shape_correct"):
        assert np.isnan(rec[key]), key
    line = ground_truth_line(rec)
    assert "0%" not in line and "nan" not in line
    assert "subspace similarity n/a, k within one n/a (k above the noise floor n/a), " \
           "nonlinearity class right n/a" in line
