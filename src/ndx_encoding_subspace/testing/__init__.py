"""Test fixtures: factories of valid example objects and a local DANDI test server.

Nothing here is used by the pipeline at run time; it is for tests, benchmarks and anyone
checking that their files read as they expect. The factories follow pynwb's mock
conventions (``mock_X(*, ..., nwbfile=None)``).

* :mod:`.mock` -- one object of every neurodata type of the extension
  (:func:`mock_results_nwbfile`);
* :mod:`.files` -- small recordings in the layouts the reader accepts (:func:`mock_site`),
  with ndx-sound's real ``AcousticWaveformSeries`` (the ``test`` extra) where asked;
* :mod:`.layouts` -- the same kind of site in each layout published auditory datasets use,
  written by the software that writes it (neuroconv, pynwb, ndx-sound): :data:`LAYOUTS`;
* :mod:`.dandi_server` -- :class:`MockDandiServer`, a test server on 127.0.0.1 answering
  like the DANDI API (needs nothing beyond the standard library);
* :mod:`.absent` -- :func:`~.absent.run_without`, Python run as if packages (an extra's)
  were not installed.
"""

from .dandi_server import MockDandiServer
from .files import (
    MockSite,
    mock_AcousticWaveformSeries,
    mock_site,
    mock_sound_presentations,
    mock_sound_waveforms,
    mock_spiking_units,
    write_nwb,
)
from .layouts import LAYOUTS, LayoutSite
from .mock import (
    add_mock_results,
    mock_encoding_model,
    mock_encoding_models,
    mock_results_nwbfile,
    mock_site_subspace,
    mock_spectrogram_series,
    mock_subspace_nonlinearity_table,
    mock_tuning_subspace_table,
    mock_units,
)

__all__ = [
    # extension types (testing.mock)
    "mock_units",
    "mock_spectrogram_series",
    "mock_encoding_model",
    "mock_encoding_models",
    "mock_tuning_subspace_table",
    "mock_subspace_nonlinearity_table",
    "mock_site_subspace",
    "mock_results_nwbfile",
    "add_mock_results",
    # recordings for the reader (testing.files)
    "MockSite",
    "mock_site",
    "mock_sound_waveforms",
    "mock_AcousticWaveformSeries",
    "mock_sound_presentations",
    "mock_spiking_units",
    "write_nwb",
    # recordings in the layouts of published datasets (testing.layouts)
    "LAYOUTS",
    "LayoutSite",
    # DANDI test server (testing.dandi_server)
    "MockDandiServer",
]
