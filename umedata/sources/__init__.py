"""Ingest adapters: each turns one published layout into canonical chunks (see base.py)."""

from __future__ import annotations

from umedata.sources.base import Adapter
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
