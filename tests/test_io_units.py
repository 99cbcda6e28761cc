"""Units tables as real files carry them: sorter properties, depth from electrodes, waveform shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pynwb import NWBHDF5IO
from pynwb.misc import Units
from pynwb.testing.mock.file import mock_NWBFile

from ndx_encoding_subspace.errors import ConfigError, InvalidDataError, NoSoundStimulusError
from ndx_encoding_subspace.io.reader_params import ReaderParams
from ndx_encoding_subspace.io.units import read_units
from ndx_encoding_subspace.testing.files import write_nwb

RATE = 30000.0
TIMES = [[0.1, 0.2, 0.3], [0.15, 0.25], [0.5, 0.6, 0.7, 0.8]]


def _spike(width_ms: float, n: int = 60, amplitude: float = 1.0) -> np.ndarray:
    """Trough at 0.5 ms, peak ``width_ms`` later (as the simulated units)."""
    t = np.arange(n) / RATE
    trough, peak = 0.5e-3, 0.5e-3 + width_ms * 1e-3
    return amplitude * (-np.exp(-(((t - trough) / 1e-4) ** 2)) + 0.4 * np.exp(-(((t - peak) / 2e-4) ** 2)))


def _probe(nwb, n: int = 8, *, column: str = "rel_y", values=None, groups: int = 1) -> list:
    device = nwb.create_device("probe")
    made = [nwb.create_electrode_group(f"shank{g}", "shank", f"A{g + 1}", device) for g in range(groups)]
    nwb.add_electrode_column(column, "position along the probe, um")
    values = np.arange(n) * 20.0 if values is None else values
    for i in range(n):
        g = i * groups // n
        nwb.add_electrode(group=made[g], location=f"A{g + 1}", **{column: values[i]})
    return made


def _sorter_units(nwb, electrodes: list[list[int]], waves: list | None = None, *,
                  rate: float | None = RATE) -> Units:
    """A Units table as spikeinterface / neuroconv write it."""
    units = Units(name="units", description="sorted units", waveform_rate=rate if waves else None,
                  electrode_table=nwb.electrodes)
    for col, text in [("unit_name", "sorter id"), ("quality", "curation"), ("KSLabel", "Kilosort label"),
                      ("amp", "amplitude, uV")]:
        units.add_column(col, text)
    units.add_column("spike_amplitudes", "amplitude of each spike", index=True)
    for k, times in enumerate(TIMES):
        row = {"spike_times": times, "electrodes": electrodes[k], "unit_name": f"u{k:02d}",
               "quality": ["good", "mua", "good"][k], "KSLabel": ["good", "mua", "good"][k],
               "amp": 50.0 + k, "spike_amplitudes": np.ones(len(times))}
        if waves is not None:
            row["waveform_mean"] = waves[k]
        units.add_unit(**row)
    nwb.units = units
    return units


def _read(nwb, tmp_path, **params):
    path = write_nwb(nwb, tmp_path / "units.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        read = io.read()
        return read_units(read.units, "units.nwb", "units", ReaderParams(**params))


def test_sorter_properties_are_carried_and_depth_is_the_largest_channel(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb)
    # (units, time, channels): each unit's largest channel is its second electrode
    waves = []
    for k in range(3):
        w = np.stack([_spike(0.25 if k != 1 else 0.6, amplitude=a) for a in (0.3, 1.0, 0.5)], axis=1)
        waves.append(w)
    _sorter_units(nwb, [[0, 1, 2], [3, 4, 5], [5, 6, 7]], waves)
    spikes = _read(nwb, tmp_path)
    assert list(spikes.properties) == ["unit_name", "quality", "KSLabel", "amp"]
    assert list(spikes.properties["unit_name"]) == ["u00", "u01", "u02"]
    assert list(spikes.properties["KSLabel"]) == ["good", "mua", "good"]
    np.testing.assert_array_equal(spikes.properties["amp"], [50.0, 51.0, 52.0])
    # rel_y grows toward the probe's top (probeinterface): depth down from the highest contact (140)
    np.testing.assert_array_equal(spikes.info.depth_um, [120.0, 60.0, 20.0])
    assert list(spikes.info.area) == ["A1", "A1", "A1"]
    np.testing.assert_allclose(spikes.info.spike_width_ms, [0.25, 0.6, 0.25], atol=0.05)
    assert list(spikes.info.cell_type) == ["narrow", "regular", "narrow"]
    notes = " | ".join(spikes.notes)
    assert "depth from the electrodes' 'rel_y' at the units' electrodes" in notes
    assert "not carried: spike_amplitudes" in notes


def test_kept_units_keep_their_properties(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb)
    _sorter_units(nwb, [[0], [1], [2]])
    spikes = _read(nwb, tmp_path, min_spikes=3)
    assert spikes.dropped == (1,)
    assert list(spikes.properties["unit_name"]) == ["u00", "u02"]
    np.testing.assert_array_equal(spikes.info.depth_um, [140.0, 100.0])
    assert any("no waveform_mean" in n for n in spikes.notes)


def test_several_electrodes_without_waveforms_give_their_mean_depth(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb, column="y")
    _sorter_units(nwb, [[0, 1, 2, 3], [4], [6, 7]])
    spikes = _read(nwb, tmp_path)
    np.testing.assert_array_equal(spikes.info.depth_um, [30.0, 80.0, 130.0])
    assert any("'y'" in n for n in spikes.notes)


def test_max_channel_column_and_placeholder_positions(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb, column="y")
    nwb.add_unit_column("max_channel", "electrode with the largest template")
    for k, times in enumerate(TIMES):
        nwb.add_unit(spike_times=times, max_channel=[7, 2, 99][k])  # 99: not an electrode
    spikes = _read(nwb, tmp_path)
    np.testing.assert_array_equal(spikes.info.depth_um, [140.0, 40.0, np.nan])
    notes = " | ".join(spikes.notes)
    assert "units column 'max_channel'" in notes and "depth unknown for 1 of 3 units" in notes
    np.testing.assert_array_equal(spikes.properties["max_channel"], [7, 2, 99])

    placeholder = mock_NWBFile()
    _probe(placeholder, column="y", values=np.zeros(8))
    _sorter_units(placeholder, [[0], [1], [2]])
    spikes = _read(placeholder, tmp_path)
    assert np.all(np.isnan(spikes.info.depth_um))
    assert any("electrode positions are all 0 or absent" in n for n in spikes.notes)


def test_depth_and_area_from_the_electrode_group(tmp_path):
    nwb = mock_NWBFile()
    # shank0: electrodes 0-3 all at 500 um; shank1: electrodes 4-7 at 100..400 um
    groups = _probe(nwb, values=[500.0] * 4 + [100.0, 200.0, 300.0, 400.0], groups=2)
    for k, times in enumerate(TIMES):
        nwb.add_unit(spike_times=times, electrode_group=groups[[0, 1, 0][k]])
    spikes = _read(nwb, tmp_path)
    np.testing.assert_array_equal(spikes.info.depth_um, [0.0, np.nan, 0.0])  # down from the top contact
    assert list(spikes.info.area) == ["A1", "A2", "A1"]
    assert list(spikes.properties["electrode_group"]) == ["shank0", "shank1", "shank0"]
    assert any("of each unit's electrode_group" in n for n in spikes.notes)
    from ndx_encoding_subspace.io.notes import unit_notes

    (said,) = unit_notes(spikes, ReaderParams())
    assert said.startswith("units lie in 2 areas (A1: 2, A2: 1): the site's analyses")
    from ndx_encoding_subspace.io.notes import _area

    # layers of one area, and placeholders, are no other area
    assert [_area(a) for a in ("AUDp4", "AUDp5", "VISp2/3", "A1 L5", "CA1", "CA3", "nan", "L4")] == [
        "AUDp", "AUDp", "VISp", "A1", "CA1", "CA3", "", ""]


def test_depth_from_y_or_rel_y_growing_with_depth_and_never_from_z(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb, column="rel_y")
    _sorter_units(nwb, [[1], [2], [3]])
    spikes = _read(nwb, tmp_path, rel_y_direction="down")
    np.testing.assert_array_equal(spikes.info.depth_um, [20.0, 40.0, 60.0])
    assert any("'rel_y' at the units' electrodes (growing with depth)" in n for n in spikes.notes)
    brain = mock_NWBFile()
    _probe(brain, column="y")  # NWB's +y is inferior: deeper
    _sorter_units(brain, [[1], [2], [3]])
    np.testing.assert_array_equal(_read(brain, tmp_path).info.depth_um, [20.0, 40.0, 60.0])
    lateral = mock_NWBFile()
    _probe(lateral, column="z")  # left to right: no depth
    _sorter_units(lateral, [[1], [2], [3]])
    assert np.isnan(_read(lateral, tmp_path).info.depth_um).all()
    with pytest.raises(ConfigError, match="reader.rel_y_direction"):
        ReaderParams(rel_y_direction="sideways")


def test_depth_column_comes_first_and_gaps_are_filled(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb)
    units = _sorter_units(nwb, [[1], [2], [3]])
    units.add_column("depth", "um", data=[900.0, np.nan, 700.0])
    spikes = _read(nwb, tmp_path)
    np.testing.assert_array_equal(spikes.info.depth_um, [900.0, 100.0, 700.0])


def test_depth_written_as_text_with_its_unit_is_read_in_um(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb)
    units = _sorter_units(nwb, [[1], [2], [3]])
    units.add_column("depth", "depth", data=["0.35 mm", "450 um", "deep"])
    spikes = _read(nwb, tmp_path)
    np.testing.assert_array_equal(spikes.info.depth_um, [350.0, 450.0, 80.0])  # the last: its electrode
    assert any("read from text" in n for n in spikes.notes)


def test_one_dimensional_waveforms(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb)
    _sorter_units(nwb, [[0], [1], [2]], [_spike(w) for w in (0.25, 0.6, 0.7)])
    spikes = _read(nwb, tmp_path)
    np.testing.assert_allclose(spikes.info.spike_width_ms, [0.25, 0.6, 0.7], atol=0.05)


def test_ragged_waveforms_written_channels_first(tmp_path):
    """An indexed waveform_mean: each unit's rows are its channels (2, 1 and 3 of them)."""
    nwb = mock_NWBFile()
    _probe(nwb)
    electrodes = [[0, 1], [4], [5, 6, 7]]
    waves = [
        np.stack([_spike(0.25, amplitude=0.2), _spike(0.25)]),
        _spike(0.6)[None],
        np.stack([_spike(0.6, amplitude=a) for a in (1.0, 0.4, 0.2)]),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # hdmf: waveform_mean is not indexed by the spec
        nwb.units = Units(name="units", description="sparse templates", waveform_rate=RATE,
                          electrode_table=nwb.electrodes)
        nwb.units.add_column("waveform_mean", "mean waveform on the unit's channels", index=True)
    for k, times in enumerate(TIMES):
        nwb.add_unit(spike_times=times, electrodes=electrodes[k], waveform_mean=waves[k])
    spikes = _read(nwb, tmp_path)
    np.testing.assert_allclose(spikes.info.spike_width_ms, [0.25, 0.6, 0.6], atol=0.05)
    np.testing.assert_array_equal(spikes.info.depth_um, [120.0, 60.0, 40.0])  # largest channels, from the top


def test_in_memory_ragged_list_and_nan_padding():
    """Waveforms of different shapes in memory; all-NaN channels are padding, left out."""
    nwb = mock_NWBFile()
    _probe(nwb)
    padded = np.stack([_spike(0.6), np.full(60, np.nan)], axis=1)
    units = Units(name="units", description="x", waveform_rate=RATE)
    for times in TIMES:
        units.add_unit(spike_times=times)
    units.add_column("waveform_mean", "mean waveform", data=[_spike(0.25), padded, np.full(60, np.nan)])
    spikes = read_units(units, "mem", "units")
    np.testing.assert_allclose(spikes.info.spike_width_ms[:2], [0.25, 0.6], atol=0.05)
    assert np.isnan(spikes.info.spike_width_ms[2]) and spikes.info.cell_type[2] == ""
    assert any("no waveform (all NaN) for units [2]" in n for n in spikes.notes)


def test_inf_or_partial_nan_in_waveforms_names_the_units(tmp_path):
    nwb = mock_NWBFile()
    _probe(nwb)
    bad = _spike(0.6)
    bad[10] = np.nan
    _sorter_units(nwb, [[0], [1], [2]], [_spike(0.25), bad, _spike(0.6)])
    with pytest.raises(InvalidDataError, match=r"units\.nwb: units waveform_mean of units \[1\] holds NaN"):
        _read(nwb, tmp_path)
    spikes = _read(nwb, tmp_path, use_waveforms=False)
    assert np.all(np.isnan(spikes.info.spike_width_ms))
    assert any("reader.use_waveforms = false" in n for n in spikes.notes)


def test_real_files_units_and_what_is_missing(real_nwb_files):
    """Economo et al. 2018: one unit each, depth column, the lab's cell type, 64 electrodes."""
    from ndx_encoding_subspace.io import read_site

    expected = {"dandicli_sub-anm369963_ses-20170228.nwb": (780.0, "Excellent", "PTlower"),
                "dandicli_sub-anm372793_ses-20170508.nwb": (755.0, "Good", "PTupper")}
    for path in real_nwb_files:
        with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            nwb = io.read()
            assert len(nwb.electrodes) == 64
            spikes = read_units(nwb.units, path.name, "units")
        assert len(spikes.times) == 1 and len(spikes.times[0]) > 100
        assert np.all(np.diff(spikes.times[0]) >= 0)
        assert list(spikes.info.ids) == [1001]
        if path.name in expected:
            depth, quality, cell_type = expected[path.name]
            assert spikes.info.depth_um[0] == depth
            assert spikes.properties["quality"][0] == quality
            assert spikes.properties["cell_type"][0] == cell_type  # the lab's label, kept as it is
        assert spikes.info.area[0].startswith("brain_region: ALM")
        assert np.isnan(spikes.info.spike_width_ms[0]) and spikes.info.cell_type[0] == ""
        notes = " | ".join(spikes.notes)
        assert "depth from units column 'depth'" in notes
        assert "units has no waveform_mean: spike width and cell class unknown" in notes
        with pytest.raises(NoSoundStimulusError) as err:
            read_site(path)
        message = str(err.value)
        assert path.name in message and "no sound stimulus" in message
        assert "no presentation table has stimulus-parameter columns" in message


def test_waveforms_without_waveform_rate_are_a_note(tmp_path):
    """neuroconv's deprecated waveform_means path writes waveform_mean without waveform_rate."""
    nwb = mock_NWBFile()
    _probe(nwb)
    waves = [np.stack([_spike(0.25, amplitude=a) for a in amps], axis=1)
             for amps in [(0.3, 1.0, 0.5), (1.0, 0.2, 0.1), (0.1, 0.2, 1.0)]]
    _sorter_units(nwb, [[0, 1, 2], [3, 4, 5], [5, 6, 7]], waves, rate=None)
    spikes = _read(nwb, tmp_path)
    assert np.all(np.isnan(spikes.info.spike_width_ms)) and list(spikes.info.cell_type) == ["", "", ""]
    assert any("units has waveform_mean but no waveform_rate: spike width unknown" in n for n in spikes.notes)
    np.testing.assert_array_equal(spikes.info.depth_um, [120.0, 80.0, 0.0])  # largest channel still used


def test_a_waveform_rate_that_is_no_rate_is_refused():
    nwb = mock_NWBFile()
    _probe(nwb)
    units = _sorter_units(nwb, [[0], [1], [2]], [_spike(0.25), _spike(0.6), _spike(0.6)], rate=-30000.0)
    with pytest.raises(InvalidDataError, match=r"mem: units waveform_rate = -30000\.0 is not a positive"):
        read_units(units, "mem", "units")


def test_units_chosen_by_a_curation_label_spikeinterface_writes(tmp_path):
    """A sorting's text ``quality`` labels, written by neuroconv's add_sorting_to_nwbfile: the
    reader warns that noise and multi-unit units are fitted, and ``column=value`` keeps the
    units labelled so, with the same counts as before."""
    from ndx_encoding_subspace.errors import InputError
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.testing.layouts import series_per_presentation

    site = series_per_presentation(path=tmp_path / "curated.nwb", n_units=4, n_once=2, n_repeated=1,
                                   quality=["good", "noise", "MUA", "good"])
    with pytest.warns(UserWarning, match=r"column 'quality' labels units 1 'mua', 1 'noise'; they are "
                                         r"fitted with the others .*unit_column quality=good"):
        every = read_site(site.path)
    assert len(every.units.ids) == 4
    good = read_site(site.path, reader=ReaderParams(unit_column="quality=good"))
    assert good.units.ids.tolist() == [int(every.units.ids[0]), int(every.units.ids[3])]
    for a, b in zip(every.sounds, good.sounds, strict=True):
        np.testing.assert_array_equal(b.counts, a.counts[:, :, [0, 3]])
    notes = good.source["units_notes"]
    assert any("2 units left out by reader.unit_column 'quality=good'" in n for n in notes)
    both = read_site(site.path, reader=ReaderParams(unit_column=" quality = Good, mua"))
    assert len(both.units.ids) == 3
    with pytest.raises(InputError, match=r"curated.nwb.*column 'quality'.*true/false.*quality=good"):
        read_site(site.path, reader=ReaderParams(unit_column="quality"))
    for malformed in ("quality=", "=good", "quality= , "):
        with pytest.raises(ConfigError, match="reader.unit_column: .* is neither a column name nor"):
            ReaderParams(unit_column=malformed)
    with pytest.raises(InputError, match=r"curated.nwb: no unit of units has quality 'single' "
                                         r"\(reader.unit_column\); its values: 'good', 'mua', 'noise'"):
        read_site(site.path, reader=ReaderParams(unit_column="quality=single"))


def test_single_precision_spike_times_hours_into_a_session_are_said(tmp_path):
    """Spike times stored as float32 (as MatNWB's single() or a hand-made file stores them)
    5.5 h into the session are rounded to 2 ms: said; early in a session they are not."""
    import h5py

    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.testing.files import mock_site

    def single(path, shift):
        with h5py.File(path, "a") as f:
            for name in ("start_time", "stop_time"):
                f[f"intervals/sound_presentations/{name}"][:] += shift
            data, attrs = f["units/spike_times"][:] + shift, dict(f["units/spike_times"].attrs)
            del f["units/spike_times"]
            stored = f["units"].create_dataset("spike_times", data=data.astype(np.float32))
            stored.attrs.update(attrs)
            f["units/spike_times_index"].attrs["target"] = stored.ref
        return path

    late = single(mock_site(seed=2).write(tmp_path / "late.nwb"), 20_000.0)
    with pytest.warns(UserWarning, match=r"late.nwb: units spike_times are stored in single precision "
                                         r"\(float32\): at 2\d{4} s they are rounded to 2 ms"):
        read_site(late)
    early = single(mock_site(seed=2).write(tmp_path / "early.nwb"), 0.0)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        read_site(early)
    assert not any("single precision" in str(w.message) for w in said)


def test_electrodes_beyond_the_electrodes_table_are_refused(tmp_path):
    import h5py

    nwb = mock_NWBFile()
    _probe(nwb, n=4)
    _sorter_units(nwb, [[0], [1], [2, 3]])
    path = write_nwb(nwb, tmp_path / "units.nwb")
    with h5py.File(path, "a") as f:
        f["units/electrodes"][1] = 99  # unit 1's electrode
    with NWBHDF5IO(str(path), "r") as io:
        read = io.read()
        with pytest.raises(InvalidDataError, match=r"units.nwb: the electrodes of units 1 in units name rows "
                                                   r"such as 99 that the electrodes table \(4 rows\)"):
            read_units(read.units, "units.nwb", "units", ReaderParams())


def test_true_false_columns_stored_as_text_or_floats_choose_units():
    """A flag written as the text "True"/"False" (from pandas or a text file), or as 0/1
    floats with NaN for unknown (an integer column holding NaN) chooses units as a boolean
    column does; 1.0 is the value 1; a column of other values is refused naming its values."""
    from ndx_encoding_subspace.errors import InputError
    from ndx_encoding_subspace.io.unit_choice import chosen_units

    nwb = mock_NWBFile()
    for column in ("is_good", "is_valid", "amplitude"):
        nwb.add_unit_column(column, "a unit's curation")
    flags = (["True", "False", " yes", "no"], [1.0, 0.0, 1.0, np.nan], [12.5, 3.0, 7.0, 9.0])
    for good, valid, amp in zip(*flags, strict=True):
        nwb.add_unit(spike_times=[0.5, 1.0], is_good=good, is_valid=valid, amplitude=amp)
    units = nwb.units
    assert chosen_units(units, 4, "f.nwb", "units", "is_good").tolist() == [True, False, True, False]
    assert chosen_units(units, 4, "f.nwb", "units", "is_valid").tolist() == [True, False, True, False]
    assert chosen_units(units, 4, "f.nwb", "units", "is_valid=1").tolist() == [True, False, True, False]
    assert chosen_units(units, 4, "f.nwb", "units", "is_valid=1.0").tolist() == [True, False, True, False]
    with pytest.raises(InputError, match=r"f.nwb: column 'amplitude' of units .*e\.g\. amplitude=12\.5, "
                                         r"amplitude=3, amplitude=7"):
        chosen_units(units, 4, "f.nwb", "units", "amplitude")


def test_a_units_table_of_labels_only_beside_the_sorting_is_passed_over(tmp_path):
    """A second Units table without spike times (curation labels only) cannot be the one read;
    a second one with spikes makes the choice the user's."""
    from ndx_encoding_subspace.errors import AmbiguousInputError
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.testing.layouts import series_per_presentation

    path = series_per_presentation(path=tmp_path / "two.nwb", n_units=3, n_once=2, n_repeated=1).path
    with NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        labels = Units(name="unit_labels", description="curation only")
        labels.add_column("quality", "label")
        for q in ("good", "mua", "good"):
            labels.add_row(quality=q)
        nwb.create_processing_module("ecephys", "sorting").add(labels)
        io.write(nwb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        site = read_site(path)
        assert len(site.units.ids) == 3 and site.source["units"] == "units"
        with NWBHDF5IO(str(path), "a") as io:
            nwb = io.read()
            other = Units(name="other_sorting", description="another sorter")
            other.add_unit(spike_times=[1.0, 2.0])
            nwb.processing["ecephys"].add(other)
            io.write(nwb)
        with pytest.raises(AmbiguousInputError, match=r"several Units tables: .*other_sorting.*reader.units"):
            read_site(path)


def _kilosort_folder(folder, ypos: np.ndarray, best: list[int]) -> None:
    """A Kilosort/Phy output folder whose cluster ``c`` lies on channel ``best[c]``; Phy's
    ``depth`` of a cluster is the y of its channel, growing from the probe's tip up."""
    fs, rng = 30000.0, np.random.default_rng(0)
    folder.mkdir()
    np.save(folder / "channel_positions.npy", np.stack([np.zeros(len(ypos)), ypos], 1))
    np.save(folder / "channel_map.npy", np.arange(len(ypos)))
    trains = [np.sort(rng.integers(0, int(10 * fs), 50)) for _ in best]
    times = np.concatenate(trains)
    ids = np.concatenate([np.full(len(t), c) for c, t in enumerate(trains)])
    order = np.argsort(times, kind="stable")
    np.save(folder / "spike_times.npy", times[order].astype(np.uint64))
    np.save(folder / "spike_clusters.npy", ids[order].astype(np.int32))
    (folder / "params.py").write_text(f"dat_path='x.bin'\nn_channels_dat={len(ypos)}\ndtype='int16'\n"
                                      f"offset=0\nsample_rate={fs}\nhp_filtered=True\n")
    (folder / "cluster_info.tsv").write_text("cluster_id\tch\tdepth\tKSLabel\n" + "".join(
        f"{c}\t{b}\t{ypos[b]}\tgood\n" for c, b in enumerate(best)))


@pytest.mark.parametrize("direction", ["up", "down"])
def test_kilosort_depth_as_neuroconv_writes_it_is_measured_down_from_the_top(tmp_path, direction):
    """neuroconv's KiloSortSortingInterface copies Phy's cluster ``depth`` (the position along the
    probe from its tip) into a units ``depth`` column: read as depth below the highest contact (the
    electrodes' rel_y where the file has them, else the highest unit), as rel_y is read."""
    from neuroconv.datainterfaces import KiloSortSortingInterface

    ypos = 25.0 * np.arange(8)  # channel 0 at the tip
    _kilosort_folder(tmp_path / "ks", ypos, best=[0, 3, 6])
    interface = KiloSortSortingInterface(folder_path=str(tmp_path / "ks"))
    nwb = mock_NWBFile()
    interface.add_to_nwbfile(nwb, metadata=interface.get_metadata())
    spikes = read_units(nwb.units, "ks.nwb", "units", ReaderParams(rel_y_direction=direction))
    want = [150.0, 75.0, 0.0] if direction == "up" else [0.0, 75.0, 150.0]
    np.testing.assert_allclose(spikes.info.depth_um, want)
    if direction == "up":
        assert any("growing toward its top" in n and "highest unit" in n for n in spikes.notes)
        _probe(nwb)  # contacts with rel_y: the highest contact is the top
        top = float(np.max(nwb.electrodes["rel_y"].data[:]))
        spikes = read_units(nwb.units, "ks.nwb", "units")
        np.testing.assert_allclose(spikes.info.depth_um, top - ypos[[0, 3, 6]])
