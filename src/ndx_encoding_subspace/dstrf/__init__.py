"""Dynamic STRFs: exact gradients of a model's prediction with respect to its input.

:func:`dstrf` and :func:`iter_dstrf_chunks` (:mod:`.gradients`) compute them for any
causal model: parameters in :mod:`.params`, the model's stages in :mod:`.stages`, the
batched backward pass in :mod:`.backward`, per-layer rules in :mod:`.layers`.
:mod:`.ensemble` normalises and averages them over an ensemble's members.

Names load on first use (:mod:`.._lazy`): the parameters (:mod:`.params`) without torch.
"""

from .._lazy import attach

__all__ = ["DSTRFParams", "DSTRFChunk", "dstrf", "iter_dstrf_chunks", "sample_times", "receptive_field",
           "EnsembleStatistics", "model_scales", "shrink", "ensemble_dstrf", "ensemble_statistics",
           "iter_ensemble_dstrf_chunks"]

attach(__name__, {
    "ensemble": ("EnsembleStatistics", "ensemble_dstrf", "ensemble_statistics",
                 "iter_ensemble_dstrf_chunks", "model_scales", "shrink"),
    "gradients": ("dstrf", "iter_dstrf_chunks"),
    "params": ("DSTRFChunk", "DSTRFParams", "sample_times"),
    "stages": ("receptive_field",),
})
