"""The whole pipeline on the bundled sample, with embedded defaults: `make demo`.

ingest -> offline teacher -> SFT dataset version -> a short SFT run of a tiny Qwen2-VL on CPU -> evaluation.
Prefect runs without a server (a temporary one starts in-process); the warehouse is warehouse/umedata.duckdb,
versions and media land beside it, the training run under runs/demo-sft.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow

from flows.annotate import annotate_flow
from flows.build_sft_set import build_sft_set_flow
from flows.ingest import ingest_flow
from flows.train_sft import train_sft_flow
from umedata.cli.common import emit
from umedata import status
from umedata.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample" / "sources.toml"


@flow(name="demo")
def demo_flow(warehouse: str | None = None, steps: int = 150, out: str = str(REPO / "runs" / "demo-sft")) -> dict:
    ingest_flow(str(SAMPLE), warehouse)
    annotate_flow(backend="offline", warehouse=warehouse)  # the stand-in teacher: no model server needed
    version = build_sft_set_flow(warehouse=warehouse, name="sample-sft", split_mode="source",
                                 preference=["offline-template", "*"])
    scores = train_sft_flow(dataset=version["path"], out=out, steps=steps, warehouse=warehouse)
    emit(status.table_rows(Warehouse(warehouse)), title="warehouse")
    print(f"dataset version {version['version_id'][:12]} ({version['n_rows']} pairs) -> {out}")
    print("eval (mean over datasets): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return scores


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--warehouse", default=None)
    ap.add_argument("--steps", type=int, default=150)
    args = ap.parse_args()
    demo_flow(args.warehouse, args.steps)
