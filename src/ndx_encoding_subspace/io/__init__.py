"""Readers: NWB files (local, streamed over HTTP, or from DANDI) to site data.

* :func:`read_site` -- one recording site as :class:`~ndx_encoding_subspace.data.site.SiteData`;
* :func:`inspect_nwb` -- what the reader finds in a file (``encoding-subspace inspect``);
* :func:`open_nwb` -- open a path, URL, ``DANDI:`` identifier or NWBFile;
* :func:`list_assets` / :func:`parse_dandi_id` -- DANDI identifiers and their assets;
* :func:`parameter_tables` / :func:`synthesize_tones` -- stimulus-parameter tables
  (tone frequency, level, duration) of sessions without waveforms, and their tones;
* :class:`ReaderParams` -- every choice the reader makes, overridable.

The layouts the reader recognises are in :mod:`.layouts` (one module each).
"""

from .dandi import DandiRef, RemoteAsset, is_remote, list_assets, parse_dandi_id, resolve_remote
from .inspect import InspectionReport, inspect_nwb
from .locate import Layout, Presentation, SoundSeries, inventory, locate
from .open import OpenedNWB, open_nwb
from .parameters import ParameterTable, parameter_tables
from .reader_params import ReaderParams
from .site_reader import build_site, read_site, split_sounds
from .tones import synthesize_tones
from .units import bin_counts, read_units

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
