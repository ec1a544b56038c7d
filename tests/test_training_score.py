"""python -m training.score_rollouts: seeded pools per dataset and the "Rollout scores" contract."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from rollout_fixtures import small_version, steered_dir  # noqa: F401  (pytest fixtures)
from training_fixtures import REPO, python, subprocess_env

from training import data, reward
from training import rollout as RO
from training import score_rollouts as SC

K = 3
CONTRACT = {"pool_id": pa.int32(), "pair_id": pa.string(), "role": pa.string(), "side_id": pa.string(),
            "k": pa.int32(), "rollout_key": pa.string(), **{c: pa.float32() for c in
                                                            ("r_format", "rank", "gap", "r_emb", "reward")}}


# ------------------------------------------------------------------------------------------------------------ pools
def test_pools_are_seeded_per_dataset_and_a_lone_last_pair_joins_the_pool_before():
    ids = [f"p{i:02d}" for i in range(23)]
    ds = ["a"] * 11 + ["b"] * 9 + ["c"] * 3
    pools = SC.make_pools(ids, ds, 5, seed=0)
    # a: 11 = 5 + 6 (the lone 11th joins), b: 9 = 5 + 4, c: 3
    assert [(d, len(i)) for d, i in pools] == [("a", 5), ("a", 6), ("b", 5), ("b", 4), ("c", 3)]
    for d, idx in pools:
        assert {ds[i] for i in idx} == {d}
    assert sorted(i for _, idx in pools for i in idx) == list(range(23))  # every pair exactly once
    again = SC.make_pools(ids, ds, 5, seed=0)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(pools, again))
    other = SC.make_pools(ids, ds, 5, seed=1)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(pools, other))
    # adding a dataset changes no other dataset's pools; the input order of the pairs does not matter either
    more = SC.make_pools(ids + ["q0", "q1"], ds + ["aa", "aa"], 5, seed=0)
    assert [ids[i] for i in pools[0][1]] == [(ids + ["q0", "q1"])[i] for i in more[0][1]]
    rev = SC.make_pools(ids[::-1], ds[::-1], 5, seed=0)
    assert [ids[i] for i in pools[2][1]] == [ids[::-1][i] for i in rev[2][1]]
    with pytest.raises(ValueError, match="at least 2"):
        SC.make_pools(ids, ds, 1, 0)


# ---------------------------------------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def rolled(steered_dir, small_version, tmp_path_factory):
    out = tmp_path_factory.mktemp("rolled") / "ro"
    RO.main(["--checkpoint", str(steered_dir), "--dataset", str(small_version), "--out", str(out), "--k", str(K),
             "--max-completion-length", "10", "--threads", "1", "--batch-size", "8"])
    return out


def score(*args) -> subprocess.CompletedProcess:
    out = subprocess.run([python(), "-m", "training.score_rollouts", *map(str, args)], cwd=REPO,
                         env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_cli_writes_the_contract_with_the_right_pools(rolled, small_version, tmp_path):
    out = tmp_path / "scores"
    score("--rollouts", rolled, "--dataset", small_version, "--pool-size", 8, "--seed", 7, "--out", out)
    m = json.loads((out / "manifest.json").read_text())
    rm = json.loads((rolled / "manifest.json").read_text())
    assert m["kind"] == "rollout_scores" and m["run_id"] == rm["run_id"]
    assert m["dataset_version_id"] == rm["dataset_version_id"] and (m["pool_size"], m["seed"]) == (8, 7)
    assert m["group_size"] == K and m["reward"] == SC.REWARD
    t = pa.concat_tables([pq.read_table(out / s) for s in m["shards"]])
    assert {f.name: f.type for f in t.schema} == CONTRACT

    table = data.open_version(small_version).read_split("train")
    pairs = {r["pair_id"]: r for r in table.to_pylist()}
    expected = SC.make_pools(table.column("pair_id").to_pylist(), table.column("dataset_name").to_pylist(), 8, 7)
    ids = table.column("pair_id").to_pylist()
    assert m["pools"] == [{"pool_id": i, "dataset": d, "pairs": len(idx)} for i, (d, idx) in enumerate(expected)]
    rows = t.to_pylist()
    assert len(rows) == len(pairs) * 2 * K == m["counts"]["rows"]
    membership = {}
    for r in rows:
        membership.setdefault(r["pool_id"], set()).add(r["pair_id"])
        p = pairs[r["pair_id"]]
        assert r["side_id"] == p["qry_side_id" if r["role"] == "qry" else "pos_side_id"]
    assert membership == {i: {ids[j] for j in idx} for i, (_, idx) in enumerate(expected)}

    # every pool's rewards, recomputed from the rollout shards with training/reward.py, one row per distinct
    # (role, side, k) of the pool
    ro = pa.concat_tables([pq.read_table(p) for p in sorted((rolled / "rollouts").glob("part-*.parquet"))])
    by = {(x["side_id"], x["k"]): x for x in ro.to_pylist()}
    got = {(r["pool_id"], r["pair_id"], r["role"], r["k"]): r for r in rows}
    for pool_id, (_, idx) in enumerate(expected):
        members = [pairs[ids[j]] for j in idx]
        units = sorted({("qry", p["qry_side_id"]) for p in members} | {("pos", p["pos_side_id"]) for p in members})
        code = {s: n for n, s in enumerate(sorted({s for _, s in units}))}
        cells = [(role, s, k) for role, s in units for k in range(K)]
        res = reward.score(
            torch.tensor([by[(s, k)]["embedding"] for _, s, k in cells]),
            torch.tensor([code[s] for _, s, _ in cells]), torch.tensor([role == "pos" for role, _, _ in cells]),
            torch.tensor([by[(s, k)]["format_ok"] for _, s, k in cells]),
            torch.tensor([[code[p["qry_side_id"]], code[p["pos_side_id"]]] for p in members]), group_size=K)
        for n, (role, s, k) in enumerate(cells):
            for p in members:
                if p["qry_side_id" if role == "qry" else "pos_side_id"] != s:
                    continue
                r = got[(pool_id, p["pair_id"], role, k)]
                assert r["rollout_key"] == by[(s, k)]["rollout_key"]
                for part in ("r_format", "rank", "gap", "r_emb", "reward"):
                    assert r[part] == pytest.approx(float(getattr(res, part)[n]), abs=1e-5)
    # the captions repeat across pairs: a pool where two pairs share a target has |P| > K for their queries
    assert any(len({pairs[ids[j]]["pos_side_id"] for j in idx}) < len(idx) for _, idx in expected)


def test_same_scoring_is_kept_another_into_the_same_folder_is_refused(rolled, small_version, tmp_path):
    out = tmp_path / "scores"
    args = ["--rollouts", str(rolled), "--dataset", str(small_version), "--pool-size", "4", "--out", str(out)]
    first = SC.main(args)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert SC.main(args) == first
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    with pytest.raises(SystemExit, match="another scoring"):
        SC.main(args[:-2] + ["--seed", "1", "--out", str(out)])


def test_embeddings_read_in_memory_groups_give_the_same_rows(rolled, small_version, tmp_path):
    args = ["--rollouts", str(rolled), "--dataset", str(small_version), "--pool-size", "3", "--seed", "2"]
    one = SC.main(args + ["--out", str(tmp_path / "one")])
    many = SC.main(args + ["--out", str(tmp_path / "many"), "--max-memory-gb", "1e-6", "--rows-per-shard", "10"])
    assert one["counts"]["memory_groups"] == 1 and many["counts"]["memory_groups"] == 3  # one per dataset
    assert len(many["shards"]) > 1

    def read(d, m):
        return pa.concat_tables([pq.read_table(tmp_path / d / s) for s in m["shards"]])

    assert read("one", one).equals(read("many", many))


def test_a_version_or_run_that_does_not_match_is_refused(rolled, small_version, tmp_path):
    from training_fixtures import build_version

    other = build_version(tmp_path / "other", n_train=4, n_eval=2, n_video=0, n_text=0, seed=5)
    with pytest.raises(SystemExit, match="rolled out version"):
        SC.main(["--rollouts", str(rolled), "--dataset", str(other), "--out", str(tmp_path / "s")])
    m = json.loads((rolled / "manifest.json").read_text())
    unfinished = tmp_path / "unfinished"
    (unfinished / "rollouts").mkdir(parents=True)
    (unfinished / "manifest.json").write_text(json.dumps({**m, "finished": False}))
    first = sorted((rolled / "rollouts").glob("part-*.parquet"))[0]
    (unfinished / "rollouts" / first.name).write_bytes(first.read_bytes())
    with pytest.raises(SystemExit, match="not finished"):
        SC.main(["--rollouts", str(unfinished), "--dataset", str(small_version), "--out", str(tmp_path / "s")])
    part = SC.main(["--rollouts", str(unfinished), "--dataset", str(small_version), "--out", str(tmp_path / "s"),
                    "--allow-unfinished"])
    assert part["counts"]["skipped_pairs"] > 0
    assert part["counts"]["rows"] == (part["counts"]["pairs"]) * 2 * K
