"""Parameter sets of the models the pipeline builds, and of scoring.

Each set holds the paper's values as defaults (METHOD.md sections 2, 5 and 7) and
builds its model for a given site size.
"""

from __future__ import annotations

import dataclasses

from ..errors import ConfigError
from ..params import Params, check_choice, check_range

__all__ = ["CNNParams", "LNParams", "SubspaceModelParams", "ScoringParams", "COMBINE", "SIGNAL_POWER_RULES"]

#: ways a subspace model combines its fits (:attr:`SubspaceModelParams.combine`)
COMBINE = ("mean", "best")
#: how CCnorm's signal power is estimated (:class:`ScoringParams`)
SIGNAL_POWER_RULES = ("joined", "within_clips")


def _positive_ints(owner: str, **values: int | tuple[int, ...]) -> None:
    for name, value in values.items():
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{owner}.{name} must be a positive integer, got {value!r}")
            check_range(f"{owner}.{name}", v, 1)


@dataclasses.dataclass(frozen=True)
class CNNParams(Params):
    """Population CNN architecture (METHOD.md section 2; the final published model).

    Parameters
    ----------
    mix_channels : int
        Outputs of the Gaussian channel mixing layer (90).
    fir_taps : int
        Taps of each depthwise causal FIR layer (15).
    second_fir_taps : int
        Taps of the second FIR layer when it differs from the first (the authors' code:
        10); 0: ``fir_taps``.
    hidden : tuple of int
        Widths of the two dense hidden layers (100, 120).
    min_width : float
        Lower bound of the Gaussian widths as a fraction of the frequency axis (0.05).
    """

    mix_channels: int = 90
    fir_taps: int = 15
    second_fir_taps: int = 0
    hidden: tuple[int, int] = (100, 120)
    min_width: float = 0.05

    def validate(self) -> None:
        _positive_ints("CNNParams", mix_channels=self.mix_channels, fir_taps=self.fir_taps,
                       hidden=tuple(self.hidden))
        if self.second_fir_taps != 0:
            _positive_ints("CNNParams", second_fir_taps=self.second_fir_taps)
        if len(self.hidden) != 2:
            raise ConfigError(f"CNNParams.hidden must hold two widths, got {self.hidden!r}")
        check_range("CNNParams.min_width", self.min_width, 0.0, 1.0, low_open=True)

    @property
    def receptive_field(self) -> int:
        """Bins (the current one included) that influence one output bin: the two FIRs."""
        return self.fir_taps + (self.second_fir_taps or self.fir_taps) - 1

    def build(self, n_frequencies: int, n_units: int):
        """A freshly initialised :class:`~.models.PopulationCNN`."""
        from .cnn import PopulationCNN

        return PopulationCNN(n_frequencies, n_units, params=self)


@dataclasses.dataclass(frozen=True)
class LNParams(Params):
    """LN baseline (METHOD.md section 2).

    Parameters
    ----------
    enabled : bool
        Fit the LN baseline at all.
    channels : int
        Gaussian mixing outputs (120).
    taps : int
        Causal FIR taps (25).
    min_width : float
        Lower bound of the Gaussian widths (0.05).
    """

    enabled: bool = True
    channels: int = 120
    taps: int = 25
    min_width: float = 0.05

    def validate(self) -> None:
        _positive_ints("LNParams", channels=self.channels, taps=self.taps)
        check_range("LNParams.min_width", self.min_width, 0.0, 1.0, low_open=True)

    def build(self, n_frequencies: int, n_units: int):
        """A freshly initialised :class:`~.models.LNPopulation`."""
        from .cnn import LNPopulation

        return LNPopulation(n_frequencies, n_units, params=self)


@dataclasses.dataclass(frozen=True)
class SubspaceModelParams(Params):
    """Per-unit subspace model (METHOD.md section 5): ``k -> 15 -> 15 -> 1``.

    Training uses the ``[training]`` parameters (two stages, like the CNN).

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer widths (15, 15).
    n_init : int
        Networks fitted per unit, each from its own random initialisation (4, as for
        the CNN).
    combine : str
        ``"mean"``: the model averages the predictions of its ``n_init`` networks, as the
        CNN's prediction averages its fits (the paper does not say how its subspace
        models combine fits; on NS1 the mean predicts better than the best single fit);
        ``"best"``: the network with the lowest held-out estimation loss is kept.
    ssrf_response : str
        Response the SSRFs and tuning curves average: ``"measured"`` (the recorded
        PSTHs of every sound) or ``"cnn"`` (the CNN ensemble's prediction).
    """

    hidden: tuple[int, ...] = (15, 15)
    n_init: int = 4
    combine: str = "mean"
    ssrf_response: str = "measured"

    def validate(self) -> None:
        _positive_ints("SubspaceModelParams", hidden=tuple(self.hidden), n_init=self.n_init)
        if not self.hidden:
            raise ConfigError("SubspaceModelParams.hidden needs at least one layer (paper: [15, 15])")
        check_choice("SubspaceModelParams.combine", self.combine, COMBINE)
        check_choice("SubspaceModelParams.ssrf_response", self.ssrf_response, ("measured", "cnn"))


@dataclasses.dataclass(frozen=True)
class ScoringParams(Params):
    """Scores of every model (METHOD.md section 7).

    Parameters
    ----------
    n_shuffles : int
        Shuffled predictions for the shuffle floor (100).
    floor_percentile : float
        Percentile of the shuffled correlations that is the floor (paper: 95).
    seed : int
        Seed of the shuffles.
    signal_power : str
        How the signal power of CCnorm and the noise ceiling is estimated from the
        validation sounds' repeats. ``"joined"``: that of the sounds joined end to end, as
        the prediction is scored (within each sound, plus how the sounds' mean rates
        differ beyond their noise), so a prediction of the true rate scores 1;
        ``"within_clips"``: within each sound only, averaged weighted by length (the NS1
        protocol of METHOD.md section 9, as its peers score; it leaves out the sounds'
        different mean rates, which the PSTH's variance keeps, so CCnorm comes out high).
    """

    n_shuffles: int = 100
    floor_percentile: float = 95.0
    seed: int = 0
    signal_power: str = "joined"

    def validate(self) -> None:
        _positive_ints("ScoringParams", n_shuffles=self.n_shuffles)
        check_range("ScoringParams.floor_percentile", self.floor_percentile, 0.0, 100.0)
        check_choice("ScoringParams.signal_power", self.signal_power, SIGNAL_POWER_RULES)
