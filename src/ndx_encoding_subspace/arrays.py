"""Arrays given to the Python API: numpy arrays, torch tensors, tables or nested lists of
numbers, taken as real numbers, or refused naming what they were given for; and short
descriptions of objects holding arrays (:func:`summary_repr`), for notebooks."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from .errors import InvalidDataError

__all__ = ["real_array", "summary_repr", "short", "label_codes"]

#: longest text shown whole in a summary
_TEXT = 60


def real_array(x: Any, what: str) -> np.ndarray:
    """``x`` as a numpy array of real numbers: a torch tensor detached and brought to the
    host (gradients are not followed), booleans and integers as they are.

    Raises
    ------
    InvalidDataError
        Complex numbers (their imaginary part would be dropped), text, objects, or nested
        lists of unequal lengths; the message names ``what``.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        x = x.resolve_conj().numpy() if hasattr(x, "resolve_conj") else x.numpy()
    try:
        out = np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise InvalidDataError(f"{what}: not an array of numbers ({err})") from None
    if out.dtype.kind == "c":
        raise InvalidDataError(f"{what}: complex numbers ({out.dtype}); give real values (the magnitude "
                               "or the real part, as meant)")
    if out.dtype.kind not in "biuf":
        raise InvalidDataError(f"{what}: values of type {out.dtype}, not numbers")
    return out


def label_codes(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values (as ``np.unique``'s inverse for text and
    numbers; None and NaN are one value, ranked last), found by hashing rather than sorting
    every value: millions of pairs' labels of a few sites or classes."""
    import pandas as pd  # hdmf's dependency, loaded only here

    codes, _ = pd.factorize(np.asarray(values, dtype=object), sort=True, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64)


def short(value: Any) -> str:
    """``value`` in a few words: arrays and tensors by shape and type, long lists and
    mappings by their length (and a mapping's first keys), long text cut."""
    if isinstance(value, np.generic):
        value = value.item()  # 0.5, not np.float64(0.5)
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype") and not np.isscalar(value):
        if int(np.prod(shape)) <= 4:
            small = value.detach().cpu() if hasattr(value, "detach") else value  # a tensor anywhere
            return repr(np.asarray(small).tolist())
        return f"<{type(value).__name__} {'x'.join(map(str, shape))} {value.dtype}>"
    if isinstance(value, dict):
        text = repr(value)
        if len(text) <= _TEXT:
            return text
        keys = ", ".join(map(str, list(value)[:4])) + (", ..." if len(value) > 4 else "")
        return f"<dict of {len(value)}: {keys}>"
    if isinstance(value, list | tuple):
        text = repr(value)
        if len(text) <= _TEXT:
            return text
        kinds = {type(v).__name__ for v in value}
        return f"<{type(value).__name__} of {len(value)}: {kinds.pop() if len(kinds) == 1 else 'mixed'}>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"<{type(value).__name__}>"
    if isinstance(value, os.PathLike):
        return repr(os.fspath(value))  # a file's path, however long
    text = repr(value)
    return text if len(text) <= _TEXT else f"{text[: _TEXT - 4]}...{text[-1]}" if isinstance(value, str) \
        else f"<{type(value).__name__}>"


def summary_repr(obj: Any) -> str:
    """``Name(field=..., ...)`` of a dataclass, each field in a few words (:func:`short`):
    a repr that fits a notebook's cell however large the arrays it holds."""
    fields = (f for f in dataclasses.fields(obj) if f.repr)
    return f"{type(obj).__name__}({', '.join(f'{f.name}={short(getattr(obj, f.name))}' for f in fields)})"
