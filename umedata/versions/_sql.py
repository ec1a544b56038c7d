"""Running the SQL files of schemas/queries/ (dbt style: the SQL lives in files, code only binds and runs it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from umedata.warehouse import SCHEMAS_DIR

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
_COMMENT = re.compile(r"--[^\n]*")


def query_path(name: str) -> Path:
    """schemas/queries/<name> (name with or without .sql)."""
    return SCHEMAS_DIR / "queries" / (name if name.endswith(".sql") else f"{name}.sql")


def query_text(name_or_path: str | Path) -> str:
    """The text of a named query under schemas/queries/, or of any .sql file given by path."""
    p = Path(name_or_path)
    if not p.is_file():
        p = query_path(str(name_or_path))
    return p.read_text(encoding="utf-8")


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
    """Run one query text, binding only the $parameters it uses (DuckDB refuses unused named parameters)."""
    used = set(_PARAM.findall(_COMMENT.sub("", sql)))
    bound = {k: v for k, v in (params or {}).items() if k in used}
    con.execute("SET enable_progress_bar = false")  # long builds would otherwise draw bars into logs and pipes
    missing = used - bound.keys()
    if missing:
        raise ValueError(f"query needs parameters {sorted(missing)}")
    return con.sql(sql, params=bound).to_arrow_table() if bound else con.sql(sql).to_arrow_table()


def run_file(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> pa.Table:
    return run(con, query_text(name), params)


def execute_script(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Run the statements of a file one by one (DuckDB binds parameters per statement). Statements are split at
    semicolons, so the files this runs keep semicolons out of string literals."""
    for stmt in _COMMENT.sub("", sql).split(";"):
        if not stmt.strip():
            continue
        used = set(_PARAM.findall(stmt))
        bound = {k: v for k, v in (params or {}).items() if k in used}
        if used - bound.keys():
            raise ValueError(f"statement needs parameters {sorted(used - bound.keys())}")
        con.execute(stmt, bound) if bound else con.execute(stmt)


def execute_file(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> None:
    execute_script(con, query_text(name), params)


def materialize(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Make an Arrow table a TEMP table of this connection. Unlike a registered Arrow scan it has exact statistics,
    so the planner builds hash tables on the small side of each join (measured 30 % faster at 1 M rows)."""
    if not name.isidentifier():
        raise ValueError(f"bad relation name {name!r}")
    con.register(f"__{name}_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM __{name}_arrow")
    finally:
        con.unregister(f"__{name}_arrow")
