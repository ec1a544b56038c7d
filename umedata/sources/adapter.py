"""The adapter base: what one published layout says about its files, and its two steps, read and to_chunk.

A layout names which of its columns feed which flat field (`mapping`), how side text is cleaned (`clean`) and,
for nested layouts, how one record is flattened (`flatten_record`). `read` yields the blocks of a data file
(readers.py) and `to_chunk` turns one block into the canonical chunk (chunk.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from umedata.errors import FileError
from umedata.sources.chunk import chunk_from_columns, chunk_from_records
from umedata.sources.config import DatasetSpec
from umedata.sources.readers import Block, read_blocks
from umedata.sources.values import StoreBytes


class Adapter:
    """One published layout. Subclasses set `layout` and override `mapping` / `clean` / `flatten_record`."""

    layout: ClassVar[str] = ""
    nested: ClassVar[bool] = False  # rows are nested objects: read as records and flattened one by one

    def __init__(self, dataset: DatasetSpec):
        self.dataset = dataset

    def mapping(self) -> dict[str, str]:
        """Our flat field -> the column (key) that holds it in this layout."""
        raise NotImplementedError

    def required(self) -> set[str]:
        """Fields whose column must exist in a file that declares its columns (parquet, Arrow)."""
        return {"qry", "pos"}

    def clean(self, arr: pa.Array) -> pa.Array:
        """Side text as stored: layout-specific markup removed. Vectorised over a string array."""
        return arr

    def flatten_record(self, obj: dict[str, Any]) -> dict[str, Any]:
        """One record's flat fields (raise RowError when its shape is wrong)."""
        return {f: obj.get(col) for f, col in self.mapping().items() if col in obj}

    def read(self, path: Path, batch_rows: int) -> Iterator[Block]:
        """Blocks of at most `batch_rows` rows of one data file or HF folder; raises FileError."""
        return read_blocks(path, batch_rows, columnar=not self.nested, split=self.dataset.split)

    def to_chunk(self, block: Block, store_bytes: StoreBytes | None = None) -> pa.Table:
        """The canonical chunk of one block; raises FileError when the file lacks a required column."""
        if block.table is None:
            return chunk_from_records(
                block.records or [], self.flatten_record, block.rows, self.clean, store_bytes, block.split
            )
        if block.fixed_schema:
            self._check_columns(block)
        names = set(block.table.column_names)
        cols = {f: block.table[c].combine_chunks() for f, c in self.mapping().items() if c in names}
        return chunk_from_columns(cols, block.rows, self.clean, store_bytes=store_bytes, split=block.split)

    def _check_columns(self, block: Block) -> None:
        names = set(block.table.column_names)
        mapping = self.mapping()
        missing = sorted(mapping[f] for f in self.required() if f in mapping and mapping[f] not in names)
        if missing:
            raise FileError("missing_column", f"{block.file}: no column(s) {missing}; has {sorted(names)}")
