"""What every `umedata` command shares: the console, the --warehouse and --format options, one way to print a
result, one KEY=VALUE parser, and one way to open the warehouse.

Output: every command takes `--format table|json|csv` (`-f`). Tables are for people (long cells cut), JSON and CSV
for scripts (whole values). A command's result is a list of rows or one record; `emit` prints either.

Warehouse: commands that write call `writable(path)` (migrate + recover: `init` happens in this one place);
commands that only read call `readable(path)`, which fails with one clear line when there is no file.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from umedata.errors import UserError

if TYPE_CHECKING:
    from umedata.warehouse import Warehouse

console = Console()
err_console = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


WarehouseOpt = Annotated[
    Optional[Path],
    typer.Option("--warehouse", "-w", help="DuckDB file (default: $UMEDATA_WAREHOUSE or warehouse/umedata.duckdb)"),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (for people) | json | csv (for scripts)")]


def writable(path: Path | str | None) -> Warehouse:
    """The warehouse for a command that writes: created and migrated if needed, crashed batches committed."""
    from umedata.warehouse import Warehouse

    wh = Warehouse(path)
    wh.prepare()
    return wh


def readable(path: Path | str | None) -> Warehouse:
    """The warehouse for a command that only reads; a missing file is a clear error, never a new empty file."""
    from umedata.warehouse import Warehouse

    return Warehouse(path).require()


def parse_pairs(items: Sequence[str], what: str, cast: Callable[[str], Any] = str) -> dict[str, Any]:
    """KEY=VALUE options (repeatable) into a dict; the value may itself contain '=' (split at the first one)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{what} takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = cast(val.strip())
        except ValueError:
            raise typer.BadParameter(f"{what}: {val!r} is not a valid {getattr(cast, '__name__', 'value')}") from None
    return out


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str, ensure_ascii=False)
    return str(v)


def _rows_of(data: Any) -> tuple[list[dict[str, Any]], list[str]]:
    if hasattr(data, "to_pylist") and hasattr(data, "column_names"):  # a pyarrow table
        return data.to_pylist(), list(data.column_names)
    if isinstance(data, Mapping):
        return [{"key": k, "value": v} for k, v in data.items()], ["key", "value"]
    rows = [dict(r) for r in data]
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    return rows, columns


def emit(data: Any, fmt: Format | str = Format.table, title: str | None = None, columns: Sequence[str] | None = None,
         max_width: int | None = 80) -> None:
    """Print a result: rows (a list of dicts or an Arrow table) or one record (a dict).

    json prints the data as it is (a record stays an object); csv and table print rows; a record becomes
    key/value rows.
    """
    fmt = Format(fmt)
    if fmt is Format.json:
        obj = data.to_pylist() if hasattr(data, "to_pylist") else data
        sys.stdout.write(json.dumps(obj, default=str, ensure_ascii=False, indent=None) + "\n")
        return
    rows, cols = _rows_of(data)
    cols = list(columns) if columns else cols
    if fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in cols])
        sys.stdout.write(buf.getvalue())
        return
    out = Table(title=title)
    for c in cols:
        out.add_column(c, overflow="fold")
    for r in rows:
        cells = [_cell(r.get(c)) for c in cols]
        out.add_row(*(s if max_width is None or len(s) <= max_width else s[: max_width - 1] + "…" for s in cells))
    console.print(out)


def note(text: str, fmt: Format | str = Format.table) -> None:
    """A line for people (progress, hints): on stderr, so json/csv output on stdout stays parseable."""
    err_console.print(text) if Format(fmt) is not Format.table else console.print(text)


class progress:
    """A progress line on the terminal (stderr), silent when stderr is not a terminal (logs, pipes, CI).

        with progress("ingest sample", unit="rows") as update:
            update(done)              # or update(done, total)
    """

    def __init__(self, label: str, unit: str = "", enabled: bool = True):
        self.label, self.unit = label, unit
        self.enabled = enabled and sys.stderr.isatty()

    def __enter__(self) -> Callable[..., None]:
        if not self.enabled:
            return lambda *a, **k: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn(self.unit), TimeElapsedColumn(), console=err_console, transient=True)
        self._bar.start()
        task = self._bar.add_task(self.label, total=None)
        return lambda done, total=None: self._bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._bar.stop()


def expected_errors() -> tuple[type[BaseException], ...]:
    """Failures that are the user's to fix: printed as one line, exit status 2, no traceback."""
    from umedata.warehouse import MigrationsMissing, WarehouseLocked

    return (UserError, WarehouseLocked, MigrationsMissing)
