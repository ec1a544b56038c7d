"""Train flow: launch SFT or GRPO as its own process, follow it, and record the run in the warehouse.

Orchestration only. The trainer runs as `python -m training.sft|grpo` here, under torchrun, as a Slurm job or as a
Kubernetes Job (umedata.launch; `launcher` says which and with which Python — the GPU environment may differ from
the data environment). Its output streams into the flow's log. The run is registered in `training_runs` as
finished, or as failed with the trainer's last lines, and a failed trainer fails the flow. Trainer settings the
flow is not given are the trainer's own defaults (the recipe's): `args` passes only what it is told. An `out`
folder that holds a finished run's model is not trained again; one with checkpoints resumes from the latest (the
trainer's exact resume), so a re-run after a failure continues where it stopped.

    train_flow(stage="sft", dataset="warehouse/versions/ID", out="runs/sft", model="Qwen/Qwen2-VL-2B-Instruct",
               launcher={"kind": "slurm", "python": "/envs/gpu/bin/python", "nproc": 8, "nodes": 2})
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse, run_module
from umedata import training_runs
from umedata.clock import utcnow
from umedata.warehouse import Warehouse

MODULES = {"sft": "training.sft", "grpo": "training.grpo"}


def flags(args: dict[str, Any]) -> list[str]:
    """{"lr": 2e-3, "packed": True, "blank_image": False} -> --lr 2e-3 --packed --no-blank-image."""
    out: list[str] = []
    for key, value in args.items():
        name = "--" + key.replace("_", "-")
        if value is True:
            out.append(name)
        elif value is False:
            out.append("--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            out += [name, *map(str, value)]
        elif value is not None:
            out += [name, str(value)]
    return out


@task(cache_policy=NO_CACHE)
def record(warehouse: str, out: str, stage: str, status: str, started: Any, error: str | None, model: str) -> dict:
    return training_runs.record(Warehouse(warehouse), out, stage, status, started, None, error, base_model=model)


@flow(name="train", log_prints=True)
def train_flow(
    stage: str,
    dataset: str,
    out: str,
    model: str | None = None,
    args: dict[str, Any] | None = None,
    launcher: dict[str, Any] | None = None,
    warehouse: str | None = None,
) -> dict[str, Any]:
    """Train `stage` (sft | grpo) on a dataset version from `model` (sft: a base model, default a tiny random one
    built under `out` for CPU runs; grpo: the SFT model folder RL starts from)."""
    if stage not in MODULES:
        raise ValueError(f"stage must be one of {sorted(MODULES)}")
    path = prepare_warehouse(warehouse)
    started = utcnow()
    if model is None:
        if stage != "sft":
            raise ValueError("grpo starts from an SFT model folder: pass model")
        model = str(Path(out) / "base-tiny")
        if not (Path(model) / "config.json").exists():
            run_module("training.tiny", ["--out", model], {"python": (launcher or {}).get("python", sys.executable)})
    if (Path(out) / "model" / "umedata_run.json").exists():  # finished before: its model is what this run would make
        get_run_logger().info("%s already holds a finished %s run: nothing to train", out, stage)
        return record(path, out, stage, "finished", started, None, model)
    resume = ["--resume"] if any((Path(out) / "checkpoints").glob("step_*")) else []  # a stopped run continues
    cli = ["--dataset", dataset, "--model", model, "--out", out, "--no-progress", *resume, *flags(args or {})]
    try:
        run_module(MODULES[stage], cli, launcher, str(Path(out) / "jobs"))
    except Exception as exc:
        record(path, out, stage, "failed", started, str(exc), model)
        raise
    return record(path, out, stage, "finished", started, None, model)
