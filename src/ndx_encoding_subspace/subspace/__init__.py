"""Tuning subspaces: PCA of each unit's dSTRFs, in memory or streamed, projections, and
each subspace's reliability."""

from .moments import MomentAccumulator
from .pca import SubspaceParams, TuningSubspace, choose_k, fit_subspace, fit_subspaces, outlier_keep
from .projection import project, project_all
from .reliability import SubspaceReliability, reliability_times, resolve_rule, unit_reliability
from .stream import streaming_site_subspaces, streaming_subspaces

__all__ = ["SubspaceParams", "TuningSubspace", "fit_subspace", "fit_subspaces", "choose_k",
           "outlier_keep", "project", "project_all", "MomentAccumulator", "streaming_subspaces",
           "streaming_site_subspaces", "SubspaceReliability", "unit_reliability",
           "resolve_rule", "reliability_times"]
