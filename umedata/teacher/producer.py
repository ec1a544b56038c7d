"""The producer: pending sides in, prepared requests leased to one run out, a chunk at a time.

    producer = Producer(record, eligible=backend.eligible)
    producer.spill()                       # the pending sides, written once to parquet files
    for claim in producer.claims():        # each chunk prepared and leased in one short transaction
        ...claim.requests (this run's to answer), claim.unsendable (to quarantine)

1. `spill` writes the sides still pending for the run's model and prompt versions to parquet files
   (teacher_pending.sql, streamed by DuckDB), one per slice of the side ids (SPILL_PART_PAIRS pairs a slice), so
   memory stays flat however many sides there are and however large the warehouse;
2. `claims` reads the spill in `lease_chunk` rows, builds each side's request (keys.prepare: messages with media
   by hash, the request key), sets aside those that cannot be built (media missing) or may not go where this
   run sends (a source that forbids external teachers), and leases the rest in one transaction. Keys finished
   by another run meanwhile are skipped; keys another live run holds are deferred and, with `wait_for_leases`,
   claimed again once that run finishes them (skip) or its lease expires (claim). `selection.limit` caps how
   many keys the run leases;
3. `heartbeat` keeps the run's leases alive while it holds them. Releasing what is left is the run record's
   last act (run.py), whichever consumer ran.

Who consumes the claims decides the pace: a generator is only advanced when its consumer asks for more, so
leases never run far ahead of sending. A consumer that keeps every warehouse access on one thread of its own
(the online sender) passes `in_db_thread`; the producer then runs its lease transactions through it.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from umedata import sql
from umedata.teacher import keys
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.run import RunRecord

log = logging.getLogger("umedata.teacher")
T = TypeVar("T")
# Pairs per spill part. Over a million sides (500 k pairs) one part peaked 240 MB above the client's own memory in
# 2.3 s; parts of 50 k pairs under a 64 MB limit peak 120 MB in 5.9 s, as a part of 100 k sides does (measured).
# Each part re-reads the pairs and the sides, so the selection's time grows with pairs x parts: ~0.6 s a part at
# 500 k pairs, so roughly a minute at the recipe's 1.76 M pairs (36 parts; estimated), against a run of hours.
SPILL_PART_PAIRS = 50_000


@dataclass
class Claim:
    """One chunk of the spill, prepared and leased."""

    requests: list[PreparedRequest] = field(default_factory=list)  # leased to this run: answer them
    unsendable: list[PreparedRequest] = field(default_factory=list)  # cannot be built (item.problem): quarantine


class Producer:
    """See the module docstring. Counts go into the record's summary: pending, leased, already_done,
    leased_elsewhere, blocked_external."""

    def __init__(
        self,
        record: RunRecord,
        *,
        eligible: Callable[[PreparedRequest], bool] = lambda item: True,
        status: str = "leased",
        lease_ttl_s: float | None = None,
        wait_for_leases: bool = False,
        retry_failed: bool = False,
        spill_dir: str | Path | None = None,
        in_db_thread: Callable[[Callable[[], T]], T] | None = None,
    ):
        self.record = record
        self.wh = record.wh
        self.cfg = cfg = record.cfg
        self.selection = record.selection
        self.summary = record.summary
        self.run_id = record.run_id
        self.templates = record.templates
        self.eligible = eligible
        self.status = status
        self.lease_ttl_s = cfg.lease_ttl_s if lease_ttl_s is None else lease_ttl_s
        self.wait_for_leases = wait_for_leases
        self.retry_failed = retry_failed
        self.in_db_thread = in_db_thread or (lambda fn: fn())
        self.key_params = cfg.key_params()
        self.key_params_json = keys.stable_json(self.key_params)
        self.params_hash = keys.params_hash(self.key_params)
        wh = record.wh
        self.spill_dir = Path(spill_dir) if spill_dir else wh.path.with_name(wh.path.name + ".teacher") / self.run_id
        self.spill_parts: list[Path] = []  # the spill, in the order claims() reads it

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Remove the spill."""
        shutil.rmtree(self.spill_dir, ignore_errors=True)

    # -- 1. the spill -----------------------------------------------------------------------------------------
    def spill(self, part_pairs: int = SPILL_PART_PAIRS) -> int:
        """Write the pending sides to the spill files; returns (and counts) how many."""
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        sel = self.selection
        with self.wh.transaction() as con:
            modalities = sql.query(con, "teacher_modalities").column("modality").to_pylist()
            versions = [self.templates.for_modality(m).version for m in modalities]
            sql.temp_table(con, "prompt_versions", pa.table(
                {"modality": pa.array(modalities, pa.string()), "prompt_version": pa.array(versions, pa.string())}
            ))
            sql.temp_table(con, "chosen_sides", pa.table({"side_id": pa.array(sel.side_ids or [], pa.string())}))
            n_pairs = sql.query(con, "teacher_pair_count").column("pairs")[0].as_py()
            parts = max(1, -(-n_pairs // max(1, part_pairs)))
            self.spill_parts = [self.spill_dir / f"pending-{k:04d}.parquet" for k in range(parts)]
            for k, path in enumerate(self.spill_parts):
                sql.execute(con, "teacher_pending", {
                    "spill_path": str(path),
                    "part": k,
                    "parts": parts,
                    "model": self.cfg.model,
                    "params_hash": self.params_hash,
                    "sources": sel.sources,
                    "datasets": sel.datasets,
                    "splits": sel.splits,
                    "modalities": sel.modalities,
                    "include_negatives": self.cfg.include_negatives,
                    "retry_failed": self.retry_failed,
                    "side_filter": sel.side_ids is not None,
                    "requeue": sel.requeue,
                })
        self.summary.pending = sum(pq.ParquetFile(p).metadata.num_rows for p in self.spill_parts)
        log.info("teacher run %s: %d pending side(s), backend %s, model %s",
                 self.run_id, self.summary.pending, self.cfg.backend, self.cfg.model)
        return self.summary.pending

    # -- 2. claims --------------------------------------------------------------------------------------------
    def claims(self) -> Iterator[Claim]:
        """Prepared, leased chunks of the spill (then of deferred keys, with wait_for_leases)."""
        deferred: list[PreparedRequest] = []
        for rb in self._spilled():
            budget = self._budget()
            if budget == 0:
                break
            claim, items = self._prepare(rb.to_pylist())
            claim.requests = self._lease(items if budget is None else items[:budget], deferred)
            yield claim
        poll = min(1.0, max(0.05, self.lease_ttl_s / 4))
        while deferred and self.wait_for_leases and self._budget() != 0:
            time.sleep(poll)  # keys another run holds: wait until it finishes them or its lease expires
            batch, deferred = deferred, []
            budget = self._budget()
            if budget is not None:
                batch, deferred = batch[:budget], batch[budget:]
            yield Claim(self._lease(batch, deferred))
        self.summary.leased_elsewhere = len(deferred)

    def _spilled(self) -> Iterator[pa.RecordBatch]:
        for path in self.spill_parts if self.summary.pending else []:
            yield from pq.ParquetFile(path).iter_batches(batch_size=self.cfg.lease_chunk)

    def _budget(self) -> int | None:
        lim = self.selection.limit
        return None if lim is None else max(0, lim - self.summary.leased)

    def _prepare(self, rows: list[dict[str, Any]]) -> tuple[Claim, list[PreparedRequest]]:
        claim, out = Claim(), []
        for r in rows:
            item = keys.prepare(
                r, self.templates.for_modality(r["modality"]), self.cfg.model, self.key_params, self.key_params_json
            )
            if item.problem:
                claim.unsendable.append(item)
            elif not self.eligible(item):
                self.summary.blocked_external += 1
            else:
                out.append(item)
        return claim, out

    def _lease(self, items: list[PreparedRequest], deferred: list[PreparedRequest]) -> list[PreparedRequest]:
        """Lease `items` in one transaction; returns those now owned, adds those held elsewhere to `deferred`."""
        if not items:
            return []
        owned, finished = self.in_db_thread(lambda: self._lease_tx(items))
        mine = []
        for it in items:
            if it.key in owned:
                mine.append(it)
            elif it.key in finished:
                self.summary.already_done += 1
            else:
                deferred.append(it)
        self.summary.leased += len(mine)
        return mine

    def _lease_tx(self, items: list[PreparedRequest]) -> tuple[set[str], set[str]]:
        with self.wh.transaction() as con:
            owned = keys.lease(
                con,
                items,
                owner=self.run_id,
                ttl_s=self.lease_ttl_s,
                model=self.cfg.model,
                backend=self.cfg.backend,
                key_params_json=self.key_params_json,
                status=self.status,
                retry_failed=self.retry_failed,
                alive_s=self.cfg.lease_ttl_s,
            )
            others = [i.key for i in items if i.key not in owned]
            if not others:
                return owned, set()
            rows = sql.query(con, "teacher_open_by_key", {"keys": others}).to_pylist()
        # Not owned: finished by another run (a tombstone, or failed for good: skip it), or held by one (defer it).
        finished = {r["request_key"] for r in rows if r["status"] == "done" or (r["status"] == "failed" and not r["retryable"])}
        return owned, finished

    # -- 3. heartbeat -----------------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Extend this run's leases by another lease_ttl_s (one short transaction)."""
        with self.wh.transaction() as con:
            keys.heartbeat(con, self.run_id, self.lease_ttl_s, alive_s=self.cfg.lease_ttl_s)
