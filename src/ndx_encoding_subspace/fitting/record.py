"""What a fit did: :class:`FitRecord`, and the per-member progress it is built from."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

__all__ = ["FitRecord"]


@dataclasses.dataclass
class FitRecord:
    """What happened during one fit (JSON-able through :meth:`to_dict`).

    ``stage``, ``train_loss`` and ``val_loss`` have one entry per epoch run;
    ``best_epoch`` is the 0-based epoch of stage 1 (or the single stage) with the lowest
    held-out loss; ``selection_loss`` the held-out loss used to compare initialisations.
    ``fit_sounds`` / ``early_stop_sounds`` index the ``inputs`` list.
    """

    stage: list[str]
    train_loss: list[float]
    val_loss: list[float]
    epochs: int
    best_epoch: int
    stage2_epochs: int
    selection_loss: float
    seed: int
    fit_sounds: list[int]
    early_stop_sounds: list[int]
    rollbacks: int
    device: str
    params: dict[str, Any]
    versions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON-compatible)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FitRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(**values)


def versions() -> dict[str, str]:
    """Versions of the packages that shape a fit's numbers."""
    from .. import __version__  # the code that runs, as results/writer.package_versions says it

    return {"torch": torch.__version__, "numpy": np.__version__, "ndx-encoding-subspace": __version__}


@dataclasses.dataclass
class Progress:
    """Where one member stands in the schedule (plain values; stored in checkpoints).

    ``epoch``, ``best_loss``, ``best_epoch`` and ``bad`` (epochs without improvement)
    refer to the current stage; ``lr`` is the member's learning rate in it (halved by
    each rollback).
    """

    lr: float
    epoch: int = 0
    best_loss: float = math.inf
    best_epoch: int = -1
    bad: int = 0
    stage1_best_epoch: int = -1
    stage1_best_loss: float = math.inf
    rollbacks: int = 0
    selection_loss: float | None = None
    history: dict[str, list] = dataclasses.field(
        default_factory=lambda: {"stage": [], "train_loss": [], "val_loss": []})

    def new_stage(self, lr: float) -> None:
        """Start counting a new stage at learning rate ``lr``."""
        self.epoch, self.lr, self.best_loss, self.best_epoch, self.bad = 0, lr, math.inf, -1, 0

    def log(self, stage: str, train_loss: float, val_loss: float) -> None:
        """Append one epoch to the history."""
        self.history["stage"].append(stage)
        self.history["train_loss"].append(train_loss)
        self.history["val_loss"].append(val_loss)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Progress:
        """Inverse of :meth:`to_dict`; other keys (a checkpoint's) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def record(self, **fields: Any) -> FitRecord:
        """The :class:`FitRecord` of a finished member (``fields``: seed, sounds, device, params)."""
        h = self.history
        return FitRecord(
            stage=list(h["stage"]), train_loss=list(h["train_loss"]), val_loss=list(h["val_loss"]),
            epochs=len(h["stage"]), best_epoch=int(self.stage1_best_epoch),
            stage2_epochs=sum(1 for s in h["stage"] if s == "stage2"),
            selection_loss=float(self.selection_loss), rollbacks=int(self.rollbacks),
            versions=versions(), **fields,
        )
