"""python -m training.rollout on the tiny model: the "Rollout run folder" contract, re-runs, SIGKILL, torchrun."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rollout_fixtures import has_shards, small_version, steered_dir  # noqa: F401  (pytest fixtures)
from training_fixtures import REPO, build_version, kill_when, python, subprocess_env

from training import data
from training import rollout as RO
from training.ids import checkpoint_id
from umedata import ids
from umedata.format import FORMAT_REGEX, FORMAT_VERSION, GEN_EMB, IM_END

K, CAP = 3, 12
CONTRACT = {"rollout_key": pa.string(), "side_id": pa.string(), "k": pa.int32(), "text": pa.string(),
            "prompt_tokens": pa.int32(), "completion_tokens": pa.int32(), "finish_reason": pa.string(),
            "format_ok": pa.bool_(), "gen_found": pa.bool_(), "embedding": pa.list_(pa.float32())}


def run(*args, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run([python(), "-m", "training.rollout", *map(str, args)], cwd=REPO, env=subprocess_env(),
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def common(model, version, out, *extra):
    return ["--checkpoint", model, "--dataset", version, "--out", out, "--k", K, "--max-completion-length", CAP,
            "--threads", 1, *extra]


def rows(out: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((out / "rollouts").glob("part-*.parquet"))])


def distinct_side_ids(version: Path) -> set[str]:
    t = data.open_version(version).read_split("train")
    return set(t.column("qry_side_id").to_pylist()) | set(t.column("pos_side_id").to_pylist())


def test_cli_writes_the_contract_and_a_rerun_generates_nothing(steered_dir, small_version, tmp_path):
    out = tmp_path / "ro"
    first = run(*common(steered_dir, small_version, out, "--batch-size", 4))
    m = json.loads((out / "manifest.json").read_text())
    sides = distinct_side_ids(small_version)
    ckpt = checkpoint_id(steered_dir)
    sampling = {"k": K, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "max_completion_length": CAP, "seed": 0}
    assert m["kind"] == "rollouts" and m["finished"] is True
    assert m["checkpoint_id"] == ckpt and m["checkpoint"] == str(steered_dir)
    assert m["dataset_version_id"] == data.open_version(small_version).version_id and m["split"] == "train"
    assert m["sampling"] == sampling and m["backend"] == "transformers" and m["format_version"] == FORMAT_VERSION
    assert m["sampling_id"] == ids.digest("sampling", json.dumps(sampling, sort_keys=True))
    assert m["embedding"] == {"dim": 64, "read_at": "generated <gen_emb>, else the last completion token"}
    assert m["shards"] == sorted(str(p.relative_to(out)) for p in (out / "rollouts").glob("part-r0-*.parquet"))
    assert len(m["shards"]) == -(-len(sides) // 4)  # one shard per generation batch
    assert not list((out / "rollouts").glob(".tmp*"))

    t = rows(out)
    assert {f.name: f.type for f in t.schema} == CONTRACT
    r = t.to_pylist()
    assert len(r) == len(sides) * K and {x["side_id"] for x in r} == sides  # each distinct side once, K times
    assert sorted((x["side_id"], x["k"]) for x in r) == sorted((s, k) for s in sides for k in range(K))
    for x in r:
        assert x["rollout_key"] == ids.digest("rollout", ckpt, x["side_id"], str(x["k"]), m["sampling_id"])
        assert x["format_ok"] == (FORMAT_REGEX.search(x["text"]) is not None)
        assert x["gen_found"] == (GEN_EMB in x["text"])  # the completion's own <gen_emb>, never the prompt's
        assert 0 < x["completion_tokens"] <= CAP and x["prompt_tokens"] > 0
        assert (x["finish_reason"] == "stop") == x["text"].endswith(IM_END)
        assert x["finish_reason"] in ("stop", "length")
        assert abs(np.linalg.norm(x["embedding"]) - 1) < 1e-4
    counts = m["counts"]
    assert counts["rollouts"] == len(r) and counts["sides"] == len(sides)
    assert counts["stop"] == sum(x["finish_reason"] == "stop" for x in r) > 0 and counts["length"] > 0
    assert counts["gen_found"] == sum(x["gen_found"] for x in r) > 0
    assert "0 already done" in first.stdout

    before = {p.name: p.stat().st_mtime_ns for p in (out / "rollouts").iterdir()}
    again = run(*common(steered_dir, small_version, out, "--batch-size", 4))
    assert f"{len(sides)} already done, 0 to generate" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / "rollouts").iterdir()} == before
    assert json.loads((out / "manifest.json").read_text()) == m


def test_a_folder_holds_one_run(steered_dir, small_version, tmp_path):
    out = tmp_path / "ro"
    first = RO.main([str(a) for a in common(steered_dir, small_version, out, "--batch-size", 8)])
    with pytest.raises(SystemExit, match="differs in sampling"):
        RO.main([str(a) for a in common(steered_dir, small_version, out, "--seed", 1)])
    assert json.loads((out / "manifest.json").read_text()) == first  # untouched


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_generates_no_finished_key_twice(steered_dir, tmp_path):
    version = build_version(tmp_path / "v", n_train=24, n_eval=2, n_video=0, n_text=0, shards=1)
    sides = distinct_side_ids(version)
    out = tmp_path / "ro"
    args = common(steered_dir, version, out, "--batch-size", 1)
    kill_when([python(), "-m", "training.rollout", *args], has_shards(out, 3), timeout=240)
    killed = rows(out)
    done_before = set(killed.column("rollout_key").to_pylist())
    assert 3 * K <= len(done_before) < len(sides) * K
    assert json.loads((out / "manifest.json").read_text())["finished"] is False
    names_before = {p.name for p in (out / "rollouts").glob("part-*.parquet")}

    rerun = run(*args)
    assert f"{len(done_before) // K} already done, {len(sides) - len(done_before) // K} to generate" in rerun.stdout
    t = rows(out)
    keys = t.column("rollout_key").to_pylist()
    assert len(keys) == len(set(keys)) == len(sides) * K  # every key exactly once
    new = pa.concat_tables([pq.read_table(out / "rollouts" / n) for n in
                            sorted({p.name for p in (out / "rollouts").glob("part-*.parquet")} - names_before)])
    assert not set(new.column("rollout_key").to_pylist()) & done_before  # nothing finished was generated again
    assert json.loads((out / "manifest.json").read_text())["finished"] is True
    assert not list((out / "rollouts").glob(".tmp*"))


@pytest.mark.slow
def test_torchrun_ranks_split_the_sides_and_write_what_one_process_writes(steered_dir, small_version, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run(*common(steered_dir, small_version, one, "--batch-size", 4))
    out = subprocess.run([python(), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "training.rollout", *map(str, common(steered_dir, small_version, two, "--batch-size", 4))],
                         cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads((two / "manifest.json").read_text())
    assert m["finished"] is True and m["run_id"] == json.loads((one / "manifest.json").read_text())["run_id"]
    assert {p.name.split("-")[1] for p in (two / "rollouts").glob("part-*.parquet")} == {"r0", "r1"}
    a, b = rows(one).sort_by("rollout_key"), rows(two).sort_by("rollout_key")
    assert a.column("rollout_key").equals(b.column("rollout_key"))
    assert a.column("text").equals(b.column("text"))  # per-(side, k) streams: the rank does not matter
    ea, eb = np.array(a.column("embedding").to_pylist()), np.array(b.column("embedding").to_pylist())
    assert np.abs(ea - eb).max() < 1e-4
