"""Parameter sets: frozen dataclasses built from dictionaries that reject unknown keys."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from .errors import ConfigError

__all__ = ["Params", "check_range", "check_choice", "VOLATILE_SECTIONS", "VOLATILE_NAMES", "ADDED_LATER"]

P = TypeVar("P", bound="Params")

#: configuration sections, and parameter names in any section, that change where or how
#: fast a run goes (or where its inputs are found), never its results: left out of a
#: run's fingerprint and of comparisons of results files
VOLATILE_SECTIONS = frozenset({"compute", "cluster"})
VOLATILE_NAMES = frozenset({"device", "cache_dir", "download", "retries", "retry_backoff_s", "timeout_s",
                            "deadline_s", "max_sound_s", "batch_members", "sound_folder"})

#: parameters added after the first release, with the value that does what releases
#: before them did (what a results file made before them was made with): left out of a
#: run's fingerprint while they hold it, so that results
#: made before they existed are still found complete. The reliability parameters add a
#: measurement and change no earlier result: at their defaults, files made before them
#: stay complete (they load with the reliability unknown)
ADDED_LATER: dict[tuple[str, str], Any] = {
    ("reader", "unit_column"): "", ("reader", "response_kernel"): [], ("reader", "onset_column"): "",
    ("reader", "remove_offset"): False, ("reader", "where"): [], ("reader", "response_tail_s"): 0.0,
    ("reader", "rel_y_direction"): "up",  # depth alone: results made before keep theirs
    ("cnn", "second_fir_taps"): 0, ("tiling", "unvisited"): "excluded",
    ("subspace", "k_rule"): "variance", ("subspace", "reliability_rule"): "auto",
    ("subspace", "reliability_variance"): 0.9, ("subspace", "reliability_max_samples"): 3000,
    ("subspace", "reliability_threshold"): 0.5, ("dstrf", "sample_offset"): 0,
    ("tiling", "baseline"): "none", ("training", "init_base_sd"): 1.0, ("training", "init_amplitude_sd"): 4.0,
    ("scoring", "signal_power"): "within_clips", ("ensemble", "select_by"): "held_out",
}

#: parameters for which +inf means "no limit" (``SubspaceParams.outlier_sd = inf`` keeps
#: every sample); every other float parameter must be finite, and none may be NaN
UNBOUNDED = frozenset({"SubspaceParams.outlier_sd"})


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of every parameter set.

    Subclasses are frozen dataclasses whose fields carry the paper's values as
    defaults; ``__post_init__`` calls :meth:`validate`, so an instance is always valid.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _plain(getattr(self, f.name))
            if isinstance(value, list) and typing.get_origin(hints.get(f.name)) is tuple:
                value = tuple(value)
            value = _as_float(value, hints.get(f.name))
            if value is not getattr(self, f.name):
                object.__setattr__(self, f.name, value)  # frozen: set once, here
            _check_type(f"{type(self).__name__}.{f.name}", getattr(self, f.name), hints.get(f.name))
            _check_finite(f"{type(self).__name__}.{f.name}", getattr(self, f.name))
            if f.name == "seed" and isinstance(self.seed, int):  # numpy's seeds are >= 0, torch's 64-bit
                check_range(f"{type(self).__name__}.seed", self.seed, 0, 2**63 - 1)
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden where needed
        """Raise :class:`ConfigError` naming the parameter and the bad value."""

    @classmethod
    def from_dict(cls: type[P], values: Mapping[str, Any] | None, *, where: str = "") -> P:
        """Build from a mapping; unknown keys are an error, listed with the known ones."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = unknown_keys(values, names)
        if unknown:
            place = f" in {where}" if where else ""
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)}{place} for {cls.__name__}; "
                f"known: {', '.join(sorted(names))}"
            )
        hints = typing.get_type_hints(cls)
        try:
            coerced = {key: _coerce(value, hints.get(key), f"{cls.__name__}.{key}")
                       for key, value in values.items()}
            return cls(**coerced)
        except ConfigError as err:
            if not where:
                raise
            raise ConfigError(f"{err} (in {where})") from None

    @classmethod
    def of(cls: type[P], value: P | Mapping[str, Any] | None) -> P:
        """``value`` as this class: the defaults for None, a mapping of parameters built
        with :meth:`from_dict`, an instance as it is.

        Raises
        ------
        ConfigError
            Anything else, naming the class expected.
        """
        return coerce(cls, value, "a mapping of its parameters")

    @classmethod
    def from_keywords(cls: type[P], **values: Any) -> P:
        """Build from keyword arguments, where ``None`` means the class's default.

        For functions and modules whose keywords default to ``None``: the defaults then
        live in the parameter class only, and so do the checks.

        Examples
        --------
        >>> from ndx_encoding_subspace.models.params import CNNParams
        >>> CNNParams.from_keywords(fir_taps=None, mix_channels=12).fir_taps
        15
        """
        return cls(**{key: value for key, value in values.items() if value is not None})

    @classmethod
    def describe(cls, name: str) -> str:
        """The first sentence of parameter ``name``'s entry in the class docstring's
        Parameters section, as plain text (empty when it has none).

        Examples
        --------
        >>> from ndx_encoding_subspace.models.params import CNNParams
        >>> CNNParams.describe("fir_taps")
        'Taps of each depthwise causal FIR layer (15).'
        """
        return _parameter_docs(cls).get(name, "")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dictionary of every parameter."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self: P, **changes: Any) -> P:
        """A copy with some parameters changed (validated)."""
        return self.from_dict({**self.to_dict(), **changes})


_ROLE = re.compile(r":[a-z]+:`~?\.*([^`<]*?)(?:\s*<[^>]*>)?`")


def _plain_text(text: str) -> str:
    """reStructuredText markup of a docstring line as plain text."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return " ".join(text.replace("``", "").split())


def _first_sentence(text: str) -> str:
    end = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)(?![^(]*\))", text)  # not inside parentheses
    return text if end is None else text[: end.start()] + "."


@functools.cache
def _parameter_docs(cls: type) -> dict[str, str]:
    """Parameter name -> first sentence of its description, from the numpy docstring of
    ``cls`` (``a, b : type`` entries describe both)."""
    lines = (cls.__doc__ or "").expandtabs().splitlines()
    try:
        start = next(i for i, line in enumerate(lines[:-1])
                     if line.strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"})
    except StopIteration:
        return {}
    docs: dict[str, str] = {}
    names: list[str] = []
    text: list[str] = []
    indent = None

    def close() -> None:
        for n in names:
            docs[n] = _first_sentence(_plain_text(" ".join(text)))

    for line in lines[start + 2:]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        indent = width if indent is None else indent
        if width < indent or set(line.strip()) == {"-"}:
            break  # the next section
        if width == indent:
            if names and line.strip() in ("Attributes", "Notes", "Examples", "Raises", "Returns"):
                break
            if text:  # entries with no text of their own share the next one's
                close()
                names, text = [], []
            names += [n.strip() for n in line.split(":", 1)[0].split(",")]
        else:
            text.append(line.strip())
    close()
    return docs


def coerce(cls: Any, value: Any, mapping: str) -> Any:
    """``value`` as an instance of ``cls`` (a parameter set or a configuration): ``cls()``
    for None, ``cls.from_dict`` of a mapping, an instance as it is; else a
    :class:`ConfigError` naming ``cls`` and ``mapping`` (what a mapping holds)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.from_dict(value)
    raise ConfigError(f"expected {cls.__name__} or {mapping}, got {type(value).__name__}")


def _is_numpy_scalar(value: Any) -> bool:
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0


def _plain(value: Any) -> Any:
    """Python numbers for numpy's scalars (``np.int64(5)`` from a loop over ``np.arange``,
    ``np.float32``, ``np.bool_``), alone or in a list or tuple; anything else as it is."""
    if _is_numpy_scalar(value):
        return value.item()
    if isinstance(value, list | tuple) and any(_is_numpy_scalar(v) for v in value):
        return type(value)(_plain(v) for v in value)
    return value


def _as_float(value: Any, hint: Any) -> Any:
    """``value`` with every int that ``hint`` types as a float (alone, in a tuple, in an
    optional float) made a float, so that ``[1, 99]`` and ``[1.0, 99.0]`` are one
    parameter value, with one fingerprint; anything else as it is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        floats = hint is float or (typing.get_origin(hint) in (typing.Union, types.UnionType)
                                   and float in typing.get_args(hint) and int not in typing.get_args(hint))
        return float(value) if floats else value
    if isinstance(value, tuple) and typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(args) == len(value):
            new = tuple(_as_float(v, h) for v, h in zip(value, args))
            if any(a is not b for a, b in zip(new, value)):
                return new
    return value


def unknown_keys(values: Mapping[Any, Any], known: Collection[str]) -> list[str]:
    """The keys of ``values`` not in ``known``, for messages: keys that are not text (YAML's
    ``1:`` or ``null:``) first, as written."""
    return sorted(map(repr, (k for k in values if not isinstance(k, str)))) + \
        sorted(k for k in values if isinstance(k, str) and k not in known)


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    args = typing.get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and _matches(value, args[0]):
        return (value,)  # one item of a list of any length (``--reader.sounds one_name``)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, str):  # a number in quotes, as a boolean would be
        try:
            float(value)
            advice = " (write numbers without quotes)"
        except ValueError:
            advice = ""
        raise ConfigError(f"{name}: expected {hint.__name__}, got the text {value!r}{advice}")
    return value


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` has type ``hint`` (ints, floats, str, bool, None, tuples of
    them, unions); other hints are left to the class's own checks."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, h) for v, h in zip(value, args))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _describe(hint: Any) -> str:
    if typing.get_origin(hint):
        return str(hint).replace("typing.", "")
    return getattr(hint, "__name__", str(hint))


def _check_type(name: str, value: Any, hint: Any) -> None:
    if hint is not None and not _matches(value, hint):
        raise ConfigError(f"{name} must be {_describe(hint)}, got {value!r}")


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None,
    *, low_open: bool = False, high_open: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high`` (bounds optional)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) and not (name in UNBOUNDED and value == math.inf):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    bad = (
        (low is not None and (value <= low if low_open else value < low))
        or (high is not None and (value >= high if high_open else value > high))
    )
    if bad:
        above = f"above {low}" if low_open else f"at least {low}"
        below = f"below {high}" if high_open else f"at most {high}"
        if high is None:
            rule = above
        elif low is None:
            rule = below
        else:
            rule = f"{above} and {below}"
        raise ConfigError(f"{name} must be {rule}, got {value!r}")


def _check_finite(name: str, value: Any) -> None:
    """Refuse NaN and infinite numbers, alone or in a tuple: no parameter takes them."""
    values = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) and not (name in UNBOUNDED and v == math.inf)
           for v in values):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def check_choice(name: str, value: Any, choices: typing.Iterable[Any]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
