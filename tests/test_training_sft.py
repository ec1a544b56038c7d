"""The SFT entry point end to end on tiny runs: trainable parts, LoRA, Qwen2.5-VL, outputs on disk."""

from __future__ import annotations

import json

import pytest
import torch
from training_fixtures import tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import model as M
from training import setup, sft, tiny
from umedata.format import DISC_EMB, GEN_EMB, INIT_FROM

torch.set_num_threads(1)


def _trainable(tiny_dir, *flags):
    hf, tok = M.load(str(tiny_dir))
    ids = M.add_embedding_tokens(hf, tok)
    args = sft.parse_args(["--dataset", "x", "--model", "x", *flags])
    hf = setup.set_trainable(hf, args, list(ids.values()))
    return {n for n, p in hf.named_parameters() if p.requires_grad}


def test_default_trains_llm_and_merger_with_the_vit_frozen(tiny_dir):
    names = _trainable(tiny_dir)
    assert any(".merger." in n for n in names)
    assert any("language_model.layers" in n for n in names) and "lm_head.weight" in names
    assert not any("visual.blocks" in n or "visual.patch_embed" in n for n in names)
    assert any("visual.blocks" in n for n in _trainable(tiny_dir, "--train-vit"))
    assert not any(".merger." in n for n in _trainable(tiny_dir, "--no-train-merger"))
    assert not any("language_model" in n for n in _trainable(tiny_dir, "--no-train-llm"))


def test_lora_trains_adapters_token_rows_and_merger_only(tiny_dir):
    names = _trainable(tiny_dir, "--lora-r", "4")
    assert names and all("lora_" in n or "trainable_tokens" in n or ".merger." in n for n in names)
    assert any("embed_tokens" in n and "trainable_tokens" in n for n in names)


def test_lora_run_exports_a_loadable_model_with_trained_token_rows(tiny_dir, version_dir, tmp_path):
    out = tmp_path / "lora"
    sft.main(["--dataset", str(version_dir), "--model", str(tiny_dir), "--out", str(out), "--steps", "3",
              "--micro-batch", "4", "--lora-r", "4", "--lr", "1e-2", "--no-progress", "--threads", "1"])
    hf, tok = M.load(str(out / "model"))
    base, base_tok = M.load(str(tiny_dir))
    assert len(tok) == len(base_tok)  # the tokens came with the export and were not added again
    gen = tok.convert_tokens_to_ids(GEN_EMB)
    src = tok.convert_tokens_to_ids(INIT_FROM[GEN_EMB])
    emb = hf.get_input_embeddings().weight
    assert not torch.equal(emb[gen], emb[src])  # the new row moved away from its initial copy
    assert not any("lora" in k for k in hf.state_dict())  # adapters merged
    run = json.loads((out / "model" / "umedata_run.json").read_text())
    assert run["base_model"] == str(tiny_dir) and run["dataset_version_id"]
    # the recipe's data defaults, recorded with the run
    assert run["config"]["batching"] == "single-dataset" and run["config"]["blank_image"] is True
    assert run["global_batch"] == 4 and run["unused_datasets"] == {}  # every fixture dataset fills a batch of 4


def test_qwen2_5_vl_packed_checkpointed_run_with_every_data_option(version_dir, tmp_path):
    model = tiny.build(tmp_path / "tiny25", family="qwen2_5_vl")
    out = tmp_path / "run"
    # the non-default data options; --max-length 120 cuts every query (126-133 tokens), no target (114)
    result = sft.main(["--dataset", str(version_dir), "--model", str(model), "--out", str(out), "--steps", "2",
                       "--micro-batch", "4", "--accum", "2", "--packed", "--grad-ckpt", "--hard-negatives", "1",
                       "--batching", "mixed", "--no-blank-image", "--max-length", "120", "--save-every", "1",
                       "--no-progress", "--threads", "1"])
    assert result["steps"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    assert all(r["negatives"] >= 3 for r in rows)  # 4 pairs: 3 in-batch, plus any hard negatives
    assert [r["truncated"] for r in rows] == [8, 8]  # 4 queries x 2 micro-batches per step
    assert all(r["gen_found"] == 1.0 for r in rows)  # truncation kept every <gen_emb>
    assert list((out / "tb").glob("events.*"))
    state = json.loads((out / "checkpoints" / "step_00000002" / "trainer.json").read_text())
    assert state["base_model"] == str(model) and state["position"] == 4
    assert state["config"]["mask_false_negatives"] is True  # the choice is recorded with the run
    assert state["config"]["batching"] == "mixed" and state["config"]["blank_image"] is False
    hf, tok = M.load(str(out / "model"))
    assert tok.convert_tokens_to_ids(DISC_EMB) != tok.unk_token_id


def test_resume_refuses_a_different_batch_plan(tiny_dir, version_dir, tmp_path):
    out = tmp_path / "run"
    common = ["--dataset", str(version_dir), "--model", str(tiny_dir), "--out", str(out), "--micro-batch", "4",
              "--save-every", "1", "--no-export", "--no-tensorboard", "--no-progress", "--threads", "1"]
    sft.main([*common, "--steps", "1", "--batching", "mixed"])
    with pytest.raises(ValueError, match="--batching mixed, this run has single-dataset"):
        sft.main([*common, "--steps", "2", "--resume"])
    assert sft.main([*common, "--steps", "2", "--resume", "--batching", "mixed"])["steps"] == 2
