"""Trained encoding models stored as data: tensors, training log, scores, collections."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from hdmf.build import ObjectMapper
from hdmf.common import DynamicTable, DynamicTableRegion
from hdmf.utils import docval, get_docval, popargs_to_dict
from pynwb import register_class, register_map
from pynwb.core import MultiContainerInterface, NWBData
from pynwb.io.core import NWBContainerMapper, NWBDataMap

from ._namespace import _KW, _TABLE_ARGS, NAMESPACE
from .columns import checked_row
from .spectrogram import SpectrogramSeries


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
        {"name": "member", "description": "Member of an averaged model, from 0.",
         "required": False},
    )

    @docval({"name": "name", "type": str, "doc": "Name of the table.", "default": "training_log"},
            {"name": "description", "type": str, "doc": "Description.",
             "default": "Loss per epoch during training."},
            *get_docval(DynamicTable.__init__, *_TABLE_ARGS), **_KW)
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def get_loss_curves(self) -> dict[str, np.ndarray]:
        """Every column as an array: epoch, stage, training_loss (, early_stopping_loss, member)."""
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
        output = checked_row(output, len(self), f"scores table {self.name!r}")
        return {name: float(self[name].data[output]) for name in self.colnames}


#: The names of the validation scores a model may hold (the columns of ModelScoresTable)
SCORE_NAMES = tuple(column["name"] for column in ModelScoresTable.__columns__)


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
         "doc": "What the model is: 'cnn', 'ln', 'subspace_nonlinearity', ..."},
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
