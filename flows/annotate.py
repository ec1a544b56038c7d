"""Annotate flow: run the teacher over sides without a finished annotation for (model, prompt_version).

Orchestration only, the same library calls `umedata annotate` makes. The run commits as it goes, so readers can
query the warehouse meanwhile; the task shows progress as a Prefect progress artifact and leaves a markdown and a
table artifact (umedata.teacher.report). Idempotency comes from request keys and leases in the warehouse, not a
result cache, so re-running a finished flow sends nothing. API keys are never parameters: the config names an
environment variable or a Prefect Secret block, and only this flow reads Secret blocks (`_read_secret`).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import artifacts, flow, get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse, spread
from umedata.teacher import report
from umedata.teacher.annotate import make_run, run_watched
from umedata.teacher.config import load_config
from umedata.teacher.results import reparse
from umedata.teacher.run import Selection
from umedata.warehouse import Warehouse


def _read_secret(name: str) -> str:
    return Secret.load(name).get()


@task(cache_policy=NO_CACHE, persist_result=False)
def annotate_sides(warehouse: str, config: str | None, backend: str | None, model: str | None,
                   selection: dict[str, Any], wait_for_leases: bool, retry_failed: bool) -> dict[str, Any]:
    logger = get_run_logger()
    cfg = load_config(config, backend=backend, model=model)
    run = make_run(Warehouse(warehouse), cfg, Selection(**selection), wait_for_leases=wait_for_leases,
                   retry_failed=retry_failed, secret_loader=_read_secret)
    artifact = artifacts.create_progress_artifact(0.0, key="annotate-progress", description=f"teacher run {run.run_id}")
    last_log = [0.0]

    def tick(p: dict[str, Any]) -> None:
        if p["pending"]:
            artifacts.update_progress_artifact(artifact, min(100.0, 100.0 * p["answered"] / p["pending"]))
        if time.monotonic() - last_log[0] > 10:
            last_log[0] = time.monotonic()
            logger.info("%(answered)d/%(pending)d answered, %(ok)d ok, %(requests_per_s).0f req/s", p)

    s = run_watched(run, tick).as_dict()
    artifacts.update_progress_artifact(artifact, 100.0)
    logger.info("run %s: %d ok, bad answers %s, failed %s, %d attempts",
                s["run_id"], s["ok"], s["bad_answers"], s["failed"], s["attempts"])
    artifacts.create_markdown_artifact(report.markdown(s), key="annotate-summary", description="teacher run summary")
    rows = report.accounting(Warehouse(warehouse), s["run_id"])
    if rows:
        artifacts.create_table_artifact(rows, key="annotate-accounting", description="tokens, cost and latency per model")
    return s


@task(cache_policy=NO_CACHE, persist_result=False)
def reparse_answers(warehouse: str, model: str | None) -> dict[str, int]:
    return reparse(Warehouse(warehouse), model=model)


@flow(name="annotate", log_prints=True)
def annotate_flow(config: str | None = None, backend: str | None = None, model: str | None = None,
                  warehouse: str | None = None, sources: list[str] | None = None, datasets: list[str] | None = None,
                  splits: list[str] | None = None, modalities: list[str] | None = None, limit: int | None = None,
                  wait_for_leases: bool = False, retry_failed: bool = False, reparse_only: bool = False,
                  runs: int = 1, runner: str = "threads", runner_address: str | None = None) -> dict[str, Any]:
    """Annotate pending sides (or, with reparse_only, re-derive annotations from stored answers: zero requests).
    `runs` > 1 starts that many teacher runs at once on `runner` (threads | dask | ray): leases split the keys."""
    path = prepare_warehouse(warehouse)
    if reparse_only:
        return reparse_answers(path, model)
    selection = {"sources": sources, "datasets": datasets, "splits": splits, "modalities": modalities, "limit": limit}
    if runs <= 1:
        return annotate_sides(path, config, backend, model, selection, wait_for_leases, retry_failed)
    call = {"warehouse": path, "config": config, "backend": backend, "model": model, "selection": selection,
            "wait_for_leases": True, "retry_failed": retry_failed}
    return {"runs": spread(annotate_sides, [call] * runs, runner, runner_address)}
