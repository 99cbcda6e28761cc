"""Readers: NWB files (local, streamed over HTTP, or from DANDI) to site data.

* :func:`read_site` -- one recording site as :class:`~ndx_encoding_subspace.data.site.SiteData`;
* :func:`inspect_nwb` -- what the reader finds in a file (``encoding-subspace inspect``);
* :func:`open_nwb` -- open a path, URL, ``DANDI:`` identifier or NWBFile;
* :func:`list_assets` / :func:`parse_dandi_id` -- DANDI identifiers and their assets;
* :func:`parameter_tables` / :func:`synthesize_tones` -- stimulus-parameter tables
  (tone frequency, level, duration) of sessions without waveforms, and their tones;
* :class:`ReaderParams` -- every choice the reader makes, overridable.

The layouts the reader recognises are in :mod:`.layouts` (one module each). Names load
on first use (:mod:`.._lazy`): :class:`ReaderParams` and the DANDI identifiers without
pynwb or h5py.
"""

from .._lazy import attach

__all__ = [
    "ReaderParams",
    "read_site",
    "build_site",
    "inspect_nwb",
    "InspectionReport",
    "open_nwb",
    "OpenedNWB",
    "locate",
    "inventory",
    "Layout",
    "Presentation",
    "SoundSeries",
    "read_units",
    "bin_counts",
    "split_sounds",
    "parameter_tables",
    "ParameterTable",
    "synthesize_tones",
    "DandiRef",
    "RemoteAsset",
    "is_remote",
    "parse_dandi_id",
    "list_assets",
    "resolve_remote",
]

attach(__name__, {
    "dandi": ("DandiRef", "RemoteAsset", "is_remote", "list_assets", "parse_dandi_id",
              "resolve_remote"),
    "inspect": ("InspectionReport", "inspect_nwb"),
    "locate": ("Layout", "Presentation", "SoundSeries", "inventory", "locate"),
    "open": ("OpenedNWB", "open_nwb"),
    "parameters": ("ParameterTable", "parameter_tables"),
    "reader_params": ("ReaderParams",),
    "site_reader": ("build_site", "read_site", "split_sounds"),
    "tones": ("synthesize_tones",),
    "units": ("bin_counts", "read_units"),
})
