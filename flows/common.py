"""Tasks every flow shares. Orchestration only: each calls one library function."""

from __future__ import annotations

import sys
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from umedata.launch import Launch, launch
from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def prepare_warehouse(warehouse: str | None) -> str:
    """Migrate the warehouse and commit any sealed batch a crashed run left staged; returns its path."""
    wh = Warehouse(warehouse)
    recovered = wh.prepare()
    if recovered:
        get_run_logger().info("committed %d batch(es) left staged by an earlier run", recovered)
    return str(wh.path)


@task(cache_policy=NO_CACHE)
def run_module(module: str, args: list[str], launcher: dict[str, Any] | None = None, jobs_dir: str = ".") -> None:
    """Run `python -m module args` as its own process where `launcher` says (umedata.launch: here, torchrun, Slurm,
    Kubernetes), streaming its output into the flow's log; a failure raises JobFailed with its last lines."""
    logger = get_run_logger()
    spec = Launch(**{"python": sys.executable, **(launcher or {})})
    job = launch(module, args, spec, out_dir=jobs_dir)
    logger.info("launched %s (%s)", module, spec.kind)
    for line in job.lines():
        if line.strip():
            logger.info(line)
    job.wait()
