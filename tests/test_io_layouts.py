"""The reader and the NWB layouts of published auditory datasets, each written by its writer.

:mod:`ndx_encoding_subspace.testing.layouts` writes one small site per layout (8 sounds:
6 heard once, 2 heard 3 times; 4 units) with the software that writes it in practice:
neuroconv's ``AudioInterface`` and ``add_sorting_to_nwbfile`` for one series per
presentation, pynwb (and ndx-sound) for the others. For every layout the file is checked
first (pynwb reads it back, nwbinspector finds nothing critical), then what ``read_site``
and ``encoding-subspace inspect --json`` find, then one tiny run of the whole pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from conftest import TINY_CONFIG
from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.errors import InputError
from ndx_encoding_subspace.io import ReaderParams
from ndx_encoding_subspace.testing.layouts import LAYOUTS, LayoutSite

READABLE = [name for name in LAYOUTS if name != "tone_parameters"]
TINY = {**TINY_CONFIG,  # smaller still: six layouts run end to end
        "training": {"max_epochs": 2, "patience": 1, "device": "cpu", "segment_length": 50},
        "subspace": {"n_components": 4, "noise_repeats": 2}, "scoring": {"n_shuffles": 5},
        "spectrogram": {"n_channels": 16}, "compute": {"threads": 1}}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LayoutSite]:
    """Every layout, written once by its writer."""
    folder = tmp_path_factory.mktemp("layouts")
    written = {}
    for name, write in LAYOUTS.items():
        if name == "series_per_presentation":
            pytest.importorskip("neuroconv", reason="needs neuroconv[audio] (the test extra)")
            pytest.importorskip("spikeinterface", reason="needs spikeinterface (the ephys extra)")
        written[name] = write(path=folder / f"{name}.nwb", seed=len(written))
    return written


def _options(site: LayoutSite) -> list[str]:
    """The command line's flags for the reader options the site needs."""
    return [text for key, value in site.reader.items() for text in (f"--reader.{key}", value)]


def _inspect_json(path: Path, capsys: pytest.CaptureFixture[str], *, usable: bool = True,
                  options: list[str] | None = None) -> dict:
    capsys.readouterr()
    # the files hold fewer estimation sounds than the default 8 jackknifes: 2 of them
    argv = ["inspect", "--json", str(path), "--ensemble.n_jackknife", "2", *(options or [])]
    assert main(argv) == (0 if usable else 3)  # 3: an input error
    return json.loads(capsys.readouterr().out)


# -- the files: valid, and as their writers write them ------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_writer_writes_a_valid_file(sites: dict[str, LayoutSite], layout: str) -> None:
    from nwbinspector import Importance, inspect_nwbfile

    site = sites[layout]
    assert site.layout == layout
    assert (site.n_presentations, site.n_sounds, site.n_units) == (12, 8, 4)
    assert bool(site.reader) == (layout == "trials_naming_wav_files")
    assert site.repeat_counts == (1, 1, 1, 1, 1, 1, 3, 3)
    with NWBHDF5IO(str(site.path), "r") as io:
        nwbfile = io.read()
        assert len(nwbfile.units) == site.n_units
        for k, times in enumerate(site.spikes):
            np.testing.assert_allclose(nwbfile.units.get_unit_spike_times(k), times, atol=1e-9)
    bad = [m for m in inspect_nwbfile(nwbfile_path=str(site.path))
           if m.importance in (Importance.CRITICAL, Importance.ERROR, Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [f"{m.check_function_name}: {m.message}" for m in bad]


def test_neuroconv_writes_one_series_per_presentation(sites: dict[str, LayoutSite]) -> None:
    site = sites["series_per_presentation"]
    with h5py.File(site.path, "r") as f:
        assert not len(f.get("intervals", {})) and not len(f["stimulus"].get("templates", {}))
        group = f["stimulus/presentation"]
        names = ["AcousticWaveformSeries"] + [f"AcousticWaveformSeries{k}" for k in range(1, 12)]
        assert sorted(group) == sorted(names)
        starts = []
        for name in names:
            series = group[name]
            assert series.attrs["neurodata_type"] == "AcousticWaveformSeries"
            assert series.attrs["namespace"] == "ndx-sound"
            assert series["data"].dtype == np.int16
            starts.append(float(series["starting_time"][()]))
    np.testing.assert_allclose(starts, [t for _, t in site.presentations])


def test_the_other_layouts_hold_what_the_issue_describes(sites: dict[str, LayoutSite]) -> None:
    with h5py.File(sites["templates_dynamic_table"].path, "r") as f:
        table = f["stimulus/presentation/presentations"]
        assert table.attrs["neurodata_type"] == "DynamicTable"
        assert {"presentation_time", "stimulus_name"} <= set(table.attrs["colnames"])
    with h5py.File(sites["continuous_with_trials"].path, "r") as f:
        assert list(f["stimulus/presentation"]) == ["sound"]
        files = [v.decode() for v in f["intervals/trials/stimulus_file"][:]]
        assert files[0::2] == ["none"] * 13 and files[1::2] == [s for s, _ in sites[
            "continuous_with_trials"].presentations]
    with h5py.File(sites["templates_file_names"].path, "r") as f:
        assert "clip03" in f["stimulus/templates"]
        assert b"/stimuli/Clip03.WAV" in set(f["intervals/sound_presentations/stimulus_file"][:])
    with h5py.File(sites["tone_parameters"].path, "r") as f:
        assert "stimulus" not in f or not any(len(f["stimulus"][g]) for g in f["stimulus"])
        assert {"frequency", "level", "duration"} <= set(f["intervals/trials"].attrs["colnames"])


# -- what the reader finds -----------------------------------------------------------------


@pytest.mark.parametrize("layout", READABLE)
def test_read_site_finds_every_presentation(sites: dict[str, LayoutSite], layout: str) -> None:
    from ndx_encoding_subspace.io import read_site

    site = sites[layout]
    data = read_site(site.path, reader=ReaderParams(**site.reader))
    assert data.n_units == site.n_units
    assert len(data.sounds) == site.n_sounds
    assert tuple(sorted(s.n_repeats for s in data.sounds)) == site.repeat_counts
    assert sum(s.n_repeats for s in data.sounds) == site.n_presentations


@pytest.mark.parametrize("layout", READABLE)
def test_inspect_json_reports_the_layout(sites: dict[str, LayoutSite], layout: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    site = sites[layout]
    report = _inspect_json(site.path, capsys, usable=site.readable, options=_options(site))
    assert report["problems"] == []
    use = report["use"]
    assert use["layout"] == site.kind
    assert use["presentations"] == site.n_presentations
    assert use["sounds_presented"] == site.n_sounds
    assert use["repeated_sounds"] == sum(n >= 2 for n in site.repeat_counts)


def test_neuroconv_audio_written_to_acquisition_is_read_as_well(tmp_path: Path) -> None:
    from ndx_encoding_subspace.io import read_site

    pytest.importorskip("neuroconv", reason="needs neuroconv[audio] (the test extra)")
    site = LAYOUTS["series_per_presentation"](path=tmp_path / "acquired.nwb", parent_container="acquisition")
    with h5py.File(site.path, "r") as f:
        assert "AcousticWaveformSeries" in f["acquisition"] and not len(f["stimulus/presentation"])
    data = read_site(site.path)
    assert tuple(sorted(s.n_repeats for s in data.sounds)) == site.repeat_counts
    assert data.source["layout"] == "series" and data.source["sounds"][0].startswith("acquisition/")


def test_baseline_rows_may_name_no_file(tmp_path: Path) -> None:
    from ndx_encoding_subspace.io import read_site

    site = LAYOUTS["continuous_with_trials"](path=tmp_path / "empty_baseline.nwb", baseline="")
    data = read_site(site.path)
    assert tuple(sorted(s.n_repeats for s in data.sounds)) == site.repeat_counts


def test_tone_parameters_error_names_the_columns_found(sites: dict[str, LayoutSite],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from ndx_encoding_subspace.io import read_site

    site = sites["tone_parameters"]
    assert not site.readable
    with pytest.raises(InputError) as raised:
        read_site(site.path)
    for column in site.columns:
        assert column in str(raised.value), str(raised.value)
    report = _inspect_json(site.path, capsys, usable=site.readable)
    assert report["use"] == {} and report["problems"]
    problems = " ".join(report["problems"])
    assert all(column in problems for column in site.columns), problems


# -- the whole pipeline, tiny ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("layout", READABLE)
def test_run_site_writes_results(sites: dict[str, LayoutSite], layout: str, tmp_path: Path,
                                 one_thread: None) -> None:
    from ndx_encoding_subspace.pipeline import PipelineConfig, run_site
    from ndx_encoding_subspace.results import load_results

    config = PipelineConfig.from_dict({**TINY, "reader": sites[layout].reader})
    result = run_site(sites[layout].path, tmp_path / "out", config, progress=False)
    assert result.path.exists()
    assert {m.role for m in load_results(result.path).models} >= {"cnn", "ln"}


def test_run_site_on_tones_stops_naming_the_columns(sites: dict[str, LayoutSite], tmp_path: Path) -> None:
    from ndx_encoding_subspace.pipeline import PipelineConfig, run_site

    site = sites["tone_parameters"]
    with pytest.raises(InputError) as raised:
        run_site(site.path, tmp_path / "out", PipelineConfig.from_dict(TINY), progress=False)
    assert all(column in str(raised.value) for column in site.columns), str(raised.value)
    assert not list((tmp_path / "out").glob("*.nwb"))
