"""Plain containers of one site's results: what the pipeline fills in, what the writer stores.

Everything here is numpy arrays, numbers, strings and dictionaries, plus the trained
``torch.nn.Module`` of each model. The same dataclasses come back from
:func:`~ndx_encoding_subspace.results.load_results` (with ``module`` rebuilt from the
stored architecture document), so what is written can be compared with what is read.

Unit positions everywhere are indices into ``site.units`` (the order of the count
arrays); in the results file they are rows of its Units table, which holds exactly the
site's units in that order.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..arrays import summary_repr
from ..data.site import SiteData
from ..errors import InvalidDataError
from ..extension.reliability import RULE_UNKNOWN, count_significant
from .roles import ROLE_CONTAINERS, container_of_role

__all__ = [
    "ModelResult",
    "UnitSubspace",
    "UnitNonlinearity",
    "SiteAnalysis",
    "SiteResults",
    "ROLE_CONTAINERS",
    "container_of_role",
]


def _arrays(values: dict[str, Any]) -> dict[str, np.ndarray]:
    return {str(k): np.asarray(v) for k, v in values.items()}


@dataclasses.dataclass
class ModelResult:
    """One trained model and its record.

    Parameters
    ----------
    name : str
        Unique within its role's collection, e.g. ``"cnn_jk3_init1"`` or ``"unit_12"``.
    role : str
        A role of :mod:`.roles`: ``"cnn"`` (population CNN ensemble member), ``"ln"``
        (LN baseline), ``"subspace_nonlinearity"`` (a unit's subspace model); or any
        other label, stored in a collection of that name.
    module : torch.nn.Module
        The trained model; it must be describable by an architecture document
        (:func:`~ndx_encoding_subspace.models.to_architecture`) unless ``architecture``
        is given.
    unit_positions : ndarray of int
        Position in ``site.units`` of each output, in output order.
    fit_log : dict of str -> ndarray
        ``epoch``, ``stage``, ``training_loss`` and optionally ``early_stopping_loss``,
        one entry per epoch (NaN where a stage has no early-stopping data).
    scores : dict of str -> ndarray
        Per-output validation scores: ``r`` and optionally ``ccnorm``,
        ``noise_ceiling``, ``shuffle_floor`` (shape (outputs,)).
    scores_description : str
        What the scores are of (the scores table's description); empty: the model's own
        predictions.
    seed, jackknife_index, init_index : int or None
        Training seed, jackknife fold and initialisation.
    estimation_sounds, early_stopping_sounds, validation_sounds : tuple of str
        Sounds fit on, used for early stopping, scored on.
    training_parameters : dict
        Every training parameter (JSON-compatible).
    package_versions : dict
        Package -> version at training time.
    description : str
        Free text; a default naming the role is used when empty.
    n_lags : int or None
        Input bins the model sees; default the module's ``receptive_field`` (or 1).
    architecture : dict or None
        Architecture document; default ``to_architecture(module)``.
    """

    __repr__ = summary_repr

    name: str
    role: str
    module: Any
    unit_positions: np.ndarray
    fit_log: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    scores: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    scores_description: str = ""
    seed: int | None = None
    jackknife_index: int | None = None
    init_index: int | None = None
    estimation_sounds: tuple[str, ...] = ()
    early_stopping_sounds: tuple[str, ...] = ()
    validation_sounds: tuple[str, ...] = ()
    training_parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    package_versions: dict[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""
    n_lags: int | None = None
    architecture: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.unit_positions = np.asarray(self.unit_positions, dtype=np.int64).reshape(-1)
        self.fit_log = _arrays(self.fit_log)
        self.scores = _arrays(self.scores)

    @property
    def container(self) -> str:
        """Name of the collection this model is stored in."""
        return container_of_role(self.role)

    @property
    def n_inputs(self) -> int | None:
        """Inputs per time bin: frequencies of a CNN or LN, projections of a subspace model
        (None when the architecture does not say)."""
        try:
            first = (self.architecture or {}).get("core", [])[0].get("params", {})
            width = first.get("n_in", first.get("channels"))
        except (AttributeError, IndexError, TypeError):
            return None
        return int(width) if isinstance(width, int) else None

    def predict(self, stim: np.ndarray) -> np.ndarray:
        """Model output for ``stim`` [time, inputs] or [batch, time, inputs] (same batching).

        The module is run in evaluation mode without gradients; output float32.

        Raises
        ------
        InvalidDataError
            ``stim`` of another shape, another number of inputs than the model takes
            (:attr:`n_inputs`), or holding NaN or infinite values.
        """
        import torch

        from ..arrays import real_array

        x = real_array(stim, f"model {self.name!r}: input").astype(np.float32)
        width = self.n_inputs
        what = "projections onto its subspace" if self.role == "subspace_nonlinearity" else "frequencies"
        if x.ndim not in (2, 3) or (width is not None and x.shape[-1] != width):
            hint = " (transposed?)" if x.ndim in (2, 3) and x.shape[-2] == width else ""
            raise InvalidDataError(
                f"model {self.name!r} takes [time, inputs] or [batch, time, inputs] with "
                f"{width if width is not None else 'its'} inputs ({what}) per bin; got shape {x.shape}{hint}")
        if not np.all(np.isfinite(x)):
            raise InvalidDataError(f"model {self.name!r}: the input holds NaN or infinite values")
        single = x.ndim == 2
        self.module.eval()
        with torch.no_grad():
            y = self.module(torch.as_tensor(x[None] if single else x)).numpy()
        return y[0] if single else y


@dataclasses.dataclass
class UnitSubspace:
    """Tuning subspace of one unit (METHOD.md section 4).

    Parameters
    ----------
    unit_position : int
        Position of the unit in ``site.units``.
    filters : ndarray (k, F, D)
        The subspace filters (first k principal components of the dSTRFs).
    explained_variance, noise_floor_variance : ndarray (n_components,)
        Variance fraction of every computed component, and of the shuffled data, as shares
        of the dSTRFs' whole variance (so they sum to less than 1).
    threshold : float
        Cumulative-variance threshold that chose k: k (and ``k90``, ``k95``) is the
        smallest count whose cumulative share of ``explained_variance.sum()`` (the
        computed components, not the whole variance) reaches it.
    mean_dstrf : ndarray (F, D)
        Mean dSTRF of the unit.
    n_samples, n_outliers : int
        dSTRF samples used and dropped as outliers.
    k90, k95 : int
        Components reaching 90% and 95% of the variance.
    k_significant : int or None
        Leading components above the noise floor; None: counted from
        ``explained_variance`` and ``noise_floor_variance`` when written.
    reliability : float
        Stability of the subspace across the ensemble's members or the halves of the
        samples, in [0, 1]; NaN when not measured (files of extension version 0.1.0).
    reliability_rule : str
        ``"members"``, ``"split_halves"`` or ``"unknown"``
        (:mod:`~ndx_encoding_subspace.extension.reliability`).
    dimension_confidence : ndarray (n_components,) or None
        Confidence of every component, in [0, 1]; None (written and read back as NaN)
        when not measured.
    """

    __repr__ = summary_repr

    unit_position: int
    filters: np.ndarray
    explained_variance: np.ndarray
    noise_floor_variance: np.ndarray
    threshold: float
    mean_dstrf: np.ndarray
    n_samples: int = 0
    n_outliers: int = 0
    k90: int = 0
    k95: int = 0
    k_significant: int | None = None
    reliability: float = float("nan")
    reliability_rule: str = RULE_UNKNOWN
    dimension_confidence: np.ndarray | None = None

    @property
    def k(self) -> int:
        """Subspace dimension (number of filters)."""
        return int(len(self.filters))

    def significant_count(self) -> int:
        """``k_significant``, or the count from the variances and the noise floor."""
        if self.k_significant is not None:
            return int(self.k_significant)
        return count_significant(self.explained_variance, self.noise_floor_variance)

    def concentration(self, n: int = 2) -> float:
        """Share of the unit's dSTRF variance in its first ``n`` components (from
        ``explained_variance``; NaN when none was computed).

        Low where the CNN's gradients for the unit spread over many directions;
        docs/ground-truth.md sets it, like the reliability, against recovery of a
        simulated site's ground truth.
        """
        ev = np.asarray(self.explained_variance, dtype=np.float64)
        return float(ev[:n].sum()) if ev.size else float("nan")

    def confidence(self) -> np.ndarray:
        """``dimension_confidence``, or NaN for every component when not measured."""
        if self.dimension_confidence is None:
            return np.full(np.asarray(self.explained_variance).size, np.nan)
        return np.asarray(self.dimension_confidence, dtype=np.float64)


@dataclasses.dataclass
class UnitNonlinearity:
    """Response of one unit within its subspace (METHOD.md section 5).

    Parameters
    ----------
    unit_position : int
        Position of the unit in ``site.units``.
    model_name : str or None
        Name of the unit's ``subspace_nonlinearity`` model, if one was fit.
    dimension_sign, asymmetry_index : ndarray (k,)
        Sign flip and asymmetry index of each dimension. The tuning curves and SSRF maps
        are over ``dimension_sign * project(stimulus, filters)`` (each axis oriented so that
        the response rises along it); the unit's subspace model takes the projections
        without the signs.
    tuning : dict of str -> ndarray
        1-D tuning curves: ``bin_edges`` (k, n+1), ``mean``, ``sem``, ``count`` (k, n).
    ssrf : dict of str -> ndarray
        2-D maps: ``bin_edges`` (k, m+1), ``pairs`` (p, 2), ``mean``, ``count`` (p, m, m).
    """

    __repr__ = summary_repr

    unit_position: int
    model_name: str | None
    dimension_sign: np.ndarray
    asymmetry_index: np.ndarray
    tuning: dict[str, np.ndarray]
    ssrf: dict[str, np.ndarray]

    def ssrf_map(self, dim_a: int, dim_b: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and count maps (m, m) of dimensions ``dim_a`` (rows) and ``dim_b``."""
        for i, (a, b) in enumerate(np.asarray(self.ssrf["pairs"]).reshape(-1, 2)):
            if (a, b) == (dim_a, dim_b):
                return self.ssrf["mean"][i], self.ssrf["count"][i]
            if (a, b) == (dim_b, dim_a):
                return self.ssrf["mean"][i].T, self.ssrf["count"][i].T
        raise KeyError(f"unit {self.unit_position}: no SSRF map of dimensions "
                       f"{dim_a} and {dim_b}")


@dataclasses.dataclass
class SiteAnalysis:
    """Shared site subspace, tiling and subspace similarity (METHOD.md section 6).

    Per-unit arrays follow ``unit_positions`` (default: every unit of the site).
    """

    __repr__ = summary_repr

    filters: np.ndarray
    explained_variance: np.ndarray
    response_region_size: np.ndarray | None = None
    region_overlap: np.ndarray | None = None
    subspace_similarity: np.ndarray | None = None
    response_regions: np.ndarray | None = None
    tiling_bin_edges: np.ndarray | None = None
    similarity_measure: str | None = None
    mean_dstrf: np.ndarray | None = None
    unit_positions: np.ndarray | None = None
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = "Shared site subspace, response-region tiling and subspace similarity."


@dataclasses.dataclass
class SiteResults:
    """Everything computed for one site, ready for :func:`write_results`.

    Parameters
    ----------
    site : SiteData
        The analysed site (its units, sounds, spectrograms, split and ``source``).
    spectrogram_parameters : dict
        How the spectrograms were computed (``SpectrogramParams.to_dict()``); default
        ``site.source["spectrogram"]``.
    models : list of ModelResult
    subspaces : list of UnitSubspace
    nonlinearities : list of UnitNonlinearity
    site_subspace : SiteAnalysis or None
    provenance : dict
        Input identity (DANDI asset id and version or URL, or path and sha256), every
        parameter, seeds, package versions; JSON-compatible.
    subspace_parameters, ssrf_parameters : dict
        Parameters of the subspace and SSRF steps, stored with their tables.
    ssrf_min_count : int
        Bins with fewer samples are masked in the SSRF and tuning means.
    """

    __repr__ = summary_repr

    site: SiteData
    spectrogram_parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    models: list[ModelResult] = dataclasses.field(default_factory=list)
    subspaces: list[UnitSubspace] = dataclasses.field(default_factory=list)
    nonlinearities: list[UnitNonlinearity] = dataclasses.field(default_factory=list)
    site_subspace: SiteAnalysis | None = None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    subspace_parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    ssrf_parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    ssrf_min_count: int = 2

    def models_of(self, container: str) -> list[ModelResult]:
        """Models stored in collection ``container`` (e.g. ``"population_cnn"``)."""
        return [m for m in self.models if m.container == container]
