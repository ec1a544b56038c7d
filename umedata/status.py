"""What the warehouse holds, at a glance: rows per table and pairs per dataset / modality / split.

The one implementation behind `umedata status`, the demo's closing table and the flows' artifacts.
"""

from __future__ import annotations

from typing import Any

from umedata import sql
from umedata.warehouse import Warehouse


def table_rows(wh: Warehouse) -> list[dict[str, Any]]:
    """[{table, rows}] for every table of the warehouse, by name."""
    with wh.reader() as con:
        names = sql.query(con, "table_names").column("table_name").to_pylist()
        return [{"table": t, "rows": sql.execute(con, "table_rows", idents={"table": t})[0][0]} for t in names]


def datasets(wh: Warehouse) -> list[dict[str, Any]]:
    """[{dataset_name, modality, split, pairs, qry_sides, pos_sides}]."""
    return wh.query("status_datasets").to_pylist()


def quarantine_summary(wh: Warehouse) -> list[dict[str, Any]]:
    return wh.query("quarantine_summary").to_pylist()
