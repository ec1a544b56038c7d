"""training.evaluate's report -> one eval_runs row and its eval_scores (docs/interfaces.md: "Evaluation report").

    run_id = record(Warehouse(), report, checkpoint="runs/sft/model", started_at=t0)

A report is a file the trainer side wrote; this turns it into rows SQL compares: one value per (eval set, mode,
metric, k), plus the per-set figures of the run itself (chance, gen_emb_share, format_ok_share under mode "all").
Category and overall means are not stored: they are the views' averages of these rows (eval_category_scores,
eval_summary), so there is one truth. The run id hashes the checkpoint (folder and content id), the eval directory
and the settings, so evaluating the same checkpoint on the same sets the same way again replaces the row instead of
adding one. What the checkpoint is (sft, rl or base), what it was trained on and, for RL, the SFT checkpoint it
started from come from its umedata_run.json.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from umedata import tables
from umedata.clock import utcnow
from umedata.errors import UserError
from umedata.ids import digest

STAGES = ("sft", "rl", "base", "unknown")


class BadReport(UserError, ValueError):
    """A report that is not training.evaluate's."""


def checkpoint_info(checkpoint: str | Path) -> dict[str, Any]:
    """(stage, dataset_version_id) from a model folder's umedata_run.json: GRPO exports say kind "grpo" (rl), the SFT
    trainer's carry its config (sft); a folder without the file is a base model."""
    path = Path(checkpoint) / "umedata_run.json"
    if not path.is_file():
        return {"stage": "base" if Path(checkpoint).is_dir() else "unknown", "dataset_version_id": None,
                "parent_checkpoint": None}
    meta = json.loads(path.read_text())
    stage = meta.get("stage") or ("rl" if meta.get("kind") == "grpo" else "sft" if "config" in meta else "unknown")
    parent = meta.get("sft_checkpoint")
    return {"stage": stage, "dataset_version_id": meta.get("dataset_version_id"),
            "parent_checkpoint": canonical(parent) if parent else None}


def canonical(checkpoint: str) -> str:
    """A local model folder as an absolute path (so an RL run's parent matches the SFT run's checkpoint)."""
    return str(Path(checkpoint).resolve()) if Path(checkpoint).exists() else checkpoint


def run_id(report: dict[str, Any], checkpoint: str) -> str:
    """The same folder (and weights) evaluated on the same sets the same way is the same run."""
    return digest("eval_run", report["checkpoint_id"], checkpoint, report["eval_id"],
                  json.dumps(report.get("settings", {}), sort_keys=True), ",".join(sorted(report["datasets"])))


def score_rows(rid: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []

    def add(name, category, mode, metric, value, n, k=0):
        rows.append({"run_id": rid, "eval_set": name, "category": category, "mode": mode, "metric": metric,
                     "k": k, "value": None if value is None else float(value), "n_queries": n})

    for name, d in sorted(report["datasets"].items()):
        cat, n = d["category"], d["queries"]
        for metric in ("hit@1", "ndcg@5"):
            for mode in ("disc", "gen", "oracle"):
                add(name, cat, mode, metric, d[metric][mode], n)
        for k, by_mode in sorted(d.get("pass@k", {}).items(), key=lambda kv: int(kv[0])):
            for mode, value in by_mode.items():
                add(name, cat, mode, "pass@k", value, n, int(k))
        for metric in ("chance", "gen_emb_share", "format_ok_share"):
            if metric in d:
                add(name, cat, "all", metric, d[metric], n)
    return rows


def record(warehouse, report: dict[str, Any], checkpoint: str | Path | None = None, stage: str | None = None,
           started_at: datetime | None = None) -> str:
    """Commit the report's eval_runs row and eval_scores rows (replacing an earlier identical run); returns run_id."""
    for key in ("checkpoint_id", "eval_id", "datasets"):
        if key not in report:
            raise BadReport(f"not an evaluation report: no {key!r} (expected training.evaluate's JSON)")
    checkpoint = canonical(str(checkpoint or report.get("model")))
    info = checkpoint_info(checkpoint)
    stage = stage or info["stage"]
    if stage not in STAGES:
        raise BadReport(f"stage must be one of {STAGES}, not {stage!r}")
    rid = run_id(report, checkpoint)
    finished = utcnow()
    run = {
        "run_id": rid, "checkpoint": checkpoint, "checkpoint_id": report["checkpoint_id"], "stage": stage,
        "parent_checkpoint": info["parent_checkpoint"], "dataset_version_id": info["dataset_version_id"], "eval_dir_id": report["eval_id"],
        "eval_sets": sorted(report["datasets"]), "settings": json.dumps(report.get("settings", {}), sort_keys=True),
        "report": json.dumps(report, sort_keys=True), "seconds": report.get("seconds"),
        "started_at": started_at or finished, "finished_at": finished,
    }
    warehouse.commit_tables(
        {"eval_runs": tables.rows("eval_runs", [run]), "eval_scores": tables.rows("eval_scores", score_rows(rid, report))},
        modes={"eval_runs": "replace", "eval_scores": "replace"})
    return rid
