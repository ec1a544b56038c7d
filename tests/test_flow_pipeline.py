"""The whole loop on the bundled sample with tiny settings under Prefect; a second run on the same inputs asks the
teacher nothing, rolls nothing out, trains nothing and creates no version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from umedata.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample"
CAP = 16

TINY = dict(
    sft_set={"split_mode": "source", "preference": ["offline-template", "*"]},
    sft={"steps": 4, "lr": 2e-3, "micro_batch": 4, "threads": 1},
    rollout_pool=2, rollouts={"k": 2, "max_completion_length": CAP, "pool_size": 4},
    grpo={"steps": 2, "batch": 4, "group": 2, "max_completion_length": CAP, "lr": 2e-4, "micro_batch": 0,
          "threads": 1},
    evaluation={"max_completion_length": CAP, "max_queries": 3, "threads": 1}, pass_k=[1, 2],
)


def counts(wh: Warehouse) -> dict:
    return wh.query("pipeline_counts").to_pylist()[0]


@pytest.mark.slow
def test_pipeline_runs_the_loop_and_a_second_run_does_nothing_new(prefect_harness, tmp_path):
    from flows.pipeline import pipeline_flow

    wh = Warehouse(tmp_path / "wh" / "umedata.duckdb")
    args = dict(sources=str(SAMPLE / "sources.toml"), eval_sets=str(SAMPLE / "eval_sets.toml"),
                warehouse=str(wh.path), out=str(tmp_path / "runs"), **TINY)
    first = pipeline_flow(**args)
    c1 = counts(wh)
    assert c1["annotations"] > 0 and c1["rollouts"] > 0 and c1["rewards"] > 0
    assert set(first["evals"]) == {"base", "sft", "rl"}
    assert all(set(e["pass@k"]) == {"1", "2"} for e in first["evals"].values())
    assert {r["stage"] for r in wh.sql("SELECT stage FROM training_runs WHERE status = 'finished'").to_pylist()} == {
        "sft", "grpo"}
    versions = wh.sql("SELECT version_id FROM dataset_versions ORDER BY version_id").column(0).to_pylist()
    assert first["versions"]["rl"]["version_id"] in versions

    mtimes = {p: p.stat().st_mtime for p in (tmp_path / "runs").glob("*/model/model.safetensors")}
    second = pipeline_flow(**args)
    c2 = counts(wh)
    for key in ("annotations", "teacher_requests", "rollouts", "rewards", "versions", "pairs", "sides"):
        assert c2[key] == c1[key], key
    last_run = json.loads(wh.sql("SELECT counts FROM teacher_runs ORDER BY started_at DESC LIMIT 1")
                          .column(0)[0].as_py())
    assert last_run["leased"] == 0  # the teacher was asked nothing
    assert {p: p.stat().st_mtime for p in mtimes} == mtimes  # no model trained again
    assert second["versions"]["rl"]["version_id"] == first["versions"]["rl"]["version_id"]
    assert second["evals"]["rl"]["gen"] == first["evals"]["rl"]["gen"]  # the same model, the same cached figures
