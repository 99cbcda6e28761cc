"""What makes a site's results: the parameters that change them and the input's content.

A results file and the work folder's checkpoints carry a fingerprint (:func:`config_fingerprint`)
of both; a rerun finds them complete, or goes on from them, when its own fingerprint is
one of those it accepts (:func:`accepted_fingerprints`: the current rule's, and those
earlier releases gave the same parameters and input). The input is its content
(:func:`input_identity`), not where it lies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..data.celltype import CellTypeParams
from ..params import ADDED_LATER, VOLATILE_NAMES, VOLATILE_SECTIONS
from .config import PipelineConfig

__all__ = ["config_fingerprint", "accepted_fingerprints", "input_identity", "content_digest", "AT_DEFAULT",
           "NOT_TRAINED", "TRAINING_SECTIONS"]


#: parameters that change memory or time, not results: hashed at their defaults (earlier
#: releases hashed their values, so results made with the defaults keep their fingerprints)
AT_DEFAULT: dict[tuple[str, str], Any] = {("dstrf", "chunk_size"): None,
                                          ("reader", "dandi_api_url"): ""}  # where, not what (content)
#: parameters no trained model depends on (a unit's cell type from its waveform), hashed at
#: their defaults in the training fingerprint: changing them keeps the checkpoints
NOT_TRAINED: dict[tuple[str, str], Any] = {
    ("celltype", name): value for name, value in CellTypeParams().to_dict().items()} | {
    ("reader", "use_waveforms"): True, ("ensemble", "select_by"): "held_out"}  # which fit is kept


#: the sections of the configuration that the trained models depend on: the work folder's
#: training checkpoints are kept while they stay the same (the later stages' kept results
#: carry keys of their own parameters, :mod:`.stage_cache`)
TRAINING_SECTIONS = ("reader", "spectrogram", "celltype", "cnn", "ln", "training", "ensemble")


def config_fingerprint(config: PipelineConfig, identity: dict[str, Any],
                       sections: tuple[str, ...] | None = None, *, whole_as_int: bool = False,
                       as_given: bool = False) -> str:
    """Hash of every parameter that changes results (of ``sections`` only, when given),
    and of the input's identity.

    Settings that do not change results are left out (devices, download and cache
    options, the ``[compute]`` thread count), so changing them keeps finished work; so
    are the parameters of :data:`ADDED_LATER` while they do what earlier releases did, and
    those of :data:`AT_DEFAULT` (and, for the training sections, :data:`NOT_TRAINED`) are
    hashed at their defaults. With ``whole_as_int``, whole numbers in lists of floats are
    hashed as ints, as earlier releases hashed ``[1, 99]`` written so; with ``as_given``,
    the parameters of :data:`AT_DEFAULT` are hashed as given, as earlier releases did
    (:func:`accepted_fingerprints`).
    """
    values = {name: {k: v for k, v in table.items() if k not in VOLATILE_NAMES}
              for name, table in config.to_dict().items() if name not in VOLATILE_SECTIONS
              and (sections is None or name in sections)}
    fixed = {**({} if as_given else AT_DEFAULT), **(NOT_TRAINED if sections == TRAINING_SECTIONS else {})}
    for (section, name), default in fixed.items():
        if name in values.get(section, {}):
            values[section][name] = default
    for (section, name), before in ADDED_LATER.items():
        if values.get(section, {}).get(name, before) == before:
            values.get(section, {}).pop(name, None)
    if whole_as_int:
        values = {name: {k: [int(x) if isinstance(x, float) and x.is_integer() else x for x in v]
                         if isinstance(v, list | tuple) else v for k, v in table.items()}
                  for name, table in values.items()}
    text = json.dumps({"config": values, "input": identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def accepted_fingerprints(config: PipelineConfig, identity: dict[str, Any],
                          sections: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """:func:`config_fingerprint`, then the fingerprints earlier releases gave the same
    parameters (whole numbers of a list of floats, ``percentiles = [1, 99]``, were hashed
    as written, and the DANDI API's URL as given): results and checkpoints holding any of
    them were made with ``config``."""
    return tuple(dict.fromkeys(config_fingerprint(config, identity, sections, whole_as_int=w, as_given=g)
                               for g in (False, True) for w in (False, True)))


#: what of a site's ``source`` identified its input before remote files were known by their
#: content (:func:`input_identity` with ``earlier``)
_IDENTITY = ("path", "sha256", "url", "dandiset", "version", "asset_id", "asset_path", "sound_files", "rules")
#: what a plain URL's answer says of the file's content (size, ETag or Last-Modified)
_SERVED = ("served_bytes", "validator")
#: how the file was read, beside the file itself
_READING = ("sound_files", "rules")


#: a DANDI asset's checksums, the first it has of them naming its content (the archive adds
#: the SHA-256 of a new asset later: its identity must not change then)
_DIGESTS = ("dandi:dandi-etag", "dandi:dandi-zarr-checksum", "dandi:sha2-256")


def content_digest(digest: Mapping[str, Any]) -> dict[str, str]:
    """The one checksum of a DANDI asset that its identity holds (``{}`` when none)."""
    name = next((d for d in _DIGESTS if digest.get(d)), None)
    return {name: str(digest[name])} if name else {}


def input_identity(source: Mapping[str, Any], *, legacy: bool = False,
                   earlier: bool = False) -> dict[str, Any]:
    """What of a site's ``source`` makes its results: its content and the rules of reading.

    A local file is its checksum (not where it lies, so that a moved or renamed folder holds
    the same input); a DANDI asset is one of its checksums (:func:`content_digest`: the same
    asset in another version of its Dandiset is the same input); a plain URL is the URL,
    without what signs it, with the size and validator
    (ETag or Last-Modified) its server gave, so that a file changed there is another input.
    The sound files and the rules of reading count too.

    ``earlier``: as the identity was before remote files were known by their content (a
    DANDI asset by its Dandiset, version and path; a URL by itself); ``legacy``: that, with
    the local path too, as releases before 0.2.0 kept it (their results are still found).
    """
    if earlier or legacy:
        identity = {k: source[k] for k in _IDENTITY if k in source}
        if "sha256" in identity and not legacy:
            identity.pop("path", None)
        return identity
    reading = {k: source[k] for k in _READING if k in source}
    if "sha256" in source:
        return {"sha256": source["sha256"], **reading}
    if source.get("asset_id") and (digest := content_digest(source.get("digest") or {})):
        return {"digest": digest, **reading}
    if "url" in source and not source.get("asset_id"):
        return {"url": source["url"], **{k: source[k] for k in _SERVED if k in source}, **reading}
    return input_identity(source, earlier=True)
