"""`umedata init | status | sql | quarantine`: the warehouse itself."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, emit, readable, writable

quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect what could not be taken in, and why.")


def init(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Create the warehouse file (if needed), apply pending migrations and views, commit crashed batches."""
    from umedata.warehouse import Warehouse

    wh = Warehouse(warehouse)
    applied = wh.init()
    recovered = wh.recover()
    emit({"warehouse": str(wh.path), "applied": applied or "up to date", "recovered_batches": recovered}, fmt)


def status(warehouse: WarehouseOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Rows per table, and pairs per dataset / modality / split."""
    from umedata import status as st

    wh = readable(warehouse)
    tables, datasets = st.table_rows(wh), st.datasets(wh)
    if fmt is Format.json:
        emit({"warehouse": str(wh.path), "tables": tables, "datasets": datasets}, fmt)
        return
    emit(tables, fmt, title=str(wh.path))
    emit(datasets, fmt, title="pairs per dataset / modality / split")


def run_sql(
    query: Annotated[str, typer.Argument(help="SQL to run")],
    write: Annotated[bool, typer.Option("--write", help="open read-write (default read-only)")] = False,
    max_width: Annotated[int, typer.Option(help="table output: cut cells longer than this")] = 80,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Run SQL against the warehouse (read-only unless --write); retries while a writer holds the file."""
    import duckdb

    wh = writable(warehouse) if write else readable(warehouse)
    ctx = wh.transaction() if write else wh.reader()
    try:
        with ctx as con:
            rel = con.sql(query)
            result = rel.to_arrow_table() if rel is not None else None
    except duckdb.Error as exc:  # the user's SQL: say what DuckDB said, in one line
        raise typer.BadParameter(str(exc).splitlines()[0], param_hint="QUERY") from None
    if result is None:
        emit({"ok": True}, fmt)
    else:
        emit(result, fmt, max_width=max_width)


@quarantine_app.command("list")
def quarantine_list(
    reason: Annotated[Optional[str], typer.Option(help="only this reason")] = None,
    source: Annotated[Optional[str], typer.Option(help="only this source")] = None,
    stage: Annotated[Optional[str], typer.Option(help="only this stage (ingest, teacher, checks, ...)")] = None,
    rule: Annotated[Optional[str], typer.Option(help="only annotations failing this check (chosen checks version)")] = None,
    limit: Annotated[int, typer.Option(help="newest items shown")] = 50,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """A summary per source / stage / reason, then the newest items (failed checks of the chosen checks version
    included, as stage 'checks' with the rule as reason)."""
    from umedata import status as st

    wh = readable(warehouse)
    items = wh.query("quarantine_items",
                     {"reason": reason, "source": source, "stage": stage, "rule": rule, "limit": limit})
    if fmt is Format.json:
        emit({"summary": st.quarantine_summary(wh), "items": items.to_pylist()}, fmt)
        return
    if fmt is Format.table:
        emit(st.quarantine_summary(wh), fmt, title="quarantine by reason")
    emit(items, fmt, title=f"newest {items.num_rows} item(s)")


@quarantine_app.command("show")
def quarantine_show(
    item: Annotated[str, typer.Argument(help="quarantine id (a prefix is enough)")],
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Everything recorded about one quarantined item."""
    rows = readable(warehouse).query("quarantine_item", {"prefix": item}).to_pylist()
    if not rows:
        raise typer.BadParameter(f"no quarantine item starts with {item!r}")
    if len(rows) > 1:
        raise typer.BadParameter(f"{item!r} is ambiguous; give more characters")
    emit(rows[0], fmt, max_width=None)

