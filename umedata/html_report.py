"""`umedata report`: one static HTML page of the warehouse's state that opens in a browser without a server.

Sections: rows and refusals per stage; quality-gate pass rates and failures by reason; the reward variance the RL
set is curated by; training curves (read from each run's metrics.jsonl, in the run folder the run id names); the
evaluations side by side. Plots are PNG (matplotlib, Agg) embedded as data URLs, so the page is one file.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from umedata.clock import iso, utcnow
from umedata.warehouse import Warehouse

CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}td.n{text-align:right}th{background:#f5f5f5}
img{max-width:100%;border:1px solid #eee}.note{color:#666}"""


def _duration(seconds: float) -> str:
    m, sec = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s" if m else f"{seconds:.1f} s"


def _cell(v: Any) -> str:
    """Text of a value as a reader wants it: durations in h/m/s (DuckDB intervals arrive as Arrow's
    month-day-nano triples), times to the second."""
    if v is None:
        return ""
    if isinstance(v, dt.timedelta):
        return _duration(v.total_seconds())
    if hasattr(v, "nanoseconds") and hasattr(v, "days") and hasattr(v, "months"):
        return _duration(v.months * 30 * 86400 + v.days * 86400 + v.nanoseconds / 1e9)
    if isinstance(v, dt.datetime):
        return v.replace(microsecond=0).isoformat(sep=" ")
    return str(v)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, empty: str = "nothing yet") -> str:
    if not rows:
        return f'<p class="note">{html.escape(empty)}</p>'
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{v:.4g}" if num else _cell(v)
            cells.append(f'<td class="n">{text}</td>' if num else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _query(wh: Warehouse, name: str) -> list[dict[str, Any]]:
    try:
        return wh.query(name).to_pylist()
    except Exception:  # a warehouse from before a stage existed: that section is empty, not the page
        return []


def _variance_plot(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">no rollouts scored yet</p>'
    plt = _plots()
    fig, ax = plt.subplots(figsize=(7, 3))
    for role in ("qry", "pos"):
        vals = [r["variance"] or 0.0 for r in rows if r["role"] == role]
        ax.hist(vals, bins=40, alpha=0.6, label=f"{role} ({len(vals):,} groups)")
    ax.set_xlabel("reward variance over the K rollouts of a side")
    ax.set_ylabel("groups")
    ax.legend()
    return _png(fig)


def _curves(runs: list[dict[str, Any]]) -> str:
    plt = _plots()
    series = []
    for run in runs:
        path = Path(run["run_id"]) / "metrics.jsonl"
        if not path.is_file():
            continue
        recs = []
        for line in path.read_text().splitlines():
            try:
                recs.append(json.loads(line))
            except ValueError:
                continue
        key = "reward" if run["stage"] == "grpo" else "loss"
        pts = [(r["step"], r[key]) for r in recs if key in r and "step" in r]
        if pts:
            series.append((run, key, pts))
    if not series:
        return '<p class="note">no training run folders reachable from here</p>'
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3), squeeze=False)
    for ax, (run, key, pts) in zip(axes[0], series):
        ax.plot([p[0] for p in pts], [p[1] for p in pts])
        ax.set_title(f"{run['stage']} · {Path(run['run_id']).name}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
    return _png(fig)


def _pass_rate_plot(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">no quality-gate checks yet (`umedata validate`)</p>'
    plt = _plots()
    by = {}
    for r in rows:
        by.setdefault(r["dataset_name"], [0, 0])
        by[r["dataset_name"]][0] += r["passed"]
        by[r["dataset_name"]][1] += r["annotations"]
    names = sorted(by)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1))
    ax.barh(names, [by[n][0] / by[n][1] for n in names])
    ax.set_xlim(0, 1)
    ax.set_xlabel("annotations passing every enabled rule")
    return _png(fig)


def render(wh: Warehouse) -> str:
    """The page for this warehouse, as HTML text."""
    counts = _query(wh, "pipeline_counts")
    pass_rates = _query(wh, "report_pass_rates")
    failures = _query(wh, "report_check_failures")
    variance = _query(wh, "report_reward_variance")
    runs = _query(wh, "report_training_runs")
    evals = _query(wh, "report_evals")
    c = counts[0] if counts else {}
    stages = [{"stage": k, "rows": v} for k, v in c.items()]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>umedata · {html.escape(wh.path.name)}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>umedata warehouse</h1><p class='note'>{html.escape(str(wh.path))} · generated {iso(utcnow())}</p>",
        "<h2>Stages</h2>", _table(stages),
        "<h2>Quality gates</h2>", _pass_rate_plot(pass_rates),
        _table(failures, empty="no rule failed" if pass_rates else "no checks run yet"),
        "<h2>Reward variance (RL-set curation)</h2>", _variance_plot(variance),
        "<h2>Training</h2>", _table(runs, empty="no training run loaded yet"), _curves(runs),
        "<h2>Evaluation</h2>", _table(evals, empty="no evaluation recorded yet"),
        "</body></html>",
    ]
    return "\n".join(parts)


def write(wh: Warehouse, out: str | Path) -> Path:
    """Write the page to `out` (a file path; folders are created) and return it."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(wh), encoding="utf-8")
    return path
