"""Measured distributions per dataset, so thresholds are chosen from data (`umedata checks stats`).

    rows = stats(wh, load_config(student="runs/tiny"), datasets=["ShapesI2T"])

Measures every rule (the thresholds file's measure settings) over the annotations selected, read-only: nothing is
written, no checks version is chosen. One row per (dataset, rule): how many annotations, quantiles of the value,
its maximum, and the share that fails the threshold applied (a side used by several datasets gets the strictest
of theirs). An annotation counts in every
dataset whose pairs use its side; '(all)' rows cover the selection once.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from umedata.checks.config import ChecksConfig
from umedata.checks.evaluate import evaluate
from umedata.checks.measure import measure
from umedata.checks.rules import RULES
from umedata.checks.run import PAGE_ROWS, prepare_config, read_page
from umedata.warehouse import Warehouse

QUANTILES = (0.01, 0.05, 0.5, 0.95, 0.99)


def stats(wh: Warehouse, cfg: ChecksConfig | None = None, *, datasets: list[str] | None = None,
          batch: str | None = None, limit: int | None = None, page_rows: int = PAGE_ROWS) -> list[dict[str, Any]]:
    cfg, counter = prepare_config(cfg)
    rules = [n for n in RULES if cfg.enabled(n)]
    base = {"batch": batch, "datasets": list(datasets) if datasets else None, "skip_version": None}
    parts, seen, after = [], 0, ""
    while limit is None or seen < limit:
        n = page_rows if limit is None else min(page_rows, limit - seen)
        page, pairs, side_ds, _ = read_page(wh, {**base, "after": after, "page": n}, pairs="leak" in rules,
                                            datasets=True, stored=None)
        if page.height == 0:
            break
        after = page.get_column("annotation_id")[-1]
        seen += page.height
        verdicts = evaluate(measure(page, rules, cfg, counter, pairs), cfg, side_ds)
        everyone = page.select("annotation_id").with_columns(pl.lit("(all)").alias("dataset_name"))
        parts.append(verdicts.join(pl.concat([side_ds, everyone]), on="annotation_id", how="inner"))
    if not parts:
        return []
    rows = pl.concat(parts)
    q = [pl.col("value").quantile(x, "linear").alias(f"p{round(x * 100):d}") for x in QUANTILES]
    thresholds = pl.DataFrame(
        [{"dataset_name": d, "rule": n, "op": RULES[n].op,
          "threshold": float(cfg.datasets.get(d, {}).get(n, {}).get(RULES[n].op, cfg.rules[n].threshold))}
         for d in rows.get_column("dataset_name").unique().to_list() for n in rules])
    out = (rows.group_by("dataset_name", "rule")
           .agg(pl.len().alias("n"), pl.col("value").min().alias("min"), *q, pl.col("value").max().alias("max"),
                (1.0 - pl.col("passed").mean()).round(4).alias("fail_share"))
           .join(thresholds, on=["dataset_name", "rule"], how="left")
           .sort("dataset_name", "rule"))
    order = ["dataset_name", "rule", "n", "min", *[f"p{round(x * 100):d}" for x in QUANTILES], "max", "op",
             "threshold", "fail_share"]
    return out.select(order).to_dicts()
