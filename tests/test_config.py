"""Pipeline configuration: paper defaults, files, flags, unknown keys rejected."""

from __future__ import annotations

import pytest

from ndx_encoding_subspace.cli import _config_from_args, build_parser
from ndx_encoding_subspace.cli_flags import _flag_value
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.pipeline.config import SECTIONS, PipelineConfig


def test_defaults_are_the_papers():
    c = PipelineConfig()
    assert (c.spectrogram.n_channels, c.spectrogram.min_frequency, c.spectrogram.max_frequency,
            c.spectrogram.bin_size) == (32, 200.0, 20000.0, 0.01)
    assert (c.cnn.mix_channels, c.cnn.fir_taps, tuple(c.cnn.hidden), c.cnn.min_width) == (
        90, 15, (100, 120), 0.05)
    assert (c.ln.channels, c.ln.taps) == (120, 25)
    assert (c.training.lr_stage1, c.training.lr_stage2, c.training.l2, c.training.loss,
            c.training.early_stop_fraction) == (1e-3, 1e-4, 1e-4, "nmse", 0.2)
    assert (c.ensemble.n_jackknife, c.ensemble.n_init) == (8, 4)
    assert (c.dstrf.n_lags, c.dstrf.sample_step, c.dstrf.max_samples,
            c.dstrf.include_output_nonlinearity) == (30, 47, 3000, True)
    assert (c.subspace.n_components, c.subspace.outlier_sd, c.subspace.variance_threshold,
            c.subspace.noise_repeats) == (25, 5.0, 0.95, 10)
    assert tuple(c.subspace_model.hidden) == (15, 15)
    assert (c.ssrf.n_bins_2d, tuple(c.ssrf.percentiles), c.ssrf.n_bins_1d) == (20, (2.5, 97.5), 10)
    assert (c.tiling.n_dims, c.tiling.n_grid, tuple(c.tiling.percentiles), c.tiling.sigma,
            c.tiling.level) == (3, 16, (1.0, 99.0), 0.75, 0.5)
    assert (c.scoring.n_shuffles, c.scoring.floor_percentile) == (100, 95.0)


def test_unknown_section_and_key_are_errors():
    with pytest.raises(ConfigError, match="unknown configuration section.*trainign"):
        PipelineConfig.from_dict({"trainign": {}})
    with pytest.raises(ConfigError, match="max_epoch.*known:.*max_epochs"):
        PipelineConfig.from_dict({"training": {"max_epoch": 3}})
    with pytest.raises(ConfigError, match="unknown configuration section"):
        PipelineConfig(nonsense={})
    with pytest.raises(ConfigError, match="unknown configuration section.s. 1;"):  # YAML keys of any type
        PipelineConfig.from_dict({1: {}})


def test_bad_values_name_the_parameter():
    with pytest.raises(ConfigError, match="variance_threshold"):
        PipelineConfig.from_dict({"subspace": {"variance_threshold": 1.5}})
    with pytest.raises(ConfigError, match="n_jackknife"):
        PipelineConfig.from_dict({"ensemble": {"n_jackknife": 0}})


def test_one_value_for_a_list_of_any_length_is_a_list_of_one():
    config = PipelineConfig.from_dict({"reader": {"validation_sounds": "sound_05"}})
    assert config.reader.validation_sounds == ("sound_05",)
    args = build_parser().parse_args(["inspect", "site.nwb", "--reader.sounds", "stimulus/templates/a"])
    assert _config_from_args(args).reader.sounds == ("stimulus/templates/a",)
    with pytest.raises(ConfigError, match=r"percentiles must be tuple\[float, float\]"):
        PipelineConfig.from_dict({"ssrf": {"percentiles": 5.0}})  # a fixed length takes no single value


def test_fewer_components_than_the_tiling_dimensions_are_refused():
    with pytest.raises(ConfigError, match="n_components 2 is fewer than the tiling's 3 dimensions"):
        PipelineConfig.from_dict({"subspace": {"n_components": 2}})
    for dims in (1, 2, 4):  # the results file's response regions are 3-D grids
        with pytest.raises(ConfigError, match=f"tiling.n_dims = {dims}: a results file keeps"):
            PipelineConfig.from_dict({"subspace": {"n_components": 8}, "tiling": {"n_dims": dims}})


@pytest.mark.parametrize(("section", "values", "message"), [
    ("ssrf", {"n_bins_2d": 20.5}, "SSRFParams.n_bins_2d must be int, got 20.5"),
    ("tiling", {"n_dims": 2.5}, "TilingParams.n_dims must be int"),
    ("ssrf", {"percentiles": [1, 50, 99]}, r"SSRFParams.percentiles must be tuple\[float, float\]"),
    ("dstrf", {"shrinkage": True}, "DSTRFParams.shrinkage must be float, got True"),
    ("subspace", {"seed": -1}, "SubspaceParams.seed must be at least 0"),
    ("subspace_model", {"hidden": []}, "SubspaceModelParams.hidden needs at least one layer"),
    ("training", {"max_epochs": "5"}, "TrainingParams.max_epochs: expected int, got the text '5'"),
    ("training", {1: 2}, "unknown option.s. 1 in .training. for TrainingParams"),
    ("training", {None: 2}, "unknown option.s. None in .training."),
])
def test_values_of_the_wrong_type_or_shape_are_refused_by_name(section, values, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_dict({section: values})


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    """YAML 1.1 reads 1e-3 as text; written without quotes it is the number people mean."""
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  lr_stage1: 1e-3\n  l2: 5E-4\n")
    c = PipelineConfig.from_file(path)
    assert (c.training.lr_stage1, c.training.l2) == (1e-3, 5e-4)
    path.write_text('training:\n  lr_stage1: "1e-3"\n')
    with pytest.raises(ConfigError, match="expected float, got the text '1e-3'"):
        PipelineConfig.from_file(path)


def test_toml_and_yaml_files(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("[training]\nmax_epochs = 7\n[subspace]\nvariance_threshold = 0.9\n")
    yaml = tmp_path / "c.yaml"
    yaml.write_text("training:\n  max_epochs: 7\nsubspace:\n  variance_threshold: 0.9\n")
    a, b = PipelineConfig.from_file(toml), PipelineConfig.from_file(yaml)
    assert a == b
    assert a.training.max_epochs == 7 and a.subspace.variance_threshold == 0.9
    assert a.dstrf.n_lags == 30  # untouched sections keep their defaults
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nmax_epochs = 7\nwhatever = 1\n")
    with pytest.raises(ConfigError, match=str(bad)):
        PipelineConfig.from_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        PipelineConfig.from_file(tmp_path / "missing.toml")


def test_round_trip_through_dict():
    c = PipelineConfig(training={"max_epochs": 3}, cnn={"hidden": [8, 9]})
    assert PipelineConfig.from_dict(c.to_dict()) == c
    assert tuple(c.cnn.hidden) == (8, 9)


def test_every_parameter_is_a_flag():
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    flags = {opt for action in run._actions for opt in action.option_strings}
    for section, field in PipelineConfig().fields():
        assert f"--{section}.{field.name}" in flags
    assert set(SECTIONS) == {s for s, _ in PipelineConfig().fields()}


def test_flag_values_parse():
    assert _flag_value("3") == 3 and _flag_value("0.5") == 0.5
    assert _flag_value("true") is True and _flag_value("off") is False
    assert _flag_value("100,120") == [100, 120]
    assert _flag_value("gammatone") == "gammatone"


def test_lists_given_to_a_constructor_become_tuples():
    from ndx_encoding_subspace.nonlinearity.ssrf import SSRFParams

    assert SSRFParams(percentiles=[2.5, 97.5]).percentiles == (2.5, 97.5)


def test_a_missing_configuration_file_and_a_folder_are_named(tmp_path):
    from ndx_encoding_subspace.pipeline.config import read_tables

    with pytest.raises(ConfigError, match="configuration file not found"):
        read_tables(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="a folder, not a configuration file"):
        read_tables(tmp_path)


@pytest.mark.parametrize(("name", "text"), [
    ("dup.yaml", "training:\n  max_epochs: 3\n  max_epochs: 500\n"),
    ("dup.toml", "[training]\nmax_epochs = 3\nmax_epochs = 500\n"),
    ("sections.yaml", "training:\n  max_epochs: 3\ntraining:\n  patience: 2\n"),
])
def test_a_key_given_twice_is_refused_in_yaml_as_in_toml(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"{name}: cannot parse configuration"):
        PipelineConfig.from_file(path)


def test_a_yaml_syntax_error_is_one_line_naming_where(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("training:\n  max_epochs: [5\n")
    with pytest.raises(ConfigError) as said:
        PipelineConfig.from_file(path)
    assert "\n" not in str(said.value)
    assert str(said.value).startswith(f"{path}: cannot parse configuration: expected ',' or ']'")
    assert str(said.value).endswith("(line 3, column 1)")


def test_a_tiling_grid_too_large_for_memory_is_refused_before_anything_runs():
    with pytest.raises(ConfigError, match=r"n_grid \*\* n_dims = 3000 \*\* 3 = 27,000,000,000 voxels"):
        PipelineConfig.from_dict({"tiling": {"n_grid": 3000}})
    with pytest.raises(ConfigError, match="lower tiling.n_grid or tiling.n_dims"):
        PipelineConfig.from_dict({"tiling": {"n_grid": 40, "n_dims": 4}})
    assert PipelineConfig.from_dict({"tiling": {"n_grid": 100}}).tiling.n_grid == 100


def test_whole_numbers_for_float_parameters_are_the_same_parameters():
    from ndx_encoding_subspace.pipeline.run import config_fingerprint

    given = PipelineConfig(tiling={"percentiles": [1, 99]}, reader={"response_kernel": [1, 2, 1]})
    written = PipelineConfig(tiling={"percentiles": [1.0, 99.0]}, reader={"response_kernel": [1.0, 2.0, 1.0]})
    assert given.tiling.percentiles == (1.0, 99.0) and isinstance(given.tiling.percentiles[0], float)
    assert config_fingerprint(given, {}) == config_fingerprint(written, {})
    assert config_fingerprint(PipelineConfig(tiling={"percentiles": (1, 99)}), {}) == \
        config_fingerprint(PipelineConfig(), {})


def test_a_later_configuration_file_is_checked_with_what_it_changes(tmp_path):
    (tmp_path / "lab.toml").write_text("[spectrogram]\nmin_frequency = 50\nmax_frequency = 150\n")
    (tmp_path / "tweak.toml").write_text("[spectrogram]\nmax_frequency = 100\n")
    (tmp_path / "bad.toml").write_text("[spectrogram]\nmax_frequency = 30\n")
    lab = PipelineConfig.from_file(tmp_path / "lab.toml")
    tweaked = lab.updated_from_file(tmp_path / "tweak.toml")
    assert (tweaked.spectrogram.min_frequency, tweaked.spectrogram.max_frequency) == (50.0, 100.0)
    with pytest.raises(ConfigError, match=r"max_frequency must be above 50.0, got 30.0 \(in \[spectrogram\] "
                                          r"of .*bad.toml\)"):
        lab.updated_from_file(tmp_path / "bad.toml")
    args = build_parser().parse_args(["run", "x.nwb", "--config", str(tmp_path / "lab.toml"),
                                      "--config", str(tmp_path / "tweak.toml")])
    assert _config_from_args(args).spectrogram.max_frequency == 100.0


def test_results_made_with_whole_numbers_for_lists_of_floats_keep_their_fingerprint(tmp_path):
    """``percentiles = [2, 98]`` was hashed as written before such values became floats: the
    fingerprint that release gave (measured with it) is still accepted, and the defaults'
    fingerprint is unchanged. That release scored within clips (``scoring.signal_power``,
    added since at another default): so do these configurations, as its users keep theirs."""
    from ndx_encoding_subspace.pipeline.run import accepted_fingerprints, config_fingerprint

    path = tmp_path / "ints.toml"
    within = '[scoring]\nsignal_power = "within_clips"\n'
    path.write_text(f"[tiling]\npercentiles = [2, 98]\n[reader]\nresponse_kernel = [1, 2, 1]\n{within}")
    given = PipelineConfig.from_file(path)
    assert accepted_fingerprints(given, {"sha256": "x"}) == ("9ad0d54fe02e2cf6", "a8aa6f1f878b9d67")
    assert accepted_fingerprints(given, {"sha256": "x"})[0] == config_fingerprint(given, {"sha256": "x"})
    before = PipelineConfig(scoring={"signal_power": "within_clips"})
    assert config_fingerprint(before, {"sha256": "x"}) == "931419a64bba957f"
    assert config_fingerprint(PipelineConfig(), {"sha256": "x"}) != "931419a64bba957f"  # scored otherwise


def test_from_provenance_gives_parameters_added_later_the_value_that_ran():
    """A results file written before a parameter existed lacks it: rebuilt from its
    provenance, the parameter does what that release did, not today's default."""
    from ndx_encoding_subspace.params import ADDED_LATER

    old = PipelineConfig().to_dict()
    for section, name in ADDED_LATER:
        old[section].pop(name)
    del old["scoring"]  # a whole section the release did not write
    rebuilt = PipelineConfig.from_provenance(old)
    assert rebuilt.scoring.signal_power == ADDED_LATER[("scoring", "signal_power")] == "within_clips"
    assert PipelineConfig().scoring.signal_power != "within_clips"  # what from_dict would give
    for (section, name), before in ADDED_LATER.items():
        value = getattr(getattr(rebuilt, section), name)
        assert (list(value) if isinstance(value, tuple) else value) == before
    # a current file's configuration comes back as it is
    current = PipelineConfig(scoring={"signal_power": "joined"}, training={"max_epochs": 3})
    assert PipelineConfig.from_provenance(current.to_dict()) == current
