"""Rollout run and score folders written the way docs/interfaces.md specifies, for the data side's tests.

`write_run` rolls out every distinct side of a version's split K times (texts that pass or fail the format regex,
random unit embeddings); `write_scores` writes rewards whose values the test chooses per (pair, role, k), with
rank = 1 and gap = r_emb so the arithmetic the loader checks holds. Real parquet files, real manifests: the same
folders the trainer writes, without a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from test_versions_data import basic_world, world  # noqa: F401  (fixture)

from umedata.format import FORMAT_REGEX, FORMAT_VERSION
from umedata.ids import digest
from umedata.versions import read_manifest, read_rows

GOOD = "<think>looking</think><answer>a thing<gen_emb><|im_end|>"
BAD = "<think>looking and looking"
DIM = 8

ROLLOUT_SCHEMA = pa.schema([
    ("rollout_key", pa.string()), ("side_id", pa.string()), ("k", pa.int32()), ("text", pa.string()),
    ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()), ("finish_reason", pa.string()),
    ("format_ok", pa.bool_()), ("gen_found", pa.bool_()), ("embedding", pa.list_(pa.float32())),
])
REWARD_SCHEMA = pa.schema([
    ("pool_id", pa.int32()), ("pair_id", pa.string()), ("role", pa.string()), ("side_id", pa.string()),
    ("k", pa.int32()), ("rollout_key", pa.string()), ("r_format", pa.float32()), ("rank", pa.float32()),
    ("gap", pa.float32()), ("r_emb", pa.float32()), ("reward", pa.float32()),
])


def rollout_key(checkpoint_id: str, side_id: str, k: int, sampling_id: str) -> str:
    return digest("rollout", checkpoint_id, side_id, str(k), sampling_id)


def sampling(k: int, seed: int = 0) -> dict[str, Any]:
    return {"k": k, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "max_completion_length": 64, "seed": seed}


def write_run(out: Path, version_dir: str, k: int = 4, split: str = "train", checkpoint_id: str = "ckpt-a",
              run_id: str = "run-a", format_ok: Callable[[str, int], bool] = lambda side, k: k % 2 == 0,
              shards: int = 2, seed: int = 0) -> dict[str, Any]:
    """A finished rollout run folder over the version's split; returns its manifest."""
    rows = read_rows(version_dir, columns=["qry_side_id", "pos_side_id"], splits=[split]).to_pylist()
    sides = sorted({r["qry_side_id"] for r in rows} | {r["pos_side_id"] for r in rows})
    samp = sampling(k, seed)
    sid = digest("sampling", json.dumps(samp, sort_keys=True))
    rng = np.random.default_rng(seed)
    records = []
    for side in sides:
        for j in range(k):
            text = GOOD if format_ok(side, j) else BAD
            e = rng.normal(size=DIM).astype(np.float32)
            records.append({"rollout_key": rollout_key(checkpoint_id, side, j, sid), "side_id": side, "k": j,
                            "text": text, "prompt_tokens": 20, "completion_tokens": len(text) // 4,
                            "finish_reason": "stop" if FORMAT_REGEX.search(text) else "length",
                            "format_ok": bool(FORMAT_REGEX.search(text)), "gen_found": bool(FORMAT_REGEX.search(text)),
                            "embedding": (e / np.linalg.norm(e)).tolist()})
    (out / "rollouts").mkdir(parents=True, exist_ok=True)
    names = []
    for s in range(shards):
        name = f"rollouts/part-r0-{s:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(records[s::shards], schema=ROLLOUT_SCHEMA), out / name)
        names.append(name)
    manifest = {
        "kind": "rollouts", "run_id": run_id, "checkpoint": "/models/tiny", "checkpoint_id": checkpoint_id,
        "dataset_version_id": read_manifest(version_dir)["version_id"], "split": split, "sampling": samp,
        "sampling_id": sid, "backend": "transformers", "format_version": FORMAT_VERSION,
        "embedding": {"dim": DIM, "read_at": "generated <gen_emb>, else the last completion token"},
        "shards": names, "counts": {"sides": len(sides), "rollouts": len(records)}, "finished": True,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def write_scores(out: Path, run_dir: Path, version_dir: str, reward: Callable[[dict, str, int], float],
                 pool_size: int = 4, seed: int = 0, split: str = "train") -> dict[str, Any]:
    """A score folder: pools of `pool_size` pairs per dataset; each rollout's r_emb = reward(pair, role, k) and
    reward = r_format + r_emb. Returns its manifest."""
    run = json.loads((run_dir / "manifest.json").read_text())
    rollouts = pa.concat_tables([pq.read_table(run_dir / s) for s in run["shards"]]).to_pylist()
    by_side = {(r["side_id"], r["k"]): r for r in rollouts}
    pairs = read_rows(version_dir, columns=["pair_id", "dataset_name", "qry_side_id", "pos_side_id"],
                      splits=[split]).to_pylist()
    rng = np.random.default_rng(seed)
    pools: list[list[str]] = []
    for ds in sorted({p["dataset_name"] for p in pairs}):
        ids = [p["pair_id"] for p in pairs if p["dataset_name"] == ds]
        rng.shuffle(ids)
        pools += [ids[i:i + pool_size] for i in range(0, len(ids), pool_size)]
    pool_of = {pid: n for n, pool in enumerate(pools) for pid in pool}
    records = []
    for p in sorted(pairs, key=lambda p: p["pair_id"]):
        for role in ("qry", "pos"):
            side = p[f"{role}_side_id"]
            for j in range(run["sampling"]["k"]):
                r = by_side[(side, j)]
                emb = float(np.float32(reward(p, role, j)))
                fmt = 1.0 if r["format_ok"] else 0.0
                records.append({"pool_id": pool_of[p["pair_id"]], "pair_id": p["pair_id"], "role": role,
                                "side_id": side, "k": j, "rollout_key": r["rollout_key"], "r_format": fmt,
                                "rank": 1.0, "gap": emb, "r_emb": emb, "reward": fmt + emb})
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records, schema=REWARD_SCHEMA), out / "rewards-00000.parquet")
    manifest = {"kind": "rollout_scores", "run_id": run["run_id"], "dataset_version_id": run["dataset_version_id"],
                "pool_size": pool_size, "seed": seed, "pools": [{"pool_id": n, "pairs": len(p)} for n, p in enumerate(pools)],
                "reward": {"definition": "r_format + rank x gap", "format_version": FORMAT_VERSION}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def test_written_folders_follow_the_contract(tmp_path, warehouse, world):
    from umedata.versions import SftSpec, build_sft_set

    basic_world(world, n=2)
    world.commit(warehouse)
    version = build_sft_set(warehouse, SftSpec(eval_fraction=0.0))
    run = write_run(tmp_path / "run", version.path, k=2)
    rows = pq.read_table(tmp_path / "run" / run["shards"][0])
    assert rows.schema.names[:9] == ["rollout_key", "side_id", "k", "text", "prompt_tokens", "completion_tokens",
                                     "finish_reason", "format_ok", "gen_found"]
    scores = write_scores(tmp_path / "scores", tmp_path / "run", version.path, lambda p, role, k: 0.1 * k)
    rewards = pq.read_table(tmp_path / "scores" / "rewards-00000.parquet").to_pylist()
    assert len(rewards) == version.manifest["n_rows"] * 2 * 2 and scores["kind"] == "rollout_scores"
