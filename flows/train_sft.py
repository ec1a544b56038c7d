"""SFT flow: launch the trainer on a dataset version, evaluate the result, record the run in the warehouse.

Orchestration only. The trainer runs as its own process (`python -m training.sft`, or torchrun with nproc > 1), so
it can live in a GPU environment of its own (`python` names that interpreter). Trainer settings the flow is not
given are the trainer's own defaults (the recipe's): it passes only what it is told. The run is recorded as
finished or, with the trainer's error, as failed (umedata.training_runs).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import launch, prepare_warehouse
from umedata import training_runs
from umedata.clock import utcnow
from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def run_trainer(python: str, module: str, nproc: int, args: list[str]) -> None:
    head = [python, "-m", module] if nproc <= 1 else \
        [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", module]
    launch(head + args)


@task(cache_policy=NO_CACHE)
def record(warehouse: str, out: str, status: str, started: Any, report: dict | None, error: str | None,
           base_model: str) -> None:
    training_runs.record(Warehouse(warehouse), out, "sft", status, started, report, error, base_model=base_model)
    if report:
        create_table_artifact(key="sft-eval", description=f"evaluation of {out}", table=[
            {"dataset": name, **{k: d.get(k) for k in ("metric", "queries", "chance", "disc", "gen", "oracle")}}
            for name, d in report["datasets"].items()])


@flow(name="train-sft", log_prints=True)
def train_sft_flow(
    dataset: str,
    out: str,
    model: str | None = None,
    steps: int | None = None,
    micro_batch: int | None = None,
    lr: float | None = None,
    nproc: int = 1,
    extra_args: list[str] | None = None,
    eval_args: list[str] | None = None,
    warehouse: str | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Train on `dataset` (a version directory) from `model` (default: a tiny random model built under `out`, for
    CPU runs); None means the trainer's default for steps, micro_batch and lr."""
    import json

    path = prepare_warehouse(warehouse)
    started = utcnow()
    if model is None:
        model = str(Path(out) / "base-tiny")
        if not (Path(model) / "config.json").exists():
            run_trainer(python, "training.tiny", 1, ["--out", model])
    given = {"--steps": steps, "--micro-batch": micro_batch, "--lr": lr}
    args = ["--dataset", dataset, "--model", model, "--out", out, "--no-progress",
            *[x for k, v in given.items() if v is not None for x in (k, str(v))], *(extra_args or [])]
    eval_out = str(Path(out) / "eval.json")
    try:
        run_trainer(python, "training.sft", nproc, args)
        run_trainer(python, "training.evaluate", 1, ["--model", str(Path(out) / "model"), "--dataset", dataset,
                                                     "--split", "eval", "--out", eval_out, *(eval_args or [])])
    except Exception as exc:
        record(path, out, "failed", started, None, str(exc), model)
        raise
    report = json.loads(Path(eval_out).read_text())
    record(path, out, "finished", started, report, None, model)
    return report["mean"]
