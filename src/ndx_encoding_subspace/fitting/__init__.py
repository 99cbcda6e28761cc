"""Fitting encoding models: the one training schedule, batched members, ensembles, scores."""

from .ensemble import Ensemble, EnsembleParams, fit_ensemble, member_seed
from .members import fit_members
from .schedule import FitRecord, TrainingParams, fit_model, resolve_device
from .scores import UnitScores, ccnorm, pearson_r, score_model, score_predictions

__all__ = ["TrainingParams", "FitRecord", "fit_model", "fit_members", "resolve_device",
           "EnsembleParams", "Ensemble", "fit_ensemble", "member_seed",
           "UnitScores", "pearson_r", "ccnorm", "score_model", "score_predictions"]
