"""The RL-set half end to end on the bundled sample, with the real trainer processes: a tiny SFT checkpoint, a
rollout job killed with SIGKILL, the rollouts flow run by name (re-runs the job, scores, loads), build-rl-set from
the command line; then everything again, which generates, loads and writes nothing new."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rollout_fixtures import has_shards, steered_dir  # noqa: F401  (pytest fixture)
from training_fixtures import REPO, kill_when, python
from typer.testing import CliRunner

from umedata.cli import app
from umedata.ingest import ingest_source
from umedata.sources.config import load_sources
from umedata.teacher.annotate import run_teacher
from umedata.teacher.config import load_config
from umedata.versions import SftSpec, build_sft_set, read_rows

SAMPLE = REPO / "examples" / "sample" / "sources.toml"
K, CAP = 3, 12


def cli(*args) -> dict:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def shard_keys(out: Path) -> list[str]:
    return pa.concat_tables([pq.read_table(p, columns=["rollout_key"]) for p in
                             sorted((out / "rollouts").glob("part-*.parquet"))]).column(0).to_pylist()


@pytest.mark.slow
def test_sample_to_rl_version_with_a_killed_rollout_job(prefect_harness, warehouse, steered_dir, tmp_path):  # noqa: F811
    import torch

    from flows.run import main as run_by_name
    from training import sft

    torch.set_num_threads(1)
    # the bundled sample's image datasets, annotated by the offline teacher; an SFT version of a few of its pairs
    for spec in load_sources(SAMPLE):
        if spec.name == "shapes-mmeb":
            ingest_source(warehouse, spec)
    run_teacher(warehouse, load_config(None, backend="offline"))
    version = build_sft_set(warehouse, SftSpec(name="sample-sft", split_mode="source", datasets=("ShapesCls", "ShapesI2T"),
                                               caps={"ShapesCls": 40, "ShapesI2T": 24}))
    train = read_rows(version.path, columns=["qry_side_id", "pos_side_id"], splits=["train"])
    sides = set(train.column("qry_side_id").to_pylist()) | set(train.column("pos_side_id").to_pylist())
    # the tiny SFT checkpoint: a few steps from the tiny model (steered so its completions end, some in format)
    sft.main(["--dataset", version.path, "--model", str(steered_dir), "--out", str(tmp_path / "sft"), "--steps", "3",
              "--micro-batch", "8", "--no-progress", "--threads", "1"])
    model = tmp_path / "sft" / "model"

    # a rollout job killed mid-run (SIGKILL) after a few complete shards
    out = tmp_path / "rollouts"
    args = ["--checkpoint", model, "--dataset", version.path, "--out", out, "--k", K, "--max-completion-length", CAP,
            "--batch-size", 2, "--threads", 1]
    kill_when([python(), "-m", "training.rollout", *args], has_shards(out, 2))
    before = set(shard_keys(out))
    assert 0 < len(before) < len(sides) * K

    # the rollouts flow, by name as `umedata run rollouts` runs it: completes the job, scores, loads
    params = ["--param", f"checkpoint={model}", "--param", f"dataset={version.version_id}", "--param", f"out={out}",
              "--param", f"k={K}", "--param", f"max_completion_length={CAP}", "--param", "pool_size=16",
              "--param", "rollout_args=[\"--threads\", \"1\", \"--batch-size\", \"8\"]",
              "--param", "score_args=[\"--threads\", \"1\"]", "--param", f"warehouse={warehouse.path}"]
    first = run_by_name(["rollouts", *params])
    keys = shard_keys(out)
    assert len(keys) == len(set(keys)) == len(sides) * K  # every key once: nothing finished was generated again
    assert first["rollouts_new"] == len(sides) * K and first["quarantined"] == 0
    n = warehouse.sql("SELECT count(*) AS n, count(DISTINCT rollout_key) AS d FROM rollouts").to_pylist()[0]
    assert n == {"n": len(sides) * K, "d": len(sides) * K}

    built = cli("build-rl-set", "--target", 30, "--allocation", "equal", "-w", warehouse.path, "-f", "json")
    rl_rows = read_rows(built["path"]).to_pylist()
    assert built["kind"] == "rl" and len(rl_rows) == built["n_rows"] > 0
    rewards: dict[tuple[str, str], list[float]] = {}
    for r in warehouse.sql("SELECT pair_id, role, reward FROM rollout_rewards").to_pylist():
        rewards.setdefault((r["pair_id"], r["role"]), []).append(r["reward"])
    for r in rl_rows:  # every pair of the RL version varies, recomputed here from the warehouse rows
        assert len(rewards[(r["pair_id"], "qry")]) == K
        assert max(np.var(rewards[(r["pair_id"], "qry")], ddof=1), np.var(rewards[(r["pair_id"], "pos")], ddof=1)) > 0
    manifest = json.loads((Path(built["path"]) / "manifest.json").read_text())
    quotas = {(s["dataset_name"], s["modality"]): s["quota"] for s in manifest["selection"]["strata"]}
    per: dict[tuple[str, str], int] = {}
    for r in rl_rows:
        per[(r["dataset_name"], r["modality"])] = per.get((r["dataset_name"], r["modality"]), 0) + 1
    assert all(per[s] <= quotas[s] for s in per) and sum(per.values()) == min(30, sum(
        s["eligible"] for s in manifest["selection"]["strata"]))
    assert manifest["rl"]["checkpoint_id"] == json.loads((out / "manifest.json").read_text())["checkpoint_id"]
    assert manifest["rl"]["scoring"]["pool_size"] == 16

    # again, same inputs: no rollout generated, nothing new loaded, the same version id, no file written
    shards = {p.name: p.stat().st_mtime_ns for p in (out / "rollouts").iterdir()}
    again = run_by_name(["rollouts", *params])
    assert (again["rollouts_new"], again["rewards_new"]) == (0, 0) and again["scoring_id"] == first["scoring_id"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "rollouts").iterdir()} == shards
    same = cli("build-rl-set", "--target", 30, "--allocation", "equal", "-w", warehouse.path, "-f", "json")
    assert same["version_id"] == built["version_id"] and not same["wrote_files"]
