"""The ``paper`` preset (the authors' own settings) and the options it needs.

The preset loads, gives the authors' CNN (receptive field 24 bins, FIRs of 15 and 10
taps), and a configuration file or flags change it further. Results made before the
options existed keep their fingerprints. The authors' tiling (unvisited voxels as zero)
equals a direct computation of their rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ndx_encoding_subspace.circuit import TilingParams, tiling
from ndx_encoding_subspace.cli import _config_from_args, build_parser
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.models import from_architecture, to_architecture
from ndx_encoding_subspace.models.params import CNNParams
from ndx_encoding_subspace.pipeline.config import PRESETS, PipelineConfig
from ndx_encoding_subspace.pipeline.run import config_fingerprint


def test_the_paper_preset_has_the_authors_settings():
    assert "paper" in PRESETS
    cfg = PipelineConfig.from_preset("paper")
    assert (cfg.cnn.mix_channels, cfg.cnn.hidden, cfg.cnn.fir_taps, cfg.cnn.second_fir_taps) == \
        (70, (80, 100), 15, 10)
    assert (cfg.ensemble.n_jackknife, cfg.ensemble.n_init) == (8, 5)
    assert (cfg.subspace.n_components, cfg.subspace.variance_threshold) == (15, 0.95)
    assert (cfg.subspace_model.n_init, cfg.subspace_model.ssrf_response) == (1, "cnn")
    assert cfg.tiling.unvisited == "zero"
    assert (cfg.dstrf.sample_step, cfg.dstrf.sample_offset) == (47, 20)
    model = cfg.cnn.build(32, 5)
    assert model.receptive_field == 24 == cfg.dstrf.n_lags
    rebuilt = from_architecture(to_architecture(model))
    assert [getattr(m, "taps", None) for m in rebuilt.core_layers if hasattr(m, "taps")] == [15, 10]
    with pytest.raises(ConfigError, match="unknown preset 'theirs'; known: paper"):
        PipelineConfig.from_preset("theirs")


def test_a_file_and_flags_change_the_preset_further(tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text("[ensemble]\nn_jackknife = 2\n\n[subspace]\nvariance_threshold = 0.9\n")
    args = build_parser().parse_args(["run", "x.nwb", "--preset", "paper", "--config", str(file),
                                      "--training.max_epochs", "7"])
    cfg = _config_from_args(args)
    assert (cfg.ensemble.n_jackknife, cfg.ensemble.n_init) == (2, 5)  # the file's, the preset's
    assert cfg.subspace.variance_threshold == 0.9 and cfg.subspace.n_components == 15
    assert cfg.training.max_epochs == 7 and cfg.cnn.mix_channels == 70
    plain = _config_from_args(build_parser().parse_args(["run", "x.nwb", "--config", str(file)]))
    assert plain.cnn.mix_channels == CNNParams().mix_channels and plain.ensemble.n_jackknife == 2
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="bad.toml: cannot parse configuration"):
        _config_from_args(build_parser().parse_args(["run", "x.nwb", "--preset", "paper",
                                                     "--config", str(bad)]))


def test_new_options_at_their_defaults_keep_earlier_fingerprints():
    identity = {"path": "site.nwb", "sha256": "ab"}
    # the fingerprint of the defaults before these options existed (CCnorm's signal power
    # within clips, as it was then: its default changed on purpose)
    earlier = PipelineConfig(scoring={"signal_power": "within_clips"})
    assert config_fingerprint(earlier, identity) == "656a8b2b74010684"
    for changed in ({"cnn": {"second_fir_taps": 10}}, {"tiling": {"unvisited": "zero"}},
                    {"reader": {"unit_column": "is_valid"}}, {"reader": {"response_kernel": [1, 1]}},
                    {"subspace": {"k_rule": "significance"}},
                    {"subspace": {"reliability_rule": "none"}},
                    {"subspace": {"reliability_variance": 0.8}},
                    {"subspace": {"reliability_max_samples": 500}},
                    {"subspace": {"reliability_threshold": 0.7}}):
        assert config_fingerprint(earlier.replace(**changed), identity) != "656a8b2b74010684", changed


def test_tiling_with_unvisited_voxels_as_zero_follows_the_authors_rule():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 3)) * [1.0, 0.5, 2.0]
    y = np.stack([np.exp(x[:, 0]), np.abs(x[:, 1] + x[:, 2])], axis=1)
    params = TilingParams(n_grid=8, unvisited="zero")
    got = tiling(x, y, params)
    edges = got.edges
    index = [np.clip(np.searchsorted(edges[j], x[:, j], side="right") - 1, 0, 7) for j in range(3)]
    inside = np.all([(x[:, j] >= edges[j, 0]) & (x[:, j] <= edges[j, -1]) for j in range(3)], axis=0)
    for u in range(2):
        total, count = np.zeros((8, 8, 8)), np.zeros((8, 8, 8))
        for t in np.flatnonzero(inside):
            at = tuple(int(i[t]) for i in index)
            total[at] += y[t, u]
            count[at] += 1
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        smooth = ndimage.gaussian_filter(mean, 0.75, mode="constant")
        np.testing.assert_allclose(got.maps[u], smooth / smooth.max(), rtol=1e-10)
    assert np.isfinite(got.maps).all() and not got.visited.all()
    ours = tiling(x, y, TilingParams(n_grid=8))
    assert np.isnan(ours.maps[:, ~ours.visited]).all()
