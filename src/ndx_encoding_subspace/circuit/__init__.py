"""Local-circuit analyses: shared site subspace, tiling, subspace similarity, summaries."""

from .analyses import (
    Tiling,
    TilingParams,
    shared_subspace,
    shared_subspace_streaming,
    similarity_matrix,
    subspace_similarity,
    summarise_by_cell_type,
    summarise_by_depth,
    tiling,
    within_between,
)

__all__ = ["shared_subspace", "shared_subspace_streaming", "TilingParams", "Tiling", "tiling",
           "subspace_similarity", "similarity_matrix", "within_between", "summarise_by_cell_type",
           "summarise_by_depth"]
