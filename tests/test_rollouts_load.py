"""Loading rollout run and score folders: rows by key (a re-load or a resumed run adds only what is new), no
embeddings in the warehouse, every bad row quarantined with its reason while its neighbours land."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_rollouts_data import REWARD_SCHEMA, ROLLOUT_SCHEMA, write_run, write_scores
from test_versions_data import basic_world, world  # noqa: F401  (fixture)

from umedata import rollouts
from umedata.errors import UserError
from umedata.versions import SftSpec, build_sft_set

K = 4


@pytest.fixture
def version(warehouse, world):
    basic_world(world, n=3)
    world.commit(warehouse)
    return build_sft_set(warehouse, SftSpec(eval_fraction=0.0))


def count(wh, table: str) -> int:
    return wh.sql(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()


def test_rollouts_load_once_by_key_without_embeddings(warehouse, version, tmp_path):
    run = write_run(tmp_path / "run", version.path, k=K)
    first = rollouts.load(warehouse, tmp_path / "run")
    n = run["counts"]["rollouts"]
    assert (first.kind, first.rows, first.new, first.quarantined, first.shards) == ("rollouts", n, n, 0, 2)
    assert n == run["counts"]["sides"] * K
    assert "embedding" not in warehouse.sql("SELECT * FROM rollouts LIMIT 1").column_names
    row = warehouse.sql("SELECT * FROM rollout_runs").to_pylist()
    assert len(row) == 1 and row[0]["k"] == K and row[0]["finished"] and row[0]["rollouts"] == n
    # each rollout names the shard holding its embedding, and that shard has it under the same key
    one = warehouse.sql("SELECT rollout_key, shard FROM rollouts ORDER BY rollout_key LIMIT 1").to_pylist()[0]
    shard = pq.read_table(tmp_path / "run" / one["shard"]).to_pylist()
    assert any(r["rollout_key"] == one["rollout_key"] and len(r["embedding"]) == 8 for r in shard)

    again = rollouts.load(warehouse, tmp_path / "run")
    assert (again.rows, again.new) == (n, 0)
    assert count(warehouse, "rollouts") == n and count(warehouse, "rollout_runs") == 1


def test_a_resumed_run_loads_only_its_new_rollouts(warehouse, version, tmp_path):
    run = write_run(tmp_path / "run", version.path, k=K, shards=2)
    manifest = tmp_path / "run" / "manifest.json"
    second = tmp_path / "run" / run["shards"][1]
    held = second.read_bytes()
    second.unlink()  # the run was killed before its second shard was complete
    manifest.write_text(json.dumps({**run, "finished": False}))
    partial = rollouts.load(warehouse, tmp_path / "run")
    assert partial.finished is False and 0 < partial.new < run["counts"]["rollouts"]
    assert warehouse.sql("SELECT finished FROM rollout_runs").column(0).to_pylist() == [False]

    second.write_bytes(held)  # resumed and finished
    manifest.write_text(json.dumps(run))
    done = rollouts.load(warehouse, tmp_path / "run")
    assert done.new == run["counts"]["rollouts"] - partial.new
    assert count(warehouse, "rollouts") == run["counts"]["rollouts"]
    assert warehouse.sql("SELECT finished FROM rollout_runs").column(0).to_pylist() == [True]


def test_bad_rollout_rows_are_quarantined_with_their_reason(warehouse, version, tmp_path):
    run = write_run(tmp_path / "run", version.path, k=K, shards=1)
    path = tmp_path / "run" / run["shards"][0]
    rows = pq.read_table(path).to_pylist()
    rows[0]["rollout_key"] = "0" * 32                      # not the digest of its parts
    rows[1]["k"] = K                                       # beyond the run's K
    rows[2]["format_ok"] = not rows[2]["format_ok"]        # disagrees with the regex on its text
    rows[3]["finish_reason"] = "eos"
    rows[4]["side_id"] = "f" * 32                          # no such side in the warehouse
    rows[4]["rollout_key"] = rollouts.digest("rollout", run["checkpoint_id"], "f" * 32, str(rows[4]["k"]),
                                             run["sampling_id"])
    pq.write_table(pa.Table.from_pylist(rows, schema=ROLLOUT_SCHEMA), path)

    summary = rollouts.load(warehouse, tmp_path / "run")
    assert summary.reasons == {"bad_rollout_key": 1, "bad_k": 1, "format_mismatch": 1, "bad_finish_reason": 1,
                               "unknown_side": 1}
    assert summary.new == len(rows) - 5 == count(warehouse, "rollouts")
    q = warehouse.sql("SELECT stage, what, detail, reason FROM quarantine ORDER BY detail").to_pylist()
    assert [r["what"] for r in q] == [rows[i]["rollout_key"] for i in range(5)]  # the key of the thing refused
    assert [r["detail"].split(",")[0] for r in q] == [f"{run['shards'][0]}:{i}" for i in range(5)]
    assert {r["stage"] for r in q} == {"rollouts"}
    assert warehouse.sql("SELECT quarantined FROM rollout_runs").column(0).to_pylist() == [5]


def test_an_unreadable_shard_is_quarantined_whole_and_the_rest_lands(warehouse, version, tmp_path):
    run = write_run(tmp_path / "run", version.path, k=K, shards=2)
    (tmp_path / "run" / run["shards"][1]).write_bytes(b"not parquet")
    summary = rollouts.load(warehouse, tmp_path / "run")
    assert summary.reasons == {"bad_shard": 1} and summary.new == count(warehouse, "rollouts") > 0
    assert warehouse.sql("SELECT reason FROM quarantine").column(0).to_pylist() == ["bad_shard"]


def test_scores_load_once_and_need_their_run(warehouse, version, tmp_path):
    write_run(tmp_path / "run", version.path, k=K)
    write_scores(tmp_path / "scores", tmp_path / "run", version.path, lambda p, role, k: 0.1 * k, pool_size=3, seed=7)
    with pytest.raises(UserError, match="load its rollout folder first"):
        rollouts.load(warehouse, tmp_path / "scores")
    rollouts.load(warehouse, tmp_path / "run")
    first = rollouts.load(warehouse, tmp_path / "scores")
    n = version.manifest["n_rows"] * 2 * K
    assert (first.kind, first.rows, first.new, first.quarantined) == ("rollout_scores", n, n, 0)
    again = rollouts.load(warehouse, tmp_path / "scores")
    assert again.id == first.id and again.new == 0 and count(warehouse, "rollout_rewards") == n
    s = warehouse.sql("SELECT pool_size, seed, n_pools, run_id FROM rollout_scorings").to_pylist()
    assert s == [{"pool_size": 3, "seed": 7, "n_pools": len(json.loads((tmp_path / "scores" / "manifest.json")
                                                                        .read_text())["pools"]), "run_id": "run-a"}]


def test_bad_reward_rows_are_quarantined_with_their_reason(warehouse, version, tmp_path):
    write_run(tmp_path / "run", version.path, k=K)
    write_scores(tmp_path / "scores", tmp_path / "run", version.path, lambda p, role, k: 0.1 * k)
    rollouts.load(warehouse, tmp_path / "run")
    path = tmp_path / "scores" / "rewards-00000.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[0]["reward"] += 0.5                        # not r_format + r_emb
    rows[1]["r_emb"] = rows[1]["gap"] * 0.5         # not rank x gap (rank is 1)
    rows[2]["pair_id"] = "e" * 32                   # unknown pair
    rows[3]["role"] = "neg"
    qry = next(i for i, r in enumerate(rows) if i > 3 and r["role"] == "qry")
    rows[qry]["role"] = "pos"                       # the pair's target is another side
    rows[qry + 1]["rollout_key"] = "d" * 32         # no such rollout
    rows[qry + 2]["reward"] = float("nan")
    pq.write_table(pa.Table.from_pylist(rows, schema=REWARD_SCHEMA), path)
    summary = rollouts.load(warehouse, tmp_path / "scores")
    assert summary.reasons == {"inconsistent_reward": 1, "inconsistent_r_emb": 1, "unknown_pair": 1, "bad_role": 1,
                               "side_mismatch": 1, "unknown_rollout": 1, "not_finite": 1}
    assert summary.new == len(rows) - 7 == count(warehouse, "rollout_rewards")
    assert set(warehouse.sql("SELECT stage FROM quarantine").column(0).to_pylist()) == {"rewards"}


def test_folders_that_are_not_rollouts_are_refused_clearly(warehouse, version, tmp_path):
    with pytest.raises(rollouts.NotARolloutFolder, match="no manifest.json"):
        rollouts.load(warehouse, tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "sft"}))
    with pytest.raises(rollouts.NotARolloutFolder, match="kind 'sft'"):
        rollouts.load(warehouse, tmp_path)
    run = write_run(tmp_path / "run", version.path, k=K)
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({**run, "format_version": "other/9"}))
    with pytest.raises(rollouts.NotARolloutFolder, match="format version"):
        rollouts.load(warehouse, tmp_path / "run")


def test_views_summarise_runs_and_rewards(warehouse, version, tmp_path):
    write_run(tmp_path / "run", version.path, k=K, format_ok=lambda side, k: k == 0)
    write_scores(tmp_path / "scores", tmp_path / "run", version.path,
                 lambda p, role, k: 0.0 if p["dataset_name"] == "ShapesCls" else 0.1 * k)
    rollouts.load(warehouse, tmp_path / "run")
    rollouts.load(warehouse, tmp_path / "scores")
    warehouse.init()  # views are (re)created on init
    run = warehouse.sql("SELECT * FROM rollout_run_summary").to_pylist()
    assert len(run) == 1 and run[0]["format_rate"] == 0.25 and run[0]["rollouts"] == run[0]["sides"] * K
    rows = {(r["dataset_name"], r["role"]): r for r in warehouse.sql("SELECT * FROM rollout_reward_summary").to_pylist()}
    # ShapesCls: r_emb 0 everywhere, r_format 1 on k = 0 only, so every group varies through its format alone
    assert rows[("ShapesCls", "qry")]["mean_reward"] == 0.25 and rows[("ShapesCls", "qry")]["zero_variance_share"] == 0
    assert rows[("ShapesI2T", "pos")]["mean_reward"] == pytest.approx(0.25 + 0.15, abs=1e-4)


def test_the_same_keys_from_another_run_are_refused_not_mixed(warehouse, version, tmp_path):
    # another backend samples other texts under the same keys (the key names checkpoint, side, k, sampling)
    write_run(tmp_path / "a", version.path, k=K, run_id="run-a")
    write_run(tmp_path / "b", version.path, k=K, run_id="run-b", format_ok=lambda side, k: k % 2 == 1)
    write_scores(tmp_path / "sb", tmp_path / "b", version.path, lambda p, role, k: 0.1 * k)
    rollouts.load(warehouse, tmp_path / "a")
    b = rollouts.load(warehouse, tmp_path / "b")
    assert b.new == 0 and set(b.reasons) == {"key_of_another_run"} and b.quarantined == b.rows
    scores = rollouts.load(warehouse, tmp_path / "sb")
    assert scores.new == 0 and set(scores.reasons) == {"rollout_of_another_run"}


def test_the_same_samples_from_another_run_are_kept_once(warehouse, version, tmp_path):
    # the same checkpoint and sampling rolled out again (another version sharing the sides): the same texts
    write_run(tmp_path / "a", version.path, k=K, run_id="run-a")
    write_run(tmp_path / "b", version.path, k=K, run_id="run-b")
    write_scores(tmp_path / "sb", tmp_path / "b", version.path, lambda p, role, k: 0.1 * k)
    rollouts.load(warehouse, tmp_path / "a")
    b = rollouts.load(warehouse, tmp_path / "b")
    assert (b.new, b.quarantined) == (0, 0)
    scores = rollouts.load(warehouse, tmp_path / "sb")
    assert scores.quarantined == 0 and scores.new == scores.rows > 0
