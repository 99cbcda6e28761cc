"""Factories of valid example objects of every neurodata type, for tests and examples."""

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
    "mock_units",
    "mock_spectrogram_series",
    "mock_encoding_model",
    "mock_encoding_models",
    "mock_tuning_subspace_table",
    "mock_subspace_nonlinearity_table",
    "mock_site_subspace",
    "mock_results_nwbfile",
    "add_mock_results",
]
