"""Subspace similarity of every pair of units of a dataset, within and between sites.

The similarity is :func:`~ndx_encoding_subspace.circuit.subspace_similarity`: the mean
squared cosine of the principal angles between the two units' tuning subspaces, over
``min(k_a, k_b)`` angles. A dataset of the paper's size has about four million pairs, so
:func:`pair_similarities` computes the same value in batches: each unit's orthonormal
basis once; then, for units grouped by subspace dimension, one matrix product of two
groups' bases (in chunks) and the singular values of all its small blocks at once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .tables import PAIR_COLUMNS, Table

__all__ = ["pair_indices", "pair_similarities", "pairs_table"]


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(a, b)`` of every unordered pair of ``n`` units, ``a < b``, in the
    order ``(0, 1), (0, 2), ..., (1, 2), ...``."""
    a, b = np.triu_indices(n, 1)
    return a.astype(np.int64), b.astype(np.int64)


def _basis(filters: np.ndarray) -> np.ndarray:
    """Orthonormal basis ``[features, k]`` of filters ``[k, F, D]`` (as circuit does)."""
    q, _ = np.linalg.qr(np.asarray(filters, dtype=np.float64).reshape(len(filters), -1).T)
    return q


def _position(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Position in :func:`pair_indices` order of pairs ``(a, b)``, ``a < b``."""
    return a * n - a * (a + 1) // 2 + (b - a - 1)


def pair_similarities(filters: Sequence[np.ndarray | None], chunk: int = 1 << 22,
                      axes: Sequence[Hashable] | None = None) -> np.ndarray:
    """Similarity of every pair of :func:`pair_indices` (``len(filters)`` units).

    Parameters
    ----------
    filters : sequence of ndarray [k, F, D] or None
        Each unit's subspace filters; None (or k = 0) for a unit without a subspace.
    chunk : int
        Entries of the products held at once (memory bound: ``8 * chunk`` bytes, twice).
    axes : sequence, optional
        Each unit's filter axes (its site's spectrogram bin size and channel frequencies,
        :attr:`~.units.SiteUnits.axes`; None where not known): units whose axes differ are not
        compared, even where their filters have the same shape.

    Returns
    -------
    ndarray (pairs,)
        NaN for a pair where either unit has no subspace or the two filter shapes or axes
        differ (sites analysed with different spectrograms or lags).
    """
    n = len(filters)
    out = np.full(n * (n - 1) // 2, np.nan)
    groups: dict[tuple, list[int]] = {}
    for u, f in enumerate(filters):
        if f is not None and len(f):
            where = (tuple(np.shape(f)[1:]), None if axes is None else axes[u])
            groups.setdefault((where, len(f)), []).append(u)
    # units of one filter shape and one k: their bases side by side, [features, units, k]
    stacked = {key: (np.asarray(m), np.stack([_basis(filters[u]) for u in m], axis=1))
               for key, m in groups.items()}
    keys = list(stacked)
    for x, key1 in enumerate(keys):
        units1, b1 = stacked[key1]
        for key2 in keys[x:]:
            (shape1, axes1), (shape2, axes2) = key1[0], key2[0]
            if shape1 != shape2 or (axes1 != axes2 and None not in (axes1, axes2)):  # None: not known
                continue
            units2, b2 = stacked[key2]
            flat2 = b2.reshape(len(b2), -1)
            rows = max(1, chunk // max(1, flat2.shape[1] * key1[1]))
            for start in range(0, len(units1), rows):
                part, who = b1[:, start:start + rows], units1[start:start + rows]
                gram = part.reshape(len(part), -1).T @ flat2  # [rows * k1, units2 * k2]
                gram = gram.reshape(len(who), key1[1], len(units2), key2[1]).transpose(0, 2, 1, 3)
                a, b = np.meshgrid(who, units2, indexing="ij")
                keep = a < b if key1 == key2 else np.ones(a.shape, dtype=bool)
                cosines = np.linalg.svd(gram[keep], compute_uv=False)
                lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
                out[_position(lo, hi, n)] = np.mean(np.clip(cosines, 0.0, 1.0) ** 2, axis=1)
    return out


def pairs_table(units: Table, similarity: np.ndarray, similarity_paper: np.ndarray | None = None) -> Table:
    """Rows of ``pairs.csv`` for the rows of ``units`` (a ``units.csv`` table)."""
    a, b = pair_indices(len(units))
    if similarity_paper is None:
        similarity_paper = np.full(len(a), np.nan)
    columns = {
        "site_a": units["site"][a], "unit_a": units["unit"][a],
        "site_b": units["site"][b], "unit_b": units["unit"][b],
        "same_site": units["site"][a] == units["site"][b],
        "similarity": np.asarray(similarity, dtype=np.float64),
        "similarity_paper": np.asarray(similarity_paper, dtype=np.float64),
    }
    for name in ("area", "cell_type", "depth_um"):
        columns[f"{name}_a"], columns[f"{name}_b"] = units[name][a], units[name][b]
    return Table({c: columns[c] for c in PAIR_COLUMNS})
