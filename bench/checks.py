"""Benchmark the quality gates: record checks over generated annotations, beside a plain-Python per-row loop of the
same rules measured in the same run, the Great Expectations suite over 100 k rows, and validate end to end.

    .venv/bin/python bench/checks.py                                   # 1,000,000 annotations (the figure of record)
    .venv/bin/python bench/checks.py --n 100000 --loop 5000 --gx-rows 20000 --e2e 20000 --no-write   # a quick look

1. Record checks: every rule of the shipped defaults (lengths in the tiny student's tokens, counted through the
   `tokenizers` batch API on distinct pieces) measured and evaluated over N annotations in pages of 100,000 rows,
   as `validate` does (each page in parallel blocks, one per core), the annotations already in memory. Token
   counting and the other rules are also timed apart.
   The same again in one block on one thread, for the parallel speed-up.
2. The same rules as a plain-Python loop over the first --loop rows (umedata/checks/per_row.py: re, str, sets, one
   tokenizer.encode per text).
3. Great Expectations: the row suite (annotation_rows.json) over --gx-rows rows as a pandas frame, and the batch
   suite over the aggregated table; the frame building is not timed, GX's import is timed apart.
4. validate end to end over --e2e annotations in a warehouse file: read pages, measure, evaluate, commit
   annotation_checks (suites and report off); the file's setup is not timed.
5. A fresh process importing the checks and measuring one annotation, once with the compiled kernels
   (umedata/checks/kernels.py) not on disk yet and once loaded from numba's cache (a temporary NUMBA_CACHE_DIR).

Generated annotations: reasoning of 2-6 sentences of 8-16 words (about 240 characters, like the bundled sample's
reasoning), summaries of 3-15 words, side texts of 5-30 words, a pseudo-English vocabulary of 30,000
words drawn with a Zipf law, half of the annotations on query sides with one pair each, and 10 % of them faulty
(loops, refusals, special tokens, garbage, another script, copies, leaks). Figures go to the "checks-bench" section
of BENCHMARKS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
from benchmarks_md import machine, write_section  # bench/ is on the path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umedata.checks.config import load_config  # noqa: E402
from umedata.checks.evaluate import evaluate  # noqa: E402
from umedata.checks.measure import RARE, auto_blocks, measure  # noqa: E402
from umedata.checks.per_row import PerRow  # noqa: E402
from umedata.checks.rules import RULES  # noqa: E402
from umedata.checks.tokens import TokenCounter, Words  # noqa: E402

PAGE = 100_000  # as validate pages (umedata.checks.run.PAGE_ROWS)
SYLLABLES = ["ka", "lo", "mi", "ne", "ra", "to", "su", "ve", "an", "or", "el", "is", "un", "ta", "re", "co", "pe", "di",
             "ma", "ti", "ng", "st", "th", "er", "in", "ou", "ch", "sh", "ar", "ly"]


def vocabulary(rng: np.random.Generator, size: int = 30_000) -> np.ndarray:
    n = rng.integers(1, 4, size)
    words = {"".join(rng.choice(SYLLABLES, k)) for k in n}
    common = "the a of and to in is it that with on for as this shows image red blue circle square left right".split()
    return np.array(common + sorted(words - set(common)))


def sentences(rng: np.random.Generator, vocab: np.ndarray, n: int, lo: int, hi: int) -> list[str]:
    lengths = rng.integers(lo, hi + 1, n)
    ranks = np.minimum(rng.zipf(1.25, lengths.sum()) - 1, len(vocab) - 1)
    words = vocab[ranks]
    cuts = np.cumsum(lengths)[:-1]
    return [" ".join(w).capitalize() + "." for w in np.split(words, cuts)]


def generate(n: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    pool = pl.Series(sentences(rng, vocab, 60_000, 8, 16))
    k = rng.integers(2, 7, n)
    idx = [rng.integers(0, len(pool), n) for _ in range(6)]
    parts = [pl.when(pl.lit(k) > j).then(pool.gather(idx[j]) + " ").otherwise(pl.lit("")) for j in range(6)]
    texts = pl.Series(sentences(rng, vocab, 40_000, 5, 30))
    summaries = pl.Series(sentences(rng, vocab, 40_000, 3, 15))
    ann = pl.DataFrame({"annotation_id": [f"a{i:08d}" for i in range(n)]}).with_columns(
        pl.concat_str(parts).str.strip_chars().alias("reasoning"),
        summaries.gather(rng.integers(0, len(summaries), n)).alias("summary"),
        pl.lit("ok").alias("format_status"),
        texts.gather(rng.integers(0, len(texts), n)).alias("text"),
        pl.lit("stop").alias("finish_reason"),
    )
    fault = rng.integers(0, 100, n)  # 0-9: one fault each, 10 % in all
    r, s = pl.col("reasoning"), pl.col("summary")
    ann = ann.with_columns(pl.Series("fault", fault)).with_columns(
        pl.when(pl.col("fault") == 0).then(r.str.slice(0, 60).repeat_by(12).list.join(" "))
        .when(pl.col("fault") == 1).then(pl.lit("I'm sorry, but I can't help with describing this input."))
        .when(pl.col("fault") == 2).then(r + " <|im_start|>assistant")
        .when(pl.col("fault") == 3).then(pl.lit("■▓¤©®™±≈♦☺ ◊∆∑∏√∞ ⌘⌥⇧ ☂☃☄★☆ ♠♣♥ ⚡⚽⛄ ✓✗✘"))
        .when(pl.col("fault") == 4).then(pl.lit("На изображении показан красный круг в левом верхнем углу."))
        .when(pl.col("fault") == 5).then(r + " very very very very very very")
        .otherwise(r).alias("reasoning"),
        pl.when(pl.col("fault") == 6).then(pl.col("text")).otherwise(s).alias("summary"),
        pl.when(pl.col("fault") == 7).then(pl.lit("length")).otherwise(pl.col("finish_reason")).alias("finish_reason"),
    )
    q = ann.filter(pl.col("annotation_id").str.slice(1).cast(pl.Int64) % 2 == 0)
    targets = pl.Series(sentences(rng, vocab, 40_000, 6, 24))
    pairs = q.select("annotation_id", pl.col("text").alias("qry_text")).with_columns(
        pl.format("p{}", pl.col("annotation_id")).alias("pair_id"),
        targets.gather(rng.integers(0, len(targets), q.height)).alias("target_text"))
    leak = q.filter(pl.col("fault") == 8).select("annotation_id")
    ann = ann.join(pairs.select("annotation_id", "target_text"), on="annotation_id", how="left").with_columns(
        pl.when(pl.col("annotation_id").is_in(leak.get_column("annotation_id").implode()))
        .then(pl.col("reasoning") + " The target reads " + pl.col("target_text")).otherwise(pl.col("reasoning"))
        .alias("reasoning")).drop("target_text", "fault")
    return ann, pairs.select("annotation_id", "pair_id", "target_text", "qry_text")


def time_vectorised(ann: pl.DataFrame, pairs: pl.DataFrame, cfg, counter) -> dict[str, float]:
    """All rules as validate runs them (each page in parallel blocks), then the same in one block on one thread,
    then token counting alone and the other rules alone. Every timing starts from a cold piece cache, as the main
    pass does (its first page encodes every piece it holds); the compiled kernels are ready before (a few rows
    measured with a counter of their own: a fresh process's first use is timed apart). Wall and CPU seconds."""
    rules = [r for r in RULES if cfg.enabled(r)]
    other = [r for r in rules if not RULES[r].tokens]
    measure(ann.head(100), rules, cfg, TokenCounter(counter.path), pairs.head(100))
    single, fresh = TokenCounter(counter.path), TokenCounter(counter.path)
    out = {"all": 0.0, "all_cpu": 0.0, "one_block": 0.0, "tokens": 0.0, "other_rules": 0.0}
    failed = 0
    for start in range(0, ann.height, PAGE):
        page = ann.slice(start, PAGE)
        page_pairs = pairs.join(page.select("annotation_id"), on="annotation_id", how="semi")
        t, c = time.perf_counter(), time.process_time()
        rows = evaluate(measure(page, rules, cfg, counter, page_pairs), cfg)
        out["all"] += time.perf_counter() - t
        out["all_cpu"] += time.process_time() - c
        failed += rows.filter(~pl.col("passed")).get_column("annotation_id").n_unique()
        t = time.perf_counter()
        evaluate(measure(page, rules, cfg, single, page_pairs, blocks=1), cfg)
        out["one_block"] += time.perf_counter() - t
        t = time.perf_counter()
        fresh.count(page.get_column("reasoning"))
        fresh.count(page.get_column("summary"))
        out["tokens"] += time.perf_counter() - t
        t = time.perf_counter()
        evaluate(measure(page, other, cfg, None, page_pairs), cfg)
        out["other_rules"] += time.perf_counter() - t
    out["failed"] = failed
    return out


def stage_costs(ann: pl.DataFrame, pairs: pl.DataFrame, cfg, counter) -> dict[str, float]:
    """CPU milliseconds per 100k rows of each group of rules measured alone in one block (one thread), on the
    second page (a warm piece cache), best of three: where the time of a page goes."""
    page = ann.slice(PAGE, PAGE) if ann.height >= 2 * PAGE else ann.slice(0, min(PAGE, ann.height))
    page_pairs = pairs.join(page.select("annotation_id"), on="annotation_id", how="semi")
    measure(page, [r for r in RULES if cfg.enabled(r)], cfg, counter, page_pairs)  # warm the piece cache
    groups = {"lengths (word split of reasoning + summary, piece lookups)": [r for r in RULES if RULES[r].tokens],
              "repetition + token_run (word split, distinct n-grams)": ["repetition", "token_run"],
              "leak (join the pairs, containment)": ["leak"],
              "summary_copy (containment)": ["summary_copy"],
              "refusal, control_tags, garbage, wrong_script (prefilter + subset)": list(RARE),
              "format, truncated": ["format", "truncated"]}
    out = {}
    for name, rules in groups.items():
        best = float("inf")
        for _ in range(3):
            c = time.process_time()
            measure(page, rules, cfg, counter, page_pairs, blocks=1)
            best = min(best, time.process_time() - c)
        out[name] = best * 1000 * PAGE / page.height
    values = measure(page, [r for r in RULES if cfg.enabled(r)], cfg, counter, page_pairs, blocks=1)
    both = pl.concat([page.get_column("reasoning"), page.get_column("summary")])
    for name, work in {"evaluate (verdicts of every rule)": lambda: evaluate(values, cfg),
                       "of the first two: the word split of reasoning + summary alone": lambda: Words.of(both)}.items():
        best = float("inf")
        for _ in range(3):
            c = time.process_time()
            work()
            best = min(best, time.process_time() - c)
        out[name] = best * 1000 * PAGE / page.height
    return out


KERNELS_FIRST_USE = """
import time
t = time.perf_counter()
import polars as pl
from umedata.checks import kernels
from umedata.checks.tokens import TokenCounter
from umedata.checks.measure import measure
from umedata.checks.config import load_config
from umedata.checks.rules import RULES
counter, cfg = TokenCounter.load({student!r}), load_config(student={student!r})
ann = pl.DataFrame({{"annotation_id": ["a"], "reasoning": ["the  red circle"], "summary": ["red"], "format_status": ["ok"],
                    "text": ["x"], "finish_reason": ["stop"]}})
measure(ann, [r for r in RULES if cfg.enabled(r)], cfg, counter)
print(time.perf_counter() - t)
"""


def kernel_first_use(student: str) -> tuple[float, float]:
    """Seconds a fresh process takes to import the checks and measure one annotation: with no compiled kernels on
    disk (numba compiles them), then again with the ones that run left (loaded from numba's cache). A cache
    folder of its own (NUMBA_CACHE_DIR), so the user's is neither used nor touched."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for _ in range(2):
            run = subprocess.run([sys.executable, "-c", KERNELS_FIRST_USE.format(student=student)], env=env,
                                 capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
            out.append(float(run.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def python_loop(ann: pl.DataFrame, pairs: pl.DataFrame, cfg, counter) -> tuple[float, int]:
    """The same rules, one annotation at a time, in plain Python (umedata/checks/per_row.py, the definition the fast
    path is tested against, its patterns through Python's re), and the verdicts against the default thresholds."""
    by_ann: dict[str, list[dict]] = {}
    for r in pairs.iter_rows(named=True):
        by_ann.setdefault(r["annotation_id"], []).append(r)

    def passes(rule: str, value: float | None) -> bool:
        if value is None:
            return rule != "format"
        threshold = cfg.rules[rule].threshold
        return value <= threshold if RULES[rule].op == "max" else value >= threshold

    failed = 0
    plain = PerRow(cfg, counter, exact=False)
    t = time.perf_counter()
    for r in ann.iter_rows(named=True):
        got = plain.values(r, by_ann.get(r["annotation_id"], []))
        failed += not all(passes(rule, value) for rule, (value, _) in got.items())
    return time.perf_counter() - t, failed


def time_gx(rows: int, cfg) -> dict[str, float]:
    t = time.perf_counter()
    import great_expectations  # noqa: F401

    out = {"import_s": time.perf_counter() - t}
    from umedata.checks.suites import load_suites, validate_frame

    suites = {s["name"]: s for s in load_suites()}
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({
        "annotation_id": [f"a{i:08d}" for i in range(rows)], "side_id": [f"s{i:08d}" for i in range(rows)],
        "request_key": [f"k{i:08d}" for i in range(rows)], "model": "bench",
        "reasoning": "The image shows a red circle. It sits at the top left.",
        "summary": "a red circle", "raw": "<think>The image shows a red circle.</think><answer>a red circle<gen_emb>",
        "format_status": "ok", "reasoning_tokens": rng.integers(20, 400, rows).astype(float),
        "summary_tokens": rng.integers(2, 30, rows).astype(float), "repetition": rng.random(rows) * 0.1,
        "passed": (rng.random(rows) > 0.1).astype(float),
    }).to_pandas()
    t = time.perf_counter()
    r = validate_frame(suites["annotation_rows"], frame)
    out["rows_s"], out["rows_ok"] = time.perf_counter() - t, r["success"]
    agg = pl.DataFrame({"dataset_name": [f"ds{i}" for i in range(30)], "annotations": 1000, "duplicate_keys": 0,
                        "unchecked": 0, "pass_rate": 0.9, "null_reasoning_rate": 0.0,
                        "null_summary_rate": 0.0}).to_pandas()
    t = time.perf_counter()
    r = validate_frame(suites["batch_datasets"], agg)
    out["agg_s"], out["agg_ok"] = time.perf_counter() - t, r["success"]
    return out


def time_e2e(ann: pl.DataFrame, pairs: pl.DataFrame, n: int, student: str) -> tuple[float, int]:
    """validate over a warehouse file holding n of the annotations (each on its own side, pairs as generated)."""
    from umedata import tables
    from umedata.checks.run import validate
    from umedata.warehouse import Warehouse

    sub = ann.head(n)
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        wh.init()
        sides = sub.select(pl.col("annotation_id").alias("side_id"), "text", pl.lit([]).cast(pl.List(pl.String))
                           .alias("media"), pl.lit("text").alias("modality"))
        tsides = pairs.join(sub.select("annotation_id"), on="annotation_id", how="semi").select(
            pl.format("t{}", pl.col("annotation_id")).alias("side_id"), pl.col("target_text").alias("text"),
            pl.lit([]).cast(pl.List(pl.String)).alias("media"), pl.lit("text").alias("modality"))
        prs = pairs.join(sub.select("annotation_id"), on="annotation_id", how="semi").select(
            "pair_id", pl.lit("bench").alias("source"), pl.lit("ds0").alias("dataset_name"),
            pl.lit("text").alias("modality"), pl.lit("retrieval").alias("task"), pl.lit("train").alias("split"),
            pl.col("annotation_id").alias("qry_side_id"), pl.format("t{}", pl.col("annotation_id")).alias("pos_side_id"),
            pl.lit([]).cast(pl.List(pl.String)).alias("negatives"), pl.lit(None, pl.String).alias("source_file"),
            pl.lit(None, pl.Int64).alias("source_row"))
        rows = sub.select("annotation_id", pl.col("annotation_id").alias("side_id"),
                          pl.lit(None, pl.String).alias("request_key"), pl.lit("bench").alias("model"),
                          pl.lit("v1").alias("prompt_version"), "reasoning", "summary",
                          pl.lit("<think>x</think><answer>y<gen_emb>").alias("raw"), "format_status",
                          pl.lit(False).alias("closed_answer"), pl.lit("bench.json").alias("origin"),
                          pl.lit(datetime(2026, 1, 1)).alias("created_at"))
        wh.commit_tables({
            "sides": pl.concat([sides, tsides]).to_arrow().cast(tables.schema("sides")),
            "pairs": prs.to_arrow().cast(tables.schema("pairs")),
            "annotations": rows.to_arrow().cast(tables.schema("annotations")),
        })
        t = time.perf_counter()
        s = validate(wh, load_config(student=student), suites=False)
        return time.perf_counter() - t, s.failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="annotations checked (vectorised)")
    ap.add_argument("--loop", type=int, default=20_000, help="annotations checked by the plain-Python loop")
    ap.add_argument("--gx-rows", type=int, default=100_000, help="rows of the GX row suite")
    ap.add_argument("--e2e", type=int, default=200_000, help="annotations validated end to end (0: skip)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()

    from training.tiny import build_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        build_tokenizer().save_pretrained(tmp)
        counter = TokenCounter.load(tmp)
        cfg = load_config(student=tmp)
        cfg.tokenizer_sha = counter.sha
        t = time.perf_counter()
        ann, pairs = generate(args.n)
        gen_s = time.perf_counter() - t
        chars = ann.get_column("reasoning").str.len_chars().mean()
        print(f"generated {ann.height:,} annotations, {pairs.height:,} pairs in {gen_s:.1f}s "
              f"(reasoning {chars:.0f} chars on average)")
        load_before = os.getloadavg()[0]
        v = time_vectorised(ann, pairs, cfg, counter)
        rate = args.n / v["all"]
        blocks = auto_blocks(PAGE)
        print(f"vectorised: {v['all']:.2f}s ({v['all_cpu']:.2f} CPU s) -> {rate:,.0f} annotations/s "
              f"({v['failed']:,} failed; {blocks} blocks a page; one block: {v['one_block']:.2f}s; token counting "
              f"{v['tokens']:.2f}s, other rules {v['other_rules']:.2f}s; counter modes {counter.mode}/"
              f"{counter.odd_mode})")
        stages = stage_costs(ann, pairs, cfg, counter)
        print("CPU ms per 100k rows, one thread: " + "; ".join(f"{k} {v:.0f}" for k, v in stages.items()))
        loop_n = min(args.loop, ann.height)
        loop_s, loop_failed = python_loop(ann.head(loop_n), pairs, cfg, counter)
        loop_rate = loop_n / loop_s
        print(f"plain-Python loop over {loop_n:,}: {loop_s:.2f}s -> {loop_rate:,.0f} annotations/s "
              f"({loop_failed:,} failed) -> vectorised is {rate / loop_rate:.0f}x")
        cold_s, warm_s = kernel_first_use(tmp)
        print(f"first use in a fresh process (import + one annotation): {cold_s:.1f}s compiling the kernels, "
              f"{warm_s:.1f}s with them cached")
        direct_n = min(20_000, ann.height)
        t = time.perf_counter()
        counter.encode_lengths(ann.get_column("reasoning").head(direct_n).to_list())
        direct_rate = direct_n / (time.perf_counter() - t)
        print(f"tokenizer encode_batch on whole reasoning texts: {direct_rate:,.0f} texts/s")
        gx = time_gx(args.gx_rows, cfg)
        print(f"GX: import {gx['import_s']:.1f}s; row suite over {args.gx_rows:,} rows {gx['rows_s']:.2f}s "
              f"(success {gx['rows_ok']}); batch suite over the aggregated table {gx['agg_s']:.2f}s")
        e2e = None
        if args.e2e:
            e2e_s, e2e_failed = time_e2e(ann, pairs, min(args.e2e, ann.height), tmp)
            e2e = (min(args.e2e, ann.height), e2e_s)
            print(f"validate end to end over {e2e[0]:,}: {e2e_s:.2f}s -> {e2e[0] / e2e_s:,.0f} annotations/s "
                  f"({e2e_failed:,} failed)")
    goal = "met" if rate >= 500_000 else "NOT met"
    section = "\n".join([
        "## Quality gates (bench/checks.py)",
        "",
        f"Measured on {machine()} ({load_before:.1f} when the run began). {args.n:,} generated annotations "
        f"(reasoning {chars:.0f} characters on average, 10 % faulty), every rule of the shipped defaults, lengths in "
        "the tiny student's tokens; every timing starts from a cold piece cache.",
        "",
        "| what | time | rate |",
        "|---|---:|---:|",
        f"| record checks, vectorised (measure + evaluate, pages of 100k in {blocks} parallel blocks) | "
        f"{v['all']:.2f} s ({v['all_cpu']:.2f} CPU s) | {rate:,.0f} annotations/s |",
        f"| the same in one block (one thread) | {v['one_block']:.2f} s | {args.n / v['one_block']:,.0f} "
        "annotations/s |",
        f"| of which: student-token counting (reasoning + summary) | {v['tokens']:.2f} s | "
        f"{args.n / v['tokens']:,.0f} annotations/s |",
        f"| of which: every other rule | {v['other_rules']:.2f} s | {args.n / v['other_rules']:,.0f} annotations/s |",
        f"| the same rules as a plain-Python loop ({loop_n:,} rows) | {loop_s:.2f} s | {loop_rate:,.0f} annotations/s |",
        f"| tokenizer `encode_batch` on whole reasoning texts | | {direct_rate:,.0f} texts/s |",
        f"| a fresh process's first annotation (import + measure): kernels compiled / loaded from numba's cache | "
        f"{cold_s:.1f} s / {warm_s:.1f} s | |",
        f"| GX row suite over {args.gx_rows:,} rows (pandas) | {gx['rows_s']:.2f} s | |",
        f"| GX batch suite over the aggregated table | {gx['agg_s']:.2f} s | |",
        f"| GX import | {gx['import_s']:.1f} s | |",
        *([f"| validate end to end, {e2e[0]:,} annotations (read, measure, evaluate, commit; no suites) | "
           f"{e2e[1]:.2f} s | {e2e[0] / e2e[1]:,.0f} annotations/s |"] if e2e else []),
        "",
        "Where a page's time goes (CPU ms per 100k rows, each group of rules measured alone on one thread, warm "
        "piece cache, best of three; the first two groups each split the words themselves, which all rules "
        "together do once):",
        "",
        "| rules | CPU ms / 100k |",
        "|---|---:|",
        *[f"| {k} | {v:.0f} |" for k, v in stages.items()],
        "",
        f"Goal: record checks >= 500,000 annotations/s on 2 cores: {goal} ({rate / loop_rate:.0f}x the per-row loop; "
        f"the parallel blocks run {v['one_block'] / v['all']:.2f}x the one-block rate). Lengths are counted through "
        "the tokenizer's batch API on the distinct pieces of each page (whole texts through `encode_batch` run at "
        "the rate in the table). The word split of reasoning + summary (shared by lengths, repetition and "
        "token_run), the word statistics, the piece lookups, the verbatim containment of summary_copy and leak, and "
        "the byte classes that decide where regexes must run are compiled kernels (numba, "
        "umedata/checks/kernels.py) that release the GIL; the rest is polars and "
        "numpy, regex passes only on the rows that need them. The per-row loop is "
        "umedata/checks/per_row.py (the definition tests/test_checks_fast_path.py holds the fast path to). Run at "
        "full size (the default `--n 1000000`) on a quiet machine for the figure of record.",
    ])
    print()
    print(section)
    if not args.no_write:
        write_section("checks-bench", section)


if __name__ == "__main__":
    main()
