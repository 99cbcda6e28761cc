"""Sounds whose timing is unusable, sound names given as an enumerated column or matching
several sounds, compressed sounds, and presentations after the recording ends."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from pynwb import TimeSeries
from pynwb.epoch import TimeIntervals

from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.errors import AmbiguousInputError, InvalidDataError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.io.in_recording import TRAILING_SHARE
from ndx_encoding_subspace.testing.files import mock_site, mock_sound_waveforms, write_nwb


def _edit(path, edit):
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def _rate(value):
    def edit(f):
        f["stimulus/templates/sound_01/starting_time"].attrs["rate"] = value
    return edit


@pytest.mark.parametrize(("value", "said"), [(np.nan, "sample rate nan Hz"), (0.0, "sample rate 0 Hz"),
                                             (-16000.0, "sample rate -16000 Hz"),
                                             (np.inf, "sample rate inf Hz")])
def test_a_presented_template_without_a_usable_rate_is_refused_by_name(tmp_path, value, said):
    path = _edit(mock_site(n_sounds=6).write(tmp_path / "rate.nwb"), _rate(value))
    with pytest.raises(InvalidDataError) as err:
        read_site(path)
    text = str(err.value)
    assert text.startswith(str(path)) and "stimulus/templates/sound_01" in text and said in text
    assert "presentations name it" in text and "name no sound" not in text


def test_a_track_whose_start_is_not_a_number_is_refused_by_name(tmp_path, capsys):
    path = mock_site(n_sounds=6, layout="continuous").write(tmp_path / "track.nwb")
    _edit(path, lambda f: f["stimulus/presentation/sound/starting_time"].write_direct(np.array(np.nan)))
    with pytest.raises(InvalidDataError, match=r"stimulus/presentation/sound: starting_time nan s"):
        read_site(path)
    assert main(["inspect", str(path)]) == InvalidDataError.exit_code
    assert "Traceback" not in capsys.readouterr().err


def _series_per_presentation(path, nan_at: int | None):
    nwb = mock_site(n_units=3, waveforms=False, table="").nwbfile
    waves = mock_sound_waveforms(n_sounds=6)
    order = ["sound_00", "sound_05", "sound_01", "sound_05", "sound_02", "sound_05", "sound_03", "sound_05",
             "sound_04", "sound_05"]
    for k, name in enumerate(order):
        nwb.add_stimulus(TimeSeries(name=f"AcousticWaveformSeries{k}", data=waves[name], unit="Pa",
                                    rate=16000.0, starting_time=0.25 + 0.75 * k))
    write_nwb(nwb, path)
    if nan_at is not None:
        _edit(path, lambda f: f[f"stimulus/presentation/AcousticWaveformSeries{nan_at}/starting_time"]
              .write_direct(np.array(np.nan)))
    return path


def test_a_presentation_series_without_a_start_is_refused_not_read_as_silence(tmp_path):
    site = read_site(_series_per_presentation(tmp_path / "fine.nwb", None))
    assert site.source["layout"] == "series"
    with pytest.raises(InvalidDataError, match=r"AcousticWaveformSeries3: starting_time nan s"):
        read_site(_series_per_presentation(tmp_path / "nan.nwb", 3))


def _enum_table(tmp_path, names: list[str]):
    """Templates named ``names``; the table's sound column an hdmf enum of those names in
    another order than the templates', so that its stored positions name other sounds."""
    site = mock_site(n_units=3, n_sounds=6, table="")
    nwb = site.nwbfile
    waves = dict(site.waveforms)
    for name in sorted(waves):
        nwb.stimulus_template.pop(name)
    new = dict(zip(sorted(waves), names, strict=True))
    for old, name in new.items():
        nwb.add_stimulus_template(TimeSeries(name=name, data=waves[old], unit="Pa", rate=16000.0,
                                             starting_time=0.0))
    table = TimeIntervals(name="sound_presentations", description="what played")
    table.add_column("sound", "the sound played", enum=list(reversed(names)))
    for old, start in site.presentations:
        table.add_row(start_time=start, stop_time=start + 0.5, sound=new[old])
    nwb.add_time_intervals(table)
    return write_nwb(nwb, tmp_path / "enum.nwb"), [new[old] for old, _ in site.presentations]


@pytest.mark.parametrize("names", [[str(k) for k in range(6)], [f"clip{k}" for k in range(6)]])
def test_an_enumerated_sound_column_is_read_as_the_names_it_holds(tmp_path, names):
    path, played = _enum_table(tmp_path, names)
    site = read_site(path)
    repeated = max(set(played), key=played.count)
    assert site.validation == (repeated,)
    assert sorted(site.estimation) == sorted(set(played) - {repeated})
    assert site.sound(repeated).counts.shape[0] == played.count(repeated)


def test_a_name_matching_two_templates_by_key_is_refused_as_ambiguous(tmp_path):
    site = mock_site(n_sounds=6)
    wave = site.nwbfile.stimulus_template.pop("sound_00").data
    for name in ("sound_00.wav", "Sound_00.FLAC"):
        site.nwbfile.add_stimulus_template(TimeSeries(name=name, data=wave, unit="Pa", rate=16000.0,
                                                      starting_time=0.0))
    path = site.write(tmp_path / "two.nwb")
    with pytest.raises(AmbiguousInputError) as err:
        read_site(path)
    assert "'sound_00'" in str(err.value) and "sound_00.wav" in str(err.value)
    assert "Sound_00.FLAC" in str(err.value)


def test_a_sound_compressed_with_a_plugin_filter_is_read_or_named(tmp_path, monkeypatch):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    plain = mock_site(n_sounds=6).write(tmp_path / "plain.nwb")
    path = shutil.copy(plain, tmp_path / "zstd.nwb")

    def compress(f):
        group = f["stimulus/templates/sound_01"]
        data, attrs = group["data"][:], dict(group["data"].attrs)
        del group["data"]
        ds = group.create_dataset("data", data=data, chunks=(4000,), **hdf5plugin.Zstd())
        ds.attrs.update(attrs)

    _edit(path, compress)
    assert np.array_equal(read_site(path).sound("sound_01").spectrogram,
                          read_site(plain).sound("sound_01").spectrogram)
    # without the plugin: HDF5's error, named
    code = hdf5plugin.Zstd().filter_id
    available = h5py.h5z.filter_avail
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda c: False if c == code else available(c))
    from ndx_encoding_subspace.io import filters
    from ndx_encoding_subspace.io import open as opened

    monkeypatch.setattr(opened, "load_filter_plugins", lambda: False)
    with h5py.File(path, "r") as f:
        found = filters.missing_filter(f)
        assert found is not None and found[:2] == ("/stimulus/templates/sound_01/data", code)
        message = filters.missing_filter_message(f, "zstd.nwb")
    assert message.startswith("zstd.nwb: dataset /stimulus/templates/sound_01/data")
    assert "pip install hdf5plugin" in message


def _recording_begins_late(tmp_path, n_early: int, spikes_before: bool = False):
    """A site whose electrical recording (an acquired ElectricalSeries, as neuroconv writes
    it) begins after its first ``n_early`` presentations are over: no spike before it."""
    from pynwb.ecephys import ElectricalSeries

    site = mock_site(n_sounds=6, repeats=(1, 1, 1, 1, 1, 5), seed=3)
    starts = sorted(t for _, t in site.presentations)
    began = starts[n_early] - 0.1
    nwb = site.nwbfile
    group = nwb.create_electrode_group("shank0", description="shank", location="A1",
                                       device=nwb.create_device("probe"))
    for _ in range(2):
        nwb.add_electrode(group=group, location="A1")
    end = starts[-1] + 2.0
    nwb.add_acquisition(ElectricalSeries(
        name="ElectricalSeries", data=np.zeros((int((end - began) * 100), 2), "int16"), rate=100.0,
        electrodes=nwb.create_electrode_table_region([0, 1], "both"), starting_time=began))
    path = site.write(tmp_path / f"began{n_early}{'_excerpt' * spikes_before}.nwb")

    def edit(f):  # the spikes before the recording began are moved past its end
        times = f["units/spike_times"][:]
        f["units/spike_times"][:] = np.where(times < began, times + end, times)
    return (path if spikes_before else _edit(path, edit)), starts, began


def test_presentations_over_before_the_recording_began_are_left_out_with_a_warning(tmp_path):
    path, starts, began = _recording_begins_late(tmp_path, 3)
    said = rf"rows \[[\d, ]+\] end before the recording begins \({began:g} s.* left out \(3 of 10"
    with pytest.warns(UserWarning, match=said):
        site = read_site(path)
    assert sum(s.counts.shape[0] for s in site.sounds) == 7
    with h5py.File(path, "r") as f:
        times = f["units/spike_times"][:]
    assert sum(float(s.counts.sum()) for s in site.sounds) == sum(
        int(((times >= t) & (times < t + 0.5)).sum()) for t in starts[3:])
    assert "began-late-left-out" in site.source["rules"]  # results of earlier releases made again
    with pytest.raises(InvalidDataError, match="lie outside the recording .* share a clock"):
        read_site(_recording_begins_late(tmp_path, 6)[0])
    # spikes before the series began: an excerpt of the recording (or another clock), no start
    excerpt = read_site(_recording_begins_late(tmp_path, 3, spikes_before=True)[0])
    assert sum(s.counts.shape[0] for s in excerpt.sounds) == 10
    assert "began-late-left-out" not in excerpt.source.get("rules", [])


def _spikes_end_early(tmp_path, n_late: int):
    site = mock_site(n_sounds=6, repeats=(1, 1, 1, 1, 1, 5))
    path = site.write(tmp_path / f"late{n_late}.nwb")
    starts = sorted(t for _, t in site.presentations)
    cut = starts[-n_late] - 0.05

    def edit(f):
        times = f["units/spike_times"][:]
        f["units/spike_times"][:] = np.where(times > cut, times - cut, times)  # every spike before cut
    return _edit(path, edit), len(starts)


def test_a_few_presentations_after_the_last_spike_are_left_out_with_a_warning(tmp_path):
    path, n = _spikes_end_early(tmp_path, 1)
    said = r"rows \[\d+\] begin after the recording ends .* left out \(1 of 10"
    with pytest.warns(UserWarning, match=said):
        site = read_site(path)
    assert sum(s.counts.shape[0] for s in site.sounds) == n - 1
    many = int(np.ceil(TRAILING_SHARE * n)) + 1
    with pytest.raises(InvalidDataError, match="lie outside the recording .* share a clock"):
        read_site(_spikes_end_early(tmp_path, many)[0])


def test_a_pipe_is_named_as_one_not_as_a_folder(tmp_path, capsys):
    import os

    pipe = tmp_path / "stream.nwb"
    os.mkfifo(pipe)
    assert main(["inspect", str(pipe)]) != 0
    err = capsys.readouterr().err
    assert "not a regular file" in err and "folder" not in err and "Traceback" not in err


def test_presentations_and_spikes_in_milliseconds_are_refused_with_the_likely_cause(tmp_path, capsys):
    from pynwb.testing.mock.file import mock_NWBFile

    from ndx_encoding_subspace.testing.files import mock_sound_presentations, mock_spiking_units

    site = mock_site(n_sounds=6, n_units=3)
    nwb = mock_NWBFile()
    for name, wave in site.waveforms.items():
        nwb.add_stimulus_template(TimeSeries(name=name, data=wave, unit="Pa", rate=16000.0,
                                             starting_time=0.0))
    names = [n for n, _ in site.presentations]
    starts = np.array([t for _, t in site.presentations]) * 1000
    mock_sound_presentations(sounds=names, starts=starts, duration=500.0, nwbfile=nwb)
    spikes = [np.asarray(t) * 1000 for t in site.nwbfile.units["spike_times"][:]]
    spikes = [t[~np.any((t[:, None] >= starts) & (t[:, None] < starts + 1.0), axis=1)] for t in spikes]
    mock_spiking_units(spike_times=spikes, nwbfile=nwb)
    path = write_nwb(nwb, tmp_path / "ms.nwb")
    assert main(["inspect", str(path), "--ensemble.n_jackknife", "2"]) == InvalidDataError.exit_code
    said = capsys.readouterr()
    err = said.out + said.err
    assert "presentations lie a median of" in err and "units fire a median of" in err
    assert "in milliseconds? (NWB times are seconds)" in err


def test_a_reference_to_a_deleted_table_is_named(tmp_path, capsys):
    from pynwb.testing.mock.file import mock_NWBFile

    from ndx_encoding_subspace.errors import NotNWBError

    site = mock_site(n_sounds=6, n_units=3)
    nwb = mock_NWBFile()
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", description="shank", location="A1", device=device)
    for i in range(3):
        nwb.add_electrode(group=group, location="A1", x=0.0, y=20.0 * i, z=0.0)
    for i, times in enumerate(site.nwbfile.units["spike_times"][:]):
        nwb.add_unit(spike_times=times, electrodes=[i])
    path = write_nwb(nwb, tmp_path / "gone.nwb")
    _edit(path, lambda f: f.__delitem__("general/extracellular_ephys/electrodes"))
    with pytest.raises(NotNWBError, match=r"/units/electrodes refers \(attribute 'table'\) to an object"):
        read_site(path)


def test_a_microphone_without_a_start_beside_the_stimulus_is_not_needed(tmp_path):
    from ndx_sound import AcousticWaveformSeries

    site = mock_site(n_sounds=6, n_units=3)
    site.nwbfile.add_acquisition(AcousticWaveformSeries(name="microphone", data=np.zeros(16000),
                                                        rate=16000.0, starting_time=0.0))
    path = _edit(site.write(tmp_path / "mic.nwb"),
                 lambda f: f["acquisition/microphone/starting_time"].write_direct(np.array(np.nan)))
    assert read_site(path).source["layout"] == "templates"
