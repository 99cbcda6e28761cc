"""Tuning subspaces: PCA of each unit's dSTRFs, in memory or streamed, projections, and
each subspace's reliability.

Names load on first use (:mod:`.._lazy`): the parameters (:mod:`.params`) without torch.
"""

from .._lazy import attach

__all__ = ["SubspaceParams", "TuningSubspace", "fit_subspace", "fit_subspaces", "choose_k",
           "outlier_keep", "project", "project_all", "MomentAccumulator", "streaming_subspaces",
           "streaming_site_subspaces", "SubspaceReliability", "unit_reliability",
           "resolve_rule", "reliability_times"]

attach(__name__, {
    "moments": ("MomentAccumulator",),
    "params": ("SubspaceParams",),
    "pca": ("TuningSubspace", "choose_k", "fit_subspace", "fit_subspaces", "outlier_keep"),
    "projection": ("project", "project_all"),
    "reliability": ("SubspaceReliability", "reliability_times", "resolve_rule", "unit_reliability"),
    "stream": ("streaming_site_subspaces", "streaming_subspaces"),
})
