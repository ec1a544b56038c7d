"""The `batch` backend: OpenAI Batch API request files out, result files in (half the price, within 24 h).

Export selects pending sides exactly as an online run does, leases their keys with status `exported` (lease
length batch.lease_ttl_s, default 26 h), and writes JSONL request lines
`{"custom_id": <request_key>, "method": "POST", "url": "/v1/chat/completions", "body": {...}}` — media inlined
as data URLs, since the file is what the API reads — split at 50,000 requests / 200 MB per file (the API's
limits). Files are written under a temp name and renamed when complete, and recorded in teacher_batch_files.
Uploading and polling are left to the user (or the OpenAI CLI); nothing here needs network access.

Import reads result (and error) files, judges each answer exactly like an online one, and commits in staged
batches. Keys already done are skipped, so importing a file twice changes nothing. Exported keys whose results
never come back stay leased until their lease expires; then a later export or online run claims them again.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umedata import sql
from umedata.teacher import accounting, keys, store
from umedata.teacher.answers import Parser, judge
from umedata.teacher.backends.base import RETRYABLE_STATUS, TransportError
from umedata.teacher.backends.openai_compat import DataUrlCache, materialize
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.runner import Selection, TeacherRun, new_run_id
from umedata.warehouse import Warehouse


@dataclass
class BatchFile:
    path: str
    n_requests: int
    bytes: int
    sha256: str


class _FileWriter:
    """JSONL files that never exceed the request or byte limit; each appears under its final name only whole."""

    def __init__(self, out_dir: Path, stem: str, max_requests: int, max_bytes: int):
        self.out_dir, self.stem = out_dir, stem
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self.files: list[BatchFile] = []
        self._f = None
        self._n = self._bytes = 0

    def _open(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._path = self.out_dir / f"{self.stem}-{len(self.files):05d}.jsonl"
        self._f = open(self._path.with_name(self._path.name + ".partial"), "wb")
        self._hash = hashlib.sha256()
        self._n = self._bytes = 0

    def fits_alone(self, line: bytes) -> bool:
        return len(line) <= self.max_bytes

    def add(self, line: bytes) -> None:
        if self._f is not None and (self._n >= self.max_requests or self._bytes + len(line) > self.max_bytes):
            self._close()
        if self._f is None:
            self._open()
        self._f.write(line)
        self._hash.update(line)
        self._n += 1
        self._bytes += len(line)

    def _close(self) -> None:
        self._f.close()
        os.replace(self._path.with_name(self._path.name + ".partial"), self._path)
        self.files.append(BatchFile(str(self._path.resolve()), self._n, self._bytes, self._hash.hexdigest()))
        self._f = None

    def close(self) -> list[BatchFile]:
        if self._f is not None:
            self._close()
        return self.files


class _Eligibility:
    """Stands in for a backend during export: only decides where a side may go."""

    name = "batch"
    workers = 0

    def __init__(self, self_hosted: bool):
        self.self_hosted = self_hosted

    def eligible(self, request: PreparedRequest) -> bool:
        return request.external_ok or self.self_hosted

    def stats(self) -> dict[str, Any]:
        return {}


class BatchExport(TeacherRun):
    """Export pending requests as Batch API files; see the module docstring."""

    def __init__(
        self,
        wh: Warehouse,
        cfg: TeacherConfig,
        selection: Selection | None = None,
        *,
        out_dir: str | Path | None = None,
        **kwargs: Any,
    ):
        if cfg.backend != "batch":
            raise ValueError("BatchExport needs a config with backend = 'batch'")
        super().__init__(wh, cfg, selection, **kwargs)
        self.out_dir = Path(out_dir or cfg.batch.out_dir)
        self.lease_status = "exported"
        self.lease_ttl_s = cfg.batch.lease_ttl_s
        self.final_status = "exported"
        self.files: list[BatchFile] = []

    def _make_backend(self):
        return _Eligibility(self.cfg.batch.self_hosted)

    async def _main(self, backend) -> None:
        import pyarrow.parquet as pq

        self.backend = backend
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="umedata-teacher-db")
        b = self.cfg.batch
        writer = _FileWriter(self.out_dir, self.run_id, b.max_requests_per_file, b.max_bytes_per_file)
        cache = DataUrlCache()
        served = [e.served_model for e in self.cfg.endpoints if e.served_model]
        model = served[0] if served else self.cfg.model  # the name the batch provider knows the model by
        try:
            if self.summary.pending:
                for rb in pq.ParquetFile(self.spill_path).iter_batches(batch_size=self.cfg.lease_chunk):
                    budget = self._budget()
                    if budget == 0:
                        break
                    items = self._prepare(rb.to_pylist())
                    if budget is not None:
                        items = items[:budget]
                    owned, status = await self._db(self._tx, self._lease, items)
                    for it in items:
                        if it.key not in owned:
                            self.summary.already_done += status.get(it.key) == "finished"
                            self.summary.leased_elsewhere += status.get(it.key) != "finished"
                            continue
                        self.summary.leased += 1
                        self._write(it, writer, cache, model)
            self.files = writer.close()
            if not self.buffer.empty:
                await self._db(store.commit, self.wh, self.buffer)
            await self._db(self._tx, self._record_files)
        finally:
            self._db_pool.shutdown(wait=True)

    def _write(self, it: PreparedRequest, writer: _FileWriter, cache: DataUrlCache, model: str) -> None:
        meta = store.KeyMeta(it.key, it.side_id, it.source, self.cfg.model, it.prompt_version)
        try:
            messages = materialize(it, self.cfg.media.max_pixels, cache) if it.media else it.messages
        except TransportError as err:
            self.buffer.failed(meta, error=err, run_id=self.run_id, endpoint="batch", attempts=0, elapsed_ms=0.0)
            self.summary.failed[err.kind] = self.summary.failed.get(err.kind, 0) + 1
            return
        body = {"model": model, "messages": messages, **self.cfg.params}
        line = (
            json.dumps(
                {"custom_id": it.key, "method": "POST", "url": self.cfg.batch.endpoint, "body": body},
                ensure_ascii=False,
            )
            + "\n"
        ).encode("utf-8")
        if not writer.fits_alone(line):
            err = TransportError("request_too_large", f"{len(line)} bytes > batch file limit", retryable=False)
            self.buffer.failed(meta, error=err, run_id=self.run_id, endpoint="batch", attempts=0, elapsed_ms=0.0)
            self.summary.failed[err.kind] = self.summary.failed.get(err.kind, 0) + 1
            return
        writer.add(line)

    def _record_files(self, con) -> None:
        now = keys.utcnow()
        for f in self.files:
            con.execute(
                "INSERT OR REPLACE INTO teacher_batch_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [f.path, self.run_id, self.cfg.model, f.n_requests, f.bytes, f.sha256, now],
            )


def export_batch(
    wh: Warehouse,
    cfg: TeacherConfig,
    selection: Selection | None = None,
    *,
    out_dir: str | Path | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Any], list[BatchFile]]:
    """Write Batch API request files for the pending sides; returns (run summary, files written)."""
    run = BatchExport(wh, cfg, selection, out_dir=out_dir, **kwargs)
    summary = run.run()
    return summary.as_dict(), run.files


@dataclass
class ImportSummary:
    run_id: str
    lines: int = 0
    ok: int = 0
    bad_answers: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    already_done: int = 0
    unknown_keys: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def _error_of(line: dict[str, Any]) -> TransportError:
    resp = line.get("response") or {}
    code = resp.get("status_code")
    err = line.get("error") or (resp.get("body") or {}).get("error") or {}
    message = err.get("message", "") if isinstance(err, dict) else str(err)
    if code:
        return TransportError(f"http_{code}", message[:300], status=code, retryable=code in RETRYABLE_STATUS)
    kind = err.get("code") if isinstance(err, dict) and err.get("code") else "batch_error"
    return TransportError(str(kind), message[:300], retryable=True)


def import_batch(
    wh: Warehouse,
    cfg: TeacherConfig,
    files: list[str | Path],
    *,
    parse: Parser | None = None,
    chunk: int = 5000,
    run_id: str | None = None,
) -> ImportSummary:
    """Import Batch API output/error files; judge and commit each answer once. Sends nothing."""
    from umedata.format import parse_assistant

    parse = parse or parse_assistant
    run_id = run_id or new_run_id()
    s = ImportSummary(run_id)
    wh.recover()
    with wh.transaction() as con:
        con.execute(
            "INSERT INTO teacher_runs (run_id, backend, model, status, selection, config, started_at) "
            "VALUES (?, 'batch', ?, 'importing', ?, ?, ?)",
            [
                run_id,
                cfg.model,
                json.dumps({"files": [str(f) for f in files]}),
                json.dumps(cfg.public(), default=str),
                keys.utcnow(),
            ],
        )

    def flush(lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        ids = [ln.get("custom_id") for ln in lines]
        with wh.reader() as con:
            rows = con.execute(
                "SELECT request_key, side_id, source, model, prompt_version, status FROM teacher_requests "
                "WHERE request_key IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
        known = {r[0]: r for r in rows}
        buf = store.ResultBuffer()
        for ln in lines:
            row = known.get(ln.get("custom_id"))
            if row is None:
                s.unknown_keys += 1
                continue
            if row[5] == "done":
                s.already_done += 1
                continue
            meta = store.KeyMeta(row[0], row[1], row[2], row[3], row[4])
            resp = ln.get("response") or {}
            if resp.get("status_code") == 200 and isinstance(resp.get("body"), dict):
                verdict = judge(resp["body"], parse)
                cost = accounting.cost(cfg, verdict.prompt_tokens, verdict.completion_tokens, batch=True)
                buf.done(
                    meta,
                    raw=json.dumps(resp["body"], ensure_ascii=False),
                    verdict=verdict,
                    run_id=run_id,
                    backend="batch",
                    endpoint="batch",
                    attempts=1,
                    cost_usd=cost,
                    latency_ms=None,
                    elapsed_ms=None,
                )
                accounting.tally(s, verdict, cost)
            else:
                err = _error_of(ln)
                buf.failed(meta, error=err, run_id=run_id, endpoint="batch", attempts=1, elapsed_ms=0.0)
                s.failed[err.kind] = s.failed.get(err.kind, 0) + 1
        store.commit(wh, buf)

    pending: list[dict[str, Any]] = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                s.lines += 1
                try:
                    pending.append(json.loads(raw))
                except ValueError:
                    s.failed["bad_result_line"] = s.failed.get("bad_result_line", 0) + 1
                    continue
                if len(pending) >= chunk:
                    flush(pending)
                    pending = []
    flush(pending)
    with wh.transaction() as con:
        con.execute(sql.text("teacher_resolve_quarantine"))
        con.execute(
            "UPDATE teacher_runs SET status = 'imported', counts = ?, finished_at = ? WHERE run_id = ?",
            [json.dumps(s.__dict__, default=str), keys.utcnow(), run_id],
        )
    return s
