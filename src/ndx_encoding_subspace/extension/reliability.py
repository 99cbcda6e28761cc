"""The reliability vocabulary of tuning subspaces: one set of names for every reader.

The per-unit reliability of a tuning subspace, the rule that measured it, the confidence
of each dimension and ``k_significant`` (components above the shuffle noise floor) are
columns of the ``TuningSubspaceTable`` (extension version 0.2.0 and later). The
extension class, the results writer and loader, the nwbwidgets views and the HTML report
all take their names, the rule names and the two small rules they share from here:

- :func:`count_significant`: leading components whose explained-variance fraction
  exceeds the noise floor's (files of version 0.1.0 store both, so the count is
  recomputed for them);
- :func:`reliability_status`: ``reliable``, ``unreliable`` or ``unknown`` against a
  threshold (``SubspaceParams.reliability_threshold``, default
  :data:`DEFAULT_RELIABILITY_THRESHOLD`).

Files written before version 0.2.0 have none of the columns: their reliability reads as
NaN, its rule as :data:`RULE_UNKNOWN` and each dimension's confidence as NaN.

Only numpy is imported here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "K_SIGNIFICANT",
    "RELIABILITY",
    "RELIABILITY_RULE",
    "DIMENSION_CONFIDENCE",
    "RULE_MEMBERS",
    "RULE_SPLIT_HALVES",
    "RULE_UNKNOWN",
    "RULES",
    "RELIABLE",
    "UNRELIABLE",
    "UNKNOWN",
    "DEFAULT_RELIABILITY_THRESHOLD",
    "choose_k",
    "count_significant",
    "reliability_status",
    "reliability_threshold_of",
    "shown_reliability",
    "shown_significant",
    "SPLIT_HALVES_CAVEAT",
]

#: Column: number of leading components above the shuffle noise floor.
K_SIGNIFICANT = "k_significant"
#: Column: per-unit reliability of the subspace, in [0, 1] (NaN: not measured).
RELIABILITY = "reliability"
#: Column: the rule that measured the reliability (one of :data:`RULES`).
RELIABILITY_RULE = "reliability_rule"
#: Ragged column: confidence of every computed component, in [0, 1].
DIMENSION_CONFIDENCE = "dimension_confidence"

#: Rule: subspaces of the ensemble's members (jackknife fits) compared pairwise.
RULE_MEMBERS = "members"
#: Rule: subspaces of the two halves of the dSTRF samples compared (one member).
RULE_SPLIT_HALVES = "split_halves"
#: Rule of a subspace whose reliability was not measured (or a file of version 0.1.0).
RULE_UNKNOWN = "unknown"
#: Every rule a file may name.
RULES = (RULE_MEMBERS, RULE_SPLIT_HALVES, RULE_UNKNOWN)

#: Status of a unit whose reliability reaches the threshold.
RELIABLE = "reliable"
#: Status of a unit whose reliability is below the threshold.
UNRELIABLE = "unreliable"
#: Status of a unit whose reliability was not measured.
UNKNOWN = "unknown"

#: Reliability below which a unit's subspace is flagged unreliable, unless the file's
#: subspace parameters say otherwise.
DEFAULT_RELIABILITY_THRESHOLD = 0.5


#: a share of the variance this small is float rounding (components past the samples' rank)
NEGLIGIBLE_SHARE = 1e-9


def count_significant(ratio: np.ndarray, floor: np.ndarray) -> int:
    """Leading components whose explained-variance fraction exceeds the noise floor's.

    Parameters
    ----------
    ratio, floor : ndarray (n_components,)
        Explained-variance fraction of every component and of the shuffled samples.

    Returns
    -------
    int
        The count of components, from the first, before the first one at or below its
        floor (or at a share of the variance of float rounding, :data:`NEGLIGIBLE_SHARE`:
        past the samples' rank); 0 when the floor was not computed (NaN).
    """
    ratio = np.asarray(ratio, dtype=np.float64).reshape(-1)
    floor = np.asarray(floor, dtype=np.float64).reshape(-1)
    n = min(ratio.size, floor.size)
    if n == 0 or not np.all(np.isfinite(floor[:n])):
        return 0
    above = (ratio[:n] > floor[:n]) & (ratio[:n] > NEGLIGIBLE_SHARE)
    return n if above.all() else int(np.argmin(above))


def shown_significant(count: int, floor: np.ndarray) -> str:
    """``k_significant`` as the viewers show it: the count, or, where no noise floor was
    computed (``SubspaceParams.noise_repeats = 0``: every floor NaN), that it was not (its
    stored 0 is no result)."""
    floor = np.asarray(floor, dtype=np.float64).reshape(-1)
    if not (floor.size and np.isfinite(floor).any()):
        return "not computed (no noise floor: subspace.noise_repeats = 0)"
    return str(int(count))


def choose_k(variance: np.ndarray, threshold: float) -> int:
    """Smallest count whose cumulative share of ``variance.sum()`` reaches ``threshold``
    (k at a share of the variance, and ``k90``/``k95``, from the components computed)."""
    variance = np.clip(np.asarray(variance, dtype=np.float64), 0.0, None)
    total = variance.sum()
    if total <= 0:
        return 1
    cum = np.cumsum(variance) / total
    return int(min(np.searchsorted(cum, threshold - 1e-12) + 1, len(variance)))


def reliability_status(reliability: float, threshold: float = DEFAULT_RELIABILITY_THRESHOLD) -> str:
    """:data:`RELIABLE` at or above ``threshold``, :data:`UNRELIABLE` below it,
    :data:`UNKNOWN` when the reliability is NaN."""
    value = float(reliability)
    if not np.isfinite(value):
        return UNKNOWN
    return RELIABLE if value >= threshold else UNRELIABLE


#: what viewers say beside a reliability of the rule :data:`RULE_SPLIT_HALVES`
SPLIT_HALVES_CAVEAT = ("one fit, compared over the two halves of its samples: says how well the samples "
                       "determine that fit's subspace, not whether other fits agree, and rarely flags a unit")


def shown_reliability(value: float, threshold: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or as many more as it takes for the text to lie
    on the same side of ``threshold`` as the value (0.4996 against 0.5: ``0.4996``, not
    ``0.50``, beside the word "unreliable")."""
    value = float(value)
    if not np.isfinite(value):
        return "n/a"
    for d in range(digits, 10):
        text = f"{value:.{d}f}"
        if (float(text) >= threshold) == (value >= threshold):
            return text
    return repr(value)


def reliability_threshold_of(parameters: dict | None) -> float:
    """The ``reliability_threshold`` of stored subspace parameters, else the default."""
    value = (parameters or {}).get("reliability_threshold")
    try:
        threshold = DEFAULT_RELIABILITY_THRESHOLD if value is None else float(value)
    except (TypeError, ValueError):  # a damaged document (the loader refuses it; viewers show the default)
        return DEFAULT_RELIABILITY_THRESHOLD
    return threshold if 0.0 <= threshold <= 1.0 else DEFAULT_RELIABILITY_THRESHOLD  # NaN included
