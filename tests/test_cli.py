"""The command line: one-line errors with documented exit codes, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from ndx_encoding_subspace.cli import EXIT_UNUSABLE, main
from ndx_encoding_subspace.errors import InputError


def _cli(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("encoding-subspace") or None
    cmd = [exe] if exe else [sys.executable, "-m", "ndx_encoding_subspace.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)


def test_inspect_real_files_report_no_sound(real_nwb_files):
    # the report is printed, and the exit code says the file cannot be used as it is
    for path in real_nwb_files:
        proc = _cli("inspect", str(path))
        assert proc.returncode == EXIT_UNUSABLE == InputError.exit_code == 3, proc.stderr
        assert "Traceback" not in proc.stderr
        text = proc.stdout.lower()
        assert "no sound stimulus" in text
        assert "unit" in text
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "cannot use this file" in lines[0]


@pytest.fixture
def tones(tmp_path):
    from ndx_encoding_subspace.testing.layouts import tone_parameters

    return tone_parameters(path=tmp_path / "tones.nwb").path


def test_inspect_takes_the_reader_flags(tones, tmp_path, capsys):
    assert main(["inspect", str(tones), "--json"]) == 3
    plain = json.loads(capsys.readouterr().out)
    assert plain["problems"] and "reader.synthesize_tones" in plain["problems"][0]
    assert not plain["use"]

    assert main(["inspect", str(tones), "--json", "--reader.synthesize_tones", "true",
                 "--ensemble.n_jackknife", "1"]) == 0  # fewer tones than 8 jackknifes
    chosen = json.loads(capsys.readouterr().out)
    assert set(chosen) == set(plain)  # the same keys, whatever the overrides
    assert chosen["problems"] == [] and chosen["use"]["layout"]

    cfg = tmp_path / "c.toml"
    cfg.write_text("[reader]\nsynthesize_tones = true\n[ensemble]\nn_jackknife = 1\n")
    assert main(["inspect", str(tones), "--config", str(cfg)]) == 0
    assert "problems:" not in capsys.readouterr().out


def test_inspect_refuses_bad_reader_values_and_other_sections(tones, capsys):
    assert main(["inspect", str(tones), "--reader.retries", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "retries" in err[0]
    with pytest.raises(SystemExit) as exc:  # inspect reads no training parameters
        main(["inspect", str(tones), "--training.max_epochs", "3"])
    assert exc.value.code == 2


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--reader.synthesize_tones" in text and "--config" in text
    assert "exits 3, after printing the report" in text and "4 remote" in text


def test_truncated_file_is_one_line_error(real_nwb_files, tmp_path):
    data = real_nwb_files[0].read_bytes()
    bad = tmp_path / "truncated.nwb"
    bad.write_bytes(data[: len(data) // 3])
    proc = _cli("inspect", str(bad))
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(bad) in lines[0]


def test_run_on_file_without_sound_exits_3(real_nwb_files, tmp_path):
    proc = _cli("run", str(real_nwb_files[0]), "--out", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "sound" in proc.stderr.lower()


def test_missing_file_and_not_nwb(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "absent.nwb")]) == 3
    text = tmp_path / "notes.nwb"
    text.write_text("not hdf5")
    assert main(["inspect", str(text)]) == 3
    err = capsys.readouterr().err
    assert "absent.nwb" in err and "notes.nwb" in err


def test_bad_option_values_exit_2(tmp_path, capsys):
    src = tmp_path / "x.nwb"
    src.write_text("")
    assert main(["run", str(src), "--training.max_epochs", "-3"]) == 2
    cfg = tmp_path / "c.toml"
    cfg.write_text("[training]\nunknown_key = 1\n")
    assert main(["run", str(src), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "max_epochs" in err and "unknown_key" in err


def test_unknown_flag_is_rejected():
    with pytest.raises(SystemExit) as exc:
        main(["run", "x.nwb", "--training.no_such_thing", "1"])
    assert exc.value.code == 2


@pytest.mark.parametrize("flag", ["--subspace.variance", "--out-", "--overw"])
def test_abbreviated_flags_are_rejected(flag, capsys):
    # argparse would otherwise take a unique prefix for the whole name
    with pytest.raises(SystemExit) as exc:
        main(["run", "x.nwb", flag, "0.9"])
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_output_that_cannot_be_created_is_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--quick", "--out", str(blocker / "sub"), "--no-progress"]) == 7
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"encoding-subspace: error: {blocker / 'sub'}: Not a directory"]


def test_missing_optional_package_is_one_line_error(monkeypatch, capsys):
    from ndx_encoding_subspace import cli
    from ndx_encoding_subspace.errors import MissingDependencyError, import_optional

    def needs_absent_package(args):
        import_optional("ndx_es_absent_package", "dandi", "streaming a remote file")

    monkeypatch.setattr(cli, "_dispatch", needs_absent_package)
    assert main(["inspect", "x.nwb"]) == MissingDependencyError.exit_code == 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'ndx-encoding-subspace[dandi]'" in err[0]
    assert "Traceback" not in err[0]
    with pytest.raises(ImportError):  # still an ImportError for library callers
        import_optional("ndx_es_absent_package", "viz", "viewing")
    assert import_optional("json", "viz", "viewing").dumps([1]) == "[1]"


def test_an_output_folder_that_is_a_file_is_said_so(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--quick", "--out", str(blocker), "--no-progress"]) == 7
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"encoding-subspace: error: {blocker}: a file where a folder is needed"]
    for out in (blocker, blocker / "sub"):  # run says so before it reads (a missing input is never read)
        assert main(["run", str(tmp_path / "absent.nwb"), "--out", str(out), "--no-progress"]) == 7
        said = capsys.readouterr().err.strip().splitlines()
        assert said == [f"encoding-subspace: error: {blocker}: a file where a folder is needed"]


def test_a_misspelt_flag_is_said_by_its_command_with_the_closest_one(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "x.nwb", "--training.max_epoch", "3"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err == (
        "encoding-subspace run: error: unrecognized arguments: --training.max_epoch 3 "
        "(did you mean --training.max_epochs?) (see encoding-subspace run --help)")
    assert main(["run", "x.nwb", "--training.max_epochs", "abc"]) == 2
    err = capsys.readouterr().err
    assert "got the text 'abc'" in err and "without quotes" not in err


def test_inspect_takes_the_preset_a_run_would_use():
    """Whether a run with the authors' settings could analyse the site (20-bin dSTRFs, 8
    jackknifes), as inspect checks it."""
    from ndx_encoding_subspace.cli import build_parser
    from ndx_encoding_subspace.cli_flags import _config_from_args
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    args = build_parser().parse_args(["inspect", "x.nwb", "--preset", "paper", "--ensemble.n_jackknife", "4"])
    config = _config_from_args(args)
    paper = PipelineConfig.from_preset("paper")
    assert config.dstrf == paper.dstrf and config.ensemble.n_jackknife == 4
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--preset", "paper"])  # the demo has its own sizes
