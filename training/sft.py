"""SFT stage: teach a Qwen2-VL-family student to reason, summarise and embed (UME-R1, stage 1).

Algorithm. Every pair (query side, positive target side) is rendered as two chat sequences (training/data.py):
user turn = [media] + text + "<disc_emb>" + GEN_PROMPT, assistant turn = "<think>..</think><answer>..<gen_emb>"
then <|im_end|>, teacher-forced. One forward over the 2b sequences of a micro-batch gives, per sequence, the
discriminative embedding (hidden state at <disc_emb>) and the generative one (at the <gen_emb> the assistant
turn ends with), and next-token losses on the assistant tokens. The loss is

    L = w_q * CE(queries) + w_t * CE(targets) + w_gen * InfoNCE(gen) + w_disc * InfoNCE(disc)

with symmetric InfoNCE at logit scale 50 over the micro-batch gathered across ranks (training/losses.py).

Choices (defaults are the reference 2B run's; where one differs, its help text says why; run.json records all):
  * AdamW, lr 5e-5, cosine to 0 after 3 % linear warmup, weight decay 0, grad clip 1.0; bf16 autocast on GPU.
  * ViT frozen, its merger/projector and the LLM trained (--train-vit / --no-train-merger / --no-train-llm);
    --lora-r > 0 trains LoRA adapters on the LLM's linear layers plus the two new token rows instead.
  * In-batch negatives = micro-batch x world size; gradient accumulation only averages gradients (it adds no
    negatives). Same-side_id false negatives are masked (--no-mask-false-negatives for the reference's choice).
    Source hard negatives are off (--hard-negatives K adds K per pair, to the discriminative loss only: they
    carry no annotation to teacher-force).
  * A micro-batch without pixels (text only, with --no-blank-image) runs a zero-weighted dummy vision pass so
    DDP/FSDP see every parameter used.
  * Each global batch (the micro-batch x accum x world pairs of one optimiser step) comes from one dataset, as
    the reference groups them (--batching single-dataset); --batching mixed shuffles all datasets together. A
    dataset smaller than one global batch is then never drawn: the run says which, in its log and run.json
    ("unused_datasets").
  * Text-only sides get a blank 28x28 white image, as the reference feeds (--no-blank-image to give them none).
  * A side longer than --max-length loses the middle of its reasoning first, then the middle of its own text;
    <gen_emb> and the summary always stay (training/data.py). metrics.jsonl counts such sequences ("truncated").
  * --packed drops padding: all sequences of a micro-batch run as one row with a block-diagonal causal mask,
    giving the same losses. It pays off with --attn flash_attention_2 (varlen kernels, GPU); with sdpa the mask
    is dense, so attention grows with the packed length squared (slower than padding on CPU).
  * --fsdp shards parameters, gradients and optimiser state with FSDP2 (fully_shard per decoder layer and vision
    block), for models that do not fit one GPU (a 7B full fine-tune); otherwise DDP when world size > 1.

Outputs in --out: metrics.jsonl (one line per optimiser step) and TensorBoard events, checkpoints/step_N/
every --save-every steps (model, optimiser, scheduler, RNG, data position, dataset version id, base model;
--resume continues exactly), and model/ (the final weights, LoRA merged, ready for training.evaluate / RL).

Run:
    python -m training.tiny --out runs/tiny                                  # a tiny random model, seconds on CPU
    # a random-weight tiny model learns in a few hundred CPU steps only at a far higher lr than the recipe's 5e-5
    # (set for fine-tuning a pretrained 2B model), hence --lr 2e-3; 16 pairs per micro-batch give it more negatives
    python -m training.sft --dataset DIR --model runs/tiny --out runs/sft --steps 400 --micro-batch 16 --lr 2e-3
    # one GPU, the 2B student (bf16 autocast, data rendered by 4 worker processes); the recipe's per-GPU batch
    python -m training.sft --dataset DIR --model Qwen/Qwen2-VL-2B-Instruct --out runs/sft2b \
        --micro-batch 4 --accum 4 --grad-ckpt --attn flash_attention_2 --workers 4 --save-every 500
    # 8 GPUs on one node (same flags; negatives per row = 4 x 8 - 1); add --fsdp for a 7B full fine-tune
    torchrun --standalone --nproc_per_node=8 -m training.sft --dataset DIR --model Qwen/Qwen2-VL-2B-Instruct \
        --out runs/sft2b --micro-batch 4 --accum 4 --grad-ckpt --attn flash_attention_2 --workers 4 --save-every 500
    # after a crash: the same command plus --resume (continues the latest checkpoint in --out exactly)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from pathlib import Path

import torch

from training import checkpoint, data, dist, losses
from training import model as model_lib

LLM_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    BOOL = argparse.BooleanOptionalAction
    ap.add_argument("--dataset", required=True, help="dataset version directory (local path or fsspec URL)")
    ap.add_argument("--model", required=True, help="Qwen2-VL / Qwen2.5-VL folder or hub name")
    ap.add_argument("--out", default="runs/sft")
    ap.add_argument("--split", default="train")
    # schedule
    ap.add_argument("--steps", type=int, default=0, help="optimiser steps (0: from --epochs)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--micro-batch", type=int, default=4, help="pairs per rank per forward")
    ap.add_argument("--accum", type=int, default=1,
                    help="micro-batches per optimiser step. The reference's 4 (x 4 pairs x 64 GPUs = 1024) belongs "
                         "to its GPU count: what carries over is the global batch micro-batch x accum x world, so "
                         "set this for yours (1024 / (4 x GPUs)); it adds no negatives, only averages gradients")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup", type=float, default=0.03, help="warmup fraction of the steps")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    # loss
    ap.add_argument("--scale", type=float, default=50.0, help="InfoNCE logit scale (1/temperature)")
    ap.add_argument("--w-ce-q", type=float, default=1.0)
    ap.add_argument("--w-ce-t", type=float, default=1.0)
    ap.add_argument("--w-gen", type=float, default=1.0)
    ap.add_argument("--w-disc", type=float, default=1.0)
    ap.add_argument("--mask-false-negatives", action=BOOL, default=True,
                    help="drop in-batch negatives whose side_id equals the positive's. The reference does not "
                         "mask; on by default because a repeated side (a class label) is the positive itself, "
                         "and pushing a query away from its own target is a wrong gradient")
    ap.add_argument("--hard-negatives", type=int, default=0, help="source hard negatives per pair (0: unused)")
    # data
    ap.add_argument("--batching", choices=data.BATCHING, default="single-dataset",
                    help="single-dataset: each optimiser step's global batch from one dataset (the reference); "
                         "mixed: all datasets shuffled together")
    ap.add_argument("--min-pixels", type=int, default=784)
    ap.add_argument("--max-pixels", type=int, default=2_359_296)
    ap.add_argument("--video-max-pixels", type=int, default=None)
    ap.add_argument("--max-length", type=int, default=12_288)
    ap.add_argument("--blank-image", action=BOOL, default=True,
                    help="a 28x28 white image on text-only sides, as the reference (and its checkpoints) expect")
    ap.add_argument("--workers", type=int, default=0, help="data loader processes")
    # model
    ap.add_argument("--train-vit", action=BOOL, default=False)
    ap.add_argument("--train-merger", action=BOOL, default=True)
    ap.add_argument("--train-llm", action=BOOL, default=True)
    ap.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: full fine-tune)")
    ap.add_argument("--lora-alpha", type=int, default=16)
    ap.add_argument("--lora-dropout", type=float, default=0.0)
    ap.add_argument("--grad-ckpt", action=BOOL, default=False,
                    help="activation checkpointing (the reference uses it). Off by default: it changes memory and "
                         "speed, not the result: it recomputes each layer's forward in the backward, a cost worth paying "
                         "only where memory is short (a 2B model on one GPU)")
    ap.add_argument("--packed", action=BOOL, default=False, help="padding-free batches")
    ap.add_argument("--attn", default="sdpa",
                    help="sdpa | eager | flash_attention_2. The reference runs flash_attention_2; sdpa is the "
                         "default because it needs no extra package and runs on CPU, with the same math")
    ap.add_argument("--fsdp", action=BOOL, default=False)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    # bookkeeping
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--keep", type=int, default=2)
    ap.add_argument("--resume", nargs="?", const="latest", default=None, help="checkpoint dir, or latest in --out")
    ap.add_argument("--export", action=BOOL, default=True, help="write --out/model at the end")
    ap.add_argument("--tensorboard", action=BOOL, default=True)
    ap.add_argument("--progress", action=BOOL, default=True)
    return ap.parse_args(argv)


def set_trainable(hf, args, token_ids: list[int]):
    """Freeze / unfreeze parts; with LoRA, wrap with peft. Returns the (possibly wrapped) model."""
    for name, p in hf.named_parameters():
        if name.startswith("model.visual."):
            p.requires_grad_(args.train_vit or (args.train_merger and ".merger." in name))
        else:
            p.requires_grad_(args.train_llm and not args.lora_r)
    if not args.lora_r:
        return hf
    from peft import LoraConfig, get_peft_model

    tied = hf.get_output_embeddings().weight.data_ptr() == hf.get_input_embeddings().weight.data_ptr()
    tokens = {"embed_tokens": token_ids} if tied else {"embed_tokens": token_ids, "lm_head": token_ids}
    save = (["visual"] if args.train_vit else ["merger"] if args.train_merger else None)
    cfg = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                     target_modules=LLM_LINEAR, trainable_token_indices=tokens, modules_to_save=save)
    return get_peft_model(hf, cfg)


def wrap(net, env: dist.Env, args):
    if args.fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
            if env.device.type == "cuda" else MixedPrecisionPolicy()
        hf = model_lib.core(net.hf)
        for block in list(hf.model.language_model.layers) + list(hf.model.visual.blocks):
            fully_shard(block, mp_policy=mp)
        return fully_shard(net, mp_policy=mp)
    if env.world > 1:
        ids = [env.device.index] if env.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
    return net


def cosine_with_warmup(total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def sync_context(net, last: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of a step."""
    if hasattr(net, "set_requires_gradient_sync"):  # FSDP2: a flag, set before every backward
        net.set_requires_gradient_sync(last)
        return contextlib.nullcontext()
    if not last and hasattr(net, "no_sync"):  # DDP
        return net.no_sync()
    return contextlib.nullcontext()


def compute_loss(net, batch: dict, args) -> tuple[torch.Tensor, dict]:
    """The SFT loss of one micro-batch and its parts (for logging)."""
    b = batch["n_pairs"]
    out = net(batch, packed=args.packed)
    ce_q, n_q = losses.side_ce(out.nll, out.nll_seq, 0, b)
    ce_t, n_t = losses.side_ce(out.nll, out.nll_seq, b, 2 * b)
    keys = dict(q_keys=batch["qry_keys"], t_keys=batch["pos_keys"], scale=args.scale,
                mask_false_negatives=args.mask_false_negatives)
    gen = losses.info_nce(out.gen[:b], out.gen[b : 2 * b], **keys)
    neg = dict(neg=out.disc[2 * b :], neg_keys=batch["neg_keys"]) if args.hard_negatives else {}
    disc = losses.info_nce(out.disc[:b], out.disc[b : 2 * b], **keys, **neg)
    loss = (args.w_ce_q * ce_q + args.w_ce_t * ce_t + args.w_gen * gen.loss + args.w_disc * disc.loss) + out.zero
    parts = {"ce_q": ce_q.item(), "ce_t": ce_t.item(), "nce_gen": gen.loss.item(), "nce_disc": disc.loss.item(),
             "acc_gen": gen.accuracy, "acc_disc": disc.accuracy, "negatives": disc.negatives,
             "masked_false_negatives": disc.masked, "gen_found": out.gen_found[: 2 * b].float().mean().item(),
             "tokens": int(batch["attention_mask"].sum()), "labelled_tokens": n_q + n_t,
             "truncated": batch.get("truncated", 0)}
    return loss, parts


def _step_of(line: str) -> int | None:
    """The step of a metrics line; None for a line a killed run left half-written."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return None


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env = dist.setup(args.device)
    out = Path(args.out)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)

    # -------------------------------------------------------------------------------------- data and model
    version = data.open_version(args.dataset)
    table = version.read_split(args.split)
    hf, tokenizer = model_lib.load(args.model, attn_implementation=args.attn)
    ids = model_lib.add_embedding_tokens(hf, tokenizer)
    token_ids = [ids[t] for t in ids]
    hf.config.use_cache = False
    if args.grad_ckpt:
        enable = getattr(hf, "activation_checkpointing_enable", None)  # the transformers 5 name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    hf = set_trainable(hf, args, token_ids)
    net = model_lib.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).to(env.device)
    net = wrap(net, env, args)
    renderer = data.Renderer(args.model, tokenizer, media_root=version.media_root(), min_pixels=args.min_pixels,
                             max_pixels=args.max_pixels, video_max_pixels=args.video_max_pixels,
                             blank_image=args.blank_image, max_length=args.max_length)
    batches = data.PairBatches(table, renderer, args.micro_batch, env.world, env.rank, args.seed,
                               args.batching, args.hard_negatives, args.accum)
    if batches.unused and env.main:
        print(f"[data] --batching {args.batching}: datasets smaller than one global batch of "
              f"{batches.global_batch} are never drawn: {batches.unused}", flush=True)
    total = args.steps or max(1, int(args.epochs * batches.per_epoch) // args.accum)

    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.999))
    warmup = max(1, math.ceil(args.warmup * total)) if args.warmup > 0 else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, warmup))
    meta = {"dataset_version_id": version.version_id, "dataset": str(args.dataset),
            "format_version": version.manifest["format_version"], "base_model": str(args.model),
            "config": vars(args), "world_size": env.world,
            "global_batch": batches.global_batch, "unused_datasets": batches.unused}

    step = 0
    if args.resume:
        path = checkpoint.latest(out) if args.resume == "latest" else Path(args.resume)
        if path is None:
            print(f"[resume] no checkpoint in {out}/checkpoints: starting at step 0", flush=True)
        else:
            state = checkpoint.load(path, net, optimizer, scheduler)
            if state["dataset_version_id"] != version.version_id:
                raise ValueError(f"checkpoint trained on {state['dataset_version_id']}, not {version.version_id}")
            # The batch plan is a function of these: resuming under others would silently change the data order.
            old = state.get("config", {})
            old_batching = old.get("batching") or ("single-dataset" if old.get("single_dataset") else "mixed")
            for key, was, now in (("seed", old.get("seed"), args.seed), ("batching", old_batching, args.batching),
                                  ("accum", old.get("accum"), args.accum)):
                if was != now:
                    raise ValueError(f"checkpoint {path} ran with --{key} {was}, this run has {now}: pass the same")
            step = state["step"]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if env.device.type == "cuda" and not args.fsdp \
        else contextlib.nullcontext()

    # ------------------------------------------------------------------------------------------- logging
    metrics_path = out / "metrics.jsonl"
    writer = None
    if env.main:
        if metrics_path.exists():  # a resumed run rewrites the steps after its checkpoint
            metrics_path.write_text("".join(line + "\n" for line in metrics_path.read_text().splitlines()
                                            if _step_of(line) is not None and _step_of(line) <= step))
        (out / "run.json").write_text(json.dumps(meta, indent=2, default=str))
        if args.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"), purge_step=step + 1)
    bar = None
    if env.main and args.progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="sft", dynamic_ncols=True)

    # ---------------------------------------------------------------------------------------- training loop
    stream = iter(data.loader(batches, step * args.accum, total * args.accum, args.workers))
    net.train()
    while step < total:
        t0 = time.time()
        sums: dict[str, float] = {}
        for micro in range(args.accum):
            batch = to_device(next(stream), env.device)
            last = micro == args.accum - 1
            with sync_context(net, last):
                with autocast:  # forward only: backward runs in the dtypes the forward chose
                    loss, parts = compute_loss(net, batch, args)
                (loss / args.accum).backward()
            parts["loss"] = loss.item()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        grad_norm = torch.nn.utils.clip_grad_norm_(params, args.clip if args.clip > 0 else float("inf"))
        grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        # Per-step record: averaged over micro-batches and ranks; token counts summed.
        keys = sorted(sums)
        totals = dist.all_sum(torch.tensor([sums[k] for k in keys], dtype=torch.float64))
        rec = {k: float(v) / (args.accum * env.world) for k, v in zip(keys, totals)}
        for k in ("tokens", "labelled_tokens", "truncated"):
            rec[k] = int(totals[keys.index(k)])
        rec.update(step=step, lr=scheduler.get_last_lr()[0], grad_norm=float(grad_norm),
                   step_time=time.time() - t0, world=env.world)
        rec["tokens_per_s"] = rec["tokens"] / rec["step_time"]
        if env.main:
            with metrics_path.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            if writer:
                for k, v in rec.items():
                    if k != "step":
                        writer.add_scalar(f"sft/{k}", v, step)
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{rec['loss']:.3f}", gen=f"{rec['nce_gen']:.3f}", disc=f"{rec['nce_disc']:.3f}")
        if args.save_every and (step % args.save_every == 0 or step == total):
            checkpoint.save(out, step, step * args.accum, net, optimizer, scheduler, meta, keep=args.keep)

    if bar:
        bar.close()
    if writer:
        writer.close()
    if args.export:
        checkpoint.export(out / "model", net, tokenizer, renderer, {**meta, "steps": step})
    dist.cleanup()
    return {"steps": step, "out": str(out)}


if __name__ == "__main__":
    main()
