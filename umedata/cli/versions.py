"""`umedata versions …` and `umedata build-sft-set`: the command-line face of umedata.versions.

Each command calls the library function the flow (flows/build_sft_set.py) calls. A version is named by its id, a
unique prefix of it, or a build name (then its latest build).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, console, emit, parse_pairs, readable, writable

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Dataset versions: list, show, diff, export, verify, drop, gc.")
StoreOpt = Annotated[
    Optional[str], typer.Option("--store", help="folder or fsspec URL holding versions/ and media/ (default: the warehouse's folder)")
]


@app.command("list")
def list_cmd(
    warehouse: WarehouseOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include dropped versions")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Registered versions, oldest first."""
    from umedata.versions import list_versions

    rows = list_versions(readable(warehouse), include_dropped=all_)
    if fmt is not Format.table:
        emit(rows, fmt)
        return
    for r in rows:
        r["id"] = r["version_id"][:16]
        r["parents"] = [p[:16] for p in r["parents"]]
    emit(rows, fmt, title="dataset versions", columns=["id", "names", "n_rows", "splits", "builds", "parents", "registered_at", "dropped_at"])


@app.command()
def show(ref: str, warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """A version's manifest, registry row and every build that produced it."""
    from umedata.versions import show as show_version

    info = show_version(readable(warehouse), ref)
    if fmt is not Format.table:
        emit(info, fmt)
        return
    m = info["manifest"]
    console.print(f"[bold]{info['version_id']}[/bold]  names={info['names']}  format={info['format_version']}  "
                  f"rows={info['n_rows']}  parents={info['parents']}")
    console.print(f"path: {info['path']}  (on disk: {info['on_disk']})  media_root: {info['media_root']}")
    emit(m["counts"]["rows"], fmt, title="counts", columns=["dataset_name", "modality", "split", "pairs"])
    d = m.get("decontamination")
    if d is not None:
        how = ", ".join(f"{k} {v}" for k, v in d["by_reason"].items() if v) or "none"
        verb = "kept (--keep-contaminated)" if d["kept_contaminated"] else "excluded"
        console.print(f"decontamination: {d['contaminated']} pair(s) sharing content with {len(d['eval_sets'])} "
                      f"eval set(s) {verb} (by {how})")
    emit(m.get("teachers", []), fmt, title="teachers", columns=["model", "prompt_version", "sides", "pairs"])
    emit(m.get("sources", []), fmt, title="sources", columns=["name", "licence", "provenance", "pairs"])
    emit(info["builds"], fmt, title="builds", columns=["built_at", "name", "query_name", "wrote_files", "code_version"])


@app.command()
def diff(a: str, b: str, warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """What changed from version A to version B."""
    from umedata.versions import diff as diff_versions

    d = diff_versions(readable(warehouse), a, b)
    if fmt is not Format.table:
        emit(d, fmt)
        return
    console.print(f"{d['a'][:16]} -> {d['b'][:16]}: " + ("same content" if d["same_content"] else json.dumps(d["changes"])))
    emit([{"split": s, **v} for s, v in d["splits"].items()], fmt, title="pairs per split", columns=["split", "a", "b"])
    emit(d["by_dataset"], fmt, title="changes", columns=["dataset_name", "modality", "change", "pairs"])
    for k in d["manifest_changes"]:
        console.print(f"[bold]{k}[/bold] differs")


@app.command()
def export(
    ref: str,
    dest: str,
    layout: Annotated[str, typer.Option(help="parquet | ume-r1-sft | ume-r1-rl")] = "parquet",
    embed: Annotated[bool, typer.Option("--embed/--reference", help="parquet: media bytes inside the shards, or media files beside them")] = True,
    split: Annotated[list[str], typer.Option(help="ume-r1 layouts: splits to write (default all)")] = [],
    gpt: Annotated[str, typer.Option(help="ume-r1-sft: raw (as received) | rendered (from reasoning + summary)")] = "raw",
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Write a self-contained copy of a version to DEST (a new folder or fsspec URL)."""
    from umedata.versions.registry import export as export_version

    emit(export_version(writable(warehouse), ref, dest, layout, embed=embed, splits=split or None, gpt=gpt), fmt)


@app.command()
def verify(ref: str, warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Recompute a version's id from its rows (a registered ref, or a directory path)."""
    from umedata.versions import get
    from umedata.versions import verify as verify_dir

    path = ref if (Path(ref) / "manifest.json").exists() or "://" in ref else get(readable(warehouse), ref)["path"]
    result = verify_dir(path)
    emit(result, fmt)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def drop(
    ref: str,
    yes: Annotated[bool, typer.Option("--yes", help="really unregister it")] = False,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Unregister a version; its files go at the next `gc` (unless a rebuild registers it again)."""
    from umedata.versions import drop as drop_version

    if not yes:
        raise typer.BadParameter("dropping a version needs --yes")
    emit({"dropped": drop_version(writable(warehouse), ref)}, fmt)


@app.command()
def gc(
    warehouse: WarehouseOpt = None,
    store: StoreOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report, delete nothing")] = False,
    min_age: Annotated[float, typer.Option(help="never delete files younger than this many seconds")] = 3600.0,
    fmt: FormatOpt = Format.table,
) -> None:
    """Delete version directories and media that no registered version uses."""
    from umedata.versions import gc as run_gc

    emit(run_gc(readable(warehouse), store=store, dry_run=dry_run, min_age_s=min_age).to_json(), fmt)


def build_sft_set(
    name: Annotated[str, typer.Option(help="name of the set (lineage: the next build under it records this one as parent)")] = "sft",
    dataset: Annotated[list[str], typer.Option(help="only these datasets (repeat)")] = [],
    modality: Annotated[list[str], typer.Option(help="only these modalities (repeat)")] = [],
    task: Annotated[list[str], typer.Option(help="only these tasks (repeat)")] = [],
    source: Annotated[list[str], typer.Option(help="only these sources (repeat)")] = [],
    source_split: Annotated[list[str], typer.Option(help="only pairs from these source splits (repeat)")] = [],
    prefer: Annotated[list[str], typer.Option(help="annotation preference, best first: MODEL, MODEL@PROMPT_VERSION, *@PROMPT_VERSION or * (repeat)")] = [],
    split_mode: Annotated[str, typer.Option(help="group (re-split by leakage group) | source (keep source splits)")] = "group",
    eval_fraction: Annotated[float, typer.Option(help="group mode: share of leakage groups in eval")] = 0.05,
    text_key: Annotated[str, typer.Option(help="query texts that link pairs: text_only | minhash (also near duplicates) | all | none")] = "text_only",
    seed: Annotated[int, typer.Option()] = 0,
    cap: Annotated[list[str], typer.Option(help="DATASET=N: at most N pairs of it (repeat)")] = [],
    weight: Annotated[list[str], typer.Option(help="DATASET=W: mix by weight (repeat; unlisted datasets are left out)")] = [],
    total: Annotated[Optional[int], typer.Option(help="with --weight: pairs in the mix")] = None,
    query: Annotated[Optional[Path], typer.Option(help="a .sql file returning pair_id (default: the shipped queries/sft_select.sql)")] = None,
    parent: Annotated[list[str], typer.Option(help="parent version ids (default: the latest build under --name)")] = [],
    rows_per_shard: Annotated[int, typer.Option()] = 100_000,
    keep_contaminated: Annotated[bool, typer.Option("--keep-contaminated", help="keep pairs sharing media or query text with a registered eval set (recorded in the manifest)")] = False,
    store: StoreOpt = None,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Build an SFT dataset version from pairs whose two sides have validated annotations."""
    from umedata.versions import SftSpec
    from umedata.versions import build_sft_set as build

    spec = SftSpec(
        name=name, datasets=tuple(dataset), modalities=tuple(modality), tasks=tuple(task), sources=tuple(source),
        source_splits=tuple(source_split), preference=tuple(prefer) or ("*",), split_mode=split_mode,
        eval_fraction=eval_fraction, text_key=text_key, seed=seed, caps=parse_pairs(cap, "--cap", int),
        weights=parse_pairs(weight, "--weight", float), total=total, query=str(query) if query else None,
        keep_contaminated=keep_contaminated,
    )
    result = build(writable(warehouse), spec, store=store, parents=list(parent) or None, rows_per_shard=rows_per_shard)
    if fmt is not Format.table:
        emit(result.summary(), fmt)
        return
    console.print(f"version {result.version_id}")
    console.print(f"  {result.path} ({'written' if result.wrote_files else 'already there: no file written'})")
    console.print(f"  parents: {result.parents or 'none'}")
    emit(result.counts["rows"], fmt, title="pairs", columns=["dataset_name", "modality", "split", "pairs"])
