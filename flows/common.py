"""Tasks every flow shares. Orchestration only: each calls one library function."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def prepare_warehouse(warehouse: str | None) -> str:
    """Migrate the warehouse and commit any sealed batch a crashed run left staged; returns its path."""
    wh = Warehouse(warehouse)
    recovered = wh.prepare()
    if recovered:
        get_run_logger().info("committed %d batch(es) left staged by an earlier run", recovered)
    return str(wh.path)
