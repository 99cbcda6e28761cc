"""How many members of a batched fit train at once: memory per member, and groups.

A member's peak memory on the device is estimated as its parameters with their
gradients, Adam moments, best and stacked copies (8 copies in all), plus the layer
outputs of its segment batches: a training batch (kept for the backward pass, and their
gradients: 3 copies) and an evaluation block of ``_EVAL_ROWS`` segments, plus its
fitting bins' outputs and targets for the output nonlinearity's initialisation. The
layer outputs per bin are counted on one forward pass of a copy of the model on the
CPU. The segments all members share are a fixed cost.
:func:`~ndx_encoding_subspace.compute.items_per_batch` turns these into a number of
members (the rule the dSTRF chunks follow too).

On the CPU a second bound applies: the layer outputs of a group's training batch stay
within the last-level cache (:func:`~ndx_encoding_subspace.compute.cache_bytes`). Past
it every layer reads and writes main memory, and a step of the group costs more per
member than the members' steps one after another: on one thread of a 32 MiB-cache
CPU, the paper's CNN (50 units) took 22.5 ms per member and step alone, about as much
in groups of 2 or 4, and 32.7 ms in a group of 32; its LN 16-18 ms alone and 22-24 ms in
a group of 32. Small networks, whose steps are mostly overhead, still batch by the
dozen (the subspace networks: 2.0 ms alone, 0.5 ms in groups of 16).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ..compute import cache_bytes, items_per_batch
from .checkpoint import Checkpoint
from .memberdata import MemberData
from .memberset import _EVAL_ROWS, has_stages
from .training_params import TrainingParams

__all__ = ["member_bytes", "step_bytes", "members_per_batch", "member_groups"]

_FLOAT = 4
_PARAMETER_COPIES = 8
_BACKWARD_COPIES = 3


def _outputs_per_bin(model: nn.Module, n_bins: int, n_in: int) -> float:
    """Floats of every leaf module's output per input bin, over one forward pass."""
    probe = copy.deepcopy(model).to("cpu").eval()
    total = 0

    def count(_module: nn.Module, _inputs: object, out: object) -> None:
        nonlocal total
        outs = out if isinstance(out, tuple | list) else (out,)
        total += sum(t.numel() for t in outs if isinstance(t, torch.Tensor))

    leaves = [m for m in probe.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            probe(torch.zeros(1, n_bins, n_in))
    finally:
        for h in handles:
            h.remove()
    return max(total, 1) / n_bins


def member_bytes(model: nn.Module, params: TrainingParams, data: MemberData) -> int:
    """Estimated peak bytes of one member of ``model``'s architecture on ``data``."""
    _, _, row_bins, n_in = data.x.shape
    n_units = data.y.shape[-1]
    n_params = sum(p.numel() for p in model.parameters())
    per_bin = _outputs_per_bin(model, row_bins, n_in) + n_in
    rows = max(len(r["all"]) for r in data.rows)
    floats = (_PARAMETER_COPIES * n_params
              + per_bin * row_bins * (_BACKWARD_COPIES * params.batch_size + _EVAL_ROWS)
              + 2 * rows * data.y.shape[2] * n_units)
    return int(_FLOAT * floats)


def step_bytes(model: nn.Module, params: TrainingParams, data: MemberData) -> int:
    """Bytes of the layer outputs of one member's training batch (one step's forward pass)."""
    _, _, row_bins, n_in = data.x.shape
    return int(_FLOAT * _outputs_per_bin(model, row_bins, n_in) * row_bins * params.batch_size)


def members_per_batch(model: nn.Module, params: TrainingParams, data: MemberData,
                      device: torch.device, limit: int = 0) -> int:
    """Members to train at once on ``device``: as many as fit in its free memory beside
    the shared segments, at most ``limit`` (0: no cap) and at most ``len(data)``; on the
    CPU also no more than keep a training batch's layer outputs within the cache."""
    cap = len(data) if limit <= 0 else min(limit, len(data))
    if torch.device(device).type == "cpu":
        cap = min(cap, max(1, cache_bytes() // max(1, step_bytes(model, params, data))))
    return items_per_batch(member_bytes(model, params, data), device=device,
                           fixed_bytes=data.nbytes(), limit=cap)


def member_groups(models: Sequence[nn.Module], params: TrainingParams, data: MemberData,
                  checkpoints: Sequence[Checkpoint | None], device: torch.device,
                  limit: int = 0) -> list[list[int]]:
    """Members (indices, in order) trained together, group after group.

    Members resumed from checkpoints at different stages of the schedule go to different
    groups; each stage's members are cut into groups of :func:`members_per_batch`.
    """
    first = "stage1" if params.two_stage and has_stages(models[0]) else "single"
    by_stage: dict[str, list[int]] = {}
    for k, checkpoint in enumerate(checkpoints):
        stage = checkpoint.stage() if checkpoint is not None else None
        by_stage.setdefault(stage or first, []).append(k)
    size = members_per_batch(models[0], params, data, device, limit)
    return [ks[a: a + size] for ks in by_stage.values() for a in range(0, len(ks), size)]
