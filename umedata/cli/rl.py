"""`umedata rollouts …`, `umedata build-rl-set` and `umedata report rl-set`: the command-line face of the RL-set
half (umedata/rollouts.py, umedata/versions/rl.py, umedata/rl_report.py). The flows (flows/rollouts.py,
flows/build_rl_set.py) call the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, console, emit, note, parse_pairs, readable, writable

rollouts_app = typer.Typer(no_args_is_help=True, add_completion=False,
                           help="Rollout runs and their rewards: load the trainer's folders, list what is loaded.")


@rollouts_app.command("load")
def load(
    folders: Annotated[list[Path], typer.Argument(help="rollout run folders and/or score folders (told apart by their manifest)")],
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Load rollout run folders (python -m training.rollout) and score folders (python -m training.score_rollouts).

    Idempotent: rows are keyed, so loading a folder again (or a resumed run) adds only what is new. Run folders
    are loaded before score folders, whatever the order given."""
    from umedata import rollouts

    wh = writable(warehouse)
    kinds = {str(f): rollouts.read_manifest(f)["kind"] for f in folders}
    ordered = sorted(kinds, key=lambda f: rollouts.KINDS.index(kinds[f]))
    out = []
    for f in ordered:
        out.append(rollouts.load(wh, f).as_dict())
        note(f"loaded {f}: {out[-1]['new']} new of {out[-1]['rows']} rows, {out[-1]['quarantined']} quarantined", fmt)
    emit(out, fmt, title="loaded", columns=["kind", "id", "folder", "shards", "rows", "new", "quarantined", "reasons", "finished"])


@rollouts_app.command("list")
def list_cmd(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Loaded rollout runs and scorings, newest first."""
    wh = readable(warehouse)
    runs = wh.query("rollouts_runs")
    scorings = wh.query("rollouts_scorings", {"version": None})
    if fmt is not Format.table:
        emit({"runs": runs.to_pylist(), "scorings": scorings.to_pylist()}, fmt)
        return
    emit(runs, fmt, title="rollout runs")
    emit(scorings, fmt, title="scorings", columns=["scoring_id", "run_id", "dataset_version_id", "pool_size", "seed",
                                                   "n_pools", "rows", "quarantined", "loaded_at"])


def build_rl_set(
    sft: Annotated[Optional[str], typer.Option(help="the SFT version the rollouts were made on (id, prefix or name; default: the scoring's)")] = None,
    scoring: Annotated[Optional[str], typer.Option(help="scoring id or prefix whose rewards count (default: the latest loaded)")] = None,
    name: Annotated[str, typer.Option(help="name of the set")] = "rl",
    target: Annotated[int, typer.Option(help="pairs in the set (the reference RL set has about 11,000)")] = 11_000,
    all_: Annotated[bool, typer.Option("--all", help="every eligible pair, no target")] = False,
    min_mean: Annotated[Optional[float], typer.Option(help="difficulty band: lowest mean reward of a pair")] = None,
    max_mean: Annotated[Optional[float], typer.Option(help="difficulty band: highest mean reward of a pair")] = None,
    min_variance: Annotated[float, typer.Option(help="a group varies when its reward variance exceeds this")] = 0.0,
    cap: Annotated[list[str], typer.Option(help="DATASET=N: at most N pairs of it (repeat)")] = [],
    modality_weight: Annotated[list[str], typer.Option(help="MODALITY=W: share of the target (repeat; unlisted modalities get none)")] = [],
    allocation: Annotated[str, typer.Option(help="split the target over strata: proportional (to eligible pairs) | equal")] = "proportional",
    max_per_group: Annotated[int, typer.Option(help="most pairs per leakage group (0: no limit)")] = 1,
    seed: Annotated[int, typer.Option(help="seed of the tie-break hash")] = 0,
    parent: Annotated[list[str], typer.Option(help="parent version ids (default: the SFT version)")] = [],
    store: Annotated[Optional[str], typer.Option(help="folder or fsspec URL holding versions/ and media/ (default: the warehouse's folder)")] = None,
    report: Annotated[Optional[Path], typer.Option(help="also write the report (PNG + markdown) into this folder")] = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Curate an RL dataset version from scored rollouts: pairs whose rollouts' rewards vary, within quotas."""
    from umedata.rl_report import write
    from umedata.versions.rl import RlSpec
    from umedata.versions.rl import build_rl_set as build

    spec = RlSpec(name=name, sft_version=sft, scoring=scoring, target=None if all_ else target,
                  min_mean=min_mean, max_mean=max_mean, min_variance=min_variance,
                  caps=parse_pairs(cap, "--cap", int), modality_weights=parse_pairs(modality_weight, "--modality-weight", float),
                  allocation=allocation, max_per_group=max_per_group, seed=seed)
    built = build(writable(warehouse), spec, store=store, parents=list(parent) or None)
    summary = built.summary()
    if report is not None:
        summary["report"] = write(built.decisions, report, title=f"RL set {built.result.version_id[:12]}",
                                  links={"version": built.result.version_id}).files["markdown"]
    if fmt is not Format.table:
        emit(summary, fmt)
        return
    r = built.result
    console.print(f"version {r.version_id} (rl)")
    console.print(f"  {r.path} ({'written' if r.wrote_files else 'already there: no file written'})")
    console.print(f"  {built.info['selected']} of {built.info['candidates']} candidates; rejected: {built.info['rejected']}")
    emit(built.info["strata"], fmt, title="strata", columns=["dataset_name", "modality", "eligible", "quota"])
    if report is not None:
        console.print(f"report: {summary['report']}")


def report_rl_set(
    version: Annotated[str, typer.Argument(help="an RL version: id, prefix or name")],
    out: Annotated[Optional[Path], typer.Option(help="folder for the PNG files and report.md (default: reports/rl-set-<id> beside the warehouse)")] = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """The RL-set report of a registered RL version: variance histogram, selected vs rejected per dataset, mean reward
    and format rate before/after."""
    from umedata.rl_report import for_version

    rep = for_version(readable(warehouse), version, out)
    if fmt is not Format.table:
        emit(rep.as_dict(), fmt)
        return
    emit(rep.datasets, fmt, title="per dataset", columns=["dataset_name", "modality", "candidates", "selected",
                                                          "zero_variance", "over_quota", "reward_before", "reward_after",
                                                          "format_before", "format_after"])
    console.print(f"report: {rep.files['markdown']}")
