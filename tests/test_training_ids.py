"""One checkpoint id (training/ids.py) wherever a checkpoint is named: what it hashes, and that the rollout keys,
the embedding cache, the evaluation report and GRPO's record of its SFT checkpoint all carry that very id."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from training_fixtures import build_version, tiny_dir  # noqa: F401  (pytest fixture)

from training import evaluate, grpo, ids, rollout
from umedata import ids as warehouse_ids

torch.set_num_threads(1)


def test_digest_is_the_warehouse_digest():
    for parts in (("rollout", "c", "s", "3", "x"), ("checkpoint", "café:00ff"), ("",)):
        assert ids.digest(*parts) == warehouse_ids.digest(*parts)


def _flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))


def test_the_id_hashes_what_the_folder_computes_and_not_where_it_lives(tiny_dir, tmp_path):
    a = ids.checkpoint_id(tiny_dir)
    copy = shutil.copytree(tiny_dir, tmp_path / "elsewhere")
    assert ids.checkpoint_id(copy) == a  # the same files elsewhere
    # run notes, generation defaults (the trainer sets every sampling knob itself) and hidden files do not count
    (copy / "umedata_run.json").write_text('{"steps": 3}')
    (copy / "README.md").write_text("# notes")
    (copy / "generation_config.json").write_text("{}")
    (copy / ".tmp-model.safetensors").write_bytes(b"half written")
    assert ids.checkpoint_id(copy) == a
    # by hand: digest("checkpoint", "name:sha256", ...) over the computing files in name order
    kept = sorted(p for p in copy.iterdir() if p.name not in ids.NOT_COMPUTING and not p.name.startswith("."))
    assert {p.name for p in kept} >= {"config.json", "tokenizer_config.json", "preprocessor_config.json"}
    assert a == warehouse_ids.digest("checkpoint", *[f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
                                                     for p in kept])
    # weights, config and what the renderer reads (tokenizer, chat template, image processor) each change it
    for name in [next(copy.glob("*.safetensors")).name, "config.json", "tokenizer_config.json",
                 "preprocessor_config.json", *[p.name for p in copy.glob("chat_template*")]]:
        changed = shutil.copytree(copy, tmp_path / f"changed-{name}")
        _flip_last_byte(changed / name)
        assert ids.checkpoint_id(changed) != a, name
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no weight files"):
        ids.checkpoint_id(bare)


def test_rollouts_the_embedding_cache_evaluation_and_grpo_carry_the_same_id(tiny_dir, tmp_path):
    # every module that names a checkpoint calls this one function (no copy that could drift)
    assert rollout.checkpoint_id is evaluate.checkpoint_id is grpo.checkpoint_id is ids.checkpoint_id
    want = ids.checkpoint_id(tiny_dir)
    version = build_version(tmp_path / "v", n_train=4, n_eval=4, n_video=0, n_text=0, shards=1)

    m = rollout.main(["--checkpoint", str(tiny_dir), "--dataset", str(version), "--out", str(tmp_path / "ro"),
                      "--k", "2", "--max-completion-length", "2", "--threads", "1"])
    assert m["checkpoint_id"] == want
    for r in pq.read_table(tmp_path / "ro" / m["shards"][0]).to_pylist():
        assert r["rollout_key"] == warehouse_ids.digest("rollout", want, r["side_id"], str(r["k"]), m["sampling_id"])

    report = evaluate.evaluate(str(tiny_dir), str(version), split="eval", gen_mode="teacher", max_queries=2,
                               cache_dir=str(tmp_path / "cache"))
    assert report["checkpoint_id"] == want and Path(report["cache"]["dir"]).parent.name == want

    out = tmp_path / "grpo"
    grpo.main(["--dataset", str(version), "--model", str(tiny_dir), "--out", str(out), "--steps", "1", "--batch", "2",
               "--group", "2", "--max-completion-length", "2", "--no-export", "--no-tensorboard", "--no-progress",
               "--threads", "1"])
    assert json.loads((out / "run.json").read_text())["sft_checkpoint_id"] == want
