"""Trainer step benchmark: tokens/s and step time of one SFT optimiser step (forward, backward, AdamW).

CPU: the tiny Qwen2-VL (training/tiny.py) on rendered image + text pairs, padded and packed (padding-free); the
caption targets carry the blank 28x28 image, as the trainer renders text-only sides by default.
GPU (when CUDA is available): a Qwen2-VL-2B-shaped model built from a config with random weights (no download),
fp32 master weights, bf16 autocast, gradient checkpointing, ViT frozen, on synthetic pairs with one 448x448 image
per query side. It reports model FLOPs utilisation

    MFU = 6 * N * tokens_per_s / peak_flops

with N = LLM parameters that multiply every token (decoder layers + output projection, not the input embedding
lookup); attention score FLOPs, the vision tower and checkpoint recomputation are not counted, so it is a lower
bound. peak_flops: dense bf16 of the card (--peak-tflops to override).

    python bench/train_step.py                          # prints a markdown table
    python bench/train_step.py --write BENCHMARKS.md    # and replaces the trainer section there
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from benchmarks_md import write_section  # bench/ is on the path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import data, setup, sft, tiny  # noqa: E402
from training import model as M  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


def time_steps(net, batch, args, params, steps: int, warmup: int, device) -> dict:
    """Median step time over `steps` optimiser steps after `warmup` untimed ones."""
    cuda = device.type == "cuda"
    opt = torch.optim.AdamW(params, lr=1e-5, fused=cuda)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    times = []
    for k in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast:
            loss, _ = sft.compute_loss(net, batch, args)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    step = sorted(times)[len(times) // 2]
    tokens = int(batch["attention_mask"].sum())
    return {"step_s": step, "tokens": tokens, "tokens_per_s": tokens / step,
            "padded_tokens": int(batch["attention_mask"].numel())}


# ---------------------------------------------------------------------------------------------------------- CPU
def _pairs(n: int) -> list[dict]:
    """Rows in the version layout, built in memory: an image query and a caption target per pair."""
    import io

    from PIL import Image, ImageDraw

    rows = []
    for i in range(n):
        img = Image.new("RGB", (56 + 28 * (i % 3), 56), "white")
        ImageDraw.Draw(img).ellipse([10, 10, 40, 40], fill=(40 * i % 255, 90, 200))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        caption = f"a shape number {i % 5}"
        rows.append({
            "dataset_name": "bench", "qry_side_id": f"q{i}", "pos_side_id": f"t{i % 5}",
            "qry_text": "Find the caption of this image." + " More words." * (i % 4),
            "qry_images": [{"bytes": buf.getvalue(), "path": None}], "qry_video": [],
            "qry_reasoning": "The image shows a round shape in the upper left." * (1 + i % 2), "qry_summary": caption,
            "pos_text": caption, "pos_images": [], "pos_video": [],
            "pos_reasoning": f"The caption names {caption}.", "pos_summary": caption, "negatives": [],
        })
    return rows


def bench_cpu(args) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = tiny.build(Path(tmp) / "tiny")
        hf, tok = M.load(str(path))
        ids = M.add_embedding_tokens(hf, tok)
        net = M.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"])
        params = [p for p in net.parameters() if p.requires_grad]
        batch = data.render_pairs(_pairs(args.micro_batch), data.Renderer(str(path), tok))
        for packed in (False, True):
            targs = sft.parse_args(["--dataset", "x", "--model", "x"] + (["--packed"] if packed else []))
            r = time_steps(net, batch, targs, params, args.steps, args.warmup, torch.device("cpu"))
            r.update(model="tiny Qwen2-VL (hidden 64, 2 layers)", mode="packed" if packed else "padded",
                     device=f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
                     pairs=args.micro_batch)
            out.append(r)
    return out


# ---------------------------------------------------------------------------------------------------------- GPU
def qwen2vl_2b_config(layers: int = 28, vision_depth: int = 32):
    """Qwen2-VL-2B-Instruct's shapes (config only: the weights are random). Fewer layers only for smoke tests."""
    from transformers import Qwen2VLConfig

    text = dict(vocab_size=151_936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=layers,
                num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32_768, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
                bos_token_id=151_643, eos_token_id=151_645)
    vision = dict(depth=vision_depth, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2)
    return Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=151_655, video_token_id=151_656,
                         vision_start_token_id=151_652, vision_end_token_id=151_653, tie_word_embeddings=True)


def synthetic_batch(pairs: int, text_len: int, image_side: int, device) -> dict:
    """2*pairs sequences: queries = one image + text, targets = text; a <disc_emb> in each prompt, a completion of
    text_len // 4 tokens ending in <gen_emb> <|im_end|>. Token ids are random (the weights are random too). The
    targets' blank image (one merged token, 4 patches) is left out: at this size it is lost in the noise."""
    disc, gen, end, image = 151_657, 151_658, 151_645, 151_655
    grid = image_side // 14
    n_image = grid * grid // 4
    g = torch.Generator().manual_seed(0)
    seqs, labels, mm = [], [], []
    for s in range(2 * pairs):
        media = [image] * n_image if s < pairs else []
        prompt = media + torch.randint(0, 150_000, (text_len,), generator=g).tolist() + [disc]
        comp = torch.randint(0, 150_000, (text_len // 4,), generator=g).tolist() + [gen, end]
        seqs.append(prompt + comp)
        labels.append([-100] * len(prompt) + comp)
        mm.append([1] * len(media) + [0] * (len(prompt) + len(comp) - len(media)))
    length = max(map(len, seqs))
    pad = lambda rows, v: torch.tensor([r + [v] * (length - len(r)) for r in rows])  # noqa: E731
    ids = pad(seqs, 151_643)
    attention = pad([[1] * len(r) for r in seqs], 0)
    completion = pad([[x != -100 for x in row] for row in labels], False)
    batch = {"input_ids": ids, "attention_mask": attention, "labels": pad(labels, -100),
             "mm_token_type_ids": pad(mm, 0).int(), "completion_mask": completion.bool(),
             "pixel_values": torch.randn(pairs * grid * grid, 3 * 2 * 14 * 14, generator=g),
             "image_grid_thw": torch.tensor([[1, grid, grid]] * pairs),
             "pixel_values_videos": None, "video_grid_thw": None, "n_pairs": pairs,
             "qry_keys": torch.arange(pairs), "pos_keys": torch.arange(pairs) + 10_000,
             "neg_keys": torch.zeros(0, dtype=torch.long)}
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def bench_2b(args, device: torch.device, layers: int = 28, vision_depth: int = 32) -> list[dict]:
    """The 2B-shaped row; on CPU (with few layers) it only checks that this path runs."""
    from transformers import AutoModelForImageTextToText

    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None) if cuda else None
    hf = AutoModelForImageTextToText.from_config(qwen2vl_2b_config(layers, vision_depth), dtype=torch.float32,
                                                 attn_implementation=args.attn)
    hf.to(device)
    hf.config.use_cache = False
    hf.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    targs = sft.parse_args(["--dataset", "x", "--model", "x"] + (["--packed"] if args.packed else []))
    hf = setup.set_trainable(hf, targs, [151_657, 151_658])
    net = M.EmbeddingModel(hf, 151_657, 151_658)
    params = [p for p in net.parameters() if p.requires_grad]
    text = hf.model.language_model
    n_flops_params = sum(p.numel() for n, p in text.named_parameters() if "embed_tokens" not in n) \
        + hf.lm_head.weight.numel()
    batch = synthetic_batch(args.gpu_pairs, args.gpu_text_len, 448, device)
    r = time_steps(net, batch, targs, params, args.steps, args.warmup, device)
    mfu = 6 * n_flops_params * r["tokens_per_s"] / (peak * 1e12) if peak else None
    r.update(model=f"Qwen2-VL-2B shape ({layers} layers), random weights, bf16 autocast, grad ckpt",
             mode="packed" if args.packed else "padded", device=name, pairs=args.gpu_pairs, N=n_flops_params,
             peak_tflops=peak, mfu=mfu,
             mfu_formula=f"6 * {n_flops_params:,} * {r['tokens_per_s']:.0f} / ({peak} * 1e12)" if peak else None,
             max_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None)
    return [r]


# ------------------------------------------------------------------------------------------------------- report
def markdown(results: list[dict], gpu_note: str | None) -> str:
    lines = ["## Trainer step (bench/train_step.py)", "",
             "One SFT optimiser step (forward + backward + AdamW) on one micro-batch; tokens = real (non-pad) "
             "tokens of all query and target sequences; median step time.", "",
             "| model | device | mode | pairs | tokens | step time | tokens/s | MFU |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        mfu = f"{100 * r['mfu']:.1f} %" if r.get("mfu") is not None else "-"
        lines.append(f"| {r['model']} | {r['device']} | {r['mode']} | {r['pairs']} | {r['tokens']} "
                     f"(padded {r['padded_tokens']}) | {1000 * r['step_s']:.1f} ms | {r['tokens_per_s']:,.0f} "
                     f"| {mfu} |")
    lines.append("")
    cores, load = os.cpu_count(), os.getloadavg()[0]
    lines.append(f"Measured {time.strftime('%Y-%m-%d')} with {cores} CPU cores, 1-minute load average {load:.1f} "
                 "(other processes share the machine, so CPU figures are noisy). Packed is slower on CPU: without "
                 "flash-attention varlen kernels the block-diagonal mask makes attention quadratic in the packed "
                 "length; it exists for GPU runs with --attn flash_attention_2.")
    for r in results:
        if r.get("mfu_formula"):
            lines.append(f"MFU = 6 * N * tokens/s / peak = {r['mfu_formula']} (N = LLM parameters per token).")
    if gpu_note:
        lines += ["", gpu_note]
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--micro-batch", type=int, default=8, help="pairs per CPU step")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1: the figures on a shared box are stable)")
    ap.add_argument("--gpu-pairs", type=int, default=8)
    ap.add_argument("--gpu-text-len", type=int, default=768)
    ap.add_argument("--packed", action=argparse.BooleanOptionalAction, default=False, help="GPU run packed")
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--write", default=None, help="replace the trainer section of this markdown file")
    args = ap.parse_args(argv)

    results = [] if args.skip_cpu else bench_cpu(args)
    note = None
    if torch.cuda.is_available():
        results += bench_2b(args, torch.device("cuda"))
    else:
        note = ("GPU row: not measured (no CUDA device on this machine). On a GPU box the same command adds a "
                "Qwen2-VL-2B-shaped row with MFU.")
    block = markdown(results, note)
    print(block)
    print(json.dumps(results, indent=2, default=str))
    if args.write:
        write_section("trainer-bench", block, Path(args.write))
    return results


if __name__ == "__main__":
    main()
