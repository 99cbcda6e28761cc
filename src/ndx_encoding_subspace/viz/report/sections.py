"""The report's sections, each built from a loaded results file.

Each ``*_section`` function takes a :class:`ReportData` (the loaded results plus what
several sections share: per-unit scores, labels, the example units) and returns a
:class:`~.html.Section`. Sections whose data are absent say so instead of failing.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np

from ...circuit import summarise_by_cell_type, summarise_by_depth
from ...data.site import UnitInfo
from ...datasets.ns1 import CITATION as NS1
from ...extension.reliability import choose_k
from ...fitting.scores import r2_ratio
from ...results.loader import LoadedEnsemble, LoadedResults
from ...results.roles import CNN, SUBSPACE, find_role, role_label
from . import figures
from .html import Section, figure_img, paragraph, table
from .reliability import reliability_section, threshold_of, unit_reliability_text

__all__ = ["ReportData", "SECTIONS", "footer_lines", "dataset_citations", "DATASET_CITATIONS"]

#: DOI of the NS1 dataset's paper: the NS1 converter lists it in each file's
#: ``related_publications``, and the results writer copies it from the input.
NS1_DOI = "10.1371/journal.pcbi.1005113"

#: Citation of each dataset, by the DOI a file names in ``related_publications``.
DATASET_CITATIONS = {NS1_DOI: NS1}

#: Key parameters listed in the provenance table: (config section, parameter).
KEY_PARAMETERS = (
    ("spectrogram", "n_channels"), ("spectrogram", "min_frequency"),
    ("spectrogram", "max_frequency"), ("spectrogram", "bin_size"), ("cnn", "mix_channels"),
    ("cnn", "hidden"), ("training", "lr_stage1"), ("training", "lr_stage2"),
    ("training", "max_epochs"), ("training", "seed"), ("ensemble", "n_jackknife"),
    ("ensemble", "n_init"), ("dstrf", "n_lags"), ("dstrf", "sample_step"),
    ("dstrf", "max_samples"), ("subspace", "variance_threshold"),
    ("subspace", "n_components"), ("subspace", "noise_repeats"), ("subspace", "k_rule"),
    ("subspace", "reliability_rule"), ("subspace", "reliability_threshold"),
    ("subspace_model", "n_init"),
    ("subspace_model", "combine"), ("ssrf", "n_bins_2d"),
    ("ssrf", "min_count"), ("tiling", "n_grid"), ("tiling", "sigma"),
)

PAPER = ("Wingert JC, Parida S, Norman-Haignere SV, David SV (2026). Convolutional neural "
         "network models describe the encoding subspace of local circuits in auditory "
         "cortex. Nature Neuroscience. doi:10.1038/s41593-026-02216-0")


@dataclasses.dataclass
class ReportData:
    """A loaded results file and the values several sections share.

    Attributes
    ----------
    results : LoadedResults
    r, ccnorm : dict of str -> ndarray (units,)
        Per model role (``ln``, ``cnn``, ``subspace_nonlinearity``; a collection of
        another role by its name), the score of every unit, in role order.
    labels : list of str
        ``unit <id>`` of every unit position.
    examples : list of int
        Unit positions of the example units (best CNN r first).
    min_count : int
        SSRF bins with fewer samples are masked.
    dpi : int
        Resolution of the embedded figures.
    """

    results: LoadedResults
    r: dict[str, np.ndarray]
    ccnorm: dict[str, np.ndarray]
    labels: list[str]
    examples: list[int]
    min_count: int
    dpi: int

    @classmethod
    def build(cls, results: LoadedResults, n_examples: int, dpi: int) -> ReportData:
        """Scores, labels and example units of ``results``."""
        def by_role(score: str) -> dict[str, np.ndarray]:
            values = results.unit_scores(score)
            return {_role_of(results.collections[k]): v for k, v in values.items()
                    if np.any(np.isfinite(v))}

        r = by_role("r")
        ids = np.asarray(results.units["id"])
        with_subspace = [s.unit_position for s in results.subspaces if s.k >= 1]
        ranking = r.get(CNN.name, np.zeros(len(ids)))
        order = sorted(with_subspace, key=lambda u: -np.nan_to_num(ranking[u], nan=-np.inf))
        min_count = int(results.parameters.get("ssrf", {}).get("min_count", 2))
        return cls(results, r, by_role("ccnorm"), [f"unit {i}" for i in ids],
                   order[:n_examples], min_count, dpi)

    def fig(self, fig: Any, caption: str) -> str:
        return figure_img(fig, caption, dpi=self.dpi)


def _role_of(collection: LoadedEnsemble) -> str:
    """Role of a collection's models (the known role of its name when they differ)."""
    roles = {m.role for m in collection.members}
    known = find_role(roles.pop()) if len(roles) == 1 else None
    known = known or find_role(collection.name)
    return known.name if known is not None else collection.name


def _absent(section: Section, what: str) -> Section:
    return section.add(paragraph(f"This results file holds no {what}.", "note"))


def overview_section(d: ReportData) -> Section:
    res = d.results
    s = Section("overview", "Overview")
    rows = [("results file", str(res.path)), ("identifier", res.identifier),
            ("session", res.session_description), ("units", len(d.labels)),
            ("model collections", ", ".join(f"{k} ({len(v)})" for k, v in
                                            res.collections.items()) or "none"),
            ("tuning subspaces", len(res.subspaces)),
            ("subspace nonlinearities", len(res.nonlinearities)),
            ("site analysis", "yes" if res.site_subspace is not None else "no")]
    if res.newer_version is not None:
        s.add(paragraph(f"This file was written with version {res.newer_version} of the extension, newer "
                        "than the one that made this report: what was added since is not read, and is "
                        "not shown here."))
    return s.add(table(("", "value"), rows))


def examples_section(d: ReportData) -> Section:
    s = Section("examples", "The method for example units")
    res = d.results
    if not d.examples:
        return _absent(s, "tuning subspaces")
    s.add(paragraph("Units with the best CNN prediction: the mean dSTRF and the first (up to "
                    f"{figures.MAX_FILTERS}) subspace filters (frequency x lag, shared colour scale), "
                    "the variance of each component against its noise floor, the SSRF of "
                    f"dimensions 1 and 2 and the tuning curves of the first (up to {figures.MAX_CURVES}) "
                    "dimensions with their asymmetry index (AI)."))
    spec = res.spectrogram
    freqs, bin_size = (spec.frequencies, spec.bin_size) if spec is not None else (None, None)
    nonlin = {n.unit_position: n for n in res.nonlinearities}
    for u in d.examples:
        scores = ", ".join(f"r {role_label(k)} {v[u]:.3f}" for k, v in d.r.items()
                           if np.isfinite(v[u]))
        cc = d.ccnorm.get(CNN.name)
        if cc is not None and np.isfinite(cc[u]):
            scores += f", CCnorm {CNN.label} {cc[u]:.3f}"
        scores = "; ".join(filter(None, (scores, unit_reliability_text(res.subspace(u),
                                                                       threshold_of(d)))))
        s.add(f"<h3>{d.labels[u]}</h3>").add(paragraph(scores))
        fig = figures.example_unit(d.labels[u], res.subspace(u), nonlin.get(u), d.min_count,
                                   freqs, bin_size, k_rule=d.results.parameters.get("subspace", {}).get(
                                       "k_rule", "variance"))
        s.add(d.fig(fig, f"{d.labels[u]}: dSTRF subspace, SSRF and tuning curves"))
    return s


def scores_section(d: ReportData) -> Section:
    s = Section("scores", "LN, CNN and subspace model scores")
    if not d.r and any(len(v) for v in d.results.unit_scores("r").values()):
        return s.add(paragraph("Every model score of this results file is undefined (NaN): its units fire "
                               "during no validation sound, or too little to correlate.", "note"))
    if not d.r:
        return _absent(s, "model scores")
    s.add(d.fig(figures.score_scatter(d.r), "Prediction correlation on validation data, "
                                            "one point per unit; dashed: identity."))
    rows = []
    for role, r in d.r.items():
        cc = d.ccnorm.get(role, np.full_like(r, np.nan))
        rows.append((role_label(role), int(np.isfinite(r).sum()), float(np.nanmedian(r)),
                     float(np.nanmedian(cc)) if np.any(np.isfinite(cc)) else np.nan,
                     float(np.nanmean(cc)) if np.any(np.isfinite(cc)) else np.nan))
    s.add(table(("model", "units", "median r", "median CCnorm", "mean CCnorm"), rows))
    if CNN.name in d.r and SUBSPACE.name in d.r:
        ratios = r2_ratio(d.r[SUBSPACE.name], d.r[CNN.name])
        ok = np.isfinite(ratios)
        ratio = float(np.median(ratios[ok])) if ok.any() else np.nan
        s.add(paragraph(f"median (r_subspace / r_CNN)^2 = {ratio:.3f} over {int(ok.sum())} "
                        "units with r_CNN > 0 (negative where the subspace model's r is)."))
    return s.add(paragraph("Paper (2874 units, medians of site medians): LN r 0.415, CNN r "
                           "0.600, subspace model r 0.583, (r_subspace / r_CNN)^2 about 0.95.",
                           "note"))


def k_section(d: ReportData) -> Section:
    s = Section("dimension", "Subspace dimension k")
    subs = d.results.subspaces
    if not subs:
        return _absent(s, "tuning subspaces")
    threshold = subs[0].threshold
    rule = d.results.parameters.get("subspace", {}).get("k_rule", "variance")
    # with k_rule "significance", k is not k at the threshold: that one from the stored variances
    k = np.array([choose_k(x.explained_variance, threshold)
                  if rule != "variance" and np.size(x.explained_variance) else x.k for x in subs])
    k90 = np.array([x.k90 for x in subs])
    floors = any(np.isfinite(np.asarray(x.noise_floor_variance, dtype=float)).any() for x in subs)
    k_sig = np.array([x.significant_count() for x in subs]) if floors else None  # none computed: no 0s
    s.add(d.fig(figures.k_distribution(k, k90, threshold, k_sig),
                "Filters per unit: at the variance threshold, at 90% of the variance" +
                (" and above the shuffle noise floor." if floors else " (no noise floor was computed).")))
    rows = [(f"k at {threshold:.2f}", float(np.median(k)), int(k.min()), int(k.max())),
            ("k at 0.90", float(np.median(k90)), int(k90.min()), int(k90.max()))]
    if k_sig is not None:
        rows.append(("k significant", float(np.median(k_sig)), int(k_sig.min()), int(k_sig.max())))
    s.add(paragraph(f"k is chosen by {rule}" + (" (the cumulative-variance threshold)."
                                                 if rule == "variance" else
                                                 " (the components above the noise floor).")))
    s.add(table(("dimension", "median", "min", "max"), rows))
    return s.add(paragraph("Paper: 2-10 filters reach 90% of the dSTRF variance.", "note"))


def ssrf_section(d: ReportData, chunk: int = 32) -> Section:
    s = Section("ssrf", "SSRF maps and tuning curves")
    nonlin = sorted(d.results.nonlinearities, key=lambda n: n.unit_position)
    if not nonlin:
        return _absent(s, "subspace nonlinearities")
    s.add(paragraph("For every unit: the SSRF of dimension 1 (rows) against dimension 2 "
                    f"(bins with fewer than {d.min_count} samples grey) and the tuning curves "
                    f"(mean +- s.e.) with the asymmetry index of the first (up to {figures.MAX_CURVES}) "
                    "dimensions."))
    items = [(d.labels[n.unit_position], n) for n in nonlin]
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        s.add(d.fig(figures.ssrf_grid(part, d.min_count),
                    f"units {start + 1}-{start + len(part)} of {len(items)}"))
    ai = [np.asarray(n.asymmetry_index, dtype=float) for n in nonlin]
    first = np.array([a[0] for a in ai if a.size])
    rest = np.concatenate([a[1:] for a in ai]) if ai else np.zeros(0)
    s.add(d.fig(figures.asymmetry_histogram(first, rest), "Asymmetry index of every "
                "dimension: near 0 symmetric, near +-1 rectifying."))
    return s


def _site_labels(d: ReportData) -> tuple[Any, list[str], np.ndarray]:
    site = d.results.site_subspace
    pos = (np.arange(len(d.labels)) if site.unit_positions is None
           else np.asarray(site.unit_positions))
    return site, [d.labels[p] for p in pos], pos


def tiling_section(d: ReportData) -> Section:
    s = Section("tiling", "Site tiling")
    site = d.results.site_subspace
    if site is None or site.response_region_size is None:
        return _absent(s, "response regions")
    site, labels, _ = _site_labels(d)
    sizes = np.asarray(site.response_region_size, dtype=float)
    s.add(d.fig(figures.tiling(sizes, site.region_overlap, labels),
                "Response region of each unit in the shared 3-D site subspace (fraction of "
                "the volume above half its maximum) and pairwise overlap."))
    rows = [("median region size", float(np.nanmedian(sizes)))]
    if site.region_overlap is not None:
        ov = np.asarray(site.region_overlap, dtype=float)
        rows.append(("mean pairwise overlap", float(np.nanmean(ov[np.triu_indices_from(ov, k=1)]))
                     if len(ov) > 1 else np.nan))
    return s.add(table(("tiling", "value"), rows))


def similarity_section(d: ReportData) -> Section:
    s = Section("similarity", "Subspace similarity")
    site = d.results.site_subspace
    if site is None or site.subspace_similarity is None:
        return _absent(s, "subspace similarity")
    site, labels, _ = _site_labels(d)
    m = np.asarray(site.subspace_similarity, dtype=float)
    s.add(d.fig(figures.similarity(m, labels), f"Similarity of the units' subspaces "
                f"({site.similarity_measure or 'measure not recorded'})."))
    off = m[np.triu_indices_from(m, k=1)]  # each pair of units once
    off = off[np.isfinite(off)]
    rows = [("unit pairs", int(off.size)),
            ("median within site", float(np.median(off)) if off.size else np.nan),
            ("mean within site", float(np.mean(off)) if off.size else np.nan)]
    s.add(table(("within-site similarity", "value"), rows))
    return s.add(paragraph("Paper: about 0.55 within sites against 0.35 between sites. "
                           "Between-site pairs need several results files.", "note"))


def _column(units: dict[str, Any], name: str, kind: str) -> np.ndarray | None:
    if name not in units:
        return None
    values = np.asarray(units[name])
    if kind == "f":
        values = values.astype(float)
        return values if np.isfinite(values).any() else None
    values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
    return values if np.isin(values, ("narrow", "regular")).any() else None


def celltype_section(d: ReportData) -> Section:
    s = Section("celltype", "Cell type and depth")
    res = d.results
    n = len(d.labels)
    cell = _column(res.units, "cell_type", "s")
    depth = _column(res.units, "depth_um", "f")
    if cell is None and depth is None:
        return _absent(s, "cell-type or depth metadata")
    k = np.full(n, np.nan)
    for sub in res.subspaces:
        k[sub.unit_position] = sub.k
    size = None
    if res.site_subspace is not None and res.site_subspace.response_region_size is not None:
        _, _, pos = _site_labels(d)
        size = np.full(n, np.nan)
        size[pos] = np.asarray(res.site_subspace.response_region_size, dtype=float)
    info = UnitInfo.from_ids(np.asarray(res.units["id"]), depth_um=depth, cell_type=cell)
    s.add(d.fig(figures.cell_type_and_depth(cell, size, depth, k, d.r.get(CNN.name)),
                "Response-region size by spike-width class; subspace dimension and CNN r "
                "against depth."))
    rows = []
    for what, values in (("response-region size", size), ("k", k),
                         (f"r {CNN.label}", d.r.get(CNN.name))):
        if values is None or cell is None:
            continue
        for kind, st in summarise_by_cell_type(values, info).items():
            rows.append((what, kind, int(st["n"]), st["median"], st["mean"], st["sem"]))
    if rows:
        s.add(table(("value", "cell type", "units", "median", "mean", "s.e."), rows))
        s.add(paragraph("Paper: narrow-spiking units have larger response regions (about "
                        "0.115 against 0.076 of the volume); about 17% of units are narrow.",
                        "note"))
    by_depth = summarise_by_depth(k, info) if depth is not None else {}
    if by_depth:
        s.add(paragraph(f"k against depth: Spearman rho {by_depth['spearman_rho']:+.2f} "
                        f"(p = {by_depth['p_value']:.3g}, {int(np.isfinite(depth).sum())} "
                        "units)."))
    return s


def _flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out += _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return [(prefix, text)]


def provenance_section(d: ReportData) -> Section:
    s = Section("provenance", "Provenance")
    prov = d.results.provenance
    if not prov:
        return _absent(s, "provenance record")
    identity = prov.get("input") or {}
    s.add("<h3>Input</h3>")
    s.add(table(("field", "value"), _flat(identity) or [("input", "not recorded")]))
    for key in ("site", "fingerprint"):
        if key in prov:
            s.add(paragraph(f"{key}: {prov[key]}"))
    config = prov.get("config") if isinstance(prov.get("config"), dict) else {}
    rows = [(f"{sec}.{key}", json.dumps(config[sec][key])) for sec, key in KEY_PARAMETERS
            if isinstance(config.get(sec), dict) and key in config[sec]]
    if rows:
        s.add("<h3>Key parameters</h3>").add(table(("parameter", "value"), rows))
    versions = prov.get("package_versions") or {}
    if versions:
        s.add("<h3>Package versions</h3>")
        s.add(table(("package", "version"), sorted(_flat(versions))))
    s.add("<details><summary>Full provenance record</summary>")
    return s.add(table(("key", "value"), _flat(prov))).add("</details>")


def _doi(text: str) -> str | None:
    """The DOI in a ``related_publications`` entry (``doi:...``, a doi.org link or the
    bare DOI), lower-cased; None when there is none."""
    found = re.search(r"10\.\d{4,9}/[^\s\"'<>]+", text)
    return found.group(0).rstrip(".,;)").lower() if found else None


def dataset_citations(results: LoadedResults) -> list[str]:
    """Citations of the datasets the results come from.

    Decided by the results file's own metadata: each entry of its
    ``related_publications`` (copied from the input recording by the results writer)
    whose DOI is in :data:`DATASET_CITATIONS`. A file without them cites no dataset.
    """
    dois = [_doi(p) for p in results.related_publications]
    return [DATASET_CITATIONS[d] for d in dict.fromkeys(dois) if d in DATASET_CITATIONS]


def footer_lines(results: LoadedResults, version: str) -> list[str]:
    """Citations (the method paper; the dataset's, e.g. NS1's, when the file names it)
    and the package version."""
    lines = [f"Made by ndx-encoding-subspace {version}. Method: {PAPER}."]
    lines += [f"Data: {citation}." for citation in dataset_citations(results)]
    return lines


#: Section builders in page order.
SECTIONS = (overview_section, examples_section, scores_section, k_section,
            reliability_section, ssrf_section, tiling_section, similarity_section,
            celltype_section, provenance_section)
