"""What the warehouse records about a source and an ingest run: its `sources` row, the pairs it already has,
and one `ingest_runs` row per run."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from umedata import sql, tables
from umedata.clock import utcnow
from umedata.sources.config import SourceSpec
from umedata.warehouse import Warehouse

_COMPARED = ("layout", "root", "licence", "provenance", "allow_external_teacher")


@dataclass
class IngestSummary:
    """What one run saw, added and refused (what `ingest_source` returns and `ingest_runs` keeps)."""

    source: str
    rows_seen: int = 0
    pairs_new: int = 0
    sides_new: int = 0
    media_new: int = 0
    annotations_new: int = 0
    quarantined: int = 0  # rows (or files) refused in this run, whether or not quarantine already held them
    quarantine_new: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    run_id: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add_staged(self, rows: int, quarantine: pa.Table | None) -> None:
        """Count a chunk as staged: its rows, and the items it refused."""
        self.rows_seen += rows
        if quarantine is not None and quarantine.num_rows:
            self.quarantined += quarantine.num_rows
            reasons = Counter(self.reasons) + Counter(quarantine["reason"].to_pylist())
            self.reasons = dict(sorted(reasons.items()))

    def add_committed(self, counts: dict[str, int]) -> None:
        """Count the rows one commit added (the warehouse's own count: known keys are not new)."""
        self.pairs_new += counts.get("pairs", 0)
        self.sides_new += counts.get("sides", 0)
        self.media_new += counts.get("media", 0)
        self.annotations_new += counts.get("annotations", 0)
        self.quarantine_new += counts.get("quarantine", 0)


@dataclass(frozen=True)
class Registration:
    row: pa.Table | None  # the sources row to stage: None when the warehouse holds it unchanged
    mode: str  # "ignore" for a new source, "replace" for a changed configuration
    known: pa.Array  # ids of the pairs this source already has


def register(warehouse: Warehouse, spec: SourceSpec) -> Registration:
    """The source's row as configured now, compared with the one registered, and the ids of its known pairs."""
    row: dict[str, Any] = {
        "name": spec.name,
        "layout": spec.layout,
        "root": str(spec.root),
        "licence": spec.licence,
        "provenance": spec.provenance,
        "allow_external_teacher": spec.allow_external_teacher,
        "options": json.dumps(spec.options(), sort_keys=True),
        "registered_at": utcnow(),
    }
    with warehouse.reader() as con:
        existing = sql.query(con, "ingest_source_row", {"name": spec.name}).to_pylist()
        known = sql.query(con, "ingest_known_pairs", {"source": spec.name})["pair_id"].combine_chunks()
    if not existing:
        return Registration(tables.rows("sources", [row]), "ignore", known)
    old = existing[0]
    if all(old[k] == row[k] for k in _COMPARED) and json.loads(old["options"] or "null") == spec.options():
        return Registration(None, "ignore", known)
    row["registered_at"] = old["registered_at"]  # a changed configuration updates the row, not its age
    return Registration(tables.rows("sources", [row]), "replace", known)


def record_run(warehouse: Warehouse, summary: IngestSummary, started: datetime) -> None:
    """The run's `ingest_runs` row, committed on its own."""
    row = {
        "run_id": summary.run_id,
        "source": summary.source,
        "started_at": started,
        "finished_at": utcnow(),
        "rows_seen": summary.rows_seen,
        "pairs_new": summary.pairs_new,
        "sides_new": summary.sides_new,
        "media_new": summary.media_new,
        "annotations_new": summary.annotations_new,
        "quarantined": summary.quarantined,
        "reasons": json.dumps(summary.reasons),
    }
    warehouse.commit_tables({"ingest_runs": tables.rows("ingest_runs", [row])})
