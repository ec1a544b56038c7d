"""The GRPO entry point end to end on tiny runs: outputs on disk, the reference under LoRA, updates per batch,
resume guards, and the vLLM backend where a GPU has it."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from training_fixtures import tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import data, grpo
from training import model as M
from training.ids import checkpoint_id

torch.set_num_threads(1)


def _run(tiny_dir, version_dir, out, *flags):
    grpo.main(["--dataset", str(version_dir), "--model", str(tiny_dir), "--out", str(out), "--batch", "4",
               "--group", "2", "--max-completion-length", "12", "--no-progress", "--threads", "1", *flags])
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_run_writes_metrics_samples_checkpoints_and_a_loadable_model(tiny_dir, version_dir, tmp_path):
    out = tmp_path / "run"
    rows = _run(tiny_dir, version_dir, out, "--steps", "2", "--save-every", "1", "--lr", "1e-3", "--samples", "3")
    assert [r["step"] for r in rows] == [1, 2]
    r = rows[0]
    for key in ("reward", "r_format", "r_emb", "rank", "gap", "adv_mean", "adv_std", "kl", "clip_frac",
                "completion_len", "zero_std", "time_generate", "time_score", "time_update", "rollouts_per_s"):
        assert key in r and r[key] == r[key], key  # present and not NaN
    assert r["pool_pairs"] == 4 and r["pool_rollouts"] == 4 * 2 * 2  # pairs x sides x G, logged
    assert r["kl"] == 0.0  # before the first update the policy is the reference
    assert r["clip_frac"] == 0.0  # one update per batch: ratio 1, the clip never acts
    assert abs(r["adv_mean"]) < 1e-6  # group-relative advantages sum to 0 in every group
    assert 1 <= r["completion_len"] <= 12 and r["completion_len_max"] <= 12
    assert rows[1]["kl"] > 0  # the policy moved away from the reference
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and {s["role"] for s in samples} <= {"qry", "pos"}
    assert list((out / "tb").glob("events.*"))
    state = json.loads((out / "checkpoints" / "step_00000002" / "trainer.json").read_text())
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert state["dataset_version_id"] == manifest["version_id"] and state["step"] == 2
    assert state["sft_checkpoint"] == str(tiny_dir) and state["kind"] == "grpo"
    assert state["sft_checkpoint_id"] == checkpoint_id(tiny_dir)  # the weights it started from, wherever they live
    hf, tok = M.load(str(out / "model"))
    run = json.loads((out / "model" / "umedata_run.json").read_text())
    assert run["steps"] == 2 and run["config"]["beta"] == 0.04 and run["config"]["group"] == 2


def test_lora_reference_is_the_policy_with_adapters_off(tiny_dir, version_dir, tmp_path):
    rows = _run(tiny_dir, version_dir, tmp_path / "lora", "--steps", "2", "--lora-r", "4", "--lr", "5e-3",
                "--no-export", "--no-tensorboard")
    # step 1 samples before any update (KL 0); by step 2 the adapters have moved and the reference did not
    assert rows[0]["kl"] == 0.0 and rows[1]["kl"] > 0


def test_more_updates_per_batch_keep_old_log_probs_and_clip(tiny_dir, version_dir, tmp_path):
    rows = _run(tiny_dir, version_dir, tmp_path / "mu", "--steps", "1", "--mu", "3", "--lr", "3e-2",
                "--micro-batch", "4", "--no-export", "--no-tensorboard")
    # updates 2 and 3 see ratios away from 1 (old log-probs are from before update 1): the clip acts
    assert rows[0]["clip_frac"] > 0


def test_resume_continues_and_refuses_a_different_group(tiny_dir, version_dir, tmp_path):
    out = tmp_path / "run"
    flags = ["--save-every", "1", "--no-export", "--no-tensorboard", "--lr", "1e-3"]
    _run(tiny_dir, version_dir, out, "--steps", "1", *flags)
    with pytest.raises(ValueError, match="--group 2, this run has 3"):
        grpo.main(["--dataset", str(version_dir), "--model", str(tiny_dir), "--out", str(out), "--batch", "4",
                   "--group", "3", "--steps", "2", "--resume", "--no-progress", *flags])
    rows = _run(tiny_dir, version_dir, out, "--steps", "2", "--resume", *flags)
    assert [r["step"] for r in rows] == [1, 2]


def test_generation_chunks_do_not_change_the_samples(tiny_dir, version_dir, tmp_path):
    flags = ["--steps", "1", "--no-export", "--no-tensorboard"]
    whole = _run(tiny_dir, version_dir, tmp_path / "whole", *flags)[0]
    chunked = _run(tiny_dir, version_dir, tmp_path / "chunked", *flags, "--gen-batch", "3")[0]
    # sample j of a side is drawn from its own seeded stream, whichever prompts share its generate() call
    assert chunked["completion_len"] == whole["completion_len"] and chunked["r_format"] == whole["r_format"]
    assert chunked["reward"] == pytest.approx(whole["reward"], rel=1e-4)


def test_group_of_one_is_refused(tiny_dir, version_dir, tmp_path):
    with pytest.raises(SystemExit):
        grpo.parse_args(["--dataset", "x", "--model", "x", "--group", "1"])


def test_step_seeds_differ_by_step_and_seed():
    seeds = {grpo.step_seed(s, k) for s in (0, 1) for k in range(50)}
    assert len(seeds) == 100 and grpo.step_seed(0, 3) == grpo.step_seed(0, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the vLLM colocate backend needs a CUDA device")
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                    reason="vllm is not installed here (it lives in the GPU image, never beside Prefect)")
def test_vllm_colocate_samples_and_takes_the_policy_weights(tiny_dir, version_dir, tmp_path):
    out = tmp_path / "vllm"
    rows = _run(tiny_dir, version_dir, out, "--steps", "2", "--backend", "vllm", "--vllm-memory", "0.2",
                "--lr", "1e-3", "--no-export", "--no-tensorboard")
    assert all(r["completion_len"] >= 1 for r in rows) and rows[1]["kl"] > 0
    # after the update the engine holds the policy's weights: its greedy completion equals transformers'
    from training import generation

    args = grpo.parse_args(["--dataset", str(version_dir), "--model", str(tiny_dir)])
    net, _, tok = grpo.build_models(args, grpo.dist.setup())
    version = data.open_version(version_dir)
    renderer = data.Renderer(str(tiny_dir), tok, media_root=version.media_root())
    side = data.sides_of_row(version.read_split("train").slice(0, 1).to_pylist()[0])[1]
    prompts = generation.prompts(renderer, [side])
    engine = generation.backend("vllm", net, tok, model_dir=str(tiny_dir), renderer=renderer,
                                gpu_memory_utilization=0.2, distributed_executor_backend="external_launcher")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    grpo.sync_vllm(engine, net)
    greedy = generation.greedy(8)
    assert engine.complete(prompts, greedy)[0].ids == generation.backend("transformers", net, tok).complete(
        prompts, greedy)[0].ids
