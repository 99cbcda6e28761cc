"""Population CNN and LN baseline of METHOD.md section 2.

Both are :class:`StackedModel` instances: a ``core`` (a sequence of layers mapping
``[batch, time, frequency]`` to ``[batch, time, units]``) followed by a per-unit
:class:`~.layers.DoubleExponential` ``output``. Their sizes default to, and are checked
by, :class:`~.params.CNNParams` and :class:`~.params.LNParams`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import ConfigError
from ..params import Params
from .layers import (
    Dense,
    DepthwiseCausalFIR,
    DoubleExponential,
    GaussianChannelMix,
    ShiftedReLU,
)
from .params import CNNParams, LNParams

__all__ = ["StackedModel", "PopulationCNN", "LNPopulation"]

P = TypeVar("P", bound=Params)


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
    """A site size (frequencies, units) is a positive integer; parameters are checked by
    their :class:`~ndx_encoding_subspace.params.Params` class."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _with(params: Params | None, cls: type[P], **given: Any) -> P:
    """``params`` (or ``cls``'s defaults) with the keywords that are not None."""
    if params is None:
        return cls.from_keywords(**given)
    if not isinstance(params, cls):
        raise ConfigError(f"params must be {cls.__name__}, got {type(params).__name__}")
    return params.replace(**{k: v for k, v in given.items() if v is not None})


class PopulationCNN(StackedModel):
    """The paper's population CNN (defaults: the final published model, :class:`CNNParams`).

    Layers: Gaussian mixing ``F -> mix_channels``, depthwise causal FIR (``fir_taps``),
    shifted ReLU; dense ``-> hidden[0]``, FIR (``second_fir_taps`` when set, else
    ``fir_taps``), shifted ReLU; dense
    ``-> hidden[1]``, shifted ReLU; dense ``-> n_units``; double exponential.
    Receptive field ``(fir_taps - 1) + (second - 1) + 1`` bins (29 with the defaults).

    Parameters
    ----------
    n_frequencies : int
        Spectrogram channels (32 in the paper).
    n_units : int
        Units of the site.
    mix_channels, fir_taps, hidden, min_width : optional
        As in :class:`CNNParams`; None (the default) takes the value of ``params``.
    params : CNNParams, optional
        The architecture (:class:`CNNParams` defaults when None).
    """

    def __init__(
        self,
        n_frequencies: int,
        n_units: int,
        *,
        mix_channels: int | None = None,
        fir_taps: int | None = None,
        hidden: tuple[int, int] | None = None,
        min_width: float | None = None,
        params: CNNParams | None = None,
    ) -> None:
        _check_positive("n_frequencies", n_frequencies)
        _check_positive("n_units", n_units)
        p = _with(params, CNNParams, mix_channels=mix_channels, fir_taps=fir_taps, hidden=hidden,
                  min_width=min_width)
        (h1, h2), taps = p.hidden, p.fir_taps
        layers = [
            GaussianChannelMix(n_frequencies, p.mix_channels, p.min_width),
            DepthwiseCausalFIR(p.mix_channels, taps),
            ShiftedReLU(p.mix_channels),
            Dense(p.mix_channels, h1),
            DepthwiseCausalFIR(h1, p.second_fir_taps or taps),
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
    channels, taps, min_width : optional
        As in :class:`LNParams`; None (the default) takes the value of ``params``.
    params : LNParams, optional
        The architecture (:class:`LNParams` defaults when None).
    """

    def __init__(
        self, n_frequencies: int, n_units: int, channels: int | None = None,
        taps: int | None = None, min_width: float | None = None, *, params: LNParams | None = None,
    ) -> None:
        _check_positive("n_frequencies", n_frequencies)
        _check_positive("n_units", n_units)
        p = _with(params, LNParams, channels=channels, taps=taps, min_width=min_width)
        layers = [
            GaussianChannelMix(n_frequencies, p.channels, p.min_width),
            DepthwiseCausalFIR(p.channels, p.taps),
            Dense(p.channels, n_units),
        ]
        super().__init__(layers, n_units)
