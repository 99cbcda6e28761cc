"""A virtual auditory-cortex site with known tuning subspaces (the ground truth)."""

from .site import SimulatedSite, simulate_site
from .truth import KINDS, SimulationParams, SiteTruth, UnitTruth, load_truth, truth_model

__all__ = ["SimulationParams", "SimulatedSite", "simulate_site", "SiteTruth", "UnitTruth",
           "load_truth", "truth_model", "KINDS"]
