"""Tiling of the shared space by a site's response regions (METHOD.md section 6).

The stimulus is projected on the first 3 shared dimensions, a 16^3 grid spans the
1st-99th percentile of each, and each unit's mean predicted response per voxel is
smoothed (Gaussian, sigma 0.75 bins) and divided by its maximum; a unit's response
region is the set of voxels above half of it. Smoothing is *normalised*: the smoothed
sum of responses divided by the smoothed count of visited voxels, so unvisited voxels
neither pull the map down nor count (``TilingParams.unvisited="zero"``, the authors'
code: unvisited voxels are zeros that the smoothing averages in, and the map is defined,
and may exceed half its maximum, there too). Region size is the fraction of the grid's voxels
inside the region (``TilingParams.region_size_of="visited"``: of the voxels any
stimulus bin falls in); pairwise overlap is the Jaccard index ``|A & B| / |A | B|`` of
two regions.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConfigError, InvalidDataError
from ..nonlinearity.ssrf import axis_edges
from ..params import Params, check_choice, check_range

__all__ = ["TilingParams", "Tiling", "tiling"]


#: the most voxels of the tiling grid (``n_grid ** n_dims``): 126 per axis in 3 dimensions
MAX_VOXELS = 2_000_000


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
    unvisited : {"excluded", "zero"}
        Voxels no stimulus bin falls in: left out of the smoothing (normalised
        smoothing) or taken as zero response (the authors' code).
    baseline : {"none", "minimum"}
        The voxels' mean responses as they are (METHOD.md), or less their smallest (over
        the visited voxels) before smoothing and normalising, so that a unit's baseline
        rate does not widen its region (see docs/statistics.md).
    """

    n_dims: int = 3
    n_grid: int = 16
    percentiles: tuple[float, float] = (1.0, 99.0)
    sigma: float = 0.75
    level: float = 0.5
    region_size_of: str = "volume"
    unvisited: str = "excluded"
    baseline: str = "none"

    def validate(self) -> None:
        check_range("TilingParams.n_dims", self.n_dims, 1, 4)
        check_range("TilingParams.n_grid", self.n_grid, 2)
        voxels = self.n_grid ** self.n_dims
        if voxels > MAX_VOXELS:  # every unit's map holds every voxel, in float64
            raise ConfigError(f"TilingParams.n_grid ** n_dims = {self.n_grid} ** {self.n_dims} = {voxels:,} "
                              f"voxels, more than {MAX_VOXELS:,}: each unit's map holds every voxel; "
                              "lower tiling.n_grid or tiling.n_dims")
        check_range("TilingParams.sigma", self.sigma, 0.0)
        check_range("TilingParams.level", self.level, 0.0, 1.0, low_open=True, high_open=True)
        check_choice("TilingParams.region_size_of", self.region_size_of, ("volume", "visited"))
        check_choice("TilingParams.unvisited", self.unvisited, ("excluded", "zero"))
        check_choice("TilingParams.baseline", self.baseline, ("none", "minimum"))
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
    from scipy import ndimage  # here: the parameters above import without scipy

    params = TilingParams.of(params)
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
    edges = np.stack([axis_edges(x[:, j], params.percentiles, g) for j in range(params.n_dims)])
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
        if params.baseline == "minimum" and visited.any():
            mean[visited] -= mean[visited].min()
        smooth = ndimage.gaussian_filter(mean, params.sigma, mode="constant")
        if params.unvisited == "zero":
            peak = smooth.max()
            maps[u] = smooth / peak if peak > 0 else 0.0
            continue
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

