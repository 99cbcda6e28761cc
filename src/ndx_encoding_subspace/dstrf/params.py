"""Parameters of the dSTRF step, its result type and the paper's sample of bins.

torch is imported by the methods that need a device only: the parameters themselves are
light (the command line builds its flags from them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..compute import items_per_batch
from ..errors import ConfigError
from ..fitting.training_params import check_device, resolve_device
from ..params import Params, check_range

if TYPE_CHECKING:
    import torch

__all__ = ["CPU_CHUNK", "DEVICE_CHUNK", "DSTRFParams", "DSTRFChunk", "sample_times", "window_bytes"]

#: Default windows per chunk on the CPU: a chunk's dSTRFs stay within a few tens of MB.
CPU_CHUNK = 256
#: Default windows per chunk on a GPU: fewer, larger batches keep the card busy
#: (the paper CNN's 50 units: about 0.8 GB of float32 dSTRFs per chunk and model).
DEVICE_CHUNK = 4096
#: Working memory of one window, in copies of its dSTRFs (the values, the cotangents of
#: the widest layer, the pieces being reordered).
WINDOW_COPIES = 8


@dataclasses.dataclass(frozen=True)
class DSTRFParams(Params):
    """Parameters of the dSTRF step.

    Parameters
    ----------
    n_lags : int
        Window length ``D`` in bins (paper: 30); at least the model's receptive field.
    sample_step : int
        Every ``sample_step``-th bin of the concatenated stimuli is sampled (paper: 47).
    max_samples : int
        At most this many sampled bins, evenly thinned (paper: 3000); at least 2.
    sample_offset : int
        First sampled bin of the concatenated stimuli (paper: 0; the authors' code starts
        after its first window, 20 bins).
    include_output_nonlinearity : bool
        Differentiate the model's output (True, paper) or ``model.core`` (False).
    chunk_size : int or None
        Windows per batch; bounds memory (about ``chunk_size * units * D * channels``
        floats for the widest stage). None: :data:`CPU_CHUNK` on the CPU,
        :data:`DEVICE_CHUNK` on a GPU, fewer when they would not fit in the device's
        free memory (see :meth:`windows_per_chunk`).
    shrinkage : float
        Ensemble shrinkage strength (0: plain mean); see :func:`shrink`.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    n_lags: int = 30
    sample_step: int = 47
    max_samples: int = 3000
    sample_offset: int = 0
    include_output_nonlinearity: bool = True
    chunk_size: int | None = None
    shrinkage: float = 0.0
    device: str = "auto"

    def validate(self) -> None:
        for name in ("n_lags", "sample_step", "max_samples", "sample_offset", "chunk_size"):
            value = getattr(self, name)
            if name == "chunk_size" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"DSTRFParams.{name} must be an integer, got {value!r}")
            # a subspace is the PCA of at least 2 dSTRFs
            low = {"max_samples": 2, "sample_offset": 0}.get(name, 1)
            check_range(f"DSTRFParams.{name}", value, low)
        check_range("DSTRFParams.shrinkage", self.shrinkage, 0.0)
        if not isinstance(self.include_output_nonlinearity, bool):
            raise ConfigError(
                "DSTRFParams.include_output_nonlinearity must be true or false, "
                f"got {self.include_output_nonlinearity!r}"
            )
        check_device("DSTRFParams.device", self.device)

    def windows_per_chunk(self, window_bytes: int | None = None) -> int:
        """``chunk_size``, or the default for the device when it is None.

        Given the memory of one window (``window_bytes``, see :func:`window_bytes`), the
        default is lowered to what fits in the device's free memory, by the rule
        batched training follows (:func:`~ndx_encoding_subspace.compute.items_per_batch`).
        """
        if self.chunk_size is not None:
            return self.chunk_size
        import torch

        device = self.torch_device() if self.device == "auto" else torch.device(self.device)
        default = CPU_CHUNK if device.type == "cpu" else DEVICE_CHUNK
        if window_bytes is None:
            return default
        return items_per_batch(window_bytes, device=device, limit=default)

    def torch_device(self) -> torch.device:
        """The device to compute on (:class:`ConfigError` when torch does not see it)."""
        return resolve_device(self.device)


@dataclasses.dataclass(frozen=True)
class DSTRFChunk:
    """dSTRFs of consecutive requested bins of one sound.

    Attributes
    ----------
    sound : int
        Index of the stimulus in the list given.
    times : ndarray of int, shape (n,)
        Bins of that stimulus.
    values : ndarray or torch.Tensor, shape (n, units, frequency, lag), float32
        A tensor on the dSTRF device when the iterator was asked for tensors.
    """

    sound: int
    times: np.ndarray
    values: np.ndarray | torch.Tensor


def window_bytes(n_units: int, n_frequencies: int, n_lags: int) -> int:
    """Estimated working memory of one window's dSTRFs (float32, :data:`WINDOW_COPIES`)."""
    return 4 * WINDOW_COPIES * n_units * n_frequencies * n_lags


def sample_times(lengths: Sequence[int], params: DSTRFParams | None = None) -> list[np.ndarray]:
    """The paper's sample: every ``sample_step``-th bin of the concatenated stimuli, from
    bin ``sample_offset`` on.

    At most ``max_samples`` bins are kept, evenly spaced over the sample. Returns one
    array of bins per stimulus (bins local to that stimulus).
    """
    params = DSTRFParams.of(params)
    lengths = [int(n) for n in lengths]
    picked = np.arange(params.sample_offset, sum(lengths), params.sample_step)
    if len(picked) > params.max_samples:
        keep = np.linspace(0, len(picked) - 1, params.max_samples).round().astype(int)
        picked = picked[np.unique(keep)]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return [picked[(picked >= a) & (picked < b)] - a for a, b in zip(starts[:-1], starts[1:])]
