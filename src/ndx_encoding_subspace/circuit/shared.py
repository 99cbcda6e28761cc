"""The shared site subspace (METHOD.md section 6): PCA of every unit's dSTRFs pooled.

Each unit's samples weigh alike when the dSTRFs were normalised per unit, as the
ensemble step does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from ..errors import InvalidDataError
from ..subspace import SubspaceParams, TuningSubspace, fit_subspace, streaming_subspaces

__all__ = ["shared_subspace", "shared_subspace_streaming"]


def shared_subspace(dstrfs: np.ndarray, params: SubspaceParams | None = None) -> TuningSubspace:
    """PCA of all units' dSTRFs ``[samples, units, frequency, lag]`` pooled (unit = -1)."""
    if dstrfs.ndim != 4:
        raise InvalidDataError(f"dSTRFs must be [samples, units, frequency, lag], got {dstrfs.shape}")
    pooled = dstrfs.reshape(-1, *dstrfs.shape[2:])
    return fit_subspace(pooled, params, unit=-1)


def shared_subspace_streaming(chunks: Callable[[], Iterable], params: SubspaceParams | None = None,
                              ) -> TuningSubspace:
    """:func:`shared_subspace` from dSTRF chunks, in bounded memory (two passes)."""

    def pooled():
        for chunk in chunks():
            v = getattr(chunk, "values", chunk)  # an array, or a tensor left on its device
            v = v if isinstance(v, torch.Tensor) else np.asarray(v)
            yield v.reshape(-1, 1, *v.shape[2:])

    return streaming_subspaces(pooled, params, units=[-1])[0]
