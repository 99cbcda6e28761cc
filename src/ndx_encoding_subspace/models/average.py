"""Several fitted models of one architecture as a single module that averages them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .cnn import StackedModel

__all__ = ["MemberAverage"]


class MemberAverage(nn.Module):
    """The mean prediction of several fitted models (an ensemble as one module).

    Each member maps ``[batch, time, inputs]`` to ``[batch, time, units]``; the module
    returns the mean of their outputs. Parameters keep their members' names under
    ``members.<i>.``, so the ensemble is stored and rebuilt like any one model
    (:func:`~.architecture.to_architecture` writes the members' common architecture
    and their number).

    Parameters
    ----------
    members : sequence of StackedModel
        At least one model; all with the same number of outputs.
    """

    def __init__(self, members: Sequence[StackedModel]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ConfigError("MemberAverage needs at least one member")
        units = {int(m.n_units) for m in members}
        if len(units) != 1:
            raise ConfigError(f"MemberAverage members differ in their number of outputs: {sorted(units)}")
        self.members = nn.ModuleList(members)
        self.n_units = units.pop()

    @property
    def receptive_field(self) -> int:
        """The largest receptive field (bins) of the members."""
        return max(int(m.receptive_field) for m in self.members)

    @property
    def n_inputs(self) -> int | None:
        """Input channels expected (those of the first member)."""
        return self.members[0].n_inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the members' predictions, ``[batch, time, units]``."""
        total = self.members[0](x)
        for member in self.members[1:]:
            total = total + member(x)
        return total / len(self.members)
