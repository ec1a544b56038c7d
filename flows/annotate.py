"""Annotate flow: run the teacher over sides without a finished annotation for (model, prompt_version).

Orchestration only: each task calls the library (umedata.teacher), the same calls `umedata annotate` makes. The run
itself commits its results in staged batches as it goes, so readers can query the warehouse meanwhile; the task
shows its progress as a Prefect progress artifact and leaves a markdown and a table artifact (counts, tokens,
cost, error reasons). Warehouse-writing tasks carry no result cache: idempotency comes from request keys and
leases in the warehouse, so re-running a finished flow sends nothing.

API keys are never flow parameters: the config names the environment variable or Prefect Secret block.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from umedata.teacher.config import load_config
from umedata.teacher.runner import Selection, TeacherRun
from umedata.teacher.store import reparse
from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def prepare_warehouse(warehouse: str | None) -> str:
    """Migrate, and commit any sealed batch a crashed run left staged."""
    wh = Warehouse(warehouse)
    wh.init()
    wh.recover()
    return str(wh.path)


@task(cache_policy=NO_CACHE, persist_result=False)
def annotate_sides(
    warehouse: str,
    config: str | None,
    backend: str | None,
    model: str | None,
    selection: dict[str, Any],
    wait_for_leases: bool,
    retry_failed: bool,
) -> dict[str, Any]:
    logger = get_run_logger()
    cfg = load_config(config, backend=backend, model=model)
    run = TeacherRun(
        Warehouse(warehouse), cfg, Selection(**selection), wait_for_leases=wait_for_leases, retry_failed=retry_failed
    )
    artifact = create_progress_artifact(0.0, key="annotate-progress", description=f"teacher run {run.run_id}")
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["summary"] = run.run()
        except BaseException as exc:  # re-raised in the task thread below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"teacher-{run.run_id}", daemon=True)
    worker.start()
    last_log = 0.0
    while worker.is_alive():
        worker.join(1.0)
        p = run.progress()
        if p["pending"]:
            update_progress_artifact(artifact, min(100.0, 100.0 * p["answered"] / p["pending"]))
        if time.monotonic() - last_log > 10:
            last_log = time.monotonic()
            logger.info("%(answered)d/%(pending)d answered, %(ok)d ok, %(requests_per_s).0f req/s", p)
    if "error" in outcome:
        raise outcome["error"]
    update_progress_artifact(artifact, 100.0)
    summary = outcome["summary"].as_dict()
    logger.info(
        "run %s: %d ok, bad answers %s, failed %s, %d attempts",
        summary["run_id"],
        summary["ok"],
        summary["bad_answers"],
        summary["failed"],
        summary["attempts"],
    )
    return summary


@task(cache_policy=NO_CACHE, persist_result=False)
def reparse_answers(warehouse: str, model: str | None) -> dict[str, int]:
    return reparse(Warehouse(warehouse), model=model)


@task(cache_policy=NO_CACHE)
def report(summary: dict[str, Any], warehouse: str) -> None:
    """A markdown artifact (what happened and why) and a table artifact (per model, from teacher_run_summary)."""
    lines = [
        f"# Teacher run `{summary['run_id']}`",
        "",
        f"backend **{summary['backend']}**, model **{summary['model']}**, status **{summary['status']}**",
        "",
        "| | |",
        "|---|---:|",
    ]
    for k in (
        "pending",
        "leased",
        "finished",
        "ok",
        "attempts",
        "already_done",
        "leased_elsewhere",
        "blocked_external",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "elapsed_s",
        "requests_per_s",
    ):
        lines.append(f"| {k} | {summary[k]} |")
    for title, key in (
        ("Bad answers (quarantined)", "bad_answers"),
        ("Failures (quarantined)", "failed"),
        ("Not sendable (quarantined)", "unsendable"),
    ):
        if summary[key]:
            lines += ["", f"## {title}", "", "| reason | n |", "|---|---:|"]
            lines += [f"| {r} | {n} |" for r, n in sorted(summary[key].items())]
    create_markdown_artifact("\n".join(lines), key="annotate-summary", description="teacher run summary")
    rows = (
        Warehouse(warehouse)
        .sql("SELECT * FROM teacher_run_summary WHERE run_id = $run_id", {"run_id": summary["run_id"]})
        .to_pylist()
    )
    table = [
        {k: (str(v) if v is not None and not isinstance(v, (int, float)) else v) for k, v in r.items()} for r in rows
    ]
    if table:
        create_table_artifact(table, key="annotate-accounting", description="tokens, cost and latency per model")


@flow(name="annotate", log_prints=True)
def annotate_flow(
    config: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    warehouse: str | None = None,
    sources: list[str] | None = None,
    datasets: list[str] | None = None,
    splits: list[str] | None = None,
    modalities: list[str] | None = None,
    limit: int | None = None,
    wait_for_leases: bool = False,
    retry_failed: bool = False,
    reparse_only: bool = False,
) -> dict[str, Any]:
    """Annotate pending sides (or, with reparse_only, re-derive annotations from stored answers: zero requests)."""
    path = prepare_warehouse(warehouse)
    if reparse_only:
        return reparse_answers(path, model)
    selection = {"sources": sources, "datasets": datasets, "splits": splits, "modalities": modalities, "limit": limit}
    summary = annotate_sides(path, config, backend, model, selection, wait_for_leases, retry_failed)
    report(summary, path)
    return summary


if __name__ == "__main__":
    import sys

    annotate_flow(config=sys.argv[1] if len(sys.argv) > 1 else None)
