"""Dynamic STRFs: exact gradients of a model's prediction with respect to its input.

:func:`dstrf` and :func:`iter_dstrf_chunks` compute them for any causal model
(per-layer rules in :mod:`.layers`); :mod:`.ensemble` normalises and averages them over
an ensemble's members.
"""

from .ensemble import (
    EnsembleStatistics,
    ensemble_dstrf,
    ensemble_statistics,
    iter_ensemble_dstrf_chunks,
    model_scales,
    shrink,
)
from .gradients import DSTRFChunk, DSTRFParams, dstrf, iter_dstrf_chunks, receptive_field, sample_times

__all__ = ["DSTRFParams", "DSTRFChunk", "dstrf", "iter_dstrf_chunks", "sample_times", "receptive_field",
           "EnsembleStatistics", "model_scales", "shrink", "ensemble_dstrf", "ensemble_statistics",
           "iter_ensemble_dstrf_chunks"]
