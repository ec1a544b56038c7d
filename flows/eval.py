"""Eval flow: (ingest eval sets,) export them, launch the evaluator on a checkpoint, record the scores.

Orchestration only, around the library functions `umedata eval` uses: umedata.evals.ingest / export / results and
umedata.evals.command for the command line. The evaluator runs as its own process where `launcher` says
(umedata.launch; its Python may be a GPU environment's), so this flow never imports training. The report JSON is
kept beside the checkpoint; an artifact shows its per-set and per-category figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse, run_module
from umedata.clock import utcnow
from umedata.evals import command, results
from umedata.evals.export import export_eval_sets
from umedata.evals.ingest import ingest_eval_set
from umedata.sources.eval_config import load_eval_sets
from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def ingest_sets(warehouse: str, config: str) -> list[dict[str, Any]]:
    return [ingest_eval_set(Warehouse(warehouse), spec).as_dict() for spec in load_eval_sets(config)]


@task(cache_policy=NO_CACHE)
def export(warehouse: str, names: list[str] | None, store: str | None) -> dict[str, Any]:
    return export_eval_sets(Warehouse(warehouse), names, store)


@task(cache_policy=NO_CACHE)
def record(warehouse: str, report: dict[str, Any], checkpoint: str, stage: str | None, started: Any) -> str:
    run_id = results.record(Warehouse(warehouse), report, checkpoint, stage, started)
    rows = [{"eval_set": n, **{k: d.get(k) for k in ("category", "metric", "queries", "chance", "disc", "gen",
                                                      "oracle", "gen_emb_share")}} for n, d in report["datasets"].items()]
    rows += [{"eval_set": f"[{c}]", "category": c, **{k: v[k] for k in ("chance", "disc", "gen", "oracle")}}
             for c, v in report["categories"].items()]
    create_table_artifact(key="eval", table=rows, description=f"evaluation of {checkpoint} (run {run_id[:12]})")
    return run_id


@flow(name="eval", log_prints=True)
def eval_flow(
    checkpoint: str,
    eval_sets: list[str] | None = None,
    config: str | None = None,
    warehouse: str | None = None,
    store: str | None = None,
    stage: str | None = None,
    pass_k: list[int] | None = None,
    settings: dict[str, Any] | None = None,
    launcher: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate `checkpoint` on the registered eval sets (`eval_sets`: a subset; `config`: ingest these first).
    `settings` are the evaluator's (max_completion_length, batch_size, threads, ...; unset: its defaults)."""
    path = prepare_warehouse(warehouse)
    if config:
        ingest_sets(path, config)
    exported = export(path, eval_sets, store)
    out = command.report_path(checkpoint, exported["eval_dir_id"])
    cache = str(Path(path).resolve().parent / "eval-cache")
    cmd = command.evaluate_command(checkpoint, exported["path"], out, None, pass_k, cache, **(settings or {}))
    started = utcnow()
    run_module("training.evaluate", cmd[3:], {**(launcher or {}), "nproc": 1, "nodes": 1}, str(Path(out).parent))
    report = json.loads(Path(out).read_text())
    run_id = record(path, report, checkpoint, stage, started)
    return {"run_id": run_id, "report": out, "mean": report["mean"], "categories": report["categories"]}
