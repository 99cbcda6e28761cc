"""Local-circuit analyses (METHOD.md section 6): shared site subspace (:mod:`.shared`),
tiling (:mod:`.tiling`), subspace similarity (:mod:`.similarity`) and summaries by cell
type and depth (:mod:`.summaries`).

Names load on first use (:mod:`.._lazy`): :class:`TilingParams` without torch or scipy.
"""

from .._lazy import attach

__all__ = ["shared_subspace", "shared_subspace_streaming", "TilingParams", "Tiling", "tiling",
           "subspace_similarity", "similarity_matrix", "within_between", "site_means",
           "summarise_by_cell_type",
           "summarise_by_depth"]

attach(__name__, {
    "shared": ("shared_subspace", "shared_subspace_streaming"),
    "similarity": ("similarity_matrix", "subspace_similarity", "within_between", "site_means"),
    "summaries": ("summarise_by_cell_type", "summarise_by_depth"),
    "tiling": ("Tiling", "TilingParams", "tiling"),
})
