"""Checkpoints of a one-member fit: a plain ``torch.save`` dict, written atomically.

The file holds the model's and the optimiser's state dicts, the best weights of the
current stage, the batch-order generator's state and a JSON string with the schedule's
progress (:class:`~.record.Progress` fields plus ``stage`` and ``fingerprint``); it is
read back with ``weights_only=True``, so it holds no pickled objects.

The optimiser's state is always that of an Adam over the one model's parameters, as a
fit alone writes it; for a member of a batched fit it is cut out of the shared
optimiser (:func:`member_adam_state`) and put back into one (:func:`load_member_adam`),
so a member's checkpoint resumes a fit alone as well as a batched one, and the other
way round.
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

__all__ = ["Checkpoint", "member_adam_state", "load_member_adam"]


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

    def save(self, model: nn.Module, optimizer: dict[str, Any],
             best: dict[str, torch.Tensor] | None, gen: torch.Generator, meta: dict[str, Any]) -> None:
        """Write the state after an epoch or a stage's end (atomically); ``optimizer`` is
        the model's Adam state dict (empty when there is none)."""
        blob = {"model": model.state_dict(), "optimizer": optimizer,
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

    def stage(self) -> str | None:
        """The stage the saved fit stands at (``done`` when finished), None without a file."""
        blob = self.load(torch.device("cpu"))
        return None if blob is None else str(blob["meta"]["stage"])


def member_adam_state(opt: torch.optim.Adam, params: Sequence[torch.Tensor], lr: float) -> dict[str, Any]:
    """The state dict an Adam over ``params`` alone, at ``lr``, would have (from ``opt``).

    Step counts are kept on the CPU, as an Adam that is neither fused nor capturable
    keeps them.
    """
    state = {}
    for k, p in enumerate(params):
        if p in opt.state:
            state[k] = {key: (v.detach().to("cpu", torch.float32) if key == "step" else v.detach())
                        for key, v in opt.state[p].items()}
    group = next(g for g in opt.param_groups if any(q is params[0] for q in g["params"]))
    settings = {key: v for key, v in group.items() if key != "params"}
    return {"state": state,
            "param_groups": [{**settings, "lr": lr, "fused": None, "params": list(range(len(params)))}]}


def load_member_adam(opt: torch.optim.Adam, params: Sequence[torch.Tensor], saved: dict[str, Any]) -> None:
    """Put the Adam state dict ``saved`` of a fit of ``params`` into ``opt``, which also
    holds other parameters (the learning rate comes from the schedule's progress)."""
    group = next(g for g in opt.param_groups if any(q is params[0] for q in g["params"]))
    on_device = bool(group.get("fused") or group.get("capturable"))
    for k, p in enumerate(params):
        values = saved["state"].get(k)
        if values is None:
            continue
        opt.state[p] = {
            key: (v.to(device=p.device if on_device else "cpu", dtype=torch.float32) if key == "step"
                  else v.to(device=p.device, dtype=p.dtype))
            for key, v in values.items()
        }
