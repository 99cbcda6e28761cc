"""The paper's cross-site statistics (METHOD.md sections 6-8) of a dataset's tables.

Per-unit values are summarised as the median over all units and the median of the site
medians (the paper's summary); pair similarities as the median over pairs and the median
over site pairs of their mean (the authors' code).

The tests take the site as the unit of replication: units of one site share its animal,
probe and sounds, and pairs share their units, so tests that count units or pairs as
independent find differences between sites where there are none (in simulations without
any effect, a Mann-Whitney test over pairs called within- and between-site similarity
different in 72% of datasets). Two values of the same units are compared by the Wilcoxon
signed-rank test of each site's median difference; within- against between-site
similarity by the Wilcoxon test of each site's within-site mean against the mean of its
pairs with other sites; narrow against regular units by the Mann-Whitney U statistic and
class counts by the chi-square statistic, each with a p-value from
:data:`N_PERMUTATIONS` permutations of the cell types within each site (``scipy.stats``
for the statistics).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from ..arrays import label_codes
from .params import DatasetParams
from .tables import Table

__all__ = ["Group", "Comparison", "DatasetStatistics", "site_median", "compare_paired",
           "compare_groups", "compare_within_sites", "compare_similarity", "pair_class",
           "similarity_selection", "dataset_statistics", "CELL_TYPES", "SHAPES", "N_PERMUTATIONS"]

CELL_TYPES = ("narrow", "regular")
#: permutations of the cell types within sites behind the p-values of the narrow-regular tests
N_PERMUTATIONS = 4000
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
                   sites: np.ndarray | None = None) -> Comparison:
    """Wilcoxon signed-rank test of ``a`` against ``b`` over the units where both are finite;
    with ``sites``, of each site's median difference ``a - b`` against 0 (``n_a``, ``n_b``:
    sites; medians: of the site medians)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    test = "Wilcoxon signed-rank"
    if sites is None:
        diff, med_a, med_b = a[ok] - b[ok], _median(a[ok]), _median(b[ok])
    else:
        sites = np.asarray(sites)
        per = [ok & (sites == s) for s in np.unique(sites[ok])]
        diff = np.array([np.median(a[m] - b[m]) for m in per])
        med_a = _median(np.array([np.median(a[m]) for m in per]))
        med_b = _median(np.array([np.median(b[m]) for m in per]))
        test += " over sites (median difference of each)"
    stat, p = _wilcoxon(diff)
    return Comparison(what, a_label, b_label, len(diff), len(diff), med_a, med_b, test, stat, p)


def _wilcoxon(diff: np.ndarray) -> tuple[float, float]:
    """Statistic and p-value of the Wilcoxon signed-rank test of ``diff`` against 0 (NaN
    for fewer than 2 values or no difference)."""
    if len(diff) < 2 or not np.any(diff != 0):
        return float("nan"), float("nan")
    res = stats.wilcoxon(diff)
    return float(res.statistic), float(res.pvalue)


def compare_groups(what: str, a_label: str, b_label: str, a: np.ndarray, b: np.ndarray,
                   ) -> Comparison:
    """Two-sided Mann-Whitney U test of the finite values of ``a`` against ``b`` (values
    that are independent; see :func:`compare_within_sites` for units of several sites)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    stat = p = float("nan")
    if a.size and b.size:
        res = stats.mannwhitneyu(a, b, alternative="two-sided")
        stat, p = float(res.statistic), float(res.pvalue)
    return Comparison(what, a_label, b_label, a.size, b.size, _median(a), _median(b),
                      "Mann-Whitney U", stat, p)


def _permuted_within(is_a: np.ndarray, sites: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``[n, units]``: ``is_a`` shuffled within each site, ``n`` times."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, len(is_a)), dtype=bool)
    for s in np.unique(sites):
        where = np.flatnonzero(sites == s)
        order = rng.random((n, len(where))).argsort(axis=1)
        out[:, where] = is_a[where][order]
    return out


def compare_within_sites(what: str, a_label: str, b_label: str, values: np.ndarray,
                         labels: np.ndarray, sites: np.ndarray,
                         n_permutations: int = N_PERMUTATIONS, seed: int = 0) -> Comparison:
    """Mann-Whitney U statistic of the finite ``values`` labelled ``a_label`` against those
    labelled ``b_label``, with a two-sided p-value from ``n_permutations`` permutations of
    the labels within each site: differences between sites, and sites holding more of one
    label, make no difference of the labels."""
    values, labels, sites = np.asarray(values, dtype=np.float64), np.asarray(labels), np.asarray(sites)
    keep = np.isfinite(values) & np.isin(labels, (a_label, b_label))
    v, is_a, st = values[keep], labels[keep] == a_label, sites[keep]
    n_a, n_b = int(is_a.sum()), int((~is_a).sum())
    stat = p = float("nan")
    if n_a and n_b:
        ranks = stats.rankdata(v)
        centre = n_a * n_b / 2 + n_a * (n_a + 1) / 2  # the rank sum of a when labels do not matter
        stat = float(ranks[is_a].sum() - n_a * (n_a + 1) / 2)
        permuted = _permuted_within(is_a, st, n_permutations, seed) @ ranks
        far = np.abs(permuted - centre) >= abs(stat + n_a * (n_a + 1) / 2 - centre) - 1e-9
        p = float((far.sum() + 1) / (n_permutations + 1))
    return Comparison(what, a_label, b_label, n_a, n_b, _median(v[is_a]), _median(v[~is_a]),
                      "Mann-Whitney U, cell types permuted within sites", stat, p)


def compare_similarity(what: str, similarity: np.ndarray, first: np.ndarray, second: np.ndarray,
                       ) -> Comparison:
    """Within- against between-site similarity of unit pairs (``first``, ``second``: the
    sites of each pair's units): the Wilcoxon signed-rank test over sites of each site's
    mean within-site similarity against the mean of its pairs with other sites
    (``n_a``, ``n_b``: sites with both; medians: of those means)."""
    from ..circuit.similarity import site_means

    w_a, b_a, stat, p = site_means(similarity, first, second)
    return Comparison(what, "within", "between", len(w_a), len(b_a), _median(w_a), _median(b_a),
                      "Wilcoxon signed-rank over sites (within-site mean against the mean of the "
                      "site's pairs with others)", stat, p)


def pair_class(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Class of each pair from the two units' labels, sorted: ``"narrow-regular"``;
    empty when either label is."""
    n = len(first)
    return _pair_labels(np.concatenate([np.asarray(first, dtype=object), np.asarray(second, dtype=object)]),
                        np.arange(n), np.arange(n, 2 * n))


def _pair_labels(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`pair_class` of the pairs ``(labels[a], labels[b])``."""
    text = [str(x) if x else "" for x in labels]
    return _pair_table(text, a, b, lambda x, y: f"{x}-{y}" if x and y else "")


def _pair_table(labels: Sequence[str], a: np.ndarray, b: np.ndarray,
                join: Callable[[str, str], str]) -> np.ndarray:
    """``join`` of the sorted labels of each pair ``(labels[a], labels[b])``, from a table of
    the few distinct labels (millions of pairs: no loop over them)."""
    names, code = np.unique(np.array(labels, dtype=str) if len(labels) else np.zeros(0, str),
                            return_inverse=True)
    lo, hi = np.minimum(code[a], code[b]), np.maximum(code[a], code[b])
    table = np.array([[join(x, y) for y in names] for x in names] or [[""]], dtype=object)
    return table[lo, hi] if len(lo) else np.zeros(0, dtype=object)


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
        "site_pair": _site_pairs(site, a, b),
        "site_a": site[a], "site_b": site[b],
        "cell_types": _pair_labels(units["cell_type"], a, b),
        "depths": _pair_labels(depth, a, b),
    }


def _site_pairs(site: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``"s|t"`` (sorted) of each pair's sites ``site[a]``, ``site[b]``."""
    return _pair_table([str(x) for x in site], a, b, lambda x, y: f"{x}|{y}")


def _similarity(sel: dict[str, np.ndarray], label: str, mask: np.ndarray,
                ) -> tuple[list[Group], Comparison]:
    groups, values = [], {}
    for where, which in (("within", sel["same_site"]), ("between", ~sel["same_site"])):
        m = mask & which
        values[where] = sel["similarity"][m]
        pairs = label_codes(sel["site_pair"][m])
        means = np.bincount(pairs, values[where]) / np.bincount(pairs) if pairs.size else np.zeros(0)
        groups.append(Group(f"similarity {label}", where, int(m.sum()), len(means),
                            _median(values[where]), _median(np.asarray(means))))
    return groups, compare_similarity(f"similarity {label}: within against between sites",
                                      sel["similarity"][mask], sel["site_a"][mask], sel["site_b"][mask])


def _by_cell_type(units: Table, values: np.ndarray, what: str,
                  ) -> tuple[list[Group], Comparison]:
    values = np.asarray(values, dtype=np.float64)
    cells, site = units["cell_type"], units["site"]
    groups = [_group(what, t, np.where(cells == t, values, np.nan), site) for t in CELL_TYPES]
    test = compare_within_sites(f"{what}: narrow against regular", *CELL_TYPES, values, cells, site)
    return groups, test


def _chi_square(observed: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Chi-square statistic of tables ``[..., 2, k]`` with these row and column totals."""
    expected = rows[:, None] * columns[None, :] / rows.sum()
    return (((observed - expected) ** 2) / expected).sum(axis=(-2, -1))


def _classes(units: Table, n_permutations: int = N_PERMUTATIONS, seed: int = 0,
             ) -> tuple[dict[str, dict[str, int]], Comparison]:
    shape, cells, site = units["nonlinearity_class"], units["cell_type"], units["site"]
    counts = {t: {s: int(np.sum((cells == t) & (shape == s))) for s in SHAPES}
              for t in CELL_TYPES}
    counts["all"] = {s: int(np.sum(shape == s)) for s in SHAPES}
    shown = [s for s in SHAPES if any(counts[t][s] for t in CELL_TYPES)]
    keep = np.isin(cells, CELL_TYPES) & np.isin(shape, shown)
    narrow = cells[keep] == CELL_TYPES[0]
    onehot = (shape[keep][:, None] == np.array(shown, dtype=object)[None, :]).astype(float)
    table = np.stack([narrow @ onehot, (~narrow) @ onehot])
    stat = p = float("nan")
    rows, columns = table.sum(axis=1), table.sum(axis=0)
    if len(shown) >= 2 and np.all(rows > 0):
        stat = float(_chi_square(table, rows, columns))
        permuted = _permuted_within(narrow, site[keep], n_permutations, seed).astype(float) @ onehot
        tables = np.stack([permuted, columns[None, :] - permuted], axis=1)
        p = float(((_chi_square(tables, rows, columns) >= stat - 1e-9).sum() + 1) / (n_permutations + 1))
    test = Comparison("nonlinearity class: narrow against regular", *CELL_TYPES,
                      int(rows[0]), int(rows[1]), float("nan"), float("nan"),
                      "chi-square, cell types permuted within sites", stat, p)
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
    tests = [compare_paired("r: CNN against LN", "CNN", "LN", units["r_cnn"], units["r_ln"], site),
             compare_paired("r: subspace against CNN", "subspace", "CNN",
                            units["r_subspace"], units["r_cnn"], site)]
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
