"""Checkpoints of a one-member fit: a plain ``torch.save`` dict, written atomically.

The file holds the model's and the optimiser's state dicts, the best weights of the
current stage, the batch-order generator's state and a JSON string with the schedule's
progress (:class:`~.record.Progress` fields plus ``stage`` and ``fingerprint``); it is
read back with ``weights_only=True``, so it holds no pickled objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic import write_bytes
from ..errors import TrainingError
from .training_params import TrainingParams

__all__ = ["Checkpoint"]


def fingerprint(model: nn.Module, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                params: TrainingParams) -> str:
    """Hash of the parameters, the model's parameter names and shapes, and the data."""
    h = hashlib.sha256(json.dumps(params.to_dict(), sort_keys=True).encode())
    for name, v in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(v.shape)).encode())
    for a in (*inputs, *targets):
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()


class Checkpoint:
    """The checkpoint file of one fit, tied to its model, data and parameters."""

    def __init__(self, path: Path, model: nn.Module, inputs: Sequence[np.ndarray],
                 targets: Sequence[np.ndarray], params: TrainingParams) -> None:
        self.path = path
        self.fingerprint = fingerprint(model, inputs, targets, params)

    def save(self, model: nn.Module, opt: torch.optim.Optimizer | None,
             best: dict[str, torch.Tensor] | None, gen: torch.Generator, meta: dict[str, Any]) -> None:
        """Write the state after an epoch or a stage's end (atomically)."""
        blob = {"model": model.state_dict(), "optimizer": opt.state_dict() if opt else {},
                "best": best or {}, "rng": gen.get_state(),
                "meta": json.dumps({"fingerprint": self.fingerprint, **meta})}
        write_bytes(self.path, lambda handle: torch.save(blob, handle))

    def load(self, device: torch.device) -> dict[str, Any] | None:
        """The saved blob (``meta`` decoded), or None when there is no file yet.

        Raises
        ------
        TrainingError
            The file was written by a fit with another model, data or parameters.
        """
        if not self.path.exists():
            return None
        blob = torch.load(self.path, map_location=device, weights_only=True)
        blob["meta"] = json.loads(blob["meta"])
        if blob["meta"].get("fingerprint") != self.fingerprint:
            raise TrainingError(
                f"checkpoint {self.path}: written by a fit with other data, parameters or model; "
                "delete it to start again"
            )
        return blob
