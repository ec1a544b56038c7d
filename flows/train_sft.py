"""SFT flow: launch the trainer on a dataset version, evaluate the result, record the run in the warehouse.

Orchestration only. The trainer runs as its own process (`python -m training.sft`, or torchrun with nproc > 1), so
it can live in a GPU environment of its own (`python` names that interpreter); it reads only the version
directory and writes files, which this flow loads into `training_runs`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from umedata.warehouse import Warehouse


def _launch(cmd: list[str]) -> None:
    """Run a trainer command, streaming its output into the flow's log (long runs show they are alive)."""
    logger = get_run_logger()
    logger.info("launch: %s", " ".join(cmd))
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            if line.strip():
                logger.info(line.rstrip())
    if proc.returncode:
        raise RuntimeError(f"{cmd[:4]} exited with {proc.returncode}")


@task(cache_policy=NO_CACHE)
def build_tiny_model(out: str, python: str) -> str:
    """A tiny random-weight Qwen2-VL for CPU runs (the demo); real runs pass a checkpoint folder or hub name."""
    if not (Path(out) / "config.json").exists():
        _launch([python, "-m", "training.tiny", "--out", out])
    return out


@task(cache_policy=NO_CACHE)
def run_sft(python: str, nproc: int, args: list[str]) -> None:
    launcher = [python, "-m", "training.sft"] if nproc <= 1 else \
        [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "training.sft"]
    _launch(launcher + args)


@task(cache_policy=NO_CACHE)
def run_eval(python: str, model: str, dataset: str, out: str, args: list[str]) -> dict[str, Any]:
    _launch([python, "-m", "training.evaluate", "--model", model, "--dataset", dataset, "--split", "eval",
             "--out", out, *args])
    return json.loads(Path(out).read_text())


@task(cache_policy=NO_CACHE)
def record_run(warehouse: str | None, out: str, report: dict[str, Any] | None, started: datetime, status: str) -> None:
    run = json.loads((Path(out) / "run.json").read_text())
    metrics = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = metrics[-1] if metrics else {}
    wh = Warehouse(warehouse)
    wh.init()
    batch = wh.stage()
    batch.add("training_runs", [{
        "run_id": str(Path(out).resolve()), "stage": "sft", "dataset_version_id": run.get("dataset_version_id"),
        "base_model": run.get("base_model"), "config": json.dumps(run.get("config", {})), "steps": last.get("step"),
        "final_loss": last.get("loss"), "tokens_per_s": last.get("tokens_per_s"),
        "eval": json.dumps(report) if report else None, "status": status, "started_at": started,
        "finished_at": datetime.now(),
    }], mode="replace")
    wh.commit(batch)
    if report:
        create_table_artifact(key="sft-eval", description=f"evaluation of {out}", table=[
            {"dataset": name, **{k: d[k] for k in ("metric", "queries", "chance", "disc", "gen", "oracle")}}
            for name, d in report["datasets"].items()])


@flow(name="train-sft", log_prints=True)
def train_sft_flow(
    dataset: str,
    out: str,
    model: str | None = None,
    steps: int = 200,
    micro_batch: int = 16,
    lr: float = 2e-3,
    nproc: int = 1,
    extra_args: list[str] | None = None,
    eval_args: list[str] | None = None,
    warehouse: str | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Train on `dataset` (a version directory) from `model` (default: a tiny model built under `out`)."""
    started = datetime.now()
    model = model or build_tiny_model(str(Path(out) / "base-tiny"), python)
    args = ["--dataset", dataset, "--model", model, "--out", out, "--steps", str(steps), "--micro-batch",
            str(micro_batch), "--lr", str(lr), "--no-progress", *(extra_args or [])]
    run_sft(python, nproc, args)
    report = run_eval(python, str(Path(out) / "model"), dataset, str(Path(out) / "eval.json"), eval_args or [])
    record_run(warehouse, out, report, started, "finished")
    return report["mean"]
