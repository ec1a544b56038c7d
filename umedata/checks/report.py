"""The report of a checks version: a markdown file and PNG figures in one folder.

    files = write_report(wh, version, "runs/checks-report", summary)   # {"report.md": path, "reasoning_tokens.png": ...}

`umedata validate --report DIR` writes it locally; the validate flow writes the same files and attaches the
markdown and the images to its run. Figures cover every annotation the version checked (histograms: at most
200,000 values per rule, in hash order), tables the whole version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from umedata import markdown
from umedata.warehouse import Warehouse

HIST_ROWS = 200_000
# rule -> (file, title, x label)
HISTOGRAMS = {
    "long_reasoning": ("reasoning_tokens.png", "Reasoning length", "student tokens"),
    "long_summary": ("summary_tokens.png", "Summary length", "student tokens"),
    "repetition": ("repetition.png", "Repeated word n-grams in the reasoning", "share of n-grams repeated"),
}


def tables_of(wh: Warehouse, version: str) -> dict[str, list[dict[str, Any]]]:
    rates = wh.query("checks_report_rates", {"checks_version": version}).to_pylist()
    suites = wh.query("checks_report_suites", {"checks_version": version}).to_pylist()
    rules = wh.query("checks_rules_of", {"checks_version": version}).drop_columns(["measure_key"]).to_pylist()
    return {"rates": rates, "suites": suites, "rules": rules}


def markdown_report(version: str, summary: dict[str, Any], t: dict[str, list[dict[str, Any]]],
                    images: list[str]) -> str:
    verdicts = [r for r in t["rates"] if r["rule"] == "(all rules)"]
    failures = sorted((r for r in t["rates"] if r["rule"] != "(all rules)" and r["failed"]),
                      key=lambda r: (-r["failed"], r["dataset_name"], r["rule"]))
    suites = [{"batch": s["batch_id"], "suite": s["suite"], "success": s["success"], "failed": s["failed"],
               "given": s["given"], "override": f"{s['override_who']}: {s['override_why']}" if s["override_who"] else "",
               "failing": ", ".join(f"{x['type'].removeprefix('expect_')}({x['column'] or ''})={x['observed']}"
                                    for x in json.loads(s["results"]) if x["success"] is False)} for s in t["suites"]]
    lines = [
        f"# Quality gates: checks version `{version[:12]}`",
        "",
        f"- annotations checked in this run: {summary.get('selected', 0):,} "
        f"({summary.get('passed', 0):,} passed, {summary.get('failed', 0):,} failed)",
        f"- values measured {summary.get('measured', 0):,}, reused from stored values {summary.get('reused', 0):,}",
        f"- lengths: {summary.get('lengths', '')}",
        f"- chosen version: {'yes' if summary.get('chosen') else 'no'}",
        "",
        "## Pass rate per dataset (every annotation of the version)",
        markdown.table(verdicts, ["dataset_name", "checked", "failed", "pass_rate"]),
        "",
        "## Failures by reason (rule) per dataset",
        markdown.table(failures, ["dataset_name", "rule", "failed", "checked", "pass_rate"]) if failures else "none",
        "",
        "## Batch suites",
        markdown.table(suites) if suites else "not run",
        "",
        "## Rules and thresholds",
        markdown.table(t["rules"]),
    ]
    if images:
        lines += ["", "## Figures", *[f"![{Path(i).stem}]({Path(i).name})" for i in images]]
    return "\n".join(lines) + "\n"


def write_report(wh: Warehouse, version: str, folder: str | Path, summary: dict[str, Any]) -> dict[str, str]:
    from umedata.checks import plots

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    t = tables_of(wh, version)
    thresholds = {r["rule"]: r for r in t["rules"]}
    values = wh.query("checks_report_values", {"checks_version": version, "rules": list(HISTOGRAMS), "n": HIST_ROWS})
    files: dict[str, str] = {}
    rule_col = np.asarray(values.column("rule").to_pylist(), dtype=object)
    value_col = values.column("value").to_numpy(zero_copy_only=False)
    for rule, (name, title, xlabel) in HISTOGRAMS.items():
        v = value_col[rule_col == rule] if len(rule_col) else np.zeros(0)
        if len(v) == 0:
            continue
        r = thresholds.get(rule)
        files[name] = str(plots.histogram(v, out / name, title=title, xlabel=xlabel,
                                          threshold=r["threshold"] if r else None,
                                          threshold_label=r["op"] if r else "threshold"))
    if t["rates"]:
        files["pass_rates.png"] = str(plots.pass_rates(t["rates"], out / "pass_rates.png",
                                                      title=f"pass rate per dataset and rule ({version[:12]})"))
    md = markdown_report(version, summary, t, list(files.values()))
    (out / "report.md").write_text(md, encoding="utf-8")
    files = {"report.md": str(out / "report.md"), **files}
    return files
