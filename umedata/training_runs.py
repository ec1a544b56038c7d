"""Training runs in the warehouse: what a trainer's output folder says, as one `training_runs` row.

The trainer (training/, its own process, maybe its own GPU environment) writes files only: `run.json` (dataset
version, base model, config), `metrics.jsonl` (one line per optimiser step) and an evaluation report. `record`
reads them and commits the row, finished or failed: a run that crashed is recorded with its error, so failures
are visible in SQL beside the successes (`training_run_summary`). Times are UTC, like every warehouse timestamp.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from umedata import tables
from umedata.clock import utcnow
from umedata.warehouse import Warehouse

STATUSES = ("running", "finished", "failed")


def last_metrics(out: str | Path) -> dict[str, Any]:
    """The last complete line of metrics.jsonl ({} when there is none: a run that died before its first step)."""
    path = Path(out) / "metrics.jsonl"
    if not path.exists():
        return {}
    last: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        try:
            last = json.loads(line)
        except ValueError:  # a line a killed run left half-written
            continue
    return last


def run_info(out: str | Path) -> dict[str, Any]:
    """run.json of a trainer output folder, or {} when the trainer never got that far."""
    path = Path(out) / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def record(
    warehouse: Warehouse,
    out: str | Path,
    stage: str,
    status: str,
    started_at: datetime,
    eval_report: dict[str, Any] | None = None,
    error: str | None = None,
    base_model: str | None = None,
    dataset_version_id: str | None = None,
) -> dict[str, Any]:
    """Write (or overwrite) the run's row; returns it. The run id is the output folder, absolute."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    info, last = run_info(out), last_metrics(out)
    row = {
        "run_id": str(Path(out).resolve()),
        "stage": stage,
        "dataset_version_id": info.get("dataset_version_id") or dataset_version_id,
        "base_model": info.get("base_model") or base_model,
        "config": json.dumps(info.get("config") or {}, default=str),
        "steps": last.get("step"),
        "final_loss": last.get("loss"),
        "tokens_per_s": last.get("tokens_per_s"),
        "eval": json.dumps(eval_report) if eval_report else None,
        "status": status,
        "started_at": started_at,
        "finished_at": utcnow(),
        "error": error[-2000:] if error else None,  # the trainer's last words: enough to see why, bounded
    }
    warehouse.commit_tables({"training_runs": tables.rows("training_runs", [row])}, modes={"training_runs": "replace"})
    return row
