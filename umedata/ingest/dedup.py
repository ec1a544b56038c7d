"""Step 6, dedup: rows whose pair the warehouse already holds, or that repeat a pair of the same chunk, are dropped.

A known pair was committed with its sides and media, so nothing of it is staged again and a re-run costs reading
and hashing only. Membership is one vectorised set lookup per chunk (no Python loop over ids): Arrow hashes the
chunk's ids, finds which of the source's known ids are among them, then tests the chunk against those few hits.
Hashing the chunk instead of the known ids keeps each lookup near the cost of one pass over the known ids.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata.sources.arrays import as_numpy


def drop_known(rows: pa.Table, known: pa.Array) -> pa.Table:
    """Rows with a pair new to the warehouse, the first of each repeated pair kept."""
    fresh = ~is_known(rows["pair_id"].combine_chunks(), known)
    rows = rows if fresh.all() else rows.filter(pa.array(fresh))
    return first_of_each(rows, "pair_id")


def is_known(ids: pa.Array, known: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Whether each id is among the known ones, exactly (whole strings compared)."""
    if len(ids) == 0 or len(known) == 0:
        return np.zeros(len(ids), dtype=bool)
    hits = known.filter(pc.is_in(known, value_set=ids))
    if isinstance(hits, pa.ChunkedArray):
        hits = hits.combine_chunks()
    return as_numpy(pc.is_in(ids, value_set=hits))


def first_of_each(table: pa.Table, key: str) -> pa.Table:
    """Rows with a distinct key, first occurrence kept, in their order."""
    codes = as_numpy(pc.dictionary_encode(table[key].combine_chunks()).indices)
    _, first = np.unique(codes, return_index=True)
    return table if len(first) == table.num_rows else table.take(pa.array(np.sort(first)))
