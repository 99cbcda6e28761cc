"""The stored type of every dataset a results file's specification types (pynwb's
namespace catalog: this package's, NWB core's and hdmf-common's), checked from the HDF5
metadata before anything is read: a count stored as floating point or text, or a number
as text, is refused rather than converted (``int(3.7)`` would show 3 where the file
holds 3.7)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import h5py

from ..errors import ResultsError

__all__ = ["CHECKED_NAMESPACES", "check_dtypes"]

#: the namespaces whose types are checked
CHECKED_NAMESPACES = ("ndx-encoding-subspace", "core", "hdmf-common")

#: what each specification dtype accepts of numpy's kinds ("text": an HDF5 string)
_ACCEPTED = (("uint", "iu"), ("int", "iu"), ("float", "fiu"), ("numeric", "fiub"), ("bool", "bui"),
             ("text", "text"), ("utf", "text"), ("ascii", "text"), ("isodatetime", "text"))


def _accepted(dtype: Any) -> str | None:
    if not isinstance(dtype, str):  # references and compound types: checked elsewhere
        return None
    return next((kinds for prefix, kinds in _ACCEPTED if dtype.startswith(prefix)), None)


@functools.lru_cache(maxsize=256)
def _typed(namespace: str, neurodata_type: str) -> tuple[tuple[str, str, str], ...]:
    """(dataset name, specification dtype, accepted kinds) of a type's named datasets."""
    from pynwb import get_type_map

    from .. import extension  # noqa: F401  (the namespace registered)

    try:
        spec = get_type_map().namespace_catalog.get_spec(namespace, neurodata_type)
    except (KeyError, ValueError):
        return ()
    return tuple((d.name, str(d.dtype), kinds) for d in getattr(spec, "datasets", ())
                 if d.name and (kinds := _accepted(d.dtype)))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_dtypes(group: h5py.Group, path: Path) -> None:
    """Refuse a dataset of ``group`` stored with a type its specification does not allow.

    Raises
    ------
    ResultsError
        Naming the file, the dataset, the type stored and the type specified.
    """
    for ds in group.values():  # a model's tensors (their type declares no dtype): numbers only
        if isinstance(ds, h5py.Dataset) and _text(ds.attrs.get("neurodata_type", "")) == "ModelParameter" \
                and ds.dtype.kind not in "fiub":
            raise ResultsError(f"{path}: {ds.name.lstrip('/')}: a model tensor stored as {ds.dtype}, "
                               "not as real numbers")
    namespace, kind = group.attrs.get("namespace"), group.attrs.get("neurodata_type")
    if namespace is None or kind is None or _text(namespace) not in CHECKED_NAMESPACES:
        return
    for name, dtype, kinds in _typed(_text(namespace), _text(kind)):
        ds = group.get(name)
        if not isinstance(ds, h5py.Dataset):
            continue
        text = h5py.check_string_dtype(ds.dtype) is not None
        if (text if kinds == "text" else (not text and ds.dtype.kind in kinds)):
            continue
        stored = "text" if text else str(ds.dtype)
        raise ResultsError(f"{path}: {ds.name.lstrip('/')}: stored as {stored}, where a {_text(kind)}'s "
                           f"{name!r} holds {dtype} (the specification of {_text(namespace)})")
