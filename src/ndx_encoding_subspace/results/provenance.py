"""Provenance as key/value rows: nested dictionaries unpacked into JSON-Pointer keys.

NWB best practice (and nwbinspector) asks that dictionaries are not stored as strings in
table cells, so the provenance dictionary is unpacked: each leaf becomes one row whose
``key`` is its JSON Pointer (RFC 6901: ``/parameters/training/learning_rate``, with
``~`` written ``~0`` and ``/`` written ``~1`` inside a key) and whose ``value`` is the
leaf as JSON text (a number, string, boolean, null, or a list of those). An empty
dictionary is the leaf ``{}``; a list that holds dictionaries is unpacked by index after
a marker row ``[]``. :func:`unflatten` inverts :func:`flatten` exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["jsonable", "flatten", "unflatten", "escape", "unescape"]


def jsonable(value: Any) -> Any:
    """``value`` with numpy types, tuples, paths and sets made JSON-compatible.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def escape(key: str) -> str:
    """One JSON-Pointer reference token."""
    return key.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Inverse of :func:`escape`."""
    return token.replace("~1", "/").replace("~0", "~")


def _has_mapping(items: list[Any]) -> bool:
    return any(isinstance(v, Mapping) or (isinstance(v, list) and _has_mapping(v))
               for v in items)


def _walk(value: Any, pointer: str, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _walk(item, f"{pointer}/{escape(str(key))}", rows)
    elif isinstance(value, list) and _has_mapping(value):
        rows.append((pointer, "[]"))
        for i, item in enumerate(value):
            _walk(item, f"{pointer}/{i}", rows)
    else:
        rows.append((pointer, json.dumps(value, sort_keys=True)))


def flatten(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows ``(json_pointer, json_value)`` of a dictionary, parents before children."""
    rows: list[tuple[str, str]] = []
    for key, item in jsonable(document).items():
        _walk(item, f"/{escape(key)}", rows)
    return rows


def unflatten(rows: list[tuple[str, str]]) -> dict[str, Any]:
    """The dictionary whose :func:`flatten` is ``rows``.

    Raises
    ------
    ValueError
        A key that is not a JSON Pointer, a key given twice, a value that is not JSON, or
        rows out of order.
    """
    root: dict[str, Any] = {}
    seen: set[str] = set()
    for pointer, text in rows:
        if not pointer.startswith("/"):
            raise ValueError(f"provenance key {pointer!r} is not a JSON Pointer")
        if pointer in seen:  # readers keeping the first and the last would read other values
            raise ValueError(f"provenance key {pointer!r} is given twice")
        seen.add(pointer)
        tokens = [unescape(t) for t in pointer[1:].split("/")]
        node: Any = root
        for token in tokens[:-1]:
            if not isinstance(node, list | dict):
                raise ValueError(f"provenance key {pointer!r} lies below a value, not inside an object")
            if isinstance(node, list):
                index = int(token)
                if index == len(node):
                    node.append({})
                node = node[index]
            else:
                node = node.setdefault(token, {})
        value = json.loads(text)
        last = tokens[-1]
        if not isinstance(node, list | dict):
            raise ValueError(f"provenance key {pointer!r} lies below a value, not inside an object")
        if isinstance(node, list):
            if int(last) != len(node):
                raise ValueError(f"provenance key {pointer!r} is out of order")
            node.append(value)
        else:
            node[last] = value
    return root
