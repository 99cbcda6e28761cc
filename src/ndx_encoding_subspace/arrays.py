"""Arrays given to the Python API: numpy arrays, torch tensors, tables or nested lists of
numbers, taken as real numbers, or refused naming what they were given for."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidDataError

__all__ = ["real_array"]


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
