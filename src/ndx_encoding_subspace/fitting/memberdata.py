"""The training data of a member set: segments, each member's rows and loss normalisation.

Two layouts, one interface. With :func:`own_data` every member has its own sounds (of
the same lengths for all): the segments are stacked per member. With
:func:`shared_data` the members draw on one list of sounds, member ``i`` on the sounds
``subsets[i]`` in that order (a jackknife of the estimation sounds, say): the segments
are cut once and each member has its own rows of them. Either way member ``i`` holds
out the last ``early_stop_fraction`` of *its* sounds, has the rows ``fit``, ``hold``
and ``all`` of its sounds in its sound order, and normalises its loss by the response
variance over all its sounds, exactly as if its sounds had been segmented alone.

Members with row sets of different sizes are padded to the longest (:meth:`padded`)
with a copy of their first row, masked out by :meth:`valid`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from .segments import held_out_split, segment

__all__ = ["MemberData", "own_data", "shared_data"]

ROW_SETS = ("fit", "hold", "all")


@dataclasses.dataclass
class MemberData:
    """Segments on the device and, per member, which of them it trains on.

    Attributes
    ----------
    x, y : Tensor
        ``[D, S, context + L, F]`` inputs and ``[D, S, L, U]`` targets of ``D`` blocks.
    mask : Tensor
        ``[S, L]`` float mask of the bins that belong to a sound (the same in every block).
    source : Tensor
        ``[M]`` block read by each member.
    rows : list of dict
        Per member: ``fit``, ``hold`` and ``all`` segment rows (long tensors).
    sounds : list of tuple
        Per member: fitting and held-out sounds, as positions in its own sound list.
    inv_var : Tensor
        ``[M, U]`` inverse response variance of each member's sounds.
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    source: torch.Tensor
    rows: list[dict[str, torch.Tensor]]
    sounds: list[tuple[list[int], list[int]]]
    inv_var: torch.Tensor

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, members: Sequence[int]) -> MemberData:
        """The data of ``members`` only (the segments are shared, not copied)."""
        index = torch.as_tensor(list(members), device=self.source.device)
        return dataclasses.replace(self, source=self.source[index], inv_var=self.inv_var[index],
                                   rows=[self.rows[i] for i in members],
                                   sounds=[self.sounds[i] for i in members])

    def nbytes(self) -> int:
        """Bytes of the segment tensors."""
        return sum(t.numel() * t.element_size() for t in (self.x, self.y, self.mask))

    def padded(self, live: Sequence[int], which: str,
               orders: Sequence[torch.Tensor] | None = None) -> tuple[torch.Tensor, list[int]]:
        """Rows ``which`` of the members ``live`` (in ``orders`` when given, one
        permutation per member), padded to the longest: ``[live, width]`` and the counts."""
        rows = [self.rows[i][which] for i in live]
        if orders is not None:
            rows = [r[o.to(r.device)] for r, o in zip(rows, orders)]
        counts = [len(r) for r in rows]
        width = max(counts)
        if min(counts) == width:
            return _stack(rows), counts
        return torch.stack([torch.cat([r, r[:1].expand(width - len(r))]) for r in rows]), counts

    @staticmethod
    def valid(counts: Sequence[int], start: int, width: int, device: torch.device) -> torch.Tensor | None:
        """``[members, width]`` float mask of the real (not padded) rows among the columns
        ``start:start + width`` of :meth:`padded`; None when every row is real."""
        if min(counts) >= start + width:
            return None
        limit = torch.as_tensor(list(counts), device=device)[:, None]
        return (start + torch.arange(width, device=device)[None] < limit).float()

    def gather(self, live: Sequence[int], sel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of the members ``live`` at rows ``sel`` ``[live, batch]``."""
        blocks = self.source[torch.as_tensor(list(live), device=self.source.device)][:, None]
        return self.x[blocks, sel], self.y[blocks, sel]


def _rows(sound: np.ndarray, order: Sequence[int], device: torch.device) -> torch.Tensor:
    """Rows of the segments of the sounds ``order``, sound after sound."""
    parts = [np.flatnonzero(sound == s) for s in order]
    return torch.as_tensor(np.concatenate(parts) if parts else np.zeros(0, np.int64), device=device)


def _member(sound: np.ndarray, subset: Sequence[int], fraction: float,
            device: torch.device) -> tuple[dict[str, torch.Tensor], tuple[list[int], list[int]]]:
    fit, hold = held_out_split(len(subset), fraction)
    rows = {"fit": _rows(sound, [subset[k] for k in fit], device),
            "hold": _rows(sound, [subset[k] for k in hold], device),
            "all": _rows(sound, subset, device)}
    return rows, (fit, hold)


def _inv_var(targets: Sequence[Sequence[np.ndarray]], device: torch.device) -> torch.Tensor:
    """``[members, U]``: one over the response variance of each member's sounds (1 where 0)."""
    var = [np.concatenate(y, axis=0).var(axis=0) for y in targets]
    var = np.stack([np.where(v > 0, v, 1.0) for v in var])
    return 1.0 / torch.as_tensor(var, device=device).float()


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return tensors[0][None] if len(tensors) == 1 else torch.stack(list(tensors))


def own_data(inputs: Sequence[Sequence[np.ndarray]], targets: Sequence[Sequence[np.ndarray]],
             fraction: float, context: int, length: int | None, device: torch.device) -> MemberData:
    """Each member its own checked sounds (the same lengths for every member)."""
    segs = [segment(x, y, context, length) for x, y in zip(inputs, targets)]
    rows, sounds = _member(segs[0].sound, list(range(len(inputs[0]))), fraction, device)
    n = len(segs)
    return MemberData(
        x=_stack([s.x for s in segs]).to(device), y=_stack([s.y for s in segs]).to(device),
        mask=segs[0].m.to(device), source=torch.arange(n, device=device),
        rows=[rows] * n, sounds=[sounds] * n, inv_var=_inv_var(targets, device))


def shared_data(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                subsets: Sequence[Sequence[int]], fraction: float, context: int,
                length: int | None, device: torch.device) -> MemberData:
    """Checked sounds shared by the members, member ``i`` using ``subsets[i]``."""
    seg = segment(inputs, targets, context, length)
    per = [_member(seg.sound, list(s), fraction, device) for s in subsets]
    return MemberData(
        x=seg.x[None].to(device), y=seg.y[None].to(device), mask=seg.m.to(device),
        source=torch.zeros(len(subsets), dtype=torch.long, device=device),
        rows=[r for r, _ in per], sounds=[s for _, s in per],
        inv_var=_inv_var([[targets[k] for k in s] for s in subsets], device))
