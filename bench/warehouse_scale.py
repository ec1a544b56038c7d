"""The single-file DuckDB warehouse at the paper's scale: size on disk, `umedata status`, the common views, and what
one commit costs as the tables grow.

    .venv/bin/python bench/warehouse_scale.py                 # 1.76 M pairs, 3.5 M sides; writes BENCHMARKS.md
    .venv/bin/python bench/warehouse_scale.py --scale 0.01 --no-write

Scale (UME-R1): 1.76 M annotated pairs, so about 3.5 M sides, each with an annotation whose reasoning is about
2,000 characters; an RL set of about 11 k pairs from rollouts of 8 per side (11 k x 8 x 2 = 176 k rollouts and
their rewards). The tables are filled in four steps by SQL straight into the file (ingest's own speed is measured
by bench/ingest.py); after each step the same things are measured:
- commit: one staged batch of 10,000 new pairs (their 20,000 sides and annotations) through the real writer
  (parquet shards, one transaction, the natural-key anti-join), the way ingest and the teacher commit;
- status: `umedata status` (row counts of every table, pairs per dataset/modality/split);
- views: count over validated_annotations, dataset_summary, a pair_overview page, side_usage;
- size of the file on disk.
The reasoning text is 60 distinct hex words per annotation: less compressible than prose, so the size is an upper
bound for English reasoning of the same length.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_md import machine, write_section  # bench/ is on the path when a script runs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FULL_PAIRS = 1_760_000
DATASETS = 20
BATCH_PAIRS = 10_000

FILL = """
INSERT INTO sides
SELECT 's' || lpad(i::VARCHAR, 31, '0'), 'query text number ' || i || ' about a ' || (i % 977) || ' scene', [], 'text'
FROM range($lo, $hi) t(i)
UNION ALL
SELECT 't' || lpad(i::VARCHAR, 31, '0'), 'target caption ' || i, [], 'text'
FROM range($lo, $hi) t(i);
INSERT INTO pairs
SELECT 'p' || lpad(i::VARCHAR, 31, '0'), 'bench', 'Dataset' || (i % {datasets}), 'text', 'retrieval', 'train',
       's' || lpad(i::VARCHAR, 31, '0'), 't' || lpad(i::VARCHAR, 31, '0'), [], 'bench.jsonl', i
FROM range($lo, $hi) t(i);
INSERT INTO annotations
SELECT 'a' || side_id[2:], side_id, 'k' || side_id[2:], 'teacher-7b', 'p1',
       (SELECT string_agg(md5(side_id || j::VARCHAR), ' ') FROM range(60) r(j)),
       'a summary of ' || side_id[:12], '<think>…</think><answer>…<gen_emb>', 'ok', false, 'bench', now()::TIMESTAMP
FROM (SELECT 's' || lpad(i::VARCHAR, 31, '0') AS side_id FROM range($lo, $hi) t(i)
      UNION ALL SELECT 't' || lpad(i::VARCHAR, 31, '0') FROM range($lo, $hi) t(i));
"""


def fill(wh, lo: int, hi: int) -> float:
    t0 = time.perf_counter()
    with wh.transaction() as con:
        for stmt in FILL.format(datasets=DATASETS).split(";"):
            if stmt.strip():
                con.execute(stmt, {"lo": lo, "hi": hi} if "$lo" in stmt else None)
    return time.perf_counter() - t0


def batch_tables(lo: int, n: int):
    """The tables of one commit of n new pairs (ids past everything filled so far)."""
    import pyarrow as pa

    from umedata import tables
    from umedata.clock import utcnow

    ids = range(lo, lo + n)
    q = [f"s{i:031d}" for i in ids]
    t = [f"t{i:031d}" for i in ids]
    sides = pa.table({"side_id": q + t, "text": [f"query {i}" for i in ids] + [f"target {i}" for i in ids],
                      "media": [[] for _ in range(2 * n)], "modality": ["text"] * (2 * n)})
    pairs = tables.rows("pairs", [{"pair_id": f"p{i:031d}", "source": "bench", "dataset_name": f"Dataset{i % DATASETS}",
                                   "modality": "text", "task": "retrieval", "split": "train", "qry_side_id": a,
                                   "pos_side_id": b, "negatives": []} for i, a, b in zip(ids, q, t)])
    now = utcnow()
    ann = tables.rows("annotations", [{"annotation_id": "a" + s[1:], "side_id": s, "request_key": "k" + s[1:],
                                       "model": "teacher-7b", "prompt_version": "p1", "reasoning": "r " * 1000,
                                       "summary": "s", "raw": "x", "format_status": "ok", "closed_answer": False,
                                       "origin": "bench", "created_at": now} for s in q + t])
    return {"sides": sides, "pairs": pairs, "annotations": ann}


def timed(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fill_rollouts(wh, pairs: int, k: int = 8) -> float:
    t0 = time.perf_counter()
    with wh.transaction() as con:
        con.execute("""
            INSERT INTO rollouts
            SELECT 'r' || md5(i::VARCHAR || '-' || role || '-' || j), 'run', 'ckpt', 'samp',
                   (CASE role WHEN 0 THEN 's' ELSE 't' END) || lpad(i::VARCHAR, 31, '0'), j,
                   '<think>' || md5(i::VARCHAR || j) || '</think><answer>x<gen_emb>', 300, 120, 'stop', true, true,
                   'rollouts/part-r0-00000.parquet'
            FROM range($n) a(i), range(2) b(role), range($k) c(j)""", {"n": pairs, "k": k})
        con.execute("""
            INSERT INTO rollout_rewards
            SELECT 'scoring', (i // 64)::INTEGER, 'p' || lpad(i::VARCHAR, 31, '0'), CASE role WHEN 0 THEN 'qry' ELSE 'pos' END,
                   (CASE role WHEN 0 THEN 's' ELSE 't' END) || lpad(i::VARCHAR, 31, '0'), j,
                   'r' || md5(i::VARCHAR || '-' || role || '-' || j), 1.0, 0.5, 0.3, 0.15, 1.15
            FROM range($n) a(i), range(2) b(role), range($k) c(j)""", {"n": pairs, "k": k})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's 1.76 M pairs")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rl-pairs", type=int, default=11_000)
    ap.add_argument("--dir", type=Path, default=None, help="where the file goes (default: a temp folder)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from umedata import status
    from umedata.warehouse import Warehouse

    total = int(FULL_PAIRS * args.scale)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        wh = Warehouse(Path(tmp) / "umedata.duckdb")
        wh.init()
        filled = 0
        for step in range(1, args.steps + 1):
            target = total * step // args.steps
            fill_s = fill(wh, filled, target)
            filled = target
            if step == args.steps:
                fill_rollouts(wh, args.rl_pairs)
            batch = batch_tables(10**9 + step * BATCH_PAIRS, BATCH_PAIRS)
            t0 = time.perf_counter()
            counts = wh.commit_tables(batch)
            commit_s = time.perf_counter() - t0
            assert counts["pairs"] == BATCH_PAIRS, counts
            t0 = time.perf_counter()
            again = wh.commit_tables(batch)  # the same batch again: every key known
            recommit_s = time.perf_counter() - t0
            assert again.get("pairs", 0) == 0
            r = {
                "pairs": filled, "sides": 2 * filled, "fill_s": fill_s, "commit_s": commit_s,
                "recommit_s": recommit_s,
                "status_s": timed(lambda: (status.table_rows(wh), status.datasets(wh))),
                "validated_s": timed(lambda: wh.sql("SELECT count(*) FROM validated_annotations")),
                "dataset_summary_s": timed(lambda: wh.sql("SELECT * FROM dataset_summary")),
                "pair_overview_s": timed(lambda: wh.sql("SELECT * FROM pair_overview WHERE dataset_name = "
                                                        "'Dataset3' LIMIT 100")),
                "side_usage_s": timed(lambda: wh.sql("SELECT * FROM side_usage ORDER BY as_target DESC LIMIT 20")),
                "size_gb": wh.path.stat().st_size / 1e9,
            }
            rows.append(r)
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
    lines = ["## Warehouse at the paper's scale (`bench/warehouse_scale.py`)", "",
             f"One DuckDB file filled in {args.steps} steps to {total:,} pairs ({2 * total:,} sides, one annotation "
             f"each with ~2,000 characters of reasoning) plus {args.rl_pairs:,} RL pairs x 8 rollouts x 2 sides "
             f"with their rewards (last step). After each step: one commit of {BATCH_PAIRS:,} new pairs (20,000 "
             "sides and annotations) through the real writer, the same batch again (all keys known: nothing "
             "added), `umedata status`, and the common views (median of 3).", "",
             "| pairs | sides | file size | commit of 10k pairs | same batch again | `umedata status` | "
             "validated_annotations count | dataset_summary | pair_overview page | side_usage top 20 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['pairs']:,} | {r['sides']:,} | {r['size_gb']:.2f} GB | {r['commit_s']:.2f} s | "
                     f"{r['recommit_s']:.2f} s | {r['status_s']:.2f} s | {r['validated_s']:.2f} s | "
                     f"{r['dataset_summary_s']:.2f} s | {r['pair_overview_s']:.2f} s | {r['side_usage_s']:.2f} s |")
    lines += ["", f"Measured {time.strftime('%Y-%m-%d')} on {machine()}."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("warehouse-scale", text)


if __name__ == "__main__":
    main()
