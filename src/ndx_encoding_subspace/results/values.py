"""The numbers a results file may hold: what no computation of the package can give is refused.

:mod:`.limits` bounds what loading a file costs; this module checks what was loaded: a
unit's ``k`` against its filters, filters of norm near 1, fractions of variance within
[0, 1] and summing to at most 1, counts within the components computed, reliabilities and
confidences within [0, 1], reliability rules and sound splits of their vocabulary,
dimension signs of +1 or -1, asymmetry indexes within [-1, 1], tuning curves and SSRF maps
whose shapes agree with finite edges that do not decrease, a site's per-unit arrays of one
row per unit, its similarity symmetric and within [0, 1], tiling edges finite and
increasing, units not repeated, a spectrogram whose rate and channel count agree with its
data; NaN only where a value is not defined, and no infinite values. Each refusal is a
ResultsError naming the row and the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ResultsError
from ..extension.reliability import RULES
from ..models.schema import short

__all__ = ["check_curves", "check_subspace", "check_nonlinearity", "check_nonlinearities", "check_site",
           "check_model_of", "check_spectrogram", "check_sounds", "check_units", "count", "distinct",
           "SPLITS"]


def check_curves(name: str, row: int, tuning: dict[str, np.ndarray], ssrf: dict[str, np.ndarray]) -> None:
    """Tuning curves and SSRF maps whose shapes agree (bins and edges, pairs of existing
    dimensions), else a ResultsError naming the row and the column."""
    def refuse(what: str) -> None:
        raise ResultsError(f"{name} row {row}: {what}")

    edges, mean = np.asarray(tuning.get("bin_edges")), np.asarray(tuning.get("mean"))
    for key, curves in (("tuning_bin_edges", tuning), ("ssrf_bin_edges", ssrf)):
        found = np.asarray(curves.get("bin_edges", np.zeros(0)), dtype=np.float64)
        if found.size and not np.all(np.isfinite(found)):
            refuse(f"{key} hold NaN or infinite values")
        if found.ndim and np.any(np.diff(found, axis=-1) < 0):  # equal edges: a constant projection
            refuse(f"{key} decrease along a dimension")
    for key, curves in (("tuning_count", tuning), ("ssrf_count", ssrf)):
        count = np.asarray(curves.get("count", np.zeros(0)), dtype=np.float64)
        if count.size and np.nanmin(np.append(count, 0.0)) < 0:
            refuse(f"{key} holds negative counts")
    for key, curves, part in (("tuning_mean", tuning, "mean"), ("tuning_sem", tuning, "sem"),
                              ("ssrf_mean", ssrf, "mean")):
        found = np.asarray(curves.get(part, np.zeros(0)), dtype=np.float64)  # NaN: an empty bin
        if np.isinf(found).any() or (part == "sem" and np.nanmin(np.append(found, 0.0)) < 0):
            refuse(f"{key} holds infinite" + (" or negative values" if part == "sem" else " values"))
    if edges.size and (edges.ndim != 2 or mean.shape != (edges.shape[0], edges.shape[1] - 1)):
        refuse(f"tuning_mean of shape {mean.shape} does not match tuning_bin_edges of shape {edges.shape}")
    edges, pairs = np.asarray(ssrf.get("bin_edges")), np.asarray(ssrf.get("pairs"))
    maps = np.asarray(ssrf.get("mean"))
    if not pairs.size:
        return
    if edges.ndim != 2 or pairs.ndim != 2 or pairs.shape[1] != 2:
        refuse(f"ssrf_pairs of shape {pairs.shape} or ssrf_bin_edges of shape {edges.shape} are not "
               "(pairs, 2) and (dimensions, bins + 1)")
    if pairs.min() < 0 or pairs.max() >= edges.shape[0]:
        refuse(f"ssrf_pairs name dimensions {pairs.min()} to {pairs.max()}; the row has {edges.shape[0]}")
    m = edges.shape[1] - 1
    if maps.shape != (pairs.shape[0], m, m):
        refuse(f"ssrf_mean of shape {maps.shape}, expected {(pairs.shape[0], m, m)}")


_SLACK = 1e-4  # rounding of stored fractions
#: a subspace's filters are PCA directions of norm 1; the writer also takes other filters
#: (e.g. unnormalised ones), so only norms off by more than this factor are refused
_NORM_FACTOR = 100.0


def check_subspace(name: str, row: int, sub: Any, k_column: int | None) -> None:
    """A unit's tuning subspace whose numbers are possible (finite filters of one shape
    with the mean dSTRF and of norms near 1, fractions within [0, 1] and summing to at
    most 1, counts within the components computed, ``k`` the filters' count, a known
    reliability rule), else a ResultsError naming the row and the column.

    ``sub`` is a :class:`~.bundle.UnitSubspace`; ``k_column`` the row's stored ``k``
    (None where the table has none).
    """
    def refuse(what: str) -> None:
        raise ResultsError(f"{name} row {row}: {what}")

    filters, mean = np.asarray(sub.filters), np.asarray(sub.mean_dstrf)
    if filters.ndim != 3 or mean.ndim != 2 or filters.shape[1:] != mean.shape:
        refuse(f"filters of shape {filters.shape} do not match its mean_dstrf of shape {mean.shape} "
               "(expected [k, frequency, lag])")
    if not (np.all(np.isfinite(filters)) and np.all(np.isfinite(mean))):
        refuse("filters or mean_dstrf hold NaN or infinite values")
    k = int(filters.shape[0])
    ev = np.asarray(sub.explained_variance, dtype=np.float64)
    n = ev.size
    if k_column is not None and k_column != k:
        refuse(f"k is {k_column} where the row holds {k} filters")
    if k < 1 or (n and k > n):
        refuse(f"{k} filters for {n} components computed")
    if not np.all(np.isfinite(ev)) or (n and (ev.min() < -_SLACK or ev.sum() > 1 + 1e-3)):
        refuse("explained_variance holds values outside [0, 1] or summing to more than 1")
    floor = np.asarray(sub.noise_floor_variance, dtype=np.float64)
    if floor.size and (np.nanmin(np.append(floor, 0.0)) < -_SLACK or np.isinf(floor).any()):
        refuse("noise_floor_variance holds negative or infinite values")
    counts = {"n_samples": sub.n_samples, "n_outliers": sub.n_outliers}
    if any(v < 0 for v in counts.values()):
        refuse(f"counts of samples that cannot be ({counts})")
    if sub.reliability_rule not in RULES:
        refuse(f"reliability_rule {short(sub.reliability_rule)} is none of {', '.join(RULES)}")
    flat = filters.astype(np.float64).reshape(filters.shape[0], int(np.prod(filters.shape[1:])))
    norms = np.linalg.norm(flat, axis=1)
    if norms.size and not np.all((norms >= 1 / _NORM_FACTOR) & (norms <= _NORM_FACTOR)):
        refuse(f"filters of norm {norms.min():.3g} to {norms.max():.3g}, not directions (norm about 1)")
    for column, value in (("k90", sub.k90), ("k95", sub.k95), ("k_significant", sub.k_significant)):
        if value is not None and not 0 <= int(value) <= max(n, k):
            refuse(f"{column} is {value}, outside 0 to the {max(n, k)} components computed")
    if sub.k90 is not None and sub.k95 is not None and int(sub.k90) > int(sub.k95):
        refuse(f"k90 {sub.k90} is more than k95 {sub.k95}, which the same variance curve cannot give")
    if n > 1 and np.any(np.diff(ev) > _SLACK * max(float(ev.max()), 1e-12)):
        refuse("explained_variance is not in decreasing order, as principal components are")
    if not (0 < float(sub.threshold) <= 1 + _SLACK):
        refuse(f"threshold {sub.threshold} is not a fraction of the variance")
    reliability = float(sub.reliability)
    if not np.isnan(reliability) and not -_SLACK <= reliability <= 1 + _SLACK:
        refuse(f"reliability {reliability:g} is outside [0, 1]")
    confidence = np.asarray(sub.dimension_confidence, dtype=np.float64)
    if confidence.size and confidence.size != n:
        refuse(f"dimension_confidence holds {confidence.size} values for {n} components")
    known = confidence[~np.isnan(confidence)]  # NaN: not measured; infinite values are refused
    if known.size and (known.min() < -_SLACK or known.max() > 1 + _SLACK):
        refuse("dimension_confidence holds values outside [0, 1]")


def distinct(name: str, rows: np.ndarray) -> np.ndarray:
    """``rows`` (of the units table), refused when a unit is repeated among them."""
    if len(set(np.asarray(rows).tolist())) != len(rows):
        raise ResultsError(f"{name}: units repeated among its rows")
    return rows


def check_nonlinearities(nonlinearities: Sequence[Any], subspaces: Sequence[Any]) -> None:
    """Every unit's nonlinearity (:func:`check_nonlinearity`) against its subspace's
    dimension (``UnitNonlinearity`` and ``UnitSubspace`` of one file)."""
    ks = {s.unit_position: int(np.asarray(s.filters).shape[0]) for s in subspaces}
    for i, n in enumerate(nonlinearities):
        if n.unit_position not in ks:  # a nonlinearity is fitted in its unit's subspace
            raise ResultsError(f"subspace_nonlinearities row {i}: unit {n.unit_position} has no tuning "
                               "subspace in the file (tuning_subspaces missing, or without that unit)")
        check_nonlinearity(i, n.dimension_sign, n.asymmetry_index, ks[n.unit_position])


def check_model_of(name: str, row: int, model: Any, unit: int) -> None:
    """A nonlinearity's model is a subspace model predicting that row's unit alone (a
    reference re-pointed at another unit's model, or at another object, is refused)."""
    from .roles import SUBSPACE

    if model is None:
        return
    if getattr(model, "role", None) != SUBSPACE.name or not hasattr(model, "unit_rows"):
        raise ResultsError(f"{name} row {row}: its model {getattr(model, 'name', model)!r} is no subspace "
                           f"model (an EncodingModel of role {SUBSPACE.name!r})")
    predicted = model.unit_rows().tolist()
    if predicted != [unit]:
        raise ResultsError(f"{name} row {row}: its model {model.name!r} predicts units table row(s) "
                           f"{predicted}, not the row's unit ({unit})")


def check_nonlinearity(row: int, signs: np.ndarray, asymmetry: np.ndarray, k: int | None) -> None:
    """A unit's nonlinearity whose dimension signs are +1 or -1 and whose asymmetry indexes
    lie in [-1, 1], one per subspace dimension (``k``; None where the unit has no stored
    subspace), else a ResultsError naming the row."""
    signs, asymmetry = np.asarray(signs, dtype=np.float64), np.asarray(asymmetry, dtype=np.float64)
    where = f"subspace_nonlinearities row {row}"
    if signs.size and not np.all(np.isin(signs, (-1.0, 1.0))):
        raise ResultsError(f"{where}: dimension_sign holds values other than +1 and -1")
    known = asymmetry[~np.isnan(asymmetry)]  # NaN: no asymmetry measured; infinite values are refused
    if known.size and np.abs(known).max() > 1 + _SLACK:
        raise ResultsError(f"{where}: asymmetry_index holds values outside [-1, 1]")
    for column, values in (("dimension_sign", signs), ("asymmetry_index", asymmetry)):
        if k is not None and values.size and values.size != k:
            raise ResultsError(f"{where}: {values.size} {column} values for a subspace of {k} dimensions")


def check_site(name: str, arrays: dict[str, np.ndarray | None], n_units: int | None = None) -> None:
    """The site analysis' numbers that are possible: one row per unit (``n_units``, where
    given) in its per-unit arrays, similarities and overlaps within [0, 1] (the similarity
    symmetric), region sizes finite and not negative, variance fractions summing to at
    most 1, tiling edges finite and increasing; NaN only where a value was not defined.
    Else a ResultsError naming the dataset."""
    def values(key: str) -> np.ndarray:
        value = arrays.get(key)
        out = np.zeros(0) if value is None else np.asarray(value, dtype=np.float64)
        return out[~np.isnan(out)]  # infinite values stay, and fail the ranges below

    if n_units is not None:
        square = (n_units, n_units)
        for key, shape in (("subspace_similarity", square), ("region_overlap", square),
                           ("response_region_size", (n_units,))):
            found = arrays.get(key)
            if found is not None and np.size(found) and np.shape(found) != shape:
                raise ResultsError(f"{name}: {key} of shape {np.shape(found)} for the {n_units} units of "
                                   f"the site (expected {shape})")
        regions = arrays.get("response_regions")
        if regions is not None and np.size(regions) and np.shape(regions)[0] != n_units:
            raise ResultsError(f"{name}: response_regions for {np.shape(regions)[0]} units; the site has "
                               f"{n_units}")
    for key in ("filters", "mean_dstrf"):
        found = arrays.get(key)
        if found is not None and np.size(found) and not np.all(np.isfinite(np.asarray(found, np.float64))):
            raise ResultsError(f"{name}: {key} holds NaN or infinite values")
    for key in ("subspace_similarity", "region_overlap"):
        found = values(key)
        if found.size and (found.min() < -_SLACK or found.max() > 1 + _SLACK):
            raise ResultsError(f"{name}: {key} holds values outside [0, 1]")
    similarity = arrays.get("subspace_similarity")
    if similarity is not None and np.size(similarity):
        matrix = np.asarray(similarity, dtype=np.float64)
        if not np.allclose(matrix, matrix.T, atol=1e-4, equal_nan=True):
            raise ResultsError(f"{name}: subspace_similarity is not symmetric")
    sizes = values("response_region_size")
    if sizes.size and (sizes.min() < 0 or np.isinf(sizes).any()):
        raise ResultsError(f"{name}: response_region_size holds negative or infinite sizes")
    ev = values("explained_variance")
    if ev.size and (ev.min() < -_SLACK or ev.sum() > 1 + 1e-3):
        raise ResultsError(f"{name}: explained_variance holds values outside [0, 1] or summing past 1")
    edges = arrays.get("tiling_bin_edges")
    if edges is not None and np.size(edges) and np.asarray(edges).ndim == 2:
        edges = np.asarray(edges, dtype=np.float64)
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges, axis=1) <= 0):
            raise ResultsError(f"{name}: tiling_bin_edges are not finite and increasing along each dimension")


def check_spectrogram(data: np.ndarray, frequencies: np.ndarray, bin_size: float,
                      rate: float | None = None, n_channels: int | None = None) -> None:
    """The stored spectrogram: ``(time, frequency)`` data of finite values, one
    positive frequency per channel, increasing, and a positive bin size; its ``rate``
    (Hz) one bin per ``bin_size`` and its ``n_channels`` the channels stored, where given.
    Else a ResultsError naming what is wrong."""
    if data.ndim != 2 or frequencies.shape != (data.shape[1],):
        raise ResultsError(f"spectrogram: data of shape {data.shape} and {frequencies.size} frequencies "
                           "are not (time, frequency) and one frequency per channel")
    freqs = np.asarray(frequencies, dtype=np.float64)
    if not (np.all(np.isfinite(freqs)) and np.all(freqs > 0) and np.all(np.diff(freqs) > 0)):
        raise ResultsError("spectrogram: frequencies are not positive and increasing")
    if not (np.isfinite(bin_size) and bin_size > 0):
        raise ResultsError(f"spectrogram: bin size {bin_size!r} is not a positive number of seconds")
    if rate is not None and not np.isclose(float(rate) * bin_size, 1.0, rtol=0, atol=1e-6):
        raise ResultsError(f"spectrogram: rate {float(rate):g} Hz is not one bin per its bin_size "
                           f"{bin_size:g} s")
    if n_channels is not None and int(n_channels) != data.shape[1]:
        raise ResultsError(f"spectrogram: n_channels {int(n_channels)} differs from the {data.shape[1]} "
                           "channels stored")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):  # the writer takes finite ones only
        raise ResultsError(f"spectrogram: data holds {'NaN' if np.isnan(data).any() else 'infinite'} values")


#: the split of each sound of the spectrogram (the writer's names)
SPLITS = ("estimation", "validation", "unused")


def check_sounds(sounds: dict[str, np.ndarray], n_bins: int) -> None:
    """The spectrogram's table of sounds: repeat counts not negative, splits named in
    :data:`SPLITS`, each sound a span of the spectrogram's ``n_bins`` bins; else a
    ResultsError naming the table (and the row)."""
    repeats = np.asarray(sounds.get("n_repeats", np.zeros(0)), dtype=np.float64)
    if repeats.size and not (np.all(np.isfinite(repeats)) and repeats.min() >= 0):
        raise ResultsError("spectrogram_sounds: n_repeats holds negative or non-finite counts")
    for row, split in enumerate(sounds.get("split", ())):
        if split not in SPLITS:
            raise ResultsError(f"spectrogram_sounds row {row}: split {short(split)} is none of "
                               f"{', '.join(SPLITS)}")
    first, stop = np.asarray(sounds["start_bin"]), np.asarray(sounds["stop_bin"])
    bad = np.flatnonzero((first < 0) | (stop > n_bins) | (stop <= first))
    if bad.size:
        row = int(bad[0])
        raise ResultsError(f"spectrogram_sounds row {row}: bins {int(first[row])} to {int(stop[row])} "
                           f"are not a span of the spectrogram's {n_bins} bins")
    order = np.argsort(first, kind="stable")
    overlap = np.flatnonzero(first[order][1:] < stop[order][:-1])
    if overlap.size:
        row = int(order[overlap[0] + 1])
        raise ResultsError(f"spectrogram_sounds row {row}: bins {int(first[row])} to {int(stop[row])} "
                           "overlap another sound's (each sound is its own span of the spectrogram)")
    names = list(sounds.get("sound", ()))
    if len(set(names)) < len(names):
        row = next(i for i, v in enumerate(names) if names.index(v) != i)
        raise ResultsError(f"spectrogram_sounds row {row}: sound {short(names[row])} is named twice")


def check_units(units: dict[str, Any], numbers: Sequence[str]) -> None:
    """The results' units: ids not repeated, the ``numbers`` columns one finite number per
    unit (NaN: not known), ``source_row`` not negative, spike times not NaN or infinite;
    else a ResultsError naming the column."""
    ids = np.asarray(units["id"])
    if len(set(ids.tolist())) != ids.size:
        raise ResultsError("ids repeated (each unit must have its own)")
    for name in (n for n in numbers if n in units):
        values = np.asarray(units[name])
        if values.dtype.kind not in "fiu" or values.ndim != 1:
            raise ResultsError(f"column {name!r} holds {values.dtype} of shape {values.shape}, "
                               "not one number per unit")
        if np.isinf(values.astype(np.float64)).any():
            raise ResultsError(f"units column {name!r} holds infinite values")
        if name == "source_row" and (values.astype(np.float64) < 0).any():
            raise ResultsError(f"units column {name!r} holds negative rows of the source's units table")
    for i, times in enumerate(units.get("spike_times", ())):
        if np.asarray(times).size and not np.all(np.isfinite(np.asarray(times, dtype=np.float64))):
            raise ResultsError(f"units row {i}: spike_times hold NaN or infinite values")


def count(value: Any) -> int:
    """A stored count (such as ``min_count``): an integer, not negative."""
    number = int(value)
    if number < 0:
        raise ResultsError(f"{number} is no count (negative)")
    return number
