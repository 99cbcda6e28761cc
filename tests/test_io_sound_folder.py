"""Sounds kept as WAV files beside the recording, read with ``reader.sound_folder``.

The recordings are written by :func:`~ndx_encoding_subspace.testing.layouts.trials_naming_wav_files`
(a trials column naming ``stimuli/sound_03.wav``, the WAV files written by scipy) and,
for comparison, by :func:`~ndx_encoding_subspace.testing.layouts.ndx_sound_templates_trials`
from the same plan (the same int16 samples as ndx-sound templates inside the file).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.errors import (
    ConfigError,
    NoSoundStimulusError,
)
from ndx_encoding_subspace.io import ReaderParams, locate, open_nwb, read_site
from ndx_encoding_subspace.io.inventory import inventory
from ndx_encoding_subspace.io.samples import read_waveform
from ndx_encoding_subspace.testing.layouts import (
    RATE,
    LayoutSite,
    ndx_sound_templates_trials,
    trials_naming_wav_files,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> LayoutSite:
    return trials_naming_wav_files(path=tmp_path_factory.mktemp("wav") / "rec.nwb", seed=4)


def _folder(site: LayoutSite) -> Path:
    return Path(site.reader["sound_folder"])


def test_the_folder_s_sounds_read_as_the_same_samples_inside_the_file(site: LayoutSite, tmp_path: Path):
    inside = ndx_sound_templates_trials(path=tmp_path / "inside.nwb", seed=4)
    before = sorted(p.read_bytes() for p in _folder(site).rglob("*.wav"))
    from_files = read_site(site.path, reader=ReaderParams(sound_folder=str(_folder(site))))
    from_file = read_site(inside.path)
    assert sorted(from_files.source["sounds"]) == sorted(
        str(p) for p in (_folder(site) / "stimuli").glob("*.wav"))
    assert [s.name for s in from_files.sounds] == [s.name for s in from_file.sounds]
    for a, b in zip(from_files.sounds, from_file.sounds):
        np.testing.assert_array_equal(a.counts, b.counts)
        assert np.corrcoef(a.spectrogram.ravel(), b.spectrogram.ravel())[0, 1] > 0.95
    # the samples, as fractions of the int16 full scale
    with open_nwb(site.path) as opened:
        layout = locate(opened.nwbfile, opened.name, ReaderParams(sound_folder=str(_folder(site))))
        pres = layout.presentations[0]
        _, raw = wavfile.read(pres.series.path)
        np.testing.assert_array_equal(read_waveform(pres, -1, opened.name), raw / 32768.0)
    assert sorted(p.read_bytes() for p in _folder(site).rglob("*.wav")) == before  # inputs untouched


def test_without_the_folder_the_error_says_how_to_give_it(site: LayoutSite,
                                                          capsys: pytest.CaptureFixture[str]):
    with pytest.raises(NoSoundStimulusError) as raised:
        read_site(site.path)
    said = str(raised.value)
    assert said.startswith(str(site.path))
    assert ("intervals/trials column 'stimulus_file' names audio files ('stimuli/sound_" in said
            and "the file does not hold: give the folder of these WAV files with reader.sound_folder" in said)
    assert main(["inspect", str(site.path)]) == 3
    assert "reader.sound_folder" in capsys.readouterr().out


def test_names_the_folder_lacks_are_left_out_and_named(site: LayoutSite, tmp_path: Path):
    folder = tmp_path / "some"
    shutil.copytree(_folder(site), folder)
    missing = sorted((folder / "stimuli").glob("*.wav"))[0]
    missing.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = read_site(site.path, reader=ReaderParams(sound_folder=str(folder)))
    assert len(read.sounds) == site.n_sounds - 1
    said = " ".join(str(w.message) for w in caught)
    assert "no sound of the file nor of reader.sound_folder; those presentations are left out" in said, said
    assert missing.stem in said


def test_an_8_bit_file_is_read_around_its_midpoint(site: LayoutSite, tmp_path: Path):
    folder = tmp_path / "eight"
    shutil.copytree(_folder(site), folder)
    for path in (folder / "stimuli").glob("*.wav"):
        _, data = wavfile.read(path)
        wavfile.write(path, int(RATE), (np.round(data / 256.0) + 128).astype(np.uint8))
    eight = read_site(site.path, reader=ReaderParams(sound_folder=str(folder)))
    sixteen = read_site(site.path, reader=ReaderParams(sound_folder=str(_folder(site))))
    for a, b in zip(eight.sounds, sixteen.sounds):
        assert np.corrcoef(a.spectrogram.ravel(), b.spectrogram.ravel())[0, 1] > 0.98


def _refused(site: LayoutSite, folder: Path, error: type[Exception], *texts: str) -> None:
    with pytest.raises(error) as raised:
        read_site(site.path, reader=ReaderParams(sound_folder=str(folder)))
    assert all(text in str(raised.value) for text in texts), str(raised.value)


def test_a_missing_folder_or_one_without_wav_files_is_a_configuration_error(
        site: LayoutSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    _refused(site, tmp_path / "nope", ConfigError, "reader.sound_folder = ", "nope': no such folder")
    (tmp_path / "mp3").mkdir()
    (tmp_path / "mp3" / "sound_00.mp3").write_bytes(b"ID3")
    _refused(site, tmp_path / "mp3", ConfigError, "no WAV file in it (it holds .mp3 files: convert them")
    assert main(["inspect", str(site.path), "--reader.sound_folder", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def _left_out(site: LayoutSite, folder: Path, *texts: str) -> str:
    """Read ``site`` with ``folder``: the presentations of the files left out are named in
    a warning, and the reason each file was left out is in the layout's inventory."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_site(site.path, reader=ReaderParams(sound_folder=str(folder)))
    said = " | ".join(str(w.message) for w in caught)
    with open_nwb(site.path) as opened:  # the reasons, as inspect and the refusals list them
        ignored = " | ".join(inventory(opened.nwbfile, ReaderParams(sound_folder=str(folder))).ignored)
    assert all(text in ignored for text in texts), ignored
    return said


def test_files_that_cannot_serve_are_left_out_and_named_not_fatal(site: LayoutSite, tmp_path: Path):
    twice = tmp_path / "twice"
    shutil.copytree(_folder(site), twice)
    (twice / "other").mkdir()
    shutil.copy(twice / "stimuli" / "sound_00.wav", twice / "other" / "SOUND_00.WAV")
    (twice / "README.wav").write_bytes(b"not audio")  # named by no table: harmless
    said = _left_out(site, twice, "README.wav: not a readable WAV file")
    assert "left out" not in said, said
    with open_nwb(site.path) as opened:  # a file of one name in two folders: the table's folder says which
        layout = locate(opened.nwbfile, "rec.nwb", ReaderParams(sound_folder=str(twice)))
    played = {Path(p.series.path).relative_to(twice).as_posix() for p in layout.presentations}
    assert "stimuli/sound_00.wav" in played and "other/SOUND_00.WAV" not in played
    assert "stimuli/sound_00" in {p.sound for p in layout.presentations}
    read = read_site(site.path, reader=ReaderParams(sound_folder=str(twice)))
    assert "sound-files-by-folder" in read.source["rules"]
    damaged = tmp_path / "damaged"
    shutil.copytree(_folder(site), damaged)
    whole = (_folder(site) / "stimuli" / "sound_02.wav").read_bytes()
    (damaged / "stimuli" / "sound_02.wav").write_bytes(whole[: len(whole) // 2])
    _left_out(site, damaged, "sound_02.wav: a truncated WAV file")
    inside = ndx_sound_templates_trials(path=tmp_path / "inside.nwb", seed=4)
    read = read_site(inside.path, reader=ReaderParams(sound_folder=str(_folder(site))))
    assert not any(s.endswith(".wav") for s in read.source["sounds"])  # the file's own templates serve


def test_wav_files_of_any_sample_format_are_read_at_the_same_level(tmp_path: Path):
    from ndx_encoding_subspace.io.sound_files import folder_sounds

    wave = np.sin(np.linspace(0, 200, 4000)) * 0.5
    formats = {"i16": (wave * 2**15).astype(np.int16), "i32": (wave * 2**31).astype(np.int32),
               "u8": (wave * 128 + 128).astype(np.uint8), "f32": wave.astype(np.float32)}
    for name, data in formats.items():
        wavfile.write(tmp_path / f"{name}.wav", 8000, data)
    series, left = folder_sounds(tmp_path)
    assert left == [] and len(series) == 4
    for _, wav in series:
        read = wav.data[:] * wav.conversion + wav.offset
        np.testing.assert_allclose(read, wave, atol=0.01, err_msg=wav.name)
