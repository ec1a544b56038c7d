"""Ingest flow: register and ingest every source of a config file into the warehouse.

Orchestration only: each task calls `umedata.ingest.ingest_source`, the same function `umedata ingest` calls.
Warehouse-writing tasks carry no result cache: idempotency comes from content keys in the warehouse.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse
from umedata.ingest import ingest_source
from umedata.sources.config import SourceSpec, load_sources
from umedata.warehouse import Warehouse

LOG_EVERY_ROWS = 100_000  # long ingests show they are alive, without a line per chunk


@task(cache_policy=NO_CACHE, task_run_name="ingest-{spec.name}")
def ingest_one(spec: SourceSpec, warehouse: str) -> dict:
    logger = get_run_logger()
    logged = [0]

    def progress(done: int) -> None:
        if done - logged[0] >= LOG_EVERY_ROWS:
            logged[0] = done
            logger.info("%s: %s rows", spec.name, f"{done:,}")

    summary = ingest_source(Warehouse(warehouse), spec, progress=progress)
    logger.info("%s: %s", spec.name, summary.as_dict())
    return summary.as_dict()


@flow(name="ingest", log_prints=True)
def ingest_flow(config: str, warehouse: str | None = None) -> list[dict]:
    """Ingest all sources listed in `config` (a sources TOML) into `warehouse`."""
    path = prepare_warehouse(warehouse)
    results = [ingest_one(spec, path) for spec in load_sources(Path(config))]
    rows = [{k: (str(v) if isinstance(v, dict) else v) for k, v in r.items()} for r in results]
    create_table_artifact(key="ingest-summary", table=rows, description=f"ingest of {config} into {path}")
    return results


if __name__ == "__main__":
    import sys

    ingest_flow(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
