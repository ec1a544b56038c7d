"""The whole pipeline on the bundled sample: `make demo`.

ingest (sources and eval sets) -> offline teacher -> SFT dataset version (decontaminated against the eval sets) ->
a short SFT run of a tiny Qwen2-VL on CPU -> evaluation on the eval sets as the benchmark scores them (the last
table: per category, disc / gen / oracle; `bench/findings.py` runs the paper's findings, RL included).
Prefect runs without a server (a temporary one starts in-process); the warehouse is warehouse/umedata.duckdb,
versions and media land beside it, the training run under runs/demo-sft.

The demo departs from the recipe's trainer defaults on purpose, and says so here: a tiny random model (hidden 64)
on 2 CPU cores learns nothing in 150 steps at the reference lr 5e-5 (set for a pretrained 2B model), so it trains
at 2e-3 with 16 pairs per micro-batch, and evaluation generates at most 64 tokens (the reference cap is 2,048;
the tiny model rarely stops by itself).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow

from flows.annotate import annotate_flow
from flows.build_sft_set import build_sft_set_flow
from flows.eval import eval_flow, ingest_sets
from flows.ingest import ingest_flow
from flows.train_sft import train_sft_flow
from umedata import markdown, status
from umedata.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample" / "sources.toml"
EVAL_SETS = REPO / "examples" / "sample" / "eval_sets.toml"
TINY_LR = 2e-3  # see the module docstring
TINY_MICRO_BATCH = 16
TINY_EVAL_TOKENS = 64


@flow(name="demo")
def demo_flow(warehouse: str | None = None, steps: int = 150, out: str = str(REPO / "runs" / "demo-sft")) -> dict:
    ingest_flow(str(SAMPLE), warehouse)
    ingest_sets(str(Warehouse(warehouse).path), str(EVAL_SETS))  # before the version: it is decontaminated against them
    annotate_flow(backend="offline", warehouse=warehouse)  # the stand-in teacher: no model server needed
    version = build_sft_set_flow(warehouse=warehouse, name="sample-sft", split_mode="source",
                                 preference=["offline-template", "*"])
    scores = train_sft_flow(dataset=version["path"], out=out, steps=steps, micro_batch=TINY_MICRO_BATCH, lr=TINY_LR,
                            eval_args=["--max-completion-length", str(TINY_EVAL_TOKENS)], warehouse=warehouse)
    print(markdown.table(status.table_rows(Warehouse(warehouse))))
    print(f"\ndataset version {version['version_id'][:12]} ({version['n_rows']} pairs) -> {out}")
    print("eval (mean over datasets): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    ev = eval_flow(checkpoint=str(Path(out) / "model"), warehouse=warehouse,
                   settings={"max_completion_length": TINY_EVAL_TOKENS})
    rows = [{"category": c, **{k: round(v[k], 3) for k in ("chance", "disc", "gen", "oracle")}}
            for c, v in {**ev["categories"], "mean": ev["mean"]}.items()]
    print("\neval sets, as the benchmark scores them (Hit@1 over each query's own candidates; NDCG@5 for visdoc):")
    print(markdown.table(rows, ["category", "chance", "disc", "gen", "oracle"]))
    return scores


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", default=None)
    ap.add_argument("--steps", type=int, default=150)
    args = ap.parse_args()
    demo_flow(args.warehouse, args.steps)
