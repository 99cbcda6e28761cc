"""Tuning subspaces: per-unit PCA of dSTRFs (METHOD.md section 4), in memory or streamed.

Outlier filter
--------------
METHOD.md drops "outlier samples whose deviation from the mean dSTRF exceeds 5x the
mean's standard deviation". We read this as a test on the size of each sample's
deviation: with ``m`` the unit's mean dSTRF and ``d_i = ||x_i - m||`` (Euclidean norm
over frequency x lag),
sample ``i`` is dropped when ``d_i > outlier_sd * sqrt(mean_j d_j^2)``, i.e. when its
deviation exceeds ``outlier_sd`` times the root-mean-square deviation of all samples (the
standard deviation of the samples around the mean, pooled over elements). One pass, no
iteration; by Markov's inequality at most ``1 / outlier_sd^2`` of the samples (4% at 5)
can be dropped. A per-element z-score (any element beyond 5 SD) was rejected because it
drops many samples of heavy-tailed but valid dSTRFs; a threshold on the *mean's* own
spread would drop most samples of phase-invariant units, whose mean dSTRF is near zero.

Choice of k
-----------
With ``k_rule="variance"`` (the paper's), ``k`` is the smallest number of components
whose cumulative variance reaches ``variance_threshold`` of the variance of the first
``n_components`` components (the paper's "0.95 of the 25"); ``k90`` and ``k95`` use 0.90
and 0.95. With ``k_rule="significance"``, ``k`` is the number of leading components
above the noise floor (below), at least 1. Both counts are always kept:
``n_significant`` (stored as ``k_significant``) whatever the rule.

Noise floor
-----------
Each element (frequency, lag) is shuffled independently across samples, which keeps
every element's variance (so the total variance) and destroys their covariance; PCA of
the shuffled samples gives the floor, averaged over ``noise_repeats`` shuffles.
Leading components whose explained variance ratio exceeds the floor are significant.
The shuffles are drawn where the samples are: by numpy on the CPU, by torch's generator
on a GPU (a host-drawn shuffle of 3,000 x 960 samples takes about 50 ms, which would
serialise a GPU run), so the two floors are two draws of one Monte-Carlo estimate, about
1% apart at 2,000 samples and 10 shuffles.

Streaming
---------
:mod:`.subspace_stream` computes the same subspaces from dSTRF chunks in memory
independent of the number of bins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from ..arrays import real_array, summary_repr
from ..errors import InvalidDataError
from ..extension.reliability import choose_k, count_significant
from .linalg import gram, top_eigh, top_eigvalsh
from .params import K_RULES, RELIABILITY_RULES, SubspaceParams

__all__ = [
    "SubspaceParams",
    "TuningSubspace",
    "outlier_keep",
    "fit_subspace",
    "fit_subspaces",
    "choose_k",
    "count_significant",
    "K_RULES",
    "RELIABILITY_RULES",
]


@dataclasses.dataclass(frozen=True)
class TuningSubspace:
    """One unit's tuning subspace.

    Attributes
    ----------
    unit : int
        Position of the unit at the site (-1 for a pooled, site-wide subspace).
    components : ndarray [n_components, frequency, lag]
        Orthonormal principal components (flattened), sign: sum positive.
    explained_variance : ndarray [n_components]
        Variance along each component.
    explained_variance_ratio : ndarray [n_components]
        Fraction of the total variance.
    noise_floor : ndarray [n_components]
        Explained variance ratio of shuffled samples (mean over shuffles; NaN if skipped).
    k : int
        Subspace dimension by ``k_rule`` (at ``variance_threshold`` by default).
    k90, k95 : int
        Components reaching 0.90 and 0.95 of the variance.
    n_significant : int
        Leading components above the noise floor (``k_significant`` in results files;
        0 without a noise floor).
    mean : ndarray [frequency, lag]
        Mean dSTRF of the retained samples.
    n_samples, n_outliers : int
        Samples used and samples dropped.
    """

    __repr__ = summary_repr

    unit: int
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    noise_floor: np.ndarray
    k: int
    k90: int
    k95: int
    n_significant: int
    mean: np.ndarray
    n_samples: int
    n_outliers: int

    @property
    def filters(self) -> np.ndarray:
        """The first ``k`` components, ``[k, frequency, lag]``."""
        return self.components[: self.k]

    @property
    def k_significant(self) -> int:
        """Leading components above the noise floor (``n_significant``)."""
        return self.n_significant

    def basis(self, k: int | None = None) -> np.ndarray:
        """First ``k`` (default ``self.k``) components flattened, ``[frequency*lag, k]``."""
        k = self.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= len(self.components):
            raise InvalidDataError(f"k must be a whole number from 1 to the {len(self.components)} "
                                   f"components, got {k!r}")
        return self.components[:k].reshape(k, -1).T


def outlier_keep(x: np.ndarray, outlier_sd: float, mean: np.ndarray | None = None,
                 rms: float | None = None) -> np.ndarray:
    """Boolean mask of samples kept by the outlier filter (see the module docstring).

    ``x`` is ``[samples, features]``; ``mean`` and ``rms`` default to those of ``x``.
    """
    if mean is None:
        mean = x.mean(axis=0, dtype=np.float64)
    dev = np.empty(len(x))
    for a in range(0, len(x), 4096):  # in row blocks: no temporary the size of x
        dev[a:a + 4096] = np.sqrt(((x[a:a + 4096] - mean) ** 2).sum(axis=1, dtype=np.float64))
    if rms is None:
        rms = float(np.sqrt(np.mean(dev**2)))
    if not np.isfinite(outlier_sd):
        return np.ones(len(x), dtype=bool)
    return dev <= outlier_sd * rms


def _orient(components: np.ndarray) -> np.ndarray:
    signs = np.where(components.sum(axis=1) < 0, -1.0, 1.0)
    return components * signs[:, None]


def _noise_floor(x: np.ndarray | torch.Tensor, params: SubspaceParams, total: float,
                 host: bool | None = None) -> np.ndarray:
    """Mean explained variance ratios of the shuffled samples ``x [n, features]``,
    computed in float64 on ``x``'s device (``host``: as in :func:`.linalg.top_eigvalsh`).

    On the host each element is shuffled by numpy's ``Generator.permuted``. Elsewhere the
    shuffles are drawn where the samples are, by sorting uniform float64 keys from a torch
    generator seeded with ``params.seed``, so no shuffle waits on the host: the floor is
    then another draw of the same Monte-Carlo estimate.
    """
    nc = params.n_components
    if params.noise_repeats == 0 or len(x) < 2 or total <= 0:
        return np.full(nc, np.nan)
    x = torch.as_tensor(x)
    n = len(x)
    host = x.device.type == "cpu" if host is None else host
    shuffles = _host_shuffles(x, params) if host else _device_shuffles(x, params)
    top = []
    for shuffled in shuffles:  # centred, float64
        small = gram(shuffled.T) if n < shuffled.shape[1] else gram(shuffled)
        top.append(top_eigvalsh(small, min(nc, len(small)), host))
    out = np.zeros((params.noise_repeats, nc))
    got = torch.stack(top).cpu().numpy() / (n - 1)  # one transfer for all repeats
    out[:, : got.shape[1]] = got / total
    return out.mean(axis=0)


def _host_shuffles(x: torch.Tensor, params: SubspaceParams) -> Iterator[torch.Tensor]:
    rng = np.random.default_rng(params.seed)
    for _ in range(params.noise_repeats):  # numpy: small operations wake no thread pool
        shuffled = rng.permuted(x.cpu().numpy(), axis=0).astype(np.float64)
        shuffled -= shuffled.mean(axis=0)
        yield torch.from_numpy(shuffled)


def _device_shuffles(x: torch.Tensor, params: SubspaceParams) -> Iterator[torch.Tensor]:
    generator = torch.Generator(device=x.device)
    generator.manual_seed(params.seed)
    for _ in range(params.noise_repeats):
        # float64 keys: a tie, which would bias the permutation, has odds of about
        # n^2 / 2^54 per column (2.5e-10 at 3,000 samples)
        keys = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
        shuffled = torch.gather(x, 0, keys.argsort(dim=0)).double()
        yield shuffled - shuffled.mean(dim=0)


def _finish(unit: int, shape: tuple[int, ...], mean: np.ndarray, eigval: np.ndarray,
            eigvec: np.ndarray, total: float, floor: np.ndarray, n: int, n_out: int,
            params: SubspaceParams) -> TuningSubspace:
    nc = params.n_components
    p = int(np.prod(shape))
    ev = np.zeros(nc)
    comps = np.zeros((nc, p))
    m = min(nc, len(eigval))
    ev[:m] = np.clip(eigval[:m], 0.0, None)
    comps[:m] = _orient(eigvec[:, :m].T)
    ratio = ev / total if total > 0 else np.zeros(nc)
    n_sig = count_significant(ratio, floor)
    k = choose_k(ev, params.variance_threshold) if params.k_rule == "variance" else max(n_sig, 1)
    return TuningSubspace(
        unit=unit,
        components=comps.reshape(nc, *shape),
        explained_variance=ev,
        explained_variance_ratio=ratio,
        noise_floor=floor,
        k=k,
        k90=choose_k(ev, 0.90),
        k95=choose_k(ev, 0.95),
        n_significant=n_sig,
        mean=mean.reshape(shape),
        n_samples=n,
        n_outliers=n_out,
    )


def fit_subspace(samples: np.ndarray, params: SubspaceParams | None = None,
                 unit: int = 0) -> TuningSubspace:
    """PCA of one unit's dSTRFs ``[samples, frequency, lag]`` held in memory.

    Outlier filter, mean-centred PCA (leading eigenvectors of the covariance), sign
    convention, shuffle noise floor (on at most ``noise_max_samples`` samples, a uniform
    random subset) and k, as in the module docstring. Working memory is about twice the
    samples in float64, whatever their number.
    """
    params = SubspaceParams.of(params)
    samples = real_array(samples, f"unit {unit}: dSTRFs")
    if samples.ndim < 2 or len(samples) < 2:
        raise InvalidDataError(f"unit {unit}: need at least 2 dSTRF samples, got {samples.shape}")
    shape = samples.shape[1:]
    x = samples.reshape(len(samples), -1).astype(np.float64)
    if not np.isfinite(x).all():
        raise InvalidDataError(f"unit {unit}: dSTRFs hold NaN or inf")
    keep = outlier_keep(x, params.outlier_sd)
    if not keep.all():
        x = x[keep]
    n = len(x)
    if n < 2:
        raise InvalidDataError(f"unit {unit}: {n} of {len(keep)} dSTRF samples left after the outlier filter "
                               f"(outlier_sd = {params.outlier_sd:g}): a subspace needs at least 2")
    mean = x.mean(axis=0)
    x -= mean  # the shuffles' floor is the same on centred samples
    cov = gram(torch.from_numpy(x)) / (n - 1)
    total = float(torch.trace(cov))
    eigval, eigvec = top_eigh(cov, min(params.n_components, len(cov)))
    if n > params.noise_max_samples:  # a stream of its own, apart from the shuffles'
        rng = np.random.default_rng(np.random.SeedSequence(params.seed).spawn(1)[0])
        x = x[np.sort(rng.choice(n, params.noise_max_samples, replace=False))]
    floor = _noise_floor(x, params, total)
    return _finish(unit, shape, mean, eigval, eigvec, total, floor, n, int((~keep).sum()), params)


def fit_subspaces(dstrfs: np.ndarray, params: SubspaceParams | None = None) -> list[TuningSubspace]:
    """Subspaces of every unit from dSTRFs ``[samples, units, frequency, lag]``."""
    dstrfs = real_array(dstrfs, "dSTRFs")
    if dstrfs.ndim != 4:
        raise InvalidDataError(f"dSTRFs must be [samples, units, frequency, lag], got {dstrfs.shape}")
    return [fit_subspace(dstrfs[:, u], params, unit=u) for u in range(dstrfs.shape[1])]
