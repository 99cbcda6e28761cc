"""Architecture documents: a model described by a fixed vocabulary of layer kinds.

A document is plain JSON (no code, no pickles)::

    {"format": "ndx-encoding-subspace/architecture", "version": 1,
     "core": [{"kind": "gaussian_mix", "params": {"n_in": 32, "n_out": 90, "min_width": 0.05}},
              ...],
     "output": {"kind": "double_exponential", "params": {"n_units": 50}}}

An optional ``"members": M`` describes a :class:`~.average.MemberAverage` of ``M``
models of that architecture (parameters named ``members.<i>.<name>``).
:func:`from_architecture` builds the module from the document alone, once the document
(and, when given, the stored arrays' shapes) passed the schema of :mod:`.schema`: nothing
is allocated for a document that declares more than the file holds. Weights are loaded
with :func:`load_state` from plain arrays (e.g. read back from NWB).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from .schema import FORMAT, LAYER_PARAMETERS, VERSION, Layout, check_document, check_stored
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

_CLASSES: dict[str, type[nn.Module]] = {
    "gaussian_mix": GaussianChannelMix,
    "fir": DepthwiseCausalFIR,
    "shifted_relu": ShiftedReLU,
    "relu": ReLU,
    "dense": Dense,
    "double_exponential": DoubleExponential,
    "unit_split": UnitSplit,
    "unit_dense": UnitDense,
}
# kind -> (class, {parameter: (type, required)}); bounds and checks in .schema
LAYER_KINDS: dict[str, tuple[type[nn.Module], dict[str, tuple[type, bool]]]] = {
    kind: (_CLASSES[kind], {k: (p.type, p.required) for k, p in params.items()})
    for kind, params in LAYER_PARAMETERS.items()
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


def validate_architecture(doc: Mapping[str, Any]) -> Layout:
    """Check a document against the schema (:mod:`.schema`).

    Returns
    -------
    Layout
        The arrays, buffers and outputs the document declares.

    Raises
    ------
    ResultsError
        Wrong format or version, unknown keys or layer kinds, unknown, missing, mistyped
        or out-of-bounds parameters, layers whose widths do not follow each other.
    """
    return check_document(doc)


def from_architecture(
    doc: Mapping[str, Any], shapes: Mapping[str, Sequence[int]] | None = None,
    dtypes: Mapping[str, Any] | None = None,
) -> StackedModel | MemberAverage:
    """Build an (untrained) module from a document alone, once it has been checked, without
    drawing from torch's global random state.

    Parameters
    ----------
    doc : mapping
        The architecture document.
    shapes, dtypes : mapping of str -> shape, dtype, optional
        The stored arrays' shapes (and dtypes), by key: when given, the document must
        declare exactly these arrays (:func:`.schema.check_stored`) before anything is
        allocated.

    Raises
    ------
    ResultsError
        The document, or the arrays it declares, do not pass the schema.
    """
    layout = check_document(doc)
    if shapes is not None:
        check_stored(layout, shapes, dtypes)

    def build() -> StackedModel:
        layers = [_CLASSES[e["kind"]](**_with_defaults(e)) for e in doc["core"]]
        return StackedModel(layers, doc["output"]["params"]["n_units"])

    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: leave the user's RNG
        if layout.members is not None:
            return MemberAverage([build() for _ in range(layout.members)])
        return build()


def _with_defaults(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A layer's parameters, an optional one left out taking the models' default."""
    params = {k: list(v) if isinstance(v, list) else v for k, v in entry["params"].items()}
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
        if value.dtype.kind not in "fiu" or value.dtype.itemsize > 8:
            raise ResultsError(f"model state: array {key} holds {value.dtype}, not real numbers")
        if tuple(value.shape) != tuple(ref.shape):
            raise ResultsError(
                f"model state: array {key} has shape {value.shape}, expected {tuple(ref.shape)}"
            )
        if not np.all(np.isfinite(value)):
            raise ResultsError(f"model state: array {key} holds NaN or inf")
        # torch takes native byte order only (a file written big-endian stays valid HDF5)
        native = value.astype(value.dtype.newbyteorder("="), copy=False)
        tensors[key] = torch.as_tensor(native, dtype=ref.dtype)
    model.load_state_dict(tensors, strict=True)
    return model
