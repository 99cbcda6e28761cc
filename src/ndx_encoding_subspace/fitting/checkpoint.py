"""Checkpoints of a one-member fit: a plain ``torch.save`` dict, written atomically.

The file holds the model's and the optimiser's state dicts, the best weights of the
current stage, the batch-order generator's state and a JSON string with the schedule's
progress (:class:`~.record.Progress` fields plus ``stage`` and ``fingerprint``); it is
read back with ``weights_only=True``, so it holds no pickled objects.

A file that cannot be read back as this fit's checkpoint (truncated, overwritten with
other bytes, empty, or holding tensors of other names or shapes) is damaged: it is named
in a one-line warning and the member is fitted again from the start, the next save
replacing the file. A whole, readable checkpoint of another fit (another model, data or
parameters) is not damage: it is refused, since it may be that fit's only copy.

The optimiser's state is always that of an Adam over the one model's parameters, as a
fit alone writes it; for a member of a batched fit it is cut out of the members' Adam
(:meth:`~.member_adam.MemberAdam.member_state`) and put back into one, so a member's
checkpoint resumes a fit alone as well as a batched one, and the other way round.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic import write_torch
from ..errors import TrainingError
from ..params import VOLATILE_NAMES
from .record import Progress
from .training_params import TrainingParams

__all__ = ["Checkpoint"]

#: the stages a checkpoint can stand at
STAGES = ("single", "stage1", "stage2", "done")


class _Damaged(Exception):
    """A checkpoint file that is not a whole checkpoint of the expected shapes."""


def _check_progress(meta: Any) -> dict[str, Any]:
    """``meta`` when it is a progress record (:class:`~.record.Progress` fields of their
    types, a fingerprint and a stage); else :class:`_Damaged`."""
    if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), str) \
            or meta.get("stage") not in STAGES:
        raise _Damaged("progress record without fingerprint or stage")
    numbers = (int, float)
    for f in dataclasses.fields(Progress):
        value = meta.get(f.name)
        if f.name == "history":
            ok = isinstance(value, dict) and all(isinstance(value.get(k), list)
                                                 for k in ("stage", "train_loss", "val_loss"))
        elif f.name == "selection_loss":
            ok = value is None or isinstance(value, numbers)
        else:
            kind = numbers if "float" in str(f.type) else int
            ok = isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            raise _Damaged(f"progress record with {f.name} = {str(value)[:40]!r}")
    return meta


def fingerprint(model: nn.Module, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                params: TrainingParams, *, with_device: bool = False) -> str:
    """Hash of the parameters that change the fit (not the device: a fit stopped on one
    goes on on another; ``with_device``: as releases before 0.2.0 hashed them), the
    model's parameter names and shapes, and the data."""
    values = {k: v for k, v in params.to_dict().items() if with_device or k not in VOLATILE_NAMES}
    h = hashlib.sha256(json.dumps(values, sort_keys=True).encode())
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
        # that of releases that hashed the device too: computed only for a file that differs
        self._earlier = lambda: fingerprint(model, inputs, targets, params, with_device=True)
        self.shapes = {name: tuple(v.shape) for name, v in model.state_dict().items()}
        self.parameter_shapes = [tuple(p.shape) for p in model.parameters()]
        self.damaged = False  # said once; the file is ignored until the next save

    def save(self, weights: dict[str, torch.Tensor], optimizer: dict[str, Any],
             best: dict[str, torch.Tensor] | None, gen: torch.Generator, meta: dict[str, Any]) -> None:
        """Write the state after an epoch or a stage's end (atomically): the model's state
        dict ``weights`` (tensors of their own storage), its Adam state dict
        ``optimizer`` (empty when there is none)."""
        blob = {"model": weights, "optimizer": optimizer,
                "best": best or {}, "rng": gen.get_state(),
                "meta": json.dumps({"fingerprint": self.fingerprint, **meta})}
        write_torch(self.path, blob)
        self.damaged = False

    def load(self, device: torch.device) -> dict[str, Any] | None:
        """The saved blob (``meta`` decoded, ``rng`` on the CPU), or None when there is
        no file yet or the file is damaged (said in a warning, once).

        Raises
        ------
        TrainingError
            The file is a whole checkpoint written by a fit with another model, data or
            parameters.
        OSError
            The file exists but cannot be read (permissions, a failing disk).
        """
        if self.damaged or not self.path.exists():
            return None
        raw = self.path.read_bytes()
        try:
            blob = self._decode(raw, device)
        except _Damaged as err:
            self.damaged = True
            warnings.warn(
                f"{self.path}: damaged training checkpoint of member {self.path.stem} ({err}); "
                "that member is fitted again from the start", stacklevel=2,
            )
            return None
        return blob

    def stage(self) -> str | None:
        """The stage the saved fit stands at (``done`` when finished); None without a
        usable file."""
        blob = self.load(torch.device("cpu"))
        return None if blob is None else str(blob["meta"]["stage"])

    def _decode(self, raw: bytes, device: torch.device) -> dict[str, Any]:
        """The checkpoint held in ``raw``, checked against this fit's shapes.

        Raises
        ------
        _Damaged
            Saying what is wrong, in a few words.
        TrainingError
            A progress record of another fit (tensors then unchecked: another model's).
        """
        if not raw:
            raise _Damaged("empty file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes on unusual pickles
                blob = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
        except Exception as err:  # any unreadable content is damage; nothing of it runs
            raise _Damaged(f"{len(raw)} bytes that are not a whole torch file: "
                           f"{type(err).__name__}") from err
        if not isinstance(blob, dict) or set(blob) != {"model", "optimizer", "best", "rng", "meta"}:
            raise _Damaged("not a checkpoint's dictionary")
        try:
            meta = json.loads(blob["meta"])
        except (TypeError, ValueError) as err:
            raise _Damaged("unreadable progress record") from err
        blob["meta"] = _check_progress(meta)
        if meta["fingerprint"] != self.fingerprint and meta["fingerprint"] != self._earlier():  # another fit
            raise TrainingError(
                f"checkpoint {self.path}: written by a fit with other data, parameters or model; "
                "delete it to start again"
            )
        self._check_state(blob["model"], "model weights", empty=False)
        self._check_state(blob["best"], "best weights", empty=True)
        self._check_adam(blob["optimizer"])
        rng = blob["rng"]
        if (not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8
                or rng.numel() != torch.Generator().get_state().numel()):
            raise _Damaged("batch-order generator state of another size")
        blob["rng"] = rng.cpu()
        return blob

    def _check_state(self, state: Any, what: str, *, empty: bool) -> None:
        if empty and isinstance(state, dict) and not state:
            return
        if not isinstance(state, dict) or set(state) != set(self.shapes):
            raise _Damaged(f"{what} of other names")
        for name, shape in self.shapes.items():
            v = state[name]
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != shape:
                raise _Damaged(f"{what}: {name} is not a tensor of shape {shape}")

    def _check_adam(self, saved: Any) -> None:
        if isinstance(saved, dict) and not saved:
            return
        if (not isinstance(saved, dict) or not isinstance(saved.get("state"), dict)
                or not isinstance(saved.get("param_groups"), list)):
            raise _Damaged("optimiser state of another form")
        for k, values in saved["state"].items():
            if (not isinstance(k, int) or not 0 <= k < len(self.parameter_shapes)
                    or not isinstance(values, dict)):
                raise _Damaged("optimiser state of other parameters")
            for key, v in values.items():
                shape = () if key == "step" else self.parameter_shapes[k]
                if not isinstance(v, torch.Tensor) or tuple(v.shape) != shape:
                    raise _Damaged(f"optimiser state {key} of parameter {k} is not of shape {shape}")
