"""Small Arrow helpers the chunk builder and the ingest steps share: list columns built from flat values."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

PATHS = pa.list_(pa.string())


def as_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False)


def lists_from(parents: np.ndarray, values: pa.Array, n: int) -> pa.ListArray:
    """n lists from flat values and the (sorted) index of the list each belongs to; lists with no value are []."""
    counts = np.bincount(parents, minlength=n) if len(parents) else np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def empty_lists(n: int, value_type: pa.DataType = pa.string()) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], value_type))


def with_column(table: pa.Table, name: str, column: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The table with one column replaced in place, or added at the end when it has none of that name."""
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, column) if i >= 0 else table.append_column(name, column)
