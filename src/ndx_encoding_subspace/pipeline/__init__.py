"""The whole method for one site, and for many: configuration, stages, resumable runs.

Names load on first use (:mod:`.._lazy`): ``from ndx_encoding_subspace.pipeline import
PipelineConfig`` imports neither torch nor pynwb; ``run_site`` loads what a run needs.
"""

from .._lazy import attach

__all__ = ["PipelineConfig", "run_site", "RunResult"]

attach(__name__, {
    "config": ("PipelineConfig",),
    "run": ("RunResult", "run_site"),
})
