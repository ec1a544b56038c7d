"""A teacher run's report for people: what happened and why (markdown), and its accounting per model (rows).

The annotate flow turns these into Prefect artifacts; anything else may print or store them.
"""

from __future__ import annotations

from typing import Any

from umedata.warehouse import Warehouse

COUNTS = (
    "pending", "leased", "finished", "ok", "attempts", "already_done", "leased_elsewhere", "blocked_external",
    "prompt_tokens", "completion_tokens", "cost_usd", "elapsed_s", "requests_per_s",
)
REASONS = (
    ("Bad answers (quarantined)", "bad_answers"),
    ("Failures (quarantined)", "failed"),
    ("Not sendable (quarantined)", "unsendable"),
)


def markdown(summary: dict[str, Any]) -> str:
    """The run summary (RunSummary.as_dict()) as markdown: counts, then each reason keys ended up quarantined."""
    lines = [
        f"# Teacher run `{summary['run_id']}`",
        "",
        f"backend **{summary['backend']}**, model **{summary['model']}**, status **{summary['status']}**",
        "",
        "| | |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {summary[k]} |" for k in COUNTS if k in summary]
    for title, key in REASONS:
        if summary.get(key):
            lines += ["", f"## {title}", "", "| reason | n |", "|---|---:|"]
            lines += [f"| {r} | {n} |" for r, n in sorted(summary[key].items())]
    return "\n".join(lines)


def accounting(wh: Warehouse, run_id: str) -> list[dict[str, Any]]:
    """Tokens, cost and latency per model of one run (teacher_run_summary), with timestamps as text."""
    rows = wh.query("teacher_run_accounting", {"run_id": run_id}).to_pylist()
    return [{k: v if v is None or isinstance(v, (int, float)) else str(v) for k, v in r.items()} for r in rows]
