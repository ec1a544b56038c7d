"""`umedata eval CHECKPOINT` and `umedata eval-sets …`: evaluation as the benchmark does it, from the command line.

`eval` exports the chosen eval sets (all registered ones by default) to an eval-set directory, launches
`python -m training.evaluate` on it as its own process (umedata never imports training; `--python` names a GPU
environment's interpreter), and loads the report into eval_runs / eval_scores. The flow (flows/eval.py) does the same
through the same library functions.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, console, emit, note, readable, writable
from umedata.errors import UserError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Eval sets as the benchmark publishes them: ingest, list, export; scores of checkpoints.")
StoreOpt = Annotated[Optional[str], typer.Option("--store", help="folder or URL holding evalsets/ and media/ "
                                                               "(default: the warehouse's folder)")]


class EvaluationFailed(UserError, RuntimeError):
    """training.evaluate exited non-zero (its own error is printed above)."""


def _pass_k(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"--pass-k takes k values like 1,2,4,8, not {text!r}") from None


def eval_cmd(
    checkpoint: Annotated[str, typer.Argument(help="model folder (or hub name) to evaluate")],
    eval_set: Annotated[list[str], typer.Option("--eval-set", help="only this eval set (repeat; default: all)")] = [],
    max_completion_length: Annotated[Optional[int], typer.Option(help="generation cap (default: the recipe's 2048)")] = None,
    pass_k: Annotated[str, typer.Option(help="e.g. 1,2,4,8: also pass@k from max(k) samples per query")] = "",
    max_queries: Annotated[Optional[int], typer.Option(help="per eval set (a quick look)")] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads")] = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    backend: Annotated[Optional[str], typer.Option(help="transformers | vllm")] = None,
    stage: Annotated[Optional[str], typer.Option(help="sft | rl | base (default: from the checkpoint's umedata_run.json)")] = None,
    python: Annotated[Optional[str], typer.Option(help="interpreter of the trainer's environment")] = None,
    out: Annotated[Optional[str], typer.Option(help="report JSON (default: eval-<dir id>.json beside the checkpoint)")] = None,
    cache_dir: Annotated[Optional[str], typer.Option(help="embedding cache (default: eval-cache/ beside the warehouse)")] = None,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Evaluate a checkpoint on registered eval sets and record the scores."""
    from umedata.clock import utcnow
    from umedata.evals.command import evaluate_command, report_path
    from umedata.evals.export import export_eval_sets
    from umedata.evals.results import record

    wh = writable(warehouse)
    exported = export_eval_sets(wh, list(eval_set) or None, store)
    out = out or report_path(checkpoint, exported["eval_dir_id"])
    cmd = evaluate_command(checkpoint, exported["path"], out, python, _pass_k(pass_k),
                           cache_dir or str(wh.path.resolve().parent / "eval-cache"),
                           max_completion_length=max_completion_length, max_queries=max_queries,
                           batch_size=batch_size, threads=threads, device=device, backend=backend, progress=True)
    note(f"evaluating {checkpoint} on {len(exported['sets'])} eval set(s): {exported['path']}", fmt)
    started = utcnow()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL)  # the report goes to --out; progress and errors to stderr
    if done.returncode:
        raise EvaluationFailed(f"training.evaluate exited with {done.returncode} (see its error above)")
    report = json.loads(Path(out).read_text())
    run_id = record(wh, report, checkpoint, stage, started)
    rows = [{"eval_set": name, "category": d["category"], "metric": d["metric"], "queries": d["queries"],
             "chance": d["chance"], "disc": d["disc"], "gen": d["gen"], "oracle": d["oracle"],
             "gen_emb_share": d.get("gen_emb_share")} for name, d in report["datasets"].items()]
    rows += [{"eval_set": f"[{cat}]", "category": cat, **{k: v[k] for k in ("chance", "disc", "gen", "oracle")}}
             for cat, v in report["categories"].items()]
    rows.append({"eval_set": "[mean]", **{k: report["mean"][k] for k in ("chance", "disc", "gen", "oracle")},
                 "gen_emb_share": report.get("gen_emb_share")})
    if fmt is not Format.table:
        emit({"run_id": run_id, "report": out, "rows": rows}, fmt)
        return
    emit([{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows], fmt,
         title=f"eval run {run_id[:12]}",
         columns=["eval_set", "category", "metric", "queries", "chance", "disc", "gen", "oracle", "gen_emb_share"])
    console.print(f"report: {out}")


@app.command()
def ingest(
    config: Annotated[Path, typer.Option("--config", "-c", help="eval-set TOML ([[eval_set]] tables)")],
    name: Annotated[list[str], typer.Option(help="only this eval set of the config (repeat)")] = [],
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Read eval sets in their published layouts into the warehouse (re-reading unchanged ones changes nothing)."""
    from umedata.evals.ingest import ingest_eval_set
    from umedata.sources.eval_config import load_eval_sets

    specs = [s for s in load_eval_sets(config) if not name or s.name in name]
    wh = writable(warehouse)
    rows = [ingest_eval_set(wh, s).as_dict() for s in specs]
    emit(rows, fmt, title="eval sets", columns=["name", "changed", "queries", "lists", "candidates", "quarantined",
                                                "reasons", "skipped"])


@app.command("list")
def list_cmd(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Registered eval sets."""
    emit(readable(warehouse).query("eval_set_list"), fmt, title="eval sets",
         columns=None if fmt is not Format.table else ["name", "category", "metric", "layout", "n_queries", "n_lists",
                                                        "n_candidates", "licence", "registered_at"])


@app.command()
def export(
    name: Annotated[list[str], typer.Argument(help="eval sets (default: all registered)")] = None,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Write the eval-set directory the trainer reads (content-addressed: an unchanged one is not rewritten)."""
    from umedata.evals.export import export_eval_sets

    emit(export_eval_sets(writable(warehouse), list(name or []) or None, store), fmt)


@app.command()
def runs(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Evaluation runs, one line each: mean headline metric of disc, gen and oracle (view eval_summary)."""
    emit(readable(warehouse).query("eval_runs_summary"), fmt, title="evaluation runs",
         columns=None if fmt is not Format.table else ["run_id", "stage", "checkpoint", "eval_sets", "chance", "disc",
                                                        "gen", "oracle", "gen_emb_share", "finished_at"])


@app.command()
def compare(
    metric: Annotated[Optional[str], typer.Option(help="only this metric (hit@1, ndcg@5, pass@k, ...)")] = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """RL checkpoints beside the SFT checkpoint each started from (view eval_sft_vs_rl)."""
    emit(readable(warehouse).query("eval_sft_vs_rl", {"metric": metric}), fmt, title="SFT vs RL",
         columns=None if fmt is not Format.table else ["eval_set", "category", "mode", "metric", "k", "sft", "rl",
                                                        "delta", "rl_checkpoint"])
