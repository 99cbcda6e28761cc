"""Ragged columns and the per-row accessors shared by the per-unit tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hdmf.common import VectorData, VectorIndex


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
        element_shape = next((p.shape[1:] for p in parts if p.ndim and len(p)), ())
    element_shape = tuple(element_shape)
    for row, p in enumerate(parts):
        if p.ndim == 0:
            raise ValueError(f"ragged column {name!r}: row {row} is a scalar, not a sequence of elements "
                             f"of shape {element_shape}")
        if len(p) and p.shape[1:] != element_shape:  # a row of empty elements too: none is dropped
            raise ValueError(f"ragged column {name!r}: row {row} has elements of shape {p.shape[1:]}, "
                             f"not {element_shape} (every row's axes after the first must agree)")
    parts = [p.reshape((0, *element_shape)) if len(p) == 0 else p for p in parts]  # no element: none lost
    ends = np.cumsum([len(p) for p in parts], dtype=np.uint64)
    data = (np.concatenate(parts, axis=0) if parts
            else np.zeros((0, *element_shape), dtype=dtype))
    column = VectorData(name=name, description=description, data=data)
    return VectorIndex(name=f"{name}_index", data=ends, target=column), column


def checked_row(row: Any, n_rows: int, where: str) -> int:
    """``row`` as a position in ``range(n_rows)`` (negative counts from the end), or a
    TypeError or IndexError naming ``where``."""
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
        raise TypeError(f"{where}: a row is an integer position, not {row!r}")
    if not -n_rows <= row < n_rows:
        raise IndexError(f"row {row} out of range for {where} ({n_rows} rows)")
    return int(row) % n_rows


def _row_slice(index: VectorIndex, row: int, where: str | None = None) -> slice:
    ends = index.data
    row = checked_row(row, len(ends), where or repr(index.target.name))
    start = int(ends[row - 1]) if row > 0 else 0
    return slice(start, int(ends[row]))


def _describe(cls: type, column: str) -> str:
    return next(c["description"] for c in cls.__columns__ if c["name"] == column)


class _UnitRowsMixin:
    """Accessors shared by tables with a ``units`` region column."""

    def _ragged(self, column: str, row: int) -> np.ndarray:
        index = self[f"{column}_index"]
        return np.asarray(index.target.data[_row_slice(index, row, f"{self.name!r}.{column}")])

    def _fixed(self, column: str, row: int) -> np.ndarray:
        data = self[column].data
        return np.asarray(data[checked_row(row, len(data), f"{self.name!r}.{column}")])

    def unit_rows(self) -> np.ndarray:
        """Row of each table row's unit in the Units table, shape (rows,)."""
        return np.asarray(self["units"].data[:], dtype=np.int64)

    def row_of_unit(self, units_row: int) -> int:
        """Table row of the unit at row ``units_row`` of the Units table."""
        hits = np.flatnonzero(self.unit_rows() == units_row)
        if hits.size == 0:
            raise KeyError(f"Units row {units_row} has no row in table {self.name!r}")
        return int(hits[0])
