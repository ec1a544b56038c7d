"""The loop at a glance: what each stage holds and refused, the versions it made, and the evaluations before SFT,
after SFT and after RL — the table `flows/pipeline.py` (and `make demo`) ends with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from umedata.markdown import table
from umedata.warehouse import Warehouse

EVAL_STAGES = (("base", "before SFT"), ("sft", "after SFT"), ("rl", "after RL"))


def _counts(wh: Warehouse) -> dict[str, Any]:
    return wh.query("pipeline_counts").to_pylist()[0]


def _eval_cell(ev: dict[str, Any]) -> dict[str, Any]:
    """disc / gen / oracle means (+ pass@k of gen when the report has it) from an eval flow's result."""
    mean = dict(ev["mean"])
    report = Path(ev.get("report", ""))
    if report.is_file():  # pass@k lives in the evaluator's report
        mean = json.loads(report.read_text()).get("mean", mean)
    cell = {m: round(float(mean[m]), 3) for m in ("disc", "gen", "oracle", "chance")}
    cell["pass@k"] = {k: round(float(v["gen"]), 3) for k, v in (mean.get("pass@k") or {}).items()}
    return cell


def summary(wh: Warehouse, versions: dict[str, dict[str, Any]], evals: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts per stage from the warehouse, the versions this run used (or made), the evaluations."""
    return {
        "counts": _counts(wh),
        "versions": {name: {"version_id": v["version_id"], "rows": v.get("n_rows"), "wrote_files": v.get("wrote_files")}
                     for name, v in versions.items()},
        "evals": {stage: _eval_cell(ev) for stage, ev in evals.items()},
    }


def rows(s: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per step: what it holds, and what it refused."""
    c, v = s["counts"], s["versions"]

    def version(name: str) -> str:
        x = v.get(name)
        return f"`{x['version_id'][:12]}` {x['rows']:,} pairs" + ("" if x.get("wrote_files") else " (existed)") if x \
            else "-"

    out = [
        {"step": "ingest", "result": f"{c['pairs']:,} pairs, {c['sides']:,} sides, {c['media']:,} media",
         "quarantined": c["q_ingest"]},
        {"step": "eval sets", "result": f"{c['eval_sets']:,} sets, {c['eval_queries']:,} queries",
         "quarantined": c["q_eval"]},
        {"step": "annotate", "result": f"{c['annotations']:,} annotations, {c['teacher_requests']:,} requests",
         "quarantined": c["q_teacher"]},
        {"step": "validate", "result": f"{c['validated']:,} validated", "quarantined": c["q_checks"]},
        {"step": "SFT set", "result": version("sft"), "quarantined": None},
        {"step": "rollouts", "result": f"{c['rollouts']:,} rollouts, {c['rewards']:,} rewards",
         "quarantined": c["q_rollouts"]},
        {"step": "RL set", "result": version("rl"), "quarantined": None},
        {"step": "versions", "result": f"{c['versions']:,} registered", "quarantined": None},
    ]
    for stage, label in EVAL_STAGES:
        e = s["evals"].get(stage)
        if e:
            k = ", ".join(f"@{n} {p}" for n, p in e["pass@k"].items())
            out.append({"step": f"eval {label}", "result": f"disc {e['disc']} · gen {e['gen']} · oracle "
                        f"{e['oracle']} (chance {e['chance']})" + (f" · gen pass{k}" if k else ""), "quarantined": None})
    return out


def to_markdown(s: dict[str, Any]) -> str:
    return table(rows(s), ["step", "result", "quarantined"])
