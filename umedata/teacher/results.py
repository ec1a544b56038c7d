"""Result rows: a judged answer (or a failure) as warehouse rows, committed through the warehouse's door, and
re-derived from stored answers without a request (`reparse`).

One finished key writes, in one staged batch (one transaction), landed against the open-lease table
(schemas/queries/teacher_finish*.sql, migration 0009) so a commit never reads the tables it appends to:
- teacher_requests: its status, outcome, accounting; a done key moves from teacher_requests_open (where its
  lease-time columns such as messages were) to teacher_requests_done, a failed one stays open, failed. Only a key
  the committing run still holds (or one exported to a Batch API file) lands: a key lands once;
- teacher_responses: the raw body as received, for the keys that landed;
- annotations: the reasoning and summary when the answer is usable, with annotation_id derived from the request
  key alone, for the keys that landed (so a key never yields two annotations);
- quarantine (stage 'teacher'): a bad answer or a final failure, with its reason (not for an answer that did not
  land: it would hide the answer of the run that holds the key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from umedata import sql, tables
from umedata.clock import utcnow
from umedata.format import parse_assistant
from umedata.ids import annotation_id, quarantine_id
from umedata.teacher.answers import Parser, Verdict, judge
from umedata.teacher.backends.base import TransportError
from umedata.teacher.credentials import redact
from umedata.warehouse import Warehouse

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    import json

    _loads = json.loads

# The columns a finished key overwrites in teacher_requests; the lease-time ones (messages, params) stay as leased.
RESULT_COLUMNS = (
    "request_key", "status", "lease_owner", "lease_until", "retryable", "outcome", "endpoint", "run_id", "attempts",
    "http_status", "finish_reason", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "elapsed_ms",
    "error", "finished_at",
)


@dataclass(slots=True)
class KeyMeta:
    """What a result row needs to know about its request."""

    key: str
    side_id: str
    source: str
    model: str
    prompt_version: str


def origin(backend: str, endpoint: str | None) -> str:
    return f"teacher:{backend}:{endpoint or '-'}"


class _Columns:
    """Rows of one table kept as column lists (cheaper than dicts at thousands of rows a second)."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.cols: list[list[Any]] = [[] for _ in schema]

    def add(self, *values: Any) -> None:
        for col, v in zip(self.cols, values, strict=True):
            col.append(v)

    def __len__(self) -> int:
        return len(self.cols[0])

    def table(self) -> pa.Table:
        return pa.table(self.cols, schema=self.schema)

    def drain(self) -> pa.Table:
        """The rows as a table, the lists that held them let go."""
        table = self.table()
        self.cols = [[] for _ in self.schema]
        return table


class ResultBuffer:
    def __init__(self) -> None:
        self.requests = _Columns(tables.schema("teacher_requests_done", RESULT_COLUMNS))
        self.responses = _Columns(tables.schema("teacher_responses"))
        self.annotations = _Columns(tables.schema("annotations"))
        self.quarantine = _Columns(tables.schema("quarantine"))

    def __len__(self) -> int:
        return len(self.requests) + len(self.quarantine)

    @property
    def empty(self) -> bool:
        return not (len(self.requests) or len(self.quarantine))

    def quarantine_row(self, source: str, what: str, reason: str, detail: str | None) -> None:
        self.quarantine.add(
            quarantine_id(source, what, reason), source, "teacher", what, reason, redact(detail), utcnow()
        )

    def done(
        self,
        meta: KeyMeta,
        *,
        raw: str,
        verdict: Verdict,
        run_id: str,
        backend: str,
        endpoint: str | None,
        attempts: int,
        cost_usd: float | None,
        latency_ms: float | None,
        elapsed_ms: float | None,
    ) -> None:
        now = utcnow()
        self.requests.add(
            meta.key,
            "done",
            None,
            None,
            None,
            verdict.outcome,
            endpoint,
            run_id,
            attempts,
            200,
            verdict.finish_reason,
            verdict.prompt_tokens,
            verdict.completion_tokens,
            cost_usd,
            latency_ms,
            elapsed_ms,
            None,
            now,
        )
        self.responses.add(meta.key, run_id, raw, now)
        self.verdict_rows(meta, verdict, backend, endpoint, now)

    def verdict_rows(self, meta: KeyMeta, verdict: Verdict, backend: str, endpoint: str | None, now) -> None:
        if verdict.ok:
            p = verdict.parsed
            self.annotations.add(
                annotation_id(meta.key),
                meta.side_id,
                meta.key,
                meta.model,
                meta.prompt_version,
                p.reasoning,
                p.summary,
                verdict.text,
                p.status,
                p.closed_answer,
                origin(backend, endpoint),
                now,
            )
        else:
            self.quarantine_row(meta.source, meta.key, verdict.outcome, verdict.detail())

    def failed(
        self,
        meta: KeyMeta,
        *,
        error: TransportError,
        run_id: str,
        endpoint: str | None,
        attempts: int,
        elapsed_ms: float,
    ) -> None:
        now = utcnow()
        text = redact(f"{error.kind}: {error.detail}"[:500])
        self.requests.add(
            meta.key,
            "failed",
            None,
            None,
            bool(error.retryable),
            None,
            endpoint,
            run_id,
            attempts,
            error.status,
            None,
            None,
            None,
            None,
            None,
            elapsed_ms,
            text,
            now,
        )
        self.quarantine_row(meta.source, meta.key, error.kind, f"after {attempts} attempt(s): {text}")

    def drain(self) -> dict[str, pa.Table]:
        """The buffered rows as tables, leaving the buffer empty: a commit holds its rows once, not as Python
        objects and Arrow tables at the same time."""
        return {
            "teacher_requests": self.requests.drain(),
            "teacher_responses": self.responses.drain(),
            "annotations": self.annotations.drain(),
            "quarantine": self.quarantine.drain(),
        }


# How each table lands (the requests shard first: the others land for the keys it landed; see the module docstring).
MODES = {"teacher_requests": "query:teacher_finish", "teacher_responses": "query:teacher_finish_rows",
         "annotations": "query:teacher_finish_rows", "quarantine": "query:teacher_finish_quarantine"}


def commit(
    wh: Warehouse,
    buffer: ResultBuffer,
    extra: dict[str, pa.Table] | None = None,
    modes: dict[str, str] | None = None,
    max_keys: int | None = None,
) -> dict[str, int]:
    """Commit the buffer (and any `extra` tables landing with it), emptying the buffer. Returns rows landed per
    table (teacher_requests: the keys that landed).

    One transaction, or, past `max_keys` finished keys, one per `max_keys` keys, each with every row of its keys
    (`extra` goes with the first). All of them are staged before the first applies, and only the staged shards
    are applied: while DuckDB commits and checkpoints (the client's peak), this process no longer holds the rows.
    The results that pile up while a slow commit runs (the one that closes a DuckDB row group takes seconds) are
    so committed in batches of the usual size, not in one twice as large."""
    if buffer.empty and not extra:
        return {}
    modes = {**MODES, **(modes or {})}
    parts = by_keys(buffer.drain(), max_keys)
    parts[0].update(extra or {})
    staged = [wh.stage_tables(part, modes) for part in parts]
    del parts
    counts: dict[str, int] = {}
    for batch in staged:
        for table, n in wh.commit(batch).items():
            counts[table] = counts.get(table, 0) + n
    return counts


def by_keys(tables: dict[str, pa.Table], max_keys: int | None) -> list[dict[str, pa.Table]]:
    """Result tables cut into parts of at most `max_keys` request rows, each part with the responses, annotations
    and quarantine rows of its keys; quarantine rows of keys without a request row (unsendable) go with the first."""
    requests = tables["teacher_requests"]
    if not max_keys or requests.num_rows <= max_keys:
        return [dict(tables)]
    key_col = {"teacher_responses": "request_key", "annotations": "request_key", "quarantine": "what"}
    parts = []
    for start in range(0, requests.num_rows, max_keys):
        chunk = requests.slice(start, max_keys)
        part = {"teacher_requests": chunk}
        for name, col in key_col.items():
            mine = pc.is_in(tables[name][col], value_set=chunk["request_key"])
            if start == 0 and name == "quarantine":
                mine = pc.or_(mine, pc.invert(pc.is_in(tables[name][col], value_set=requests["request_key"])))
            part[name] = tables[name].filter(mine)
        parts.append(part)
    return parts


# -- reparse ---------------------------------------------------------------------------------------------------


def _pages(wh: Warehouse, model: str | None, prompt_version: str | None, page: int) -> Iterator[list[dict[str, Any]]]:
    after = ""
    while True:
        rows = wh.query(
            "teacher_stored_responses", {"model": model, "prompt_version": prompt_version, "after": after, "page": page}
        ).to_pylist()
        if not rows:
            return
        yield rows
        after = rows[-1]["request_key"]


def reparse(
    wh: Warehouse,
    *,
    model: str | None = None,
    prompt_version: str | None = None,
    parse: Parser | None = None,
    page: int = 20_000,
) -> dict[str, int]:
    """Re-derive annotations and teacher quarantine rows from stored raw responses. Sends nothing.

    Use it after changing the parser (pass `parse`, default umedata.format.parse_assistant) or the judging rules.
    Returns counts: responses seen, now ok, now bad, and how many changed outcome.
    """
    parse = parse or parse_assistant
    counts = {"responses": 0, "ok": 0, "bad": 0, "changed": 0}
    for rows in _pages(wh, model, prompt_version, page):
        buf = ResultBuffer()
        keys, outcomes = [], []
        now = utcnow()
        for r in rows:
            try:
                verdict = judge(_loads(r["body"]), parse)
            except ValueError:
                verdict = Verdict("bad_response", r["body"][:300], None, None, None, None)
            meta = KeyMeta(r["request_key"], r["side_id"], r["source"], r["model"], r["prompt_version"])
            buf.verdict_rows(meta, verdict, r["backend"], r["endpoint"], now)
            keys.append(r["request_key"])
            outcomes.append(verdict.outcome)
            counts["ok" if verdict.ok else "bad"] += 1
            counts["changed"] += verdict.outcome != r["outcome"]
        counts["responses"] += len(rows)
        reparsed = pa.table({"request_key": pa.array(keys, pa.string()), "outcome": pa.array(outcomes, pa.string())})
        relations = {"reparsed": reparsed, "new_annotations": buf.annotations.table(),
                     "new_quarantine": buf.quarantine.table()}
        with wh.transaction() as con:
            for name, table in relations.items():
                con.register(name, table)
            sql.execute(con, "teacher_reparse_apply")
    return counts
