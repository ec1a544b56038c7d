"""Roll out a checkpoint: K sampled completions per distinct side of a dataset version, with their embeddings.

What it does. Every distinct side (query or target) of the version's split — a class label used by 500 pairs is
rolled out once — gets K completions at temperature 1 (DESIGN.md: G = 8), bounded by --max-completion-length,
through training/generation.py: a backend samples the tokens, then one forward of the checkpoint over prompt +
completion reads the generative embedding (at the generated <gen_emb>, else the last completion token; `gen_found`
says which). Rows are written as the "Rollout run folder" of docs/interfaces.md: parquet shards under rollouts/,
one per generation batch, written under a temporary name and renamed when complete, and manifest.json. A flow loads
the folder into the warehouse (umedata.rollouts) and training/score_rollouts.py computes the rewards.

Choices:
  * Keyed, not logged: rollout_key = digest("rollout", checkpoint_id, side_id, k, sampling_id), with checkpoint_id
    the content id of the model folder (training/ids.py: the one the embedding cache and GRPO use too; the same
    files give the same id wherever they live) and sampling_id a hash of the sampling settings. A run first reads
    the keys its folder's shards already hold and generates only sides with a missing key, so a re-run generates
    nothing and a run killed at any point (SIGKILL included) resumes where its last complete shard ended; a
    half-written shard has a temporary name and is never read.
  * Reproducible: sample k of a side draws from its own seeded stream (training/generation.py), so what a resumed
    run regenerates equals what the uninterrupted run would have written, on any number of ranks.
  * Data-parallel without collectives: under torchrun, rank r takes sides r, r + world, ... of the sorted list and
    writes its own shards (part-r<rank>-<nnnnn>.parquet); no rank waits for another, so one dead rank stalls
    nothing, and its sides are taken up by the re-run. Whichever rank finds every key present when it finishes
    writes the manifest with finished = true (before that, rank 0 writes it with finished = false).
  * One folder, one run: a folder whose manifest names another checkpoint, version, split, sampling or backend is
    refused rather than mixed.
  * The backend samples, the trainer's model embeds: --backend vllm (the vLLM offline engine, GPU environment
    only) for throughput; the embeddings are the same model's either way.

Run:
    # the tiny CPU model (quick look; a random model rarely ends its reasoning, hence the short cap)
    python -m training.rollout --checkpoint runs/sft/model --dataset DIR --k 4 --max-completion-length 32 \
        --out runs/rollouts --threads 2
    # one GPU, the recipe: K = 8 at temperature 1, completions up to 2048 tokens, vLLM sampling
    python -m training.rollout --checkpoint runs/sft2b/model --dataset DIR --split train --k 8 \
        --out runs/rollouts --backend vllm --batch-size 64
    # 8 GPUs on one node: the same command under torchrun (each rank its share of the sides)
    torchrun --standalone --nproc_per_node=8 -m training.rollout --checkpoint runs/sft2b/model --dataset DIR \
        --k 8 --out runs/rollouts --batch-size 64
    # after a crash: the same command again (it generates only what is missing)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from training import data, dist, generation, setup
from training import model as model_lib
from training.ids import checkpoint_id, digest
from umedata.format import FORMAT_REGEX, FORMAT_VERSION

READ_AT = "generated <gen_emb>, else the last completion token"
SHARD_GLOB = "part-r*-*.parquet"
SCHEMA = pa.schema([
    ("rollout_key", pa.string()), ("side_id", pa.string()), ("k", pa.int32()), ("text", pa.string()),
    ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()), ("finish_reason", pa.string()),
    ("format_ok", pa.bool_()), ("gen_found", pa.bool_()), ("embedding", pa.list_(pa.float32())),
])


# ------------------------------------------------------------------------------------------------------------ ids
def sampling_id(sampling: generation.Sampling) -> str:
    return digest("sampling", json.dumps(sampling.as_dict(), sort_keys=True))


def rollout_key(ckpt_id: str, side_id: str, k: int, samp_id: str) -> str:
    return digest("rollout", ckpt_id, side_id, str(k), samp_id)


# ---------------------------------------------------------------------------------------------------------- sides
def distinct_sides(table) -> list[data.Side]:
    """Every distinct side (queries and targets) of a split, sorted by side_id."""
    sides: dict[str, data.Side] = {}
    for row in table.to_pylist():
        q, t, _ = data.sides_of_row(row)
        sides.setdefault(q.side_id, q)
        sides.setdefault(t.side_id, t)
    return [sides[s] for s in sorted(sides)]


# ----------------------------------------------------------------------------------------------------- the folder
def existing_keys(out: Path) -> set[str]:
    """rollout_key of every complete shard in the folder (every rank's; temporary names are not read)."""
    keys: set[str] = set()
    for path in sorted((out / "rollouts").glob(SHARD_GLOB)):
        keys.update(pq.read_table(path, columns=["rollout_key"]).column("rollout_key").to_pylist())
    return keys


def next_shard_index(out: Path, rank: int) -> int:
    found = [int(p.stem.rsplit("-", 1)[1]) for p in (out / "rollouts").glob(f"part-r{rank}-*.parquet")]
    return max(found) + 1 if found else 0


def write_shard(out: Path, rank: int, index: int, table: pa.Table) -> Path:
    final = out / "rollouts" / f"part-r{rank}-{index:05d}.parquet"
    tmp = final.with_name(f".tmp-{final.name}")
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return final


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def summarise(out: Path) -> tuple[list[str], dict]:
    """(shards, counts) from the complete shards (small columns only)."""
    shards = sorted((out / "rollouts").glob(SHARD_GLOB))
    cols = ["rollout_key", "side_id", "finish_reason", "format_ok", "gen_found"]
    t = pa.concat_tables([pq.read_table(p, columns=cols) for p in shards]) if shards else None
    if t is None or t.num_rows == 0:
        return [], {"sides": 0, "rollouts": 0, "stop": 0, "length": 0, "format_ok": 0, "gen_found": 0}
    reasons = t.column("finish_reason").to_pylist()
    counts = {
        "sides": len(set(t.column("side_id").to_pylist())), "rollouts": t.num_rows,
        "stop": reasons.count("stop"), "length": reasons.count("length"),
        "format_ok": int(sum(t.column("format_ok").to_pylist())),
        "gen_found": int(sum(t.column("gen_found").to_pylist())),
    }
    return [str(p.relative_to(out)) for p in shards], counts


def rows_table(keys: list[str], sides: list[str], ks: list[int], samples: generation.Samples,
               keep: list[int]) -> pa.Table:
    emb = samples.gen[keep].float().cpu().numpy().astype(np.float32)
    n, dim = emb.shape
    texts = [samples.texts[i] for i in keep]
    embedding = pa.ListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32)),
                                         pa.array(emb.reshape(-1)))
    return pa.table({
        "rollout_key": keys, "side_id": sides, "k": pa.array(ks, pa.int32()), "text": texts,
        "prompt_tokens": pa.array([samples.prompt_tokens[i] for i in keep], pa.int32()),
        "completion_tokens": pa.array([samples.completion_tokens[i] for i in keep], pa.int32()),
        "finish_reason": [samples.finish_reason[i] for i in keep],
        "format_ok": [FORMAT_REGEX.search(t) is not None for t in texts],
        "gen_found": [bool(samples.gen_found[i]) for i in keep],
        "embedding": embedding,
    }, schema=SCHEMA)


# ----------------------------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    BOOL = argparse.BooleanOptionalAction
    ap.add_argument("--checkpoint", required=True, help="model folder (an SFT run's model/) or hub name")
    ap.add_argument("--dataset", required=True, help="dataset version directory (local path or fsspec URL)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", required=True, help="the rollout run folder (created; resumed if it exists)")
    ap.add_argument("--k", type=int, default=8, help="samples per side (the recipe's G = 8)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0, help="0: off")
    ap.add_argument("--max-completion-length", type=int, default=model_lib.MAX_COMPLETION_LENGTH,
                    help="cap on generated tokens (the reference's 2048; a cap below the reasoning's length cuts "
                         "<gen_emb> off)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=generation.BACKENDS, default="transformers")
    ap.add_argument("--batch-size", type=int, default=16, help="sides per generation batch (x K sequences)")
    ap.add_argument("--encode-batch", type=int, default=None,
                    help="rows per embedding forward (default: the whole generation batch)")
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.5, help="vLLM's share of the GPU (the "
                    "trainer's model shares it for the embedding forward)")
    data.add_render_args(ap)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--progress", action=BOOL, default=None, help="a progress bar (default: on a terminal)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env = dist.environment(args.device)  # no process group: ranks never wait on each other (module docstring)
    rank, world, dev = env.rank, env.world, env.device
    out = Path(args.out)
    (out / "rollouts").mkdir(parents=True, exist_ok=True)

    sampling = generation.Sampling(k=args.k, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                                   max_completion_length=args.max_completion_length, seed=args.seed)
    version = data.open_version(args.dataset)
    sides = distinct_sides(version.read_split(args.split))
    ckpt, samp = checkpoint_id(args.checkpoint), sampling_id(sampling)
    run_id = digest("rollout_run", ckpt, version.version_id, args.split, samp, args.backend)
    manifest = {
        "kind": "rollouts", "run_id": run_id, "checkpoint": str(args.checkpoint), "checkpoint_id": ckpt,
        "dataset": str(args.dataset), "dataset_version_id": version.version_id, "split": args.split,
        "sampling": sampling.as_dict(), "sampling_id": samp, "backend": args.backend,
        "format_version": FORMAT_VERSION, "embedding": {"dim": None, "read_at": READ_AT},
        "shards": [], "counts": {}, "finished": False,
    }
    path = out / "manifest.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("run_id") != run_id:
            differs = [k for k in ("checkpoint_id", "dataset_version_id", "split", "sampling", "backend")
                       if old.get(k) != manifest[k]]
            raise SystemExit(f"{out} holds rollout run {old.get('run_id')} (it differs in {', '.join(differs)}); "
                             "one folder holds one run: choose another --out")
        manifest["embedding"] = old.get("embedding", manifest["embedding"])
    elif rank == 0:
        write_json(path, manifest)

    for stale in (out / "rollouts").glob(f".tmp-part-r{rank}-*.parquet"):  # this rank's shard a kill cut short
        stale.unlink(missing_ok=True)
    keys = {s.side_id: [rollout_key(ckpt, s.side_id, j, samp) for j in range(args.k)] for s in sides}
    done = existing_keys(out)
    mine = [s for s in sides[rank::world] if not all(k in done for k in keys[s.side_id])]
    total_mine = len(sides[rank::world])
    log = (lambda msg: print(f"[rollout r{rank}] {msg}", flush=True))
    log(f"{len(sides)} sides x {args.k}; this rank: {total_mine} sides, {total_mine - len(mine)} already done, "
        f"{len(mine)} to generate ({args.backend}, run {run_id})")

    if mine:
        hf, tokenizer = model_lib.load(args.checkpoint, attn_implementation=args.attn)
        ids = model_lib.add_embedding_tokens(hf, tokenizer)
        net = model_lib.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).to(dev).eval()
        renderer = data.Renderer.from_args(args.checkpoint, tokenizer, version.media_root(), args)
        backend = generation.backend(args.backend, net, tokenizer, model_dir=args.checkpoint, renderer=renderer,
                                     **({"gpu_memory_utilization": args.gpu_memory_utilization}
                                        if args.backend == "vllm" else {}))
        autocast = setup.autocast(dev)
        show = args.progress if args.progress is not None else (rank == 0 and sys.stderr.isatty())
        bar = None
        if show:
            from tqdm import tqdm

            bar = tqdm(total=len(mine) * args.k, unit="rollout", desc=f"rollouts r{rank}")
        index, written, t0 = next_shard_index(out, rank), 0, time.time()
        n_batches = -(-len(mine) // args.batch_size)
        for b in range(n_batches):
            chunk = mine[b * args.batch_size : (b + 1) * args.batch_size]
            with torch.no_grad(), autocast:
                samples = generation.sample(net, tokenizer, generation.prompts(renderer, chunk), sampling,
                                            backend=backend, encode_batch=args.encode_batch)
            keep, rkeys, rsides, rks = [], [], [], []
            for i in range(len(samples)):
                side = chunk[samples.prompt_index[i]].side_id
                key = keys[side][samples.sample_index[i]]
                if key not in done:  # only a side that a different run layout left half-done has some
                    keep.append(i)
                    rkeys.append(key)
                    rsides.append(side)
                    rks.append(samples.sample_index[i])
            write_shard(out, rank, index, rows_table(rkeys, rsides, rks, samples, keep))
            done.update(rkeys)
            index += 1
            written += len(keep)
            manifest["embedding"]["dim"] = int(samples.gen.shape[1])
            if bar is not None:
                bar.update(len(samples))
            elif b == n_batches - 1 or (b + 1) % max(1, n_batches // 10) == 0:
                rate = written / max(time.time() - t0, 1e-9)
                log(f"{b + 1}/{n_batches} batches, {written} rollouts written ({rate:.1f}/s)")
        if bar is not None:
            bar.close()

    # Whichever rank sees every key present writes the finished manifest (see the module docstring).
    shards, counts = summarise(out)
    expected = len(sides) * args.k
    complete = len(existing_keys(out) & {k for ks in keys.values() for k in ks}) == expected
    if manifest["embedding"]["dim"] is None and shards:
        first = pq.read_table(out / shards[0], columns=["embedding"]).column("embedding")
        manifest["embedding"]["dim"] = len(first[0]) if len(first) else None
    manifest.update(shards=shards, counts=counts, finished=complete)
    old = json.loads(path.read_text()) if path.exists() else {}
    if complete:
        manifest["finished_at"] = old.get("finished_at") if old.get("finished") else \
            dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat()  # naive UTC, as the warehouse keeps
        write_json(path, manifest)
    elif rank == 0 and not old.get("finished"):  # never turn a finished manifest back into an unfinished one
        write_json(path, manifest)
    log(f"{'finished' if complete else 'this rank is done; other ranks still running'}: {counts['rollouts']} of "
        f"{expected} rollouts in {len(shards)} shards")
    return manifest


if __name__ == "__main__":
    main()
