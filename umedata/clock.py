"""The one clock: naive UTC timestamps, the form every TIMESTAMP column of the warehouse holds."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC without tzinfo (DuckDB TIMESTAMP columns are zone-less; all of them hold UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(ts: datetime) -> str:
    """A utcnow() value as ISO 8601 with the Z suffix, for JSON files (manifests, reports)."""
    return ts.isoformat() + "Z"
