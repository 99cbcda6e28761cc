"""Local-circuit analyses (METHOD.md section 6).

* Shared site subspace: PCA of every unit's dSTRFs pooled (each unit's samples weigh
  alike when the dSTRFs were normalised per unit, as the ensemble step does).
* Tiling: the stimulus projected on the first 3 shared dimensions, a 16^3 grid over the
  1st-99th percentile of each, the mean predicted response of each unit per voxel,
  Gaussian smoothing (sigma 0.75 bins), division by the maximum; a unit's response
  region is the set of voxels above half of it. Smoothing is *normalised*: the smoothed
  sum of responses divided by the smoothed count of visited voxels, so unvisited voxels
  neither pull the map down nor count. Region size is the fraction of the grid's voxels
  inside the region (``TilingParams.region_size_of="visited"``: of the voxels any
  stimulus bin falls in); pairwise overlap is the Jaccard index ``|A & B| / |A | B|`` of
  two regions.
* Subspace similarity: the mean squared cosine of the principal angles between two
  units' subspaces (1 for identical, ``~k/P`` for random ones); compared within and
  between sites.
* Summaries of any per-unit value by cell type (narrow / regular) and by depth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from scipy import ndimage, stats

from ..data.site import UnitInfo
from ..errors import InvalidDataError
from ..params import Params, check_choice, check_range
from ..subspace.pca import SubspaceParams, TuningSubspace, fit_subspace
from ..subspace.stream import streaming_subspaces

__all__ = [
    "shared_subspace",
    "shared_subspace_streaming",
    "TilingParams",
    "Tiling",
    "tiling",
    "subspace_similarity",
    "similarity_matrix",
    "within_between",
    "summarise_by_cell_type",
    "summarise_by_depth",
]


def shared_subspace(dstrfs: np.ndarray, params: SubspaceParams | None = None) -> TuningSubspace:
    """PCA of all units' dSTRFs ``[samples, units, frequency, lag]`` pooled (unit = -1)."""
    if dstrfs.ndim != 4:
        raise InvalidDataError(f"dSTRFs must be [samples, units, frequency, lag], got {dstrfs.shape}")
    pooled = dstrfs.reshape(-1, *dstrfs.shape[2:])
    return fit_subspace(pooled, params, unit=-1)


def shared_subspace_streaming(chunks: Callable[[], Iterable], params: SubspaceParams | None = None,
                              ) -> TuningSubspace:
    """:func:`shared_subspace` from dSTRF chunks, in bounded memory (two passes)."""

    def pooled():
        for chunk in chunks():
            v = getattr(chunk, "values", chunk)  # an array, or a tensor left on its device
            v = v if isinstance(v, torch.Tensor) else np.asarray(v)
            yield v.reshape(-1, 1, *v.shape[2:])

    return streaming_subspaces(pooled, params, units=[-1])[0]


@dataclasses.dataclass(frozen=True)
class TilingParams(Params):
    """Parameters of the tiling analysis (paper values).

    Parameters
    ----------
    n_dims : int
        Shared dimensions spanning the space (3).
    n_grid : int
        Voxels per axis (16).
    percentiles : tuple of float
        Grid range per axis (1, 99).
    sigma : float
        Gaussian smoothing in voxels (0.75).
    level : float
        Region threshold as a fraction of the maximum (0.5).
    region_size_of : {"volume", "visited"}
        Region size as a fraction of every voxel of the grid (the paper's "fraction of the
        volume") or of the voxels that some stimulus bin falls in.
    """

    n_dims: int = 3
    n_grid: int = 16
    percentiles: tuple[float, float] = (1.0, 99.0)
    sigma: float = 0.75
    level: float = 0.5
    region_size_of: str = "volume"

    def validate(self) -> None:
        check_range("TilingParams.n_dims", self.n_dims, 1, 4)
        check_range("TilingParams.n_grid", self.n_grid, 2)
        check_range("TilingParams.sigma", self.sigma, 0.0)
        check_range("TilingParams.level", self.level, 0.0, 1.0, low_open=True, high_open=True)
        check_choice("TilingParams.region_size_of", self.region_size_of, ("volume", "visited"))
        lo, hi = self.percentiles
        check_range("TilingParams.percentiles[0]", lo, 0.0, 50.0, high_open=True)
        check_range("TilingParams.percentiles[1]", hi, 50.0, 100.0, low_open=True)


@dataclasses.dataclass(frozen=True)
class Tiling:
    """Response regions of a site's units in the shared space.

    Attributes
    ----------
    maps : ndarray [units, n_grid, ...]
        Smoothed mean response per voxel divided by its maximum (NaN where unvisited).
    visited : ndarray [n_grid, ...] of bool
    regions : ndarray [units, n_grid, ...] of bool
    region_size : ndarray [units]
        Fraction of the grid's voxels (or of the visited ones, see
        ``TilingParams.region_size_of``) inside each unit's region.
    overlap : ndarray [units, units]
        Jaccard index of each pair of regions (1 on the diagonal).
    edges : ndarray [n_dims, n_grid + 1]
    """

    maps: np.ndarray
    visited: np.ndarray
    regions: np.ndarray
    region_size: np.ndarray
    overlap: np.ndarray
    edges: np.ndarray


def tiling(projections: np.ndarray, predictions: np.ndarray,
           params: TilingParams | None = None) -> Tiling:
    """Response regions from shared-space projections ``[time, >= n_dims]`` and predicted
    responses ``[time, units]`` (see the module docstring)."""
    params = params or TilingParams()
    x = np.asarray(projections, dtype=np.float64)
    y = np.asarray(predictions, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or x.shape[1] < params.n_dims or len(x) != len(y):
        raise InvalidDataError(
            f"tiling needs projections [time, >= {params.n_dims}] and predictions [time, units] "
            f"with the same bins, got {x.shape} and {y.shape}"
        )
    x = x[:, : params.n_dims]
    bad = ~np.isfinite(y).all(axis=0)
    if bad.any() or not np.isfinite(x).all():
        what = f"predictions of column {int(np.argmax(bad))}" if bad.any() else "projections"
        raise InvalidDataError(f"tiling: the {what} hold NaN or inf")
    g = params.n_grid
    edges = np.stack([np.linspace(*np.percentile(x[:, j], params.percentiles), g + 1)
                      for j in range(params.n_dims)])
    inside = np.all((x >= edges[:, 0]) & (x <= edges[:, -1]), axis=1)
    index = np.stack([np.clip(np.searchsorted(edges[j], x[inside, j], side="right") - 1, 0, g - 1)
                      for j in range(params.n_dims)])
    flat = np.ravel_multi_index(tuple(index), (g,) * params.n_dims)
    count = np.bincount(flat, minlength=g**params.n_dims).reshape((g,) * params.n_dims)
    visited = count > 0
    weight = ndimage.gaussian_filter(visited.astype(float), params.sigma, mode="constant")
    maps = np.full((y.shape[1],) + visited.shape, np.nan)
    for u in range(y.shape[1]):
        total = np.bincount(flat, y[inside, u], minlength=g**params.n_dims).reshape(visited.shape)
        mean = np.divide(total, count, out=np.zeros(visited.shape), where=visited)
        smooth = ndimage.gaussian_filter(mean, params.sigma, mode="constant")
        smooth = np.divide(smooth, weight, out=np.zeros(visited.shape), where=weight > 0)
        peak = smooth[visited].max()
        maps[u][visited] = smooth[visited] / peak if peak > 0 else 0.0
    regions = np.nan_to_num(maps, nan=0.0) > params.level
    n_voxels = visited.size if params.region_size_of == "volume" else max(int(visited.sum()), 1)
    size = regions.reshape(len(regions), -1).sum(axis=1) / n_voxels
    flat_regions = regions.reshape(len(regions), -1).astype(float)
    inter = flat_regions @ flat_regions.T
    union = flat_regions.sum(1)[:, None] + flat_regions.sum(1)[None, :] - inter
    overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return Tiling(maps, visited, regions, size, overlap, edges)


def _basis(s: TuningSubspace | np.ndarray) -> np.ndarray:
    if isinstance(s, TuningSubspace):
        return s.basis()
    s = np.asarray(s, dtype=np.float64)
    if s.ndim == 3:  # [k, F, D] filters
        s = s.reshape(len(s), -1).T
    q, _ = np.linalg.qr(s)
    return q


def subspace_similarity(a: TuningSubspace | np.ndarray, b: TuningSubspace | np.ndarray) -> float:
    """Mean squared cosine of the principal angles between two subspaces.

    ``a`` and ``b`` are :class:`TuningSubspace` (their first ``k`` components), filters
    ``[k, frequency, lag]`` or bases ``[features, k]``. Over ``min(k_a, k_b)`` angles.
    """
    qa, qb = _basis(a), _basis(b)
    if qa.shape[0] != qb.shape[0]:
        raise InvalidDataError(f"subspaces of different sizes: {qa.shape[0]} and {qb.shape[0]}")
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.mean(np.clip(cosines, 0.0, 1.0) ** 2))


def similarity_matrix(subspaces: Sequence[TuningSubspace]) -> np.ndarray:
    """Pairwise :func:`subspace_similarity`, ``[units, units]``."""
    n = len(subspaces)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = subspace_similarity(subspaces[i], subspaces[j])
    return out


def within_between(sites: Sequence[Sequence[TuningSubspace]]) -> dict[str, object]:
    """Similarity of unit pairs within a site against pairs from different sites.

    Returns ``within`` and ``between`` (arrays of pair values), their medians, and a
    two-sided Mann-Whitney U test ``p_value`` (NaN when either set is empty).
    """
    within, between = [], []
    for i, site in enumerate(sites):
        for a in range(len(site)):
            within += [subspace_similarity(site[a], site[b]) for b in range(a + 1, len(site))]
            for other in sites[i + 1:]:
                between += [subspace_similarity(site[a], s) for s in other]
    within_a, between_a = np.asarray(within), np.asarray(between)
    p = (stats.mannwhitneyu(within_a, between_a).pvalue
         if len(within_a) and len(between_a) else np.nan)
    return {
        "within": within_a,
        "between": between_a,
        "within_median": float(np.median(within_a)) if len(within_a) else np.nan,
        "between_median": float(np.median(between_a)) if len(between_a) else np.nan,
        "p_value": float(p),
    }


def _describe(v: np.ndarray) -> dict[str, float]:
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"n": 0, "median": np.nan, "mean": np.nan, "sem": np.nan}
    sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
    return {"n": len(v), "median": float(np.median(v)), "mean": float(v.mean()), "sem": sem}


def summarise_by_cell_type(values: np.ndarray, units: UnitInfo) -> dict[str, dict[str, float]]:
    """Median, mean and s.e. of a per-unit value for each cell type present
    (``"narrow"``, ``"regular"``); empty when the site has no cell-type labels."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(units):
        raise InvalidDataError(f"{len(values)} values for {len(units)} units")
    labels = np.asarray(units.cell_type, dtype=object)
    return {t: _describe(values[labels == t]) for t in ("narrow", "regular") if np.any(labels == t)}


def summarise_by_depth(values: np.ndarray, units: UnitInfo, bin_um: float = 200.0,
                       ) -> dict[str, object]:
    """Spearman correlation of a per-unit value with depth and its mean per depth bin.

    Returns an empty dictionary when fewer than 3 units have a known depth.
    """
    values = np.asarray(values, dtype=np.float64)
    depth = np.asarray(units.depth_um, dtype=np.float64)
    ok = np.isfinite(depth) & np.isfinite(values)
    if ok.sum() < 3:
        return {}
    rho, p = stats.spearmanr(depth[ok], values[ok])
    bins = np.floor(depth[ok] / bin_um) * bin_um
    per_bin = {float(b): _describe(values[ok][bins == b]) for b in np.unique(bins)}
    return {"spearman_rho": float(rho), "p_value": float(p), "bin_um": bin_um, "bins": per_bin}
