"""Tidy tables of a dataset summary: one row per observation, one column per variable.

Each table is held by columns (numpy arrays, one entry per row) and written as CSV with a
header row, so ``pandas.read_csv`` and the ``csv`` module read it directly. In the files,
unknown numbers (NaN) and unknown labels are empty fields, booleans are ``True`` or
``False`` and floats are written with full precision.

The columns of each file are listed, with their meaning, in :data:`COLUMNS`:

- ``units.csv``: one row per analysed unit of every site;
- ``dimensions.csv``: one row per dimension of each unit's tuning subspace (its
  nonlinearity): the long form of the per-dimension values, so that units of different
  k share one set of columns;
- ``pairs.csv``: one row per unordered pair of units, within and between sites;
- ``sites.csv``: one row per site of the run, finished or not.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import InvalidDataError

__all__ = ["Table", "COLUMNS", "UNIT_COLUMNS", "DIMENSION_COLUMNS", "PAIR_COLUMNS",
           "SITE_COLUMNS", "MODEL_COLUMNS"]

#: Score columns of each model: (role label used in column names, score).
MODEL_COLUMNS = tuple((label, score) for label in ("ln", "cnn", "subspace")
                      for score in ("r", "ccnorm"))

UNIT_COLUMNS: dict[str, str] = {
    "site": "Site: the results file's name without .results.nwb.",
    "unit": "Unit id, as in the input recording's Units table.",
    "area": "Brain area (empty when unknown).",
    "depth_um": "Recording depth in micrometres.",
    "cell_type": "Spike-width class: narrow or regular (empty when unknown).",
    "spike_width_ms": "Trough-to-peak time of the mean waveform, ms.",
    **{f"{score}_{label}": f"{'Pearson r' if score == 'r' else 'CCnorm'} of the "
       f"{label.upper() if label != 'subspace' else 'subspace'} model on validation data "
       "(mean over the models that predict the unit)."
       for label, score in MODEL_COLUMNS},
    "r2_ratio": "(r_subspace / r_cnn)^2, negative where r_subspace is; empty where r_cnn <= 0.",
    "k": "Subspace dimension at the run's variance threshold (0, with k90 and k95 0: the unit has "
         "no tuning subspace).",
    "k90": "Components reaching 90% of the variance.",
    "k95": "Components reaching 95% of the variance.",
    "k_significant": "Leading components above the shuffle noise floor (empty when the "
                     "results file does not say).",
    "reliability": "Stability of the unit's subspace across the ensemble's members or split "
                   "halves, in [0, 1] (empty when not measured).",
    "reliability_rule": "How the reliability was measured: members, split_halves or unknown.",
    "asymmetry_1": "Asymmetry index of dimension 1 (all dimensions: dimensions.csv).",
    "nonlinearity_class": "Nonlinearity class of dimension 1 (see dimensions.csv).",
    "region_size": "Response-region size: fraction of the site's tiling volume.",
}

DIMENSION_COLUMNS: dict[str, str] = {
    "site": "Site.",
    "unit": "Unit id.",
    "dimension": "Dimension of the unit's tuning subspace, from 1.",
    "asymmetry": "Asymmetry index of the dimension, in [-1, 1].",
    "sign": "Sign flip applied to the projection (+1 or -1).",
    "nonlinearity_class": "flat, symmetric-up, symmetric-down or rectifying.",
}

PAIR_COLUMNS: dict[str, str] = {
    "site_a": "Site of the first unit.",
    "unit_a": "Id of the first unit.",
    "site_b": "Site of the second unit.",
    "unit_b": "Id of the second unit.",
    "same_site": "Whether both units were recorded at one site.",
    "similarity": "Mean squared cosine of the principal angles between the units' "
                  "tuning subspaces, over min(k) angles (empty when either has none, or their "
                  "filters differ in frequency channels or lags: other channel frequencies, bin "
                  "size or number of lags).",
    "similarity_paper": "The same over the dimensions the authors' code compares: each unit's "
                        "first components reaching 75% of its explained variance "
                        "(DatasetParams.paper_variance).",
    "area_a": "Area of the first unit.",
    "area_b": "Area of the second unit.",
    "cell_type_a": "Cell type of the first unit.",
    "cell_type_b": "Cell type of the second unit.",
    "depth_um_a": "Depth of the first unit, micrometres.",
    "depth_um_b": "Depth of the second unit, micrometres.",
}

SITE_COLUMNS: dict[str, str] = {
    "site": "Site.",
    "status": "State of the site's run: done, failed, ... (from the run's site record; "
              "done for a results file without a record; unreadable when the results "
              "file cannot be loaded).",
    "error": "Error message of a site that did not finish (empty otherwise).",
    "time_s": "Wall time of the site's run in seconds (empty when not recorded).",
    "device": "Device the site's models were trained on.",
    "n_units": "Units of the site in units.csv.",
    "results": "Name of the site's results file (empty when there is none).",
}

#: Columns of every table file, with their meaning.
COLUMNS: dict[str, dict[str, str]] = {
    "units.csv": UNIT_COLUMNS, "dimensions.csv": DIMENSION_COLUMNS,
    "pairs.csv": PAIR_COLUMNS, "sites.csv": SITE_COLUMNS,
}


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value)


@dataclasses.dataclass
class Table:
    """A tidy table held by columns, in a fixed column order.

    Attributes
    ----------
    columns : dict of str -> ndarray
        Every column, all of one length.
    """

    columns: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        self.columns = {k: np.asarray(v) for k, v in self.columns.items()}
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise InvalidDataError(f"table columns of different lengths: "
                                   f"{ {k: len(v) for k, v in self.columns.items()} }")

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], names: Sequence[str]) -> Table:
        """Columns ``names`` of ``rows`` (dictionaries; a missing key is unknown)."""
        rows = list(rows)
        out = {}
        for name in names:
            values = [row.get(name) for row in rows]
            numeric = all(isinstance(v, int | float | np.number) or v is None for v in values)
            if numeric and any(v is not None for v in values):
                kinds = {type(v) for v in values if v is not None}
                out[name] = (np.array(values, dtype=bool) if kinds <= {bool, np.bool_}
                             else np.array([np.nan if v is None else v for v in values]))
            else:
                out[name] = np.array(["" if v is None else v for v in values], dtype=object)
        return cls(out)

    @classmethod
    def concat(cls, tables: Sequence[Table], names: Sequence[str]) -> Table:
        """Rows of ``tables`` one after another, columns ``names``."""
        if not tables:
            return cls({n: np.zeros(0) for n in names})
        return cls({n: np.concatenate([t.columns[n] for t in tables]) for n in names})

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def rows(self) -> Iterable[list[str]]:
        """Each row as CSV fields, in column order."""
        cols = list(self.columns.values())
        for i in range(len(self)):
            yield [_field(c[i]) for c in cols]

    def write_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (header row first), atomically."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "x", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(self.columns))
            writer.writerows(self.rows())
        return path
