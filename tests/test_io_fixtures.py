"""The test fixtures of ``ndx_encoding_subspace.testing``: pynwb's mock conventions, and kept
out of the package's run-time modules."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from pynwb.misc import Units
from pynwb.testing.mock.file import mock_NWBFile

import ndx_encoding_subspace
from ndx_encoding_subspace import testing
from ndx_encoding_subspace.testing import (
    MockSite,
    mock_AcousticWaveformSeries,
    mock_site,
    mock_sound_presentations,
    mock_sound_waveforms,
    mock_spiking_units,
)
from ndx_encoding_subspace.testing.files import INT16_FULL_SCALE

PACKAGE = Path(ndx_encoding_subspace.__file__).parent


def test_exports():
    for name in testing.__all__:
        value = getattr(testing, name)
        assert callable(value) or (name == "LAYOUTS" and all(map(callable, value.values()))), name
    expected = {"mock_results_nwbfile", "add_mock_results", "mock_site", "MockDandiServer"}
    assert expected <= set(testing.__all__)


@pytest.mark.parametrize(
    "factory", [mock_site, mock_sound_waveforms, mock_AcousticWaveformSeries, mock_spiking_units]
)
def test_keyword_arguments_only(factory):
    with pytest.raises(TypeError):
        factory(4)


def test_objects_are_returned_and_added_to_the_file():
    nwbfile = mock_NWBFile()
    site = mock_site(n_units=2, n_sounds=2, waveforms=False, nwbfile=nwbfile)
    assert isinstance(site, MockSite) and site.nwbfile is nwbfile
    assert set(nwbfile.stimulus_template) == {"sound_00", "sound_01"} and len(nwbfile.units) == 2
    other = mock_NWBFile()
    series = mock_AcousticWaveformSeries(where="stimulus", nwbfile=other)
    assert other.stimulus[series.name] is series and series.data.dtype == np.int16
    assert mock_AcousticWaveformSeries().name != series.name  # pynwb's name_generator
    trials = mock_sound_presentations(
        sounds=[series.name], starts=[0.0], duration=0.05, name="trials", nwbfile=other
    )
    assert other.trials is trials and list(trials["sound"].data) == [series.name]
    units = mock_spiking_units(n_units=3, duration=2.0, seed=1, nwbfile=other)
    assert isinstance(units, Units) and other.units is units and len(units) == 3
    with pytest.raises(ValueError, match="where"):
        mock_AcousticWaveformSeries(where="processing", nwbfile=other)
    with pytest.raises(ValueError, match="sound_type"):
        mock_site(sound_type="Audio")


def test_sounds_same_seed_same_waveforms():
    floats = mock_sound_waveforms(n_sounds=2, duration=0.1, seed=7)
    ints = mock_sound_waveforms(n_sounds=2, duration=0.1, seed=7, dtype="int16")
    for name, wave in floats.items():
        assert wave.dtype == np.float32 and ints[name].dtype == np.int16
        np.testing.assert_allclose(ints[name], wave * INT16_FULL_SCALE, atol=1.0)
    a, b = mock_site(seed=3, waveforms=False), mock_site(seed=3, waveforms=False)
    assert a.presentations == b.presentations
    assert all(np.array_equal(x, y) for x, y in zip(a.spikes, b.spikes, strict=True))


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts[-1] = ""  # a package's relative imports start from the package itself
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def test_runtime_modules_do_not_import_the_fixtures():
    assert "ndx_encoding_subspace.errors" in _imported_modules(PACKAGE / "io" / "locate.py")
    assert "ndx_encoding_subspace.data.site" in _imported_modules(PACKAGE / "data" / "__init__.py")
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        if any(m.startswith("ndx_encoding_subspace.testing") for m in _imported_modules(path)):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


RESULT_FACTORIES = [
    "mock_units", "mock_spectrogram_series", "mock_encoding_model", "mock_encoding_models",
    "mock_tuning_subspace_table", "mock_subspace_nonlinearity_table", "mock_site_subspace",
]


@pytest.mark.parametrize("name", RESULT_FACTORIES)
def test_results_factories_take_keywords_only_and_add_to_the_file(name):
    factory = getattr(testing, name)
    with pytest.raises(TypeError):
        factory(3)
    nwbfile = mock_NWBFile()
    obj = factory(nwbfile=nwbfile)
    if name == "mock_units":
        assert nwbfile.units is obj
    elif name == "mock_encoding_model":  # a model lives in a collection: only the units are added
        assert nwbfile.units is not None and obj.units.table is nwbfile.units
    else:
        assert nwbfile.processing["encoding_subspace"][obj.name] is obj
        if hasattr(obj, "units"):  # built on the file's own Units table
            assert obj.units.table is nwbfile.units


def test_results_factories_share_one_units_table():
    nwbfile = mock_NWBFile()
    units = testing.mock_units(n_units=4, nwbfile=nwbfile)
    table = testing.mock_tuning_subspace_table(nwbfile=nwbfile)
    site = testing.mock_site_subspace(nwbfile=nwbfile)
    assert table.units.table is units and site.units.table is units and len(units) == 4
