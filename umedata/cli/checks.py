"""`umedata validate`, `umedata requeue` and `umedata checks …`: the quality gates from the command line. The same
library calls flows/validate.py makes.

    umedata validate --student runs/tiny --report runs/checks     # check what is not checked yet, choose the version
    umedata validate -c my_checks.toml --student runs/tiny        # new thresholds: stored values re-evaluated
    umedata quarantine list --rule repetition                     # what failed a rule, and why
    umedata requeue --rule repetition --rule refusal -c teacher.toml   # ask again (new seed: a new request key)
    umedata checks stats --student runs/tiny                      # measured distributions per dataset
    umedata checks suites                                         # batch suites of the chosen version
    umedata checks override RUN_ID --why "spot-checked; failures are quarantined"
    umedata checks versions | use VERSION
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, emit, note, progress, readable, writable

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Quality gates: measured distributions, checks versions, batch suites, overrides.")
Multi = Optional[list[str]]
ThresholdsOpt = Annotated[Optional[Path], typer.Option(
    "--config", "-c", help="thresholds TOML over the shipped defaults (umedata/schemas/checks/defaults.toml)")]
StudentOpt = Annotated[Optional[str], typer.Option(
    help="student model folder (its tokenizer.json), a tokenizer.json, or a cached hub id: lengths are counted in "
         "its tokens (without one, length rules are off)")]


def validate(
    config: ThresholdsOpt = None,
    student: StudentOpt = None,
    run: Annotated[Optional[str], typer.Option("--run", help="only this batch: a teacher run id or import:<origin>")] = None,
    dataset: Annotated[Multi, typer.Option("--dataset", help="only annotations of sides these datasets use")] = None,
    recheck: Annotated[bool, typer.Option("--recheck", help="measure again what this version already checked")] = False,
    choose: Annotated[bool, typer.Option("--choose/--no-choose",
                                         help="make this checks version the one validated_annotations applies")] = True,
    suites: Annotated[bool, typer.Option("--suites/--no-suites", help="run the batch suites (Great Expectations)")] = True,
    report: Annotated[Optional[Path], typer.Option("--report", help="write report.md and PNG figures here")] = None,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Check annotations (format, lengths in student tokens, repetition, refusals, copies, leaks, tags, garbage),
    record every verdict, choose the checks version, run the batch suites."""
    from umedata.checks.config import load_config
    from umedata.checks.run import validate as run_validate

    wh = writable(warehouse)
    cfg = load_config(config, student=student)
    with progress("validate", unit="annotations", enabled=show_progress) as update:
        s = run_validate(wh, cfg, batch=run, datasets=dataset or None, recheck=recheck, choose_version=choose,
                         suites=suites, report_dir=report, on_progress=update)
    out = s.as_dict()
    if fmt is not Format.table:
        emit(out, fmt)
        return
    suite_rows = out.pop("suites")
    failures = out.pop("failures")
    emit(out, fmt, title=f"checks version {s.checks_version}")
    if failures:
        emit([{"rule": k, "annotations": v} for k, v in failures.items()], fmt, title="failures by rule (this run)")
    if suite_rows:
        emit([{k: r[k] for k in ("batch_id", "suite", "success", "failed", "given")} for r in suite_rows], fmt,
             title="batch suites")
    if s.note:
        note(s.note, fmt)
    if s.failed:
        note(f"{s.failed} annotation(s) failed: `umedata quarantine list --rule RULE` shows them; "
             "`umedata requeue --rule RULE -c teacher.toml` asks the teacher again", fmt)


def requeue(
    rule: Annotated[Multi, typer.Option("--rule", help="sides whose annotations failed these rules (default: any)")] = None,
    side: Annotated[Multi, typer.Option("--side", help="these sides (ids), whatever their checks")] = None,
    dataset: Annotated[Multi, typer.Option("--dataset", help="only sides these datasets use")] = None,
    limit: Annotated[Optional[int], typer.Option(help="at most this many sides")] = None,
    seed: Annotated[Optional[int], typer.Option(help="sampling seed (default: the first one these sides never had)")] = None,
    model: Annotated[Optional[str], typer.Option(help="another teacher model (a new request key by itself)")] = None,
    config: Annotated[Optional[Path], typer.Option("--teacher", "-t", help="teacher config TOML")] = None,
    backend: Annotated[Optional[str], typer.Option(help="openai | batch | offline (overrides the config)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the sides, send nothing")] = False,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Send sides whose annotations failed their checks back to the teacher under a new request key (a new seed or
    another model); old answers stay on record and nothing is paid twice."""
    from umedata.checks.requeue import choose_sides
    from umedata.checks.requeue import requeue as run_requeue
    from umedata.teacher.config import load_config

    wh = writable(warehouse)
    if side:
        chosen = [{"side_id": s, "failed_rules": None, "annotations": None} for s in side][:limit]
    else:
        chosen = choose_sides(wh, rules=rule or None, datasets=dataset or None, limit=limit)
    if not chosen:
        if fmt is not Format.table:
            emit([], fmt)
        note("no side to requeue: none failed these checks without also having a validated annotation", fmt)
        return
    if dry_run:
        emit(chosen, fmt, title=f"{len(chosen)} side(s) to requeue")
        return
    cfg = load_config(config, backend=backend)
    summary = run_requeue(wh, cfg, [c["side_id"] for c in chosen], seed=seed, model=model)
    emit(summary.as_dict(), fmt)
    note(f"new annotations are not validated yet: `umedata validate --run {summary.run_id}`", fmt)


@app.command("stats")
def stats_cmd(
    config: ThresholdsOpt = None,
    student: StudentOpt = None,
    dataset: Annotated[Multi, typer.Option("--dataset", help="only annotations of sides these datasets use")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="only this batch")] = None,
    limit: Annotated[Optional[int], typer.Option(help="at most this many annotations")] = None,
    rule: Annotated[Multi, typer.Option("--rule", help="only these rules")] = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Measured distributions of every rule's value per dataset (quantiles, max, share failing the threshold).
    Reads only: nothing is recorded."""
    from umedata.checks.config import load_config
    from umedata.checks.stats import stats

    rows = stats(readable(warehouse), load_config(config, student=student), datasets=dataset or None, batch=run,
                 limit=limit)
    if rule:
        rows = [r for r in rows if r["rule"] in rule]
    if fmt is Format.table:
        for r in rows:
            for k, v in r.items():
                if isinstance(v, float):
                    r[k] = round(v, 4)
    emit(rows, fmt, title="measured values per dataset and rule")


@app.command("versions")
def versions_cmd(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Checks versions, newest first, with what each checked and which one is chosen."""
    emit(readable(warehouse).query("checks_versions_list"), fmt, title="checks versions")


@app.command("use")
def use_cmd(version: Annotated[str, typer.Argument(help="a checks version (see `umedata checks versions`)")],
            warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Choose a checks version: validated_annotations applies it from now on."""
    from umedata.checks.run import choose

    wh = writable(warehouse)
    choose(wh, version)
    emit({"chosen": version}, fmt)


@app.command("suites")
def suites_cmd(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Batch suites of the chosen checks version: which batches passed, which failed, and any override."""
    emit(readable(warehouse).query("checks_suites_chosen"), fmt, title="batch suites (chosen checks version)")


@app.command("override")
def override_cmd(
    batch: Annotated[str, typer.Argument(help="the batch: a teacher run id or import:<origin>")],
    why: Annotated[str, typer.Option("--why", help="why it may be promoted anyway (recorded)")],
    who: Annotated[Optional[str], typer.Option(help="who decides (default: the login name)")] = None,
    version: Annotated[Optional[str], typer.Option(help="checks version (default: the chosen one)")] = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Let a batch whose suite failed into dataset versions; who, why and when go into their manifests."""
    from umedata.checks.gate import override

    emit(override(writable(warehouse), batch, why=why, who=who, checks_version=version), fmt)
