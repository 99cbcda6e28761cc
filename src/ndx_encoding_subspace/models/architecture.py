"""Architecture documents: a model described by a fixed vocabulary of layer kinds.

A document is plain JSON (no code, no pickles)::

    {"format": "ndx-encoding-subspace/architecture", "version": 1,
     "core": [{"kind": "gaussian_mix", "params": {"n_in": 32, "n_out": 90, "min_width": 0.05}},
              ...],
     "output": {"kind": "double_exponential", "params": {"n_units": 50}}}

An optional ``"members": M`` describes a :class:`~.average.MemberAverage` of ``M``
models of that architecture (parameters named ``members.<i>.<name>``).
:func:`from_architecture` builds the module from the document alone; weights are loaded
with :func:`load_state` from plain arrays (e.g. read back from NWB).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ResultsError
from .average import MemberAverage
from .cnn import StackedModel
from .layers import (
    Dense,
    DepthwiseCausalFIR,
    DoubleExponential,
    GaussianChannelMix,
    ReLU,
    ShiftedReLU,
)
from .params import CNNParams
from .subspace_net import UnitDense, UnitSplit

__all__ = [
    "FORMAT",
    "VERSION",
    "LAYER_KINDS",
    "to_architecture",
    "from_architecture",
    "validate_architecture",
    "load_state",
    "state_arrays",
]

FORMAT = "ndx-encoding-subspace/architecture"
VERSION = 1

# kind -> (class, {parameter: (type, required)})
LAYER_KINDS: dict[str, tuple[type[nn.Module], dict[str, tuple[type, bool]]]] = {
    "gaussian_mix": (GaussianChannelMix, {"n_in": (int, True), "n_out": (int, True),
                                          "min_width": (float, False)}),
    "fir": (DepthwiseCausalFIR, {"channels": (int, True), "taps": (int, True)}),
    "shifted_relu": (ShiftedReLU, {"channels": (int, True)}),
    "relu": (ReLU, {}),
    "dense": (Dense, {"n_in": (int, True), "n_out": (int, True), "bias": (bool, False)}),
    "double_exponential": (DoubleExponential, {"n_units": (int, True)}),
    "unit_split": (UnitSplit, {"dims": (list, True)}),
    "unit_dense": (UnitDense, {"n_units": (int, True), "n_in": (int, True), "n_out": (int, True),
                               "squeeze": (bool, False)}),
}
_KIND_OF = {cls: kind for kind, (cls, _) in LAYER_KINDS.items()}


def _layer_params(layer: nn.Module) -> dict[str, Any]:
    if isinstance(layer, GaussianChannelMix):
        return {"n_in": layer.n_in, "n_out": layer.n_out, "min_width": layer.min_width}
    if isinstance(layer, DepthwiseCausalFIR):
        return {"channels": layer.channels, "taps": layer.taps}
    if isinstance(layer, ShiftedReLU):
        return {"channels": layer.channels}
    if isinstance(layer, Dense):
        return {"n_in": layer.n_in, "n_out": layer.n_out, "bias": layer.has_bias}
    if isinstance(layer, DoubleExponential):
        return {"n_units": layer.n_units}
    if isinstance(layer, UnitSplit):
        return {"dims": list(layer.dims)}
    if isinstance(layer, UnitDense):
        return {"n_units": layer.n_units, "n_in": layer.n_in, "n_out": layer.n_out, "squeeze": layer.squeeze}
    return {}


def _describe(layer: nn.Module) -> dict[str, Any]:
    kind = _KIND_OF.get(type(layer))
    if kind is None:
        raise ConfigError(
            f"layer {type(layer).__name__} has no architecture kind; known kinds: "
            f"{', '.join(LAYER_KINDS)}"
        )
    return {"kind": kind, "params": _layer_params(layer)}


def to_architecture(model: nn.Module) -> dict[str, Any]:
    """The JSON-able architecture document of one of our models.

    Raises
    ------
    ConfigError
        When the model is not a stack of known layer kinds (a user's own module), or a
        :class:`MemberAverage` whose members differ in architecture.
    """
    if isinstance(model, MemberAverage):
        docs = [to_architecture(m) for m in model.members]
        if any(d != docs[0] for d in docs[1:]):
            raise ConfigError("MemberAverage members differ in architecture; only identical "
                              "architectures can be stored as one model")
        return {**docs[0], "members": len(docs)}
    if not isinstance(model, StackedModel):
        raise ConfigError(
            f"model {type(model).__name__} cannot be described as an architecture document "
            "(only stacks of the known layer kinds can)"
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "core": [_describe(m) for m in model.core_layers],
        "output": _describe(model.output),
    }


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_layer(entry: Any, where: str) -> None:
    if not isinstance(entry, Mapping) or set(entry) != {"kind", "params"}:
        raise ResultsError(f"architecture {where}: expected {{'kind', 'params'}}, got {entry!r}")
    kind, params = entry["kind"], entry["params"]
    if kind not in LAYER_KINDS:
        raise ResultsError(
            f"architecture {where}: unknown layer kind {kind!r}; known: {', '.join(LAYER_KINDS)}"
        )
    if not isinstance(params, Mapping):
        raise ResultsError(f"architecture {where}: params must be a mapping, got {params!r}")
    spec = LAYER_KINDS[kind][1]
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ResultsError(f"architecture {where} ({kind}): unknown parameter(s) {unknown}")
    missing = sorted(k for k, (_, req) in spec.items() if req and k not in params)
    if missing:
        raise ResultsError(f"architecture {where} ({kind}): missing parameter(s) {missing}")
    for key, value in params.items():
        typ = spec[key][0]
        ok = (isinstance(value, bool) if typ is bool
              else isinstance(value, int | float) and not isinstance(value, bool) if typ is float
              else isinstance(value, list) and bool(value) and all(_positive_int(v) for v in value)
              if typ is list else _positive_int(value))
        if not ok:
            raise ResultsError(
                f"architecture {where} ({kind}): parameter {key} must be {typ.__name__}"
                f"{' >= 1' if typ is int else ''}, got {value!r}"
            )


def validate_architecture(doc: Mapping[str, Any]) -> None:
    """Check a document against the vocabulary.

    Raises
    ------
    ResultsError
        Wrong format or version, unknown layer kinds, unknown or missing parameters.
    """
    if not isinstance(doc, Mapping):
        raise ResultsError(f"architecture document must be a mapping, got {type(doc).__name__}")
    expected = {"format", "version", "core", "output"}
    if set(doc) - {"members"} != expected:
        raise ResultsError(
            f"architecture document keys {sorted(doc)} differ from {sorted(expected)} "
            "(and optionally 'members')"
        )
    if "members" in doc and not _positive_int(doc["members"]):
        raise ResultsError(
            f"architecture document: 'members' must be an integer >= 1, got {doc['members']!r}")
    if doc["format"] != FORMAT or doc["version"] != VERSION:
        raise ResultsError(
            f"architecture document format {doc['format']!r} version {doc['version']!r} is not "
            f"{FORMAT!r} version {VERSION}"
        )
    if not isinstance(doc["core"], list) or not doc["core"]:
        raise ResultsError("architecture document: 'core' must be a non-empty list of layers")
    for i, entry in enumerate(doc["core"]):
        _check_layer(entry, f"core[{i}]")
    _check_layer(doc["output"], "output")
    if doc["output"]["kind"] != "double_exponential":
        raise ResultsError(
            f"architecture output must be double_exponential, got {doc['output']['kind']!r}"
        )


def from_architecture(doc: Mapping[str, Any]) -> StackedModel | MemberAverage:
    """Build an (untrained) module from a validated document alone."""
    validate_architecture(doc)
    doc = copy.deepcopy(dict(doc))

    def build() -> StackedModel:
        layers = [LAYER_KINDS[e["kind"]][0](**_with_defaults(e)) for e in doc["core"]]
        return StackedModel(layers, doc["output"]["params"]["n_units"])

    if "members" in doc:
        return MemberAverage([build() for _ in range(doc["members"])])
    return build()


def _with_defaults(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A layer's parameters, an optional one left out taking the models' default."""
    params = dict(entry["params"])
    if entry["kind"] == "gaussian_mix":
        params.setdefault("min_width", CNNParams().min_width)
    return params


def state_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's parameters and persistent buffers as float32 numpy arrays (copies)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_state(model: nn.Module, arrays: Mapping[str, np.ndarray]) -> nn.Module:
    """Load plain arrays into ``model`` strictly (same names, same shapes).

    Raises
    ------
    ResultsError
        Names missing or unexpected, or a shape that differs.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(arrays))
    extra = sorted(set(arrays) - set(own))
    if missing or extra:
        raise ResultsError(f"model state: missing arrays {missing}, unexpected arrays {extra}")
    tensors = {}
    for key, ref in own.items():
        value = np.asarray(arrays[key])
        if tuple(value.shape) != tuple(ref.shape):
            raise ResultsError(
                f"model state: array {key} has shape {value.shape}, expected {tuple(ref.shape)}"
            )
        if not np.all(np.isfinite(value)):
            raise ResultsError(f"model state: array {key} holds NaN or inf")
        tensors[key] = torch.as_tensor(value, dtype=ref.dtype)
    model.load_state_dict(tensors, strict=True)
    return model
