"""Training data: checks, the held-out split, and segments with causal context."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InvalidDataError

__all__ = ["Segments", "segment", "check_data", "held_out_split"]


@dataclasses.dataclass
class Segments:
    """Sounds cut into segments (see :func:`segment`)."""

    x: torch.Tensor  # [S, context + L, F]
    y: torch.Tensor  # [S, L, U]
    m: torch.Tensor  # [S, L] float mask
    sound: np.ndarray  # [S] sound index of each segment


def segment(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], context: int,
            length: int | None) -> Segments:
    """Cut sounds into segments of ``length`` bins, each with ``context`` bins before it.

    Context before a sound's start is zero; ``length=None`` keeps whole sounds (padded at
    the end to the longest). The mask marks the bins that belong to a sound.
    """
    n_f, n_u = inputs[0].shape[1], targets[0].shape[1]
    if length is None:
        length = max(a.shape[0] for a in inputs)
    rows = [(i, s) for i, a in enumerate(inputs) for s in range(0, a.shape[0], length)]
    x = np.zeros((len(rows), context + length, n_f), np.float32)
    y = np.zeros((len(rows), length, n_u), np.float32)
    m = np.zeros((len(rows), length), np.float32)
    for k, (i, s) in enumerate(rows):
        a, t = inputs[i], targets[i]
        lo, hi = max(0, s - context), min(a.shape[0], s + length)
        x[k, context - (s - lo): context + hi - s] = a[lo:hi]
        y[k, : hi - s] = t[s:hi]
        m[k, : hi - s] = 1.0
    return Segments(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(m),
                    np.array([i for i, _ in rows], dtype=np.int64))


def check_data(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], loss: str = "nmse") -> None:
    """Raise :class:`InvalidDataError` unless inputs and targets fit together (and, for the
    ``poisson`` loss, the targets are counts: not negative)."""
    if len(inputs) != len(targets) or len(inputs) < 2:
        raise InvalidDataError(
            f"training data: need >= 2 sounds with one target each, got {len(inputs)} inputs "
            f"and {len(targets)} targets"
        )
    for i, (a, t) in enumerate(zip(inputs, targets)):
        if a.ndim != 2 or t.ndim != 2 or a.shape[0] != t.shape[0]:
            raise InvalidDataError(
                f"training data: sound {i} has input {a.shape} and target {t.shape}; expected "
                "[time, frequency] and [time, units] of equal time"
            )
        if a.shape[1] != inputs[0].shape[1] or t.shape[1] != targets[0].shape[1]:
            raise InvalidDataError(f"training data: sound {i} differs in channels or units")
        if a.shape[0] == 0:
            raise InvalidDataError(f"training data: sound {i} has no bins")
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(t))):
            raise InvalidDataError(f"training data: sound {i} holds NaN or inf")
        if loss == "poisson" and np.any(t < 0):
            raise InvalidDataError(f"training data: sound {i} has negative targets, which the poisson loss "
                                   "cannot fit (counts are not negative; use the nmse loss)")


def held_out_split(n_sounds: int, fraction: float) -> tuple[list[int], list[int]]:
    """Fitting and held-out sounds: the last ``fraction`` (at least one, not all) is held out."""
    n_hold = min(n_sounds - 1, max(1, int(round(fraction * n_sounds))))
    return list(range(n_sounds - n_hold)), list(range(n_sounds - n_hold, n_sounds))
