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

The model, its wrapping, the optimiser step, resume and export are training/setup.py's (shared with
training/grpo.py), the run's files training/run_log.py's; the loop is main() below.

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
import math
import time
from pathlib import Path

import torch

from training import checkpoint, data, dist, losses, setup
from training.run_log import RunLog


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
    setup.add_optimizer_args(ap, lr=5e-5, warmup=0.03)  # then cosine to 0
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
    data.add_render_args(ap)
    ap.add_argument("--workers", type=int, default=0, help="data loader processes")
    ap.add_argument("--packed", action=BOOL, default=False, help="padding-free batches")
    # model, parallelism, bookkeeping (the same flags as training/grpo.py's)
    setup.add_model_args(ap)
    setup.add_run_args(ap)
    return ap.parse_args(argv)


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


def main(argv=None) -> dict:
    args = parse_args(argv)
    env = setup.start(args)
    out = Path(args.out)

    # -------------------------------------------------------------------------------------- data and model
    version = data.open_version(args.dataset)
    table = version.read_split(args.split)
    net, tokenizer = setup.trainable_model(args, env)
    net = setup.wrap(net, env, args)
    renderer = data.Renderer.from_args(args.model, tokenizer, version.media_root(), args)
    batches = data.PairBatches(table, renderer, args.micro_batch, env.world, env.rank, args.seed,
                               args.batching, args.hard_negatives, args.accum)
    if batches.unused and env.main:
        print(f"[data] --batching {args.batching}: datasets smaller than one global batch of "
              f"{batches.global_batch} are never drawn: {batches.unused}", flush=True)
    total = args.steps or max(1, int(args.epochs * batches.per_epoch) // args.accum)

    params, optimizer = setup.adamw(net, args)
    warmup = max(1, math.ceil(args.warmup * total)) if args.warmup > 0 else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, setup.cosine_with_warmup(total, warmup))
    meta = {"dataset_version_id": version.version_id, "dataset": str(args.dataset),
            "format_version": version.manifest["format_version"], "base_model": str(args.model),
            "config": vars(args), "world_size": env.world,
            "global_batch": batches.global_batch, "unused_datasets": batches.unused}
    # the batch plan is a function of seed, batching and accum: a resume under others would change the data order
    state = setup.resume(args.resume, out, net, optimizer, scheduler, version.version_id,
                         {"seed": args.seed, "batching": args.batching, "accum": args.accum})
    step = state["step"] if state else 0
    autocast = setup.autocast(env.device, args.fsdp)
    log = RunLog(out, "sft", meta, step, total, env.main, args.tensorboard, args.progress)

    # ---------------------------------------------------------------------------------------- training loop
    stream = iter(data.loader(batches, step * args.accum, total * args.accum, args.workers))
    net.train()
    while step < total:
        t0 = time.time()
        sums: dict[str, float] = {}
        for micro in range(args.accum):
            batch = data.to_device(next(stream), env.device)
            with setup.sync_context(net, last=micro == args.accum - 1):
                with autocast:
                    loss, parts = compute_loss(net, batch, args)
                (loss / args.accum).backward()
            parts["loss"] = loss.item()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        grad_norm = setup.optimizer_step(params, optimizer, scheduler, args.clip)
        step += 1

        # Per-step record: averaged over micro-batches and ranks; token counts summed.
        totals = dist.all_sum_dict(sums)
        rec = {k: v / (args.accum * env.world) for k, v in totals.items()}
        for k in ("tokens", "labelled_tokens", "truncated"):
            rec[k] = int(totals[k])
        rec.update(step=step, lr=scheduler.get_last_lr()[0], grad_norm=grad_norm, step_time=time.time() - t0,
                   world=env.world)
        rec["tokens_per_s"] = rec["tokens"] / rec["step_time"]
        log.step(rec, loss=f"{rec['loss']:.3f}", gen=f"{rec['nce_gen']:.3f}", disc=f"{rec['nce_disc']:.3f}")
        if args.save_every and (step % args.save_every == 0 or step == total):
            checkpoint.save(out, step, step * args.accum, net, optimizer, scheduler, meta, keep=args.keep)

    log.close()
    return setup.finish(args, out, net, tokenizer, renderer, meta, step)


if __name__ == "__main__":
    main()
