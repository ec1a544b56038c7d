"""A teacher run: select pending sides, lease their keys, send, judge, commit — pipelined, exactly once per key.

    run = TeacherRun(Warehouse(), load_config("teacher.toml"), Selection(datasets=["ShapesI2T"]))
    summary = run.run()

The pipeline, in one asyncio loop plus one thread that owns every warehouse access of the process:
1. the pending sides are written once to a parquet spill (teacher_pending.sql), so memory stays flat however
   many there are;
2. a producer reads the spill in chunks, builds each side's request (keys.prepare), leases the chunk in one
   transaction and queues the keys it now owns; the queue is bounded, so leases run at most ~two chunks ahead
   of sending;
3. `workers` coroutines (the backend's in-flight cap) send, retry and judge; results go to a buffer;
4. a committer stages the buffer and commits it every `commit_every` results or `commit_interval_s` seconds,
   so other processes can read (and other runs lease) in between;
5. a heartbeat keeps this run's leases alive; at the end, unfinished leases are released.

Crash safety: a key's result is committed in the same transaction as its status; a run killed at any point
leaves its leased keys to expire (lease_ttl_s) and its sealed staged batch to the next run's `recover()`. Keys
answered but not yet committed at a kill are the only ones ever sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from umedata import sql
from umedata.teacher import accounting, keys, store
from umedata.teacher.answers import Parser, judge
from umedata.teacher.backends import Answer, Backend, FatalEndpointError, make_backend
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.prompts import Templates
from umedata.warehouse import Warehouse

log = logging.getLogger("umedata.teacher")
ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class Selection:
    """Which sides a run considers: those used by pairs matching every filter given (None = no filter)."""

    sources: list[str] | None = None
    datasets: list[str] | None = None
    splits: list[str] | None = None
    modalities: list[str] | None = None
    limit: int | None = None  # at most this many keys leased by this run


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunSummary:
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


def _loop_factory():
    try:  # uvloop roughly halves the event loop's share of CPU per request; optional
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


class TeacherRun:
    def __init__(
        self,
        wh: Warehouse,
        cfg: TeacherConfig,
        selection: Selection | None = None,
        *,
        run_id: str | None = None,
        parse: Parser | None = None,
        on_progress: ProgressFn | None = None,
        wait_for_leases: bool = False,
        retry_failed: bool = False,
        spill_dir: str | Path | None = None,
        backend: Backend | None = None,
    ):
        self.wh = wh
        self.cfg = cfg
        self.selection = selection or Selection()
        self.run_id = run_id or new_run_id()
        from umedata.format import parse_assistant

        self.parse = parse or parse_assistant
        self.on_progress = on_progress
        self.wait_for_leases = wait_for_leases
        self.retry_failed = retry_failed
        self.templates = Templates(cfg.prompts_dir or None)
        self.key_params = cfg.key_params()
        self.key_params_json = keys.canonical(self.key_params)
        self.params_hash = keys.params_hash(self.key_params)
        self.spill_dir = Path(spill_dir) if spill_dir else wh.path.with_name(wh.path.name + ".teacher") / self.run_id
        self.summary = RunSummary(self.run_id, cfg.backend, cfg.model)
        self.buffer = store.ResultBuffer()
        self.fatal: BaseException | None = None
        self._stopping = False
        self._answered = 0
        self._t0 = 0.0
        self._backend = backend
        self.lease_status = "leased"
        self.final_status = "finished"
        self.lease_ttl_s = cfg.lease_ttl_s

    # -- warehouse access: one thread, one transaction at a time ----------------------------------------------
    def _tx(self, fn, *args, **kwargs):
        with self.wh.transaction() as con:
            return fn(con, *args, **kwargs)

    async def _db(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._db_pool, partial(fn, *args, **kwargs))

    # -- the run ----------------------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        self._t0 = time.perf_counter()
        backend = self._backend or self._make_backend()  # fails fast on a missing key, before any lease
        self.wh.recover()
        self._tx(self._record_start)
        try:
            self.summary.pending = self._spill()
            log.info(
                "teacher run %s: %d pending side(s), backend %s, model %s",
                self.run_id,
                self.summary.pending,
                self.cfg.backend,
                self.cfg.model,
            )
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._main(backend))
            self.summary.status = self.final_status
        except BaseException:
            self.summary.status = "failed"
            raise
        finally:
            self._finish()
        return self.summary

    def _make_backend(self) -> Backend:
        return make_backend(self.cfg)

    def _record_start(self, con) -> None:
        import json

        con.execute(sql.text("teacher_resolve_quarantine"))
        con.execute(
            "INSERT INTO teacher_runs (run_id, backend, model, status, selection, config, host, pid, started_at) "
            "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            [
                self.run_id,
                self.cfg.backend,
                self.cfg.model,
                json.dumps(asdict(self.selection)),
                json.dumps(self.cfg.public(), default=str),
                socket.gethostname(),
                os.getpid(),
                keys.utcnow(),
            ],
        )
        now = keys.utcnow()
        for name, t in self.templates.by_name.items():
            con.execute(
                "INSERT OR IGNORE INTO teacher_prompts VALUES (?, ?, ?, ?)",
                [t.version, name, self.templates.source_text(name), now],
            )

    def _spill(self) -> int:
        """Write the pending sides to a parquet file (streamed: memory stays flat); returns how many."""
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self.spill_path = self.spill_dir / "pending.parquet"
        sel = self.selection
        with self.wh.transaction() as con:
            modalities = [r[0] for r in con.execute("SELECT DISTINCT modality FROM sides").fetchall()]
            pv = pa.table(
                {
                    "modality": pa.array(modalities, pa.string()),
                    "prompt_version": pa.array(
                        [self.templates.for_modality(m).version for m in modalities], pa.string()
                    ),
                }
            )
            con.register("prompt_versions", pv)
            # COPY streams the result to parquet inside DuckDB, in small row groups: the client never holds more
            # than a few thousand pending sides at once.
            query = sql.text("teacher_pending").strip().rstrip(";")
            target = str(self.spill_path).replace("'", "''")
            con.execute(
                f"COPY ({query}) TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 4096)",
                {
                    "model": self.cfg.model,
                    "params_hash": self.params_hash,
                    "sources": sel.sources,
                    "datasets": sel.datasets,
                    "splits": sel.splits,
                    "modalities": sel.modalities,
                    "include_negatives": self.cfg.include_negatives,
                    "retry_failed": self.retry_failed,
                },
            ).fetchall()
        return pq.ParquetFile(self.spill_path).metadata.num_rows

    async def _main(self, backend: Backend) -> None:
        self.backend = backend
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="umedata-teacher-db")
        self._wake_commit = asyncio.Event()
        await backend.start()
        queue: asyncio.Queue = asyncio.Queue(maxsize=max(self.cfg.lease_chunk, backend.workers))
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(backend.workers)]
        committer = asyncio.create_task(self._committer())
        background = [asyncio.create_task(self._heartbeat())]
        if self.on_progress:
            background.append(asyncio.create_task(self._progress_loop()))
        try:
            await self._produce(queue)
        except BaseException as exc:
            self.fatal = self.fatal or exc
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            self._stopping = True
            self._wake_commit.set()
            try:
                await committer
            except BaseException as exc:
                self.fatal = self.fatal or exc
            for t in background:
                t.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await backend.close()
            self.summary.endpoints = backend.stats()
            self._db_pool.shutdown(wait=True)
        if self.fatal is not None:
            raise self.fatal

    # -- producer ---------------------------------------------------------------------------------------------
    def _lease(self, con, items: list[PreparedRequest]) -> tuple[set[str], dict[str, str]]:
        owned = keys.lease(
            con,
            items,
            owner=self.run_id,
            ttl_s=self.lease_ttl_s,
            model=self.cfg.model,
            backend=self.cfg.backend,
            key_params_json=self.key_params_json,
            status=self.lease_status,
            retry_failed=self.retry_failed,
        )
        others = [i.key for i in items if i.key not in owned]
        status: dict[str, str] = {}
        if others:
            rows = con.execute(
                "SELECT request_key, status, coalesce(retryable, false) FROM teacher_requests "
                "WHERE request_key IN (SELECT unnest(?))",
                [others],
            ).fetchall()
            for key, st, retryable in rows:
                status[key] = "finished" if st == "done" or (st == "failed" and not retryable) else "held"
        return owned, status

    def _prepare(self, rows: list[dict[str, Any]]) -> list[PreparedRequest]:
        out = []
        for r in rows:
            item = keys.prepare(
                r, self.templates.for_modality(r["modality"]), self.cfg.model, self.key_params, self.key_params_json
            )
            if item.problem:
                self.summary.unsendable[item.problem] = self.summary.unsendable.get(item.problem, 0) + 1
                self.buffer.quarantine_row(item.source, item.key, item.problem, f"side {item.side_id}")
            elif not self.backend.eligible(item):
                self.summary.blocked_external += 1
            else:
                out.append(item)
        return out

    async def _enqueue(self, queue, items, owned, status, deferred: list[PreparedRequest]) -> None:
        for it in items:
            if it.key in owned:
                self.summary.leased += 1
                await queue.put(it)
            elif status.get(it.key) == "finished":
                self.summary.already_done += 1
            else:
                deferred.append(it)

    def _budget(self) -> int | None:
        lim = self.selection.limit
        return None if lim is None else max(0, lim - self.summary.leased)

    async def _produce(self, queue: asyncio.Queue) -> None:
        deferred: list[PreparedRequest] = []
        if self.summary.pending:
            pf = pq.ParquetFile(self.spill_path)
            for rb in pf.iter_batches(batch_size=self.cfg.lease_chunk):
                budget = self._budget()
                if self.fatal is not None or budget == 0:
                    break
                items = self._prepare(rb.to_pylist())
                if budget is not None:
                    items = items[:budget]
                owned, status = await self._db(self._tx, self._lease, items)
                await self._enqueue(queue, items, owned, status, deferred)
        poll = min(1.0, max(0.05, self.cfg.lease_ttl_s / 4))
        while deferred and self.wait_for_leases and self.fatal is None and self._budget() != 0:
            # Keys another run holds: wait until it finishes them (then skip) or its lease expires (then claim).
            await asyncio.sleep(poll)
            batch, deferred = deferred, []
            budget = self._budget()
            if budget is not None:
                batch, deferred = batch[:budget], batch[budget:]
            owned, status = await self._db(self._tx, self._lease, batch)
            await self._enqueue(queue, batch, owned, status, deferred)
        self.summary.leased_elsewhere = len(deferred)

    # -- workers ----------------------------------------------------------------------------------------------
    async def _worker(self, queue: asyncio.Queue) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            if self.fatal is not None:
                continue  # its lease is released at the end
            try:
                answer = await self.backend.answer(item)
            except FatalEndpointError as exc:
                self.fatal = self.fatal or exc
                continue
            self._record(item, answer)

    def _record(self, item: PreparedRequest, answer: Answer) -> None:
        s = self.summary
        meta = store.KeyMeta(item.key, item.side_id, item.source, self.cfg.model, item.prompt_version)
        s.attempts += answer.attempts
        elapsed_ms = answer.elapsed_s * 1000.0
        if answer.reply is not None:
            verdict = judge(answer.reply.body, self.parse)
            cost = accounting.cost(self.cfg, verdict.prompt_tokens, verdict.completion_tokens)
            self.buffer.done(
                meta,
                raw=answer.reply.raw,
                verdict=verdict,
                run_id=self.run_id,
                backend=self.cfg.backend,
                endpoint=answer.endpoint,
                attempts=answer.attempts,
                cost_usd=cost,
                latency_ms=answer.reply.latency_s * 1000.0,
                elapsed_ms=elapsed_ms,
            )
            accounting.tally(s, verdict, cost)
        else:
            err = answer.error
            self.buffer.failed(
                meta,
                error=err,
                run_id=self.run_id,
                endpoint=answer.endpoint,
                attempts=answer.attempts,
                elapsed_ms=elapsed_ms,
            )
            s.failed[err.kind] = s.failed.get(err.kind, 0) + 1
        self._answered += 1
        if len(self.buffer) == self.cfg.commit_every:  # wake the committer once per full buffer
            self._wake_commit.set()

    # -- committer, heartbeat, progress -----------------------------------------------------------------------
    async def _committer(self) -> None:
        # Each commit checkpoints the file, and with content-hash keys the cost of that grows with the tables'
        # indexes. So the pause between commits stretches to keep committing under `commit_duty` of the time:
        # the total spent committing stays proportional to the run, at the price of a longer stretch of answers
        # to re-send after a crash (capped by commit_max_interval_s).
        cfg = self.cfg
        last_end, last_cost = time.monotonic(), 0.0
        while True:
            min_gap = min(cfg.commit_max_interval_s, last_cost * (1 / cfg.commit_duty - 1))
            max_gap = max(cfg.commit_interval_s, min_gap)
            while not self._stopping:
                elapsed = time.monotonic() - last_end
                full = len(self.buffer) >= cfg.commit_every
                if elapsed >= max_gap or (full and elapsed >= min_gap):
                    break
                self._wake_commit.clear()
                try:
                    await asyncio.wait_for(self._wake_commit.wait(), (min_gap if full else max_gap) - elapsed)
                except TimeoutError:
                    pass
            stopping = self._stopping
            if not self.buffer.empty:
                buf, self.buffer = self.buffer, store.ResultBuffer()
                t0 = time.monotonic()
                try:
                    await self._db(store.commit, self.wh, buf)
                except BaseException as exc:
                    self.fatal = self.fatal or exc  # stop sending: results could no longer be kept
                    raise
                last_cost = time.monotonic() - t0
                self.summary.finished += len(buf.requests)
            last_end = time.monotonic()
            if stopping and self.buffer.empty:
                return

    async def _heartbeat(self) -> None:
        every = max(0.05, self.cfg.lease_ttl_s / 3)
        while True:
            await asyncio.sleep(every)
            try:
                await self._db(self._tx, keys.heartbeat, self.run_id, self.cfg.lease_ttl_s)
            except Exception as exc:  # a missed beat is retried next time; the lease has two more beats of slack
                log.warning("teacher run %s: lease heartbeat failed: %s", self.run_id, exc)

    def progress(self) -> dict[str, Any]:
        s = self.summary
        elapsed = time.perf_counter() - self._t0
        return {
            "run_id": self.run_id,
            "pending": s.pending,
            "leased": s.leased,
            "answered": self._answered,
            "committed": s.finished,
            "ok": s.ok,
            "bad_answers": sum(s.bad_answers.values()),
            "failed": sum(s.failed.values()),
            "elapsed_s": round(elapsed, 2),
            "requests_per_s": round(self._answered / elapsed, 1) if elapsed > 0 else 0.0,
        }

    async def _progress_loop(self, every_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                self.on_progress(self.progress())
            except Exception as exc:  # a display problem must not stop the run
                log.debug("progress callback failed: %s", exc)

    # -- the end ----------------------------------------------------------------------------------------------
    def _finish(self) -> None:
        import json

        s = self.summary
        s.elapsed_s = round(time.perf_counter() - self._t0, 3)
        s.requests_per_s = round(self._answered / s.elapsed_s, 1) if s.elapsed_s > 0 else 0.0
        s.cost_usd = round(s.cost_usd, 6)
        counts = {k: v for k, v in s.as_dict().items() if k not in ("run_id", "backend", "model", "status")}

        def finish(con) -> None:
            keys.release(con, self.run_id)
            con.execute(sql.text("teacher_resolve_quarantine"))
            con.execute(
                "UPDATE teacher_runs SET status = ?, counts = ?, finished_at = ? WHERE run_id = ?",
                [s.status, json.dumps(counts, default=str), keys.utcnow(), self.run_id],
            )

        try:
            self._tx(finish)
        finally:
            shutil.rmtree(self.spill_dir, ignore_errors=True)
        if self.on_progress:
            self.on_progress(self.progress())
        log.info(
            "teacher run %s %s: %s",
            self.run_id,
            s.status,
            {k: counts[k] for k in ("leased", "finished", "ok", "bad_answers", "failed", "attempts")},
        )


def run_teacher(wh: Warehouse, cfg: TeacherConfig, selection: Selection | None = None, **kwargs: Any) -> RunSummary:
    """Convenience: one run, synchronously."""
    return TeacherRun(wh, cfg, selection, **kwargs).run()
