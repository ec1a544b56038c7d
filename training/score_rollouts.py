"""Offline rewards of a rollout run: seeded pools of P pairs from one dataset, scored with training/reward.py.

The reward depends on the pool a rollout is scored in (rank and gap compare it with the pool's other targets), so
offline curation fixes its pools and records them: the "Rollout scores" contract of docs/interfaces.md.

Pools. The pairs of the rolled-out split are grouped by dataset; each dataset's pairs, in pair_id order, are
shuffled with a generator seeded by (--seed, the dataset's name) — so adding a dataset changes no other dataset's
pools — and cut into pools of --pool-size pairs; a last pool smaller than 2 pairs joins the one before (one pair
alone has no negatives: its r_emb would be 0). pool_id numbers the pools across datasets in name order. The default
size, 256, is the reference RL trainer's generation batch: the pool its rewards will be computed in.

Within a pool each distinct side is one set of K rollouts (a class label shared by two pairs is one target, never a
negative of itself); query rollouts are scored against every target rollout of the pool and target rollouts
against every query rollout (training/reward.py). Rows are written per pair and role: a shared target's rollouts
appear once for each pair that uses it, with the same values.

Output in --out: rewards-<nnnnn>.parquet (pool_id, pair_id, role, side_id, k, rollout_key, r_format, rank, gap,
r_emb, reward) and manifest.json (the rollout run, version, pool size, seed, the pools, the reward's definition,
counts). Files are written under temporary names and renamed; the manifest comes last, so a folder with a manifest
is complete. The same inputs give the same rows; a folder already holding this scoring is left as it is.

Memory. Embeddings are read from the rollout shards for a group of datasets at a time, as many as fit in
--max-memory-gb (one pass over the shards per group), so a run of 10 M rollouts x 1,536 dims (61 GB as float32)
scores on a machine with less memory.

Run:
    python -m training.score_rollouts --rollouts runs/rollouts --dataset DIR --pool-size 256 --seed 0 \
        --out runs/rollouts/scores-p256-s0
    # pools of 1,024 pairs on a GPU
    python -m training.score_rollouts --rollouts runs/rollouts --dataset DIR --pool-size 1024 --out DIR --device cuda
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from training import data, reward
from umedata.format import FORMAT_REGEX

REWARD = {
    "definition": "r = r_format + rank x gap (DESIGN.md, Method)",
    "format_regex": FORMAT_REGEX.pattern,
    "positives": "the other role's rollouts of sides paired with the rollout's side in the pool",
    "rank": "|TopG(s) ∩ P| / min(G, |P|), G = k; ties count against the positives",
    "gap": "mean_P s - mean_(pool without P) s; 0 when the pool has no negatives",
    "similarity": "cosine of L2-normalised generative embeddings",
}
OUT_SCHEMA = pa.schema([
    ("pool_id", pa.int32()), ("pair_id", pa.string()), ("role", pa.string()), ("side_id", pa.string()),
    ("k", pa.int32()), ("rollout_key", pa.string()), ("r_format", pa.float32()), ("rank", pa.float32()),
    ("gap", pa.float32()), ("r_emb", pa.float32()), ("reward", pa.float32()),
])


# ------------------------------------------------------------------------------------------------------------ pools
def make_pools(pair_ids: list[str], datasets: list[str], pool_size: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """(dataset, indices into the given pairs) of every pool, in pool_id order (see the module docstring)."""
    if pool_size < 2:
        raise ValueError(f"a pool needs at least 2 pairs (one pair has no negatives), not {pool_size}")
    by: dict[str, list[int]] = {}
    for i, d in enumerate(datasets):
        by.setdefault(d, []).append(i)
    pools = []
    for name in sorted(by):
        idx = np.array(sorted(by[name], key=lambda i: pair_ids[i]), dtype=np.int64)
        salt = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
        idx = idx[np.random.default_rng([seed, salt]).permutation(len(idx))]
        cuts = [idx[k : k + pool_size] for k in range(0, len(idx), pool_size)]
        if len(cuts) > 1 and len(cuts[-1]) < 2:
            last = cuts.pop()
            cuts[-1] = np.concatenate([cuts[-1], last])
        pools += [(name, c) for c in cuts]
    return pools


# --------------------------------------------------------------------------------------------------------- rollouts
class Rollouts:
    """A rollout run folder's rows without their embeddings, and the embeddings of chosen rows on demand."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / "manifest.json").read_text())
        if self.manifest.get("kind") != "rollouts":
            raise SystemExit(f"{folder} is not a rollout run folder (manifest kind {self.manifest.get('kind')!r})")
        self.k = int(self.manifest["sampling"]["k"])
        self.shards = sorted((self.folder / "rollouts").glob("part-r*-*.parquet"))
        cols = ["rollout_key", "side_id", "k", "format_ok"]
        tables = [pq.read_table(p, columns=cols) for p in self.shards]
        self.offsets = np.cumsum([0] + [t.num_rows for t in tables])
        t = pa.concat_tables(tables) if tables else pa.table({c: [] for c in cols})
        self.keys = t.column("rollout_key")
        enc = pc.dictionary_encode(t.column("side_id")).combine_chunks()
        self.side_ids = enc.dictionary  # side code -> side_id
        self.code = code = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.ks = ks = t.column("k").to_numpy().astype(np.int64)
        self.format_ok = t.column("format_ok").to_numpy(zero_copy_only=False).astype(bool)
        if len(ks) and (ks.min() < 0 or ks.max() >= self.k):
            raise SystemExit(f"{folder}: a rollout has k outside 0..{self.k - 1}")
        # rows[side code, k] = the global row of that rollout, -1 when missing
        self.rows = np.full((len(self.side_ids), self.k), -1, dtype=np.int64)
        self.rows[code, ks] = np.arange(len(code))
        if int((self.rows >= 0).sum()) != len(code):
            raise SystemExit(f"{folder}: a (side, k) appears twice in its shards")

    def codes(self, side_ids: pa.Array) -> np.ndarray:
        """Side code of each side id (-1: no rollouts)."""
        return pc.index_in(side_ids, value_set=self.side_ids).fill_null(-1).to_numpy().astype(np.int64)

    def embeddings(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), dim) float32 of sorted unique global rows, one pass over the shards that hold any."""
        out = None
        for i, path in enumerate(self.shards):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            a, b = np.searchsorted(rows, [lo, hi])
            if a == b:
                continue
            col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
            flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            dim = len(flat) // max(len(col), 1)
            if out is None:
                out = np.empty((len(rows), dim), dtype=np.float32)
            out[a:b] = flat.reshape(len(col), dim)[rows[a:b] - lo]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)


# ------------------------------------------------------------------------------------------------------------ main
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rollouts", required=True, help="a rollout run folder (python -m training.rollout)")
    ap.add_argument("--dataset", required=True, help="the dataset version directory it rolled out")
    ap.add_argument("--pool-size", type=int, default=256,
                    help="pairs per pool (default: the reference RL generation batch, 256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default=None, help="default: the split the rollout run covered")
    ap.add_argument("--allow-unfinished", action="store_true",
                    help="score an unfinished run; pairs lacking rollouts are left out and counted")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-memory-gb", type=float, default=16.0, help="embeddings held at once")
    ap.add_argument("--rows-per-shard", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=0)
    return ap.parse_args(argv)


def _write(out: Path, name: str, table: pa.Table) -> str:
    tmp = out / f".tmp-{name}"
    pq.write_table(table, tmp)
    os.replace(tmp, out / name)
    return name


def score_pool(rollouts: Rollouts, emb: torch.Tensor, local: np.ndarray, qs: np.ndarray, ts: np.ndarray,
               device) -> dict[str, np.ndarray]:
    """Reward parts of the rows of one pool: qs/ts are the side codes of its pairs (query, target), `local` maps a
    global rollout row to its row of `emb`. Returns per-(pair, role, k) arrays in pair order, qry rows then pos."""
    k = rollouts.k
    uq, ut = np.unique(qs), np.unique(ts)
    grow = np.concatenate([rollouts.rows[uq].reshape(-1), rollouts.rows[ut].reshape(-1)])
    n_q = len(uq) * k
    side = torch.from_numpy(np.concatenate([np.repeat(uq, k), np.repeat(ut, k)]))
    is_target = torch.zeros(len(grow), dtype=torch.bool)
    is_target[n_q:] = True
    pairs = torch.from_numpy(np.stack([qs, ts], axis=1))
    r = reward.score(emb[torch.from_numpy(local[grow])].to(device), side, is_target,
                     torch.from_numpy(rollouts.format_ok[grow]), pairs, group_size=k)
    # pair p's query rollouts are rows (position of its side in uq) * k + 0..k-1; its targets likewise after n_q
    at_q = (np.searchsorted(uq, qs)[:, None] * k + np.arange(k)).reshape(-1)
    at_t = (n_q + np.searchsorted(ut, ts)[:, None] * k + np.arange(k)).reshape(-1)
    at = np.stack([at_q.reshape(-1, k), at_t.reshape(-1, k)], axis=1).reshape(-1)
    parts = {name: v.float().cpu().numpy()[at] for name, v in r.as_dict().items()}
    parts["row"] = grow[at]
    return parts


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    out = Path(args.out)
    rollouts = Rollouts(args.rollouts)
    rm = rollouts.manifest
    version = data.open_version(args.dataset)
    if version.version_id != rm["dataset_version_id"]:
        raise SystemExit(f"{args.rollouts} rolled out version {rm['dataset_version_id']}, not {version.version_id}")
    if not rm.get("finished") and not args.allow_unfinished:
        raise SystemExit(f"{args.rollouts} is not finished (re-run training.rollout to complete it, or pass "
                         "--allow-unfinished)")
    split = args.split or rm["split"]
    manifest = {
        "kind": "rollout_scores", "run_id": rm["run_id"], "rollouts": str(Path(args.rollouts).resolve()),
        "checkpoint_id": rm["checkpoint_id"], "sampling_id": rm["sampling_id"],
        "dataset_version_id": version.version_id, "split": split, "pool_size": args.pool_size, "seed": args.seed,
        "group_size": rollouts.k, "reward": REWARD,
    }
    old_path = out / "manifest.json"
    if old_path.exists():
        old = json.loads(old_path.read_text())
        if all(old.get(key) == v for key, v in manifest.items() if key != "rollouts"):
            print(f"[score] {out} already holds this scoring ({old['counts']['rows']} rows)", flush=True)
            return old
        raise SystemExit(f"{out} holds another scoring (run {old.get('run_id')}, pool size {old.get('pool_size')}, "
                         f"seed {old.get('seed')}): choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("rewards-*.parquet"):  # a scoring that died before its manifest
        stale.unlink()

    table = version.read_split(split).select(["pair_id", "dataset_name", "qry_side_id", "pos_side_id"])
    qs, ts = rollouts.codes(table.column("qry_side_id")), rollouts.codes(table.column("pos_side_id"))
    complete = (qs >= 0) & (ts >= 0)
    complete[complete] = (rollouts.rows[qs[complete]] >= 0).all(1) & (rollouts.rows[ts[complete]] >= 0).all(1)
    skipped = int((~complete).sum())
    if skipped and not args.allow_unfinished:
        raise SystemExit(f"{skipped} pairs of split {split!r} lack rollouts although the run says it is finished")
    keep = np.nonzero(complete)[0]
    pair_ids = table.column("pair_id").to_numpy(zero_copy_only=False)[keep]
    datasets = table.column("dataset_name").to_numpy(zero_copy_only=False)[keep]
    qs, ts = qs[keep], ts[keep]
    pools = make_pools(list(pair_ids), list(datasets), args.pool_size, args.seed)

    # Datasets in groups whose embeddings fit the memory budget; one pass over the shards per group.
    dim = int((rm.get("embedding") or {}).get("dim") or 0) or 1536
    budget = args.max_memory_gb * 2**30 / (4 * dim)  # rollout rows per group
    need: dict[str, np.ndarray] = {}
    for name in sorted(set(datasets)):
        m = datasets == name
        sides = np.unique(np.concatenate([qs[m], ts[m]]))
        need[name] = rollouts.rows[sides].reshape(-1)
    groups, current, size = [], [], 0
    for name in sorted(need):
        if current and size + len(need[name]) > budget:
            groups.append(current)
            current, size = [], 0
        current.append(name)
        size += len(need[name])
    if current:
        groups.append(current)

    device = torch.device(args.device)
    pool_records = [{"pool_id": i, "dataset": d, "pairs": int(len(idx))} for i, (d, idx) in enumerate(pools)]
    shards, buffer, n_rows, n_buffer = [], [], 0, 0
    show = sys.stderr.isatty()
    done = 0
    for group in groups:
        rows = np.unique(np.concatenate([need[n] for n in group]))
        local = np.full(len(rollouts.format_ok), -1, dtype=np.int64)
        local[rows] = np.arange(len(rows))
        emb = torch.from_numpy(rollouts.embeddings(rows))
        for pool_id, (name, idx) in enumerate(pools):
            if name not in group:
                continue
            parts = score_pool(rollouts, emb, local, qs[idx], ts[idx], device)
            n = len(parts["row"])
            k = rollouts.k
            buffer.append(pa.table({
                "pool_id": pa.array(np.full(n, pool_id, dtype=np.int32)),
                "pair_id": pa.array(np.repeat(pair_ids[idx], 2 * k)),
                "role": pa.array(np.tile(np.repeat(np.array(["qry", "pos"]), k), len(idx))),
                "side_id": rollouts.side_ids.take(pa.array(rollouts.code[parts["row"]])),
                "k": pa.array(rollouts.ks[parts["row"]].astype(np.int32)),
                "rollout_key": rollouts.keys.take(pa.array(parts["row"])),
                **{c: pa.array(parts[c].astype(np.float32)) for c in ("r_format", "rank", "gap", "r_emb", "reward")},
            }, schema=OUT_SCHEMA))
            n_buffer += n
            done += 1
            if n_buffer >= args.rows_per_shard:
                shards.append(_write(out, f"rewards-{len(shards):05d}.parquet", pa.concat_tables(buffer)))
                n_rows += n_buffer
                buffer, n_buffer = [], 0
            if show:
                print(f"\r[score] {done}/{len(pools)} pools", end="", file=sys.stderr, flush=True)
        del emb
    if buffer or not shards:
        shards.append(_write(out, f"rewards-{len(shards):05d}.parquet",
                             pa.concat_tables(buffer) if buffer else OUT_SCHEMA.empty_table()))
        n_rows += n_buffer
    if show:
        print(file=sys.stderr)
    manifest.update(pools=pool_records, shards=shards, counts={
        "pairs": int(len(keep)), "skipped_pairs": skipped, "pools": len(pools), "rows": n_rows,
        "datasets": {n: int((datasets == n).sum()) for n in sorted(need)}, "memory_groups": len(groups),
    })
    tmp = out / ".tmp-manifest.json"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, old_path)
    print(f"[score] {len(pools)} pools of up to {args.pool_size} pairs, {n_rows} reward rows in {len(shards)} shards "
          f"({time.time() - t0:.1f}s)", flush=True)
    return manifest


if __name__ == "__main__":
    main()
