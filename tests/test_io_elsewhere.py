"""Sound series kept outside the stimulus groups (a processing module, a plain TimeSeries in
acquisition): named when no sound is found, and read when ``reader.sounds`` names them."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from ndx_encoding_subspace.errors import NoSoundStimulusError
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.io.reader_params import ReaderParams

RATE, DUR = 16000.0, 0.5
ORDER = ["s0", "s1", "s2", "s0", "s3", "s4", "s0", "s5", "s1", "s1"]


def _file(path, where: str) -> str:
    """Six sounds presented by a trials table; the waveforms as TimeSeries in a processing
    module (``where="processing"``), or a speaker track in acquisition (``"acquisition"``)."""
    nwb = NWBFile(session_description="elsewhere", identifier="elsewhere",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    waves = {f"s{i}": (np.random.default_rng(i).standard_normal(int(DUR * RATE)) * 0.3).astype(np.float32)
             for i in range(6)}
    onsets = [1.0 + 1.0 * k for k in range(len(ORDER))]
    if where == "processing":
        module = nwb.create_processing_module("stimuli", "the sounds played")
        for name, wave in waves.items():
            module.add(TimeSeries(name=name, data=wave, unit="Pa", rate=RATE))
    else:
        track = np.zeros(int((onsets[-1] + 1.0) * RATE), dtype=np.float32)
        for name, onset in zip(ORDER, onsets, strict=True):
            track[int(onset * RATE):int(onset * RATE) + len(waves[name])] = waves[name]
        nwb.add_acquisition(TimeSeries(name="speaker_monitor", data=track, unit="V", rate=RATE))
    nwb.add_trial_column("sound", "the sound played")
    for name, onset in zip(ORDER, onsets, strict=True):
        nwb.add_trial(start_time=onset, stop_time=onset + DUR, sound=name)
    rng = np.random.default_rng(0)
    for _ in range(3):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, onsets[-1] + 1.0, 200)))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


@pytest.mark.parametrize(("where", "named", "series"), [
    ("processing", "processing/stimuli/*", "processing/stimuli/s0"),
    ("acquisition", "speaker_monitor", "acquisition/speaker_monitor"),
])
def test_sounds_outside_the_stimulus_groups_are_named_and_read_when_chosen(tmp_path, where, named, series):
    path = _file(tmp_path / f"{where}.nwb", where)
    with pytest.raises(NoSoundStimulusError, match=rf"read only when reader.sounds names them: {series} "
                                                   r"\(TimeSeries, 16000 Hz\)"):
        read_site(path)
    site = read_site(path, reader=ReaderParams(sounds=(named,)))
    assert {s.name: s.counts.shape[0] for s in site.sounds} == {"s0": 3, "s1": 3, "s2": 1, "s3": 1,
                                                                "s4": 1, "s5": 1}
