"""The dataset statistics at the paper's size: 68 sites, about 4 million unit pairs.

Builds a units table of ``--sites`` sites of ``--units`` units each (random scores, cell
types, depths and nonlinearity classes) and a similarity for every unit pair, then times
:func:`~ndx_encoding_subspace.dataset.statistics.dataset_statistics` (what ``summarize``
and every multi-site ``run`` compute after the sites: medians, within- against
between-site similarity by site and by site pair, the authors' statistic, cell-type and
depth classes, permutation tests). The baseline, in the same run, is the direct rule for
the per-site-pair means (one scan of every pair per site pair), timed over
``--reference-pairs`` site pairs and projected to all of them; the two agree to 1e-9.

Last line: ``statistics_s`` (the whole statistics), ``pairs``, ``site_pair_means_s`` (the
per-site-pair means as computed), ``reference_site_pair_means_s_proj`` (the direct rule,
projected), ``speedup`` (their ratio), ``sites``, ``units``.

Usage: ``python benchmarks/bench_dataset_statistics.py [--quick] [--sites 68] [--units 42]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _units(n_sites: int, per_site: int, rng: np.random.Generator):
    from ndx_encoding_subspace.dataset.tables import UNIT_COLUMNS, Table

    n = n_sites * per_site
    cols = {c: np.full(n, np.nan) for c in UNIT_COLUMNS}
    cols["site"] = np.array([f"site{i // per_site:03d}" for i in range(n)], dtype=object)
    cols["area"] = np.array(["A1" if i % 3 else "PEG" for i in range(n)], dtype=object)
    cols["cell_type"] = rng.choice(np.array(["narrow", "regular", ""], dtype=object), n)
    cols["nonlinearity_class"] = rng.choice(np.array(["rectifying", "symmetric-up", "symmetric-down"],
                                                     dtype=object), n)
    for c in ("r_cnn", "r_ln", "r_subspace", "r2_ratio", "region_size", "k", "k90"):
        cols[c] = rng.uniform(0.1, 1.0, n)
    cols["depth_um"] = rng.uniform(0, 2000, n)
    return Table(cols)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 sites of 8 units (smoke run)")
    parser.add_argument("--sites", type=int, default=68)
    parser.add_argument("--units", type=int, default=42, help="units per site (68 x 42: about 2,900)")
    parser.add_argument("--reference-pairs", type=int, default=20,
                        help="site pairs timed with the direct rule (projected to all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.units, args.reference_pairs = 6, 8, 5

    from ndx_encoding_subspace.arrays import label_codes
    from ndx_encoding_subspace.dataset.params import DatasetParams
    from ndx_encoding_subspace.dataset.statistics import dataset_statistics, similarity_selection

    rng = np.random.default_rng(0)
    units = _units(args.sites, args.units, rng)
    a, b = np.triu_indices(len(units), 1)
    similarity = rng.uniform(0, 1, a.size)
    similarity[rng.uniform(size=a.size) < 0.05] = np.nan
    params = DatasetParams()
    start = time.perf_counter()
    dataset_statistics(units, a, b, similarity, params, similarity)
    total = time.perf_counter() - start

    sel = similarity_selection(units, a, b, similarity, params)
    values, labels = sel["similarity"], sel["site_pair"]
    start = time.perf_counter()
    codes = label_codes(labels)
    means = np.bincount(codes, values) / np.bincount(codes)
    fast = time.perf_counter() - start
    names = np.unique(labels.astype(str))
    chosen = names[np.linspace(0, len(names) - 1, min(args.reference_pairs, len(names))).astype(int)]
    start = time.perf_counter()
    reference = [np.mean(values[labels == p]) for p in chosen]
    slow = (time.perf_counter() - start) * len(names) / len(chosen)
    np.testing.assert_allclose(means[np.searchsorted(names, chosen)], reference, rtol=1e-9)
    print(f"{args.sites} sites x {args.units} units: {a.size:,} pairs; statistics {total:.1f} s; "
          f"per-site-pair means {fast:.2f} s against {slow:.1f} s by the direct rule (projected from "
          f"{len(chosen)} of {len(names)} site pairs)")
    print(f"statistics_s={total:.2f} pairs={a.size} site_pair_means_s={fast:.3f} "
          f"reference_site_pair_means_s_proj={slow:.2f} speedup={slow / max(fast, 1e-9):.1f} "
          f"sites={args.sites} units={len(units)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
