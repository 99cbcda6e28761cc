"""The schema of architecture documents, and of the arrays stored beside them.

A document read from a file is data from outside: it is checked here in full before any
module is built, so that it can only describe what the package itself writes and only
cost what the file holds.

- **Vocabulary.** Known keys only; layer kinds of :data:`LAYER_PARAMETERS` only, each
  with its own parameters of the right type; the output is a ``double_exponential``.
- **Bounds.** Every declared integer lies in ``1 .. bound``: widths, units, inputs and
  outputs up to :data:`MAX_WIDTH`, FIR taps up to :data:`MAX_TAPS`, ``members`` up to
  :data:`MAX_MEMBERS`; at most :data:`MAX_LAYERS` layers and :data:`MAX_MODULES` layers
  over all members, and :data:`MAX_VALUES` parameter or buffer values over all members
  (whatever is stored). ``min_width`` is a finite number in (0, 1].
- **Consistency.** Each layer takes the width that the layer before it gives, and the
  output has one unit per output of the core.
- **Stored arrays** (:func:`check_stored`). The document's parameter count (members x
  the sum of its arrays' sizes) may not exceed the values stored; then every array it
  declares must be stored under its name, with its shape, as real numbers, and nothing
  else. Buffers that are not stored (Gaussian positions, unit-split indexes) may exceed
  the stored values by :data:`BUFFER_ALLOWANCE` elements at most.

Every check works on the parsed document and on array shapes and dtypes (metadata), in
time and memory proportional to the document, and raises
:class:`~ndx_encoding_subspace.errors.ResultsError` naming the layer (``core[3] (dense)``).
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ResultsError

__all__ = [
    "FORMAT",
    "VERSION",
    "MAX_WIDTH",
    "MAX_TAPS",
    "MAX_MEMBERS",
    "MAX_LAYERS",
    "MAX_MODULES",
    "MAX_VALUES",
    "BUFFER_ALLOWANCE",
    "Param",
    "LAYER_PARAMETERS",
    "Layout",
    "check_document",
    "check_stored",
    "short",
]

FORMAT = "ndx-encoding-subspace/architecture"
VERSION = 1
#: largest width, number of units, inputs, outputs or subspace dimensions of a layer
MAX_WIDTH = 1_000_000
#: largest number of taps of one FIR layer
MAX_TAPS = 10_000
#: largest number of averaged members
MAX_MEMBERS = 10_000
#: largest number of core layers of one model
MAX_LAYERS = 256
#: largest number of layers over all members (members x (core layers + output))
MAX_MODULES = 100_000
#: largest number of values (parameters, or buffers) a document may declare, stored or not
MAX_VALUES = 1 << 30
#: elements of buffers that are not stored, allowed beyond the stored values
BUFFER_ALLOWANCE = 1 << 20
#: dtypes a stored array may have (real numbers)
_REAL_KINDS = "fiu"

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 6
_SHORT.maxlevel = 2


def short(value: Any) -> str:
    """A short, one-line ``repr`` of ``value`` (deep or long values are cut)."""
    return " ".join(_SHORT.repr(value).split())


@dataclasses.dataclass(frozen=True)
class Param:
    """A layer parameter: its type, whether it is required, and (integers) its bound."""

    type: type
    required: bool
    bound: int = 0


_WIDTH = Param(int, True, MAX_WIDTH)
_FLAG = Param(bool, False)

#: kind -> {parameter: Param}; the layer kinds that the package writes
LAYER_PARAMETERS: dict[str, dict[str, Param]] = {
    "gaussian_mix": {"n_in": _WIDTH, "n_out": _WIDTH, "min_width": Param(float, False)},
    "fir": {"channels": _WIDTH, "taps": Param(int, True, MAX_TAPS)},
    "shifted_relu": {"channels": _WIDTH},
    "relu": {},
    "dense": {"n_in": _WIDTH, "n_out": _WIDTH, "bias": _FLAG},
    "double_exponential": {"n_units": _WIDTH},
    "unit_split": {"dims": Param(list, True, MAX_WIDTH)},
    "unit_dense": {"n_units": _WIDTH, "n_in": _WIDTH, "n_out": _WIDTH, "squeeze": _FLAG},
}
_DOCUMENT_KEYS = {"format", "version", "core", "output"}


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a checked document declares.

    Attributes
    ----------
    members : int or None
        Number of averaged members (None: a single model).
    arrays : tuple of (str, tuple of int, str)
        One model's stored arrays: state-dict key, shape, and the layer (``core[3] (dense)``).
    buffer_elements : int
        One model's elements of buffers that are not stored.
    n_units : int
        Outputs of the model.
    """

    members: int | None
    arrays: tuple[tuple[str, tuple[int, ...], str], ...]
    buffer_elements: int
    n_units: int

    @property
    def copies(self) -> int:
        """Models built: the members, or 1."""
        return self.members or 1

    @property
    def n_arrays(self) -> int:
        """Arrays the document declares over all members."""
        return self.copies * len(self.arrays)

    @property
    def n_parameters(self) -> int:
        """Values the document declares over all members."""
        return self.copies * sum(math.prod(shape) for _, shape, _ in self.arrays)

    def shapes(self) -> Iterator[tuple[str, tuple[int, ...], str]]:
        """Every declared array: key (``members.<i>.`` first when averaged), shape, layer."""
        for m in range(self.copies):
            prefix = "" if self.members is None else f"members.{m}."
            for key, shape, layer in self.arrays:
                yield prefix + key, shape, layer


def _positive_int(value: Any, bound: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= bound


def _check_value(key: str, value: Any, spec: Param, where: str) -> None:
    if spec.type is bool:
        ok, want = isinstance(value, bool), "a boolean"
    elif spec.type is float:
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value) and 0.0 < value <= 1.0)
        want = "a finite number in (0, 1]"
    elif spec.type is list:
        ok = (isinstance(value, list) and 1 <= len(value) <= spec.bound
              and all(_positive_int(v, spec.bound) for v in value))
        want = f"a list of 1..{spec.bound} integers in 1..{spec.bound}"
    else:
        ok, want = _positive_int(value, spec.bound), f"an integer in 1..{spec.bound}"
    if not ok:
        raise ResultsError(f"architecture {where}: parameter {key} must be {want}, got {short(value)}")


def _check_layer(entry: Any, where: str) -> tuple[str, dict[str, Any]]:
    """The kind and parameters of one checked layer entry."""
    if not isinstance(entry, Mapping) or set(entry) != {"kind", "params"}:
        raise ResultsError(f"architecture {where}: expected {{'kind', 'params'}}, got {short(entry)}")
    kind, params = entry["kind"], entry["params"]
    if not isinstance(kind, str) or kind not in LAYER_PARAMETERS:
        raise ResultsError(f"architecture {where}: unknown layer kind {short(kind)}; known: "
                           f"{', '.join(LAYER_PARAMETERS)}")
    where = f"{where} ({kind})"
    if not isinstance(params, Mapping):
        raise ResultsError(f"architecture {where}: params must be a mapping, got {short(params)}")
    spec = LAYER_PARAMETERS[kind]
    unknown = sorted(short(k) for k in params if k not in spec)
    if unknown:
        raise ResultsError(f"architecture {where}: unknown parameter(s) {', '.join(unknown[:5])}")
    missing = sorted(k for k, p in spec.items() if p.required and k not in params)
    if missing:
        raise ResultsError(f"architecture {where}: missing parameter(s) {missing}")
    for key, value in params.items():
        _check_value(key, value, spec[key], where)
    return kind, dict(params)


def _layer_arrays(kind: str, p: Mapping[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    """The stored arrays of one layer: key within the layer, shape."""
    if kind == "gaussian_mix":
        return [("mean", (p["n_out"],)), ("raw_width", (p["n_out"],))]
    if kind == "fir":
        return [("weight", (p["channels"], 1, p["taps"]))]
    if kind == "shifted_relu":
        return [("shift", (p["channels"],))]
    if kind == "dense":
        bias = [("linear.bias", (p["n_out"],))] if p.get("bias", True) else []
        return [("linear.weight", (p["n_out"], p["n_in"])), *bias]
    if kind == "double_exponential":
        return [(name, (p["n_units"],)) for name in ("base", "amplitude", "kappa", "shift")]
    if kind == "unit_dense":
        return [("weight", (p["n_units"], p["n_out"], p["n_in"])), ("bias", (p["n_units"], p["n_out"]))]
    return []


def _layer_buffers(kind: str, p: Mapping[str, Any]) -> int:
    """Elements (float32 equivalents) of the buffers a layer builds but does not store."""
    if kind == "gaussian_mix":
        return p["n_in"]
    if kind == "unit_split":  # an int64 index and a float32 mask, units x max(dims) each
        return 3 * len(p["dims"]) * max(p["dims"])
    return 0


_Width = tuple[int | None, ...]


def _flow(shape: _Width, kind: str, p: Mapping[str, Any], where: str) -> _Width:
    """The width a layer gives (``(n,)``, or ``(units, k)`` per unit) from the one it takes."""
    def need(expected: tuple[int, ...]) -> None:
        ok = len(shape) == len(expected) and all(s is None or s == e for s, e in zip(shape, expected))
        if not ok:
            got = "unknown" if shape == (None,) else "x".join(str(s) for s in shape)
            raise ResultsError(f"architecture {where} ({kind}): takes {'x'.join(map(str, expected))} "
                               f"inputs, the layer before gives {got}")

    if kind == "relu":
        return shape
    if kind == "unit_dense":
        need((p["n_units"], p["n_in"]))
        return (p["n_units"],) if p.get("squeeze", False) else (p["n_units"], p["n_out"])
    if kind == "unit_split":
        need((sum(p["dims"]),))
        return (len(p["dims"]), max(p["dims"]))
    n_in = p["channels"] if kind in ("fir", "shifted_relu") else p["n_in"]
    need((n_in,))
    return (p["channels"],) if kind in ("fir", "shifted_relu") else (p["n_out"],)


def _check_header(doc: Any) -> int | None:
    """Check the document's own keys; its number of members (None: a single model)."""
    if not isinstance(doc, Mapping):
        raise ResultsError(f"architecture document must be a mapping, got {type(doc).__name__}")
    if not all(isinstance(k, str) for k in doc) or set(doc) - {"members"} != _DOCUMENT_KEYS:
        raise ResultsError(f"architecture document keys {short(sorted(map(str, doc)))} differ from "
                           f"{sorted(_DOCUMENT_KEYS)} (and optionally 'members')")
    members = doc.get("members")
    if "members" in doc and not _positive_int(members, MAX_MEMBERS):
        raise ResultsError(f"architecture document: 'members' must be an integer in 1..{MAX_MEMBERS}, "
                           f"got {short(members)}")
    version = doc["version"]
    if (doc["format"] != FORMAT or isinstance(version, bool) or not isinstance(version, int)
            or version != VERSION):
        raise ResultsError(f"architecture document format {short(doc['format'])} version "
                           f"{short(version)} is not {FORMAT!r} version {VERSION}")
    core = doc["core"]
    if not isinstance(core, list) or not 1 <= len(core) <= MAX_LAYERS:
        raise ResultsError(f"architecture document: 'core' must be a list of 1..{MAX_LAYERS} layers")
    if (members or 1) * (len(core) + 1) > MAX_MODULES:
        raise ResultsError(f"architecture document: {members} members of {len(core) + 1} layers are more "
                           f"than {MAX_MODULES} layers")
    return members


def check_document(doc: Any) -> Layout:
    """Check a parsed architecture document against the schema.

    Returns
    -------
    Layout
        The arrays, buffers and outputs it declares.

    Raises
    ------
    ResultsError
        Anything outside the schema (see the module's description); the message names
        the layer.
    """
    members = _check_header(doc)
    arrays: list[tuple[str, tuple[int, ...], str]] = []
    buffers = 0
    shape: tuple[int | None, ...] = (None,)
    for i, entry in enumerate(doc["core"]):
        where = f"core[{i}]"
        kind, params = _check_layer(entry, where)
        shape = _flow(shape, kind, params, where)
        label = f"{where} ({kind})"
        arrays += [(f"core_layers.{i}.{key}", s, label) for key, s in _layer_arrays(kind, params)]
        buffers += _layer_buffers(kind, params)
    kind, params = _check_layer(doc["output"], "output")
    if kind != "double_exponential":
        raise ResultsError(f"architecture output must be double_exponential, got {kind!r}")
    n_units = params["n_units"]
    if len(shape) != 1 or shape[0] not in (None, n_units):
        raise ResultsError(f"architecture output (double_exponential): {n_units} units, the core gives "
                           f"{'x'.join(str(s) for s in shape)} outputs")
    arrays += [(f"output.{key}", s, "output (double_exponential)") for key, s in _layer_arrays(kind, params)]
    layout = Layout(members, tuple(arrays), buffers, n_units)
    largest = max(layout.n_parameters, layout.copies * buffers)
    if largest > MAX_VALUES:
        raise ResultsError(f"architecture declares {largest:,} values over {layout.copies} model(s), "
                           f"more than {MAX_VALUES:,}")
    return layout


def _dtype_ok(dtype: Any) -> bool:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return False
    return dt.kind in _REAL_KINDS and dt.itemsize <= 8 and dt.fields is None


def _names(names: Sequence[str]) -> str:
    return ", ".join(short(n) for n in sorted(names)[:5]) + (" ..." if len(names) > 5 else "")


def check_stored(layout: Layout, shapes: Mapping[str, Sequence[int]],
                 dtypes: Mapping[str, Any] | None = None) -> None:
    """Check the stored arrays (their shapes and dtypes only) against a document's layout.

    Parameters
    ----------
    layout : Layout
        From :func:`check_document`.
    shapes : mapping of str -> tuple of int
        Shape of every stored array, by key (from the file's metadata, not its data).
    dtypes : mapping of str -> dtype, optional
        Dtype of every stored array, by key.

    Raises
    ------
    ResultsError
        More values declared than stored, unstored buffers beyond the allowance, arrays
        missing, unexpected, of another shape (a one-element array may be stored as a
        scalar) or not of real numbers.
    """
    held = sum(math.prod(int(s) for s in shape) for shape in shapes.values())
    declared = layout.n_parameters
    if declared > held:
        raise ResultsError(f"architecture declares {declared:,} parameter values over {layout.copies} "
                           f"model(s), more than the {held:,} stored")
    buffers = layout.copies * layout.buffer_elements
    if buffers > held + BUFFER_ALLOWANCE:
        raise ResultsError(f"architecture declares {buffers:,} buffer values, out of proportion to the "
                           f"{held:,} parameter values stored")
    if len(shapes) != layout.n_arrays:
        raise ResultsError(f"architecture declares {layout.n_arrays:,} arrays, {len(shapes):,} are stored")
    missing = []
    for key, shape, layer in layout.shapes():
        if key not in shapes:
            missing.append(key)
            continue
        stored = tuple(int(s) for s in shapes[key])
        if stored != shape and not (stored == () and math.prod(shape) == 1):
            raise ResultsError(f"architecture {layer}: array {key} is stored with shape {stored}, "
                               f"the document declares {shape}")
        if dtypes is not None and not _dtype_ok(dtypes.get(key)):
            raise ResultsError(f"architecture {layer}: array {key} is stored as {short(dtypes.get(key))}, "
                               "not as real numbers")
    if missing:
        expected = {k for k, _, _ in layout.shapes()}
        extra = [k for k in shapes if k not in expected]
        raise ResultsError(f"architecture: arrays missing from the file: {_names(missing)}; "
                           f"unexpected arrays: {_names(extra) or 'none'}")
