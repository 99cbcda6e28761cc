"""Fitting encoding models: the one training schedule, batched members, ensembles, scores.

Names load on first use (:mod:`.._lazy`): the parameters (:mod:`.training_params`) without
torch.
"""

from .._lazy import attach

__all__ = ["TrainingParams", "FitRecord", "fit_model", "fit_members", "resolve_device",
           "EnsembleParams", "Ensemble", "fit_ensemble", "member_seed",
           "UnitScores", "pearson_r", "ccnorm", "score_model", "score_predictions", "r2_ratio"]

attach(__name__, {
    "training_params": ("TrainingParams", "EnsembleParams", "resolve_device"),
    "ensemble": ("Ensemble", "fit_ensemble", "member_seed"),
    "members": ("fit_members",),
    "schedule": ("FitRecord", "fit_model"),
    "scores": ("UnitScores", "ccnorm", "pearson_r", "score_model", "score_predictions", "r2_ratio"),
})
