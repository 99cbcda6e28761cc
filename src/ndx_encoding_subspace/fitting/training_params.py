"""Parameters of a fit (:class:`TrainingParams`), of an ensemble of fits
(:class:`EnsembleParams`), and the device they name.

torch is imported by :func:`resolve_device` only: the parameters themselves are light
(the command line builds its flags from them).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..params import Params, check_choice, check_range

if TYPE_CHECKING:
    import torch

__all__ = ["TrainingParams", "EnsembleParams", "check_device", "resolve_device"]


@dataclasses.dataclass(frozen=True)
class TrainingParams(Params):
    """Parameters of one fit (paper values as defaults where the paper gives them).

    The schedule they drive is described in :mod:`~ndx_encoding_subspace.fitting.schedule`.

    Parameters
    ----------
    loss : str
        Training loss: "nmse" (squared error over each unit's response variance, the
        paper's) or "poisson".
    lr_stage1 : float
        Adam learning rate of stage 1, the core without the output nonlinearity (1e-3).
    lr_stage2 : float
        Adam learning rate of stage 2, the whole model (1e-4).
    l2 : float
        L2 penalty on the weights of the dense layers (1e-4).
    max_epochs : int
        Most epochs per stage (1000).
    patience : int
        Epochs without a better held-out loss before a stage stops (20).
    min_delta : float
        Least decrease of the held-out loss that counts as better (0).
    early_stop_fraction : float
        Share of the estimation sounds held out for early stopping, the last ones (0.2).
    stage2 : str
        "all_data" (the paper's: stage 2 trains on every estimation sound for as many
        epochs as stage 1 took to its best) or "early_stop" (stage 2 stops early like
        stage 1).
    two_stage : bool
        Train in two stages (core, then the whole model); false: one stage.
    segment_length : int
        Bins per training segment (200); each also carries the bins before it that the
        receptive field needs.
    batch_size : int
        Segments per batch (8).
    seed : int
        Seed of the initialisations and of the batch order.
    device : str
        "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
    mixed_precision : bool
        Forward passes in bfloat16 on CUDA (no effect on the CPU).
    nan_policy : str
        On a non-finite loss: "raise" (stop with an error naming stage and epoch) or
        "rollback" (restore the epoch's start, halve the learning rate, retry).
    max_rollbacks : int
        Rollbacks allowed in a whole fit before it fails (3).
    init_base_sd : float
        Between the stages, the output double exponential's base starts this many
        standard deviations of each unit's response below its mean (1: base = mean - sd).
    init_amplitude_sd : float
        Its amplitude starts at this many standard deviations of the response (4); with
        ``init_base_sd``, the output equals the response mean where the first stage's
        prediction has its mean (so ``init_base_sd`` must be below ``init_amplitude_sd``).
    """

    loss: str = "nmse"
    lr_stage1: float = 1e-3
    lr_stage2: float = 1e-4
    l2: float = 1e-4
    max_epochs: int = 1000
    patience: int = 20
    min_delta: float = 0.0
    early_stop_fraction: float = 0.2
    stage2: str = "all_data"
    two_stage: bool = True
    segment_length: int = 200
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = False
    nan_policy: str = "raise"
    max_rollbacks: int = 3
    init_base_sd: float = 1.0
    init_amplitude_sd: float = 4.0

    def validate(self) -> None:
        check_choice("TrainingParams.loss", self.loss, ("nmse", "poisson"))
        check_range("TrainingParams.lr_stage1", self.lr_stage1, 0, None, low_open=True)
        check_range("TrainingParams.lr_stage2", self.lr_stage2, 0, None, low_open=True)
        check_range("TrainingParams.l2", self.l2, 0)
        check_range("TrainingParams.max_epochs", self.max_epochs, 1)
        check_range("TrainingParams.patience", self.patience, 1)
        check_range("TrainingParams.min_delta", self.min_delta, 0)
        check_range("TrainingParams.early_stop_fraction", self.early_stop_fraction, 0, 1,
                    low_open=True, high_open=True)
        check_choice("TrainingParams.stage2", self.stage2, ("all_data", "early_stop"))
        check_range("TrainingParams.segment_length", self.segment_length, 1)
        check_range("TrainingParams.batch_size", self.batch_size, 1)
        check_range("TrainingParams.seed", self.seed, 0)
        check_device("TrainingParams.device", self.device)
        check_choice("TrainingParams.nan_policy", self.nan_policy, ("raise", "rollback"))
        check_range("TrainingParams.max_rollbacks", self.max_rollbacks, 0)
        check_range("TrainingParams.init_base_sd", self.init_base_sd, 0, None, low_open=True)
        check_range("TrainingParams.init_amplitude_sd", self.init_amplitude_sd, 0, None, low_open=True)
        if self.init_base_sd >= self.init_amplitude_sd:
            raise ConfigError(f"TrainingParams.init_base_sd ({self.init_base_sd:g}) must be below "
                              f"TrainingParams.init_amplitude_sd ({self.init_amplitude_sd:g}): the output "
                              "starts at the response mean, init_base_sd / init_amplitude_sd of the way up "
                              "its range")
        for name in ("max_epochs", "patience", "segment_length", "batch_size", "seed", "max_rollbacks"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ConfigError(f"TrainingParams.{name} must be an integer, got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True)
class EnsembleParams(Params):
    """Ensemble size (paper: 8 jackknifes x 4 initialisations, best kept per jackknife).

    The ensemble itself is :func:`~ndx_encoding_subspace.fitting.ensemble.fit_ensemble`'s.

    Parameters
    ----------
    n_jackknife : int
        Jackknifes: fits each leaving out another share of the estimation sounds.
    n_init : int
        Random initialisations (starts) fitted per jackknife; one is kept per jackknife.
    batch_members : int
        Most fits trained at once as one batched model: 0 (default) as many as the
        device's free memory holds; ``n >= 1`` at most ``n`` (1: one after another).
        Does not change results (beyond float rounding).
    select_by : str
        Which initialisation of a jackknife is kept: ``"held_out"`` (default) the lowest
        loss on the fit's held-out early-stopping sounds (stage 1's, where stage 2 trains
        on them too); ``"final"`` the lowest training loss over the fit's last epoch, as
        the authors' code keeps the start of lowest final error (METHOD.md section 10;
        with ``training.stage2 = "early_stop"`` that epoch's weights may not be the ones
        kept, which are the best held-out epoch's).
    """

    n_jackknife: int = 8
    n_init: int = 4
    select_by: str = "held_out"
    batch_members: int = dataclasses.field(
        default=0,
        metadata={"help": "most ensemble fits trained at once (0: as many as fit in memory); "
                          "no effect on results"},
    )

    def validate(self) -> None:
        for name in ("n_jackknife", "n_init", "batch_members"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"EnsembleParams.{name} must be an integer, got {value!r}")
            check_range(f"EnsembleParams.{name}", value, 0 if name == "batch_members" else 1)
        check_choice("EnsembleParams.select_by", self.select_by, ("held_out", "final"))


def check_device(name: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` names a device: ``auto``, ``cpu``,
    ``cuda`` or ``cuda:N`` (whether it is there is :func:`resolve_device`'s question)."""
    if not (isinstance(value, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", value)):
        raise ConfigError(f"{name} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` must be available."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but torch sees no CUDA device")
        index = torch.device(name).index
        if index is not None and index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} requested but torch sees {torch.cuda.device_count()} "
                              "CUDA device(s), numbered from 0")
    return torch.device(name)
