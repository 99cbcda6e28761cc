"""Nonlinearities on the stimulus projected into a tuning subspace: subspace models, SSRFs.

Names load on first use (:mod:`.._lazy`): :class:`SSRFParams` without torch.
"""

from .._lazy import attach

__all__ = ["SubspaceModel", "fit_subspace_model", "fit_subspace_models", "SSRFParams", "SSRF", "ssrf",
           "tuning_curve", "asymmetry_index", "classify_shape"]

attach(__name__, {
    "ssrf": ("SSRF", "SSRFParams", "asymmetry_index", "classify_shape", "ssrf", "tuning_curve"),
    "subspace_model": ("SubspaceModel", "fit_subspace_model", "fit_subspace_models"),
})
