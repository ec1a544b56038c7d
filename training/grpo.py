"""GRPO stage: reinforce reasoning that leads to a good generative embedding (UME-R1, stage 2).

Algorithm. Each step takes a generation batch of pairs (query side, positive target side) from an RL dataset
version, starting from the SFT checkpoint (--model), and for every side samples G completions with the current
policy (temperature 1). One forward of the policy over prompt + completion gives each rollout's generative
embedding (hidden state at its <gen_emb>, detached, L2-normalised) and the log-probabilities of its tokens. The
reward (training/reward.py, DESIGN.md) scores every rollout against the whole generation batch gathered across
ranks (the scoring pool):

    r = r_format + rank x gap        r_format = 1 iff <think>..</think>..<answer>..<gen_emb> matches
    A = (r - mean_group) / (std_group + 1e-4)      group = the G rollouts of one side, std unbiased

and the policy minimises (training/rl_losses.py)

    L_i = sum_t [ -min(rho_t A_i, clip(rho_t, 1 - 0.2, 1 + 0.28) A_i) + 0.04 k3_t ] / max_completion_length
    loss = (mean_{query rollouts} L_i + mean_{target rollouts} L_i) / 2

with k3 the KL estimate to the frozen SFT checkpoint RL starts from (with LoRA: the same weights, adapters off).

Choices (defaults are the reference's; every constant is a flag; run.json records all):
  * --batch 256 pairs per generation batch (all ranks), --group 8 rollouts per side, --epochs 1, AdamW lr 1e-6
    constant, grad clip 1.0, --max-completion-length 2048, --temperature 1.
  * --mu 1 policy update per generation batch: old log-probs are the policy's own, detached, so rho = 1 and the
    clip is inert (as in the reference); with --mu > 1 the old log-probs are kept from before the first update.
  * The rollouts' embeddings for the reward come from the same forward as the update's log-probs when a rank's
    rollouts fit one forward (--micro-batch 0 or >= the rank's rollouts): one forward less per step. Otherwise a
    no-grad scoring pass reads them first and the update runs in micro-batches of --micro-batch sequences.
  * The scoring pool is the whole generation batch across ranks (the reference); its size is logged each step
    ("pool_pairs", "pool_rollouts"): the pool changes the reward.
  * --filter-zero-std leaves groups whose G rewards are all equal out of the loss (DAPO-style online filtering,
    for sets not curated offline); the zero-std fraction is logged either way (small on a curated RL set).
  * Sampling is seeded per step: the stream of sample j of side s at step k is a function of (seed, k, side, j)
    (training/generation.py), so a resumed run samples exactly what the uninterrupted run would have, whatever
    the world size or --gen-batch. (A side in two pairs of one batch, a shared class label, gets the same G
    samples in both groups.)
  * Log-probs and the KL are of the model's own distribution; --temperature other than 1 changes only sampling.
  * Generation backends: transformers generate() (CPU, GPU), or vLLM colocated on each GPU (--backend vllm;
    "auto" picks it when CUDA is there and vllm imports): the engine takes --vllm-memory of the GPU and gets the
    policy's weights after every update (LoRA merged for the copy).
  * DDP when world > 1, --fsdp for FSDP2 (the reference copy is sharded the same way), as in training/sft.py: the
    model, its wrapping, the optimiser step and resume are training/setup.py's, shared by both trainers.
    Under FSDP the transformers backend generates with the policy unsharded (the full weights for the duration,
    as a rollout engine holds them), so ranks that decode different lengths need no collective in step.

Outputs in --out: metrics.jsonl (one line per generation batch: reward parts, advantages, KL, clip fraction,
completion lengths, format rate, zero-std fraction, time split generation / scoring / update; scoring holds the
reference pass, the embedding forward (the fused forward with gradient when there is one) and the reward; update
holds the backward passes, the optimiser and the vLLM weight sync) and TensorBoard
events, samples.jsonl (a few completions per step), checkpoints/step_N/ every --save-every steps (model,
optimiser, scheduler, RNG, step, the RL version id and the SFT checkpoint; --resume continues exactly), and
model/ (the final weights, LoRA merged, ready for training.evaluate).

Run:
    # the tiny CPU model after a short SFT (training/sft.py); a random-weight tiny model moves at 1e-6 only in
    # thousands of steps, hence --lr 2e-4; 8 pairs x 2 sides x 4 rollouts of <= 48 tokens: a step takes ~1 s
    python -m training.grpo --dataset RL_DIR --model runs/sft/model --out runs/grpo --batch 8 --group 4 \
        --max-completion-length 48 --lr 2e-4 --steps 20 --micro-batch 0
    # one GPU, the 2B student, vLLM colocated (the reference's constants are the defaults)
    python -m training.grpo --dataset RL_DIR --model runs/sft2b/model --out runs/grpo2b --batch 32 \
        --micro-batch 8 --grad-ckpt --attn flash_attention_2 --backend vllm --save-every 50
    # 8 GPUs on one node: the reference's batch of 256 pairs (4,096 rollouts, 512 per GPU); --fsdp for a 7B
    torchrun --standalone --nproc_per_node=8 -m training.grpo --dataset RL_DIR --model runs/sft2b/model \
        --out runs/grpo2b --micro-batch 8 --grad-ckpt --attn flash_attention_2 --backend vllm --save-every 50
    # after a crash: the same command plus --resume
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from training import checkpoint, data, dist, generation, reward, rl_losses, setup
from training import model as model_lib
from training.ids import checkpoint_id
from training.run_log import RunLog
from umedata.format import IM_END


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    BOOL = argparse.BooleanOptionalAction
    ap.add_argument("--dataset", required=True, help="RL dataset version directory (local path or fsspec URL)")
    ap.add_argument("--model", required=True, help="the SFT checkpoint RL starts from (and the KL reference)")
    ap.add_argument("--out", default="runs/grpo")
    ap.add_argument("--split", default="train")
    # schedule
    ap.add_argument("--steps", type=int, default=0, help="generation batches (0: from --epochs)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=256, help="pairs per generation batch, all ranks together")
    ap.add_argument("--group", type=int, default=8, help="G: rollouts per side")
    ap.add_argument("--mu", type=int, default=1, help="policy updates (optimiser steps) per generation batch")
    ap.add_argument("--micro-batch", type=int, default=8,
                    help="rollout sequences per forward with gradient, per rank (0: all of the rank's rollouts in "
                         "one forward, which then also gives the reward's embeddings)")
    setup.add_optimizer_args(ap, lr=1e-6, warmup=0.0)  # then constant
    ap.add_argument("--seed", type=int, default=0)
    # sampling
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--max-completion-length", type=int, default=model_lib.MAX_COMPLETION_LENGTH,
                    help="cap on sampled tokens, and the constant every sequence's token losses are divided by")
    ap.add_argument("--gen-batch", type=int, default=0,
                    help="prompts per generation call, per rank (0: all at once; with the transformers backend on "
                         "a GPU lower it to bound the KV cache: each prompt carries G sequences)")
    ap.add_argument("--backend", default="transformers", choices=["auto", *generation.BACKENDS])
    ap.add_argument("--vllm-memory", type=float, default=0.3, help="share of GPU memory the colocated vLLM takes")
    # loss
    ap.add_argument("--eps-low", type=float, default=0.2)
    ap.add_argument("--eps-high", type=float, default=0.28)
    ap.add_argument("--beta", type=float, default=0.04, help="k3 KL weight (0: no reference forward at all)")
    ap.add_argument("--adv-eps", type=float, default=1e-4)
    ap.add_argument("--filter-zero-std", action=BOOL, default=False,
                    help="leave groups whose rewards are all equal out of the loss (DAPO-style, for uncurated sets)")
    # data
    ap.add_argument("--batching", choices=data.BATCHING, default="mixed",
                    help="mixed: pairs of all datasets shuffled together (the reference's RL loader); "
                         "single-dataset: each generation batch (so each scoring pool) from one dataset")
    data.add_render_args(ap)
    # model, parallelism, bookkeeping (the same flags as training/sft.py's; with --lora-r the KL reference is the
    # policy with its adapters off, else a frozen copy of --model)
    setup.add_model_args(ap)
    setup.add_run_args(ap)
    ap.add_argument("--samples", type=int, default=2, help="completions per step written to samples.jsonl")
    args = ap.parse_args(argv)
    if args.group < 2:
        ap.error("--group must be >= 2 (a group's std needs two rollouts)")
    return args


# ----------------------------------------------------------------------------------------------------- helpers
def step_seed(seed: int, step: int) -> int:
    """The sampling seed of generation batch `step` (0-based): resumes need no RNG state to sample the same."""
    return int.from_bytes(hashlib.sha256(f"grpo\x1f{seed}\x1f{step}".encode()).digest()[:4], "little")


def forward(net, rendered: list[dict], ids: list[list[int]], pad_id: int, device) -> tuple[model_lib.Output, list]:
    """The model over prompt + completion rows; returns its output and each row's completion log-probs."""
    batch = data.to_device(generation.completion_batch(rendered, ids, pad_id), device)
    out = net(batch)
    return out, list((-out.nll).split([len(c) for c in ids]))


def chunks(index: list[int], size: int, n: int = 0) -> list[list[int]]:
    """`index` cut into pieces of `size` (0: one piece), padded to n pieces with [-1] (a zero-weight row)."""
    size = size or max(1, len(index))
    parts = [index[k : k + size] for k in range(0, len(index), size)]
    return parts + [[-1]] * (n - len(parts))


@contextlib.contextmanager
def adapters_off(plain):
    """LoRA: the reference is the base weights, i.e. the policy with its adapters disabled."""
    with plain.hf.disable_adapter():
        yield


@contextlib.contextmanager
def gathered(net, fsdp: bool):
    """FSDP2: the whole policy unsharded while generate() runs, so decoding issues no collective at all (ranks
    stop at different lengths and feed different media, which per-layer gathers cannot survive); resharded after.
    Costs the full weights in memory for the duration, as any rollout engine holds them."""
    if not fsdp:
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    parts = [m for m in net.modules() if isinstance(m, FSDPModule)]
    for m in parts:  # the same order on every rank: one all-gather each
        m.set_reshard_after_forward(False, recurse=False)
        m.unshard()
    try:
        yield
    finally:
        for m in parts:
            m.reshard()
            m.set_reshard_after_forward(True, recurse=False)


def sync_vllm(backend, net) -> None:
    """Colocated vLLM: load the policy's current weights into the engine (LoRA merged for the copy)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    hf = setup.unwrap(net).hf
    merged = hasattr(hf, "merge_adapter")
    if merged:
        hf.merge_adapter()
    try:  # the state dict holds the live parameters: load them before the adapters come apart again
        state = get_model_state_dict(net, options=StateDictOptions(full_state_dict=True))
        prefix = "module.hf." if any(k.startswith("module.hf.") for k in state) else "hf."
        # peft's names back to the model's own: merged base layers, the trained copy of modules_to_save
        skip = ("lora_", "token_adapter", "original_module")
        weights = ((k[len(prefix):].replace("base_model.model.", "").replace(".base_layer", "")
                    .replace(".modules_to_save.default", ""), v)
                   for k, v in state.items() if k.startswith(prefix) and not any(s in k for s in skip))
        backend.llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(weights)
    finally:
        if merged:
            hf.unmerge_adapter()
    backend.llm.reset_prefix_cache()


def build_models(args, env: dist.Env):
    """(policy, reference or None, tokenizer): the policy starts from --model with training/sft.py's trainable
    parts and wrapping (training/setup.py); the reference is a frozen copy of the same checkpoint (None with LoRA,
    whose reference is the policy with adapters off, or with --beta 0)."""
    net, tokenizer = setup.trainable_model(args, env)
    ref = None
    if args.beta and not args.lora_r:
        ref_hf, _ = model_lib.load(args.model, attn_implementation=args.attn)
        model_lib.add_embedding_tokens(ref_hf, tokenizer)
        ref = model_lib.EmbeddingModel(ref_hf.requires_grad_(False), net.disc_id, net.gen_id).to(env.device).eval()
        if args.fsdp:
            ref = setup.wrap(ref, env, args)
    return setup.wrap(net, env, args), ref, tokenizer


# ------------------------------------------------------------------------------------------- one generation batch
@dataclass
class Rollouts:
    """This rank's rollouts: G per side, queries first, groups of G contiguous (row i belongs to group i // G)."""

    rendered: list[dict]  # the side's rendered prompt, once per rollout
    ids: list[list[int]]  # sampled completion tokens
    texts: list[str]  # decoded, special tokens kept
    finish: list[str]  # stop | length
    side_ids: list[str]
    role: torch.Tensor  # (n,) rl_losses.QRY / POS
    pair: torch.Tensor  # (n,) the pair's index in the whole generation batch (all ranks)
    seed: int  # the sampling seed of this step

    def __len__(self) -> int:
        return len(self.ids)


def rollout(engine, renderer, rows: list[dict], group: int, sampling: generation.Sampling, rank: int,
            gen_batch: int = 0) -> Rollouts:
    """Sample `group` completions of every query side, then of every target side, of this rank's pairs,
    `gen_batch` prompts per generation call (0: all)."""
    sides = [data.sides_of_row(r)[0] for r in rows] + [data.sides_of_row(r)[1] for r in rows]
    prompts = generation.prompts(renderer, sides)
    step = gen_batch or len(prompts)
    completions = [c for k in range(0, len(prompts), step) for c in engine.complete(prompts[k : k + step], sampling)]
    ids = [c.ids for c in completions]
    n, pairs = len(ids), len(rows)
    group_of = torch.arange(n) // group
    return Rollouts(
        rendered=[p.rendered for p in prompts for _ in range(group)], ids=ids,
        texts=renderer.tokenizer.batch_decode(ids, skip_special_tokens=False),
        finish=[c.finish_reason for c in completions], side_ids=[s.side_id for s in sides for _ in range(group)],
        role=(group_of >= pairs).long(), pair=group_of % pairs + rank * pairs, seed=sampling.seed)


@dataclass
class Scored:
    pool: reward.Reward  # every rollout of the generation batch, all ranks (rank-major, as gathered)
    pool_role: torch.Tensor
    adv_all: torch.Tensor  # advantages of the pool
    zero_all: torch.Tensor  # (groups,) a group whose rewards are all equal
    adv: torch.Tensor  # this rank's rollouts
    weight: torch.Tensor  # 1 in the loss, 0 filtered out
    n_role: tuple[float, float]  # weighted query / target rollouts of the whole batch
    ref_logp: list  # per rollout (T_i,), or None without the KL term
    old_logp: list  # per rollout, kept only when mu > 1
    gen_found: torch.Tensor
    graph: tuple | None  # the fused forward (output, log-probs) whose backward is the first update


def score(net, ref, ro: Rollouts, args, env: dist.Env, pad_id: int, autocast) -> Scored:
    """Reference log-probs, the rollouts' embeddings from the policy, the reward over the gathered pool, and
    group-relative advantages. Collective: every rank calls it."""
    n, G, plain = len(ro), args.group, setup.unwrap(net)
    every = list(range(n))
    ref_logp: list = [None] * n
    if args.beta:
        with torch.no_grad(), autocast, (adapters_off(plain) if ref is None else contextlib.nullcontext()):
            for part in chunks(every, args.micro_batch):
                _, lp = forward(ref if ref is not None else plain, [ro.rendered[i] for i in part],
                                [ro.ids[i] for i in part], pad_id, env.device)
                for i, x in zip(part, lp):
                    ref_logp[i] = x.float()
    old_logp: list = [None] * n
    graph = None
    if args.micro_batch == 0 or args.micro_batch >= n:
        # one forward with gradient gives the reward's embeddings and the first update's log-probs
        net.train()
        with autocast:
            graph = forward(net, ro.rendered, ro.ids, pad_id, env.device)
        emb, found = graph[0].gen.detach(), graph[0].gen_found
        if args.mu > 1:
            old_logp = [x.detach().float() for x in graph[1]]
    else:
        embs, founds = [], []
        with torch.no_grad(), autocast:
            for part in chunks(every, args.micro_batch):
                o, lp = forward(plain, [ro.rendered[i] for i in part], [ro.ids[i] for i in part], pad_id,
                                env.device)
                embs.append(o.gen)
                founds.append(o.gen_found)
                if args.mu > 1:
                    for i, x in zip(part, lp):
                        old_logp[i] = x.float()
        emb, found = torch.cat(embs), torch.cat(founds)

    # the scoring pool: the whole generation batch, gathered across ranks (every rank scores all of it)
    dev = env.device
    keys = torch.tensor([data.side_key(s) for s in ro.side_ids], device=dev)
    side, role, pair = dist.gather(keys), dist.gather(ro.role.to(dev)), dist.gather(ro.pair.to(dev))
    fmt = dist.gather(reward.format_ok(ro.texts).to(dev))
    is_target = role == rl_losses.POS
    pool = reward.score(dist.gather(emb.float().contiguous()), side, is_target, fmt,
                        reward.pool_pairs(pair, side, is_target), G)
    adv_all, zero_all = rl_losses.group_advantages(pool.reward.double(), G, args.adv_eps)
    mine = slice(env.rank * n, (env.rank + 1) * n)
    zero = zero_all.repeat_interleave(G)[mine].cpu()
    weight = (~zero).float() if args.filter_zero_std else torch.ones(n)
    n_role = tuple(float(x) for x in dist.all_sum(torch.stack([weight[ro.role == r].sum() for r in (0, 1)])))
    return Scored(pool=pool, pool_role=role.cpu(), adv_all=adv_all.cpu(), zero_all=zero_all.cpu(),
                  adv=adv_all[mine].float().cpu(), weight=weight, n_role=n_role, ref_logp=ref_logp,
                  old_logp=old_logp, gen_found=found.cpu(), graph=graph)


def policy_backward(net, ro: Rollouts, sc: Scored, args, env: dist.Env, pad_id: int, autocast,
                    iteration: int = 0) -> dict:
    """Gradients of one policy update (the GRPO loss over the whole generation batch), accumulated over
    micro-batches; the caller clips and steps. Collective: every rank runs the same number of micro-batches."""
    n = len(ro)
    fused = sc.graph is not None and iteration == 0
    if fused:
        parts = [list(range(n))]
    else:
        kept = [i for i in range(n) if sc.weight[i] > 0]
        parts = chunks(kept, args.micro_batch, int(dist.all_max(len(chunks(kept, args.micro_batch)))))
    sums = {"loss": 0.0, "kl": 0.0, "clipped": 0.0, "tokens": 0.0}
    for k, part in enumerate(parts):
        rows = [i for i in part if i >= 0] or [0]  # a padding piece runs one row at weight 0
        weight = sc.weight[rows] if part != [-1] else torch.zeros(1)
        with setup.sync_context(net, k == len(parts) - 1):
            if fused:
                out, lp = sc.graph
            else:
                with autocast:
                    out, lp = forward(net, [ro.rendered[i] for i in rows], [ro.ids[i] for i in rows], pad_id,
                                      env.device)
            logp = torch.cat(lp).float()
            old = torch.cat([sc.old_logp[i] for i in rows]) if args.mu > 1 else logp.detach()
            ref = torch.cat([sc.ref_logp[i] for i in rows]) if args.beta else None
            dev = logp.device
            res = rl_losses.grpo_loss(logp, old, ref, out.nll_seq, sc.adv[rows].to(dev), ro.role[rows].to(dev),
                                      weight.to(dev), sc.n_role, args.max_completion_length, args.eps_low,
                                      args.eps_high, args.beta, env.world)
            (res.loss + out.zero).backward()
        sums["loss"] += res.loss.item() / env.world
        sums["kl"] += res.kl
        sums["clipped"] += res.clipped
        sums["tokens"] += res.tokens
    if fused:
        sc.graph = None  # free the activations
    return sums


def main(argv=None) -> dict:
    args = parse_args(argv)
    env = setup.start(args)
    out = Path(args.out)

    # -------------------------------------------------------------------------------------- data and model
    version = data.open_version(args.dataset)
    if version.kind not in (None, "rl") and env.main:
        print(f"[data] {args.dataset} is a {version.kind!r} version, not an RL one: every pair is rolled out "
              "(--filter-zero-std drops the groups that carry no signal)", flush=True)
    table = version.read_split(args.split)
    net, ref, tokenizer = build_models(args, env)
    renderer = data.Renderer.from_args(args.model, tokenizer, version.media_root(), args)
    plan = data.PromptBatches(table, args.batch, env.world, env.rank, args.seed, args.batching)
    total = args.steps or max(1, int(args.epochs * plan.per_epoch))
    backend_name = args.backend
    if backend_name == "auto":
        import importlib.util

        backend_name = "vllm" if env.device.type == "cuda" and importlib.util.find_spec("vllm") else "transformers"
    if backend_name == "vllm":
        engine = generation.backend("vllm", setup.unwrap(net), tokenizer, model_dir=args.model, renderer=renderer,
                                    gpu_memory_utilization=args.vllm_memory,
                                    distributed_executor_backend="external_launcher", seed=env.rank)
    else:
        engine = generation.backend("transformers", setup.unwrap(net), tokenizer)

    params, optimizer = setup.adamw(net, args)
    updates = total * args.mu
    warmup = max(1, round(args.warmup * updates)) if args.warmup > 0 else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, setup.constant_with_warmup(warmup))
    meta = {"kind": "grpo", "dataset_version_id": version.version_id, "dataset": str(args.dataset),
            "dataset_kind": version.kind, "format_version": version.manifest["format_version"],
            "base_model": str(args.model), "sft_checkpoint": str(args.model),
            "sft_checkpoint_id": checkpoint_id(args.model), "config": vars(args),
            "world_size": env.world, "backend": backend_name, "pool_pairs": args.batch,
            "unused_datasets": plan.unused}
    # the batch plan and the sampling streams are functions of these: a resume under others would change them
    state = setup.resume(args.resume, out, net, optimizer, scheduler, version.version_id,
                         {k: getattr(args, k) for k in ("seed", "batch", "group", "batching", "mu")})
    step = 0
    if state:
        if state.get("sft_checkpoint_id") != meta["sft_checkpoint_id"]:
            raise ValueError(f"checkpoint {state['path']} started from SFT checkpoint {state.get('sft_checkpoint')} "
                             f"(id {state.get('sft_checkpoint_id')}), not {args.model}")
        step = state["step"]
        if backend_name == "vllm":
            sync_vllm(engine, net)
    autocast = setup.autocast(env.device, args.fsdp)
    if args.fsdp and backend_name == "transformers":  # FSDP2 initialises on its root's first forward, not unshard()
        first = renderer.render(data.sides_of_row(plan.rows(step)[0])[0], completion=False)
        with torch.no_grad():
            forward(net, [first], [[tokenizer.convert_tokens_to_ids(IM_END)]], renderer.pad_id, env.device)
    log = RunLog(out, "grpo", meta, step, total, env.main, args.tensorboard, args.progress, also=("samples.jsonl",))

    # ---------------------------------------------------------------------------------------- training loop
    pad = renderer.pad_id
    while step < total:
        t0 = time.time()
        # 1. generation: G samples per side with the current policy, seeded by (seed, step)
        net.eval()
        sampling = generation.Sampling(k=args.group, temperature=args.temperature, top_p=args.top_p,
                                       top_k=args.top_k, max_completion_length=args.max_completion_length,
                                       seed=step_seed(args.seed, step))
        with autocast, gathered(net, args.fsdp and backend_name == "transformers"):
            ro = rollout(engine, renderer, plan.rows(step), args.group, sampling, env.rank, args.gen_batch)
        t_gen = time.time() - t0

        # 2. scoring: reference log-probs, embeddings from the policy's forward, reward over the gathered pool
        t1 = time.time()
        sc = score(net, ref, ro, args, env, pad, autocast)
        t_score = time.time() - t1

        # 3. update: mu optimiser steps on the generation batch
        t2 = time.time()
        net.train()
        sums: dict[str, float] = {}
        for it in range(args.mu):
            part = policy_backward(net, ro, sc, args, env, pad, autocast, it)
            for k, v in part.items():
                sums[k] = sums.get(k, 0.0) + v / args.mu
            grad_norm = setup.optimizer_step(params, optimizer, scheduler, args.clip)
        step += 1
        if backend_name == "vllm":
            sync_vllm(engine, net)
        t_update = time.time() - t2

        # 4. record: reward parts are global already (every rank scored the whole pool); the rest summed over ranks
        n = len(ro)
        lengths = torch.tensor([len(c) for c in ro.ids], dtype=torch.float64)
        tot = dist.all_sum_dict({"completion_tokens": lengths.sum(), "truncated": ro.finish.count("length"),
                                 "gen_found": sc.gen_found.float().sum(),
                                 "prompt_tokens": sum(r["prompt_len"] for r in ro.rendered), **sums})
        n_all, pool, is_q = n * env.world, sc.pool, sc.pool_role == rl_losses.QRY
        rec = {"step": step, "loss": tot["loss"], "reward": pool.reward.mean().item(),
               "reward_qry": pool.reward[is_q].mean().item(), "reward_pos": pool.reward[~is_q].mean().item(),
               "r_format": pool.r_format.mean().item(), "r_emb": pool.r_emb.mean().item(),
               "rank": pool.rank.mean().item(), "gap": pool.gap.mean().item(),
               "adv_mean": sc.adv_all.mean().item(), "adv_std": sc.adv_all.std().item(),
               "zero_std": sc.zero_all.float().mean().item(), "in_loss": float(sum(sc.n_role) / n_all),
               "kl": tot["kl"] / max(tot["tokens"], 1), "clip_frac": tot["clipped"] / max(tot["tokens"], 1),
               "completion_len": tot["completion_tokens"] / n_all,
               "completion_len_max": float(dist.all_max(lengths.max())),
               "truncated": tot["truncated"] / n_all, "gen_found": tot["gen_found"] / n_all,
               "pool_pairs": args.batch, "pool_rollouts": n_all,
               "tokens": int(tot["completion_tokens"] + tot["prompt_tokens"]),
               "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
               "time_generate": t_gen, "time_score": t_score, "time_update": t_update,
               "step_time": time.time() - t0, "world": env.world, "sampling_seed": ro.seed}
        rec["rollouts_per_s"] = n_all / rec["step_time"]
        shown = range(0, n, max(1, n // args.samples))[: args.samples] if args.samples else []
        log.append("samples.jsonl", [{"step": step, "side_id": ro.side_ids[i],
                                      "role": "qry" if ro.role[i] == rl_losses.QRY else "pos", "text": ro.texts[i],
                                      "reward": pool.reward[i].item(), "advantage": sc.adv[i].item()} for i in shown])
        log.step(rec, reward=f"{rec['reward']:.3f}", fmt=f"{rec['r_format']:.2f}", kl=f"{rec['kl']:.4f}")
        if args.save_every and (step % args.save_every == 0 or step == total):
            checkpoint.save(out, step, step, net, optimizer, scheduler, meta, keep=args.keep)

    log.close()
    return setup.finish(args, out, net, tokenizer, renderer, meta, step)


if __name__ == "__main__":
    main()
