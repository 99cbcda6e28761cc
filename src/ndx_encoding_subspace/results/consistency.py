"""What the objects of a results file say about each other, checked once all are read.

Each object passes its own checks as it is read (:mod:`.values`, :mod:`.rebuild`); this
module checks them against each other: every model of a role's collection (:mod:`.roles`)
of that role; no unit predicted by two subspace models, and each subspace model taking
one input per filter of its unit's subspace; no more samples kept and dropped for a
subspace than the run's ``dstrf.max_samples`` or the spectrogram's bins (where the
provenance records the run's parameters). Each refusal is a ResultsError naming the
object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ResultsError
from ..models.schema import short
from .convert import MODULE
from .limits import one_line
from .roles import SUBSPACE, container_of_role, find_role

__all__ = ["check_sizes", "check_agreement", "check_roles", "check_subspace_models"]


def _where(collection: str, model: Any) -> str:
    return f"processing/{MODULE}/{collection}/{model.name} ({one_line(model.role, 60)})"


def check_roles(collections: Mapping[str, Any]) -> None:
    """Every model of a collection named for a known role (``population_cnn``...) of that
    role, else a ResultsError naming the model. Collections of other names (files written
    with the extension's classes directly) may hold models of any role."""
    for name, collection in collections.items():
        own = find_role(name)
        if own is None:
            continue
        for model in collection.members:
            if find_role(model.role) is not own:
                raise ResultsError(f"{_where(name, model)}: role {short(model.role)} is not the role "
                                   f"{own.name!r} of collection {name} (models of role "
                                   f"{short(model.role)} belong in {container_of_role(model.role)})")


def _on_projections(module: Any) -> bool:
    """Whether ``module`` takes subspace projections: a subspace network acts bin by bin
    (its lags are in the filters), where a model of the spectrogram sees several bins."""
    return int(getattr(module, "receptive_field", 0)) == 1


def check_subspace_models(collections: Mapping[str, Any], subspaces: Sequence[Any]) -> None:
    """No unit predicted by two subspace models, and each subspace model of one unit that
    acts on projections (receptive field of one bin) taking as many inputs as its unit's
    subspace has filters (where the file holds that subspace); else a ResultsError naming
    the model."""
    ks = {s.unit_position: int(np.asarray(s.filters).shape[0]) for s in subspaces}
    owner: dict[int, str] = {}
    for name, collection in collections.items():
        for model in collection.members:
            if find_role(model.role) is not SUBSPACE:
                continue
            units = [int(u) for u in model.unit_positions]
            for unit in units:
                if unit in owner:
                    raise ResultsError(f"{_where(name, model)}: unit {unit} is predicted by "
                                       f"{owner[unit]} too")
                owner[unit] = f"{name}/{model.name}"
            if len(units) != 1 or units[0] not in ks or not _on_projections(model.module):
                continue
            width = getattr(model.module, "n_inputs", None)
            if width is not None and width != ks[units[0]]:
                raise ResultsError(f"{_where(name, model)}: takes {width} inputs, where unit {units[0]}'s "
                                   f"subspace has k = {ks[units[0]]} filters")


def check_agreement(results: Any) -> None:
    """The objects of a loaded results file against each other (see the module's
    description).

    Parameters
    ----------
    results : LoadedResults
        Everything read from the file, each object already checked on its own.

    Raises
    ------
    ResultsError
        Objects that contradict each other; the message names the object.
    """
    check_roles(results.collections)
    check_subspace_models(results.collections, results.subspaces)
    check_sizes(results)
    most = _most_samples(results)
    for row, sub in enumerate(results.subspaces):
        if most is not None and sub.n_samples + sub.n_outliers > most:
            raise ResultsError(f"processing/{MODULE}/tuning_subspaces row {row}: n_samples "
                               f"{sub.n_samples} and n_outliers {sub.n_outliers} count more dSTRF "
                               f"samples than the {most} the run could take")


def check_sizes(results: Any) -> None:
    """Every unit's filters, and the site's, over the spectrogram's channels and the units'
    lags; the provenance's spectrogram bin size the stored spectrogram's."""
    spec = results.spectrogram
    shapes = {tuple(np.shape(s.filters)[1:]) for s in results.subspaces}
    for row, sub in enumerate(results.subspaces):
        channels = np.shape(sub.filters)[1]
        if spec is not None and channels != spec.data.shape[1]:
            raise ResultsError(f"processing/{MODULE}/tuning_subspaces row {row}: filters over {channels} "
                               f"frequencies; the spectrogram has {spec.data.shape[1]}")
    site = results.site_subspace
    if site is not None and site.filters is not None and np.size(site.filters):
        shape = tuple(np.shape(site.filters)[1:])
        if (shapes and shape not in shapes) or (spec is not None and shape[0] != spec.data.shape[1]):
            raise ResultsError(f"processing/{MODULE}/site_subspace: filters of shape {shape} (frequency, "
                               f"lag) differ from the units' {sorted(shapes)} or the spectrogram's channels")
    stored = results.provenance.get("spectrogram_parameters")
    bin_size = stored.get("bin_size") if isinstance(stored, dict) else None
    if (spec is not None and isinstance(bin_size, int | float) and not isinstance(bin_size, bool)
            and not np.isclose(float(bin_size), spec.bin_size, rtol=1e-6, atol=0)):
        raise ResultsError(f"processing/{MODULE}/provenance: spectrogram_parameters/bin_size {bin_size:g} s "
                           f"differs from the stored spectrogram's {spec.bin_size:g} s")


def _most_samples(results: Any) -> int | None:
    """Most dSTRF samples of a subspace in a file whose provenance records the run's
    ``dstrf.max_samples`` (None in others): that many, and no more than the spectrogram's
    bins, since the samples are bins of the site's sounds."""
    config = results.provenance.get("config")
    dstrf = config.get("dstrf") if isinstance(config, dict) else None
    most = dstrf.get("max_samples") if isinstance(dstrf, dict) else None
    if isinstance(most, bool) or not isinstance(most, int):
        return None
    if results.spectrogram is not None:
        most = min(most, int(results.spectrogram.data.shape[0]))
    return most
