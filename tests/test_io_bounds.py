"""Bounds the reader keeps: sound lengths (``reader.max_sound_s``), forced layouts, shapes."""

from __future__ import annotations

import types

import numpy as np
import pytest
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace.errors import ConfigError, InvalidDataError, NoSoundStimulusError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.io.inventory import Presentation, SoundSeries, inventory
from ndx_encoding_subspace.io.layouts import ORDER
from ndx_encoding_subspace.io.locate import locate
from ndx_encoding_subspace.io.reader_params import LAYOUTS, ReaderParams
from ndx_encoding_subspace.io.samples import read_waveform
from ndx_encoding_subspace.io.tones import synthesize_tones
from ndx_encoding_subspace.testing.files import mock_site, mock_spiking_units, write_nwb


def _trials(nwb, rows: list[tuple[float, float]], columns: dict[str, list[float]]):
    """Trials of (start, stop) with the given tone-parameter columns."""
    for col in columns:
        nwb.add_trial_column(col, "Hz" if "freq" in col else "s")
    for i, (start, stop) in enumerate(rows):
        nwb.add_trial(start_time=start, stop_time=stop, **{c: v[i] for c, v in columns.items()})
    return nwb


# -- reader.max_sound_s -------------------------------------------------------------------


def test_max_sound_s_is_checked():
    assert ReaderParams().max_sound_s == 600.0
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=r"(reader|ReaderParams)\.max_sound_s"):
            ReaderParams(max_sound_s=bad)


def test_a_tone_row_ending_a_million_seconds_later_is_refused_before_it_is_built():
    """Without a duration column the silence runs to the row's stop: 1e6 s would be ~192 GB."""
    nwb = _trials(mock_NWBFile(), [(1.0, 1.0 + 1e6), (2.0, 2.0 + 1e6)], {"frequency": [1000.0, 2000.0]})
    with pytest.raises(InvalidDataError) as err:
        synthesize_tones(nwb, "big.nwb", ReaderParams(synthesize_tones=True))
    message = str(err.value)
    assert message.startswith("big.nwb: intervals/trials rows [0, 1] would give sounds of up to 1e+06 s")
    assert "silence up to its stop_time" in message and "reader.max_sound_s = 600 s" in message


def test_a_long_tone_duration_is_refused_and_the_bound_can_be_set():
    nwb = _trials(mock_NWBFile(), [(1.0, 1.5), (2.0, 2.5)],
                  {"frequency": [1000.0, 2000.0], "duration": [0.1, 2e4]})
    with pytest.raises(InvalidDataError, match=r"rows \[1\] would give sounds of up to 20000 s"):
        synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True))
    nwb = _trials(mock_NWBFile(), [(1.0, 1.3), (2.0, 2.3)], {"frequency": [1000.0, 2000.0]})
    with pytest.raises(InvalidDataError, match=r"rows \[0, 1\] .* 0\.3 s .* reader.max_sound_s = 0\.2 s"):
        synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True, max_sound_s=0.2))
    tones = synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True, max_sound_s=0.3))
    assert all(s.n_samples == int(0.3 * 48000) for s in tones.sounds)


class _Unreadable:
    """A dataset that declares a shape and a dtype and fails if anything is read."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = shape, np.dtype(dtype)

    def __getitem__(self, key: object) -> np.ndarray:
        raise AssertionError("read although its declared size is over the bound")

    def __len__(self) -> int:
        return self.shape[0]


def test_a_declared_waveform_over_the_bound_is_not_read():
    n = 48000 * 3600 * 24  # one day at 48 kHz, two int16 channels: 16.6 GB
    series = types.SimpleNamespace(data=_Unreadable((n, 2), "int16"), conversion=1.0, offset=0.0)
    sound = SoundSeries("day", "stimulus/presentation/day", "TimeSeries", "continuous", 48000.0, 0.0, n, 2,
                        series)
    pres = Presentation("day", 0.0, n / 48000.0, 0, sound, 0, n)
    with pytest.raises(InvalidDataError) as err:
        read_waveform(pres, -1, "day.nwb")
    message = str(err.value)
    assert message.startswith("day.nwb: sound 'day' (stimulus/presentation/day) declares 4147200000 samples")
    assert "86400 s (16.6 GB as stored), longer than reader.max_sound_s = 600 s" in message
    short = Presentation("day", 0.0, 1.0, 0, sound, 0, 48000)  # a part within the bound is read
    with pytest.raises(AssertionError, match="read although"):
        read_waveform(short, -1, "day.nwb", max_sound_s=1.0)


def test_read_site_passes_the_bound_to_every_sound(tmp_path):
    site = mock_site(n_sounds=3, duration=0.5, rate=16000.0)
    path = write_nwb(site.nwbfile, tmp_path / "site.nwb")
    with pytest.raises(InvalidDataError, match=r"site\.nwb: sound .* 0\.5 s .* reader.max_sound_s = 0\.25 s"):
        read_site(path, reader=ReaderParams(max_sound_s=0.25))
    assert len(read_site(path, reader=ReaderParams(max_sound_s=0.5)).sounds) == 3


# -- reader.layout = "tones" ----------------------------------------------------------------


def test_layout_choices_are_the_layouts():
    assert set(LAYOUTS) == {"auto", *ORDER}
    with pytest.raises(ConfigError, match=r"reader.layout = 'tones' .* set reader.synthesize_tones = true"):
        ReaderParams(layout="tones")
    assert ReaderParams(layout="tones", synthesize_tones=True).layout == "tones"


def test_forcing_tones_skips_the_waveforms():
    site = mock_site(n_sounds=2, duration=0.5, rate=16000.0, table="sound_presentations")
    nwb = _trials(site.nwbfile, [(0.25, 0.75), (1.0, 1.5)], {"frequency": [1000.0, 2000.0],
                                                              "duration": [0.1, 0.1]})
    auto = locate(nwb, "f.nwb", ReaderParams(synthesize_tones=True))
    assert auto.kind == "templates"
    forced = locate(nwb, "f.nwb", ReaderParams(layout="tones", synthesize_tones=True))
    assert forced.kind == "tones" and forced.table == "intervals/trials"
    assert [p.sound for p in forced.presentations] == ["tone_1000Hz_94dB_100ms", "tone_2000Hz_94dB_100ms"]


# -- sounds stored (channels, time) ---------------------------------------------------------


def test_a_transposed_sound_is_named_not_silently_dropped(tmp_path):
    nwb = mock_NWBFile()
    wave = np.zeros((2, 16000), dtype=np.float32)
    nwb.add_stimulus_template(TimeSeries(name="clip", data=wave, unit="Pa", rate=16000.0))
    nwb.add_stimulus_template(TimeSeries(name="image", data=np.zeros((64, 64)), unit="a.u.", rate=16000.0))
    nwb.add_stimulus_template(TimeSeries(name="stack", data=np.zeros((20, 8000)), unit="Pa", rate=16000.0))
    mock_spiking_units(n_units=2, duration=5.0, nwbfile=nwb)
    path = write_nwb(nwb, tmp_path / "transposed.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        inv = inventory(io.read())
    assert inv.templates == ()
    (clip, image, stack) = inv.ignored
    assert clip.startswith("stimulus/templates/clip (TimeSeries of shape (2, 16000): looks transposed")
    assert "NWB stores (time, channels)" in clip and "(16000, 2)" in clip
    assert clip.endswith("or 2 sounds stacked (store each sound as a series of its own))")
    assert stack.endswith("not (time,) or (time, up to 16 channels); 20 sounds stacked (store each sound "
                          "as a series of its own)?)")
    assert "transposed" not in image and image.endswith("not (time,) or (time, up to 16 channels))")
    with pytest.raises(NoSoundStimulusError, match="looks transposed"):
        read_site(path)
