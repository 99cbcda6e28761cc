"""Nonlinearities on the stimulus projected into a tuning subspace: subspace models, SSRFs."""

from .ssrf import SSRF, SSRFParams, asymmetry_index, classify_shape, ssrf, tuning_curve
from .subspace_model import SubspaceModel, fit_subspace_model, fit_subspace_models

__all__ = ["SubspaceModel", "fit_subspace_model", "fit_subspace_models", "SSRFParams", "SSRF", "ssrf",
           "tuning_curve", "asymmetry_index", "classify_shape"]
