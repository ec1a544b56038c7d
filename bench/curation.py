"""Benchmark RL-set curation and the reward it curates by.

    .venv/bin/python bench/curation.py                            # 625,000 pairs x 2 sides x K 8 = 10 M reward rows
    .venv/bin/python bench/curation.py --pairs 20000 --no-write   # a quick look

1. Curation: a warehouse file holding 10 M generated rollout-reward rows (one scoring: each pair's query and target
   group of K = 8 rollouts; 1.25 M x 8 = 10 M counts one group per pair, so with both sides that is 625 k pairs;
   `--pairs 1250000` runs the 20 M-row reading). The project's SQL (umedata.versions.rl.curate: per-group mean and
   variance, reasons, dedup by query side and leakage group, quotas over 30 strata, top-k per stratum) is timed
   from an open read connection to the file, candidates already a temp table (in build_rl_set they come from the
   SFT version's parquet; that read is timed apart). Beside it, in the same run, a straightforward pandas group-by
   and a polars one compute the same selection from the same rows already in memory (their load is not timed);
   the three selections are compared pair by pair. Goal: <= 3 s on 2 cores for the project's SQL.
2. Reward scoring throughput: training.reward.score over pools of 64 and 1,024 pairs (K = 8 rollouts per side, so
   1,024 and 16,384 rollouts per pool), embeddings of Qwen2-VL-2B's width (1,536), on CPU (and GPU when present),
   in rollouts scored per second.

Setup (generating the rows, writing the file) is not timed. Figures go to the "curation-bench" section of
BENCHMARKS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_md import machine, write_section  # bench/ is on the path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umedata import sql  # noqa: E402
from umedata.versions.rl import RlSpec, allocate, curate  # noqa: E402
from umedata.warehouse import Warehouse  # noqa: E402

K = 8
DATASETS = 30  # strata: dataset x modality
CONSTANT_SHARE = 0.3  # groups whose K rewards are all equal (the format and rank saturate, or all fail)


def generate(wh: Warehouse, pairs: int) -> None:
    """Candidates and one scoring's reward rows, deterministic (hash-based), straight into the warehouse file."""
    with wh.transaction() as con:
        con.execute(f"""
            CREATE TABLE bench_candidates AS
            SELECT md5('pair' || i)[:32] AS pair_id,
                   'ds' || (i % {DATASETS}) AS dataset_name,
                   CASE WHEN i % {DATASETS} < 18 THEN 'image' WHEN i % {DATASETS} < 24 THEN 'video' ELSE 'visdoc' END
                       AS modality,
                   md5('group' || CASE WHEN i % 50 = 1 THEN i - 1 ELSE i END)[:32] AS split_group,
                   md5('qry' || CASE WHEN i % 100 = 2 THEN i - 2 ELSE i END)[:32] AS qry_side_id,
                   md5('pos' || (i % 200000))[:32] AS pos_side_id,
                   md5('aq' || i)[:32] AS qry_annotation_id,
                   md5('ap' || i)[:32] AS pos_annotation_id,
                   i
            FROM range({pairs}) t(i)
        """)
        con.execute(f"""
            INSERT INTO rollout_rewards
            SELECT 'bench-scoring', (c.i // 64)::INTEGER, c.pair_id, r.role,
                   CASE r.role WHEN 'qry' THEN c.qry_side_id ELSE c.pos_side_id END, k::INTEGER,
                   md5(c.pair_id || r.role || k)[:32],
                   f, 1.0, e, e, f + e
            FROM bench_candidates c
            CROSS JOIN (VALUES ('qry'), ('pos')) r(role)
            CROSS JOIN range({K}) t(k)
            CROSS JOIN LATERAL (
                SELECT CASE WHEN hash(c.i, r.role) % 1000 < {int(CONSTANT_SHARE * 1000)}
                            THEN 0.0 ELSE (hash(c.i, r.role, k) % 2)::REAL END AS f,
                       CASE WHEN hash(c.i, r.role) % 1000 < {int(CONSTANT_SHARE * 1000)}
                            THEN 0.25 ELSE ((hash(c.i, r.role, k, 'e') % 1000000) / 1e6 - 0.3)::REAL END AS e
            )
        """)


def time_project_sql(wh: Warehouse, spec: RlSpec) -> tuple[dict[str, float], set[str], int]:
    import pyarrow as pa

    with wh.reader() as con:
        t0 = time.perf_counter()
        cands = con.sql("SELECT * EXCLUDE (i) FROM bench_candidates").to_arrow_table()
        sql.temp_table(con, "rl_candidates", cands)
        sql.temp_table(con, "rl_eval_sides", pa.table({"side_id": pa.array([], pa.string()),
                                                       "role": pa.array([], pa.string())}))
        sql.temp_table(con, "rl_eval_groups", pa.table({"split_group": pa.array([], pa.string())}))
        t1, c1 = time.perf_counter(), time.process_time()
        decisions, _ = curate(con, spec, "bench-scoring", K)
        t2, c2 = time.perf_counter(), time.process_time()
    sel = decisions.filter(decisions.column("reason").is_null())
    return ({"candidates": t1 - t0, "curate": t2 - t1, "curate_cpu": c2 - c1}, set(sel.column("pair_id").to_pylist()),
            decisions.num_rows)


def pandas_curate(rw, cands, target: int) -> set[str]:
    import pandas as pd

    g = rw.groupby(["pair_id", "role"], sort=False).agg(n=("reward", "size"), mean=("reward", "mean"),
                                                         var=("reward", "var"), fmt=("r_format", "mean"))
    w = g.unstack("role")
    w.columns = [f"{a}_{b}" for a, b in w.columns]
    s = cands.merge(w, left_on="pair_id", right_index=True, how="left")
    s["score"] = (s["var_qry"] + s["var_pos"]) / 2
    ok = (s["n_qry"] == K) & (s["n_pos"] == K) & (s[["var_qry", "var_pos"]].max(axis=1) > 0)
    e = s[ok].sort_values(["score", "pair_id"], ascending=[False, True])
    e = e.drop_duplicates("qry_side_id").drop_duplicates("split_group")
    strata = e.groupby(["dataset_name", "modality"]).size().reset_index(name="eligible").to_dict("records")
    q = allocate(strata, target)
    quota = pd.Series(list(q.values()), index=pd.MultiIndex.from_tuples(list(q), names=["dataset_name", "modality"]))
    e = e.assign(rank=e.groupby(["dataset_name", "modality"]).cumcount() + 1)
    e = e.join(quota.rename("quota"), on=["dataset_name", "modality"])
    return set(e.loc[e["rank"] <= e["quota"], "pair_id"])


def polars_curate(rw, cands, target: int) -> set[str]:
    import polars as pl

    g = (rw.lazy().group_by(["pair_id", "role"])
         .agg(pl.len().alias("n"), pl.col("reward").mean().alias("mean"), pl.col("reward").var().alias("var"),
              pl.col("r_format").mean().alias("fmt"))
         .collect()
         .pivot(on="role", index="pair_id", values=["n", "mean", "var", "fmt"]))
    s = cands.join(g, on="pair_id", how="left").with_columns(((pl.col("var_qry") + pl.col("var_pos")) / 2).alias("score"))
    e = (s.filter((pl.col("n_qry") == K) & (pl.col("n_pos") == K) & (pl.max_horizontal("var_qry", "var_pos") > 0))
         .sort(["score", "pair_id"], descending=[True, False])
         .unique("qry_side_id", keep="first", maintain_order=True)
         .unique("split_group", keep="first", maintain_order=True))
    strata = e.group_by(["dataset_name", "modality"]).agg(pl.len().alias("eligible")).to_dicts()
    q = allocate(strata, target)
    quota = pl.DataFrame({"dataset_name": [k[0] for k in q], "modality": [k[1] for k in q], "quota": list(q.values())})
    e = (e.with_columns(pl.int_range(1, pl.len() + 1).over(["dataset_name", "modality"]).alias("rank"))
         .join(quota, on=["dataset_name", "modality"]).filter(pl.col("rank") <= pl.col("quota")))
    return set(e.get_column("pair_id").to_list())


def reward_throughput(pool_pairs: int, device: str, dim: int = 1536) -> float:
    """Rollouts scored per second over pools of `pool_pairs` pairs (K rollouts per side, one side per pair)."""
    import torch

    from training import reward

    n = pool_pairs * K
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(2 * n, dim, generator=gen).to(device)
    side = torch.cat([torch.arange(pool_pairs).repeat_interleave(K), pool_pairs + torch.arange(pool_pairs).repeat_interleave(K)])
    is_target = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])
    fmt = torch.rand(2 * n, generator=gen) < 0.7
    pairs = torch.stack([torch.arange(pool_pairs), pool_pairs + torch.arange(pool_pairs)], 1)
    repeats = 3 if pool_pairs <= 256 else 1
    reward.score(emb, side, is_target, fmt, pairs, K)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        reward.score(emb, side, is_target, fmt, pairs, K)
    if device == "cuda":
        torch.cuda.synchronize()
    return repeats * 2 * n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=625_000, help="pairs (reward rows = pairs x 2 sides x 8)")
    ap.add_argument("--target", type=int, default=11_000, help="pairs in the RL set (the reference has about 11 k)")
    ap.add_argument("--pools", type=int, nargs="+", default=[64, 1024], help="reward pool sizes, in pairs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--out", type=Path, default=None, help="the markdown file to write (default: BENCHMARKS.md)")
    args = ap.parse_args(argv)

    import duckdb
    import polars as pl
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("POLARS_MAX_THREADS", str(args.threads))
    rows = args.pairs * 2 * K
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        wh.init()
        t0 = time.perf_counter()
        generate(wh, args.pairs)
        setup_s = time.perf_counter() - t0
        print(f"setup: {rows:,} reward rows over {args.pairs:,} pairs written in {setup_s:.1f} s")
        with wh.transaction() as con:
            con.execute(f"SET threads = {args.threads}")
        spec = RlSpec(target=args.target)
        runs = [time_project_sql(wh, spec) for _ in range(2)]  # the second with a warm page cache
        times, chosen, candidates = min(runs, key=lambda r: r[0]["curate"])
        print(f"project SQL: curate {times['curate']:.2f} s ({times['curate_cpu']:.2f} CPU s; + candidates temp table "
              f"{times['candidates']:.2f} s), "
              f"{len(chosen):,} of {candidates:,} pairs selected")

        with wh.reader() as con:
            rw_arrow = con.sql("SELECT pair_id, role, reward::DOUBLE AS reward, r_format::DOUBLE AS r_format "
                               "FROM rollout_rewards").to_arrow_table()
            c_arrow = con.sql("SELECT * EXCLUDE (i) FROM bench_candidates").to_arrow_table()
        rw_pd, c_pd = rw_arrow.to_pandas(), c_arrow.to_pandas()
        t0, c0 = time.perf_counter(), time.process_time()
        pd_sel = pandas_curate(rw_pd, c_pd, args.target)
        pandas_s, pandas_cpu = time.perf_counter() - t0, time.process_time() - c0
        del rw_pd
        rw_pl, c_pl = pl.from_arrow(rw_arrow), pl.from_arrow(c_arrow)
        t0, c0 = time.perf_counter(), time.process_time()
        pl_sel = polars_curate(rw_pl, c_pl, args.target)
        polars_s, polars_cpu = time.perf_counter() - t0, time.process_time() - c0
        diff_pd, diff_pl = len(pd_sel ^ chosen), len(pl_sel ^ chosen)
        print(f"pandas group-by: {pandas_s:.2f} s ({pandas_cpu:.2f} CPU s; {diff_pd} pairs differ from the SQL selection)")
        print(f"polars group-by: {polars_s:.2f} s ({polars_cpu:.2f} CPU s; {diff_pl} pairs differ from the SQL selection)")

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rates = {(p, d): reward_throughput(p, d) for p in args.pools for d in devices}
    for (p, d), r in rates.items():
        print(f"reward scoring, pools of {p:,} pairs ({2 * p * K:,} rollouts) on {d}: {r:,.0f} rollouts/s")

    body = "\n".join([
        "## RL-set curation and the reward (`bench/curation.py`)",
        "",
        f"{rows:,} rollout-reward rows ({args.pairs:,} pairs x query and target groups x K {K}) in a warehouse file, "
        f"{DATASETS} strata, {CONSTANT_SHARE:.0%} of the groups constant, target {args.target:,} pairs; "
        f"{args.threads} threads (DuckDB {duckdb.__version__}, polars {pl.__version__}).",
        "",
        "| curation | seconds | CPU seconds | selection vs the project's |",
        "|---|---:|---:|---|",
        f"| project SQL (`curate_*.sql`, from the open warehouse file) | {times['curate']:.2f} | "
        f"{times['curate_cpu']:.2f} | - |",
        f"| straightforward pandas group-by (rows already in memory) | {pandas_s:.2f} | {pandas_cpu:.2f} | "
        f"{'same pairs' if not diff_pd else f'{diff_pd} pairs differ'} |",
        f"| polars group-by (rows already in memory) | {polars_s:.2f} | {polars_cpu:.2f} | "
        f"{'same pairs' if not diff_pl else f'{diff_pl} pairs differ'} |",
        "",
        f"Reading the candidates into a temp table (in `build_rl_set` they come from the SFT version's parquet): "
        f"{times['candidates']:.2f} s. Setup, not timed: {setup_s:.1f} s.",
        "",
        "| reward scoring (`training.reward.score`, embeddings 1,536 wide) | rollouts per pool | rollouts/s |",
        "|---|---:|---:|",
        *[f"| pools of {p:,} pairs, {d} | {2 * p * K:,} | {r:,.0f} |" for (p, d), r in rates.items()],
        "",
        f"Machine: {machine()}.",
    ])
    print()
    print(body)
    if not args.no_write:
        write_section("curation-bench", body, *([args.out] if args.out else []))
    return {"rows": rows, "sql_s": times["curate"], "pandas_s": pandas_s, "polars_s": polars_s,
            "selected": len(chosen), "pandas_differ": diff_pd, "polars_differ": diff_pl,
            "rollouts_per_s": {f"{p}/{d}": r for (p, d), r in rates.items()}}


if __name__ == "__main__":
    main()
