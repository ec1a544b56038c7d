"""Decontamination: before a version is built, pairs that share content with a registered eval set are left out.

A pair is contaminated when a medium of its query or target (by sha256; a video's frames too) is a medium of any
eval query or candidate, or when its query is text only and its normalised text is that of a text-only eval query
(schemas/queries/decontam_pairs.sql says exactly how). Such pairs are excluded and counted in the manifest
(`decontamination`); `keep=True` keeps them, and the manifest records that it did and how many. Every kind of
version goes through it (build_version calls it), so an RL set curated from rollouts is decontaminated too.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from umedata import sql


def decontaminate(con: duckdb.DuckDBPyConnection, kept: pa.Table, keep: bool = False) -> tuple[pa.Table, dict[str, Any]]:
    """(the kept pairs without contaminated ones, unless `keep`; the manifest's record). `kept` must already be a
    relation named "kept" on `con` (build_version makes it a temp table)."""
    flagged, info = flag(con, keep)
    if keep or flagged.num_rows == 0:
        return kept, info
    out = kept.filter(pc.invert(pc.is_in(kept.column("pair_id"), value_set=flagged.column("pair_id"))))
    return out, info


def flag(con: duckdb.DuckDBPyConnection, keep: bool = False) -> tuple[pa.Table, dict[str, Any]]:
    """(the contaminated pairs of relation "kept" - pair_id, reasons -, the manifest's record); what a streamed
    build leaves out of its kept table unless `keep`."""
    eval_sets = sql.query(con, "decontam_eval_sets").to_pylist()
    if eval_sets:
        flagged = sql.query(con, "decontam_pairs")
    else:  # nothing to compare against: skip the scan of every kept pair's media
        flagged = pa.table({"pair_id": pa.array([], pa.string()), "reasons": pa.array([], pa.list_(pa.string()))})
    reasons = flagged.column("reasons").to_pylist()
    info = {
        "eval_sets": eval_sets,
        "contaminated": flagged.num_rows,
        "by_reason": {r: sum(r in rs for rs in reasons) for r in ("media", "text")},
        "kept_contaminated": bool(keep),
        "excluded": 0 if keep else flagged.num_rows,
    }
    return flagged, info
