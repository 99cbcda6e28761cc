"""The committed YAML is what the script generates, and it is valid NWB schema language."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import jsonschema
import pynwb
import pytest
from hdmf.testing.validate_spec import validate_spec
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
SPEC_DIR = REPO / "spec"
SCRIPT = REPO / "src" / "spec" / "create_extension_spec.py"
META_SCHEMA = Path(pynwb.__file__).parent / "nwb-schema" / "nwb.schema.json"
FILES = ("ndx-encoding-subspace.namespace.yaml", "ndx-encoding-subspace.extensions.yaml")
TYPES = {"SpectrogramSeries", "ModelParameter", "TrainingLog", "ModelScoresTable",
         "EncodingModel", "EncodingModels", "TuningSubspaceTable",
         "SubspaceNonlinearityTable", "SiteSubspace"}


def _load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


def _validate(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # jsonschema.RefResolver
        validate_spec(str(path), str(META_SCHEMA))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spec")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, timeout=120)
    return out


@pytest.mark.parametrize("name", FILES)
def test_committed_yaml_matches_script(generated: Path, name: str) -> None:
    committed = (SPEC_DIR / name).read_text()
    assert (generated / name).read_text() == committed, (
        f"spec/{name} differs from the output of src/spec/create_extension_spec.py; rerun it"
    )


@pytest.mark.parametrize("name", FILES)
def test_spec_validates_against_nwb_schema_language(name: str) -> None:
    _validate(SPEC_DIR / name)


def test_every_type_is_defined() -> None:
    doc = _load(SPEC_DIR / FILES[1])
    defined = {g.get("neurodata_type_def") for g in doc.get("groups", []) + doc.get("datasets", [])}
    assert defined == TYPES


def test_validator_rejects_a_broken_spec(tmp_path: Path) -> None:
    doc = _load(SPEC_DIR / FILES[1])
    doc["groups"][0]["quantity"] = "several"  # not a legal quantity
    broken = tmp_path / "broken.extensions.yaml"
    with broken.open("w") as stream:
        YAML(typ="safe", pure=True).dump(doc, stream)
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_script_writes_into_a_new_directory(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, timeout=120)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    shutil.rmtree(out)
