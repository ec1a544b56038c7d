"""The whole pipeline on the bundled sample, with embedded defaults: `make demo`.

Prefect runs without a server (an ephemeral one starts in-process); the warehouse is warehouse/umedata.duckdb.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.ingest import ingest_flow
from umedata.cli import _print_status
from umedata.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample" / "sources.toml"


@flow(name="demo")
def demo_flow(warehouse: str | None = None) -> None:
    ingest_flow(str(SAMPLE), warehouse)
    _print_status(Warehouse(warehouse), tables_only=False)


if __name__ == "__main__":
    demo_flow()
