"""How the reader reads a table column's cells, whatever stores them: text, an enumeration
(hdmf ``EnumData``), codes explained by a ``MeaningsTable``, references into series or rows
of another table."""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.common import VectorIndex

__all__ = ["cells", "is_region", "is_text", "is_ts_reference", "meanings_of", "neurodata_type"]


def neurodata_type(obj: Any) -> str:
    """The NWB type of ``obj`` (its class name for plain objects)."""
    return str(getattr(obj, "neurodata_type", None) or type(obj).__name__)


def is_ts_reference(column: Any) -> bool:
    """Whether a table column holds TimeSeriesReferenceVectorData (directly or indexed)."""
    target = column.target if isinstance(column, VectorIndex) else column
    return neurodata_type(target) == "TimeSeriesReferenceVectorData"


def is_region(column: Any) -> bool:
    """Whether a table column is a DynamicTableRegion (row numbers of another table)."""
    return hasattr(getattr(column, "table", None), "colnames")


def cells(column: Any, stop: int | None = None) -> Any:
    """The cells of a table column (up to ``stop``): its data; for an enumerated column
    (hdmf ``EnumData``, whose data are positions in its ``elements``) the elements named;
    for a column with a ``MeaningsTable`` (``<column>_meanings``, as NWB 2.9 EventsTables
    code values) the meaning of each value (a value without one stays as it is).

    Raises
    ------
    InvalidDataError
        A column read whole that would not fit in memory or is not all in the file
        (:func:`~.storage.check_whole`), or text that is not UTF-8.
    """
    from ..errors import InvalidDataError
    from .storage import check_whole

    table = getattr(column, "parent", None)
    where = (f"{getattr(column, 'container_source', None) or 'the file'}: column {column.name!r} of "
             f"{getattr(table, 'name', 'a table')}")
    if stop is None:
        check_whole(column.data, where)
    try:
        data = column.data[:] if stop is None else column.data[:stop]
    except UnicodeDecodeError as err:  # hdmf decodes text as UTF-8 when it reads it
        raise InvalidDataError(f"{where}: text that is not UTF-8 ({err.reason} at byte {err.start} of "
                               f"{bytes(err.object[:40])!r}); a damaged file?") from None
    except ValueError as err:
        if "zarr" not in type(column.data).__module__:
            raise
        # numcodecs' JSON codec keeps compound cells (a TimeSeries reference: start, count,
        # series) as lists that it cannot give back as one array
        raise InvalidDataError(
            f"{where}: hdmf-zarr cannot read this column back from the Zarr store ({err}); a column of "
            "TimeSeries references (as add_trial(timeseries=...) writes) kept with the JSON codec is "
            "not readable: keep such a file as HDF5 (pynwb's NWBHDF5IO.export)") from None
    elements = getattr(column, "elements", None)
    if elements is not None and hasattr(elements, "data"):
        return np.asarray(elements.data[:])[np.asarray(data, dtype=np.int64)]
    meanings = meanings_of(column)
    if meanings is None:
        return data
    return [meanings.get(v, v) for v in np.asarray(data).tolist()]


def meanings_of(column: Any) -> dict[Any, str] | None:
    """Value -> meaning of a column that its table's ``<column>_meanings`` table explains
    (hdmf ``MeaningsTable``), else None."""
    tables = getattr(getattr(column, "parent", None), "meanings_tables", None)
    try:
        table = (tables or {}).get(f"{getattr(column, 'name', '')}_meanings")
    except Exception:  # a table type without meanings
        return None
    if table is None or "value" not in table.colnames or "meaning" not in table.colnames:
        return None
    values = np.asarray(table["value"].data[:]).tolist()
    said = [m.decode("utf-8", "replace") if isinstance(m, bytes) else str(m)
            for m in table["meaning"].data[:]]
    return dict(zip(values, said, strict=False))


def is_text(column: Any) -> bool:
    """Whether a column holds text (a ragged column of text, such as ``tags``, and an
    enumerated column of text included)."""
    column = column.target if isinstance(column, VectorIndex) else column
    if meanings_of(column):
        return True
    elements = getattr(column, "elements", None)
    data = getattr(column if elements is None else elements, "data", None)
    if data is None:
        return False
    dtype = getattr(data, "dtype", None)
    if dtype is not None:
        # object references read back by hdmf give a dtype that is a name ('object')
        kind = getattr(dtype, "kind", None)
        if kind is None:
            return False
        return kind in "OSU" and (len(data) == 0 or isinstance(data[0], str | bytes))
    return len(data) > 0 and isinstance(data[0], str | bytes)
