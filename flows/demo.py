"""The whole loop on the bundled sample, on CPU: `make demo`.

The pipeline flow (flows/pipeline.py) with the offline teacher and a tiny random Qwen2-VL: ingest (sources and
eval sets) -> annotate -> validate -> SFT set -> SFT -> rollouts -> RL set -> GRPO -> evaluation before SFT, after
SFT and after RL, as the benchmark scores it. Prefect runs without a server (a temporary one starts in-process);
the warehouse is warehouse/umedata.duckdb, versions and media land beside it, the runs under runs/demo. A second
`make demo` finds everything done and only prints the table again.

The demo departs from the recipe on purpose, and says so here: a random-weight tiny model (hidden 64) on 2 CPU
cores learns nothing at the reference lr 5e-5 (set for a pretrained 2B model) in the steps a demo can afford, so
SFT trains at 2e-3 with 16 pairs per micro-batch and GRPO at 2e-4 on 8 pairs x 4 rollouts; generation is capped
at 64 tokens (the reference cap is 2,048; the tiny model rarely stops by itself); rollouts cover 16 train pairs
per dataset, and each evaluation scores the first 20 queries of each eval set (a random model before SFT never
stops generating: the whole sets would take minutes for chance-level figures). `bench/findings.py` runs the same
loop longer, on every query, and reports the paper's findings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow

from flows.pipeline import pipeline_flow
from umedata import pipeline_report

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample"
CAP = 64  # tokens per completion: see the module docstring


@flow(name="demo")
def demo_flow(warehouse: str | None = None, out: str = str(REPO / "runs" / "demo"), sft_steps: int = 400,
              rl_steps: int = 12) -> dict:
    summary = pipeline_flow(
        sources=str(SAMPLE / "sources.toml"), eval_sets=str(SAMPLE / "eval_sets.toml"), warehouse=warehouse, out=out,
        sft_set={"split_mode": "source", "preference": ["offline-template", "*"]},
        sft={"steps": sft_steps, "lr": 2e-3, "micro_batch": 16},
        rollout_pool=16, rollouts={"k": 4, "max_completion_length": CAP, "pool_size": 16},
        grpo={"steps": rl_steps, "batch": 8, "group": 4, "max_completion_length": CAP, "lr": 2e-4, "micro_batch": 0},
        evaluation={"max_completion_length": CAP, "max_queries": 20}, pass_k=[1, 2, 4, 8],
    )
    print("\n" + pipeline_report.to_markdown(summary))
    return summary


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", default=None)
    ap.add_argument("--sft-steps", type=int, default=400)
    ap.add_argument("--rl-steps", type=int, default=12)
    args = ap.parse_args()
    demo_flow(args.warehouse, sft_steps=args.sft_steps, rl_steps=args.rl_steps)
