"""The command line answers ``--version``, ``--help``, argument errors and a missing input
without importing torch, pynwb, hdmf, scipy, pandas or h5py; the package registers its NWB
classes on first use, and whenever pynwb is imported.

Each case runs in a fresh interpreter and reports the heavy modules it imported (the test
process itself has imported them all). Behaviour only: how long a start takes is
measured by ``benchmarks/bench_cli_start.py``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ndx_encoding_subspace

HEAVY = ("torch", "pynwb", "hdmf", "scipy", "pandas", "h5py")

#: an expression listing the heavy modules imported so far
HEAVY_FOUND = f"[m for m in {HEAVY!r} if m in sys.modules]"

#: runs ``main`` as the console script does and prints, last, the exit code and which
#: heavy modules were imported
CLI = f"""
import json, sys
from ndx_encoding_subspace.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
sys.stdout.flush()
print(json.dumps({{"code": code, "heavy": {HEAVY_FOUND}}}))
"""

#: the packages whose names load on first use, so that their parameters import light
LAZY_PACKAGES = ("circuit", "dstrf", "fitting", "io", "models", "nonlinearity", "pipeline", "subspace")


def _python(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _cli(tmp_path: Path, *args: str) -> tuple[dict, str, str]:
    done = _python(CLI, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    *out, last = done.stdout.splitlines()
    return json.loads(last), "\n".join(out), done.stderr


@pytest.mark.parametrize(("args", "code", "stdout", "stderr"), [
    (["--version"], 0, ndx_encoding_subspace.__version__, ""),
    (["--help"], 0, "usage: encoding-subspace", ""),
    (["run", "--help"], 0, "--training.max_epochs VALUE", ""),
    (["inspect", "--help"], 0, "--reader.units VALUE", ""),
    (["demo", "--help"], 0, "--quick", ""),
    (["run", "--bogus", "x.nwb"], 2, "", "unrecognized arguments: --bogus"),
    (["frobnicate"], 2, "", "invalid choice: 'frobnicate'"),
    (["run", "--training.max_epochs", "0", "x.nwb"], 2, "",
     "max_epochs must be at least 1, got 0 (in [training])"),
    (["run", "missing.nwb"], 3, "",
     "encoding-subspace: error: input 'missing.nwb' matches nothing (give NWB files, folders, "
     "globs or DANDI identifiers)"),
    (["inspect", "missing.nwb"], 3, "", "encoding-subspace: error: missing.nwb: file not found"),
    (["report", "missing.results.nwb"], 6, "",
     "encoding-subspace: error: missing.results.nwb: results file not found"),
    (["summarize", "missing"], 6, "", "encoding-subspace: error: missing: not a folder of results files"),
    (["summarize", "."], 6, "", "encoding-subspace: error: .: no results files (*.results.nwb) to summarize"),
], ids=["version", "help", "run-help", "inspect-help", "demo-help", "unknown-flag",
        "unknown-command", "bad-value", "missing-input", "inspect-missing", "report-missing",
        "summarize-missing", "summarize-empty"])
def test_quick_answers_import_nothing_heavy(tmp_path: Path, args: list[str], code: int, stdout: str,
                                            stderr: str) -> None:
    found, out, err = _cli(tmp_path, *args)
    assert found == {"code": code, "heavy": []}
    assert stdout in out
    assert stderr in err
    if args == ["--version"]:
        assert out == ndx_encoding_subspace.__version__


def test_help_lists_every_configuration_flag(tmp_path: Path) -> None:
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    _, out, _ = _cli(tmp_path, "run", "--help")
    for section, field in PipelineConfig().fields():
        assert f"--{section}.{field.name}" in out


def test_the_package_imports_without_pynwb(tmp_path: Path) -> None:
    code = ("import json, sys, ndx_encoding_subspace as p\n"
            "print(json.dumps({'version': p.__version__, 'all': p.__all__, 'dir': dir(p),\n"
            f"                  'heavy': {HEAVY_FOUND}}}))")
    done = _python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["version"] == ndx_encoding_subspace.__version__
    assert found["heavy"] == []
    assert set(found["all"]) <= set(found["dir"])
    assert {"TuningSubspaceTable", "SpectrogramSeries", "ragged_column"} <= set(found["all"])


REGISTERED = """
import json, sys
{imports}
import pynwb
cls = pynwb.get_type_map().get_dt_container_cls("TuningSubspaceTable", "ndx-encoding-subspace")
print(json.dumps({{"module": cls.__module__, "loader": type(pynwb.__loader__).__name__,
                  "spec_loader": type(pynwb.__spec__.loader).__name__}}))
"""


@pytest.mark.parametrize("imports", [
    "import ndx_encoding_subspace",  # pynwb imported after the package: the hook registers
    "import pynwb\nimport ndx_encoding_subspace",  # before: the package registers at once
    "from ndx_encoding_subspace import TuningSubspaceTable",  # a class accessed
    "import ndx_encoding_subspace.extension",
], ids=["package-then-pynwb", "pynwb-then-package", "class", "extension"])
def test_the_typed_classes_are_registered_on_first_use(tmp_path: Path, imports: str) -> None:
    done = _python(REGISTERED.format(imports=imports), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["module"] == "ndx_encoding_subspace.extension.tuning_subspace"
    assert found["loader"] == found["spec_loader"] == "SourceFileLoader"  # pynwb's own loader


def test_a_file_read_after_importing_the_package_gives_the_typed_classes(tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.testing import mock_results_nwbfile

    path = tmp_path / "results.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(mock_results_nwbfile())
    code = ("import ndx_encoding_subspace\n"
            "from pynwb import NWBHDF5IO\n"
            f"with NWBHDF5IO({str(path)!r}, 'r') as io:\n"
            "    table = io.read().processing['encoding_subspace']['tuning_subspaces']\n"
            "    print(type(table).__module__, table['filters'][0].shape)\n")
    done = _python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    module, _ = done.stdout.split(" ", 1)
    assert module == "ndx_encoding_subspace.extension.tuning_subspace"


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_lazy_packages_give_every_public_name(name: str) -> None:
    package = importlib.import_module(f"ndx_encoding_subspace.{name}")
    assert set(package._lazy_names) == set(package.__all__)
    assert set(package.__all__) <= set(dir(package))
    for public in package.__all__:
        value = getattr(package, public)
        assert getattr(importlib.import_module(f"{package.__name__}.{package._lazy_names[public]}"),
                       public) is value
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        package.nothing_here  # noqa: B018


def test_a_submodule_named_like_a_public_name_leaves_the_name_alone(tmp_path: Path) -> None:
    code = ("import ndx_encoding_subspace.io.inventory, ndx_encoding_subspace.nonlinearity.ssrf\n"
            "from ndx_encoding_subspace.io import inventory\n"
            "from ndx_encoding_subspace.nonlinearity import ssrf\n"
            "print(callable(inventory), callable(ssrf))")
    done = _python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_the_subspace_parameters_default_to_the_extensions_threshold() -> None:
    from ndx_encoding_subspace.extension.reliability import DEFAULT_RELIABILITY_THRESHOLD
    from ndx_encoding_subspace.subspace import SubspaceParams

    assert SubspaceParams().reliability_threshold == DEFAULT_RELIABILITY_THRESHOLD
