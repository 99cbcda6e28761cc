"""The project's corpus of bad inputs: each refused early, in one line, with its exit code.

Every case goes through the command line as a user would meet it and asserts the exit
code, a one-line message naming the file and the object at fault, no traceback, and an
input left byte for byte as it was (sha256). The files are written by the real writers
(pynwb through the mock factories) and then damaged with h5py, as a faulty converter or
a hostile author would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch

from conftest import TINY_CONFIG
from ndx_encoding_subspace.atomic import write_text
from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.errors import ConfigError, InvalidDataError, TrainingError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.pipeline.config import SECTIONS
from ndx_encoding_subspace.testing.files import mock_site, write_nwb

EXIT_CONFIG, EXIT_INPUT = ConfigError.exit_code, InvalidDataError.exit_code
EXIT_TRAINING = TrainingError.exit_code


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(argv: list[str], code: int, capsys, *words: str) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines()
             if line.strip() and not line.startswith("encoding-subspace: warning:")]
    assert "Traceback" not in err and len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def recording(tmp_path):
    """A small recording written by pynwb: 4 units, 4 sounds, the last presented 5 times."""
    return write_nwb(mock_site(n_units=4, seed=1, duration=1.0).nwbfile, tmp_path / "rec.nwb")


def _run(path, out) -> list[str]:
    return ["run", str(path), "--out", str(out), "--no-progress"]


# --- parameters ---------------------------------------------------------------------------

def test_no_parameter_takes_nan_or_infinity():
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            if isinstance(getattr(cls(), f.name), float):
                for bad in (math.nan, -math.inf):
                    with pytest.raises(ConfigError, match=f"{f.name} must be a finite number"):
                        cls(**{f.name: bad})


@pytest.mark.parametrize("flag", ["--spectrogram.bin_size", "--training.lr_stage1", "--dstrf.shrinkage"])
def test_a_nan_flag_is_refused_before_reading(flag, recording, tmp_path, capsys):
    before = _sha(recording)
    _refused([*_run(recording, tmp_path / "out"), flag, "nan"], EXIT_CONFIG, capsys,
             flag.lstrip("-").split(".")[1], "finite")
    assert _sha(recording) == before and not (tmp_path / "out").exists()


def test_a_binary_configuration_file_is_refused(recording, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_bytes(bytes(range(256)) * 4)
    _refused([*_run(recording, tmp_path / "out"), "--config", str(config)], EXIT_CONFIG, capsys,
             "config.toml", "cannot parse")


# --- files the reader refuses ---------------------------------------------------------------

def _damage(path, edit) -> str:
    with h5py.File(path, "r+") as f:
        edit(f)
    return _sha(path)


def test_duplicate_unit_ids_are_refused_at_read_time(recording, tmp_path, capsys):
    def twice(f):
        ids = f["units/id"][()]
        ids[2] = ids[0]
        f["units/id"][...] = ids
    before = _damage(recording, twice)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec", "repeats unit ids [0]")
    _refused(["inspect", str(recording)], EXIT_INPUT, capsys, "rec")
    assert _sha(recording) == before and not list((tmp_path / "out").glob("*.results.nwb"))


@pytest.mark.parametrize("damage, what", [
    (lambda ends: ends[::-1].copy(), "goes backwards"),
    (lambda ends: ends + 7, "ending at"),
])
def test_a_damaged_spike_times_index_is_refused(damage, what, recording, tmp_path, capsys):
    def edit(f):
        f["units/spike_times_index"][...] = damage(f["units/spike_times_index"][()])
    before = _damage(recording, edit)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec", "spike_times_index", what)
    assert _sha(recording) == before


def test_silent_sounds_are_refused_at_read_time(recording, tmp_path, capsys):
    def silence(f):
        for name in f["stimulus/templates"]:
            f[f"stimulus/templates/{name}/data"][...] = 0
    before = _damage(recording, silence)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec", "every sound is silent")
    _refused(["inspect", str(recording)], EXIT_INPUT, capsys, "rec")
    assert _sha(recording) == before


# --- sounds that declare more than the file holds: refused before any sample is read ------------

GIB_OF_FLOAT32 = 2**28


def _redeclare(f, path: str, shape: tuple[int, ...], *, written: int | None = None, **storage) -> None:
    """Replace dataset ``path`` by one of ``shape`` (its attributes kept) with ``storage``
    (h5py keywords: chunks, external...), writing its first ``written`` samples back
    (all it had by default, none with 0)."""
    old = f[path]
    attrs, samples = dict(old.attrs), old[()]
    del f[path]
    new = f.create_dataset(path, shape=shape, dtype=samples.dtype, **storage)
    n = len(samples) if written is None else written
    if n:
        new[:n] = samples[:n]
    for key, value in attrs.items():
        new.attrs[key] = value


def _last_template(f) -> str:
    """The template presented last in the mock recording (no presentation follows it)."""
    table = f["intervals/sound_presentations"]
    last = int(np.argmax(table["start_time"][()]))
    return f"stimulus/templates/{table['sound'][last].decode()}/data"


@pytest.fixture
def track(tmp_path):
    """A recording whose sounds are cut from one continuous track at a table's rows."""
    return write_nwb(mock_site(layout="continuous", n_units=3, seed=6).nwbfile, tmp_path / "track.nwb")


def test_a_track_declared_far_larger_than_its_file_reads_only_the_presented_spans(track, tmp_path, capsys):
    expected = read_site(track)
    before = _damage(track, lambda f: _redeclare(f, "stimulus/presentation/sound/data", (GIB_OF_FLOAT32,),
                                                 chunks=(4096,)))
    assert track.stat().st_size < 2e6  # a 1 GiB sound declared in a file of a few hundred kB
    site = read_site(track)
    assert [s.name for s in site.sounds] == [s.name for s in expected.sounds]
    for got, want in zip(site.sounds, expected.sounds, strict=True):
        np.testing.assert_array_equal(got.spectrogram, want.spectrogram)
    assert main(["inspect", str(track), "--ensemble.n_jackknife", "1"]) == 0  # 3 sounds to fit
    assert "usable: yes" in capsys.readouterr().out
    assert _sha(track) == before


def test_a_presented_span_in_storage_never_written_is_refused(track, tmp_path, capsys):
    with h5py.File(track, "r") as f:
        n = len(f["stimulus/presentation/sound/data"])
    before = _damage(track, lambda f: _redeclare(f, "stimulus/presentation/sound/data", (GIB_OF_FLOAT32,),
                                                 chunks=(4096,), written=n // 2))
    line = _refused(_run(track, tmp_path / "out"), EXIT_INPUT, capsys, "track.nwb",
                    "stimulus/presentation/sound", "never written", "fill value 0")
    assert "not read" in line
    _refused(["inspect", str(track)], EXIT_INPUT, capsys, "track.nwb")
    assert _sha(track) == before and not list((tmp_path / "out").glob("*.results.nwb"))


def test_segments_of_a_track_beyond_its_storage_or_the_recording_are_refused_unread(tmp_path, capsys):
    site = mock_site(layout="continuous", table="", n_units=3, seed=6)
    path = write_nwb(site.nwbfile, tmp_path / "seg.nwb")
    with h5py.File(path, "r") as f:
        n = len(f["stimulus/presentation/sound/data"])
    before = _damage(path, lambda f: _redeclare(f, "stimulus/presentation/sound/data", (n,), chunks=(4096,),
                                                written=n // 2))
    _refused([*_run(path, tmp_path / "out"), "--reader.segment_s", "1"], EXIT_INPUT, capsys, "seg.nwb",
             "sound 'segment_0003' (stimulus/presentation/sound)", "never written")
    before = _damage(path, lambda f: _redeclare(f, "stimulus/presentation/sound/data", (GIB_OF_FLOAT32,),
                                                chunks=(4096,)))
    _refused(_run(path, tmp_path / "out"), EXIT_INPUT, capsys, "seg.nwb",
             "segment_0001 of stimulus/presentation/sound (10-20 s)",
             "(1677 in all) lie outside the recording")
    assert _sha(path) == before


def test_one_series_per_presentation_with_samples_never_written_is_refused_before_comparing(tmp_path,
                                                                                          capsys):
    from ndx_encoding_subspace.testing.layouts import series_per_presentation

    path = series_per_presentation(path=tmp_path / "series.nwb", n_units=2, n_once=3, n_repeated=1,
                                   repeats=2).path
    where = []

    def half(f):
        series = {k: float(v["starting_time"][()]) for k, v in f["stimulus/presentation"].items()}
        where.append(f"stimulus/presentation/{max(series, key=series.get)}")
        n = len(f[f"{where[0]}/data"])
        _redeclare(f, f"{where[0]}/data", (n,), chunks=(1024,), written=n // 2)
    before = _damage(path, half)
    _refused(_run(path, tmp_path / "out"), EXIT_INPUT, capsys, "series.nwb", f"({where[0]})", "never written")
    assert _sha(path) == before


@pytest.mark.parametrize("declared, words", [
    ((GIB_OF_FLOAT32,), ("(of the 268435456 it declares)", "never written")),  # played to its row's stop
    ((16000 * 30,), ("(of the 480000 it declares)", "never written")),
])
def test_a_template_declared_far_larger_than_its_file_is_refused_unread(declared, words, recording, tmp_path,
                                                                       capsys):
    where = []

    def grow(f):
        where.append(_last_template(f))
        _redeclare(f, where[0], declared, chunks=(4096,), written=4096)
    before = _damage(recording, grow)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", where[0].rsplit("/", 1)[0],
             *words)
    assert _sha(recording) == before


def test_a_template_never_written_is_refused_not_read_as_silence(recording, tmp_path, capsys):
    where = []

    def empty(f):
        where.append(_last_template(f))
        _redeclare(f, where[0], f[where[0]].shape, written=0)  # contiguous, never allocated
    before = _damage(recording, empty)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", where[0].rsplit("/", 1)[0],
             "never written", "fill value 0")
    assert _sha(recording) == before


@pytest.mark.parametrize("kept", [None, 0.5])
def test_a_template_in_a_missing_or_short_external_file_is_refused(kept, recording, tmp_path, capsys):
    raw = tmp_path / "samples.raw"
    where = []

    def external(f):
        where.append(_last_template(f))
        samples = f[where[0]][()]
        if kept is not None:
            samples[: int(kept * len(samples))].tofile(raw)
        _redeclare(f, where[0], samples.shape, written=0, external=[(str(raw), 0, samples.nbytes)])
    before = _damage(recording, external)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", where[0].rsplit("/", 1)[0],
             "samples.raw", "is missing" if kept is None else "holds", "read as zeros")
    assert _sha(recording) == before


def test_a_template_mapped_from_a_missing_file_is_refused(recording, tmp_path, capsys):
    source = tmp_path / "source.h5"
    where = []

    def virtual(f):
        where.append(_last_template(f))
        old = f[where[0]]
        attrs, samples = dict(old.attrs), old[()]
        with h5py.File(source, "w") as other:
            other["samples"] = samples
        layout = h5py.VirtualLayout(shape=samples.shape, dtype=samples.dtype)
        layout[:] = h5py.VirtualSource(str(source), "samples", shape=samples.shape)
        del f[where[0]]
        f.create_virtual_dataset(where[0], layout, fillvalue=0)
        for key, value in attrs.items():
            f[where[0]].attrs[key] = value
    before = _damage(recording, virtual)
    assert read_site(recording).n_units == 4  # its source present: read through the mapping
    source.unlink()
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", where[0].rsplit("/", 1)[0],
             "source.h5", "cannot be found")
    assert _sha(recording) == before


def test_sounds_needing_more_memory_than_available_are_refused_unread(recording, tmp_path, capsys,
                                                                     monkeypatch):
    from ndx_encoding_subspace.io import storage

    before = _sha(recording)
    monkeypatch.setattr(storage, "available_memory", lambda: 10**6)  # 1 MB: one 1 s sound needs 0.96
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", "stimulus/templates/sound_0",
             "memory available", "not read")
    monkeypatch.setattr(storage, "available_memory", lambda: 2 * 10**6)  # each sound fits, not all four
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", "4 presented sounds",
             "stimulus/templates/sound_0", "memory available")
    assert _sha(recording) == before and not list((tmp_path / "out").glob("*.results.nwb"))


def test_spike_times_declared_far_larger_than_the_file_are_refused_unread(recording, tmp_path, capsys,
                                                                         monkeypatch):
    from ndx_encoding_subspace.io import storage

    def grow(f):  # 2**31 spike times (17 GB), the index ending there: a consistent, empty column
        _redeclare(f, "units/spike_times", (2**31,), chunks=(65536,))
        ends = f["units/spike_times_index"][()].astype(np.int64)
        ends[-1] = 2**31
        attrs = dict(f["units/spike_times_index"].attrs)
        del f["units/spike_times_index"]
        index = f.create_dataset("units/spike_times_index", data=ends)
        for key, value in attrs.items():
            index.attrs[key] = value
        index.attrs["target"] = f["units/spike_times"].ref
    before = _damage(recording, grow)
    monkeypatch.setattr(storage, "available_memory", lambda: 10**9)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", "column 'spike_times'",
             "2147483648 values (17.2 GB)", "memory available", "not read")
    monkeypatch.setattr(storage, "available_memory", lambda: 10**12)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", "column 'spike_times'",
             "never written", "not read")
    assert _sha(recording) == before


def _grown_waveforms(f) -> None:
    shape = f["units/waveform_mean"].shape
    _redeclare(f, "units/waveform_mean", (shape[0], 10**11), written=0, chunks=(1, 65536))


def _grown_presentations(f) -> None:
    for column in ("id", "sound", "start_time", "stop_time"):
        _redeclare(f, f"intervals/sound_presentations/{column}", (10**11,), chunks=(65536,))


def _text_not_utf8(f) -> None:
    table = f["intervals/sound_presentations"]
    names, attrs = list(table["sound"][()]), dict(table["sound"].attrs)
    names[1] = b"sound_\xff\xfe"
    del table["sound"]
    table.create_dataset("sound", data=np.array(names, dtype=object), dtype=h5py.string_dtype("utf-8"))
    table["sound"].attrs.update(attrs)


def _sound_of(dtype: str, f) -> None:
    path = "stimulus/templates/sound_00/data"
    samples, attrs = f[path][()], dict(f[path].attrs)
    del f[path]
    values = samples.astype(np.complex64) * (1 + 1j) if dtype == "complex" else np.array(["a"] * len(samples),
                                                                                            dtype=object)
    f.create_dataset(path, data=values, dtype=h5py.string_dtype() if dtype == "text" else None)
    f[path].attrs.update(attrs)


@pytest.mark.parametrize(("damage", "words"), [
    (_grown_waveforms, ("units column 'waveform_mean' declares 4 x 100000000000 values", "not read")),
    (_grown_presentations, ("of sound_presentations declares 100000000000 values", "not read")),
    (_text_not_utf8, ("column 'sound' of sound_presentations: text that is not UTF-8",)),
    (lambda f: _sound_of("complex", f), ("stimulus/templates/sound_00/data holds complex values",)),
    (lambda f: _sound_of("text", f), ("stimulus/templates/sound_00/data holds values of type object",)),
])
def test_columns_and_sounds_no_reader_could_hold_are_refused_unread(damage, words, recording, tmp_path,
                                                                     capsys):
    """Waveforms or presentation columns declaring terabytes that were never written, text
    that is not UTF-8, sound samples that are complex numbers or text: one line, exit 3."""
    before = _damage(recording, damage)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb", *words)
    assert _sha(recording) == before


# --- presentations that overlap in time ----------------------------------------------------

def _longer(f, times: int) -> str:
    """The first template presented once made ``times`` as long (its samples repeated)."""
    table = f["intervals/sound_presentations"]
    names = [n.decode() for n in table["sound"][()]]
    first_once = next(n for n in names if names.count(n) == 1)
    path = f"stimulus/templates/{first_once}/data"
    samples = f[path][()]
    _redeclare(f, path, (times * len(samples),))
    f[path][...] = np.tile(samples, times)
    return first_once


def test_a_template_longer_than_its_row_overlapping_the_next_presentation_is_refused(recording, tmp_path,
                                                                                     capsys):
    """A template presented once, longer than its row, plays until its row's stop (said),
    so it does not run into the next rows; without a stop it would, and is refused."""
    from ndx_encoding_subspace.io import read_site

    named = []
    before = _damage(recording, lambda f: named.append(_longer(f, 3)))
    said = f"1 sound\\(s\\) presented once are read only until their row's stop \\(e.g. '{named[0]}'\\)"
    with pytest.warns(UserWarning, match=said):
        site = read_site(recording)
    assert "once-read-until-stop" in site.source["rules"]
    assert _sha(recording) == before

    def unstopped(f):  # a NaN stop: a row without an end, lasting its sound
        table = f["intervals/sound_presentations"]
        names = [n.decode() for n in table["sound"][()]]
        stops = table["stop_time"][()]
        stops[names.index(named[0])] = np.nan
        table["stop_time"][...] = stops
    _damage(recording, unstopped)
    _refused(_run(recording, tmp_path / "out"), EXIT_INPUT, capsys, "rec.nwb",
             "intervals/sound_presentations", "overlaps row", "end of its sound")


def test_overlapping_tones_are_refused(tmp_path, capsys):
    from pynwb.testing.mock.file import mock_NWBFile

    from ndx_encoding_subspace.testing.files import mock_spiking_units

    nwb = mock_NWBFile()
    for column in ("frequency", "duration"):
        nwb.add_trial_column(column, column)
    for i, start in enumerate((1.0, 1.05, 2.0, 3.0)):  # 100 ms tones, the second 50 ms after the first
        nwb.add_trial(start_time=start, stop_time=start + 0.04, frequency=1000.0 * (i + 1), duration=0.1)
    mock_spiking_units(spike_times=[np.linspace(0.5, 3.5, 40)] * 2, nwbfile=nwb)
    path = write_nwb(nwb, tmp_path / "tones.nwb")
    before = _sha(path)
    _refused([*_run(path, tmp_path / "out"), "--reader.synthesize_tones", "true"], EXIT_INPUT, capsys,
             "tones.nwb", "intervals/trials", "row 1 (1.05-1.15 s) overlaps row 0 (1-1.1 s)")
    assert _sha(path) == before


# --- sites that cannot be analysed: refused before any computation, listed by inspect --------

def test_validation_sounds_presented_once_beside_repeated_ones_are_refused_before_training(tmp_path, capsys):
    path = write_nwb(mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=2).nwbfile,
                     tmp_path / "once.nwb")
    chosen = ["--reader.validation_sounds", "sound_00,sound_03", "--ensemble.n_jackknife", "1"]
    line = _refused([*_run(path, tmp_path / "out"), *chosen], EXIT_INPUT, capsys, "once.nwb",
                    "'sound_00'", "presented once")
    assert "CCnorm" in line
    assert main(["inspect", str(path), *chosen]) == EXIT_INPUT
    printed = capsys.readouterr()
    assert "presented once" in printed.out and "usable: yes" not in printed.out


def test_a_recording_that_repeats_no_sound_is_scored_by_r_with_a_warning(tmp_path):
    from ndx_encoding_subspace.pipeline.config import PipelineConfig
    from ndx_encoding_subspace.pipeline.run import run_site
    from ndx_encoding_subspace.results import load_results

    site = mock_site(n_units=3, n_sounds=6, repeats=(1,) * 6, seed=2)
    path = write_nwb(site.nwbfile, tmp_path / "once.nwb")
    config = PipelineConfig.from_dict(TINY_CONFIG).replace(ensemble={"n_jackknife": 1})
    with pytest.warns(UserWarning, match="no sound is presented more than once, so CCnorm and the noise "
                                         "ceiling are undefined"):
        result = run_site(path, tmp_path / "out", config, progress=False)
    loaded = load_results(result.path)
    r, cc = loaded.unit_scores("r")["population_cnn"], loaded.unit_scores("ccnorm")["population_cnn"]
    assert np.all(np.isfinite(r)) and np.all(np.isnan(cc))


def test_sounds_too_short_for_two_dstrf_samples_are_named(tmp_path, capsys):
    path = write_nwb(mock_site(n_units=3, n_sounds=2, duration=0.2, repeats=(1, 3), seed=3).nwbfile,
                     tmp_path / "short.nwb")
    _refused(_run(path, tmp_path / "out"), EXIT_INPUT, capsys, "short.nwb", "fewer than 2 dSTRF samples",
             "'sound_00': 20")


def test_more_jackknifes_than_estimation_sounds_are_refused_before_training(tmp_path, capsys):
    path = write_nwb(mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=5).nwbfile,
                     tmp_path / "few.nwb")
    before = _sha(path)
    _refused([*_run(path, tmp_path / "out"), "--ensemble.n_jackknife", "4"], EXIT_INPUT, capsys,
             "few.nwb", "3 estimation sound(s) for --ensemble.n_jackknife 4", "at most 3")
    assert not list((tmp_path / "out").glob("**/*.pt"))  # nothing trained
    assert main(["inspect", str(path), "--ensemble.n_jackknife", "4"]) == EXIT_INPUT
    assert "at most 3" in capsys.readouterr().out
    assert main(["inspect", str(path), "--ensemble.n_jackknife", "3"]) == 0
    assert _sha(path) == before


def test_more_pca_components_than_dstrf_dimensions_are_refused_before_training(tmp_path, capsys):
    path = write_nwb(mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=5).nwbfile,
                     tmp_path / "dims.nwb")
    argv = [*_run(path, tmp_path / "out"), "--ensemble.n_jackknife", "1", "--dstrf.n_lags", "30",
            "--subspace.n_components", "100000"]
    line = _refused(argv, EXIT_INPUT, capsys, "dims.nwb", "--subspace.n_components 100000",
                    "x 30 lags")
    assert not list((tmp_path / "out").glob("**/*.pt"))  # nothing trained
    flags = ["--dstrf.n_lags", "30", "--subspace.n_components", "100000"]
    assert main(["inspect", str(path), *flags]) == EXIT_INPUT
    assert "use at most" in capsys.readouterr().out and "use at most" in line


def test_a_table_of_object_references_is_not_taken_for_text(tmp_path, capsys):
    from hdmf.common import DynamicTable, VectorData

    nwbfile = mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=5).nwbfile
    refs = [nwbfile.stimulus_template[name] for name in sorted(nwbfile.stimulus_template)]
    catalog = DynamicTable(name="sound_catalog", description="the lab's catalogue of its sounds",
                           columns=[VectorData(name="series", description="each sound", data=refs)])
    nwbfile.create_processing_module("behavior", "a lab's own tables").add(catalog)
    path = write_nwb(nwbfile, tmp_path / "catalog.nwb")
    assert main(["inspect", str(path), "--ensemble.n_jackknife", "1"]) == 0
    assert "usable: yes" in capsys.readouterr().out


def test_a_results_file_given_as_a_recording_is_named_as_such(tmp_path, capsys):
    from ndx_encoding_subspace.testing.mock import mock_results_nwbfile

    path = write_nwb(mock_results_nwbfile(), tmp_path / "site.results.nwb")
    _refused(_run(path, tmp_path / "out"), EXIT_INPUT, capsys, "site.results.nwb",
             "a results file of this package", "the recording it was computed from")


def test_a_file_locked_by_a_writer_is_named_locked_not_damaged(recording, tmp_path, capsys):
    import subprocess
    import sys

    if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() == "FALSE":
        pytest.skip("HDF5 file locking is switched off in this environment")
    path = tmp_path / "being_written.nwb"
    shutil.copy(recording, path)
    code = f"import h5py, time\nf = h5py.File({str(path)!r}, 'a')\nprint('open', flush=True)\ntime.sleep(60)"
    env = {**os.environ, "HDF5_USE_FILE_LOCKING": "TRUE"}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "open"
        line = _refused(["inspect", str(path)], 7, capsys, "being_written.nwb", "locked by another process",
                        "HDF5_USE_FILE_LOCKING")
        assert "damaged" not in line
    finally:
        holder.kill()
        holder.wait()


def test_presentations_of_no_sound_or_before_the_recording_are_said(tmp_path):
    site = mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=5)
    table = site.nwbfile.intervals["sound_presentations"]
    table.add_row(start_time=7.0, stop_time=7.5, sound="sound_99")
    table.add_row(start_time=-0.3, stop_time=0.2, sound="sound_01")
    path = write_nwb(site.nwbfile, tmp_path / "odd_rows.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_site(path)
    said = [str(w.message) for w in caught]
    unmatched = ("odd_rows.nwb: 1 name(s) given to presentations match no sound of the file; those "
                 "presentations are left out: 'sound_99'")
    assert any(unmatched in m for m in said), said
    assert any("begin before the recording's start (0 s), e.g. 'sound_01' at -0.3 s" in m for m in said), said


def test_units_silent_during_the_sounds_and_spike_times_in_milliseconds_are_said():
    from ndx_encoding_subspace.data.site import Sound
    from ndx_encoding_subspace.io.notes import spike_notes

    class Shown:  # what the note reads of a layout: the presentations' stops
        presentations = [type("P", (), {"stop": 6.75})()]

    counts = np.zeros((1, 10, 3))
    counts[0, 2, 1] = 1.0  # unit 11 fires once while a sound plays; units 10 and 12 never do
    sound = Sound("a", np.zeros((10, 4), np.float32), counts)
    times = [np.array([500.0, 7975.7]), np.array([3.0, 900.0] + [1000.0] * 200), np.array([2000.0])]
    notes = spike_notes(times, [10, 11, 12], [sound], Shown())
    assert notes[0].startswith("unit(s) 10, 12 fire no spike during the presented sounds")
    assert "spike times reach 7975.7 s, over 100 times past the last presentation (6.75 s)" in notes[1]
    assert "in seconds?" in notes[1]
    ordinary = [np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0])]
    counts[0, 2, :] = 1.0
    assert spike_notes(ordinary, [10, 11, 12], [Sound("a", sound.spectrogram, counts)], Shown()) == []


def test_units_observed_during_part_of_the_sounds_only_are_left_out_and_named(tmp_path):
    site = mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=5)
    end = 10.0
    observed = [[[0.0, end]], [[0.0, 2.0]], [[0.0, 3.0], [3.0, end]]]  # unit 1 only until 2 s
    intervals = [pair for unit in observed for pair in unit]
    index = np.cumsum([len(unit) for unit in observed]).tolist()
    site.nwbfile.units.add_column("obs_intervals", "when each unit was observed", data=intervals, index=index)
    path = write_nwb(site.nwbfile, tmp_path / "observed.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = read_site(path)
    ids = read.units.ids.tolist()
    assert 1 not in ids and len(ids) == 2  # adjoining pieces of unit 2 cover every sound
    said = [str(w.message) for w in caught if "obs_intervals" in str(w.message)]
    assert len(said) == 1 and "observed.nwb: unit(s) 1 left out: their obs_intervals leave" in said[0], said


def test_a_sound_column_no_table_has_is_refused_by_name(recording, tmp_path, capsys):
    _refused(["inspect", str(recording), "--reader.sound_column", "nope"], 2, capsys,
             "reader.sound_column = 'nope' matches no column of a presentation table", "columns start_time")
    _refused([*_run(recording, tmp_path / "out"), "--reader.sound_column", "nope"], 2, capsys, "'nope'")


def test_a_channel_beyond_a_mono_sound_is_refused_as_on_stereo(recording, tmp_path, capsys):
    _refused([*_run(recording, tmp_path / "out"), "--reader.channel", "5"], 2, capsys,
             "reader.channel = 5", "has 1 channel (the first is 0)")


def test_a_missing_gpu_or_an_unreadable_input_leaves_no_output_folder(recording, tmp_path, capsys):
    import torch

    if not torch.cuda.is_available():
        _refused([*_run(recording, tmp_path / "gpu"), "--training.device", "cuda"], 2, capsys,
                 "device 'cuda' requested but torch sees no CUDA device")
        assert not (tmp_path / "gpu").exists()
    empty = tmp_path / "empty.nwb"
    empty.write_bytes(b"")
    _refused(_run(empty, tmp_path / "bad"), EXIT_INPUT, capsys, "empty.nwb")
    assert not (tmp_path / "bad").exists()


def test_units_left_out_for_too_few_spikes_are_named():
    from ndx_encoding_subspace.data.site import UnitInfo
    from ndx_encoding_subspace.io import ReaderParams
    from ndx_encoding_subspace.io.notes import unit_notes
    from ndx_encoding_subspace.io.units import UnitSpikes

    spikes = UnitSpikes([np.array([1.0])], UnitInfo.from_ids([3]), tuple(range(20, 32)), {},
                        ("depth unknown for 1 of 13 units",))
    (note,) = unit_notes(spikes, ReaderParams(min_spikes=5))
    assert note == ("unit(s) 20, 21, 22, 23, 24, 25, 26, 27, 28, 29 and 2 more left out: fewer than 5 "
                    "spike(s) (reader.min_spikes)")
    assert unit_notes(UnitSpikes([np.array([1.0])], UnitInfo.from_ids([3]), ()), ReaderParams()) == []


def test_a_sample_rate_below_the_top_channel_is_said(tmp_path):
    path = write_nwb(mock_site(n_units=2, rate=16000.0, seed=4).nwbfile, tmp_path / "slow.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site = read_site(path)
    assert any("sampled at 16000 Hz" in n and "max_frequency" in n for n in site.source["notes"])
    assert any("slow" in str(w.message) and "8000 Hz" in str(w.message) for w in caught)


# --- faults ----------------------------------------------------------------------------------

def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    from ndx_encoding_subspace.atomic import _HOST

    target = tmp_path / "site.results.nwb"
    dead = tmp_path / f".site.results.{_HOST}-{2**22 + 12345}-0123abcd.tmp.nwb"
    alive = tmp_path / f".site.results.{_HOST}-{os.getppid()}-89abcdef.tmp.nwb"
    other = tmp_path / f".other.{_HOST}-{2**22 + 12345}-0123abcd.tmp.nwb"
    for p in (dead, alive, other):
        p.write_bytes(b"partial")
    write_text(target, "done")
    assert target.read_text() == "done"
    assert not dead.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name, other.name])


def test_every_inspected_problem_is_listed_with_the_counts(tmp_path, capsys):
    site = mock_site(n_units=3, n_sounds=4, repeats=(1, 1, 1, 1), seed=5, firing_rate=0.0)
    path = write_nwb(site.nwbfile, tmp_path / "empty.nwb")
    assert main(["inspect", str(path)]) == EXIT_INPUT
    out = capsys.readouterr().out
    assert "problems:" in out and "usable: yes" not in out
    assert np.sum([line.startswith("  - ") for line in out.splitlines()]) >= 1


def test_device_indices_are_accepted_and_checked():
    from ndx_encoding_subspace.dstrf import DSTRFParams
    from ndx_encoding_subspace.fitting.training_params import TrainingParams, resolve_device

    assert TrainingParams(device="cuda:1").device == "cuda:1" == DSTRFParams(device="cuda:1").device
    for bad in ("gpu", "cuda:x", "cuda1"):
        with pytest.raises(ConfigError, match="device must be"):
            TrainingParams(device=bad)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda:1' requested but torch sees no CUDA device"):
            resolve_device("cuda:1")
    else:
        with pytest.raises(ConfigError, match="numbered from 0"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


# --- damaged work of an earlier run: named in a warning, redone ------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_recording):
    """A small simulated site, its tiny configuration file, and one finished run of it
    with the work folder kept (its training checkpoints), as a killed run leaves it."""
    from ndx_encoding_subspace.pipeline import PipelineConfig, run_site

    folder = tmp_path_factory.mktemp("trained")
    recording, config = small_recording(folder, "tiny", TINY_CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_site(recording, folder / "out", PipelineConfig.from_dict(TINY_CONFIG),
                          progress=False, keep_workdir=True)
    result.path.unlink()  # the run was killed before writing its results
    return recording, config, folder / "out", result.format().splitlines()[1:]


def _rerun(trained, tmp_path, damage, capsys) -> tuple[int, str, list[str]]:
    """Copy the kept run, damage one of its files, run again: (exit code, stderr, table)."""
    recording, config, kept, _ = trained
    out = tmp_path / "out"
    shutil.copytree(kept, out)
    damage(out / ".site.work")
    before = _sha(recording)
    code = main([*_run(recording, out), "--config", str(config)])
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err and _sha(recording) == before
    return code, printed.err, printed.out.splitlines()[1:]


def _damage_checkpoint(edit):
    """Damage the first CNN member's checkpoint: ``edit`` takes and returns its bytes."""
    def damage(work):
        path = work / "cnn" / "jk0_init0.pt"
        path.write_bytes(edit(path.read_bytes()))
    return damage


def _resaved(blob_edit):
    """Bytes edit that loads the checkpoint, changes it with ``blob_edit`` and saves it."""
    def edit(raw: bytes) -> bytes:
        blob = torch.load(io.BytesIO(raw), weights_only=True)
        buffer = io.BytesIO()
        torch.save(blob_edit(blob), buffer)
        return buffer.getvalue()
    return edit


def _narrowed(blob):
    return {**blob, "model": {k: v[..., :1] for k, v in blob["model"].items()}}


def _epoch_as_text(blob):
    return {**blob, "meta": json.dumps({**json.loads(blob["meta"]), "epoch": "3"})}


def _adam_of_other_shapes(blob):
    one = {"step": torch.tensor(1.0), "exp_avg": torch.zeros(1), "exp_avg_sq": torch.zeros(1)}
    return {**blob, "optimizer": {"state": {0: one}, "param_groups": []}}


DAMAGES = {
    "half": lambda raw: raw[: len(raw) // 2],
    "head": lambda raw: raw[:100],
    "empty": lambda raw: b"",
    "random": lambda raw: np.random.default_rng(0).bytes(len(raw)),
    "zeroed-tail": lambda raw: raw[:2000] + bytes(len(raw) - 2000),
    "text": lambda raw: b"not a checkpoint",
    "wrong-shapes": _resaved(_narrowed),
    "bad-meta": _resaved(lambda blob: {**blob, "meta": "{"}),
    "no-stage": _resaved(lambda blob: {**blob, "meta": json.dumps({"fingerprint": "x"})}),
    "a-list-for-meta": _resaved(lambda blob: {**blob, "meta": "[1, 2]"}),
    "text-epoch": _resaved(_epoch_as_text),
    "no-rng": _resaved(lambda blob: {k: v for k, v in blob.items() if k != "rng"}),
    "adam-shapes": _resaved(_adam_of_other_shapes),
    "a-tensor": _resaved(lambda blob: torch.zeros(3)),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["half", "empty", "random", "wrong-shapes", "a-tensor"])
def test_a_damaged_training_checkpoint_is_named_and_refitted(damage, trained, tmp_path, capsys):
    code, err, table = _rerun(trained, tmp_path, _damage_checkpoint(DAMAGES[damage]), capsys)
    assert code == 0, err
    said = [line for line in err.splitlines() if "checkpoint" in line]
    assert len(said) == 1 and said[0].startswith("encoding-subspace: warning:"), err
    assert "cnn/jk0_init0.pt" in said[0] and "member jk0_init0" in said[0], said
    assert table == trained[3]  # the member fitted again from its seed: the same results
    assert not list((tmp_path / "out").glob(".*tmp*")) and not (tmp_path / "out" / ".site.work").exists()


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_kind_of_damaged_checkpoint_is_said_once_and_ignored(damage, tmp_path):
    from ndx_encoding_subspace.fitting.checkpoint import Checkpoint
    from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model
    from ndx_encoding_subspace.models import PopulationCNN

    rng = np.random.default_rng(0)
    x = [rng.random((80, 5)).astype(np.float32) for _ in range(4)]
    y = [np.maximum(a @ rng.normal(size=(5, 2)), 0).astype(np.float32) for a in x]
    params = TrainingParams(max_epochs=2, patience=1, segment_length=40, batch_size=4, device="cpu")
    torch.manual_seed(0)
    model = PopulationCNN(5, 2, mix_channels=4, fir_taps=3, hidden=(4, 4))
    path = tmp_path / "jk3_init1.pt"
    fit_model(model, x, y, params, checkpoint_path=path)
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    checkpoint = Checkpoint(path, model, x, y, params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert checkpoint.stage() is None and checkpoint.load(torch.device("cpu")) is None
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert str(caught[0].message).startswith(f"{path}: damaged training checkpoint of member jk3_init1")


@pytest.mark.slow
def test_a_checkpoint_of_another_fit_is_refused_not_overwritten(trained, tmp_path, capsys):
    def swap(work):
        shutil.copyfile(work / "cnn" / "jk1_init0.pt", work / "cnn" / "jk0_init0.pt")
    code, err, _ = _rerun(trained, tmp_path, swap, capsys)
    lines = [line for line in err.splitlines() if not line.startswith("encoding-subspace: warning:")]
    assert code == EXIT_TRAINING and len(lines) == 1, err
    assert "cnn/jk0_init0.pt" in lines[0] and "other data, parameters or model" in lines[0]


def _split_site(estimation_units: tuple[int, ...], validation_units: tuple[int, ...]):
    """3 estimation sounds and a repeated validation sound; units 10, 11, 12 firing during
    the sounds of the split(s) that name their position."""
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo

    rng = np.random.default_rng(0)
    sounds = []
    for k, part in enumerate(["estimation"] * 3 + ["validation"]):
        counts = np.zeros((2 if part == "validation" else 1, 200, 3), np.float32)
        for unit in (validation_units if part == "validation" else estimation_units):
            counts[..., unit] = rng.poisson(1.0, counts.shape[:2])
        sounds.append(Sound(f"s{k}", rng.random((200, 8)).astype(np.float32), counts))
    return SiteData("split", tuple(sounds), np.arange(8.0), 0.01, UnitInfo.from_ids([10, 11, 12]),
                    ("s0", "s1", "s2"), ("s3",))


def test_units_silent_in_the_estimation_sounds_are_left_out_and_in_the_validation_named():
    from ndx_encoding_subspace.pipeline.checks import check_site
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    site = _split_site(estimation_units=(1, 2), validation_units=(0, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checked = check_site(site, PipelineConfig.from_dict({**TINY_CONFIG, "ensemble": {"n_jackknife": 1}}))
    said = " | ".join(str(w.message) for w in caught)
    assert "unit(s) 10 left out: they fire no spike during the estimation sounds (nothing" in said, said
    assert "unit(s) 11 fire no spike during the validation sounds: their scores are undefined" in said
    assert list(checked.units.ids) == [11, 12] and site.n_units == 3  # the site given is left as it was
    assert all(s.counts.shape[2] == 2 for s in checked.sounds)
    np.testing.assert_array_equal(checked.sound("s3").counts, site.sound("s3").counts[..., 1:])


def test_a_site_whose_units_all_fire_only_during_the_validation_sounds_is_refused():
    from ndx_encoding_subspace.pipeline.checks import check_site
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    site = _split_site(estimation_units=(), validation_units=(0, 1, 2))
    with pytest.raises(InvalidDataError, match="none of the 3 units varies during the 3 estimation sounds "
                                               r"\(no spike"):
        check_site(site, PipelineConfig.from_dict({**TINY_CONFIG, "ensemble": {"n_jackknife": 1}}))


def test_a_unit_with_the_same_count_in_every_estimation_bin_is_left_out_and_named():
    """A saturated or clipped unit: its constant prediction's dSTRFs are float rounding,
    which PCA would normalise into a subspace (and the tiling into the site's largest
    region)."""
    from ndx_encoding_subspace.pipeline.checks import check_site
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    site = _split_site(estimation_units=(1, 2), validation_units=(0, 1, 2))
    for sound in site.sounds:
        if sound.name in site.estimation:
            sound.counts[..., 0] = 3.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checked = check_site(site, PipelineConfig.from_dict({**TINY_CONFIG, "ensemble": {"n_jackknife": 1}}))
    said = " | ".join(str(w.message) for w in caught)
    assert "unit(s) 10 left out: the same count in every bin of the 3 estimation sounds" in said, said
    assert "fire no spike" not in said
    assert list(checked.units.ids) == [11, 12]


def test_presentations_still_playing_when_the_acquisition_ends_are_said(tmp_path):
    from types import SimpleNamespace

    from ndx_encoding_subspace.io.notes import layout_notes

    inner = SimpleNamespace(conversion=1.0, data=np.zeros(3))
    series = SimpleNamespace(path="stimulus/templates/f", series=inner)
    rows = [SimpleNamespace(sound="f", start=t, stop=t + 1.0, series=series) for t in (2.0, 8.0, 14.5)]
    layout = SimpleNamespace(presentations=rows, unmatched_count=0, unmatched=[], sounds=[])
    notes = layout_notes(layout, 0.0, 15.0)
    said = "1 presentation(s) still play when the acquisition ends (15 s), e.g. 'f' at 14.5-15.5 s"
    assert said in notes[-1]
    assert layout_notes(layout, 0.0, None) == [] and layout_notes(layout, 0.0, 15.5) == []
    # spikes recorded after the acquisition's end: it is not the recording's end, nothing said
    site = mock_site(n_units=3, n_sounds=5, repeats=(1, 1, 1, 3, 3), seed=5)
    from pynwb import TimeSeries

    site.nwbfile.add_acquisition(TimeSeries(name="ephys", data=np.zeros(200), unit="V", rate=100.0))
    path = write_nwb(site.nwbfile, tmp_path / "short_ephys.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_site(path)
    assert not any("still play" in str(w.message) for w in caught)


def test_training_checkpoints_outlive_a_change_of_later_parameters(trained, tmp_path):
    """A run that stopped after training (its checkpoints kept) and is run again with other
    parameters of the later stages resumes the training instead of repeating it."""
    from ndx_encoding_subspace.pipeline import PipelineConfig, run_site

    recording, _, kept, _ = trained
    out = tmp_path / "out"
    shutil.copytree(kept, out)
    checkpoints = sorted((out / ".site.work").rglob("jk*_init*.pt"))
    assert checkpoints
    stamps = {p: p.stat().st_mtime_ns for p in checkpoints}
    later = {**TINY_CONFIG, "subspace": {**TINY_CONFIG.get("subspace", {}), "variance_threshold": 0.9}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        went_on = run_site(recording, out, PipelineConfig.from_dict(later), progress=False,
                           keep_workdir=True)
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == stamps  # read, not fitted again
    assert went_on.checkpoints >= len(checkpoints)
    assert "checkpoint(s) of an unfinished run" in went_on.format()
    trainless = {**later, "training": {**TINY_CONFIG.get("training", {}), "seed": 99}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_site(recording, out, PipelineConfig.from_dict(trainless), progress=False, keep_workdir=True,
                 overwrite=True)
    assert {p: p.stat().st_mtime_ns for p in checkpoints if p.exists()} != stamps  # fitted anew


def test_a_damaged_results_file_in_the_output_folder_names_the_way_out(trained, tmp_path, capsys):
    recording, config, _, _ = trained
    out = tmp_path / "out"
    out.mkdir()
    (out / "site.results.nwb").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # truncated
    code = main([*_run(recording, out), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 6 and "Traceback" not in err
    assert "site.results.nwb" in err and "run again with --overwrite" in err


def test_a_cnn_too_large_or_ssrf_maps_too_fine_are_refused_before_training(recording, tmp_path, capsys,
                                                                           monkeypatch):
    """The CNN is sized on torch's meta device (no memory) before any training; SSRF bins are
    bounded when the parameters are made."""
    from ndx_encoding_subspace import compute

    monkeypatch.setattr(compute, "available_memory", lambda device="cpu": 8 * 2**30)
    _refused([*_run(recording, tmp_path / "out"), "--cnn.hidden", "60000,60000"], EXIT_INPUT, capsys,
             "a CNN of 3,6", "GiB to train", "--cnn.hidden [60000, 60000]")
    _refused([*_run(recording, tmp_path / "out"), "--ssrf.n_bins_2d", "100000"], EXIT_CONFIG, capsys,
             "SSRFParams.n_bins_2d must be at least 2 and at most 500, got 100000")


def test_spectrograms_of_one_value_are_refused_or_said():
    """A site built in Python whose estimation spectrograms are all one value is refused
    before any fit; a silent validation sound is said (a constant prediction there)."""
    import dataclasses

    from ndx_encoding_subspace.data.site import Sound
    from ndx_encoding_subspace.pipeline.checks import check_site
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    site = _split_site(estimation_units=(0, 1, 2), validation_units=(0, 1, 2))
    config = PipelineConfig.from_dict({**TINY_CONFIG, "ensemble": {"n_jackknife": 1}})

    def silenced(which):
        return dataclasses.replace(site, sounds=tuple(
            Sound(s.name, np.zeros_like(s.spectrogram) if s.name in which else s.spectrogram, s.counts)
            for s in site.sounds))

    with pytest.raises(InvalidDataError, match=r"every estimation sound's spectrogram is the same value .*"
                                               r"\(s0, s1, s2\)"):
        check_site(silenced(site.estimation), config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_site(silenced(site.validation), config)
    said = " | ".join(str(w.message) for w in caught)
    assert "validation sound(s) s3 have a spectrogram of one value" in said and "undefined (NaN)" in said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_site(silenced(("s0",)), config)
    assert not [w for w in caught if "one value" in str(w.message)]


def test_a_stimulus_silent_in_most_bins_still_gets_increasing_edges():
    """Projections equal in more than 98% of the bins (a sparse stimulus with digital
    silence) made the tiling's and the SSRFs' percentile edges coincide, and the results
    were refused at writing after the whole fit."""
    from ndx_encoding_subspace.circuit.tiling import tiling
    from ndx_encoding_subspace.nonlinearity.ssrf import ssrf, tuning_curve

    rng = np.random.default_rng(0)
    x = np.zeros((2000, 3))
    x[:10] = rng.normal(size=(10, 3))
    y = rng.random((2000, 2))
    for edges in (tiling(x, y).edges, ssrf(x, y[:, 0]).edges):
        assert np.all(np.diff(edges, axis=1) > 0), edges
    edges = tiling(x, y).edges  # between the extremes where the percentiles coincide
    np.testing.assert_allclose(edges[:, [0, -1]], np.stack([x.min(0), x.max(0)], axis=1))
    still = ssrf(np.zeros((500, 2)), y[:500, 0])
    assert np.all(np.diff(still.edges, axis=1) > 0)
    centres, mean, _, count = tuning_curve(np.full(300, 2.0), y[:300, 0])
    assert count.sum() == 300 and np.isfinite(mean).any() and np.all(np.diff(centres) > 0)


def test_a_validation_sound_also_heard_as_an_estimation_sound_is_said():
    """The same sound under two names, one in each split, leaks the validation sound into
    the fits."""
    import dataclasses

    from ndx_encoding_subspace.data.site import Sound
    from ndx_encoding_subspace.pipeline.checks import check_site
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    site = _split_site(estimation_units=(0, 1, 2), validation_units=(0, 1, 2))
    copy = site.sound("s3").spectrogram.copy()
    leaked = dataclasses.replace(site, sounds=tuple(
        Sound(s.name, copy if s.name == "s1" else s.spectrogram, s.counts) for s in site.sounds))
    config = PipelineConfig.from_dict({**TINY_CONFIG, "ensemble": {"n_jackknife": 1}})
    said = {}
    for key, given in (("leaked", leaked), ("clean", site)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_site(given, config)
        said[key] = [str(w.message) for w in caught if "under other names" in str(w.message)]
    assert said["clean"] == []
    assert len(said["leaked"]) == 1
    assert "validation sound(s) 's3' (as 's1') are also estimation sounds" in said["leaked"][0]


def test_a_site_of_fewer_dstrf_samples_than_components_says_that_k_is_limited_by_them(tmp_path):
    """Sounds so short that each unit has fewer dSTRF samples than subspace.n_components:
    k cannot exceed the samples' rank, and the run says so before it trains."""
    from ndx_encoding_subspace.data.site import SiteData
    from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
    from ndx_encoding_subspace.pipeline.checks import check_site
    from ndx_encoding_subspace.pipeline.config import PipelineConfig

    params = SimulationParams.quick(n_units=3, n_estimation_sounds=20, estimation_duration=0.06,
                                    n_validation_sounds=2, validation_duration=0.5, validation_repeats=2,
                                    n_lags=8, max_dim=3, seed=3)
    site = read_site(simulate_site(params).write_nwb(tmp_path / "short.nwb"))
    assert isinstance(site, SiteData)
    config = PipelineConfig.from_dict({"dstrf": {"n_lags": 30}})
    said = r"\d+ dSTRF sample\(s\) per unit, fewer than --subspace.n_components 25 \+ 1: k is at most \d+"
    with pytest.warns(UserWarning, match=said + ", limited by the samples"):
        check_site(site, config)
    roomy = read_site(simulate_site(dataclasses.replace(params, estimation_duration=4.0))
                      .write_nwb(tmp_path / "roomy.nwb"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_site(roomy, config)
    assert not [w for w in caught if "limited by the samples" in str(w.message)]
