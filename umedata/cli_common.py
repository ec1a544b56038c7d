"""What every `umedata` command module shares: the console, the --warehouse option, printing rows as a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
WarehouseOpt = Annotated[
    Optional[Path],
    typer.Option("--warehouse", "-w", help="DuckDB file (default: $UMEDATA_WAREHOUSE or warehouse/umedata.duckdb)"),
]


def print_rows(rows: list[dict[str, Any]], columns: list[str], title: str | None = None,
               max_width: int | None = None) -> None:
    """Print dict rows as a rich table; lists/dicts as JSON, cells longer than max_width cut (None: never)."""
    out = Table(title=title)
    for c in columns:
        out.add_column(c, overflow="fold")
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            s = "" if v is None else (json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v))
            cells.append(s if max_width is None or len(s) <= max_width else s[: max_width - 1] + "…")
        out.add_row(*cells)
    console.print(out)
