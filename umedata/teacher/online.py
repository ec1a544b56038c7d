"""The online sender: leased requests to an OpenAI-compatible backend and back, pipelined, exactly once per key.

    run = OnlineRun(Warehouse(), load_config("teacher.toml"), Selection(datasets=["ShapesI2T"]))
    summary = run.run()

One asyncio loop and two threads:
1. a producer thread advances the Producer (producer.py): spill, prepare, lease a chunk; its chunks go into a
   bounded queue, so leases run at most ~two chunks ahead of sending;
2. `workers` coroutines (the backend's in-flight cap) send, retry (the backend's policy) and judge; results go
   to the run record's buffer (run.py);
3. a commit task commits the buffer every `commit_every` results or `commit_interval_s` seconds, pacing itself
   so committing stays under `commit_duty` of the time (see `_commits`), so other processes can read (and other
   runs lease) in between;
4. a heartbeat keeps this run's leases alive; at the end, the record releases what is left.
Every warehouse access of the process (leases, commits, heartbeats) runs on one thread, one transaction at a
time, so the run never races itself for the file.

Crash safety: a key's result is committed in the same transaction as its status; a run killed at any point
leaves its leased keys to expire (lease_ttl_s) and its sealed staged batch to the next run's `recover()`. Keys
answered but not yet committed at a kill are the only ones ever sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from umedata.teacher.backends.base import Backend, FatalEndpointError
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.producer import Producer
from umedata.teacher.run import RunOptions, RunSummary, Selection
from umedata.warehouse import Warehouse

log = logging.getLogger("umedata.teacher")
# The newest commit's weight in the commit cost the committer paces on (_commits): a cost that stays up moves the
# pause within a few commits, one outlier barely does.
COST_WEIGHT = 0.2


def _loop_factory():
    try:  # uvloop roughly halves the event loop's share of CPU per request; optional
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


class OnlineRun:
    """One run against the configured endpoints (backend "openai"); see the module docstring.

    `backend` replaces the one built from the config (a bench tuning its cache, a test's own); `secret_loader`
    reads API keys the config names by Secret block (credentials.py).
    """

    def __init__(
        self,
        wh: Warehouse,
        cfg: TeacherConfig,
        selection: Selection | None = None,
        options: RunOptions | None = None,
        *,
        backend: Backend | None = None,
        secret_loader: Callable[[str], str] | None = None,
    ):
        self.cfg = cfg
        self.options = options or RunOptions()
        self.record = self.options.record(wh, cfg, selection)
        self.backend = backend
        self.secret_loader = secret_loader
        self.fatal: BaseException | None = None
        self._stopping = False

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def summary(self) -> RunSummary:
        return self.record.summary

    def progress(self) -> dict:
        return self.record.progress()

    def run(self) -> RunSummary:
        if self.backend is None:  # fails fast on a missing key, before any lease
            from umedata.teacher.backends.openai_compat import OpenAIBackend

            self.backend = OpenAIBackend(self.cfg, secret_loader=self.secret_loader)
        backend = self.backend
        opts = self.options
        producer = Producer(self.record, eligible=backend.eligible, wait_for_leases=opts.wait_for_leases,
                            retry_failed=opts.retry_failed, spill_dir=opts.spill_dir)
        with self.record.running(), producer:
            producer.spill()
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._main(backend, producer))
        return self.record.summary

    async def _main(self, backend: Backend, producer: Producer) -> None:
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="umedata-teacher-db")
        feed_pool = ThreadPoolExecutor(1, thread_name_prefix="umedata-teacher-producer")
        loop = asyncio.get_running_loop()
        producer.in_db_thread = lambda fn: self._db_pool.submit(fn).result()
        self._wake_commit = asyncio.Event()
        await backend.start()
        queue: asyncio.Queue = asyncio.Queue(maxsize=max(self.cfg.lease_chunk, backend.workers))
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(backend.workers)]
        commits = asyncio.create_task(self._commits())
        background = [asyncio.create_task(self._heartbeat(producer))]
        if self.record.on_progress:
            background.append(asyncio.create_task(self._progress_loop()))
        claims = producer.claims()
        try:
            while self.fatal is None:
                claim = await loop.run_in_executor(feed_pool, next, claims, None)
                if claim is None:
                    break
                for item in claim.unsendable:
                    self.record.unsendable(item)
                for item in claim.requests:
                    await queue.put(item)
        except BaseException as exc:
            self.fatal = self.fatal or exc
        finally:
            feed_pool.shutdown(wait=True)
            claims.close()  # its keys not yet sent stay leased until the record releases them
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            self._stopping = True
            self._wake_commit.set()
            try:
                await commits
            except BaseException as exc:
                self.fatal = self.fatal or exc
            for t in background:
                t.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await backend.close()
            self.record.summary.endpoints = backend.stats()
            self._db_pool.shutdown(wait=True)
        if self.fatal is not None:
            raise self.fatal

    async def _db(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._db_pool, partial(fn, *args))

    async def _worker(self, queue: asyncio.Queue) -> None:
        record = self.record
        while True:
            item: PreparedRequest | None = await queue.get()
            if item is None:
                return
            if self.fatal is not None:
                continue  # its lease is released at the end
            try:
                answer = await self.backend.answer(item)
            except FatalEndpointError as exc:
                self.fatal = self.fatal or exc
                continue
            record.answer(record.meta(item), answer)
            if len(record.buffer) == self.cfg.commit_every:  # wake the committer once per full buffer
                self._wake_commit.set()

    async def _commits(self) -> None:
        # Each commit checkpoints the file, and with content-hash keys the cost of that grows with the tables'
        # indexes. So the pause between commits stretches to keep committing under `commit_duty` of the time:
        # the total spent committing stays proportional to the run, at the price of a longer stretch of answers
        # to re-send after a crash (capped by commit_max_interval_s). The cost paced on is a moving average: one
        # slow commit (the one that closes a DuckDB row group checkpoints for 1-2 s, every ~123 k rows) would
        # otherwise triple the next pause and the batch after it (11,015 rows against a median of 2,720, measured at
        # 300 k requests), and that batch's commit set the client's peak RSS (334 MB at 1 M requests; 279 MB averaged).
        # What still piles up during the slow commit itself lands in parts of commit_every keys (results.commit).
        cfg, record = self.cfg, self.record
        last_end, cost = time.monotonic(), 0.0
        while True:
            min_gap = min(cfg.commit_max_interval_s, cost * (1 / cfg.commit_duty - 1))
            max_gap = max(cfg.commit_interval_s, min_gap)
            while not self._stopping:
                elapsed = time.monotonic() - last_end
                full = len(record.buffer) >= cfg.commit_every
                if elapsed >= max_gap or (full and elapsed >= min_gap):
                    break
                self._wake_commit.clear()
                try:
                    await asyncio.wait_for(self._wake_commit.wait(), (min_gap if full else max_gap) - elapsed)
                except TimeoutError:
                    pass
            stopping = self._stopping
            if not record.buffer.empty:
                buf = record.take()
                t0 = time.monotonic()
                try:
                    await self._db(record.commit, buf)
                except BaseException as exc:
                    self.fatal = self.fatal or exc  # stop sending: results could no longer be kept
                    raise
                took = time.monotonic() - t0
                cost = took if cost == 0.0 else COST_WEIGHT * took + (1 - COST_WEIGHT) * cost
            last_end = time.monotonic()
            if stopping and record.buffer.empty:
                return

    async def _heartbeat(self, producer: Producer) -> None:
        every = max(0.05, producer.lease_ttl_s / 3)
        while True:
            await asyncio.sleep(every)
            try:
                await self._db(producer.heartbeat)
            except Exception as exc:  # a missed beat is retried next time; the lease has two more beats of slack
                log.warning("teacher run %s: lease heartbeat failed: %s", self.run_id, exc)

    async def _progress_loop(self, every_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.record.report_progress()
