"""Roll out a checkpoint on a dataset version, score the rollouts offline, and load both into the warehouse.

Orchestration only. `python -m training.rollout` (torchrun with nproc > 1) and `python -m training.score_rollouts`
run as processes in `python`, the interpreter of a GPU environment if there is one (vLLM lives there, never beside
Prefect); they write folders (docs/interfaces.md), which `umedata.rollouts.load` takes in. Re-running is cheap and
safe: the rollout job skips every key its folder already has, the scorer leaves a folder that holds the same
scoring as it is, and loading adds only keys the warehouse lacks. The pool size P and pool seed are parameters and
are recorded (rollout_scorings, and the RL version built from it); the sampling seed is the rollout's own. Other
settings the flow is not given are the trainer's defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse, run_module, spread
from umedata import rollouts
from umedata.versions import registry
from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def version_dir(warehouse: str, dataset: str) -> str:
    """A version directory as given, or the directory of a registered version (id, prefix or name)."""
    return dataset if (Path(dataset) / "manifest.json").exists() or "://" in dataset else \
        registry.get(warehouse, dataset)["path"]


@task(cache_policy=NO_CACHE)
def load(warehouse: str, folder: str) -> dict[str, Any]:
    return rollouts.load(Warehouse(warehouse), folder).as_dict()


@flow(name="rollouts", log_prints=True)
def rollouts_flow(
    checkpoint: str,
    dataset: str,
    out: str,
    k: int | None = None,
    pool_size: int = 256,  # the reference RL generation batch: the pool the RL trainer's rewards will see
    pool_seed: int = 0,
    sampling_seed: int | None = None,
    split: str = "train",
    max_completion_length: int | None = None,
    backend: str | None = None,
    batch_size: int | None = None,
    launcher: dict[str, Any] | None = None,
    shards: int = 1,
    runner: str = "threads",
    runner_address: str | None = None,
    rollout_args: list[str] | None = None,
    score_args: list[str] | None = None,
    scores_out: str | None = None,
    warehouse: str | None = None,
) -> dict[str, Any]:
    """K rollouts per side of `dataset`'s split (a version directory, or a registered id, prefix or name) from
    `checkpoint` into `out`, scored with pools of `pool_size` pairs per dataset drawn with `pool_seed` into
    `scores_out` (default `<out>/scores-p<P>-s<seed>`), both loaded. None: the trainer's default. `launcher` says
    where the jobs run (umedata.launch: {"kind": "torchrun", "nproc": 8, "python": "/envs/gpu/bin/python"});
    `shards` > 1 spreads the rollouts over that many processes on `runner` (threads | dask | ray at
    `runner_address`: one GPU worker each), which write into the same folder; the scoring and the load run once."""
    path = prepare_warehouse(warehouse)
    vdir = version_dir(path, dataset)
    given = {"--k": k, "--seed": sampling_seed, "--max-completion-length": max_completion_length,
             "--backend": backend, "--batch-size": batch_size}
    args = ["--checkpoint", checkpoint, "--dataset", vdir, "--split", split, "--out", out,
            *[x for f, v in given.items() if v is not None for x in (f, str(v))], *(rollout_args or [])]
    if shards <= 1:
        run_module("training.rollout", args, launcher, out)
    else:  # independent processes, each its share of the sides (the rollout job's ranks, without collectives)
        if (launcher or {}).get("kind", "local") != "local":
            raise ValueError("shards spread single processes over a task runner: use a local launcher with them")
        env = (launcher or {}).get("env", {})
        spread(run_module, [{"module": "training.rollout", "args": args, "jobs_dir": out, "launcher": {
            **(launcher or {}), "env": {**env, "RANK": str(i), "WORLD_SIZE": str(shards)}}} for i in range(shards)],
               runner, runner_address)
    scores_out = scores_out or str(Path(out) / f"scores-p{pool_size}-s{pool_seed}")
    run_module("training.score_rollouts",
               ["--rollouts", out, "--dataset", vdir, "--out", scores_out, "--pool-size", str(pool_size),
                "--seed", str(pool_seed), *(score_args or [])], {**(launcher or {}), "nproc": 1, "nodes": 1}, out)
    loaded = [load(path, out), load(path, scores_out)]
    create_table_artifact(key="rollouts-loaded", table=loaded, description=f"rollouts of {checkpoint} on {vdir}")
    return {"run_id": loaded[0]["id"], "scoring_id": loaded[1]["id"], "rollouts_new": loaded[0]["new"],
            "rewards_new": loaded[1]["new"], "quarantined": loaded[0]["quarantined"] + loaded[1]["quarantined"],
            "rollouts_dir": out, "scores_dir": scores_out}
