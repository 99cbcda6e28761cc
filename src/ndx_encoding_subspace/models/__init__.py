"""Encoding models: layers, the population CNN, the LN baseline, the subspace network,
and :class:`MemberAverage` (several fitted models averaged as one module).

Every model maps ``[batch, time, frequency]`` to ``[batch, time, units]`` causally; each
single model exposes ``core(x)`` (the output before the per-unit double exponential), ``output``
(a :class:`DoubleExponential`) and ``receptive_field`` (bins).

Names load on first use (:mod:`.._lazy`): the parameter sets (:mod:`.params`) without torch.
"""

from .._lazy import attach

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

attach(__name__, {
    "architecture": ("from_architecture", "load_state", "state_arrays", "to_architecture",
                     "validate_architecture"),
    "average": ("MemberAverage",),
    "cnn": ("LNPopulation", "PopulationCNN", "StackedModel"),
    "layers": ("Dense", "DepthwiseCausalFIR", "DoubleExponential", "GaussianChannelMix", "ReLU",
               "ShiftedReLU"),
    "select": ("select_units",),
    "subspace_net": ("SubspaceNetwork", "SubspaceNetworks", "UnitDense", "UnitSplit"),
})
