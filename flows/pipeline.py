"""The whole loop as one flow: ingest -> annotate -> validate -> SFT set -> SFT -> rollouts -> RL set -> GRPO -> eval.

Orchestration only: every step is one of the stage flows (each also a deployment of its own), called in order.
Every step skips work already done, from what the warehouse and the run folders say, not from Prefect's caches:
ingest and the eval sets by content ids, the teacher by request keys, validation by stored check values, versions
by content id, training by content-addressed run folders (a folder with a finished model is not trained again;
one with checkpoints resumes), rollouts by rollout keys, evaluation by the embedding cache. So a re-run after a
failure resumes where it stopped, and a second run on the same inputs asks the teacher nothing, rolls nothing out
and creates no version.

    umedata run pipeline --params examples/pipeline.toml        # the same loop on a real teacher and model

Settings it is not given are each stage's own defaults (the recipe's); `student` is a model folder or hub name
(default: a tiny random Qwen2-VL built under `out`, for CPU runs); `launcher` says where training, rollouts and
evaluation run (umedata.launch: here, torchrun, Slurm, Kubernetes).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.annotate import annotate_flow
from flows.build_rl_set import build_rl_set_flow
from flows.build_sft_set import build_sft_set_flow
from flows.common import prepare_warehouse, run_module
from flows.eval import eval_flow, ingest_sets
from flows.ingest import ingest_flow
from flows.rollouts import rollouts_flow
from flows.train import train_flow
from flows.validate import validate_flow
from umedata import pipeline_report
from umedata.ids import digest
from umedata.warehouse import Warehouse


def run_dir(out: str, stage: str, *inputs: Any) -> str:
    """A run folder named by what decides its result, so the same inputs find the same (finished) run."""
    return str(Path(out) / f"{stage}-{digest(stage, *map(str, inputs))[:12]}")


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    sources: str = "examples/sample/sources.toml",
    eval_sets: str | None = "examples/sample/eval_sets.toml",
    teacher: str | None = None,
    student: str | None = None,
    warehouse: str | None = None,
    out: str = "runs/pipeline",
    checks: str | None = None,
    sft_set: dict[str, Any] | None = None,
    sft: dict[str, Any] | None = None,
    rollout_pool: int | None = None,
    rollouts: dict[str, Any] | None = None,
    rl_set: dict[str, Any] | None = None,
    grpo: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    pass_k: list[int] | None = None,
    launcher: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """teacher: a teacher config TOML (None: the offline stand-in). rollout_pool: train pairs per dataset rolled
    out for curation (None: every pair of the SFT version). sft / grpo: trainer flags; sft_set, rollouts, rl_set:
    those flows' parameters; evaluation: the evaluator's settings."""
    wh = prepare_warehouse(warehouse)
    ingest_flow(sources, wh)
    if eval_sets:
        ingest_sets(wh, eval_sets)  # before any version: versions are decontaminated against the eval sets
    annotate_flow(config=teacher, backend=None if teacher else "offline", warehouse=wh)
    base = student or str(Path(out) / "base-tiny")
    if student is None and not (Path(base) / "config.json").exists():  # a tiny random student for CPU runs
        run_module("training.tiny", ["--out", base], {"python": (launcher or {}).get("python") or sys.executable})
    validate_flow(warehouse=wh, config=checks, student=base if Path(base).is_dir() else None)
    version = build_sft_set_flow(warehouse=wh, **{"name": "sft", **(sft_set or {})})
    ev = dict(evaluation or {})
    evals = {"base": eval_flow(checkpoint=base, warehouse=wh, stage="base", pass_k=pass_k, settings=ev,
                               launcher=launcher)}
    sft_out = run_dir(out, "sft", version["version_id"], base, sorted((sft or {}).items()))
    train_flow(stage="sft", dataset=version["path"], out=sft_out, model=base, args=sft, launcher=launcher,
               warehouse=wh)
    sft_model = str(Path(sft_out) / "model")
    evals["sft"] = eval_flow(checkpoint=sft_model, warehouse=wh, stage="sft", pass_k=pass_k, settings=ev,
                             launcher=launcher)

    pool = version
    if rollout_pool:
        datasets = sorted({r["dataset_name"] for r in version["rows"]})
        pool = build_sft_set_flow(warehouse=wh, **{**(sft_set or {}), "name": "rl-pool", "source_splits": ["train"],
                                                   "caps": {d: rollout_pool for d in datasets}})
    roll_out = run_dir(out, "rollouts", pool["version_id"], sft_out, sorted((rollouts or {}).items()))
    rolled = rollouts_flow(checkpoint=sft_model, dataset=pool["path"], out=roll_out, launcher=launcher, warehouse=wh,
                           **(rollouts or {}))
    rl = build_rl_set_flow(warehouse=wh, sft_version=pool["version_id"], scoring=rolled["scoring_id"],
                           **(rl_set or {}))
    grpo_out = run_dir(out, "grpo", rl["version_id"], sft_out, sorted((grpo or {}).items()))
    train_flow(stage="grpo", dataset=rl["path"], out=grpo_out, model=sft_model, args=grpo, launcher=launcher,
               warehouse=wh)
    evals["rl"] = eval_flow(checkpoint=str(Path(grpo_out) / "model"), warehouse=wh, stage="rl", pass_k=pass_k,
                            settings=ev, launcher=launcher)

    summary = pipeline_report.summary(Warehouse(wh), {"sft": version, "rl-pool": pool, "rl": rl}, evals)
    create_markdown_artifact("# The loop\n\n" + pipeline_report.to_markdown(summary), key="pipeline",
                             description="the loop, stage by stage")
    return summary
