"""Per-unit rows of one loaded results file: metadata, scores, subspace, nonlinearity.

:func:`site_units` turns a :class:`~ndx_encoding_subspace.results.LoadedResults` into the
rows of ``units.csv`` and ``dimensions.csv`` and each unit's tuning subspace (the filters
that ``pairs.csv`` compares). The nonlinearity class of a dimension comes from what a
results file stores (:func:`nonlinearity_class`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..fitting.scores import r2_ratio
from ..nonlinearity.ssrf import classify_stored_curve
from ..results.files import SUFFIX, site_name
from ..results.loader import LoadedResults
from ..results.roles import CNN, LN, SUBSPACE, find_role
from ..subspace.pca import choose_k
from .params import DatasetParams
from .tables import DIMENSION_COLUMNS, UNIT_COLUMNS, Table

__all__ = ["SiteUnits", "site_units", "nonlinearity_class", "site_name", "SUFFIX"]

#: Column-name label of each known model role.
_LABELS = {LN.name: "ln", CNN.name: "cnn", SUBSPACE.name: "subspace"}


@dataclasses.dataclass
class SiteUnits:
    """The units of one site, ready for the dataset tables.

    Attributes
    ----------
    site : str
    units : Table
        Rows of ``units.csv``.
    dimensions : Table
        Rows of ``dimensions.csv``.
    filters : list of ndarray or None
        Per unit (rows of ``units``), its subspace filters ``[k, F, D]`` reduced as
        ``DatasetParams.similarity_variance`` says; None without a subspace.
    device : str
        Training device recorded in the file's provenance ("" when absent).
    paper_filters : list of ndarray or None
        The same reduced to ``DatasetParams.paper_variance`` (the authors' statistic).
    config : dict
        The run's parameters as the file's provenance holds them (empty when absent).
    axes : tuple
        The stored spectrogram's bin size and channel frequencies (empty when the file has
        none): the axes of the filters' lags and channels, which must agree for two units'
        subspaces to be compared.
    short : int
        Units whose stored filters (their k) are fewer than ``paper_variance`` of their
        variance needs: their ``paper_filters`` are all they have.
    """

    site: str
    units: Table
    dimensions: Table
    filters: list[np.ndarray | None]
    device: str = ""
    paper_filters: list[np.ndarray | None] = dataclasses.field(default_factory=list)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    axes: tuple = ()
    short: int = 0


def nonlinearity_class(asymmetry: float, tuning_mean: np.ndarray,
                       symmetry_threshold: float | None = None, *,
                       tuning_sem: np.ndarray | None = None,
                       tuning_count: np.ndarray | None = None,
                       flat_threshold: float | None = None) -> str:
    """Class of one dimension's nonlinearity from a results file's stored asymmetry index
    and tuning curve (see :func:`~ndx_encoding_subspace.nonlinearity.ssrf.classify_stored_curve`)."""
    return classify_stored_curve(tuning_mean, asymmetry, symmetry_threshold,
                                 tuning_sem=tuning_sem, tuning_count=tuning_count,
                                 flat_threshold=flat_threshold)


def _strings(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, "", dtype=object)
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values],
                    dtype=object)


def _floats(values: Any, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)


def _scores(res: LoadedResults, n: int) -> dict[str, np.ndarray]:
    out = {f"{score}_{label}": np.full(n, np.nan)
           for label in _LABELS.values() for score in ("r", "ccnorm")}
    for score in ("r", "ccnorm"):
        for name, values in res.unit_scores(score).items():
            members = res.collections[name].members
            roles = {find_role(m.role) for m in members} | {find_role(name)}
            role = next((r for r in roles if r is not None), None)
            if role is not None and np.any(np.isfinite(values)):
                out[f"{score}_{_LABELS[role.name]}"] = values
    out["r2_ratio"] = r2_ratio(out["r_subspace"], out["r_cnn"])
    return out


def _region_sizes(res: LoadedResults, n: int) -> np.ndarray:
    sizes = np.full(n, np.nan)
    site = res.site_subspace
    if site is None or site.response_region_size is None:
        return sizes
    positions = np.arange(n) if site.unit_positions is None else site.unit_positions
    sizes[np.asarray(positions, dtype=int)] = np.asarray(site.response_region_size, float)
    return sizes


def _reduced(filters: np.ndarray, variance: np.ndarray, share: float | None) -> np.ndarray:
    if share is None or len(filters) == 0:
        return filters
    return filters[: min(len(filters), choose_k(variance, share))]


def _row(values: Any, d: int) -> np.ndarray | None:
    return None if values is None or d >= len(values) else np.asarray(values[d])


def _dimensions(res: LoadedResults, site: str, ids: np.ndarray,
                params: DatasetParams) -> tuple[Table, dict[int, tuple[float, str]]]:
    rows, first = [], {}
    for nl in sorted(res.nonlinearities, key=lambda x: x.unit_position):
        ai = np.asarray(nl.asymmetry_index, dtype=np.float64).reshape(-1)
        signs = np.asarray(nl.dimension_sign).reshape(-1)
        means = nl.tuning.get("mean", np.zeros((len(ai), 0)))
        sems, counts = nl.tuning.get("sem"), nl.tuning.get("count")
        for d in range(len(ai)):
            shape = nonlinearity_class(
                float(ai[d]), means[d] if d < len(means) else [], params.symmetry_threshold,
                tuning_sem=_row(sems, d), tuning_count=_row(counts, d),
                flat_threshold=params.flat_threshold)
            rows.append({"site": site, "unit": int(ids[nl.unit_position]), "dimension": d + 1,
                         "asymmetry": float(ai[d]),
                         "sign": int(signs[d]) if d < len(signs) else None,
                         "nonlinearity_class": shape})
            if d == 0:
                first[nl.unit_position] = (float(ai[0]), shape)
    return Table.from_rows(rows, list(DIMENSION_COLUMNS)), first


def site_units(res: LoadedResults, params: DatasetParams | None = None) -> SiteUnits:
    """Rows of ``units.csv`` and ``dimensions.csv`` and the subspaces of one site."""
    params = DatasetParams.of(params)
    site = site_name(res.path)
    ids = np.asarray(res.units["id"], dtype=np.int64)
    n = len(ids)
    units: dict[str, np.ndarray] = {
        "site": np.full(n, site, dtype=object), "unit": ids,
        "area": _strings(res.units.get("area"), n),
        "depth_um": _floats(res.units.get("depth_um"), n),
        "cell_type": _strings(res.units.get("cell_type"), n),
        "spike_width_ms": _floats(res.units.get("spike_width_ms"), n),
        **_scores(res, n),
    }
    ks = {name: np.zeros(n, dtype=np.int64) for name in ("k", "k90", "k95")}
    k_significant = np.full(n, None, dtype=object)  # empty in the table when not stored
    reliability = np.full(n, np.nan)
    rule = np.full(n, "", dtype=object)
    filters: list[np.ndarray | None] = [None] * n
    paper: list[np.ndarray | None] = [None] * n
    short = 0  # units whose stored filters fall short of the authors' share of the variance
    for sub in res.subspaces:
        u = sub.unit_position
        ks["k"][u], ks["k90"][u], ks["k95"][u] = sub.k, sub.k90, sub.k95
        floor = np.asarray(sub.noise_floor_variance, dtype=np.float64)
        if sub.k_significant is not None and np.isfinite(floor).any():  # without a floor its 0 is no count
            k_significant[u] = int(sub.k_significant)
        reliability[u], rule[u] = sub.reliability, sub.reliability_rule
        if sub.k:
            full, variance = np.asarray(sub.filters, dtype=np.float64), np.asarray(sub.explained_variance)
            filters[u] = _reduced(full, variance, params.similarity_variance)
            paper[u] = _reduced(full, variance, params.paper_variance)
            share = params.paper_variance
            short += share is not None and choose_k(variance, share) > len(full)
    dims, first = _dimensions(res, site, ids, params)
    units.update(ks, k_significant=k_significant, reliability=reliability, reliability_rule=rule)
    units["asymmetry_1"] = np.array([first.get(u, (np.nan, ""))[0] for u in range(n)])
    units["nonlinearity_class"] = np.array([first.get(u, (np.nan, ""))[1] for u in range(n)],
                                           dtype=object)
    units["region_size"] = _region_sizes(res, n)
    config = res.provenance.get("config", {}) if isinstance(res.provenance, dict) else {}
    training = config.get("training", {}) if isinstance(config, dict) else {}
    device = str(training.get("device", "")) if isinstance(training, dict) else ""
    used = res.provenance.get("devices", {}) if isinstance(res.provenance, dict) else {}
    if isinstance(used, dict) and used.get("cnn"):  # what "auto" chose (files since 0.2.0)
        device = str(used["cnn"])
    # one CNN per site or one across the dataset's sites: compared as a parameter of the run
    pooled = isinstance(res.provenance, dict) and "population" in res.provenance
    fit = {"cnn": "dataset" if pooled else "site"}
    spec = res.spectrogram
    axes = () if spec is None else (round(spec.bin_size, 9), tuple(np.round(spec.frequencies, 3).tolist()))
    return SiteUnits(site, Table({c: units[c] for c in UNIT_COLUMNS}), dims, filters, device, paper,
                     {**(config if isinstance(config, dict) else {}), "population": fit}, axes, short)
