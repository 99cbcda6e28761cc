"""Tables of stimulus parameters without waveforms (tuning curves): found, reported, synthesized."""

from __future__ import annotations

import numpy as np
import pytest
from pynwb import NWBHDF5IO
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace.errors import (
    AmbiguousInputError,
    ConfigError,
    InvalidDataError,
    NoSoundStimulusError,
)
from ndx_encoding_subspace.io.parameters import no_waveform_message, parameter_tables
from ndx_encoding_subspace.io.reader_params import ReaderParams
from ndx_encoding_subspace.io.tones import synthesize_tones, tone
from ndx_encoding_subspace.testing.files import write_nwb

FREQS = [1000.0, 2000.0, 4000.0, 8000.0]
LEVELS = [40.0, 60.0]


def _tuning_file(columns: dict[str, tuple[str, list]], *, rows: int = 8, gap: float = 0.5,
                 stop_after: float | None = 0.1):
    """A file whose trials have the given (description, values) columns."""
    nwb = mock_NWBFile()
    for col, (description, _) in columns.items():
        nwb.add_trial_column(col, description)
    for i in range(rows):
        start = 1.0 + gap * i
        stop = start + stop_after if stop_after is not None else np.nan
        nwb.add_trial(start_time=start, stop_time=stop, **{c: v[i] for c, (_, v) in columns.items()})
    return nwb


def _grid(rows: int = 8) -> dict[str, tuple[str, list]]:
    return {
        "tone_frequency": ("tone frequency, Hz", [FREQS[i % 4] for i in range(rows)]),
        "level": ("sound level, dB SPL", [LEVELS[(i // 4) % 2] for i in range(rows)]),
        "duration": ("tone duration, s", [0.1] * rows),
        "stim_present": ("whether a stimulus was played", [1] * rows),
    }


def test_finds_parameter_columns_with_units(tmp_path):
    nwb = _tuning_file(_grid())
    path = write_nwb(nwb, tmp_path / "tuning.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        tables = parameter_tables(io.read())
    assert len(tables) == 1
    table = tables[0]
    assert table.path == "intervals/trials" and table.rows == 8
    assert [(c.name, c.kind, c.unit, c.assumed) for c in table.columns] == [
        ("tone_frequency", "frequency", "Hz", False),
        ("level", "level", "dB", False),
        ("duration", "duration", "s", False),
    ]
    np.testing.assert_array_equal(table.column("frequency").si, [FREQS[i % 4] for i in range(8)])
    assert "1000-8000 Hz, 4 distinct" in table.describe()


@pytest.mark.parametrize(
    ("name", "description", "values", "kind", "unit", "assumed", "factor"),
    [
        ("freq_kHz", "", [1.0, 2.0], "frequency", "kHz", False, 1000.0),
        ("toneFreq", "", [1.0, 32.0], "frequency", "kHz", True, 1000.0),
        ("freq", "", [500.0, 16000.0], "frequency", "Hz", True, 1.0),
        ("tone_dur", "in ms", [50.0, 100.0], "duration", "ms", False, 1e-3),
        ("duration", "", [50.0, 100.0], "duration", "ms", True, 1e-3),
        ("atten_db", "", [0.0, 20.0], "attenuation", "dB", False, 1.0),
        ("intensity", "", [30.0, 70.0], "level", "dB", False, 1.0),
    ],
)
def test_recognises_names_and_units(name, description, values, kind, unit, assumed, factor):
    nwb = _tuning_file({name: (description or "x", values)}, rows=2)
    (table,) = parameter_tables(nwb)
    (column,) = table.columns
    assert (column.kind, column.unit, column.assumed) == (kind, unit, assumed)
    np.testing.assert_allclose(column.si, np.asarray(values) * factor)


@pytest.mark.parametrize("name", ["freq_index", "am_frequency", "trial_duration", "ramp_duration",
                                  "stim_present", "cue_start_time"])
def test_other_columns_are_not_parameters(name):
    nwb = _tuning_file({name: ("x", [1.0, 2.0])}, rows=2)
    assert parameter_tables(nwb) == []


def test_text_columns_are_not_parameters():
    nwb = _tuning_file({"frequency": ("x", ["high", "low"])}, rows=2)
    assert parameter_tables(nwb) == []


def test_message_names_columns_and_remedies():
    nwb = _tuning_file(_grid())
    message = no_waveform_message("tuning.nwb", parameter_tables(nwb), "stimulus_template: nothing")
    assert message.startswith("tuning.nwb: no sound stimulus (stimulus_template: nothing)")
    assert "intervals/trials (8 rows; 'tone_frequency' (frequency" in message
    assert "'level' (level" in message and "'duration' (duration" in message
    assert "stimulus_template" in message and "reader.synthesize_tones = true" in message

    only_levels = _tuning_file({"level": ("dB", [40.0, 60.0])}, rows=2)
    message = no_waveform_message("lv.nwb", parameter_tables(only_levels))
    assert "needs a frequency column" in message

    message = no_waveform_message("empty.nwb", [])
    assert "no presentation table has stimulus-parameter columns" in message
    assert "stimulus_template" in message


def test_tone_level_ramps_and_padding():
    rate = 48000.0
    x = tone(1000.0, 0.1, rate, level_db=74.0, reference_db=94.0, ramp_s=0.005, length_s=0.15)
    assert x.dtype == np.float32 and x.size == 7200
    assert np.all(x[4800:] == 0)
    middle = x[480:4320]  # between the ramps: whole periods of 1 kHz at 48 kHz
    assert np.sqrt(np.mean(middle.astype(float) ** 2)) == pytest.approx(0.1, rel=1e-3)
    assert abs(x[0]) < 1e-6 and abs(x[4799]) < 1e-3  # ramped on and off
    spectrum = np.abs(np.fft.rfft(x[:4800]))
    assert np.fft.rfftfreq(4800, 1 / rate)[np.argmax(spectrum)] == pytest.approx(1000.0)


def test_synthesized_tones_follow_the_rows(tmp_path):
    nwb = _tuning_file(_grid())
    path = write_nwb(nwb, tmp_path / "tuning.nwb")
    params = ReaderParams(synthesize_tones=True, tone_sample_rate=32000.0)
    with NWBHDF5IO(str(path), "r") as io:
        tones = synthesize_tones(io.read(), "tuning.nwb", params)
    assert tones.table == "intervals/trials"
    assert tones.columns == ("tone_frequency", "level", "duration")
    assert len(tones.sounds) == 8 and len(tones.presentations) == 8 and tones.skipped_rows == ()
    first = tones.presentations[0]
    assert first.sound == "tone_1000Hz_40dB_100ms" and first.row == 0
    assert (first.start, first.stop) == pytest.approx((1.0, 1.1))
    series = first.series
    assert series.rate == 32000.0 and series.n_samples == 3200 and series.place == "template"
    assert series.path == "synthesized/tone_1000Hz_40dB_100ms"
    loud = next(p.series for p in tones.presentations if p.sound == "tone_1000Hz_60dB_100ms")
    ratio = np.ptp(loud.series.data) / np.ptp(series.series.data)
    assert ratio == pytest.approx(10.0, rel=1e-3)  # 20 dB
    assert "8 pure tones synthesized from intervals/trials" in tones.describe()


def test_repeats_share_one_sound_and_blank_rows_are_skipped():
    grid = _grid(8)
    grid["tone_frequency"][1][5] = np.nan  # a blank (spontaneous) trial
    nwb = _tuning_file({k: grid[k] for k in ("tone_frequency", "duration")}, stop_after=0.3)
    tones = synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True))
    assert tones.skipped_rows == (5,)
    assert len(tones.sounds) == 4 and len(tones.presentations) == 7
    # no level column: every tone at the reference level (RMS 1); silence up to the trial's end
    sound = tones.sounds[0]
    assert sound.n_samples == int(0.3 * 48000)
    data = np.asarray(sound.series.data)
    assert np.max(np.abs(data)) == pytest.approx(np.sqrt(2), rel=1e-3)
    assert np.all(data[int(0.1 * 48000):] == 0)


def test_attenuation_and_duration_from_the_intervals():
    columns = {"freq_khz": ("kHz", [4.0, 4.0]), "attenuation": ("dB", [0.0, 20.0])}
    nwb = _tuning_file(columns, rows=2, stop_after=0.05)
    params = ReaderParams(synthesize_tones=True, tone_reference_db=70.0)
    tones = synthesize_tones(nwb, "f.nwb", params)
    assert [p.sound for p in tones.presentations] == ["tone_4000Hz_70dB_50ms", "tone_4000Hz_50dB_50ms"]


def test_errors_name_the_file_table_and_option():
    nwb = _tuning_file({"frequency": ("Hz", [1000.0, 30000.0])}, rows=2)
    with pytest.raises(ConfigError, match=r"reader.tone_sample_rate = 48000 Hz .*30000 Hz .* f\.nwb"):
        synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True))
    nwb = _tuning_file({"frequency": ("Hz", [1000.0, 2000.0])}, rows=2, stop_after=None)
    with pytest.raises(InvalidDataError, match=r"f\.nwb: intervals/trials has no duration column"):
        synthesize_tones(nwb, "f.nwb")
    nwb = _tuning_file({"frequency": ("Hz", [1000.0, -5.0]), "duration": ("s", [0.1, 0.1])}, rows=2)
    with pytest.raises(InvalidDataError, match=r"intervals/trials rows \[1\] have a frequency or duration"):
        synthesize_tones(nwb, "f.nwb")
    nwb = _tuning_file({"level": ("dB", [40.0, 60.0])}, rows=2)
    with pytest.raises(NoSoundStimulusError, match="needs a frequency column"):
        synthesize_tones(nwb, "f.nwb")


def test_several_tables_need_a_choice():
    from pynwb.epoch import TimeIntervals

    nwb = _tuning_file({"frequency": ("Hz", [1000.0, 2000.0]), "duration": ("s", [0.1, 0.1])}, rows=2)
    other = TimeIntervals(name="tones", description="tone presentations")
    other.add_column("freq", "Hz")
    other.add_column("dur", "s")
    other.add_row(start_time=20.0, stop_time=20.2, freq=500.0, dur=0.2)
    nwb.add_time_intervals(other)
    with pytest.raises(AmbiguousInputError, match="several tables give tone parameters") as err:
        synthesize_tones(nwb, "f.nwb")
    assert "intervals/trials (2 rows" in str(err.value) and "'freq' (frequency, 500 Hz" in str(err.value)
    assert str(err.value).endswith("choose one with reader.presentations")
    tones = synthesize_tones(nwb, "f.nwb", ReaderParams(presentations="tones"))
    assert tones.table == "intervals/tones"
    assert [p.sound for p in tones.presentations] == ["tone_500Hz_94dB_200ms"]


def test_reader_params_validate_tone_options():
    with pytest.raises(ConfigError, match="reader.tone_sample_rate"):
        ReaderParams(tone_sample_rate=0.0)
    with pytest.raises(ConfigError, match="reader.tone_ramp_ms"):
        ReaderParams(tone_ramp_ms=-1.0)
    with pytest.raises(ConfigError, match="synthesize_tones"):
        ReaderParams(synthesize_tones="yes")


def test_real_files_have_no_parameter_columns(real_nwb_files):
    """The real trials (lick direction, cue and pole times) are no stimulus parameters."""
    for path in real_nwb_files:
        with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            nwb = io.read()
            assert parameter_tables(nwb) == []
            message = no_waveform_message(path.name, parameter_tables(nwb))
            assert message.startswith(f"{path.name}: no sound stimulus")
            with pytest.raises(NoSoundStimulusError, match="no presentation table has stimulus-parameter"):
                synthesize_tones(nwb, path.name, ReaderParams(synthesize_tones=True))


def test_read_site_with_synthesized_tones():
    """The reader (locate's tones layout) reads a tuning-curve session when asked to."""
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.testing.files import mock_spiking_units

    nwb = _tuning_file(_grid(16), rows=16, stop_after=0.4)
    mock_spiking_units(n_units=3, duration=12.0, waveforms=False, nwbfile=nwb)
    with pytest.raises(NoSoundStimulusError, match=r"reader.synthesize_tones = true"):
        read_site(nwb)
    site = read_site(nwb, reader=ReaderParams(synthesize_tones=True))
    assert len(site.sounds) == 8
    assert {s.name for s in site.sounds} == {f"tone_{f:g}Hz_{lv:g}dB_100ms" for f in FREQS for lv in LEVELS}
    assert all(s.counts.shape == (2, 40, 3) for s in site.sounds)  # two repeats, 0.4 s of 10 ms bins


def _plain_table(nwb, name: str = "tone_table", *, onset: str | None = "presentation_time"):
    """A plain DynamicTable of tones in acquisition: onset column, no stop column."""
    from hdmf.common import DynamicTable

    table = DynamicTable(name=name, description="tones played")
    if onset:
        table.add_column(onset, "tone onset, s")
    table.add_column("frequency", "tone frequency, Hz")
    table.add_column("duration", "tone duration, s")
    for i in range(4):
        row = {"frequency": FREQS[i], "duration": 0.05}
        if onset:
            row[onset] = 1.0 + 0.5 * i
        table.add_row(**row)
    nwb.add_acquisition(table)
    return table


def test_plain_table_with_an_onset_column_gives_tones(tmp_path):
    """Times from the table's own onset column; the stop falls back to the tone's duration."""
    nwb = mock_NWBFile()
    _plain_table(nwb)
    path = write_nwb(nwb, tmp_path / "plain.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        read = io.read()
        (table,) = parameter_tables(read)
        assert (table.path, table.onset, table.stop) == ("acquisition/tone_table", "presentation_time", "")
        assert [c.name for c in table.columns] == ["frequency", "duration"]
        tones = synthesize_tones(read, "plain.nwb", ReaderParams(synthesize_tones=True))
    assert tones.table == "acquisition/tone_table" and len(tones.presentations) == 4
    first = tones.presentations[0]
    assert (first.start, first.stop) == pytest.approx((1.0, 1.05))
    assert first.series.n_samples == int(0.05 * 48000)


def test_tables_without_an_onset_column_are_not_offered():
    nwb = mock_NWBFile()
    _plain_table(nwb, onset=None)
    assert parameter_tables(nwb) == []
    with pytest.raises(NoSoundStimulusError, match="no presentation table has stimulus-parameter"):
        synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True))


def test_plain_table_read_site_and_bad_onsets():
    from hdmf.common import DynamicTable

    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.testing.files import mock_spiking_units

    nwb = mock_NWBFile()
    _plain_table(nwb)
    mock_spiking_units(n_units=2, duration=5.0, waveforms=False, nwbfile=nwb)
    site = read_site(nwb, reader=ReaderParams(synthesize_tones=True))
    assert len(site.sounds) == 4 and site.source["table"] == "acquisition/tone_table"

    nwb = mock_NWBFile()
    table = DynamicTable(name="tones", description="x")
    table.add_column("onset", "s")
    table.add_column("freq", "Hz")
    table.add_column("dur", "s")
    table.add_row(onset=np.nan, freq=1000.0, dur=0.1)
    nwb.add_acquisition(table)
    with pytest.raises(InvalidDataError, match=r"f\.nwb: acquisition/tones rows \[0\] have no finite onset"):
        synthesize_tones(nwb, "f.nwb", ReaderParams(synthesize_tones=True))


def test_tone_ramp_defaults_to_the_reader_parameter():
    rate = 48000.0
    default = ReaderParams().tone_ramp_ms * 1e-3
    np.testing.assert_array_equal(tone(1000.0, 0.1, rate), tone(1000.0, 0.1, rate, ramp_s=default))
    assert not np.array_equal(tone(1000.0, 0.1, rate), tone(1000.0, 0.1, rate, ramp_s=0.0))
