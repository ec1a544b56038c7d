"""The RL-set report: what reward-variance curation kept, what it turned away and why, and what that did to the
reward the policy will see. PNG figures (matplotlib, Agg) and a markdown page in one folder.

    write(decisions, out, title=..., links=...)   from build_rl_set's decisions (the flow does this)
    for_version(warehouse, ref, out)              `umedata report rl-set VERSION`: any registered RL version

Figures: the distribution of pair reward variance (selected vs rejected, zero-variance pairs counted apart),
selected vs rejected per dataset with each reason, mean reward and format rate per dataset before (every scored
candidate) and after (the selected pairs). The per-dataset numbers come from curate_report_datasets.sql.

For a registered version the curation is re-run from the warehouse with the parameters its manifest recorded (the
decisions are not stored: they are a function of the rewards); "selected" is membership in the version itself, and
the report says how many pairs today's curation would decide differently (0 unless rewards were re-loaded since).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata import markdown, sql
from umedata.errors import UserError
from umedata.versions import read_rows, registry
from umedata.versions.rl import REASONS, RlSpec, audit, resolve_inputs, run_curation
from umedata.warehouse import Warehouse

FIGURES = {"variance": "variance_hist.png", "datasets": "selected_by_dataset.png",
           "reward": "reward_before_after.png", "format": "format_rate.png"}


@dataclass
class RlReport:
    out: str
    markdown: str
    files: dict[str, str] = field(default_factory=dict)  # figure name -> PNG path, plus "markdown"
    datasets: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"out": self.out, "files": self.files, "summary": self.summary}


def per_dataset(decisions: pa.Table) -> list[dict[str, Any]]:
    con = sql.memory()
    try:
        con.register("rl_decisions", decisions)
        return sql.query(con, "curate_report_datasets").to_pylist()
    finally:
        con.close()


def _with_selected(decisions: pa.Table, selected: pa.Array | None = None) -> pa.Table:
    flag = pc.is_null(decisions.column("reason")) if selected is None else selected
    return decisions.append_column("selected", flag) if "selected" not in decisions.column_names else decisions


def _figures(decisions: pa.Table, rows: list[dict[str, Any]], out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, str] = {}
    sel = decisions.column("selected").to_numpy(zero_copy_only=False)
    score = decisions.column("score").to_numpy(zero_copy_only=False).astype(float)
    scored = ~np.isnan(score)
    zero = scored & (score <= 0)

    fig, ax = plt.subplots(figsize=(7, 4))
    pos = score[scored & ~zero]
    bins = np.histogram_bin_edges(pos, bins=40) if pos.size else np.linspace(0, 1, 41)
    ax.hist([score[scored & ~zero & sel], score[scored & ~zero & ~sel]], bins=bins, stacked=True,
            label=["selected", "rejected"], color=["tab:green", "tab:gray"])
    ax.set_xlabel("pair reward variance (mean of the query and target groups' sample variances)")
    ax.set_ylabel("pairs")
    ax.set_title(f"reward variance: {int(zero.sum())} of {int(scored.sum())} scored pairs have none (not shown)")
    ax.legend()
    fig.tight_layout()
    files["variance"] = str(out / FIGURES["variance"])
    fig.savefig(files["variance"], dpi=110)
    plt.close(fig)

    labels = [f"{r['dataset_name']} ({r['modality']})" for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(rows)))
    left = np.zeros(len(rows))
    for key, colour in (("selected", "tab:green"), *((r, None) for r in REASONS)):
        vals = np.array([r[key] for r in rows], dtype=float)
        if vals.sum():
            ax.barh(y, vals, left=left, label=key, color=colour)
            left += vals
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("candidate pairs")
    ax.set_title("selected and rejected (with the reason) per dataset")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    files["datasets"] = str(out / FIGURES["datasets"])
    fig.savefig(files["datasets"], dpi=110)
    plt.close(fig)

    for name, before, after, what in (("reward", "reward_before", "reward_after", "mean reward (r_format + r_emb)"),
                                      ("format", "format_before", "format_after", "format rate (mean r_format)")):
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(rows)))
        b = np.array([r[before] if r[before] is not None else np.nan for r in rows], dtype=float)
        a = np.array([r[after] if r[after] is not None else np.nan for r in rows], dtype=float)
        ax.barh(y - 0.2, b, height=0.4, label="before (scored candidates)", color="tab:gray")
        ax.barh(y + 0.2, a, height=0.4, label="after (selected)", color="tab:green")
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel(what)
        ax.set_title(f"{what} per dataset, before and after curation")
        ax.legend(fontsize=8)
        fig.tight_layout()
        files[name] = str(out / FIGURES[name])
        fig.savefig(files[name], dpi=110)
        plt.close(fig)
    return files


def write(decisions: pa.Table, out: str | os.PathLike[str], title: str = "RL set",
          links: dict[str, Any] | None = None, notes: list[str] | None = None) -> RlReport:
    """Figures + report.md in `out` from every candidate's decision (reason NULL = selected, or a `selected`
    column when membership is known otherwise)."""
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    decisions = _with_selected(decisions)
    rows = per_dataset(decisions)
    files = _figures(decisions, rows, outp)
    summary = audit(decisions.drop_columns(["selected"]))
    summary["selected"] = int(pc.sum(decisions.column("selected")).as_py() or 0)
    before, after = summary["rewards"]["before"], summary["rewards"]["after"]
    lines = [f"# {title}", ""]
    for k, v in (links or {}).items():
        lines.append(f"- {k}: `{v}`")
    lines += [f"- {n}" for n in notes or []]
    lines += ["", markdown.record({
        "candidates": summary["candidates"], "selected": summary["selected"],
        **{f"rejected: {r}": n for r, n in summary["rejected"].items()},
        "mean reward before / after": f"{_fmt(before['mean_reward'])} / {_fmt(after['mean_reward'])}",
        "mean variance before / after": f"{_fmt(before['mean_variance'])} / {_fmt(after['mean_variance'])}",
        "format rate before / after": f"{_fmt(before['format_rate'])} / {_fmt(after['format_rate'])}",
    }), "", "## Per dataset", "", markdown.table(rows), ""]
    lines += [f"![{name}]({Path(path).name})" for name, path in files.items()]
    text = "\n".join(lines) + "\n"
    (outp / "report.md").write_text(text, encoding="utf-8")
    files["markdown"] = str(outp / "report.md")
    return RlReport(out=str(outp), markdown=text, files=files, datasets=rows, summary=summary)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def for_version(warehouse: Warehouse | str | os.PathLike[str] | None, ref: str,
                out: str | os.PathLike[str] | None = None) -> RlReport:
    """The report of a registered RL version, its curation re-run from the warehouse with its recorded inputs."""
    wh = registry.as_warehouse(warehouse)
    info = registry.get(wh, ref)
    manifest = info["manifest"]
    if manifest.get("kind") != "rl" or "rl" not in manifest:
        raise UserError(f"version {info['version_id'][:12]} is a {manifest.get('kind')!r} version, not an RL set")
    params = dict(manifest["selection"]["params"])
    params.update(sft_version=manifest["rl"]["sft_version_id"], scoring=manifest["rl"]["scoring"]["scoring_id"])
    spec = RlSpec(**params)
    decisions, _, _ = run_curation(wh, spec, resolve_inputs(wh, spec))
    members = read_rows(info["path"], columns=["pair_id"]).column("pair_id")
    selected = pc.is_in(decisions.column("pair_id"), value_set=members.combine_chunks())
    differ = int(pc.sum(pc.not_equal(selected, pc.is_null(decisions.column("reason")))).as_py() or 0)
    decisions = decisions.append_column("selected", selected)
    out = out or wh.path.resolve().parent / "reports" / f"rl-set-{info['version_id'][:12]}"
    rl = manifest["rl"]
    links = {"version": info["version_id"], "SFT version": rl["sft_version_id"], "checkpoint": rl["checkpoint"],
             "rollout run": rl["rollout_run"],
             "scoring": f"{rl['scoring']['scoring_id'][:12]} (pools of {rl['scoring']['pool_size']} pairs, "
                        f"seed {rl['scoring']['seed']})"}
    notes = [f"{differ} pairs would be decided differently by today's curation (rewards re-loaded since the build)"
             ] if differ else []
    report = write(decisions, out, title=f"RL set {info['version_id'][:12]}", links=links, notes=notes)
    report.summary["differ_from_version"] = differ
    return report
