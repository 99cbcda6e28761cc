"""The paper's cross-site statistics (METHOD.md sections 6-8) of a dataset's tables.

Per-unit values are summarised as the median over all units and the median of the site
medians (the paper's summary); pair similarities as the median over pairs and the median
over site pairs of their mean (the authors' code). Two values of the same units are
compared with the Wilcoxon signed-rank test, two groups with the two-sided Mann-Whitney U
test, class counts with the chi-square test of independence (``scipy.stats``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import stats

from .params import DatasetParams
from .tables import Table

__all__ = ["Group", "Comparison", "DatasetStatistics", "site_median", "compare_paired",
           "compare_groups", "pair_class", "similarity_selection", "dataset_statistics",
           "CELL_TYPES", "SHAPES"]

CELL_TYPES = ("narrow", "regular")
#: Nonlinearity classes, in display order.
SHAPES = ("flat", "symmetric-up", "symmetric-down", "rectifying")


@dataclasses.dataclass(frozen=True)
class Group:
    """Summary of one value over one group: ``n`` values from ``n_sites`` sites (site
    pairs for similarities), their median, and the median of the per-site medians (of
    the per-site-pair means for similarities)."""

    what: str
    group: str
    n: int
    n_sites: int
    median: float
    site_median: float


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One test: ``a`` against ``b`` (sizes, medians), its statistic and p-value (NaN when
    a group is empty or the test is undefined)."""

    what: str
    a: str
    b: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    test: str
    statistic: float
    p_value: float


@dataclasses.dataclass
class DatasetStatistics:
    """Every statistic of the report, with lookup by name."""

    groups: list[Group]
    comparisons: list[Comparison]
    classes: dict[str, dict[str, int]]
    narrow_fraction: float
    depth_split_um: float

    def group(self, what: str, group: str) -> Group:
        """The :class:`Group` of value ``what`` and group ``group``."""
        return next(g for g in self.groups if g.what == what and g.group == group)

    def comparison(self, what: str) -> Comparison:
        """The :class:`Comparison` called ``what``."""
        return next(c for c in self.comparisons if c.what == what)


def _median(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def site_median(values: np.ndarray, sites: np.ndarray) -> tuple[float, int]:
    """Median of the per-site medians of ``values`` (finite ones) and the site count."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    per_site = [np.median(values[ok & (sites == s)]) for s in np.unique(sites[ok])]
    return (float(np.median(per_site)) if per_site else float("nan")), len(per_site)


def _group(what: str, group: str, values: np.ndarray, sites: np.ndarray) -> Group:
    values = np.asarray(values, dtype=np.float64)
    med, n_sites = site_median(values, sites)
    return Group(what, group, int(np.isfinite(values).sum()), n_sites, _median(values), med)


def compare_paired(what: str, a_label: str, b_label: str, a: np.ndarray, b: np.ndarray,
                   ) -> Comparison:
    """Wilcoxon signed-rank test of ``a`` against ``b`` over units where both are finite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    stat = p = float("nan")
    if ok.sum() >= 2 and np.any(a[ok] != b[ok]):
        res = stats.wilcoxon(a[ok], b[ok])
        stat, p = float(res.statistic), float(res.pvalue)
    n = int(ok.sum())
    return Comparison(what, a_label, b_label, n, n, _median(a[ok]), _median(b[ok]),
                      "Wilcoxon signed-rank", stat, p)


def compare_groups(what: str, a_label: str, b_label: str, a: np.ndarray, b: np.ndarray,
                   ) -> Comparison:
    """Two-sided Mann-Whitney U test of the finite values of ``a`` against ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    stat = p = float("nan")
    if a.size and b.size:
        res = stats.mannwhitneyu(a, b, alternative="two-sided")
        stat, p = float(res.statistic), float(res.pvalue)
    return Comparison(what, a_label, b_label, a.size, b.size, _median(a), _median(b),
                      "Mann-Whitney U", stat, p)


def pair_class(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Class of each pair from the two units' labels, sorted: ``"narrow-regular"``;
    empty when either label is."""
    out = np.full(len(first), "", dtype=object)
    for i, (x, y) in enumerate(zip(first, second)):
        if x and y:
            out[i] = "-".join(sorted((str(x), str(y))))
    return out


def depth_class(depth: np.ndarray, split: float) -> np.ndarray:
    """``"superficial"`` above ``split`` micrometres, ``"deep"`` below, "" when unknown."""
    depth = np.asarray(depth, dtype=np.float64)
    out = np.full(len(depth), "", dtype=object)
    out[np.isfinite(depth) & (depth < split)] = "superficial"
    out[np.isfinite(depth) & (depth >= split)] = "deep"
    return out


def depth_split(units: Table, params: DatasetParams) -> float:
    """``params.depth_split_um``, else the median depth of the units (NaN if none)."""
    return (float(params.depth_split_um) if params.depth_split_um is not None
            else _median(units["depth_um"]))


def similarity_selection(units: Table, a: np.ndarray, b: np.ndarray, similarity: np.ndarray,
                         params: DatasetParams) -> dict[str, np.ndarray]:
    """The pairs that enter the similarity statistics (``DatasetParams``), with their
    values and labels: ``similarity``, ``same_site``, ``site_pair`` (``"s|t"``),
    ``cell_types`` and ``depths`` (pair classes)."""
    r = np.asarray(units["r_cnn"], dtype=np.float64)
    keep = np.isfinite(similarity) & (np.nan_to_num(r, nan=-np.inf)[a] >= params.min_r)
    keep &= np.nan_to_num(r, nan=-np.inf)[b] >= params.min_r
    if params.same_area:
        keep &= units["area"][a] == units["area"][b]
    a, b = a[keep], b[keep]
    site = units["site"]
    depth = depth_class(units["depth_um"], depth_split(units, params))
    return {
        "similarity": np.asarray(similarity)[keep],
        "same_site": site[a] == site[b],
        "site_pair": np.array(["|".join(sorted((str(x), str(y)))) for x, y in
                               zip(site[a], site[b])], dtype=object),
        "cell_types": pair_class(units["cell_type"][a], units["cell_type"][b]),
        "depths": pair_class(depth[a], depth[b]),
    }


def _similarity(sel: dict[str, np.ndarray], label: str, mask: np.ndarray,
                ) -> tuple[list[Group], Comparison]:
    groups, values = [], {}
    for where, which in (("within", sel["same_site"]), ("between", ~sel["same_site"])):
        m = mask & which
        values[where] = sel["similarity"][m]
        pairs = sel["site_pair"][m]
        means = [np.mean(values[where][pairs == p]) for p in np.unique(pairs)]
        groups.append(Group(f"similarity {label}", where, int(m.sum()), len(means),
                            _median(values[where]), _median(np.asarray(means))))
    return groups, compare_groups(f"similarity {label}: within against between sites",
                                  "within", "between", values["within"], values["between"])


def _by_cell_type(units: Table, values: np.ndarray, what: str,
                  ) -> tuple[list[Group], Comparison]:
    values = np.asarray(values, dtype=np.float64)
    cells, site = units["cell_type"], units["site"]
    groups = [_group(what, t, np.where(cells == t, values, np.nan), site) for t in CELL_TYPES]
    test = compare_groups(f"{what}: narrow against regular", *CELL_TYPES,
                          *(values[cells == t] for t in CELL_TYPES))
    return groups, test


def _classes(units: Table) -> tuple[dict[str, dict[str, int]], Comparison]:
    shape, cells = units["nonlinearity_class"], units["cell_type"]
    counts = {t: {s: int(np.sum((cells == t) & (shape == s))) for s in SHAPES}
              for t in CELL_TYPES}
    counts["all"] = {s: int(np.sum(shape == s)) for s in SHAPES}
    table = np.array([[counts[t][s] for s in SHAPES] for t in CELL_TYPES])
    table = table[:, table.sum(axis=0) > 0]
    stat = p = float("nan")
    if table.shape[1] >= 2 and np.all(table.sum(axis=1) > 0):
        res = stats.chi2_contingency(table)
        stat, p = float(res.statistic), float(res.pvalue)
    n = table.sum(axis=1)
    test = Comparison("nonlinearity class: narrow against regular", *CELL_TYPES,
                      int(n[0]), int(n[1]), float("nan"), float("nan"),
                      "chi-square of independence", stat, p)
    return counts, test


def dataset_statistics(units: Table, a: np.ndarray, b: np.ndarray, similarity: np.ndarray,
                       params: DatasetParams | None = None,
                       similarity_paper: np.ndarray | None = None) -> DatasetStatistics:
    """Every statistic of the dataset report from the tables' values (with
    ``similarity_paper``, the authors' statistic over all pairs beside ours)."""
    params = DatasetParams.of(params)
    site = units["site"]
    groups = [_group(c, "all units", units[c], site) for c in
              ("r_ln", "r_cnn", "r_subspace", "ccnorm_ln", "ccnorm_cnn", "ccnorm_subspace",
               "r2_ratio")]
    k = {c: np.where(units["k"] > 0, units[c], np.nan).astype(float) for c in ("k", "k90")}
    groups += [_group(c, "units with a subspace", k[c], site) for c in ("k", "k90")]
    for c in ("k_significant", "reliability"):
        if c in units.columns:
            known = np.array([np.nan if v is None or v == "" else float(v) for v in units[c]])
            values = np.where(units["k"] > 0, known, np.nan)
            groups.append(_group(c, "units with a subspace", values, site))
    tests = [compare_paired("r: CNN against LN", "CNN", "LN", units["r_cnn"], units["r_ln"]),
             compare_paired("r: subspace against CNN", "subspace", "CNN",
                            units["r_subspace"], units["r_cnn"])]
    for values, what in ((units["region_size"], "region size"), (k["k"], "k"),
                         (np.abs(units["asymmetry_1"]), "|asymmetry index| of dim 1")):
        more, test = _by_cell_type(units, values, what)
        groups += more
        tests.append(test)
    sel = similarity_selection(units, a, b, similarity, params)
    masks = [("", np.ones(len(sel["similarity"]), dtype=bool))]
    masks += [(f"({c})", sel["cell_types"] == c) for c in np.unique(sel["cell_types"]) if c]
    masks += [(f"({c})", sel["depths"] == c) for c in np.unique(sel["depths"]) if c]
    for label, mask in masks:
        more, test = _similarity(sel, label or "all pairs", mask)
        groups += more
        tests.append(test)
    if similarity_paper is not None:
        theirs = similarity_selection(units, a, b, similarity_paper, params)
        label = f"(authors' dimensions, {params.paper_variance:.0%} of the variance)"
        more, test = _similarity(theirs, label, np.ones(len(theirs["similarity"]), dtype=bool))
        groups += more
        tests.append(test)
    counts, chi = _classes(units)
    tests.append(chi)
    typed = np.isin(units["cell_type"], CELL_TYPES)
    narrow = float(np.mean(units["cell_type"][typed] == "narrow")) if typed.any() else np.nan
    return DatasetStatistics(groups, tests, counts, narrow, depth_split(units, params))


def classes_of(statistics: DatasetStatistics, kinds: Sequence[str] = CELL_TYPES,
               ) -> np.ndarray:
    """Counts ``[kind, shape]`` of the nonlinearity classes (:data:`SHAPES` order)."""
    return np.array([[statistics.classes[t][s] for s in SHAPES] for t in kinds])
