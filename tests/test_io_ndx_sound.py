"""The reader and ndx-sound's real AcousticWaveformSeries: int16 samples, unit "n.a.".

ndx-sound stores the samples as written (int16 from its own mock) with ``conversion`` 1.0
and ``offset`` 0.0 unless set; the reader returns ``data * conversion + offset`` as float64,
so the waveform it gets is the int16 samples as written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import h5py
import numpy as np
import pytest
from ndx_sound import AcousticWaveformSeries
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams, minmax_scale, spectrogram
from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.io import ReaderParams, inspect_nwb, locate, open_nwb, read_site
from ndx_encoding_subspace.io.samples import read_waveform
from ndx_encoding_subspace.testing import (
    mock_AcousticWaveformSeries,
    mock_site,
    mock_sound_presentations,
    mock_spiking_units,
    write_nwb,
)

AWS = "AcousticWaveformSeries"


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    site = mock_site(sound_type=AWS, waveforms=False, seed=4)
    return site, site.write(tmp_path_factory.mktemp("aws") / "templates.nwb")


def test_the_file_holds_ndx_sound_types(templates):
    site, path = templates
    assert all(isinstance(s, AcousticWaveformSeries) for s in site.nwbfile.stimulus_template.values())
    with h5py.File(path, "r") as f:
        group = f["stimulus/templates/sound_00"]
        assert group.attrs["neurodata_type"] == AWS and group.attrs["namespace"] == "ndx-sound"
        data = group["data"]
        assert data.dtype == np.int16 and data.attrs["unit"] == "n.a."
        assert (data.attrs["conversion"], data.attrs["offset"]) == (1.0, 0.0)
        np.testing.assert_array_equal(data[:], site.waveforms["sound_00"])
    assert np.abs(site.waveforms["sound_00"]).max() > 1000  # int16 counts, not normalised


@pytest.mark.parametrize("layout", ["templates", "continuous"])
def test_reader_gets_the_int16_samples_as_written(tmp_path, layout):
    site = mock_site(layout=layout, sound_type=AWS, waveforms=False, seed=5)
    path = site.write(tmp_path / f"{layout}.nwb")
    with open_nwb(path) as opened:
        found = locate(opened.nwbfile, opened.name)
        assert found.kind == layout and len(found.presentations) == len(site.presentations)
        for pres in found.presentations:
            assert pres.series.series.data.dtype == np.int16
            wave = read_waveform(pres, -1, opened.name)
            assert wave.dtype == np.float64
            np.testing.assert_array_equal(wave, site.waveforms[pres.sound].astype(np.float64))


def test_spectrograms_of_the_int16_samples(templates):
    site, path = templates
    params = SpectrogramParams(n_channels=16)
    data = read_site(path, spectrogram=params)
    # integer samples without a conversion: fractions of their full scale, as WAV files mean them
    raw = [spectrogram(site.waveforms[s.name].astype(np.float64) / 32768, site.rate, params)
           for s in data.sounds]
    for sound, expected in zip(data.sounds, minmax_scale(raw), strict=True):
        np.testing.assert_allclose(sound.spectrogram, expected, rtol=1e-6, atol=1e-6)
    report = inspect_nwb(path)
    assert report.usable and {s["name"] for s in report.sounds} == set(site.waveforms)


def test_conversion_offset_and_channels(tmp_path):
    rate = 16000.0
    rng = np.random.default_rng(0)
    data = rng.integers(-20000, 20000, size=(1600, 2), dtype=np.int16)
    nwbfile = mock_NWBFile()
    series = mock_AcousticWaveformSeries(
        name="tone", data=data, rate=rate, conversion=1 / 32768, offset=0.25, nwbfile=nwbfile
    )
    assert nwbfile.stimulus_template["tone"] is series and series.unit == "n.a."
    mock_sound_presentations(sounds=["tone", "tone"], starts=[0.5, 1.5], duration=0.1, nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=3.0, nwbfile=nwbfile)
    path = write_nwb(nwbfile, tmp_path / "stereo.nwb")
    expected = data.astype(np.float64) / 32768 + 0.25
    with open_nwb(path) as opened:
        pres = locate(opened.nwbfile, opened.name).presentations[0]
        assert pres.series.n_channels == 2 and pres.series.series.conversion == 1 / 32768
        for channel in (0, 1):
            np.testing.assert_allclose(read_waveform(pres, channel, opened.name), expected[:, channel])
        np.testing.assert_allclose(read_waveform(pres, -1, opened.name), expected.mean(axis=1))
    site = read_site(path, reader=ReaderParams(channel=1))
    assert site.sound("tone").n_repeats == 2


def test_the_reader_needs_no_ndx_sound(templates):
    """Files written with ndx-sound read from their cached spec, ndx-sound not importable."""
    site, path = templates
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["ndx_sound"] = None  # any import of ndx_sound now fails
        from ndx_encoding_subspace.io import locate, open_nwb
        from ndx_encoding_subspace.io.samples import read_waveform
        with open_nwb({str(path)!r}) as opened:
            layout = locate(opened.nwbfile, opened.name)
            pres = next(p for p in layout.presentations if p.sound == "sound_00")
            wave = read_waveform(pres, -1, opened.name)
            types = sorted({{s.neurodata_type for s in layout.sounds}})
            print(json.dumps({{"types": types, "wave": wave.tolist()}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["types"] == [AWS]
    np.testing.assert_array_equal(out["wave"], site.waveforms["sound_00"].astype(np.float64))


def test_a_conversion_of_zero_is_read_as_one_and_said(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(-20000, 20000, size=4000, dtype=np.int16)
    nwbfile = mock_NWBFile()
    mock_AcousticWaveformSeries(name="tone", data=data, rate=16000.0, conversion=0.0, nwbfile=nwbfile)
    mock_sound_presentations(sounds=["tone", "tone"], starts=[0.5, 1.5], duration=0.2, nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=3.0, nwbfile=nwbfile)
    path = write_nwb(nwbfile, tmp_path / "zero.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site = read_site(path)
    said = [str(w.message) for w in caught if "conversion 0" in str(w.message)]
    expected = ("zero.nwb: stimulus/templates/tone: conversion 0"
                " would make every sample 0; read with conversion 1")
    assert len(said) == 1 and said[0].endswith(expected), said
    assert np.ptp(site.sound("tone").spectrogram) > 0.5  # the samples as written, not silence
    with open_nwb(path) as opened:
        pres = locate(opened.nwbfile, opened.name).presentations[0]
        span = slice(pres.first_sample, pres.first_sample + pres.n_samples)
        np.testing.assert_array_equal(read_waveform(pres, 0, opened.name), data[span])


def test_unsigned_8_bit_samples_without_an_offset_are_read_around_128(tmp_path):
    rng = np.random.default_rng(2)
    wave = rng.integers(-20000, 20000, size=8000).astype(np.int16)
    sites = {}
    for kind, data in (("int16", wave), ("uint8", (np.round(wave / 256.0) + 128).astype(np.uint8))):
        nwbfile = mock_NWBFile()
        nwbfile.add_stimulus_template(TimeSeries(name="tone", data=data, rate=16000.0, unit="n.a."))
        mock_sound_presentations(sounds=["tone", "tone"], starts=[0.5, 1.5], duration=0.5, nwbfile=nwbfile)
        mock_spiking_units(n_units=2, duration=3.0, nwbfile=nwbfile)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sites[kind] = read_site(write_nwb(nwbfile, tmp_path / f"{kind}.nwb"))
        said = [str(w.message) for w in caught if "8-bit" in str(w.message)]
        assert len(said) == (kind == "uint8"), said
    assert said[0].endswith("uint8.nwb: stimulus/templates/tone: unsigned 8-bit samples without an offset, "
                            "read around their midpoint 128")
    a, b = (sites[k].sound("tone").spectrogram for k in ("int16", "uint8"))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98


def test_channels_in_antiphase_are_refused_when_averaged_and_read_one_by_one(tmp_path):
    rng = np.random.default_rng(1)
    left = rng.normal(0, 0.1, 16000)
    nwbfile = mock_NWBFile()
    mock_AcousticWaveformSeries(name="tone", data=np.column_stack([left, -left]), rate=16000.0,
                                nwbfile=nwbfile)
    mock_AcousticWaveformSeries(name="noise", data=rng.normal(0, 0.1, (16000, 2)), rate=16000.0,
                                nwbfile=nwbfile)
    mock_sound_presentations(sounds=["noise", "tone", "noise", "tone"], starts=[0.5, 1.5, 2.5, 3.5],
                             duration=0.5, nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=5.0, nwbfile=nwbfile)
    path = write_nwb(nwbfile, tmp_path / "antiphase.nwb")
    with open_nwb(path) as opened:
        noise, tone = locate(opened.nwbfile, opened.name).presentations[:2]
        assert read_waveform(noise, -1, opened.name).std() > 0.05  # independent channels: averaged
        with pytest.raises(InvalidDataError, match=r"antiphase\.nwb: sound 'tone' \(.*tone\): its 2 "
                                                   r"channels cancel when averaged .*--reader\.channel"):
            read_waveform(tone, -1, opened.name)
        np.testing.assert_allclose(read_waveform(tone, 1, opened.name), -left)


def test_a_channel_unrelated_to_the_sound_is_said(tmp_path):
    """A stereo recording holding the sound on the left and a sync pulse train on the
    right (as rigs record): averaged, but said, with the option that reads one channel."""
    rng = np.random.default_rng(3)
    nwbfile = mock_NWBFile()
    pulses = np.where(np.arange(8000) % 800 < 40, 0.5, 0.0)
    for name in ("a", "b"):
        sound = rng.normal(0, 0.1, 8000)
        right = pulses if name == "a" else sound + rng.normal(0, 0.01, 8000)  # b: a copy, as stereo
        mock_AcousticWaveformSeries(name=name, data=np.column_stack([sound, right]), rate=16000.0,
                                    nwbfile=nwbfile)
    mock_sound_presentations(sounds=["a", "b", "a", "b"], starts=[0.5, 1.5, 2.5, 3.5], duration=0.5,
                             nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=5.0, nwbfile=nwbfile)
    path = write_nwb(nwbfile, tmp_path / "sync.nwb")
    for channel, expected in ((-1, 1), (0, 0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_site(path, reader=ReaderParams(channel=channel))
        said = [str(w.message) for w in caught if "channels are unrelated" in str(w.message)]
        assert len(said) == expected, said
    assert said == [] and "1 sound(s) whose channels are unrelated (correlation 0.0" in _said_once(path)
    assert "(AcousticWaveformSeries, template, 16000 Hz, 0.500 s, 2 channels)" in inspect_nwb(path).format()


def test_a_silent_channel_leaves_the_level_of_the_others(tmp_path):
    """A sound played to one ear of a stereo pair (the other channel all zeros) beside mono
    sounds: read at the level of the channel that plays, not at half of it, and said."""
    rng = np.random.default_rng(4)
    nwbfile = mock_NWBFile()
    left = rng.normal(0, 0.1, 8000)
    mock_AcousticWaveformSeries(name="one_ear", data=np.column_stack([left, np.zeros(8000)]), rate=16000.0,
                                nwbfile=nwbfile)
    mock_AcousticWaveformSeries(name="mono", data=left.copy(), rate=16000.0, nwbfile=nwbfile)
    mock_sound_presentations(sounds=["one_ear", "mono", "one_ear", "mono"], starts=[0.5, 1.5, 2.5, 3.5],
                             duration=0.5, nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=5.0, nwbfile=nwbfile)
    path = write_nwb(nwbfile, tmp_path / "one_ear.nwb")
    said = _said_once(path)
    assert "1 sound(s) with silent channels (1 of 2 in 'one_ear') are read as the mean of their other" in said
    site = read_site(path)
    np.testing.assert_allclose(site.sound("one_ear").spectrogram, site.sound("mono").spectrogram)


def test_sounds_in_different_units_are_said(tmp_path):
    from pynwb import TimeSeries

    rng = np.random.default_rng(5)
    nwbfile = mock_NWBFile()
    for name, unit in (("pa", "Pa"), ("volt", "volts"), ("plain", "n.a.")):
        nwbfile.add_stimulus_template(TimeSeries(name=name, data=rng.normal(0, 0.1, 8000), unit=unit,
                                                 rate=16000.0))
    mock_sound_presentations(sounds=["pa", "volt", "plain", "pa", "volt", "plain"],
                             starts=[0.5, 1.5, 2.5, 3.5, 4.5, 5.5], duration=0.5, nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=7.0, nwbfile=nwbfile)
    said = _said_once(write_nwb(nwbfile, tmp_path / "units.nwb"))
    assert "the sounds' series are in different units ('Pa' ('pa'), 'volts' ('volt'))" in said


def test_samples_linked_from_a_file_that_is_gone_are_named(tmp_path):
    import h5py
    from pynwb import TimeSeries

    from ndx_encoding_subspace.errors import InvalidDataError

    rng = np.random.default_rng(6)
    linked = tmp_path / "waves.h5"
    with h5py.File(linked, "w") as f:
        for name in ("a", "b"):
            f.create_dataset(name, data=rng.normal(0, 0.1, 8000))
    nwbfile = mock_NWBFile()
    with h5py.File(linked, "r") as f:
        for name in ("a", "b"):
            nwbfile.add_stimulus_template(TimeSeries(name=name, data=f[name], unit="Pa", rate=16000.0))
        mock_sound_presentations(sounds=["a", "b", "a", "b"], starts=[0.5, 1.5, 2.5, 3.5], duration=0.5,
                                 nwbfile=nwbfile)
        mock_spiking_units(n_units=2, duration=5.0, nwbfile=nwbfile)
        path = write_nwb(nwbfile, tmp_path / "linked.nwb")
    assert read_site(path).sound("a").spectrogram.shape[0] == 50
    linked.unlink()
    said = r"linked.nwb: sound '.' \(stimulus/templates/.\) is empty: its samples are an external link to "
    with pytest.raises(InvalidDataError, match=said + r".*waves.h5 .*not there"):
        read_site(path)


def _said_once(path) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_site(path)
    return " | ".join(str(w.message) for w in caught)


def _sounds_with_offset(path, offset: float):
    rng = np.random.default_rng(2)
    nwbfile = mock_NWBFile()
    for name in ("noise", "tone"):
        wave = rng.normal(0, 0.1, 8000) + (offset if name == "tone" else 0.0)
        mock_AcousticWaveformSeries(name=name, data=wave, rate=16000.0, nwbfile=nwbfile)
    mock_sound_presentations(sounds=["noise", "tone", "noise", "tone"], starts=[0.5, 1.5, 2.5, 3.5],
                             duration=0.5, nwbfile=nwbfile)
    mock_spiking_units(n_units=2, duration=5.0, nwbfile=nwbfile)
    return write_nwb(nwbfile, path)


def test_a_dc_offset_is_said_and_removed_on_request(tmp_path):
    clean = read_site(_sounds_with_offset(tmp_path / "clean.nwb", 0.0))
    path = _sounds_with_offset(tmp_path / "offset.nwb", 0.3)
    with pytest.warns(UserWarning, match=r"offset\.nwb: sounds with a DC offset .*: tone; .*remove_offset"):
        kept = read_site(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*DC offset")
        removed = read_site(path, reader=ReaderParams(remove_offset=True))
    onset = slice(0, 3)  # the step from silence to the offset: a click in every channel
    assert (kept.sound("tone").spectrogram[onset] > removed.sound("tone").spectrogram[onset] + 0.05).any()
    # the scale is shared by the site's sounds (the clean noise keeps its own small mean)
    np.testing.assert_allclose(removed.sound("tone").spectrogram, clean.sound("tone").spectrogram, atol=0.01)
    assert removed.source["reader"]["remove_offset"] is True
