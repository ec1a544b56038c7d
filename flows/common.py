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


def task_runner(kind: str = "threads", address: str | None = None, workers: int | None = None):
    """A Prefect task runner to spread shards over: "threads" (this process), "dask" (prefect-dask: the cluster at
    `address`, or a local cluster of `workers` processes) or "ray" (prefect-ray, at `address`). Shards only run
    there; the warehouse keeps one writer: each shard writes files, the flow loads them."""
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address) if address else \
            DaskTaskRunner(cluster_kwargs={"n_workers": workers or 2, "threads_per_worker": 1, "processes": True})
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise ValueError("the ray runner needs prefect-ray (`pip install prefect-ray`)") from None
        return RayTaskRunner(address=address)
    raise ValueError(f"task runner must be threads, dask or ray, not {kind!r}")


def spread(task, calls: list[dict[str, Any]], runner: str = "threads", address: str | None = None) -> list[Any]:
    """Run `task` once per parameter dict, concurrently on a task runner (see task_runner); their results in order."""
    with task_runner(runner, address, len(calls)) as pool:
        futures = [pool.submit(task, params) for params in calls]
        return [f.result() for f in futures]

