"""Step 5, ids: side and pair ids a column at a time, the same bytes umedata.ids hashes one value at a time.

The hashing runs in an in-memory DuckDB over the chunk's Arrow columns (queries/ingest_side_ids.sql and
ingest_pair_ids.sql), several times faster than a Python loop over hashlib.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata import ids, sql
from umedata.ingest.resolve import SIDES
from umedata.sources.arrays import as_numpy, lists_from, with_column


class Hasher:
    """An in-memory DuckDB that hashes registered Arrow tables; one per run, closed at its end."""

    def __init__(self) -> None:
        self.con = sql.memory()

    def _ids(self, query: str, relation: str, table: pa.Table, params: dict[str, str] | None = None) -> pa.Array:
        """The `id` column of a query file run over `table`, registered under the name the file reads."""
        if table.num_rows == 0:
            return pa.array([], pa.string())
        self.con.register(relation, table)
        try:
            out = sql.query(self.con, query, {"id_hex": ids.ID_HEX, **(params or {})})["id"]
        finally:
            self.con.unregister(relation)
        return out.combine_chunks().cast(pa.string())

    def side_ids(self, text: pa.Array, media: pa.Array) -> pa.Array:
        """ids.side_id(text, media) per row."""
        return self._ids("ingest_side_ids", "side_ids_input", pa.table({"text": text, "media": media}))

    def pair_ids(
        self, source: str, dataset: pa.Array, split: pa.Array, qry: pa.Array, pos: pa.Array, negatives: pa.Array
    ) -> pa.Array:
        """ids.pair_id(source, dataset, split, qry, pos, negatives) per row."""
        table = pa.table({"dataset": dataset, "split": split, "qry": qry, "pos": pos, "negatives": negatives})
        return self._ids("ingest_pair_ids", "pair_ids_input", table, {"source": source})

    def close(self) -> None:
        self.con.close()


def derive_ids(rows: pa.Table, hasher: Hasher, source: str) -> pa.Table:
    """Adds {side}_side_id, `negatives` (the side ids of the negatives, in order) and `pair_id`."""
    for s in SIDES:
        rows = with_column(rows, f"{s}_side_id", hasher.side_ids(rows[f"{s}_text"], rows[f"{s}_media"]))
    owner = as_numpy(pc.list_parent_indices(rows["neg_text"])).astype(np.int64)
    neg_text, neg_media = (rows[c].combine_chunks().flatten() for c in ("neg_text", "neg_media"))
    neg_ids = hasher.side_ids(neg_text, neg_media)
    rows = with_column(rows, "negatives", lists_from(owner, neg_ids, rows.num_rows))
    pair_ids = hasher.pair_ids(
        source, rows["dataset"], rows["split"], rows["qry_side_id"], rows["pos_side_id"], rows["negatives"]
    )
    return with_column(rows, "pair_id", pair_ids)
