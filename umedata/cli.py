"""`umedata …`: the local face of every flow. Each command calls the same library function its flow calls."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from umedata import versions_cli
from umedata.cli_common import WarehouseOpt, console, print_rows
from umedata.teacher import cli as teacher_cli
from umedata.warehouse import Warehouse, sql_file

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect what could not be taken in, and why.")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(versions_cli.app, name="versions")
app.command("build-sft-set")(versions_cli.build_sft_set)
app.command("annotate")(teacher_cli.annotate)

def print_table(table, title: str | None = None, max_width: int = 80) -> None:
    """Print a pyarrow table; long cells are cut so wide text columns stay readable."""
    print_rows(table.to_pylist(), table.column_names, title, max_width)


@app.command()
def init(warehouse: WarehouseOpt = None) -> None:
    """Create the warehouse file (if needed) and apply pending migrations and views."""
    wh = Warehouse(warehouse)
    applied = wh.init()
    console.print(f"{wh.path}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@app.command()
def ingest(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="source config TOML (see docs/interfaces.md)")] = None,
    path: Annotated[Optional[Path], typer.Argument(help="a single file or folder to ingest without a config")] = None,
    layout: Annotated[str, typer.Option(help="mmeb | ume_r1_sft | ume_r1_rl | generic")] = "generic",
    name: Annotated[Optional[str], typer.Option(help="source name (default: the file's stem)")] = None,
    root: Annotated[Optional[Path], typer.Option(help="media root (default: the file's folder)")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="dataset name")] = None,
    modality: Annotated[Optional[str], typer.Option()] = None,
    task: Annotated[str, typer.Option()] = "retrieval",
    split: Annotated[str, typer.Option()] = "train",
    column: Annotated[list[str], typer.Option("--map", help="generic layout: OURS=THEIRS, e.g. --map qry=question")] = [],
    licence: Annotated[Optional[str], typer.Option()] = None,
    provenance: Annotated[Optional[str], typer.Option()] = None,
    allow_external_teacher: Annotated[bool, typer.Option(help="may this content go to an external teacher API")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Ingest sources described in a config file, or one file/folder given on the command line."""
    from umedata.ingest import ingest_source
    from umedata.sources.config import DatasetSpec, SourceSpec, load_sources

    if (config is None) == (path is None):
        raise typer.BadParameter("give either --config FILE or one PATH")
    if config is not None:
        specs = load_sources(config)
    else:
        path = path.resolve()
        columns = dict(_parse_mapping(m) for m in column)
        specs = [
            SourceSpec(
                name=name or path.stem,
                layout=layout,
                root=(root or path.parent).resolve(),
                licence=licence,
                provenance=provenance or str(path),
                allow_external_teacher=allow_external_teacher,
                datasets=[DatasetSpec(name=dataset or path.stem, path=str(path), modality=modality, task=task, split=split, columns=columns)],
            )
        ]
    wh = Warehouse(warehouse)
    wh.init()
    failed = 0
    for spec in specs:
        with _progress(f"ingest {spec.name}") as progress:
            summary = ingest_source(wh, spec, progress=progress)
        console.print(f"[bold]{spec.name}[/bold] {json.dumps(summary.as_dict())}")
        failed += summary.quarantined
    print_status(wh, tables_only=False)
    if failed:
        console.print(f"[yellow]{failed} item(s) quarantined: `umedata quarantine list` says why[/yellow]")


def _parse_mapping(text: str) -> tuple[str, str]:
    ours, sep, theirs = text.partition("=")
    if not sep or not ours or not theirs:
        raise typer.BadParameter(f"--map wants OURS=THEIRS, got {text!r}")
    return ours.strip(), theirs.strip()


class _progress:
    """A rich progress line fed by the ingest callback (rows done so far)."""

    def __init__(self, label: str):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
                             TimeElapsedColumn(), console=console, transient=True, disable=not sys.stderr.isatty())
        self._label = label

    def __enter__(self):
        self._bar.start()
        task = self._bar.add_task(self._label, total=None)
        return lambda done: self._bar.update(task, completed=done)

    def __exit__(self, *exc):
        self._bar.stop()


def print_status(wh: Warehouse, tables_only: bool = False) -> None:
    """Row counts per table, then (unless tables_only) pairs per dataset / modality / split."""
    with wh.reader() as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY table_name").fetchall()]
        counts = Table(title=f"{wh.path}")
        counts.add_column("table")
        counts.add_column("rows", justify="right")
        for t in tables:
            counts.add_row(t, f"{con.execute(f'SELECT count(*) FROM {t}').fetchall()[0][0]:,}")
        console.print(counts)
        if not tables_only:
            print_table(con.sql(sql_file("queries/status_datasets.sql")).to_arrow_table(), "pairs per dataset / modality / split")


@app.command()
def status(warehouse: WarehouseOpt = None) -> None:
    """Row counts per table and pairs per dataset / modality / split."""
    print_status(Warehouse(warehouse), tables_only=False)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run")],
    write: Annotated[bool, typer.Option("--write", help="open read-write (default read-only)")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | json")] = "table",
    max_width: Annotated[int, typer.Option(help="cut cells longer than this in table output")] = 80,
    warehouse: WarehouseOpt = None,
) -> None:
    """Run SQL against the warehouse (read-only unless --write); retries while a writer holds the file."""
    wh = Warehouse(warehouse)
    ctx = wh.transaction() if write else wh.reader()
    with ctx as con:
        rel = con.sql(query)
        result = rel.to_arrow_table() if rel is not None else None
    if result is None:
        console.print("ok")
    elif fmt == "json":
        sys.stdout.write(json.dumps(result.to_pylist(), default=str, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(result, sys.stdout.buffer)
    else:
        print_table(result, max_width=max_width)


@quarantine_app.command("list")
def quarantine_list(
    reason: Annotated[Optional[str], typer.Option(help="only this reason")] = None,
    source: Annotated[Optional[str], typer.Option(help="only this source")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    warehouse: WarehouseOpt = None,
) -> None:
    """A summary per source/stage/reason, then the newest items."""
    wh = Warehouse(warehouse)
    print_table(wh.query(sql_file("queries/quarantine_summary.sql")), "quarantine by reason")
    items = wh.query(
        "SELECT quarantine_id[:12] AS id, source, stage, reason, what, detail FROM quarantine "
        "WHERE (? IS NULL OR reason = ?) AND (? IS NULL OR source = ?) ORDER BY created_at DESC, what LIMIT ?",
        [reason, reason, source, source, limit],
    )
    print_table(items, f"newest {items.num_rows} item(s)")


@quarantine_app.command("show")
def quarantine_show(
    item: Annotated[str, typer.Argument(help="quarantine id (a prefix is enough)")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Everything recorded about one quarantined item."""
    rows = Warehouse(warehouse).query(
        "SELECT * FROM quarantine WHERE starts_with(quarantine_id, ?) ORDER BY quarantine_id LIMIT 2", [item]
    ).to_pylist()
    if not rows:
        raise typer.BadParameter(f"no quarantine item starts with {item!r}")
    if len(rows) > 1:
        raise typer.BadParameter(f"{item!r} is ambiguous; give more characters")
    for k, v in rows[0].items():
        console.print(f"[bold]{k}[/bold]: {v}")


if __name__ == "__main__":
    app()
