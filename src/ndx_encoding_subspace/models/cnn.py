"""Population CNN and LN baseline of METHOD.md section 2.

Both are :class:`StackedModel` instances: a ``core`` (a sequence of layers mapping
``[batch, time, frequency]`` to ``[batch, time, units]``) followed by a per-unit
:class:`~.layers.DoubleExponential` ``output``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .layers import (
    Dense,
    DepthwiseCausalFIR,
    DoubleExponential,
    GaussianChannelMix,
    ShiftedReLU,
)

__all__ = ["StackedModel", "PopulationCNN", "LNPopulation"]


class StackedModel(nn.Module):
    """A causal stack of layers followed by a per-unit double exponential.

    Parameters
    ----------
    layers : sequence of nn.Module
        The core, applied in order; maps ``[batch, time, n_inputs]`` to
        ``[batch, time, n_units]``.
    n_units : int
        Number of outputs (units).

    Attributes
    ----------
    core_layers : nn.Sequential
    output : DoubleExponential
    receptive_field : int
        Number of bins (current one included) that influence one output bin.
    """

    def __init__(self, layers: Sequence[nn.Module], n_units: int) -> None:
        super().__init__()
        self.core_layers = nn.Sequential(*layers)
        self.output = DoubleExponential(n_units)
        self.n_units = int(n_units)

    @property
    def receptive_field(self) -> int:
        """1 + the sum of (taps - 1) over the FIR layers."""
        return 1 + sum(m.taps - 1 for m in self.core_layers if isinstance(m, DepthwiseCausalFIR))

    @property
    def n_inputs(self) -> int | None:
        """Input channels expected, from the first layer that declares them."""
        for m in self.core_layers:
            for name in ("n_in", "channels"):
                if hasattr(m, name):
                    return int(getattr(m, name))
        return None

    def core(self, x: torch.Tensor, has_context: bool = False) -> torch.Tensor:
        """Output before the double exponential, ``[batch, time, units]``.

        The stimulus is taken as zero (silence) before its first bin: ``receptive_field
        - 1`` zero bins are put before it and their outputs dropped. Every output bin is
        then the same function of its ``receptive_field``-bin window, at a sound's start
        too, as in training (segments carry the bins before them, zeros before a sound),
        in the dSTRF and in the projection. Zero padding inside the layers would instead
        feed the deeper layers zeros where a silent stimulus gives ``relu(bias + shift)``.
        ``has_context=True`` skips the padding for input that already starts with
        ``receptive_field - 1`` bins of context, whose outputs the caller drops.
        """
        pad = 0 if has_context else self.receptive_field - 1
        if pad == 0:
            return self.core_layers(x)
        return self.core_layers(nn.functional.pad(x, (0, 0, pad, 0)))[:, pad:]

    def forward(self, x: torch.Tensor, has_context: bool = False) -> torch.Tensor:
        """Predicted response ``[batch, time, units]`` from ``[batch, time, inputs]``
        (``has_context``: as in :meth:`core`)."""
        return self.output(self.core(x, has_context))


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


class PopulationCNN(StackedModel):
    """The paper's population CNN (defaults: the final published model).

    Layers: Gaussian mixing ``F -> mix_channels``, depthwise causal FIR (``fir_taps``),
    shifted ReLU; dense ``-> hidden[0]``, FIR (``fir_taps``), shifted ReLU; dense
    ``-> hidden[1]``, shifted ReLU; dense ``-> n_units``; double exponential.
    Receptive field ``2 (fir_taps - 1) + 1`` bins (29 with the defaults).

    Parameters
    ----------
    n_frequencies : int
        Spectrogram channels (32 in the paper).
    n_units : int
        Units of the site.
    mix_channels : int
        Outputs of the Gaussian mixing layer (90).
    fir_taps : int
        Taps of both FIR layers (15).
    hidden : tuple of int
        Widths of the two dense hidden layers (100, 120).
    min_width : float
        Lower bound of the Gaussian widths, fraction of the frequency axis (0.05).
    """

    def __init__(
        self,
        n_frequencies: int,
        n_units: int,
        *,
        mix_channels: int = 90,
        fir_taps: int = 15,
        hidden: tuple[int, int] = (100, 120),
        min_width: float = 0.05,
    ) -> None:
        for name, v in (("n_frequencies", n_frequencies), ("n_units", n_units),
                        ("mix_channels", mix_channels), ("fir_taps", fir_taps)):
            _check_positive(name, v)
        if len(hidden) != 2:
            raise ConfigError(f"hidden must hold two layer widths, got {hidden!r}")
        h1, h2 = (_check_positive("hidden", int(h)) for h in hidden)
        layers = [
            GaussianChannelMix(n_frequencies, mix_channels, min_width),
            DepthwiseCausalFIR(mix_channels, fir_taps),
            ShiftedReLU(mix_channels),
            Dense(mix_channels, h1),
            DepthwiseCausalFIR(h1, fir_taps),
            ShiftedReLU(h1),
            Dense(h1, h2),
            ShiftedReLU(h2),
            Dense(h2, n_units),
        ]
        super().__init__(layers, n_units)


class LNPopulation(StackedModel):
    """LN baseline: Gaussian mixing ``F -> channels``, causal FIR, dense, double exponential.

    Parameters
    ----------
    n_frequencies, n_units : int
        Input channels and units.
    channels : int
        Mixing outputs (120 in the paper).
    taps : int
        FIR taps (25 in the paper).
    min_width : float
        Lower bound of the Gaussian widths (0.05).
    """

    def __init__(
        self, n_frequencies: int, n_units: int, channels: int = 120, taps: int = 25,
        min_width: float = 0.05,
    ) -> None:
        for name, v in (("n_frequencies", n_frequencies), ("n_units", n_units),
                        ("channels", channels), ("taps", taps)):
            _check_positive(name, v)
        layers = [
            GaussianChannelMix(n_frequencies, channels, min_width),
            DepthwiseCausalFIR(channels, taps),
            Dense(channels, n_units),
        ]
        super().__init__(layers, n_units)
