"""Ingest adapters: each turns one published layout into canonical chunks.

    config.py    the TOML source config (SourceSpec, DatasetSpec)
    readers.py   data files in blocks (parquet, JSON Lines, JSON arrays, HF folders)
    values.py    one value of a flat field into its uniform type (records, odd columns)
    chunk.py     the canonical chunk: its schema, built from a block's columns or records
    adapter.py   the adapter base (mapping, clean, flatten_record; read, to_chunk)
    mmeb.py ume_r1.py generic.py   the layouts
"""

from __future__ import annotations

from umedata.sources.adapter import Adapter
from umedata.sources.config import DatasetSpec, SourceSpec, load_sources
from umedata.sources.generic import GenericAdapter
from umedata.sources.mmeb import MMEBAdapter
from umedata.sources.ume_r1 import UmeR1RLAdapter, UmeR1SFTAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    a.layout: a for a in (MMEBAdapter, UmeR1SFTAdapter, UmeR1RLAdapter, GenericAdapter)
}


def adapter_for(layout: str, dataset: DatasetSpec) -> Adapter:
    return ADAPTERS[layout](dataset)


__all__ = ["ADAPTERS", "Adapter", "DatasetSpec", "SourceSpec", "adapter_for", "load_sources"]
