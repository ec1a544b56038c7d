"""The Batch API: request files out, result files in (half the price, within 24 h). Sends nothing itself.

    summary, files = export_batch(wh, cfg, Selection(datasets=["ShapesI2T"]), out_dir="runs/batch")
    # upload, wait, download with the provider's tools, then
    imported = import_batch(wh, cfg, ["runs/batch/results-0.jsonl"])

`BatchExport` is a consumer of the producer (producer.py), like the online sender: it takes the same pending
sides, leases their keys with status `exported` for batch.lease_ttl_s (default 26 h), and writes JSONL request
lines `{"custom_id": <request_key>, "method": "POST", "url": "/v1/chat/completions", "body": {...}}`, media
inlined as data URLs (the file is what the API reads), split at 50,000 requests / 200 MB per file (the API's
limits). Files are written under a temp name and renamed when complete, and recorded in teacher_batch_files in
the same commit as any request that could not be written.

`import_batch` reads result (and error) files and keeps the same books as an online run (run.py): each answer is
judged exactly like an online one and committed in chunks. Keys already done are skipped, so importing a file
twice changes nothing. Exported keys whose results never come back stay leased until their lease expires; then a
later export or online run claims them again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from umedata import tables
from umedata.clock import utcnow
from umedata.teacher.answers import Parser
from umedata.teacher.backends.base import RETRYABLE_STATUS, TransportError
from umedata.teacher.backends.inline import DataUrlCache, inline_media
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.producer import Producer
from umedata.teacher.results import KeyMeta
from umedata.teacher.run import ImportSummary, RecordedRun, RunOptions, RunRecord, RunSummary, Selection, new_run_id
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


class BatchExport(RecordedRun):
    """Export pending requests as Batch API files; see the module docstring. `run()` returns the run summary;
    `files` lists what was written."""

    def __init__(self, wh: Warehouse, cfg: TeacherConfig, selection: Selection | None = None,
                 options: RunOptions | None = None, *, out_dir: str | Path | None = None):
        if cfg.backend != "batch":
            raise ValueError("BatchExport needs a config with backend = 'batch'")
        self.cfg = cfg
        self.out_dir = Path(out_dir or cfg.batch.out_dir)
        opts = options or RunOptions()
        self.record = opts.record(wh, cfg, selection)
        # A batch file goes to an external API unless the config says the batch provider is self-hosted.
        self.producer = Producer(
            self.record,
            eligible=lambda item: item.external_ok or cfg.batch.self_hosted,
            status="exported",
            lease_ttl_s=cfg.batch.lease_ttl_s,
            retry_failed=opts.retry_failed,
            spill_dir=opts.spill_dir,
        )
        served = [e.served_model for e in cfg.endpoints if e.served_model]
        self.wire_model = served[0] if served else cfg.model  # the name the batch provider knows the model by
        self.files: list[BatchFile] = []

    def run(self) -> RunSummary:
        record, producer, b = self.record, self.producer, self.cfg.batch
        writer = _FileWriter(self.out_dir, self.run_id, b.max_requests_per_file, b.max_bytes_per_file)
        cache = DataUrlCache()
        with record.running(done="exported"), producer:
            producer.spill()
            for claim in producer.claims():
                for item in claim.unsendable:
                    record.unsendable(item)
                for item in claim.requests:
                    self._write(item, writer, cache)
                record.report_progress()
            self.files = writer.close()
            now = utcnow()
            files = tables.rows(
                "teacher_batch_files",
                [{**asdict(f), "run_id": self.run_id, "model": self.cfg.model, "created_at": now} for f in self.files],
            )
            record.commit(extra={"teacher_batch_files": files}, modes={"teacher_batch_files": "replace"})
        return record.summary

    def _write(self, item: PreparedRequest, writer: _FileWriter, cache: DataUrlCache) -> None:
        try:
            messages = inline_media(item, self.cfg.media.max_pixels, cache) if item.media else item.messages
        except TransportError as err:
            self.record.failed(self.record.meta(item), err, endpoint="batch", attempts=0, elapsed_s=0.0)
            return
        body = {"model": self.wire_model, "messages": messages, **self.cfg.params}
        request = {"custom_id": item.key, "method": "POST", "url": self.cfg.batch.endpoint, "body": body}
        line = (json.dumps(request, ensure_ascii=False) + "\n").encode("utf-8")
        if not writer.fits_alone(line):
            err = TransportError("request_too_large", f"{len(line)} bytes > batch file limit", retryable=False)
            self.record.failed(self.record.meta(item), err, endpoint="batch", attempts=0, elapsed_s=0.0)
            return
        writer.add(line)


def export_batch(
    wh: Warehouse,
    cfg: TeacherConfig,
    selection: Selection | None = None,
    *,
    out_dir: str | Path | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Any], list[BatchFile]]:
    """Write Batch API request files for the pending sides; returns (run summary, files written)."""
    run = BatchExport(wh, cfg, selection, RunOptions(**kwargs), out_dir=out_dir)
    summary = run.run()
    return summary.as_dict(), run.files


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
    s = ImportSummary(run_id or new_run_id(), model=cfg.model)
    record = RunRecord(wh, cfg, s, selection={"files": [str(f) for f in files]}, parse=parse, backend="batch",
                       batch_price=True)

    def judge_chunk(lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        known = {r["request_key"]: r for r in wh.query(
            "teacher_requests_by_key", {"keys": [ln.get("custom_id") for ln in lines]}
        ).to_pylist()}
        for ln in lines:
            row = known.get(ln.get("custom_id"))
            if row is None:
                s.unknown_keys += 1
                continue
            if row["status"] == "done":
                s.already_done += 1
                continue
            meta = KeyMeta(row["request_key"], row["side_id"], row["source"], row["model"], row["prompt_version"])
            resp = ln.get("response") or {}
            if resp.get("status_code") == 200 and isinstance(resp.get("body"), dict):
                raw = json.dumps(resp["body"], ensure_ascii=False)
                record.done(meta, resp["body"], raw, endpoint="batch", attempts=1, latency_s=None, elapsed_s=None)
            else:
                record.failed(meta, _error_of(ln), endpoint="batch", attempts=1, elapsed_s=0.0)
        record.commit()

    with record.running(status="importing", done="imported", prompts=False):
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
                        judge_chunk(pending)
                        pending = []
        judge_chunk(pending)
    return s
