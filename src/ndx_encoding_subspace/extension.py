"""Python classes of the ndx-encoding-subspace neurodata types.

Every class is written by hand rather than generated with ``get_class`` for one of two
reasons: generated constructors accept positional arguments (ours are keyword-only), and
each type has accessors that return numpy arrays for one unit. Only pynwb, hdmf and numpy
are imported here, so that reading a results file stays light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hdmf.build import ObjectMapper
from hdmf.common import DynamicTable, DynamicTableRegion, VectorData, VectorIndex
from hdmf.utils import AllowPositional, docval, get_docval, popargs_to_dict
from pynwb import register_class, register_map
from pynwb.base import TimeSeries
from pynwb.core import MultiContainerInterface, NWBData, NWBDataInterface
from pynwb.io.core import NWBContainerMapper, NWBDataMap

NAMESPACE = "ndx-encoding-subspace"

__all__ = [
    "SpectrogramSeries",
    "ModelParameter",
    "TrainingLog",
    "ModelScoresTable",
    "EncodingModel",
    "EncodingModels",
    "TuningSubspaceTable",
    "SubspaceNonlinearityTable",
    "SiteSubspace",
    "ragged_column",
]

_KW = {"allow_positional": AllowPositional.ERROR}
_TABLE_ARGS = ("id", "columns", "colnames", "target_tables")


def ragged_column(
    name: str, description: str, arrays: Sequence[Any], dtype: Any,
    element_shape: tuple[int, ...] | None = None,
) -> tuple[VectorIndex, VectorData]:
    """Build a ragged column from one array per row.

    Parameters
    ----------
    name, description : str
        Column name and description.
    arrays : sequence of array-like
        Row ``i`` holds ``arrays[i]``; their first axes are concatenated, the other axes
        must agree.
    dtype : numpy dtype
        Stored type.
    element_shape : tuple of int, optional
        Shape of one element (the axes after the first); taken from the first non-empty
        array when omitted. Empty arrays are reshaped to it.

    Returns
    -------
    (VectorIndex, VectorData)
        The index and its data column, named ``name + '_index'`` and ``name``, in the
        order DynamicTable keeps them.
    """
    parts = [np.asarray(a, dtype=dtype) for a in arrays]
    if element_shape is None:
        element_shape = next((p.shape[1:] for p in parts if p.size), ())
    parts = [p.reshape((0, *element_shape)) if p.size == 0 else p for p in parts]
    ends = np.cumsum([len(p) for p in parts], dtype=np.uint64)
    data = (np.concatenate(parts, axis=0) if parts
            else np.zeros((0, *element_shape), dtype=dtype))
    column = VectorData(name=name, description=description, data=data)
    return VectorIndex(name=f"{name}_index", data=ends, target=column), column


def _row_slice(index: VectorIndex, row: int) -> slice:
    ends = index.data
    n_rows = len(ends)
    if not -n_rows <= row < n_rows:
        raise IndexError(f"row {row} out of range for {index.target.name!r} ({n_rows} rows)")
    row %= n_rows
    start = int(ends[row - 1]) if row > 0 else 0
    return slice(start, int(ends[row]))


def _describe(cls: type, column: str) -> str:
    return next(c["description"] for c in cls.__columns__ if c["name"] == column)


class _UnitRowsMixin:
    """Accessors shared by tables with a ``units`` region column."""

    def _ragged(self, column: str, row: int) -> np.ndarray:
        index = self[f"{column}_index"]
        return np.asarray(index.target.data[_row_slice(index, row)])

    def _fixed(self, column: str, row: int) -> np.ndarray:
        return np.asarray(self[column].data[row])

    def unit_rows(self) -> np.ndarray:
        """Row of each table row's unit in the Units table, shape (rows,)."""
        return np.asarray(self["units"].data[:], dtype=np.int64)

    def row_of_unit(self, units_row: int) -> int:
        """Table row of the unit at row ``units_row`` of the Units table."""
        hits = np.flatnonzero(self.unit_rows() == units_row)
        if hits.size == 0:
            raise KeyError(f"Units row {units_row} has no row in table {self.name!r}")
        return int(hits[0])


@register_class("SpectrogramSeries", NAMESPACE)
class SpectrogramSeries(TimeSeries):
    """Spectrogram of a sound: data [time, frequency] with its frequencies and recipe."""

    _OWN = ("frequencies", "filterbank", "n_channels", "min_frequency", "max_frequency",
            "bin_size", "window_size", "compression", "scaling")
    __nwbfields__ = _OWN

    @docval(
        *get_docval(TimeSeries.__init__, "name", "data", "unit"),
        {"name": "frequencies", "type": "array_data", "doc": "Center frequency of each channel, Hz.",
         "shape": (None,)},
        {"name": "filterbank", "type": str, "doc": "Filterbank used, e.g. 'gammatone'."},
        {"name": "n_channels", "type": int, "doc": "Number of frequency channels."},
        {"name": "min_frequency", "type": float, "doc": "Lowest center frequency, Hz."},
        {"name": "max_frequency", "type": float, "doc": "Highest center frequency, Hz."},
        {"name": "bin_size", "type": float, "doc": "Time bin (hop), seconds."},
        {"name": "scaling", "type": str, "doc": "Scaling steps after compression, in order."},
        {"name": "window_size", "type": float, "doc": "Window length, seconds.", "default": None},
        {"name": "compression", "type": float, "doc": "Magnitude exponent.", "default": None},
        *get_docval(TimeSeries.__init__, "resolution", "conversion", "offset", "timestamps",
                    "starting_time", "rate", "comments", "description", "control",
                    "control_description", "continuity"),
        **_KW,
    )
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(self._OWN, kwargs)
        super().__init__(**kwargs)
        for key, value in own.items():
            setattr(self, key, value)


@register_class("ModelParameter", NAMESPACE)
class ModelParameter(NWBData):
    """One tensor of a model's state; its name is the tensor's key (e.g. 'layers.0.weight')."""

    @docval({"name": "name", "type": str, "doc": "Key of the tensor in the model's state."},
            {"name": "data", "type": ("array_data", "data", float, int), "doc": "Tensor values."},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        if "/" in kwargs["name"]:
            raise ValueError(f"model parameter name {kwargs['name']!r} contains '/'")
        super().__init__(**kwargs)


@register_map(ModelParameter)
class ModelParameterMap(NWBDataMap):
    """Reads every tensor with the shape it was stored with.

    hdmf reads a dataset of shape (1,) as a scalar when its spec declares no shape (it
    replaces the builder's data by its first element), and ModelParameter declares none so
    that tensors of any rank, scalars included, fit. The file holds the right shape, so this
    mapper gives such a tensor, and its builder (reused by ``export``), the stored dataset
    back.
    """

    @docval(*get_docval(ObjectMapper.construct))
    def construct(self, **kwargs: Any) -> ModelParameter:
        """Build the ModelParameter of ``builder`` without dropping a length-1 axis."""
        builder = kwargs["builder"]
        stored = builder.data
        container = super().construct(**kwargs)
        if getattr(stored, "shape", None) == (1,) and np.ndim(container.data) == 0:
            builder["data"] = stored
            container.transform(lambda _: stored)
        return container


@register_class("TrainingLog", NAMESPACE)
class TrainingLog(DynamicTable):
    """Loss per epoch of every training stage (columns epoch, stage, training_loss, ...)."""

    __columns__ = (
        {"name": "epoch", "description": "Epoch number within its stage, from 0.",
         "required": True},
        {"name": "stage", "description": "Training stage, from 1.", "required": True},
        {"name": "training_loss", "description": "Loss on the fitting data.", "required": True},
        {"name": "early_stopping_loss", "description": "Loss on the early-stopping data.",
         "required": False},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.", "default": "training_log"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Loss per epoch during training."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS), **_KW)
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def get_loss_curves(self) -> dict[str, np.ndarray]:
        """Every column as an array: epoch, stage, training_loss (, early_stopping_loss)."""
        return {name: np.asarray(self[name].data[:]) for name in self.colnames}


@register_class("ModelScoresTable", NAMESPACE)
class ModelScoresTable(DynamicTable):
    """Validation scores, one row per model output (r, ccnorm, noise_ceiling, shuffle_floor)."""

    __columns__ = (
        {"name": "r", "description": "Pearson r of prediction and validation PSTH.",
         "required": True},
        {"name": "ccnorm", "description": "Noise-corrected correlation CCnorm.",
         "required": False},
        {"name": "noise_ceiling", "description": "Highest correlation the noise allows.",
         "required": False},
        {"name": "shuffle_floor", "description": "95th percentile of shuffled correlations.",
         "required": False},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.", "default": "scores"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Prediction scores on the validation data, one row per output."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS), **_KW)
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def get_unit_scores(self, output: int) -> dict[str, float]:
        """Every score of one output (row) as a float."""
        return {name: float(self[name].data[output]) for name in self.colnames}


@register_class("EncodingModel", NAMESPACE)
class EncodingModel(MultiContainerInterface):
    """A trained model stored as data: architecture JSON, tensors, input, units, record."""

    __clsconf__ = {"attr": "model_parameters", "add": "add_model_parameter",
                   "type": ModelParameter, "get": "get_model_parameter"}
    _OWN = ("description", "role", "bin_size", "n_lags", "seed", "jackknife_index",
            "init_index", "architecture", "training_parameters", "package_versions",
            "estimation_sounds", "early_stopping_sounds", "validation_sounds", "spectrogram",
            "units", "training_log", "scores")
    __nwbfields__ = (
        *_OWN[:14],
        {"name": "units", "child": True, "required_name": "units"},
        {"name": "training_log", "child": True, "required_name": "training_log"},
        {"name": "scores", "child": True, "required_name": "scores"},
    )

    @docval(
        {"name": "name", "type": str, "doc": "Name of the model, unique in its collection."},
        {"name": "description", "type": str, "doc": "Description of the model."},
        {"name": "role", "type": str,
         "doc": "What the model is: 'population_cnn', 'ln', 'subspace_nonlinearity', ..."},
        {"name": "architecture", "type": str, "doc": "JSON architecture document."},
        {"name": "bin_size", "type": float, "doc": "Time bin of input and output, seconds."},
        {"name": "n_lags", "type": int, "doc": "Number of input time bins the model sees."},
        {"name": "units", "type": DynamicTableRegion,
         "doc": "Units table rows the model predicts, in output order (named 'units')."},
        {"name": "model_parameters", "type": (dict, list, tuple),
         "doc": "Tensors of the model's state: a mapping key -> array, or ModelParameter "
                "objects.", "default": None},
        {"name": "spectrogram", "type": SpectrogramSeries,
         "doc": "Spectrogram computed as the model expects its input.", "default": None},
        {"name": "training_log", "type": TrainingLog, "doc": "Loss per epoch.", "default": None},
        {"name": "scores", "type": ModelScoresTable, "doc": "Scores per output.",
         "default": None},
        {"name": "training_parameters", "type": str, "doc": "JSON training parameters.",
         "default": None},
        {"name": "package_versions", "type": str, "doc": "JSON package -> version.",
         "default": None},
        {"name": "estimation_sounds", "type": "array_data", "doc": "Sounds fit on.",
         "default": None},
        {"name": "early_stopping_sounds", "type": "array_data",
         "doc": "Sounds used for early stopping.", "default": None},
        {"name": "validation_sounds", "type": "array_data", "doc": "Sounds scored on.",
         "default": None},
        {"name": "seed", "type": int, "doc": "Training seed.", "default": None},
        {"name": "jackknife_index", "type": int, "doc": "Jackknife fold.", "default": None},
        {"name": "init_index", "type": int, "doc": "Random initialisation index.",
         "default": None},
        **_KW,
    )
    def __init__(self, **kwargs: Any) -> None:
        params = kwargs.pop("model_parameters")
        fields = popargs_to_dict(self._OWN, kwargs)
        super().__init__(**kwargs)
        for key, value in fields.items():
            if value is not None and key in ("seed", "jackknife_index", "init_index",
                                             "n_lags"):
                value = int(value)
            setattr(self, key, value)
        if isinstance(params, Mapping):
            params = [ModelParameter(name=str(k), data=np.asarray(v)) for k, v in params.items()]
        if params:
            self.add_model_parameter(list(params))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every tensor of the model's state as a numpy array, keyed by name (sorted).

        Each array has the shape and dtype it was written with, one-element shapes such as
        (1,) included (see :class:`ModelParameterMap`).
        """
        return {key: np.asarray(self.model_parameters[key].data[()])
                for key in sorted(self.model_parameters)}

    def get_architecture(self) -> dict[str, Any]:
        """The architecture document, parsed (not validated here)."""
        return json.loads(self.architecture)

    def unit_rows(self) -> np.ndarray:
        """Units table row of each output, shape (outputs,)."""
        return np.asarray(self.units.data[:], dtype=np.int64)


@register_map(EncodingModel)
class EncodingModelMap(NWBContainerMapper):
    """Maps the tensors inside the untyped 'parameters' group to ``model_parameters``."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        tensors = spec.get_group("parameters").get_data_type("ModelParameter")
        self.map_spec("model_parameters", tensors)


@register_class("EncodingModels", NAMESPACE)
class EncodingModels(MultiContainerInterface):
    """A collection of EncodingModel objects (an ensemble, a baseline, per-unit models)."""

    __clsconf__ = {"attr": "models", "add": "add_model", "type": EncodingModel,
                   "get": "get_model"}
    __nwbfields__ = ("description",)

    @docval({"name": "name", "type": str, "doc": "Name of the collection."},
            {"name": "description", "type": str, "doc": "What the collection holds."},
            {"name": "models", "type": (list, tuple, dict, EncodingModel),
             "doc": "The models.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        description = kwargs.pop("description")
        models = kwargs.pop("models")
        super().__init__(**kwargs)
        self.description = description
        if models:
            self.add_model(models)


@register_map(EncodingModels)
class EncodingModelsMap(NWBContainerMapper):
    """Maps the EncodingModel children to ``models``."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.map_spec("models", spec.get_data_type("EncodingModel"))


@register_class("TuningSubspaceTable", NAMESPACE)
class TuningSubspaceTable(_UnitRowsMixin, DynamicTable):
    """Per-unit tuning subspace: ragged filters [k_i, F, D], variances, k, mean dSTRF."""

    __fields__ = ("parameters", "source_models")
    __columns__ = (
        {"name": "units", "description": "The unit of each row.", "required": True,
         "table": True},
        {"name": "filters", "description": "Subspace filters, frequency x lag.",
         "required": True, "index": True},
        {"name": "explained_variance", "description": "Variance fraction of every component.",
         "required": True, "index": True},
        {"name": "noise_floor_variance", "description": "Shuffled variance fractions.",
         "required": True, "index": True},
        {"name": "k", "description": "Subspace dimension.", "required": True},
        {"name": "threshold", "description": "Threshold that chose k.", "required": True},
        {"name": "mean_dstrf", "description": "Mean dSTRF, frequency x lag.", "required": True},
        {"name": "n_samples", "description": "dSTRF samples used.", "required": False},
        {"name": "n_outliers", "description": "dSTRF samples dropped.", "required": False},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.",
             "default": "tuning_subspaces"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Tuning subspace of each unit from its dynamic STRFs."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS),
            {"name": "parameters", "type": str, "doc": "JSON parameters.", "default": None},
            {"name": "source_models", "type": EncodingModels,
             "doc": "Models whose gradients gave the dSTRFs.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(("parameters", "source_models"), kwargs)
        super().__init__(**kwargs)
        for key, value in own.items():
            setattr(self, key, value)

    @classmethod
    def from_arrays(
        cls,
        *,
        units: DynamicTable,
        unit_rows: Sequence[int],
        filters: Sequence[np.ndarray],
        explained_variance: Sequence[np.ndarray],
        noise_floor_variance: Sequence[np.ndarray],
        threshold: Sequence[float],
        mean_dstrf: np.ndarray,
        n_samples: Sequence[int] | None = None,
        n_outliers: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> TuningSubspaceTable:
        """Build the table from one entry per unit.

        Parameters
        ----------
        units : DynamicTable
            The file's Units table.
        unit_rows : sequence of int
            Units table row of each unit.
        filters : sequence of ndarray (k_i, F, D)
            Subspace filters of each unit; ``k`` is taken from their count.
        explained_variance, noise_floor_variance : sequence of ndarray (n_i,)
            Per-component variance fractions of each unit and their noise floor.
        threshold : sequence of float
            Threshold that chose each unit's k.
        mean_dstrf : ndarray (units, F, D)
            Mean dSTRF of each unit.
        n_samples, n_outliers : sequence of int, optional
            dSTRF samples used and dropped per unit.
        **kwargs
            Passed to the constructor (name, description, parameters, source_models).
        """
        n = len(unit_rows)
        columns: list[VectorData] = [
            DynamicTableRegion(name="units", description="The unit of each row.",
                               data=np.asarray(unit_rows, dtype=np.int64), table=units),
        ]
        for name, arrays, dtype in (("filters", filters, np.float32),
                                    ("explained_variance", explained_variance, np.float64),
                                    ("noise_floor_variance", noise_floor_variance, np.float64)):
            columns.extend(ragged_column(name, _describe(cls, name), arrays, dtype))
        fixed = {"k": np.array([len(f) for f in filters], dtype=np.int32),
                 "threshold": np.asarray(threshold, dtype=np.float64),
                 "mean_dstrf": np.asarray(mean_dstrf, dtype=np.float32)}
        if n_samples is not None:
            fixed["n_samples"] = np.asarray(n_samples, dtype=np.int64)
        if n_outliers is not None:
            fixed["n_outliers"] = np.asarray(n_outliers, dtype=np.int64)
        for name, data in fixed.items():
            if len(data) != n:
                raise ValueError(f"{cls.__name__}: {name} has {len(data)} rows, expected {n}")
            columns.append(VectorData(name=name, description=_describe(cls, name), data=data))
        return cls(columns=columns, **kwargs)

    def get_filters(self, row: int) -> np.ndarray:
        """Filters of table row ``row``, shape (k_i, frequency, lag)."""
        return self._ragged("filters", row)

    def get_explained_variance(self, row: int) -> np.ndarray:
        """Explained-variance fraction of every component computed for ``row``."""
        return self._ragged("explained_variance", row)

    def get_noise_floor_variance(self, row: int) -> np.ndarray:
        """Noise-floor variance fraction of every component for ``row``."""
        return self._ragged("noise_floor_variance", row)

    def get_mean_dstrf(self, row: int) -> np.ndarray:
        """Mean dSTRF of ``row``, shape (frequency, lag)."""
        return self._fixed("mean_dstrf", row)


@register_class("SubspaceNonlinearityTable", NAMESPACE)
class SubspaceNonlinearityTable(_UnitRowsMixin, DynamicTable):
    """Per-unit response in the subspace: model, SSRF maps, tuning curves, asymmetry."""

    __fields__ = ("min_count", "parameters")
    __columns__ = (
        {"name": "units", "description": "The unit of each row.", "required": True,
         "table": True},
        {"name": "model", "description": "Fitted subspace nonlinearity model.",
         "required": False},
        {"name": "dimension_sign", "description": "Sign of each dimension.",
         "required": True, "index": True},
        {"name": "asymmetry_index", "description": "Asymmetry index per dimension.",
         "required": True, "index": True},
        {"name": "tuning_bin_edges", "description": "1-D bin edges per dimension.",
         "required": True, "index": True},
        {"name": "tuning_mean", "description": "1-D mean response per bin.",
         "required": True, "index": True},
        {"name": "tuning_sem", "description": "1-D standard error per bin.",
         "required": True, "index": True},
        {"name": "tuning_count", "description": "1-D samples per bin.",
         "required": True, "index": True},
        {"name": "ssrf_bin_edges", "description": "SSRF bin edges per dimension.",
         "required": True, "index": True},
        {"name": "ssrf_pairs", "description": "Dimensions of each SSRF map.",
         "required": True, "index": True},
        {"name": "ssrf_mean", "description": "SSRF mean response per bin.",
         "required": True, "index": True},
        {"name": "ssrf_count", "description": "SSRF samples per bin.",
         "required": True, "index": True},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.",
             "default": "subspace_nonlinearities"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Response of each unit within its tuning subspace."},
            {"name": "min_count", "type": int, "doc": "Bins with fewer samples are masked."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS),
            {"name": "parameters", "type": str, "doc": "JSON parameters.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(("min_count", "parameters"), kwargs)
        super().__init__(**kwargs)
        self.min_count = int(own["min_count"])
        self.parameters = own["parameters"]

    @classmethod
    def from_arrays(
        cls,
        *,
        units: DynamicTable,
        unit_rows: Sequence[int],
        min_count: int,
        dimension_sign: Sequence[np.ndarray],
        asymmetry_index: Sequence[np.ndarray],
        tuning_bin_edges: Sequence[np.ndarray],
        tuning_mean: Sequence[np.ndarray],
        tuning_sem: Sequence[np.ndarray],
        tuning_count: Sequence[np.ndarray],
        ssrf_bin_edges: Sequence[np.ndarray],
        ssrf_pairs: Sequence[np.ndarray],
        ssrf_mean: Sequence[np.ndarray],
        ssrf_count: Sequence[np.ndarray],
        models: Sequence[EncodingModel] | None = None,
        **kwargs: Any,
    ) -> SubspaceNonlinearityTable:
        """Build the table from one entry per unit (``k_i`` dimensions, ``p_i`` maps).

        Parameters
        ----------
        units : DynamicTable
            The file's Units table.
        unit_rows : sequence of int
            Units table row of each unit.
        min_count : int
            Bins with fewer samples are masked (NaN) in the means.
        dimension_sign, asymmetry_index : sequence of ndarray (k_i,)
            Per-dimension sign and asymmetry index.
        tuning_bin_edges : sequence of ndarray (k_i, n + 1)
        tuning_mean, tuning_sem, tuning_count : sequence of ndarray (k_i, n)
            1-D tuning curves along each dimension.
        ssrf_bin_edges : sequence of ndarray (k_i, m + 1)
        ssrf_pairs : sequence of ndarray (p_i, 2)
        ssrf_mean, ssrf_count : sequence of ndarray (p_i, m, m)
            2-D SSRF maps of each pair of dimensions.
        models : sequence of EncodingModel, optional
            Each unit's fitted nonlinearity, stored elsewhere in the file.
        **kwargs
            Passed to the constructor (name, description, parameters).
        """
        columns: list[VectorData] = [
            DynamicTableRegion(name="units", description="The unit of each row.",
                               data=np.asarray(unit_rows, dtype=np.int64), table=units),
        ]
        if models is not None:
            columns.append(VectorData(name="model", description=_describe(cls, "model"),
                                      data=list(models)))
        ragged = (("dimension_sign", dimension_sign, np.int8),
                  ("asymmetry_index", asymmetry_index, np.float64),
                  ("tuning_bin_edges", tuning_bin_edges, np.float64),
                  ("tuning_mean", tuning_mean, np.float64),
                  ("tuning_sem", tuning_sem, np.float64),
                  ("tuning_count", tuning_count, np.int64),
                  ("ssrf_bin_edges", ssrf_bin_edges, np.float64),
                  ("ssrf_pairs", ssrf_pairs, np.int32),
                  ("ssrf_mean", ssrf_mean, np.float64),
                  ("ssrf_count", ssrf_count, np.int64))
        n_bins = next((np.shape(e)[1] - 1 for e in ssrf_bin_edges if np.size(e)), 0)
        shapes = {"ssrf_pairs": (2,), "ssrf_mean": (n_bins, n_bins),
                  "ssrf_count": (n_bins, n_bins)}
        for name, arrays, dtype in ragged:
            if len(arrays) != len(unit_rows):
                raise ValueError(f"{cls.__name__}: {name} has {len(arrays)} rows, "
                                 f"expected {len(unit_rows)}")
            columns.extend(ragged_column(name, _describe(cls, name), arrays, dtype,
                                         shapes.get(name)))
        return cls(columns=columns, min_count=min_count, **kwargs)

    def get_model(self, row: int) -> EncodingModel | None:
        """The subspace nonlinearity model of ``row``, or None without a model column."""
        if "model" not in self.colnames:
            return None
        return self["model"][row]

    def get_dimension_sign(self, row: int) -> np.ndarray:
        """Sign (+1/-1) of each subspace dimension, shape (k_i,)."""
        return self._ragged("dimension_sign", row)

    def get_asymmetry_index(self, row: int) -> np.ndarray:
        """Asymmetry index of each dimension, shape (k_i,)."""
        return self._ragged("asymmetry_index", row)

    def get_tuning_curves(self, row: int) -> dict[str, np.ndarray]:
        """1-D tuning curves: edges (k_i, n+1), mean, sem and count (k_i, n)."""
        return {key: self._ragged(f"tuning_{key}", row)
                for key in ("bin_edges", "mean", "sem", "count")}

    def get_ssrf(self, row: int) -> dict[str, np.ndarray]:
        """SSRF maps: bin_edges (k_i, m+1), pairs (p_i, 2), mean and count (p_i, m, m)."""
        return {key: self._ragged(f"ssrf_{key}", row)
                for key in ("bin_edges", "pairs", "mean", "count")}


@register_class("SiteSubspace", NAMESPACE)
class SiteSubspace(NWBDataInterface):
    """Shared site subspace, tiling (region sizes, overlaps) and subspace similarity."""

    _ARRAYS = ("filters", "explained_variance", "mean_dstrf", "response_region_size",
               "region_overlap", "subspace_similarity", "response_regions", "tiling_bin_edges")
    __nwbfields__ = ("description", "similarity_measure", "parameters", *_ARRAYS,
                     {"name": "units", "child": True, "required_name": "units"})

    @docval({"name": "name", "type": str, "doc": "Name.", "default": "site_subspace"},
            {"name": "description", "type": str, "doc": "Description of the analysis."},
            {"name": "units", "type": DynamicTableRegion,
             "doc": "Units of the site, in the order of the per-unit arrays (named 'units')."},
            {"name": "filters", "type": "array_data", "doc": "Shared filters [n, F, D].",
             "shape": (None, None, None)},
            {"name": "explained_variance", "type": "array_data",
             "doc": "Variance fraction per component.", "shape": (None,)},
            {"name": "mean_dstrf", "type": "array_data", "doc": "Mean pooled dSTRF [F, D].",
             "shape": (None, None), "default": None},
            {"name": "response_region_size", "type": "array_data",
             "doc": "Response-region fraction of the volume per unit.", "shape": (None,),
             "default": None},
            {"name": "region_overlap", "type": "array_data",
             "doc": "Pairwise region overlap [units, units].", "shape": (None, None),
             "default": None},
            {"name": "subspace_similarity", "type": "array_data",
             "doc": "Pairwise subspace similarity [units, units].", "shape": (None, None),
             "default": None},
            {"name": "response_regions", "type": "array_data",
             "doc": "Region of each unit on the grid [units, x, y, z].",
             "shape": (None, None, None, None), "default": None},
            {"name": "tiling_bin_edges", "type": "array_data",
             "doc": "Grid edges per dimension.", "shape": (None, None), "default": None},
            {"name": "similarity_measure", "type": str, "doc": "How similarity was computed.",
             "default": None},
            {"name": "parameters", "type": str, "doc": "JSON parameters.", "default": None},
            **_KW)
    def __init__(self, **kwargs: Any) -> None:
        own = popargs_to_dict(("description", "units", "similarity_measure", "parameters",
                               *self._ARRAYS), kwargs)
        super().__init__(**kwargs)
        for key, value in own.items():
            setattr(self, key, value)

    def unit_rows(self) -> np.ndarray:
        """Units table row of each unit of the site, shape (units,)."""
        return np.asarray(self.units.data[:], dtype=np.int64)

    def _array(self, field: str, row: int | None = None) -> np.ndarray:
        value = getattr(self, field)
        if value is None:
            raise AttributeError(f"site subspace {self.name!r} has no {field!r}")
        return np.asarray(value[:] if row is None else value[row])

    def get_filters(self) -> np.ndarray:
        """Shared site filters, shape (n, frequency, lag)."""
        return self._array("filters")

    def get_unit_overlap(self, unit: int) -> np.ndarray:
        """Overlap of unit ``unit`` (position in ``units``) with every unit, shape (units,)."""
        return self._array("region_overlap", unit)

    def get_unit_similarity(self, unit: int) -> np.ndarray:
        """Subspace similarity of unit ``unit`` with every unit, shape (units,)."""
        return self._array("subspace_similarity", unit)

    def get_response_region(self, unit: int) -> np.ndarray:
        """Boolean response region of unit ``unit`` on the tiling grid."""
        return self._array("response_regions", unit)
