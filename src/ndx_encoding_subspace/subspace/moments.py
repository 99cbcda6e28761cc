"""Per-unit moments of flattened samples, in memory independent of the number of samples.

:class:`MomentAccumulator` keeps, per unit, the count, sum and scatter matrix of the
samples' deviations from a fixed point near their mean, in float64, so memory depends on
the number of features (``frequency x lag`` for dSTRFs) and not on the number of samples.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, InvalidDataError
from .linalg import add_grams, symmetric

__all__ = ["MomentAccumulator"]


class MomentAccumulator:
    """Per-unit count, mean and scatter of flattened samples, in float64 on a torch device.

    The sums are of deviations from a fixed per-unit *shift*: given, or else the mean
    of the first batch. Centred at a point near the mean, the sums lose
    no precision to cancellation, and a batch needs one subtraction and one symmetric
    product (:func:`.linalg.add_grams`) for every unit at once.

    Parameters
    ----------
    n_units, n_features : int
    scatter : bool
        Keep the full ``[features, features]`` scatter (True) or only its trace.
    device : str or torch.device
    shift : array [units, features], optional
        The outlier filter's centre, for instance; default: each unit's mean in the first
        batch.
    """

    def __init__(self, n_units: int, n_features: int, scatter: bool = True,
                 device: str | torch.device = "cpu", shift: np.ndarray | None = None) -> None:
        self.device = torch.device(device)
        kw = {"dtype": torch.float64, "device": self.device}
        self._count = torch.zeros(n_units, **kw)
        self._sum = torch.zeros((n_units, n_features), **kw)
        self._square = torch.zeros(n_units, **kw)  # kept apart only without the scatter
        self._m2 = torch.zeros((n_units, n_features, n_features), **kw) if scatter else None
        self._unset = torch.full((n_units,), shift is None, device=self.device)
        self._buffer: torch.Tensor | None = None
        self._shift = torch.zeros((n_units, n_features), **kw) if shift is None \
            else torch.as_tensor(np.asarray(shift, dtype=np.float64), device=self.device).clone()
        if self._shift.shape != self._sum.shape:
            raise InvalidDataError(f"shift must be [{n_units}, {n_features}], "
                                   f"got {tuple(self._shift.shape)}")

    def deviations(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``x [n, units, features]`` minus the shift, as ``[units, n, features]`` float64,
        in a buffer that the next call reuses."""
        x = torch.as_tensor(x).to(self.device)
        if x.ndim != 3 or x.shape[1:] != self._sum.shape:
            raise InvalidDataError(f"samples must be [n, {len(self._sum)}, "
                                   f"{self._sum.shape[1]}], got {tuple(x.shape)}")
        if bool(self._unset.any()) and len(x):
            # each unit's mean over its finite rows (a dropped NaN row must not spoil it)
            xt = x.transpose(0, 1).double()
            ok = torch.isfinite(xt).all(dim=2, keepdim=True)
            found = ok.sum(dim=1)
            first = torch.where(ok, xt, 0.0).sum(dim=1) / found.clamp(min=1)
            now = self._unset & (found[:, 0] > 0)
            self._shift[now] = first[now]
            self._unset &= ~now
        shape = (x.shape[1], x.shape[0], x.shape[2])
        if self._buffer is None or self._buffer.shape != shape:
            # one buffer for every batch of this size: fresh ones would be faulted in anew
            self._buffer = torch.empty(shape, dtype=torch.float64, device=self.device)
        # a copy then an in-place subtraction: several times faster on the CPU than one
        # subtraction that transposes and widens at once
        self._buffer.copy_(x.transpose(0, 1))
        return self._buffer.sub_(self._shift[:, None])

    def add_deviations(self, d: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        """Merge deviations ``d [units, n, features]`` from :meth:`deviations`, leaving
        out those where ``keep [units, n]`` is False (``d`` is then overwritten)."""
        if d.shape[1] == 0:
            return
        if keep is None:
            self._count += d.shape[1]
        else:
            if not bool(keep.all()):
                d.masked_fill_(~keep[:, :, None], 0.0)  # zero even where a dropped row is NaN
            self._count += keep.sum(dim=1)
        self._sum += d.sum(dim=1)
        if self._m2 is not None:  # the trace is read off the scatter's diagonal
            add_grams(self._m2, d)
        else:
            self._square += torch.linalg.vector_norm(d, dim=(1, 2)).square()

    def add(self, x: np.ndarray | torch.Tensor, keep: np.ndarray | torch.Tensor | None = None) -> None:
        """Merge samples ``x [n, units, features]``, leaving out those where
        ``keep [n, units]`` is False."""
        d = self.deviations(x)
        self.add_deviations(d, None if keep is None else torch.as_tensor(keep, device=self.device).T)

    @property
    def count(self) -> np.ndarray:
        """Samples merged per unit."""
        return self._count.cpu().numpy().astype(np.int64)

    def _offset(self) -> torch.Tensor:
        """Mean minus shift, per unit."""
        return self._sum / self._count.clamp(min=1.0)[:, None]

    @property
    def mean(self) -> np.ndarray:
        """Per-unit mean ``[units, features]``."""
        return (self._shift + self._offset()).cpu().numpy()

    @property
    def trace(self) -> np.ndarray:
        """Per-unit sum of squared deviations from the mean."""
        square = self._square if self._m2 is None \
            else torch.diagonal(self._m2, dim1=1, dim2=2).sum(dim=1)
        return (square - self._count * self._offset().square().sum(dim=1)).cpu().numpy()

    @property
    def nbytes(self) -> int:
        """Memory held by the sums, whatever the number of samples."""
        tensors = (self._count, self._sum, self._square, self._m2, self._shift)
        return sum(t.element_size() * t.nelement() for t in tensors if t is not None)

    def covariance_tensor(self, unit: int) -> torch.Tensor:
        """Sample covariance (``n - 1`` normalisation) of one unit, on the device."""
        if self._m2 is None:
            raise ConfigError("this accumulator keeps no scatter matrices (scatter=False)")
        n = float(self._count[unit])
        offset = self._offset()[unit]
        scatter = symmetric(self._m2[unit]) - n * torch.outer(offset, offset)
        return scatter / max(n - 1.0, 1.0)

    def covariance(self, unit: int) -> np.ndarray:
        """Sample covariance (``n - 1`` normalisation) of one unit."""
        return self.covariance_tensor(unit).cpu().numpy()
