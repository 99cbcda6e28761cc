"""Command-line mistakes that used to lose a file, run for hours first, or do something else
than asked: each is refused (or done as asked) before anything heavy runs."""

from __future__ import annotations

import pytest

from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.testing.files import mock_site


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return mock_site(n_units=3, n_sounds=6, repeats=(1, 1, 1, 1, 3, 3), duration=1.0, seed=2).write(
        tmp_path_factory.mktemp("cli") / "site.nwb")


def test_report_never_writes_over_an_nwb_file(recording, tmp_path, capsys):
    before = recording.read_bytes()
    assert main(["report", str(recording), "--out", str(recording)]) == 2
    assert main(["report", str(recording), "--out", str(tmp_path)]) == 2
    copy = tmp_path / "renamed.bin"
    copy.write_bytes(before)
    assert main(["report", str(recording), "--out", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "a report is HTML and is never written over one" in err and "a folder; give" in err
    assert recording.read_bytes() == before and copy.read_bytes() == before
    assert main(["report", str(recording), "--out", str(copy / "x.html")]) == 2  # a file for a folder
    assert "renamed.bin is a file, not a folder" in capsys.readouterr().err


def test_a_dstrf_window_shorter_than_the_cnn_is_a_configuration_error_before_any_reading(recording, tmp_path,
                                                                                        capsys):
    said = "--dstrf.n_lags 5 is shorter than the CNN's receptive field (29 bins, from --cnn.fir_taps 15"
    missing = tmp_path / "absent.nwb"  # never read: the configuration is refused first
    assert main(["inspect", str(recording), "--dstrf.n_lags", "5", "--ensemble.n_jackknife", "2"]) == 2
    assert said in capsys.readouterr().err
    assert main(["run", str(recording), str(missing), "--out", str(tmp_path / "out"), "--dstrf.n_lags", "5",
                 "--no-progress"]) == 2
    assert said in capsys.readouterr().err and not (tmp_path / "out").exists()
    # the authors' FIRs of 15 and 10 taps: 24 bins
    assert main(["run", str(recording), "--out", str(tmp_path / "out"), "--dstrf.n_lags", "20",
                 "--cnn.second_fir_taps", "10", "--no-progress"]) == 2
    assert "(24 bins" in capsys.readouterr().err


def test_a_dstrf_window_too_large_for_memory_is_refused_before_training(recording, tmp_path, capsys):
    assert main(["inspect", str(recording), "--dstrf.n_lags", "5000", "--ensemble.n_jackknife", "2"]) == 3
    assert "--dstrf.n_lags 5000: a dSTRF of" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["run", str(recording), "--out", str(out), "--dstrf.n_lags", "100000000",
                 "--ensemble.n_jackknife", "2", "--no-progress"]) == 3
    assert "GiB for their scatter matrices" in capsys.readouterr().err
    assert not list(out.glob("*.results.nwb"))
    # the parameter named is the one far from the paper's
    assert main(["inspect", str(recording), "--spectrogram.n_channels", "1024", "--dstrf.n_lags", "60",
                 "--ensemble.n_jackknife", "2"]) == 3
    said = capsys.readouterr().out
    assert "--spectrogram.n_channels 1024: a dSTRF of 1024 channels" in said and "use fewer channels" in said


def test_configuration_files_apply_in_order_and_empty_arguments_are_refused(tmp_path, capsys):
    from ndx_encoding_subspace.cli import _config_from_args, build_parser

    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("[training]\npatience = 7\nmax_epochs = 50\n")
    b.write_text("[training]\nmax_epochs = 60\n")
    args = build_parser().parse_args(["run", "x.nwb", "--config", str(a), "--config", str(b)])
    config = _config_from_args(args)
    assert (config.training.patience, config.training.max_epochs) == (7, 60)
    for argv in (["run", ""], ["run", "x.nwb", "--out", ""], ["summarize", ""], ["inspect", " "]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
    assert "empty (an unset shell variable?)" in capsys.readouterr().err
    upper = tmp_path / "C.TOML"
    upper.write_text("[training]\npatience = 9\n")
    args = build_parser().parse_args(["run", "x.nwb", "--config", str(upper)])
    assert _config_from_args(args).training.patience == 9
    other = tmp_path / "c.json"
    other.write_text('{"training": {"patience": 9}}')
    assert main(["run", "x.nwb", "--config", str(other)]) == 2
    said = capsys.readouterr().err
    assert "c.json: not a configuration file of a known kind (.toml, .yaml or .yml; .json given)" in said
    assert said.count("c.json") == 1


def test_seeds_beyond_64_bits_and_other_tiling_dimensions_are_refused():
    with pytest.raises(ConfigError, match="TrainingParams.seed must be at least 0 and at most"):
        PipelineConfig.from_dict({"training": {"seed": 10**20}})
    with pytest.raises(ConfigError, match="tiling.n_dims = 2"):
        PipelineConfig.from_dict({"tiling": {"n_dims": 2}})


def test_a_missing_optional_package_is_exit_8_naming_the_extra(monkeypatch, capsys):
    import ndx_encoding_subspace.cli as cli

    def wrapped(args):
        try:
            raise ModuleNotFoundError("No module named 'scipy'", name="scipy")
        except ModuleNotFoundError as err:  # as the readers wrap what they did not expect
            raise RuntimeError("site.nwb: unexpected error while reading the file's layout") from err

    monkeypatch.setattr(cli, "_dispatch", wrapped)
    assert main(["inspect", "site.nwb"]) == 8
    assert "needs scipy, which is not installed: pip install 'ndx-encoding-subspace[model]'" in \
        capsys.readouterr().err
    monkeypatch.setattr(cli, "_dispatch", lambda args: (_ for _ in ()).throw(ModuleNotFoundError(
        "No module named 'mylab'", name="mylab")))
    with pytest.raises(ModuleNotFoundError):  # not one of ours: a bug, with its traceback
        main(["inspect", "site.nwb"])


def test_scheduler_mistakes_are_one_line_each(tmp_path):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("distributed")
    from ndx_encoding_subspace.errors import RemoteError
    from ndx_encoding_subspace.pipeline.cluster import ClusterParams, _connect

    bad = tmp_path / "scheduler.json"
    bad.write_text("not json")
    cases = [({"scheduler": "notanaddress"}, ConfigError, "not a scheduler address"),
             ({"scheduler_file": str(tmp_path / "no.json")}, ConfigError, "not found .*start the scheduler"),
             ({"scheduler_file": str(bad)}, ConfigError, "not a dask scheduler file"),
             ({"scheduler": "tcp://127.0.0.1:9"}, RemoteError, "tcp://127.0.0.1:9: connection refused"),
             ({"scheduler": "tls://127.0.0.1:9"}, ConfigError, "certificates in dask's configuration"),
             ({"scheduler": "ucx://127.0.0.1:9"}, ConfigError, "cannot connect to it from here")]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        for options, kind, message in cases:
            with pytest.raises(kind, match=message):
                _connect(dd, ClusterParams(kind="scheduler", **options))
    with pytest.raises(ConfigError, match="cluster.workers = 2 starts worker processes.*of its own"):
        ClusterParams(kind="scheduler", scheduler="tcp://127.0.0.1:8786", workers=2)


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n", b"SSH-2.0-OpenSSH_9.6\r\n"])
def test_a_server_that_is_no_dask_scheduler_is_said_not_waited_on(answer, monkeypatch):
    """An HTTP server waits for a request and dask would wait with it; one that answers at
    once sends text that dask reads as a message of exabytes. Both are one line, exit 4."""
    import socket
    import threading

    dd = pytest.importorskip("distributed")
    from ndx_encoding_subspace.errors import RemoteError
    from ndx_encoding_subspace.pipeline import cluster

    monkeypatch.setattr(cluster, "_CONNECT_S", 1.0)
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def serve() -> None:
        conn, _ = server.accept()
        held.append(conn)
        if answer is not None:
            conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    where = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    try:
        with pytest.raises(RemoteError, match=f"{where}: not a dask scheduler"):
            cluster._connect(dd, cluster.ClusterParams(kind="scheduler", scheduler=where))
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_a_running_scheduler_is_reached():
    """A running scheduler with one worker, reached by its address; in a process of its own,
    so that no event loop or thread that earlier tests left in this one is shared."""
    import subprocess
    import sys
    import textwrap

    pytest.importorskip("distributed")
    code = textwrap.dedent("""
        import distributed as dd
        from ndx_encoding_subspace.pipeline.cluster import ClusterParams, _connect

        with dd.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                             dashboard_address=None) as pool:
            with _connect(dd, ClusterParams(kind="scheduler", scheduler=pool.scheduler_address)) as client:
                print("sum", client.submit(sum, [1, 2]).result(timeout=30))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sum 3" in done.stdout


def test_every_parameter_flag_is_explained_and_shows_its_default_as_typed():
    """Each ``--SECTION.NAME`` has a description (its help, else its docstring entry) and a
    default that, typed after the flag, gives the default back."""
    import typing

    from ndx_encoding_subspace.cli import build_parser
    from ndx_encoding_subspace.cli_flags import _as_flag, _typed_flag_value

    defaults = PipelineConfig()
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    flags = {a.option_strings[0]: a for a in run._actions if a.option_strings}
    for section, field in defaults.fields():
        action = flags[f"--{section}.{field.name}"]
        text, _, shown = action.help.rpartition(" (default: ")
        assert len(text) > 10, f"--{section}.{field.name} has no description"
        value = getattr(getattr(defaults, section), field.name)
        hint = typing.get_type_hints(type(getattr(defaults, section)))[field.name]
        typed = _typed_flag_value(_as_flag(value), hint)
        assert defaults.replace(**{section: {field.name: typed}}) == defaults, (section, field.name, shown)
    assert "(default: 100,120)" in flags["--cnn.hidden"].help
    assert "Most epochs per stage (1000)" in flags["--training.max_epochs"].help
    assert "(default: [])" in flags["--reader.sounds"].help


def test_parameter_descriptions_come_from_the_numpy_docstrings():
    from ndx_encoding_subspace.data.celltype import CellTypeParams
    from ndx_encoding_subspace.models.params import CNNParams

    assert CNNParams.describe("hidden") == "Widths of the two dense hidden layers (100, 120)."
    assert CNNParams.describe("no_such") == ""
    # grouped entries share the text after them; markup is made plain
    grouped = CellTypeParams.describe("edge_exclusion_ms")
    assert grouped == CellTypeParams.describe("min_extremum_distance_samples")
    assert "``" not in CellTypeParams.describe("edge_exclusion_ms")


def test_demo_takes_configuration_files_threads_and_overwrite(tmp_path, capsys):
    from ndx_encoding_subspace.cli import _config_from_args, build_parser
    from ndx_encoding_subspace.pipeline.demo import demo_config

    changes = tmp_path / "c.toml"
    changes.write_text("[training]\nmax_epochs = 3\n")
    args = build_parser().parse_args(["demo", "--quick", "--config", str(changes), "--compute.threads", "1",
                                      "--overwrite"])
    config = _config_from_args(args, demo_config(quick=True))
    assert config.training.max_epochs == 3 and config.compute.threads == 1 and args.overwrite
    assert config.cnn == demo_config(quick=True).cnn  # the demo's own sizes stay
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nmax_epoch = 3\n")
    assert main(["demo", "--quick", "--out", str(tmp_path / "d"), "--config", str(bad)]) == 2
    assert "unknown option(s) max_epoch" in capsys.readouterr().err
    assert not (tmp_path / "d" / "simulated_site.nwb").exists()


def test_names_that_look_like_numbers_or_booleans_stay_names(tmp_path):
    from ndx_encoding_subspace.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["run", "x.nwb", "--reader.validation_sounds", "3", "--reader.sounds",
                                      "yes,/stimulus/templates/2", "--reader.units", "1",
                                      "--reader.sound_column", '""', "--training.max_epochs", "4"])
    reader = _config_from_args(args).reader
    assert reader.validation_sounds == ("3",) and reader.sounds == ("yes", "/stimulus/templates/2")
    assert reader.units == "1" and reader.sound_column == ""
    assert _config_from_args(args).training.max_epochs == 4


def test_report_of_a_folder_points_to_summarize(tmp_path, capsys):
    (tmp_path / "a.results.nwb").write_bytes(b"")
    assert main(["report", str(tmp_path)]) == 6
    err = capsys.readouterr().err
    assert "a folder, not a results file (it holds a.results.nwb)" in err and "summarize" in err


@pytest.mark.parametrize("address", ["localhost:8787x", "not an address", ":99999", "8787"])
def test_a_dashboard_address_that_is_none_is_refused_by_name(address, capsys, tmp_path):
    from ndx_encoding_subspace.cli import main

    code = main(["run", str(tmp_path / "absent.nwb"), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--cluster.dashboard", address])
    err = capsys.readouterr().err
    assert code == 2 and "cluster.dashboard" in err and "Traceback" not in err
    from ndx_encoding_subspace.pipeline.cluster_params import ClusterParams

    for fine in ("", ":8787", "localhost:8787", "[::1]:0"):
        assert ClusterParams(dashboard=fine).dashboard == fine


@pytest.mark.parametrize("flag, value", [("memory", "lots"), ("memory", "0GB"), ("walltime", "forever"),
                                         ("walltime", "1:2:3:4")])
def test_slurm_memory_and_time_limits_that_are_none_are_refused_before_any_reading(flag, value, capsys,
                                                                                    tmp_path):
    """As dask-jobqueue would refuse them only once the cluster starts (a traceback)."""
    from ndx_encoding_subspace.cli import main
    from ndx_encoding_subspace.pipeline.cluster_params import ClusterParams

    code = main(["run", str(tmp_path / "absent.nwb"), "--out", str(tmp_path / "out"),
                 "--cluster.kind", "slurm", f"--cluster.{flag}", value])
    err = capsys.readouterr().err
    assert code == 2 and f"cluster.{flag}" in err and "Traceback" not in err
    for memory, walltime in (("16GB", "2-00:00:00"), ("4000 MB", "90"), ("1.5GiB", "1-12")):
        assert ClusterParams(memory=memory, walltime=walltime).walltime == walltime


def test_demo_flags_win_over_a_configuration_file(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from ndx_encoding_subspace.cli import main
    from ndx_encoding_subspace.pipeline import demo

    seen = {}

    def fake(out, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace(format=lambda: "ran")

    monkeypatch.setattr(demo, "run_demo", fake)
    config = tmp_path / "f.toml"
    config.write_text('[training]\nseed = 7\ndevice = "auto"\n[dstrf]\ndevice = "auto"\n')
    assert main(["demo", "--quick", "--seed", "5", "--device", "cpu", "--config", str(config),
                 "--out", str(tmp_path / "out")]) == 0
    training = seen["config"].training
    assert (training.seed, training.device, seen["config"].dstrf.device) == (5, "cpu", "cpu")
    assert main(["demo", "--quick", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    assert (seen["config"].training.seed, seen["config"].training.device) == (7, "auto")


@pytest.mark.parametrize(("flags", "said"), [
    (["--training.l2", "-1e-3"], "TrainingParams.l2 must be at least 0, got -0.001"),
    (["--reader.response_kernel", "-1,-1"], "response_kernel must not hold negative numbers"),
    (["--spectrogram.truncation_db", "-1e2", "--training.l2", "-inf"], "truncation_db must be at least 10"),
])
def test_negative_numbers_are_values_not_options(recording, capsys, flags, said):
    assert main(["run", str(recording), *flags]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert said in err and "expected one argument" not in err


def test_an_interrupt_while_the_command_line_is_read_is_one_line(monkeypatch, capsys):
    from ndx_encoding_subspace import cli

    def interrupted() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:  # as Python wraps it while it makes a class
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from err

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["run", "x.nwb"]) == 130
    assert capsys.readouterr().err == "encoding-subspace: interrupted\n"


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_given_as_a_file_is_said_by_every_command(tmp_path, capsys):
    import os

    pipe = tmp_path / "site.nwb"
    os.mkfifo(pipe)
    for command, code in (("run", 3), ("inspect", 3), ("report", 6)):
        assert main([command, str(pipe)]) == code
        assert "not a regular file (a pipe, socket or device)" in capsys.readouterr().err, command


def test_a_results_file_exported_to_zarr_is_said_to_be_zarr(tmp_path, capsys):
    from ndx_encoding_subspace.errors import ResultsError
    from ndx_encoding_subspace.results import load_results

    store = tmp_path / "site.results.nwb.zarr"
    store.mkdir()
    (store / ".zgroup").write_text('{"zarr_format": 2}')
    assert main(["report", str(store)]) == ResultsError.exit_code
    assert "an NWB file stored as Zarr; results files are read as HDF5" in capsys.readouterr().err
    with pytest.raises(ResultsError, match="stored as Zarr"):
        load_results(store)


def test_a_report_into_an_output_folder_still_to_be_made_is_not_refused(recording, tmp_path, capsys):
    out = tmp_path / "new" / "results"
    # stops at the site's own problem (too few sounds for 50 jackknifes), past the report's check
    assert main(["run", str(recording), "--out", str(out), "--report", "--ensemble.n_jackknife", "50",
                 "--no-progress"]) == 3
    said = capsys.readouterr().err
    assert "does not exist" not in said and "--ensemble.n_jackknife 50" in said


def _run_args(*argv: str):
    from ndx_encoding_subspace.cli import build_parser

    return build_parser().parse_args(["run", "site.nwb", *argv])


def test_workers_scale_a_slurm_configuration_and_are_refused_beside_a_configured_scheduler(tmp_path):
    from ndx_encoding_subspace.cli import _run_config

    slurm = tmp_path / "cluster.toml"
    slurm.write_text('[cluster]\nkind = "slurm"\nworkers = 8\nqueue = "gpu"\n')
    config = _run_config(_run_args("--config", str(slurm), "--workers", "16"))
    assert (config.cluster.kind, config.cluster.workers, config.cluster.queue) == ("slurm", 16, "gpu")
    assert _run_config(_run_args("--workers", "3")).cluster.kind == "local"
    scheduler = tmp_path / "scheduler.toml"
    scheduler.write_text('[cluster]\nkind = "scheduler"\nscheduler = "tcp://127.0.0.1:8786"\n')
    with pytest.raises(ConfigError, match="--workers 4: the configuration's .cluster. connects to a dask"):
        _run_config(_run_args("--config", str(scheduler), "--workers", "4"))


def test_a_config_that_is_no_regular_file_is_said_so(tmp_path, capsys):
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    assert main(["run", "x.nwb", "--out", str(tmp_path / "out"), "--config", str(fifo)]) == 2
    assert "configuration file not a regular file (a folder, FIFO or device)" in capsys.readouterr().err
    assert main(["run", "x.nwb", "--out", str(tmp_path / "o"), "--config", str(tmp_path / "no.toml")]) == 2
    assert "configuration file not found" in capsys.readouterr().err


def test_none_spelled_as_in_python_sets_an_optional_parameter(capsys):
    from ndx_encoding_subspace.cli import _dataset_from_args

    for spelled in ("None", "none", "null"):
        args = _run_args("--dataset.depth_split_um", spelled)
        assert _dataset_from_args(args).depth_split_um is None


def test_every_command_lists_the_exit_codes():
    from ndx_encoding_subspace.cli import build_parser

    for name, parser in build_parser().commands.items():
        assert "exit codes" in (parser.epilog or ""), name


def test_models_take_numpy_integers_as_sizes():
    import numpy as np

    from ndx_encoding_subspace.models import PopulationCNN, SubspaceNetwork

    cnn = PopulationCNN(np.int64(6), np.int32(3), mix_channels=4, fir_taps=3, hidden=(4, 4))
    assert cnn.n_units == 3 and isinstance(cnn.n_units, int)
    assert SubspaceNetwork(np.int64(2)).core_layers[0].n_in == 2
    with pytest.raises(ConfigError, match="must be a positive integer"):
        PopulationCNN(np.float64(6.0), 3)


def test_an_unknown_key_of_any_section_is_refused_by_every_command(recording, tmp_path, capsys):
    dataset_typo = tmp_path / "dataset.toml"
    dataset_typo.write_text("[dataset]\nmin_rr = 0.2\n")
    training_typo = tmp_path / "training.toml"
    training_typo.write_text("[training]\nmax_epoch = 3\n")
    assert main(["inspect", str(recording), "--config", str(dataset_typo)]) == 2
    assert "min_rr" in capsys.readouterr().err
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["summarize", str(folder), "--config", str(training_typo)]) == 2
    assert "max_epoch" in capsys.readouterr().err


def test_the_demo_recording_of_other_simulation_parameters_is_refused_or_made_again(tmp_path):
    """A quick demo's recording, then a demo of another seed (or the full size) in the same
    folder: refused naming what differs (its results would be the quick site's), or, with
    overwrite, simulated again."""
    from ndx_encoding_subspace.datasets.simulated.site import load_truth
    from ndx_encoding_subspace.pipeline.demo import _recording, demo_simulation

    path = tmp_path / "simulated_site.nwb"
    quick = demo_simulation(quick=True)
    assert _recording(path, quick, overwrite=False) == path and load_truth(path).params == quick
    stamp = path.stat().st_mtime_ns
    assert _recording(path, quick, overwrite=False) == path and path.stat().st_mtime_ns == stamp  # kept
    other = demo_simulation(quick=True, seed=7)
    said = r"simulated with other parameters \(seed 0 \(asked: 7\)\).*--overwrite"
    with pytest.raises(ConfigError, match=said):
        _recording(path, other, overwrite=False)
    assert load_truth(_recording(path, other, overwrite=True)).params == other
    path.write_bytes(b"not an HDF5 file")  # damaged: refused naming it, or simulated again
    with pytest.raises(ConfigError, match=r"simulated_site.nwb: not a recording the demo simulated"):
        _recording(path, other, overwrite=False)
    assert load_truth(_recording(path, other, overwrite=True)).params == other


def test_a_home_folder_written_as_a_tilde_is_expanded_in_every_path_option(tmp_path, monkeypatch):
    """``--out=~/results``: the shell leaves the tilde in; a folder named '~' would be made."""
    from ndx_encoding_subspace.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    args = build_parser().parse_args(["run", "x.nwb", "--out=~/results", "--cache=~/cache",
                                      "--config=~/a.toml"])
    assert args.out == tmp_path / "results" and args.cache == tmp_path / "cache"
    assert args.config == [tmp_path / "a.toml"]
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["run", "x.nwb", "--out=~nosuchuserzz/results"])
    assert exit_.value.code == 2
    from ndx_encoding_subspace.errors import InputError
    from ndx_encoding_subspace.pipeline.sources import expand_inputs

    with pytest.raises(InputError, match="no home folder of that user"):  # an input's ~name too
        expand_inputs(["~nosuchuserzz/x.nwb"])
    report = build_parser().parse_args(["report", "~/r.results.nwb", "--out=~/r.html"])
    assert report.results == tmp_path / "r.results.nwb" and report.out == tmp_path / "r.html"


def test_a_demo_running_in_the_folder_keeps_its_recording_from_a_second_demo(tmp_path):
    """A second demo in a folder where one is running is refused before it touches the
    recording the first one reads (it once simulated it again under the first's feet)."""
    import subprocess
    import sys

    from ndx_encoding_subspace import atomic
    from ndx_encoding_subspace.pipeline.demo import run_demo

    recording = tmp_path / "simulated_site.nwb"
    recording.write_bytes(b"the first demo's recording, being read")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".simulated_site.lock").write_text(f"{atomic._HOST} {holder.pid} hb")
        with pytest.raises(ConfigError, match="another run .* is writing the results of site 'simul"):
            run_demo(tmp_path, quick=True, progress=False, report=False, overwrite=True)
    finally:
        holder.kill()
        holder.wait()
    assert recording.read_bytes() == b"the first demo's recording, being read"


def test_a_demo_whose_device_or_window_cannot_run_is_refused_before_it_simulates(tmp_path, capsys):
    """A bad option of the demo is exit 2 before its site is simulated and written (as run
    refuses one before reading its input), not after."""
    import torch

    if not torch.cuda.is_available():
        gpu = ["demo", "--quick", "--no-progress", "--device", "cuda", "--out", str(tmp_path / "gpu")]
        assert main(gpu) == 2
        assert "no CUDA device" in capsys.readouterr().err
        assert not (tmp_path / "gpu").exists()
    short = tmp_path / "short.toml"
    short.write_text("[dstrf]\nn_lags = 5\n")
    window = ["demo", "--quick", "--no-progress", "--config", str(short), "--out", str(tmp_path / "w")]
    assert main(window) == 2
    assert "receptive field" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("package", ["requests", "urllib3"])
def test_streaming_without_the_dandi_extra_is_exit_8_naming_it(monkeypatch, capsys, package):
    """A URL given without the dandi extra installed: requests and urllib3, which io.stream
    imports, come with that extra only; one line naming it, not a traceback."""
    import sys

    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    monkeypatch.delitem(sys.modules, "ndx_encoding_subspace.io.stream", raising=False)
    assert main(["inspect", "https://example.org/site.nwb"]) == 8
    said = capsys.readouterr().err
    assert f"needs {package}, which is not installed: pip install 'ndx-encoding-subspace[dandi]'" in said
    assert "Traceback" not in said


def test_inspect_without_the_model_extra_checks_the_file_and_the_window(tmp_path, small_recording):
    """inspect reads and checks a local file with no torch installed (nothing is trained);
    the dSTRF window is still judged against the CNN's receptive field."""
    from ndx_encoding_subspace.testing.absent import run_without

    recording, _ = small_recording(tmp_path, "unused", {})
    code = """
import sys
from ndx_encoding_subspace.cli import main
print("rc", main(["inspect", sys.argv[1]]), main(["inspect", sys.argv[1], "--dstrf.n_lags", "5"]))
print("torch" in sys.modules)
"""
    done = run_without(["torch"], code, str(recording))
    assert done.stdout.splitlines()[-2:] == ["rc 0 2", "False"], done.stdout + done.stderr[-3000:]
    assert "usable: yes" in done.stdout
    assert "--dstrf.n_lags 5 is shorter than the CNN's receptive field" in done.stderr
    # and through the API, whose checks say it too
    code = """
import sys
from ndx_encoding_subspace.io import inspect_nwb
found = inspect_nwb(sys.argv[1], check=True)
print(found.usable)
"""
    done = run_without(["torch"], code, str(recording))
    assert done.returncode == 0 and done.stdout.split()[-1] == "True", done.stderr[-3000:]


def test_the_api_without_the_model_extra_names_the_extra_where_a_name_needs_it(tmp_path):
    """A public name whose module needs torch, asked without torch installed: one
    MissingDependencyError naming the name and the extra (an ImportError still), not a bare
    ModuleNotFoundError from deep inside; the command line says the same and exits 8."""
    from ndx_encoding_subspace.testing.absent import run_without

    code = """
import sys
from ndx_encoding_subspace.errors import MissingDependencyError
for package, name in (("results", "load_results"), ("fitting", "fit_model")):
    try:
        exec(f"from ndx_encoding_subspace.{package} import {name}")
    except MissingDependencyError as err:
        assert isinstance(err, ImportError)
        print(err)
import ndx_encoding_subspace.extension  # what needs no torch still loads
from ndx_encoding_subspace.cli import main
print("rc", main(["report", sys.argv[1]]))
"""
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.testing.mock import mock_results_nwbfile

    results = tmp_path / "site.results.nwb"
    with NWBHDF5IO(str(results), "w") as io:
        io.write(mock_results_nwbfile())
    done = run_without(["torch"], code, str(results))
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        "ndx_encoding_subspace.results.load_results needs torch, which is not installed: "
        "pip install 'ndx-encoding-subspace[model]'",
        "ndx_encoding_subspace.fitting.fit_model needs torch, which is not installed: "
        "pip install 'ndx-encoding-subspace[model]'"], done.stdout + done.stderr[-3000:]
    assert lines[-1] == "rc 8"
    assert "load_results needs torch, which is not installed" in done.stderr
