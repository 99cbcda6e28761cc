"""Stimulus projected into a subspace: a causal convolution (METHOD.md section 4).

``x_k(t) = sum_{f, lag} pc_k[f, lag] * stim[t - lag, f]`` with the stimulus zero before
its first bin, for every bin ``t``. Filters use the lag convention of :mod:`.dstrf`
(``[..., frequency, lag]``, lag 0 = the current bin).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..arrays import real_array
from ..errors import InvalidDataError

__all__ = ["project", "project_all", "project_direct"]


def _check(stimulus: np.ndarray, filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stimulus = real_array(stimulus, "projection: stimulus")
    filters = real_array(filters, "projection: filters")
    if filters.ndim == 2:
        filters = filters[None]
    if stimulus.ndim != 2 or filters.ndim != 3 or filters.shape[1] != stimulus.shape[1]:
        raise InvalidDataError(
            f"projection needs stimulus [time, frequency] and filters [k, frequency, lag] "
            f"with the same frequencies, got {stimulus.shape} and {filters.shape}"
        )
    if filters.shape[0] == 0 or filters.shape[2] == 0:
        raise InvalidDataError(f"projection: filters of shape {filters.shape} hold no direction "
                               "(k and lags at least 1)")
    if not (np.all(np.isfinite(stimulus)) and np.all(np.isfinite(filters))):
        which = "stimulus" if not np.all(np.isfinite(stimulus)) else "filters"
        raise InvalidDataError(f"projection: the {which} hold NaN or infinite values")
    return stimulus, filters


def project(stimulus: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Projections ``[time, k]`` of ``stimulus [time, frequency]`` onto ``filters [k, F, lag]``.

    Computed as one causal ``conv1d`` in float64 (exact to rounding).
    """
    stimulus, filters = _check(stimulus, filters)
    n_lags = filters.shape[2]
    if stimulus.shape[0] == 0:
        return np.zeros((0, filters.shape[0]))
    x = torch.from_numpy(np.ascontiguousarray(stimulus, dtype=np.float64)).T[None]
    x = torch.nn.functional.pad(x, (n_lags - 1, 0))
    # conv1d correlates: weight index j multiplies input t - (n_lags - 1 - j), i.e. lag flipped
    w = torch.from_numpy(np.ascontiguousarray(filters[..., ::-1], dtype=np.float64))
    return torch.nn.functional.conv1d(x, w)[0].T.numpy().copy()


def project_all(stimuli: Sequence[np.ndarray], filters: np.ndarray) -> list[np.ndarray]:
    """:func:`project` for each stimulus of a list (each starts from silence)."""
    return [project(s, filters) for s in stimuli]


def project_direct(stimulus: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """The defining sum, bin by bin (slow reference for tests)."""
    stimulus, filters = _check(stimulus, filters)
    n_time, (k, _, n_lags) = stimulus.shape[0], filters.shape
    out = np.zeros((n_time, k))
    for t in range(n_time):
        for lag in range(min(n_lags, t + 1)):
            out[t] += filters[:, :, lag] @ stimulus[t - lag]
    return out
