"""What the SFT and GRPO trainers set up around their loops, written once.

training/sft.py and training/grpo.py each keep their own loop, readable top to bottom; what both do the same way
lives here: the process (threads, process group, seed, output folder), the trainable model (embedding tokens,
activation checkpointing, which parts train, LoRA, DDP / FSDP2), the optimiser, its schedule and one optimiser
step, resuming from a checkpoint, and the end of a run (export, leave the process group). Their shared flags too
(add_model_args, add_run_args), so a flag means the same in both.

Choices:
  * Trainable parts (the reference 2B run): the ViT frozen, its merger / projector and the LLM trained. With LoRA
    (--lora-r > 0) the LLM's linear layers get adapters and only the rows of the two embedding tokens of the
    input (and untied output) embedding train, through peft's trainable_token_indices; the merger (or the whole
    ViT with --train-vit) is trained in full as a module to save.
  * Activation checkpointing non-reentrant (the transformers 5 name, else the older one): it recomputes each
    layer's forward in the backward and leaves the result unchanged.
  * --fsdp: FSDP2's fully_shard per decoder layer and vision block, then the root; bf16 parameters with fp32
    gradient reduction on GPU. Otherwise DDP when the world is larger than one.
  * bf16 autocast on GPU without FSDP (FSDP2 casts through its mixed-precision policy instead); fp32 on CPU.
  * AdamW (betas 0.9, 0.999); a clip of 0 turns clipping off but the gradient norm is still measured and logged.
  * Resume: a checkpoint trained on another dataset version, or under other values of the settings that decide
    the data order (the caller names them), is refused rather than silently continued on other data.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path

import torch

from training import checkpoint, dist
from training import model as model_lib

# The LLM's linear layers (LoRA targets); the vision tower's are left out.
LLM_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


# ------------------------------------------------------------------------------------------------------------ flags
def add_optimizer_args(ap: argparse.ArgumentParser, lr: float, warmup: float) -> None:
    """AdamW and its schedule (adamw, optimizer_step); the stage gives its recipe's lr and warmup."""
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--warmup", type=float, default=warmup,
                    help="linear warmup over this fraction of the optimiser steps (0: none)")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")


def add_model_args(ap: argparse.ArgumentParser) -> None:
    """Which parts train, LoRA, memory, attention kernel, parallelism, device."""
    BOOL = argparse.BooleanOptionalAction
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
    ap.add_argument("--attn", default="sdpa",
                    help="sdpa | eager | flash_attention_2. The reference runs flash_attention_2; sdpa is the "
                         "default because it needs no extra package and runs on CPU, with the same math")
    ap.add_argument("--fsdp", action=BOOL, default=False)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")


def add_run_args(ap: argparse.ArgumentParser) -> None:
    """Checkpoints, resume, export and what the run shows."""
    BOOL = argparse.BooleanOptionalAction
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--keep", type=int, default=2)
    ap.add_argument("--resume", nargs="?", const="latest", default=None, help="checkpoint dir, or latest in --out")
    ap.add_argument("--export", action=BOOL, default=True, help="write --out/model at the end")
    ap.add_argument("--tensorboard", action=BOOL, default=True)
    ap.add_argument("--progress", action=BOOL, default=True)


# ---------------------------------------------------------------------------------------------------------- process
def start(args) -> dist.Env:
    """Threads, process group, output folder (rank 0), torch seed: before the model is built (LoRA's init draws)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    env = dist.setup(args.device)
    if env.main:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    return env


def autocast(device: torch.device, fsdp: bool = False):
    """bf16 autocast on GPU (not under FSDP2, whose policy casts); nothing on CPU. Wraps forwards only: backward
    runs in the dtypes the forward chose."""
    if device.type == "cuda" and not fsdp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------------------------ model
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


def trainable_model(args, env: dist.Env):
    """(EmbeddingModel on env.device, tokenizer) from --model: the embedding tokens in place, activation
    checkpointing on --grad-ckpt, the trainable parts set. Not yet wrapped (see wrap)."""
    hf, tokenizer = model_lib.load(args.model, attn_implementation=args.attn)
    ids = model_lib.add_embedding_tokens(hf, tokenizer)
    hf.config.use_cache = False
    if args.grad_ckpt:
        enable = getattr(hf, "activation_checkpointing_enable", None)  # the transformers 5 name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    hf = set_trainable(hf, args, list(ids.values()))
    net = model_lib.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).to(env.device)
    return net, tokenizer


def wrap(net, env: dist.Env, args):
    """FSDP2 with --fsdp (in place), DDP when the world is larger than one, else the model as it is."""
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


def unwrap(net):
    """The EmbeddingModel under DDP (FSDP2 wraps in place)."""
    return net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net


def sync_context(net, last: bool):
    """Skip the gradient all-reduce on all but the last backward of an optimiser step."""
    if hasattr(net, "set_requires_gradient_sync"):  # FSDP2: a flag, set before every backward
        net.set_requires_gradient_sync(last)
        return contextlib.nullcontext()
    if not last and hasattr(net, "no_sync"):  # DDP
        return net.no_sync()
    return contextlib.nullcontext()


# -------------------------------------------------------------------------------------------------------- optimiser
def adamw(net, args) -> tuple[list[torch.nn.Parameter], torch.optim.AdamW]:
    """(the trainable parameters, AdamW over them with --lr and --weight-decay)."""
    params = [p for p in net.parameters() if p.requires_grad]
    return params, torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.999))


def cosine_with_warmup(total: int, warmup: int):
    """LR factor of step s: linear warmup over `warmup` steps, then cosine to 0 at `total` (SFT)."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def constant_with_warmup(warmup: int):
    """LR factor of step s: linear warmup over `warmup` steps (0: none), then constant (GRPO)."""
    return lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0


def optimizer_step(params, optimizer, scheduler, clip: float) -> float:
    """Clip the gradient norm (0: no clip), step, advance the schedule, drop the gradients. Returns the norm
    before clipping (FSDP2's DTensor made whole)."""
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


# ----------------------------------------------------------------------------------------------------------- resume
def resume(spec: str | None, out: Path, net, optimizer, scheduler, version_id: str, same: dict) -> dict | None:
    """Restore the checkpoint `spec` names ("latest": the newest under out/checkpoints) into model, optimiser,
    scheduler and RNG; returns its trainer.json (None: no --resume, or nothing to resume from). Refuses a
    checkpoint of another dataset version, or one whose config differs from this run's in a key of `same`
    (flag name without dashes -> this run's value, checked in order): the batch plan is a function of them."""
    if not spec:
        return None
    path = checkpoint.latest(out) if spec == "latest" else Path(spec)
    if path is None:
        print(f"[resume] no checkpoint in {out}/checkpoints: starting at step 0", flush=True)
        return None
    state = checkpoint.load(path, net, optimizer, scheduler)
    if state["dataset_version_id"] != version_id:
        raise ValueError(f"checkpoint trained on {state['dataset_version_id']}, not {version_id}")
    old = dict(state.get("config", {}))
    if "batching" not in old:  # checkpoints from before --batching had a boolean --single-dataset
        old["batching"] = "single-dataset" if old.get("single_dataset") else "mixed"
    for key, now in same.items():
        if old.get(key) != now:
            raise ValueError(f"checkpoint {path} ran with --{key} {old.get(key)}, this run has {now}: pass the same")
    return {**state, "path": str(path)}


# ---------------------------------------------------------------------------------------------------------- the end
def finish(args, out: Path, net, tokenizer, renderer, meta: dict, step: int) -> dict:
    """Collective. Export out/model (the final weights, LoRA merged; unless --no-export), leave the process group."""
    if args.export:
        checkpoint.export(out / "model", net, tokenizer, renderer, {**meta, "steps": step})
    dist.cleanup()
    return {"steps": step, "out": str(out)}
