"""The whole method for one site, and for many: configuration, stages, resumable runs.

Imported lazily: ``from ndx_encoding_subspace.pipeline import run_site`` loads only what
that needs.
"""

from .config import PipelineConfig
from .run import RunResult, run_site

__all__ = ["PipelineConfig", "run_site", "RunResult"]
