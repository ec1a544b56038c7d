"""Markdown tables: what flows attach as Prefect artifacts and what the demo prints, from rows of dicts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        v = json.dumps(v, default=str, ensure_ascii=False)
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned; columns default to the keys in first-seen order."""
    rows = list(rows)
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    if not cols:
        return ""
    numeric = {c: all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols}
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" if numeric[c] else "---" for c in cols) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def record(obj: Mapping[str, Any]) -> str:
    """One record as a two-column key/value table."""
    return table([{"": k, "value": v} for k, v in obj.items()], ["", "value"])
