"""Jackknife x initialisation ensembles."""

from __future__ import annotations

import numpy as np
import pytest

from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.fitting.ensemble import EnsembleParams, fit_ensemble, member_seed
from ndx_encoding_subspace.fitting.pieces import estimation_pieces, piece_arrays
from ndx_encoding_subspace.fitting.schedule import TrainingParams
from ndx_encoding_subspace.models import LNPopulation

TRAIN = TrainingParams(max_epochs=6, patience=3, segment_length=60, batch_size=4, device="cpu",
                       lr_stage1=1e-2, lr_stage2=1e-3)


pytestmark = pytest.mark.usefixtures("one_thread")


def _site(n_est=6, n_f=5, units=2):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(n_f, units))
    sounds = []
    for k in range(n_est + 1):
        x = rng.random((120, n_f)).astype(np.float32)
        rate = np.maximum(x @ w, 0)
        counts = rng.poisson(rate[None].repeat(4, 0)).astype(np.float32)
        sounds.append(Sound(f"s{k}", x, counts))
    names = tuple(s.name for s in sounds)
    return SiteData("sim", tuple(sounds), np.arange(n_f, dtype=float), 0.01,
                    UnitInfo.from_ids(range(units)), names[:-1], names[-1:])


def _make():
    return LNPopulation(5, 2, channels=4, taps=3)


def test_jackknife_members_and_selection(tmp_path):
    site = _site()
    ens = fit_ensemble(site, _make, TRAIN, EnsembleParams(n_jackknife=3, n_init=2),
                       checkpoint_dir=tmp_path)
    assert len(ens.members) == 3 and len(ens.candidates) == 6
    dropped = [d for m in ens.info for d in m["dropped_sounds"]]
    assert sorted(dropped) == sorted(site.estimation)  # every sound dropped exactly once
    for m in ens.info:
        used = set(m["fit_sounds"]) | set(m["early_stop_sounds"])
        assert not used & set(m["dropped_sounds"]) and "s6" not in used  # validation never used
    for j in range(3):
        cands = [c for c in ens.candidates if c["jackknife"] == j]
        kept = [c for c in cands if c["kept"]]
        assert len(kept) == 1 and kept[0]["selection_loss"] == min(c["selection_loss"] for c in cands)
    stim = site.sound("s6").spectrogram
    np.testing.assert_allclose(ens.predict(stim), ens.predict_members(stim).mean(0), rtol=1e-6)
    assert ens.predict(stim).shape == (120, 2)
    # a second run resumes from the finished checkpoints with identical members
    again = fit_ensemble(site, _make, TRAIN, EnsembleParams(n_jackknife=3, n_init=2),
                         checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(again.predict(stim), ens.predict(stim))
    assert len(list(tmp_path.glob("jk*_init*.pt"))) == 6
    # the authors' rule: the start of lowest final error (the same fits, read back)
    final = fit_ensemble(site, _make, TRAIN, EnsembleParams(n_jackknife=3, n_init=2, select_by="final"),
                         checkpoint_dir=tmp_path)
    assert [c["final_loss"] for c in final.candidates] == [c["final_loss"] for c in ens.candidates]
    for j in range(3):
        cands = [c for c in final.candidates if c["jackknife"] == j]
        kept = [c for c in cands if c["kept"]]
        assert len(kept) == 1 and kept[0]["final_loss"] == min(c["final_loss"] for c in cands)
    with pytest.raises(ConfigError, match="select_by"):
        EnsembleParams(select_by="best")


def test_a_long_sound_is_split_by_time_not_dropped_whole():
    # four 120-bin sounds and one of 1200: counted as sounds, a jackknife dropping the long
    # one would fit on a tenth of the data, and the others would stop early on it
    site = _site(n_est=4)
    rng = np.random.default_rng(1)
    x = rng.random((1200, 5)).astype(np.float32)
    long = Sound("long", x, rng.poisson(np.ones((4, 1200, 2))).astype(np.float32))
    site = SiteData("sim", (*site.sounds, long), site.frequencies, 0.01, site.units,
                    (*site.estimation, "long"), site.validation)
    pieces = estimation_pieces(site)
    assert [p.name for p in pieces[:4]] == ["s0", "s1", "s2", "s3"]  # sounds of similar length stay whole
    assert [p.name for p in pieces[4:6]] == ["long[0:120]", "long[120:240]"] and len(pieces) == 14
    # two sounds, one long: cut all the same (against the median of the others), in pieces
    # no shorter than a fortieth of the estimation bins
    two = SiteData("two", (site.sound("s0"), long, site.sound("s4")), site.frequencies, 0.01, site.units,
                   ("s0", "long"), ("s4",))
    cut = estimation_pieces(two)
    assert [p.name for p in cut[:3]] == ["s0", "long[0:120]", "long[120:240]"] and len(cut) == 11
    # a sole estimation sound (one story heard once) is split by time, so jackknifes can drop parts of it
    alone = SiteData("alone", (long, site.sound("s4")), site.frequencies, 0.01, site.units, ("long",),
                     ("s4",))
    parts = estimation_pieces(alone)
    assert len(parts) == 40 and parts[0].name == "long[0:30]" and parts[-1].stop == 1200
    from ndx_encoding_subspace.pipeline.checks import site_problems
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    assert not [p for p in site_problems(alone, PipelineConfig()) if "jackknife" in p]
    from ndx_encoding_subspace.pipeline.run import _identity

    assert _identity(site)["pieces"] == 10 and "pieces" not in _identity(_site(n_est=4))
    arrays = piece_arrays(site, pieces)
    np.testing.assert_array_equal(np.concatenate([arrays[p.name][0] for p in pieces[4:]]), x)
    ens = fit_ensemble(site, _make, TRAIN.replace(max_epochs=1), EnsembleParams(n_jackknife=4, n_init=1))
    for member in ens.info:
        assert 3 <= len(member["dropped_sounds"]) <= 4  # a quarter of the time each
        fitted = sum(arrays[n][0].shape[0] for n in member["fit_sounds"])
        assert fitted > 0.5 * sum(a.shape[0] for a, _ in arrays.values())


def test_seeds_and_params():
    assert member_seed(0, 1, 2) == member_seed(0, 1, 2) != member_seed(0, 2, 1)
    with pytest.raises(ConfigError, match="n_jackknife"):
        EnsembleParams(n_jackknife=0)
    with pytest.raises(ConfigError, match="exceeds"):
        fit_ensemble(_site(n_est=3), _make, TRAIN, EnsembleParams(n_jackknife=5, n_init=1))
