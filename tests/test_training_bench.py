"""bench/train_step.py runs, and rewrites only its own section of a markdown file."""

from __future__ import annotations

import torch
from training_fixtures import load_bench, run_bench_twice

torch.set_num_threads(1)


def test_cpu_bench_runs_and_updates_its_section_only(tmp_path):
    results, text = run_bench_twice(load_bench("train_step").main, ["--steps", "1", "--warmup", "0", "--micro-batch", "2"], tmp_path)
    assert {r["mode"] for r in results if r["device"].startswith("CPU")} == {"padded", "packed"}
    assert all(r["tokens_per_s"] > 0 and r["tokens"] <= r["padded_tokens"] for r in results)
    assert text.count("<!-- trainer-bench:begin -->") == 1 and "## Ingest\nother figures" in text


def test_2b_batch_is_well_formed():
    bench = load_bench("train_step")
    batch = bench.synthetic_batch(pairs=2, text_len=16, image_side=56, device=torch.device("cpu"))
    n_image_tokens = int((batch["input_ids"] == 151_655).sum())
    assert n_image_tokens == int(batch["image_grid_thw"].prod(-1).sum()) // 4
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())
    labelled = batch["labels"] != -100
    assert torch.equal(labelled, batch["completion_mask"])
    assert torch.all((batch["input_ids"] == 151_657).sum(1) == 1)  # one <disc_emb> per sequence
    config = bench.qwen2vl_2b_config()
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    assert sum(config.text_config.rope_parameters["mrope_section"]) == head_dim // 2
