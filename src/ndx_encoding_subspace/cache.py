"""Content-addressed store of finished computations: a rerun loads what did not change.

A stored item sits beside a key, :func:`stage_key`: a SHA-256 of all that determines it
(module weights, arrays such as stimuli or training data, parameters, the package
version and :data:`FORMAT`). A rerun with the same key loads the item; with another key,
or from an unreadable file, the caller recomputes it and replaces the file.

:func:`save_fit` and :func:`load_fit` keep one fitted network: a ``torch.save`` of
tensors and a JSON string, read back with ``weights_only=True`` (no pickles, so loading
runs no code). Files are written through :func:`~.atomic.write_torch`, so a killed run
leaves the old file or the new one. The subspace models' fits use this store
(:mod:`.nonlinearity.subspace_model`), and so does the pipeline's cache of the tuning
subspaces (:mod:`.pipeline.stage_cache`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import write_torch

__all__ = ["FORMAT", "stage_key", "save_fit", "load_fit"]

#: part of every key: raised whenever the computation of a cached stage changes
FORMAT = 2


def stage_key(modules: Iterable[torch.nn.Module], arrays: Iterable[np.ndarray],
              parameters: dict[str, Any]) -> str:
    """SHA-256 of the modules' weights, the arrays' contents and the parameters.

    Parameters
    ----------
    modules : iterable of torch.nn.Module
        Their ``state_dict`` tensors (names, dtypes, shapes and bytes) enter the key.
    arrays : iterable of ndarray
        Their dtypes, shapes and bytes enter the key.
    parameters : dict
        JSON-able (anything else through ``str``), entered with sorted keys.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    from . import __version__

    h = hashlib.sha256(json.dumps({"format": FORMAT, "version": __version__, **parameters},
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


def save_fit(path: str | Path, key: str, state: dict[str, torch.Tensor],
             record: dict[str, Any]) -> None:
    """Write one fitted network's ``state`` (tensors) and its JSON-able ``record``
    atomically (``torch.save`` of tensors and a string: read back without pickles)."""
    path = Path(path)
    blob = {"key": key, "state": {k: v.detach().cpu() for k, v in state.items()},
            "record": json.dumps(record)}
    write_torch(path, blob)


def warn_damaged(path: Path, what: str, err: BaseException) -> None:
    """One warning that the kept ``what`` at ``path`` cannot be read and is computed again."""
    warnings.warn(f"{path}: damaged {what} in the work folder ({type(err).__name__}: "
                  f"{str(err)[:120]}); computed again", UserWarning, stacklevel=3)


def load_fit(path: str | Path, key: str,
             *earlier: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """``(state, record)`` saved at ``path`` under ``key`` (or one of the ``earlier``
    keys); None when absent, unreadable or of another key."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("key") not in (key, *earlier):
            return None
        return dict(blob["state"]), json.loads(blob["record"])
    except Exception as err:  # any unreadable file is refitted, never trusted
        warn_damaged(path, "fit", err)
        return None
