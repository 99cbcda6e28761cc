"""A model's outputs for some of its units, as a model of its own.

A population model's last core layer is a :class:`~.layers.Dense` read-out with one
row per unit, followed by the per-unit :class:`~.layers.DoubleExponential`; each unit's
output depends on the shared layers and on its own row and nonlinearity only. Keeping
the rows of some units gives a smaller model whose outputs equal the population
model's outputs for those units. This is how a model fitted on a population of several
sites (:func:`~ndx_encoding_subspace.data.population.join_sites`) becomes each site's
model: an ordinary :class:`~.cnn.StackedModel`, stored and analysed like any other.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .cnn import StackedModel
from .layers import Dense

__all__ = ["select_units"]


def select_units(model: nn.Module, index: Sequence[int] | np.ndarray) -> StackedModel:
    """A copy of ``model`` with the outputs of the units at positions ``index`` only.

    Parameters
    ----------
    model : StackedModel
        A model whose last core layer is a :class:`~.layers.Dense` read-out.
    index : sequence of int
        Unit positions, in the order wanted (each in ``0 .. n_units - 1``).

    Returns
    -------
    StackedModel
        Its output ``[..., j]`` equals ``model``'s output ``[..., index[j]]`` (up to float
        rounding: the read-out multiplies a matrix of another shape).

    Raises
    ------
    ConfigError
        Not a stacked model with a dense read-out, or positions out of range.
    """
    layers = getattr(model, "core_layers", None)
    if not isinstance(model, StackedModel) or not layers or not isinstance(layers[-1], Dense):
        raise ConfigError(f"select_units: {type(model).__name__} has no dense read-out of its units")
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if index.size == 0 or index.min() < 0 or index.max() >= model.n_units:
        raise ConfigError(f"select_units: positions must lie in 0..{model.n_units - 1}, got {index.tolist()}")
    rows = torch.as_tensor(index)
    out = copy.deepcopy(model)
    readout = out.core_layers[-1]
    old = readout.linear
    new = nn.Linear(old.in_features, len(index), bias=old.bias is not None)
    with torch.no_grad():
        new.weight.copy_(old.weight[rows])
        if old.bias is not None:
            new.bias.copy_(old.bias[rows])
    readout.linear, readout.n_out = new.to(old.weight.device), len(index)
    output = out.output
    with torch.no_grad():
        for name in ("base", "amplitude", "kappa", "shift"):
            setattr(output, name, nn.Parameter(getattr(output, name)[rows].clone()))
    output.n_units = out.n_units = len(index)
    return out
