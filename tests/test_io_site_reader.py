"""read_site: counts, spectrograms, split and metadata against ground truth; bad input."""

from __future__ import annotations

import math
import shutil

import h5py
import numpy as np
import pytest

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams, minmax_scale, spectrogram
from ndx_encoding_subspace.errors import (
    ConfigError,
    InvalidDataError,
    NoSoundStimulusError,
    NotNWBError,
    NoUnitsError,
)
from ndx_encoding_subspace.io import ReaderParams, bin_counts, inspect_nwb, read_site
from ndx_encoding_subspace.io import samples as samples_module
from ndx_encoding_subspace.testing.files import mock_site, write_nwb


def _slow_counts(spikes, start, n_bins, bin_size):
    out = np.zeros((n_bins, len(spikes)))
    for u, times in enumerate(spikes):
        for t in times:
            b = math.floor((t - start) / bin_size)
            if 0 <= b < n_bins:
                out[b, u] += 1
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    site = mock_site(n_units=5, n_sounds=5, repeats=(1, 1, 1, 4, 3), waveforms=False, seed=3)
    path = site.write(tmp_path_factory.mktemp("site") / "sub-1_ses-a.nwb")
    return site, path


def test_counts_equal_slow_reference(written):
    truth, path = written
    site = read_site(path)
    assert site.name == "sub-1_ses-a" and site.bin_size == 0.01 and site.n_units == 5
    for sound in site.sounds:
        starts = [s for name, s in truth.presentations if name == sound.name]
        assert sound.n_repeats == len(starts) and sound.n_bins == 50
        for rep, start in enumerate(sorted(starts)):
            expected = _slow_counts(truth.spikes, start, sound.n_bins, 0.01)
            np.testing.assert_array_equal(sound.counts[rep], expected)
    total = sum(float(s.counts.sum()) for s in site.sounds)
    assert total > 100  # the test has spikes to count


def test_bin_counts_edges():
    times = [np.array([0.999999, 1.0, 1.0099999, 1.01, 1.5, 1.52]), np.array([0.5, 1.005])]
    counts = bin_counts(times, [1.0], 52, 0.01)
    for u in range(2):
        np.testing.assert_array_equal(counts[0, :, u], _slow_counts([times[u]], 1.0, 52, 0.01)[:, 0])
    assert counts[0, 0, 0] == 2 and counts[0, 1, 0] == 1 and counts[0, 50, 0] == 1


def test_spectrograms_once_per_sound_and_scaled_together(written, monkeypatch):
    truth, path = written
    calls = []

    def counting(wave, rate, params, *, name):
        calls.append(name)
        return spectrogram(wave, rate, params, name=name)

    monkeypatch.setattr(samples_module, "spectrogram", counting)
    params = SpectrogramParams(n_channels=16)
    site = read_site(path, spectrogram=params)
    assert sorted(calls) == sorted(truth.waveforms)  # 5 sounds, 10 presentations
    raw = [spectrogram(truth.waveforms[s.name], truth.rate, params) for s in site.sounds]
    for sound, expected in zip(site.sounds, minmax_scale(raw)):
        np.testing.assert_allclose(sound.spectrogram, expected, rtol=1e-6, atol=1e-6)
    assert site.n_frequencies == 16


def test_split_by_repeats_and_override(written):
    _, path = written
    site = read_site(path)
    repeats = {s.name: s.n_repeats for s in site.sounds}
    assert set(site.validation) == {n for n, r in repeats.items() if r >= 2} and len(site.validation) == 2
    assert set(site.estimation) == {n for n, r in repeats.items() if r == 1}
    assert site.source["split"] == "repeats"
    chosen = read_site(path, reader=ReaderParams(validation_sounds=("sound_00",)))
    assert chosen.validation == ("sound_00",) and "sound_03" in chosen.estimation
    strict = read_site(path, reader=ReaderParams(min_validation_repeats=4))
    assert strict.validation == ("sound_03",)
    most = max(repeats.values())
    with pytest.raises(ConfigError, match=rf"reader.min_validation_repeats = {most + 1}, but no sound of "
                                          rf".*is presented that often \(at most {most} times\)"):
        read_site(path, reader=ReaderParams(min_validation_repeats=most + 1))
    with pytest.raises(ConfigError, match="sound_99"):
        read_site(path, reader=ReaderParams(validation_sounds=("sound_99",)))


def test_split_when_every_sound_is_repeated(tmp_path):
    path = mock_site(n_sounds=5, repeats=(2, 2, 2, 2, 2), waveforms=False).write(tmp_path / "all.nwb")
    site = read_site(path)
    order = [s.name for s in site.sounds]
    assert site.validation == tuple(order[-1:]) and site.estimation == tuple(order[:-1])
    assert site.source["split"] == "last fraction"


def test_every_sound_repeated_the_most_repeated_are_the_validation_sounds(tmp_path):
    """Estimation sounds heard twice, two sounds eight times: those two are the validation
    sounds (said), whatever their place in the session."""
    path = mock_site(n_sounds=6, repeats=(8, 2, 2, 8, 2, 2), waveforms=False).write(tmp_path / "most.nwb")
    with pytest.warns(UserWarning, match="the 2 presented at least 2 times as often .'sound_00', 'sound_03'. "
                                         "are the validation sounds"):
        site = read_site(path)
    assert site.validation == ("sound_00", "sound_03") and site.source["split"] == "most repeats"
    assert "validation-most-repeated" in site.source["rules"]  # results made before: made again
    assert len(site.estimation) == 4
    # three times against twice: no sound stands out, the last fraction as before
    path = mock_site(n_sounds=5, repeats=(3, 2, 2, 2, 2), waveforms=False).write(tmp_path / "near.nwb")
    assert read_site(path).source["split"] == "last fraction"
    # most sounds the more repeated ones: no few stand out, the last fraction as before
    path = mock_site(n_sounds=4, repeats=(4, 4, 4, 2), waveforms=False).write(tmp_path / "many.nwb")
    assert read_site(path).source["split"] == "last fraction"


def test_unit_metadata_from_columns_and_electrodes(tmp_path):
    site = mock_site(waveforms=False)
    path = site.write(tmp_path / "depth.nwb")
    data = read_site(path)
    np.testing.assert_array_equal(data.units.depth_um, [100.0, 200.0, 300.0, 400.0])
    np.testing.assert_array_equal(data.units.ids, [0, 1, 2, 3])
    # no depth column: from the electrodes' rel_y and location
    bare = mock_site(waveforms=False, depth=False)
    nwb = bare.nwbfile
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank", "s", "A1", device)
    nwb.add_electrode_column("rel_y", "depth along the probe, um")
    for k in range(4):
        nwb.add_electrode(
            group=group,
            location="A1" if k < 2 else "PEG",
            rel_y=50.0 * k,
            x=0.0,
            y=0.0,
            z=0.0,
            imp=np.nan,
            filtering="none",
        )
    region = nwb.create_electrode_table_region([3, 2, 1, 0], "unit electrodes")
    nwb.units.add_column(
        "electrodes",
        "electrode of each unit",
        data=[[r] for r in region.data],
        table=nwb.electrodes,
        index=True,
    )
    data = read_site(write_nwb(nwb, tmp_path / "electrodes.nwb"))
    # rel_y grows toward the probe's top (probeinterface): depth down from the highest contact
    np.testing.assert_array_equal(data.units.depth_um, [0.0, 50.0, 100.0, 150.0])
    assert list(data.units.area) == ["PEG", "PEG", "A1", "A1"]


def test_units_without_spikes_are_dropped_or_rejected(tmp_path):
    site = mock_site(waveforms=False, n_units=3)
    site.nwbfile.add_unit(spike_times=[], depth=5.0)
    data = read_site(site.write(tmp_path / "one_empty.nwb"))
    assert data.n_units == 3 and data.source["dropped_units"] == [3]
    empty = mock_site(waveforms=False, n_units=2, firing_rate=0.0)
    path = empty.write(tmp_path / "silent.nwb")
    with pytest.raises(NoUnitsError, match=rf"{path}: none of the 2 units in units has spikes"):
        read_site(path)


def test_no_units_table(tmp_path):
    path = mock_site(waveforms=False).write(tmp_path / "nounits.nwb")
    with h5py.File(path, "r+") as f:
        del f["units"]
    with pytest.raises(NoUnitsError, match=rf"{path}: no Units table"):
        read_site(path)


def test_presentations_outside_the_recording(tmp_path):
    site = mock_site(waveforms=False)
    site.nwbfile.intervals["sound_presentations"].add_interval(
        start_time=1e5, stop_time=1e5 + 0.5, sound="sound_00"
    )
    path = site.write(tmp_path / "late.nwb")
    with pytest.raises(
        InvalidDataError,
        match=rf"{path}: intervals/sound_presentations rows \[8\] lie "
        "outside the recording",
    ):
        read_site(path)


def test_nan_in_sound(tmp_path):
    site = mock_site(waveforms=False)
    site.nwbfile.stimulus_template["sound_02"].data[100] = np.nan
    path = site.write(tmp_path / "nan.nwb")
    with pytest.raises(
        InvalidDataError, match=r"sound 'sound_02' \(stimulus/templates/sound_02\) holds 1 NaN"
    ):
        read_site(path)


def test_inf_in_waveforms(tmp_path):
    site = mock_site(waveforms=True)
    path = site.write(tmp_path / "inf.nwb")
    with h5py.File(path, "r+") as f:
        f["units/waveform_mean"][1, 5] = np.inf
    with pytest.raises(InvalidDataError, match=r"waveform_mean of units \[1\] holds NaN or inf"):
        read_site(path)
    data = read_site(path, reader=ReaderParams(use_waveforms=False))
    assert np.all(np.isnan(data.units.spike_width_ms))


def test_missing_sample_rate(tmp_path):
    site = mock_site(waveforms=False)
    path = site.write(tmp_path / "norate.nwb")
    with h5py.File(path, "r+") as f:
        del f["stimulus/templates/sound_01/starting_time"]
    with pytest.raises(InvalidDataError, match=rf"{path}: stimulus/templates/sound_01 has no sample rate"):
        read_site(path)
    # timestamps that are not regular give no sample rate either
    site = mock_site(waveforms=False)
    from pynwb import TimeSeries

    for name in ("sound_01", "sound_02"):
        series = site.nwbfile.stimulus_template[name]
        stamps = np.cumsum(np.random.default_rng(0).uniform(0.5, 1.5, series.data.shape[0])) / 16000.0
        site.nwbfile.stimulus_template.pop(name)
        site.nwbfile.add_stimulus_template(TimeSeries(name=name, data=series.data, unit="Pa",
                                                      timestamps=stamps))
    path = site.write(tmp_path / "irregular.nwb")
    with pytest.raises(InvalidDataError,  # every one named, not the first alone
                       match=rf"{path}: 2 sounds 'sound_0[12]' .*, 'sound_0[12]' .* have no sample rate"):
        read_site(path)
    report = inspect_nwb(path)
    assert [s["rate"] for s in report.sounds if s["name"] in ("sound_01", "sound_02")] == [None, None]


def test_truncated_not_hdf5_not_nwb_missing(tmp_path, written):
    _, good = written
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(NotNWBError, match=rf"{truncated}: truncated HDF5 file"):
        read_site(truncated)
    text = tmp_path / "text.nwb"
    text.write_text("not hdf5 at all")
    with pytest.raises(NotNWBError, match=rf"{text}: not an HDF5 file"):
        read_site(text)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(NotNWBError, match=rf"{plain}: an HDF5 file but not an NWB file .*data"):
        inspect_nwb(plain)
    with pytest.raises(NotNWBError, match="missing.nwb: file not found"):
        read_site(tmp_path / "missing.nwb")


def test_inspect_reports_layout(written):
    truth, path = written
    report = inspect_nwb(path, check=True)
    assert report.usable and report.units[0]["units"] == 5
    assert report.use["table"] == "intervals/sound_presentations" and report.use["sounds_presented"] == 5
    assert report.site["validation_sounds"] == 2
    text = report.format()
    assert "usable: yes" in text and "5 units" in text
    assert report.to_dict()["source"] == str(path)


def test_real_files_have_units_but_no_sound(real_nwb_files, tmp_path):
    for path in real_nwb_files:
        report = inspect_nwb(path)
        print(f"{path.name}: {report.units[0]['units']} unit(s)")
        assert report.units and report.units[0]["units"] >= 1 and report.units[0]["spikes"] > 0
        assert not report.usable and "no sound stimulus" in report.problems[0]
        assert "no sound stimulus" in report.format()
        with pytest.raises(NoSoundStimulusError, match=rf"{path}: no sound stimulus"):
            read_site(path)
    copy = tmp_path / "truncated.nwb"
    shutil.copyfile(real_nwb_files[0], copy)
    with open(copy, "r+b") as f:
        f.truncate(copy.stat().st_size // 3)
    with pytest.raises(NotNWBError, match="truncated"):
        inspect_nwb(copy)


def test_spike_width_and_class_from_waveforms(tmp_path):
    from ndx_encoding_subspace.data.celltype import CellTypeParams

    path = mock_site(waveforms=True, n_units=4).write(tmp_path / "waves.nwb")
    data = read_site(path)
    # even units: trough-to-peak 0.25 ms, odd units: 0.6 ms (testing.files.mock_spiking_units)
    np.testing.assert_allclose(data.units.spike_width_ms, [0.25, 0.6, 0.25, 0.6], atol=0.04)
    assert list(data.units.cell_type) == ["narrow", "regular", "narrow", "regular"]
    wide = read_site(path, celltype=CellTypeParams(narrow_threshold_ms=0.7))
    assert set(wide.units.cell_type) == {"narrow"}


def test_reads_the_standard_writer_layout(tmp_path):
    from ndx_encoding_subspace.data.recording import write_recording

    rng = np.random.default_rng(1)
    t = np.arange(8000) / 16000.0
    sounds = {f"s{i}": (np.sin(2 * np.pi * 300.0 * (i + 1) * t), 16000.0) for i in range(3)}
    pres = [(1.0, 1.5, "s0"), (2.0, 2.5, "s1"), (3.0, 3.5, "s2"), (4.0, 4.5, "s2")]
    spikes = [np.sort(rng.uniform(0, 6, 200)) for _ in range(3)]
    path = write_recording(
        tmp_path / "standard.nwb",
        sounds=sounds,
        presentations=pres,
        spike_times=spikes,
        depths=[100.0, 200.0, 300.0],
        areas=["A1", "A1", "PEG"],
    )
    site = read_site(path)  # its table has a 'sound' and a 'timeseries' column: names are used
    assert (site.source["table"], site.source["column"]) == ("intervals/sound_presentations", "sound")
    assert site.validation == ("s2",) and list(site.units.area) == ["A1", "A1", "PEG"]
    for start, _, name in pres:
        rep = [p[0] for p in pres if p[2] == name].index(start)
        np.testing.assert_array_equal(site.sound(name).counts[rep], _slow_counts(spikes, start, 50, 0.01))


def test_when_every_sound_is_repeated_the_validation_sounds_chosen_are_named(tmp_path):
    import warnings

    from ndx_encoding_subspace.testing.files import mock_site, write_nwb

    path = write_nwb(mock_site(n_units=2, n_sounds=5, repeats=(3, 3, 3, 3, 3), seed=2).nwbfile,
                     tmp_path / "repeated.nwb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site = read_site(path)
    said = [str(w.message) for w in caught if "every sound is presented" in str(w.message)]
    assert len(said) == 1 and "the last 1 in presentation order are the validation sounds" in said[0]
    assert repr(site.validation[0]) in said[0] and "--reader.validation_sounds" in said[0]
    assert site.summary()["validation_repeats"] == site.summary()["validation_repeats_max"] == 3


def test_channels_above_the_sounds_nyquist_are_silent_after_scaling(tmp_path):
    """16 kHz sounds: every channel centred above 8 kHz is 0 in the scaled spectrogram (not
    the top band's skirt stretched to [0, 1]); a band wholly above Nyquist is refused."""
    from ndx_encoding_subspace.data.spectrogram import filterbank_frequencies

    path = mock_site(n_sounds=4, repeats=(1, 1, 1, 3), rate=16000.0).write(tmp_path / "slow.nwb")
    with pytest.warns(UserWarning, match="sampled at 16000 Hz: their 7 spectrogram channel.s. above 8000 Hz"):
        site = read_site(path)
    above = filterbank_frequencies() > 8000
    every = np.concatenate([s.spectrogram for s in site.sounds])
    assert np.all(every[:, above] == 0) and np.all(every[:, ~above].max(axis=0) == 1)
    assert "above-nyquist-silent" in site.source["rules"]
    with pytest.raises(InvalidDataError, match=r"slow.nwb: sound '.*' \(.*\) is sampled at 16000 Hz: every "
                                               r"spectrogram channel \(from 9000 Hz"):
        read_site(path, spectrogram=SpectrogramParams(min_frequency=9000.0))
