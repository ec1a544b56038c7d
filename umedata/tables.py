"""Arrow schemas of warehouse tables, derived from the DDL itself (umedata/schemas/migrations).

Producers build the rows they stage with these (ingest and the teacher both write annotations), so a column added
to a migration reaches every writer without a second copy to keep in step. The migrations run once per process
in an in-memory DuckDB; its Arrow export of each empty table is the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import pyarrow as pa

TS = pa.timestamp("us")


@cache
def _catalog() -> dict[str, pa.Schema]:
    from umedata import sql

    con = sql.memory()
    try:
        for f in sql.sql_files("migrations"):
            con.execute(f.read_text(encoding="utf-8"))
        names = sql.query(con, "table_names").column("table_name").to_pylist()
        names += sql.query(con, "view_names").column("view_name").to_pylist()  # e.g. teacher_requests (0009)
        return {t: sql.query(con, "empty_table", idents={"table": t}).schema for t in names}
    finally:
        con.close()


def schema(table: str, columns: Sequence[str] | None = None) -> pa.Schema:
    """The Arrow schema of a warehouse table (or of some of its columns, in the order given)."""
    full = _catalog().get(table)
    if full is None:
        raise KeyError(f"no warehouse table {table!r} in the migrations")
    return full if columns is None else pa.schema([full.field(c) for c in columns])


def empty(table: str, columns: Sequence[str] | None = None) -> pa.Table:
    return schema(table, columns).empty_table()


def rows(table: str, records: list[dict], columns: Sequence[str] | None = None) -> pa.Table:
    """dict rows -> an Arrow table of the table's schema (missing keys become NULL)."""
    s = schema(table, columns)
    return pa.Table.from_pylist(records, schema=s)
