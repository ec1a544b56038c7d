"""Verdicts: measured values against thresholds, with per-dataset overrides, as annotation_checks rows.

    rows = evaluate(values, cfg, side_datasets)       # values from measure.measure or from stored rows

Vectorised: the default threshold of each rule is a column joined in; annotations whose side is used by a dataset
with overrides take the strictest threshold of their datasets (max rules the smallest, min rules the largest) and
the rule is on if any of their datasets turns it on. Rows of rules that are off for an annotation are dropped, so
an annotation's rows are exactly its enabled rules (`format` is always among them).
"""

from __future__ import annotations

import polars as pl

from umedata.checks.config import ChecksConfig
from umedata.checks.rules import RULES

CHECKS = {"annotation_id": pl.String, "rule": pl.String, "passed": pl.Boolean, "value": pl.Float64,
          "threshold": pl.Float64, "detail": pl.String}


def rule_table(cfg: ChecksConfig) -> pl.DataFrame:
    names = list(RULES)
    return pl.DataFrame({
        "rule": names,
        "op": [RULES[n].op for n in names],
        "default_threshold": [cfg.rules[n].threshold for n in names],
        "default_enabled": [cfg.enabled(n) and cfg.rules[n].enabled for n in names],
        "measurable": [cfg.enabled(n) for n in names],
    })


def evaluate(values: pl.DataFrame, cfg: ChecksConfig, side_datasets: pl.DataFrame | None = None) -> pl.DataFrame:
    """values (annotation_id, rule, value, detail) -> checks rows (annotation_id, rule, passed, value, threshold,
    detail). side_datasets: (annotation_id, dataset_name), needed only when the config overrides datasets."""
    rules = rule_table(cfg)
    v = values.join(rules, on="rule", how="inner").filter(pl.col("measurable"))
    overrides = cfg.dataset_thresholds()
    if overrides and side_datasets is not None and side_datasets.height:
        o = pl.DataFrame(overrides, schema={"dataset_name": pl.String, "rule": pl.String, "threshold": pl.Float64,
                                            "enabled": pl.Boolean})
        ds = side_datasets.filter(pl.col("dataset_name").is_in(o.get_column("dataset_name").unique().to_list()))
        if ds.height:
            # Every (annotation, rule) with a dataset of its own: that dataset's setting, or the default.
            per = (ds.join(v.select("annotation_id", "rule", "op", "default_threshold", "default_enabled"),
                           on="annotation_id")
                   .join(o, on=["dataset_name", "rule"], how="left")
                   .with_columns(pl.col("threshold").fill_null(pl.col("default_threshold")),
                                 pl.col("enabled").fill_null(pl.col("default_enabled"))))
            # Datasets of the annotation without overrides keep the default for it, too.
            plain = side_datasets.join(ds, on=["annotation_id", "dataset_name"], how="anti")
            plain = (plain.join(v.select("annotation_id", "rule", "op", "default_threshold", "default_enabled"),
                                on="annotation_id")
                     .with_columns(pl.col("default_threshold").alias("threshold"),
                                   pl.col("default_enabled").alias("enabled")))
            cols = ["annotation_id", "rule", "op", "threshold", "enabled"]
            strict = (pl.concat([per.select(cols), plain.select(cols)])
                      .group_by("annotation_id", "rule")
                      .agg(pl.when(pl.col("op").first() == "max").then(pl.col("threshold").min())
                           .otherwise(pl.col("threshold").max()).alias("threshold_ds"),
                           pl.col("enabled").any().alias("enabled_ds")))
            v = v.join(strict, on=["annotation_id", "rule"], how="left")
    if "threshold_ds" not in v.columns:
        v = v.with_columns(pl.lit(None, pl.Float64).alias("threshold_ds"), pl.lit(None, pl.Boolean).alias("enabled_ds"))
    v = v.with_columns(
        pl.coalesce("threshold_ds", "default_threshold").alias("threshold"),
        pl.coalesce("enabled_ds", "default_enabled").alias("enabled"),
    ).filter(pl.col("enabled") | (pl.col("rule") == "format"))
    passed = (pl.when(pl.col("value").is_null()).then(pl.col("rule") != "format")
              .when(pl.col("op") == "max").then(pl.col("value") <= pl.col("threshold"))
              .otherwise(pl.col("value") >= pl.col("threshold")))
    return v.with_columns(passed.alias("passed")).select(list(CHECKS)).cast(CHECKS)
