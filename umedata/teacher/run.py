"""The bookkeeping every teacher run shares, written once: what a run is asked to do, its record, its tallies.

Whatever produces the answers (the online sender, the offline stand-in, a Batch API export or import), a run

- selects sides with a `Selection` and gets a run id (`new_run_id`);
- opens its teacher_runs row (and records the template text behind each prompt_version) and closes it with its
  status and counts, releasing the leases it still holds (`RunRecord.running`);
- turns each answer into result rows with the one judge (`RunRecord.answer` / `done` / `failed`), counted into
  its summary, and commits them through the warehouse's own door (`RunRecord.commit`);
- clears quarantine rows of keys that were later answered well, at both ends of the run.

A RunRecord knows nothing about where answers come from: `producer.py` leases the work, the consumers
(`online.py`, `offline.py`, `batch.py`) use this module to keep their books.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from umedata import memory, sql, tables
from umedata.clock import utcnow
from umedata.format import parse_assistant
from umedata.teacher import accounting, keys
from umedata.teacher.answers import Parser, judge
from umedata.teacher.backends.base import Answer, TransportError
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.prompts import Templates
from umedata.teacher.results import KeyMeta, ResultBuffer, commit
from umedata.warehouse import Warehouse

log = logging.getLogger("umedata.teacher")
# DuckDB settings of a run's warehouse connections (RunRecord says why).
DB_THREADS = 1
DB_MEMORY = "32MB"
DB_CHECKPOINT_MEMORY = "20MB"
ProgressFn = Callable[[dict[str, Any]], None]


def warn_if_mimalloc() -> None:
    """Say once per process when Arrow allocates from mimalloc: pyarrow was imported before umedata (which picks
    the system allocator, umedata/__init__.py), and a long run's RSS creeps up on mimalloc."""
    global _WARNED_MIMALLOC
    chosen = os.environ.get("ARROW_DEFAULT_MEMORY_POOL") == "mimalloc"  # the user's own choice: not ours to question
    if _WARNED_MIMALLOC or chosen or pa.default_memory_pool().backend_name != "mimalloc":
        return
    _WARNED_MIMALLOC = True
    log.warning("Arrow allocates from mimalloc in this process (pyarrow was imported before umedata); a long teacher "
                "run's memory creeps up on it. Set ARROW_DEFAULT_MEMORY_POOL=system before starting Python, or import "
                "umedata before pyarrow.")


_WARNED_MIMALLOC = False


@dataclass
class Selection:
    """Which sides a run considers: those used by pairs matching every filter given (None = no filter)."""

    sources: list[str] | None = None
    datasets: list[str] | None = None
    splits: list[str] | None = None
    modalities: list[str] | None = None
    limit: int | None = None  # at most this many keys leased by this run
    side_ids: list[str] | None = None  # only these sides (requeue: sides chosen by their failed checks)
    # Requeue: ask again for sides that already have an ok annotation for (model, prompt version). Only a new
    # request key is sent (a new seed or another model): a key already answered is never sent again.
    requeue: bool = False


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunSummary:
    """What a run selected, leased, sent and got back (an online/offline run or a Batch API export)."""

    run_id: str
    backend: str
    model: str
    pending: int = 0  # sides selected as not yet finished
    leased: int = 0
    finished: int = 0  # done + failed, committed
    ok: int = 0
    bad_answers: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    unsendable: dict[str, int] = field(default_factory=dict)
    already_done: int = 0  # finished by another run between selection and lease
    leased_elsewhere: int = 0  # held by a live (or not yet expired) run; not waited for
    blocked_external: int = 0  # sources forbid external teachers and no self-hosted endpoint is configured
    attempts: int = 0  # HTTP attempts, retries included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    requests_per_s: float = 0.0
    endpoints: dict[str, Any] = field(default_factory=dict)
    status: str = "running"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportSummary:
    """What a Batch API import read and judged."""

    run_id: str
    backend: str = "batch"
    model: str = ""
    lines: int = 0
    finished: int = 0
    ok: int = 0
    bad_answers: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    already_done: int = 0
    unknown_keys: int = 0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    requests_per_s: float = 0.0
    status: str = "running"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Summary = RunSummary | ImportSummary
_IDENTITY = ("run_id", "backend", "model", "status")  # columns of teacher_runs, not counts


@dataclass
class RunOptions:
    """How a run names itself, judges answers, reports progress and claims keys: the same for every consumer.

    wait_for_leases: wait for keys another live run holds (else leave them to it); not for a Batch export.
    retry_failed: also claim keys that failed for good (e.g. after fixing a missing file).
    spill_dir: where the pending sides are spilled (default beside the warehouse).
    """

    run_id: str | None = None
    parse: Parser | None = None
    on_progress: ProgressFn | None = None
    wait_for_leases: bool = False
    retry_failed: bool = False
    spill_dir: str | Path | None = None

    def record(self, wh: Warehouse, cfg: TeacherConfig, selection: Selection | None) -> RunRecord:
        return RunRecord(wh, cfg, selection=selection, run_id=self.run_id, parse=self.parse,
                         on_progress=self.on_progress)


class RunRecord:
    """One run's books: its teacher_runs row, its result buffer and its summary. See the module docstring.

    `backend` is what result rows are filed under (a Batch API import files them under "batch" whatever config it
    was given); `batch_price` applies the price table's batch discount.
    """

    def __init__(
        self,
        wh: Warehouse,
        cfg: TeacherConfig,
        summary: Summary | None = None,
        *,
        selection: Selection | dict[str, Any] | None = None,
        run_id: str | None = None,
        parse: Parser | None = None,
        on_progress: ProgressFn | None = None,
        backend: str | None = None,
        batch_price: bool = False,
    ):
        # A run's transactions are small (a lease, a commit of a few thousand rows) and each opens the file anew, so:
        # - one DuckDB worker thread: every worker is started, given its own allocator arena and buffers, and
        #   stopped again per transaction; with the default two the client's RSS crept up ~25 MB per 300 k requests
        #   on 2 cores, at the same requests/s;
        # - a small memory limit: closing the file checkpoints, and a checkpoint re-compresses the last row group of
        #   each table the commit appended to (up to 122,880 rows of bodies, messages and reasoning); under 32 MB it
        #   streams through DuckDB's buffer manager, ~18 MB above the client's memory at 100 k requests where 64 MB
        #   took ~47 MB and no limit ~140 MB (measured). A larger batch (long reasoning) gets a limit sized to it
        #   (Warehouse.bounded), so nothing is lost to the bound;
        # - a smaller limit still for that checkpoint: DuckDB keeps what it touches cached up to its limit, so under
        #   32 MB each close of a commit rose ~45 MB above the run's median RSS, under 20 MB ~30 MB (100 k requests,
        #   measured; a lease needs more than 16 MB; the bench's checkpoints all fit 16 MB, while under 12 MB 11 of
        #   them left their WAL behind). A checkpoint that does not fit leaves its WAL and the limit doubles.
        self.wh = wh.bounded(threads=DB_THREADS, memory_limit=DB_MEMORY, checkpoint_memory=DB_CHECKPOINT_MEMORY)
        self.cfg = cfg
        self.selection = selection if selection is not None else Selection()
        self.run_id = run_id or getattr(summary, "run_id", None) or new_run_id()
        self.backend = backend or cfg.backend
        self.summary: Summary = summary or RunSummary(self.run_id, self.backend, cfg.model)
        self.summary.run_id = self.run_id
        self.parse = parse or parse_assistant
        self.on_progress = on_progress
        self.batch_price = batch_price
        self.templates = Templates(cfg.prompts_dir or None)
        self.buffer = ResultBuffer()
        self.answered = 0
        self.t0 = time.perf_counter()

    # -- the run's row ----------------------------------------------------------------------------------------
    @contextmanager
    def running(self, status: str = "running", done: str = "finished", prompts: bool = True) -> Iterator[None]:
        """Open the run's row, and close it on the way out: `done` on success, "failed" on an error."""
        warn_if_mimalloc()
        memory.keep_heap_returnable()  # a run is long: what its threads free must go back (umedata/memory.py)
        self.start(status, prompts)
        try:
            yield
            self.summary.status = done
        except BaseException:
            self.summary.status = "failed"
            raise
        finally:
            self.finish()

    def start(self, status: str = "running", prompts: bool = True) -> None:
        """Commit what a crashed run left staged (its results count as finished), then open the run's row."""
        self.wh.recover()
        self.t0 = time.perf_counter()
        self.summary.status = status
        now = utcnow()
        rows = [
            {"prompt_version": t.version, "name": name, "text": self.templates.source_text(name), "first_used_at": now}
            for name, t in self.templates.by_name.items()
        ] if prompts else []
        selection = asdict(self.selection) if isinstance(self.selection, Selection) else self.selection
        params = {
            "run_id": self.run_id,
            "backend": self.backend,
            "model": self.cfg.model,
            "status": status,
            "selection": json.dumps(selection),
            "config": json.dumps(self.cfg.public(), default=str),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "alive_s": float(self.cfg.lease_ttl_s),  # live before it selects (keys.py: tombstones)
        }
        with self.wh.transaction() as con:
            sql.execute(con, "teacher_resolve_quarantine")
            con.register("new_prompts", tables.rows("teacher_prompts", rows))
            try:
                sql.execute(con, "teacher_run_start", params)
            finally:
                con.unregister("new_prompts")

    def finish(self) -> None:
        """Release the leases the run still holds (claimable at once), end its liveness, record counts. (Quarantine
        rows its answers resolved went with the commits that landed them.)"""
        s = self.summary
        s.elapsed_s = round(time.perf_counter() - self.t0, 3)
        s.requests_per_s = round(self.answered / s.elapsed_s, 1) if s.elapsed_s > 0 else 0.0
        s.cost_usd = round(s.cost_usd, 6)
        counts = {k: v for k, v in s.as_dict().items() if k not in _IDENTITY}
        with self.wh.transaction() as con:
            keys.release(con, self.run_id)
            sql.execute(
                con,
                "teacher_run_finish",
                {"run_id": self.run_id, "status": s.status, "counts": json.dumps(counts, default=str),
                 "finished_at": utcnow()},
            )
        self.report_progress()
        log.info(
            "teacher run %s %s: %s", self.run_id, s.status,
            {k: counts.get(k) for k in ("leased", "lines", "finished", "ok", "bad_answers", "failed", "attempts")
             if k in counts},
        )

    # -- results ----------------------------------------------------------------------------------------------
    def meta(self, item: PreparedRequest) -> KeyMeta:
        return KeyMeta(item.key, item.side_id, item.source, self.cfg.model, item.prompt_version)

    def answer(self, meta: KeyMeta, answer: Answer) -> None:
        """One request's outcome, from any backend."""
        if answer.reply is not None:
            self.done(meta, answer.reply.body, answer.reply.raw, endpoint=answer.endpoint, attempts=answer.attempts,
                      latency_s=answer.reply.latency_s, elapsed_s=answer.elapsed_s)
        else:
            self.failed(meta, answer.error, endpoint=answer.endpoint, attempts=answer.attempts,
                        elapsed_s=answer.elapsed_s)

    def done(self, meta: KeyMeta, body: dict[str, Any], raw: str, *, endpoint: str | None, attempts: int,
             latency_s: float | None, elapsed_s: float | None) -> None:
        """An answer came back: judge it with the run's parser, price it, buffer its rows, count it."""
        verdict = judge(body, self.parse)
        cost = accounting.cost(self.cfg, verdict.prompt_tokens, verdict.completion_tokens, batch=self.batch_price)
        self.buffer.done(
            meta,
            raw=raw,
            verdict=verdict,
            run_id=self.run_id,
            backend=self.backend,
            endpoint=endpoint,
            attempts=attempts,
            cost_usd=cost,
            latency_ms=None if latency_s is None else latency_s * 1000.0,
            elapsed_ms=None if elapsed_s is None else elapsed_s * 1000.0,
        )
        accounting.tally(self.summary, verdict, cost)
        self.summary.attempts += attempts
        self.answered += 1

    def failed(self, meta: KeyMeta, error: TransportError, *, endpoint: str | None, attempts: int,
               elapsed_s: float) -> None:
        """No usable answer: the key is finished as failed (retryable or not) and quarantined with its reason."""
        self.buffer.failed(meta, error=error, run_id=self.run_id, endpoint=endpoint, attempts=attempts,
                           elapsed_ms=elapsed_s * 1000.0)
        s = self.summary
        s.failed[error.kind] = s.failed.get(error.kind, 0) + 1
        s.attempts += attempts
        self.answered += 1

    def unsendable(self, item: PreparedRequest) -> None:
        """A side whose request cannot be built (its media is missing): quarantined, never leased or sent."""
        s = self.summary
        s.unsendable[item.problem] = s.unsendable.get(item.problem, 0) + 1
        self.buffer.quarantine_row(item.source, item.key, item.problem, f"side {item.side_id}")

    def take(self) -> ResultBuffer:
        """The buffered results, leaving an empty buffer in their place (for a commit running elsewhere)."""
        buf, self.buffer = self.buffer, ResultBuffer()
        return buf

    def commit(self, buffer: ResultBuffer | None = None, extra: dict[str, pa.Table] | None = None,
               modes: dict[str, str] | None = None) -> dict[str, int]:
        """Commit results (the buffer, by default the run's own, taken) with any `extra` tables: one transaction per
        `commit_every` finished keys at most (results.commit)."""
        buf = self.take() if buffer is None else buffer
        counts = commit(self.wh, buf, extra, modes, max_keys=self.cfg.commit_every)
        self.summary.finished += counts.get("teacher_requests", 0)  # landed (a key another run took over does not)
        return counts

    # -- progress ---------------------------------------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        s = self.summary
        elapsed = time.perf_counter() - self.t0
        return {
            "run_id": self.run_id,
            "pending": getattr(s, "pending", getattr(s, "lines", 0)),
            "leased": getattr(s, "leased", 0),
            "answered": self.answered,
            "committed": s.finished,
            "ok": s.ok,
            "bad_answers": sum(s.bad_answers.values()),
            "failed": sum(s.failed.values()),
            "elapsed_s": round(elapsed, 2),
            "requests_per_s": round(self.answered / elapsed, 1) if elapsed > 0 else 0.0,
        }

    def report_progress(self) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(self.progress())
        except Exception as exc:  # a display problem must not stop the run
            log.debug("progress callback failed: %s", exc)


class RecordedRun:
    """What a consumer (offline, batch export) shows of its run's books: the run id and the progress snapshot."""

    record: RunRecord

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def progress(self) -> dict[str, Any]:
        return self.record.progress()
