"""The reader finds units, sounds and presentations in every supported layout."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries
from pynwb.epoch import TimeIntervals

from ndx_encoding_subspace.errors import (
    AmbiguousInputError,
    ConfigError,
    InvalidDataError,
    NoSoundStimulusError,
    NoUnitsError,
)
from ndx_encoding_subspace.io import ReaderParams, locate, open_nwb
from ndx_encoding_subspace.io.inventory import SoundSeries
from ndx_encoding_subspace.io.tracks import fixed_segments
from ndx_encoding_subspace.testing.files import mock_site


def _layout(site, tmp_path, params=None):
    path = site.write(tmp_path / "site.nwb")
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name, params or ReaderParams())
        return layout, [(p.sound, round(p.start, 9)) for p in layout.presentations]


def _truth(site):
    return [(name, round(start, 9)) for name, start in site.presentations]


@pytest.mark.parametrize(
    ("kwargs", "table", "column"),
    [
        ({}, "intervals/sound_presentations", "sound"),
        ({"table": "trials"}, "intervals/trials", "sound"),
        ({"column": "stimulus"}, "intervals/sound_presentations", "stimulus"),
        ({"column": "stim_name"}, "intervals/sound_presentations", "stim_name"),
        ({"column": "timeseries"}, "intervals/sound_presentations", "timeseries"),
    ],
)
def test_templates_layouts(tmp_path, kwargs, table, column):
    site = mock_site(waveforms=False, **kwargs)
    layout, found = _layout(site, tmp_path)
    assert layout.kind == "templates"
    assert (layout.table, layout.column) == (table, column)
    assert sorted(found) == sorted(_truth(site))
    assert all(p.first_sample == 0 and p.n_samples == 8000 for p in layout.presentations)


@pytest.mark.parametrize("layout", ["templates", "continuous"])
def test_acoustic_waveform_series(tmp_path, layout):
    site = mock_site(layout=layout, waveforms=False, sound_type="AcousticWaveformSeries")
    found_layout, found = _layout(site, tmp_path)
    assert found_layout.kind == layout
    assert {s.neurodata_type for s in found_layout.sounds} == {"AcousticWaveformSeries"}
    assert sorted(found) == sorted(_truth(site))


@pytest.mark.parametrize("column", ["sound", "timeseries"])
def test_continuous_with_segments(tmp_path, column):
    site = mock_site(layout="continuous", waveforms=False, column=column)
    layout, found = _layout(site, tmp_path)
    assert layout.kind == "continuous"
    assert [s.path for s in layout.sounds] == ["stimulus/presentation/sound"]
    for pres, (name, start) in zip(sorted(layout.presentations, key=lambda p: p.start), site.presentations):
        assert pres.first_sample == int(round(start * site.rate))
        assert pres.n_samples == int(round(0.5 * site.rate))
        if column == "sound":
            assert pres.sound == name
    assert len(found) == len(site.presentations)


def test_continuous_cut_into_segments(tmp_path):
    site = mock_site(layout="continuous", waveforms=False, table="", extra_time=1.0)
    total = site.nwbfile.stimulus["sound"].data.shape[0]
    layout, _ = _layout(site, tmp_path, ReaderParams(segment_s=2.0))
    pres = layout.presentations
    assert [p.sound for p in pres] == [f"segment_{i:04d}" for i in range(len(pres))]
    assert len(pres) == int(np.floor(total / (2.0 * site.rate) + 0.5))  # a tail under 1 s joins the last
    assert pres[0].first_sample == 0 and sum(p.n_samples for p in pres) == total
    assert pres[1].start == pytest.approx(2.0)


@pytest.mark.parametrize(("seconds", "lengths"), [(40.5, [10, 10, 10, 10.5]), (45.0, [10, 10, 10, 10, 5]),
                                                  (4.0, [4.0])])
def test_a_short_tail_joins_the_last_segment(seconds, lengths):
    track = SoundSeries("t", "stimulus/presentation/t", "TimeSeries", "continuous", 1000.0, 0.0,
                        int(seconds * 1000), 1, None)
    pres = fixed_segments(track, 10.0)
    assert [p.n_samples / 1000 for p in pres] == lengths
    assert [p.stop for p in pres][-1] == pytest.approx(seconds)


def test_continuous_trials_as_segments_by_override(tmp_path):
    site = mock_site(layout="continuous", waveforms=False, table="trials", column="other")
    played = [name for name, _ in sorted(site.presentations, key=lambda p: p[1])]
    # a text column of no known name whose rows of one name hold the same sound names them
    layout, found = _layout(site, tmp_path, ReaderParams(presentations="trials"))
    assert layout.table == "intervals/trials" and layout.column == "other"
    assert [p.sound for p in layout.presentations] == played


def test_overrides_pick_among_ambiguous_tables(tmp_path):
    site = mock_site(waveforms=False)
    nwb = site.nwbfile
    nwb.add_trial_column("stimulus", "sound")
    for name, start in site.presentations:
        nwb.add_trial(start_time=start, stop_time=start + 0.5, stimulus=name)
    path = site.write(tmp_path / "two.nwb")
    with open_nwb(path) as opened:
        with pytest.raises(AmbiguousInputError) as err:
            locate(opened.nwbfile, opened.name)
        message = str(err.value)
        assert "intervals/sound_presentations column 'sound'" in message
        assert "intervals/trials column 'stimulus'" in message and str(path) in message
        layout = locate(
            opened.nwbfile,
            opened.name,
            ReaderParams(presentations="/intervals/trials", sound_column="stimulus"),
        )
        assert (layout.table, layout.column) == ("intervals/trials", "stimulus")
        with pytest.raises(ConfigError, match="reader.presentations"):
            locate(opened.nwbfile, opened.name, ReaderParams(presentations="nope"))


def test_presentations_naming_unknown_sounds_are_reported(tmp_path):
    site = mock_site(waveforms=False)
    site.nwbfile.intervals["sound_presentations"].add_interval(
        start_time=20.0, stop_time=20.5, sound="missing_sound"
    )
    path = site.write(tmp_path / "unknown.nwb")
    with open_nwb(path) as opened:
        layout = locate(opened.nwbfile, opened.name)
    # the row naming no template is left out, and said so
    assert layout.unmatched == ("missing_sound",)
    assert len(layout.presentations) == len(site.presentations)
    assert "names matching no sound: missing_sound" in layout.describe()


def _bare_nwb() -> NWBFile:
    return NWBFile(
        session_description="t", identifier="t", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )


def test_no_units_table():
    nwb = _bare_nwb()
    nwb.add_stimulus_template(TimeSeries(name="s", data=np.zeros(100), unit="Pa", rate=16000.0))
    with pytest.raises(NoUnitsError, match="NWBFile 't'.*no Units table"):
        locate(nwb, "NWBFile 't'")


def test_no_sound_lists_what_was_found():
    nwb = _bare_nwb()
    nwb.add_unit(spike_times=[0.1, 0.2])
    nwb.add_stimulus_template(TimeSeries(name="slow", data=np.zeros(10), unit="V", rate=30.0))
    nwb.add_trial(start_time=0.0, stop_time=1.0)
    with pytest.raises(NoSoundStimulusError) as err:
        locate(nwb, "x.nwb")
    text = str(err.value)
    assert text.startswith("x.nwb: no sound stimulus")
    assert "stimulus/templates/slow (TimeSeries: sampled at 30 Hz" in text and "intervals/trials" in text


def test_sounds_without_presentations():
    nwb = _bare_nwb()
    nwb.add_unit(spike_times=[0.1, 0.2])
    nwb.add_stimulus_template(TimeSeries(name="s", data=np.zeros(100), unit="Pa", rate=16000.0))
    with pytest.raises(NoSoundStimulusError, match="no presentation table naming them"):
        locate(nwb, "x.nwb")


def test_two_continuous_sounds_are_ambiguous():
    nwb = _bare_nwb()
    nwb.add_unit(spike_times=[0.1, 0.2])
    for name in ("left", "right"):
        nwb.add_stimulus(TimeSeries(name=name, data=np.zeros(1000), unit="Pa", rate=16000.0))
    with pytest.raises(AmbiguousInputError, match="stimulus/presentation/left, stimulus/presentation/right"):
        locate(nwb, "x.nwb")
    layout = locate(nwb, "x.nwb", ReaderParams(sounds=("right",)))
    assert [s.path for s in layout.sounds] == ["stimulus/presentation/right"]


def test_segments_outside_the_continuous_sound():
    nwb = _bare_nwb()
    nwb.add_unit(spike_times=[0.1, 0.2])
    nwb.add_stimulus(TimeSeries(name="sound", data=np.zeros(16000), unit="Pa", rate=16000.0))
    table = TimeIntervals(name="sound_presentations", description="d")
    table.add_column("sound", "name")
    table.add_interval(start_time=0.1, stop_time=0.4, sound="a")
    table.add_interval(start_time=0.8, stop_time=1.6, sound="b")
    nwb.add_time_intervals(table)
    with pytest.raises(
        InvalidDataError, match=r"x.nwb: intervals/sound_presentations rows \[1\] lie outside"
    ):
        locate(nwb, "x.nwb")


def test_several_units_tables_need_a_choice():
    from pynwb.misc import Units

    nwb = _bare_nwb()
    nwb.add_unit(spike_times=[0.1])
    module = nwb.create_processing_module("ecephys", "sorted")
    extra = Units(name="curated")
    extra.add_unit(spike_times=[0.3])
    module.add(extra)
    nwb.add_stimulus_template(TimeSeries(name="s", data=np.zeros(100), unit="Pa", rate=16000.0))
    with pytest.raises(AmbiguousInputError, match="processing/ecephys/curated, units;"):
        locate(nwb, "x.nwb")
    with pytest.raises(NoSoundStimulusError):  # the units choice is accepted, the sounds are not
        locate(nwb, "x.nwb", ReaderParams(units="curated"))


def test_reader_params_validation():
    with pytest.raises(ConfigError, match="reader.layout"):
        ReaderParams(layout="stereo")
    with pytest.raises(ConfigError, match="reader.min_validation_repeats"):
        ReaderParams(min_validation_repeats=1)
    with pytest.raises(ConfigError, match="reader.channel"):
        ReaderParams(channel=-2)
    assert ReaderParams.from_dict({"sounds": ["a", "b"]}).sounds == ("a", "b")
