"""The tuning subspaces of a run, kept in its work folder so that a rerun does not repeat them.

Training checkpoints itself (:mod:`.fitting.schedule`) and the subspace models keep
their fits (:mod:`.cache`); this module keeps the tuning subspaces, the longest stage
after training (every bin of a paper-size site is about half an hour on two CPU cores),
and their reliabilities (one more dSTRF pass per ensemble member).
They are a NumPy ``.npz`` archive of plain arrays, read with ``allow_pickle=False``
(loading runs no code), stored beside a key (:func:`~.cache.stage_key` of the CNN
ensemble's weights, the estimation stimuli and the dSTRF and subspace parameters). A
rerun with the same key loads them; with another key, or from an unreadable file, it
recomputes and replaces them. The archive is written through
:func:`~.atomic.write_bytes`, so a killed run leaves the old file or the new one.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_bytes
from ..subspace import SubspaceReliability, TuningSubspace

__all__ = ["save_subspaces", "load_subspaces", "save_reliability", "load_reliability"]

_FIELDS = [f.name for f in dataclasses.fields(TuningSubspace)]
_RELIABILITY_FIELDS = [f.name for f in dataclasses.fields(SubspaceReliability)]


def save_subspaces(path: str | Path, key: str, units: Sequence[TuningSubspace],
                   shared: TuningSubspace) -> None:
    """Write ``units`` and the ``shared`` site subspace to ``path`` atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"key": np.array(key), "n_units": np.array(len(units))}
    for i, s in enumerate([*units, shared]):
        for field in _FIELDS:
            arrays[f"{i}/{field}"] = np.asarray(getattr(s, field))
    write_bytes(path, lambda f: np.savez(f, **arrays))


def load_subspaces(path: str | Path, key: str) -> tuple[list[TuningSubspace], TuningSubspace] | None:
    """The subspaces saved at ``path`` under ``key``; None when absent, unreadable or of
    another key."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            n = int(z["n_units"])
            subs = [_subspace(z, i) for i in range(n + 1)]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None
    return subs[:n], subs[n]


def _subspace(z: Any, i: int) -> TuningSubspace:
    values = {field: z[f"{i}/{field}"] for field in _FIELDS}
    return TuningSubspace(**{
        field: int(v) if v.ndim == 0 and v.dtype.kind in "iub" else v
        for field, v in values.items()
    })


def save_reliability(path: str | Path, key: str, items: Sequence[SubspaceReliability]) -> None:
    """Write the reliability of every unit's subspace to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {"key": np.array(key), "n_units": np.array(len(items))}
    for i, item in enumerate(items):
        for field in _RELIABILITY_FIELDS:
            arrays[f"{i}/{field}"] = np.asarray(getattr(item, field))
    write_bytes(Path(path), lambda f: np.savez(f, **arrays))


def load_reliability(path: str | Path, key: str) -> list[SubspaceReliability] | None:
    """The reliabilities saved at ``path`` under ``key``; None when absent, unreadable or
    of another key."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            out = []
            for i in range(int(z["n_units"])):
                values = {field: z[f"{i}/{field}"] for field in _RELIABILITY_FIELDS}
                out.append(SubspaceReliability(**{
                    field: (str(v) if v.dtype.kind == "U" else
                            v.item() if v.ndim == 0 else v) for field, v in values.items()}))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None
    return out
