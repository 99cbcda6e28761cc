"""Local-circuit analyses (METHOD.md section 6): shared site subspace (:mod:`.shared`),
tiling (:mod:`.tiling`), subspace similarity (:mod:`.similarity`) and summaries by cell
type and depth (:mod:`.summaries`)."""

from .shared import shared_subspace, shared_subspace_streaming
from .similarity import similarity_matrix, subspace_similarity, within_between
from .summaries import summarise_by_cell_type, summarise_by_depth
from .tiling import Tiling, TilingParams, tiling

__all__ = ["shared_subspace", "shared_subspace_streaming", "TilingParams", "Tiling", "tiling",
           "subspace_similarity", "similarity_matrix", "within_between", "summarise_by_cell_type",
           "summarise_by_depth"]
