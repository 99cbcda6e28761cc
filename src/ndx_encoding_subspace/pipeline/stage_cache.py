"""Finished stages kept in a run's work folder, so that a rerun does not repeat them.

Training checkpoints itself (:mod:`.training`); this module keeps the tuning subspaces,
the longest stage after training (every bin of a paper-size site is about half an hour
on two CPU cores), and each finished subspace-model fit. The subspaces are a NumPy
``.npz`` archive of plain arrays, read with ``allow_pickle=False`` (loading runs no
code); a fit is a ``torch.save`` of tensors and a JSON string, read with
``weights_only=True``. Each is stored beside a key: a SHA-256 of all that determines it
(weights, stimuli or training data, parameters). A rerun with the same key loads it;
with another key, or from an unreadable file, it recomputes and replaces it. Files are
written under a temporary name and renamed, so a killed run leaves the old file or the
new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_bytes
from ..subspace import TuningSubspace

__all__ = ["stage_key", "save_subspaces", "load_subspaces", "save_fit", "load_fit"]

_FIELDS = [f.name for f in dataclasses.fields(TuningSubspace)]
_FORMAT = 2  # raised whenever the subspaces' computation changes


def stage_key(modules: Iterable[torch.nn.Module], arrays: Iterable[np.ndarray],
              parameters: dict[str, Any]) -> str:
    """SHA-256 of the modules' weights, the arrays' contents and the parameters."""
    from .. import __version__

    h = hashlib.sha256(json.dumps({"format": _FORMAT, "version": __version__, **parameters},
                                  sort_keys=True, default=str).encode())
    for module in modules:
        for name, tensor in module.state_dict().items():
            t = tensor.detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


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


def save_fit(path: str | Path, key: str, state: dict[str, torch.Tensor],
             record: dict[str, Any]) -> None:
    """Write one fitted network's ``state`` (tensors) and its JSON-able ``record``
    atomically (``torch.save`` of tensors and a string: read back without pickles)."""
    path = Path(path)
    blob = {"key": key, "state": {k: v.detach().cpu() for k, v in state.items()},
            "record": json.dumps(record)}
    write_bytes(path, lambda f: torch.save(blob, f))


def load_fit(path: str | Path, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """``(state, record)`` saved at ``path`` under ``key``; None when absent, unreadable
    or of another key."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("key") != key:
            return None
        return dict(blob["state"]), json.loads(blob["record"])
    except Exception:  # any unreadable file is refitted, never trusted
        return None
