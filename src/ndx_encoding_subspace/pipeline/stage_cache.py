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
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_bytes
from ..cache import warn_damaged
from ..subspace import SubspaceReliability, TuningSubspace

__all__ = ["save_subspaces", "load_subspaces", "save_reliability", "load_reliability"]

_FIELDS = [f.name for f in dataclasses.fields(TuningSubspace)]
_RELIABILITY_FIELDS = [f.name for f in dataclasses.fields(SubspaceReliability)]


def _save(path: str | Path, key: str, records: Sequence[Any], fields: Sequence[str],
          n_extra: int = 0) -> None:
    """Every field of ``records`` (units, then ``n_extra`` records more) at ``path``."""
    arrays: dict[str, np.ndarray] = {"key": np.array(key),
                                     "n_units": np.array(len(records) - n_extra)}
    for i, record in enumerate(records):
        for field in fields:
            arrays[f"{i}/{field}"] = np.asarray(getattr(record, field))
    write_bytes(Path(path), lambda f: np.savez(f, **arrays))


def _load(path: str | Path, key: str, n_extra: int, build: Callable[[Any, int], Any]) -> list | None:
    """``build(archive, i)`` for every record of the archive at ``path`` (its ``n_units``
    and ``n_extra`` more); None when absent, unreadable or of another key."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return [build(z, i) for i in range(int(z["n_units"]) + n_extra)]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        warn_damaged(path, "archive", err)
        return None


def save_subspaces(path: str | Path, key: str, units: Sequence[TuningSubspace],
                   shared: TuningSubspace) -> None:
    """Write ``units`` and the ``shared`` site subspace to ``path`` atomically."""
    _save(path, key, [*units, shared], _FIELDS, n_extra=1)


def load_subspaces(path: str | Path, key: str) -> tuple[list[TuningSubspace], TuningSubspace] | None:
    """The subspaces saved at ``path`` under ``key``; None when absent, unreadable or of
    another key."""
    subs = _load(path, key, 1, _subspace)
    return None if subs is None else (subs[:-1], subs[-1])


def _subspace(z: Any, i: int) -> TuningSubspace:
    values = {field: z[f"{i}/{field}"] for field in _FIELDS}
    return TuningSubspace(**{
        field: int(v) if v.ndim == 0 and v.dtype.kind in "iub" else v
        for field, v in values.items()
    })


def _reliability(z: Any, i: int) -> SubspaceReliability:
    values = {field: z[f"{i}/{field}"] for field in _RELIABILITY_FIELDS}
    return SubspaceReliability(**{
        field: str(v) if v.dtype.kind == "U" else v.item() if v.ndim == 0 else v
        for field, v in values.items()
    })


def save_reliability(path: str | Path, key: str, items: Sequence[SubspaceReliability]) -> None:
    """Write the reliability of every unit's subspace to ``path`` atomically."""
    _save(path, key, items, _RELIABILITY_FIELDS)


def load_reliability(path: str | Path, key: str) -> list[SubspaceReliability] | None:
    """The reliabilities saved at ``path`` under ``key``; None when absent, unreadable or
    of another key."""
    return _load(path, key, 0, _reliability)
