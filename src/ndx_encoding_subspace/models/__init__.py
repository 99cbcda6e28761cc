"""Encoding models: layers, the population CNN, the LN baseline, the subspace network,
and :class:`MemberAverage` (several fitted models averaged as one module).

Every model maps ``[batch, time, frequency]`` to ``[batch, time, units]`` causally; each
single model exposes ``core(x)`` (the output before the per-unit double exponential), ``output``
(a :class:`DoubleExponential`) and ``receptive_field`` (bins).
"""

from .architecture import (
    from_architecture,
    load_state,
    state_arrays,
    to_architecture,
    validate_architecture,
)
from .average import MemberAverage
from .cnn import LNPopulation, PopulationCNN, StackedModel
from .layers import (
    Dense,
    DepthwiseCausalFIR,
    DoubleExponential,
    GaussianChannelMix,
    ReLU,
    ShiftedReLU,
)
from .select import select_units
from .subspace_net import SubspaceNetwork, SubspaceNetworks, UnitDense, UnitSplit

__all__ = [
    "GaussianChannelMix",
    "DepthwiseCausalFIR",
    "ShiftedReLU",
    "ReLU",
    "Dense",
    "DoubleExponential",
    "StackedModel",
    "PopulationCNN",
    "LNPopulation",
    "SubspaceNetwork",
    "SubspaceNetworks",
    "MemberAverage",
    "UnitSplit",
    "UnitDense",
    "to_architecture",
    "from_architecture",
    "validate_architecture",
    "load_state",
    "state_arrays",
    "select_units",
]
