"""The DuckDB warehouse: one file, migrations from umedata/schemas/, and a writer that holds the file only to commit.

DuckDB locks its file per process: while one process holds it read-write no other process can open it at all,
not even read-only. So nothing here keeps a connection open. Producers *stage* a batch (parquet shards written
under a temp name, then renamed; the batch folder itself is renamed into place when sealed), and `commit` opens
the file, applies the whole batch in one transaction, records the batch id, and closes it again. Readers and
writers that meet a lock retry with backoff.

Crash safety follows from that order:
- killed while staging: the folder still ends in ".partial"; it is discarded, the producer re-derives it (all
  keys are content hashes, so nothing is lost and nothing doubles);
- killed inside the transaction: DuckDB rolls it back (WAL); the sealed batch is still staged and `recover()`
  commits it;
- killed after COMMIT but before the staged folder was removed: the batch id is in `committed_batches`, so it is
  not applied twice.

Every producer commits through the same two doors: `commit_tables` (stage + commit one batch, synchronously) and a
`Committer` (batches of staged tables committed in a background thread while the producer prepares the next).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from umedata import sql
from umedata.errors import UserError
from umedata.memory import return_freed_memory

log = logging.getLogger("umedata.warehouse")
ENV_PATH = "UMEDATA_WAREHOUSE"
ENV_LOCK_TIMEOUT = "UMEDATA_LOCK_TIMEOUT"
DEFAULT_PATH = Path("warehouse") / "umedata.duckdb"
# New files are written in a storage format the `duckdb` command-line shell (PyPI duckdb-cli, 1.5) can open too.
STORAGE_VERSION = os.environ.get("UMEDATA_STORAGE_VERSION", "v1.5.0")

# How a staged table lands: "ignore" keeps existing rows (content-keyed inserts), "replace" overwrites by key
# (status changes such as leases and request results), "append" for tables without a key, or "query:<name>": a
# query file (schemas/queries/<name>.sql) run with the shard as $shard and the table as {table}, its last statement
# returning the rows landed (the teacher lands results against its open-lease table, teacher_finish*.sql).
MODES = ("ignore", "replace", "append")
QUERY_MODE = "query:"
_PK_INSERT = {"ignore": "commit_insert_or_ignore", "replace": "commit_insert_or_replace", "append": "commit_append"}


class WarehouseLocked(RuntimeError):
    """The file stayed locked by another process for longer than the timeout."""


class WarehouseMissing(UserError, FileNotFoundError):
    """A command that only reads found no warehouse file."""


class MigrationsMissing(RuntimeError):
    """The package carries no migrations: a broken install, never a state to continue from."""


# Memory a bounded handle (Warehouse.bounded) allows a commit: BATCH_MEMORY_FACTOR per uncompressed byte of its
# batch, plus BATCH_MEMORY_BASE. 5,000 rows of 8 KB texts (40 MB) ran out of memory under 64 MB, 4,000 of 4 KB under
# 47 MB (measured).
BATCH_MEMORY_FACTOR = 4
BATCH_MEMORY_BASE = 16 * 2**20
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def _limit_bytes(limit: str | None) -> int | None:
    """A DuckDB memory limit ("32MB", "1.5GiB") in bytes; None for none or one not understood here."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", limit or "")
    unit = _UNITS.get(m.group(2).upper()) if m else None
    return int(float(m.group(1)) * unit) if m and unit else None


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Explicit path > $UMEDATA_WAREHOUSE > warehouse/umedata.duckdb."""
    return Path(path or os.environ.get(ENV_PATH) or DEFAULT_PATH)


def _is_lock_error(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "lock" in msg and ("conflicting" in msg or "could not set" in msg)


@dataclass
class StagedBatch:
    """Parquet shards for one commit. `add` writes a shard, `seal` makes the batch visible to `commit`."""

    root: Path
    batch_id: str = field(default_factory=lambda: f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}")
    entries: list[dict[str, str]] = field(default_factory=list)
    sealed: bool = False

    @property
    def partial_dir(self) -> Path:
        return self.root / f"{self.batch_id}.partial"

    @property
    def dir(self) -> Path:
        return self.root / self.batch_id

    def add(self, table: str, rows: pa.Table | Sequence[Mapping[str, Any]], mode: str = "ignore") -> None:
        if self.sealed:
            raise RuntimeError("batch already sealed")
        if mode not in MODES and not (mode.startswith(QUERY_MODE) and mode[len(QUERY_MODE):].isidentifier()):
            raise ValueError(f"mode must be one of {MODES} or {QUERY_MODE}<query name>")
        data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows))
        if data.num_rows == 0:
            return
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        name = f"{len(self.entries):04d}-{table}.parquet"
        tmp = self.partial_dir / f".{name}.tmp"
        pq.write_table(data, tmp, compression="zstd")
        tmp.rename(self.partial_dir / name)
        self.entries.append({"table": table, "file": name, "mode": mode})

    def seal(self) -> Path | None:
        """Write the manifest and rename the folder into place (atomic); an empty batch leaves nothing behind."""
        self.sealed = True
        if not self.entries:
            return None
        manifest = self.partial_dir / "batch.json"
        manifest.write_text(json.dumps({"batch_id": self.batch_id, "entries": self.entries}))
        self.partial_dir.rename(self.dir)
        return self.dir


def _insert(con: duckdb.DuckDBPyConnection, table: str, shard: str, mode: str, key: list[str] | None) -> int:
    """Apply one shard; tables keyed in natural_keys get an anti-join instead of an index lookup."""
    params = {"shard": shard}
    if mode.startswith(QUERY_MODE):
        return int(sql.execute(con, mode[len(QUERY_MODE):], params, idents={"table": table})[0][0])
    if key is None or mode == "append":
        return int(sql.execute(con, _PK_INSERT[mode], params, idents={"table": table})[0][0])
    idents = {"table": table, "key": ", ".join(key)}
    if mode == "replace":
        sql.execute(con, "commit_delete_keyed", params, idents=idents)
    return int(sql.execute(con, "commit_insert_new_keyed", params, idents=idents)[0][0])


# DuckDB serialises writers across processes with its file lock, but connections of one process to one file share
# one database: two threads writing at once conflict instead of waiting, and a read-only connection cannot open
# while the process holds the file read-write. So within a process every connection to a file takes this lock
# (several teacher runs or flow tasks on threads behave like several processes).
_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


class Warehouse:
    """A handle on one DuckDB file. Cheap to create; holds no connection between calls."""

    def __init__(self, path: str | os.PathLike[str] | None = None, lock_timeout: float | None = None,
                 threads: int | None = None, memory_limit: str | None = None, checkpoint_memory: str | None = None):
        self.path = resolve_path(path)
        self.staging_root = self.path.with_name(self.path.name + ".staging")
        self.lock_timeout = float(lock_timeout or os.environ.get(ENV_LOCK_TIMEOUT) or 120.0)
        # DuckDB settings of each connection; None: DuckDB's defaults (a thread per core, 80 % of the RAM).
        self.threads = threads
        self.memory_limit = memory_limit
        # The limit a transaction's connection closes under (see bounded); None: the connection's own.
        self.checkpoint_memory = checkpoint_memory

    def bounded(self, threads: int | None = None, memory_limit: str | None = None,
                checkpoint_memory: str | None = None) -> Warehouse:
        """The same file, its connections opened with these DuckDB worker threads and memory limit, and, with a
        limit, the C heap trimmed after each of them closes (_close): for a long-running process whose memory must
        stay flat. A staged batch larger than the limit allows is committed under a limit sized to it (_fitting),
        and one that still runs out of memory is applied again without a limit (_apply).

        `checkpoint_memory`: a lower limit for the checkpoint that closing a transaction's connection runs. DuckDB
        keeps the blocks a checkpoint touches cached up to its limit, so the close, not the statements, set the
        peak; a checkpoint that does not fit it leaves its WAL (nothing is lost: the next open replays it), and the
        handle then doubles this limit (_close)."""
        return Warehouse(self.path, self.lock_timeout, threads, memory_limit, checkpoint_memory)

    @property
    def wal_path(self) -> Path:
        return self.path.with_name(self.path.name + ".wal")

    # -- connections -------------------------------------------------------------------------------------------
    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise WarehouseMissing(f"no warehouse at {self.path}; create it with `umedata init`")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                if not self.path.exists():
                    con = duckdb.connect(str(self.path), config={"storage_compatibility_version": STORAGE_VERSION})
                else:
                    # Row order inside a table is never relied on; not preserving it lets bulk inserts run in parallel.
                    config: dict[str, Any] = {"preserve_insertion_order": False}
                    if self.threads:
                        config["threads"] = self.threads
                    if self.memory_limit:
                        config["memory_limit"] = self.memory_limit
                    con = duckdb.connect(str(self.path), read_only=read_only, config=config)
                sql.quiet(con)
                return con
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"{self.path} stayed locked for {self.lock_timeout:.0f}s (raise ${ENV_LOCK_TIMEOUT} on a busy "
                        f"machine): {exc}"
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    def _close(self, con: duckdb.DuckDBPyConnection, checkpoint_under: str | None = None) -> None:
        """Close (a read-write connection checkpoints here); `checkpoint_under`: the limit it was lowered to."""
        con.close()
        if checkpoint_under and self.wal_path.exists():
            self._checkpoint_fell_short(checkpoint_under)
        if self.memory_limit:  # a bounded handle: hand back what the connection freed
            return_freed_memory()

    def _lower_for_checkpoint(self, con: duckdb.DuckDBPyConnection) -> str | None:
        """After a commit: lower the connection's memory limit to checkpoint_memory for the close; the limit set."""
        low, high = _limit_bytes(self.checkpoint_memory), _limit_bytes(self.memory_limit)
        if low is None or (high is not None and low >= high):
            return None
        try:
            con.execute(f"SET memory_limit = '{self.checkpoint_memory}'")
        except duckdb.Error:  # the close then checkpoints under the transaction's own limit
            return None
        return self.checkpoint_memory

    def _checkpoint_fell_short(self, tried: str) -> None:
        grown = 2 * (_limit_bytes(tried) or 0)
        high = _limit_bytes(self.memory_limit)
        self.checkpoint_memory = None if high is not None and grown >= high else f"{-(-grown // 2**20)}MiB"
        log.info("%s: the checkpoint at close did not fit %s and left its WAL for the next open; checkpoints now "
                 "run under %s", self.path, tried, self.checkpoint_memory or self.memory_limit or "no limit")

    @contextmanager
    def _in_process_turn(self) -> Iterator[None]:
        lock = _process_lock(self.path)
        if not lock.acquire(timeout=self.lock_timeout):
            raise WarehouseLocked(f"{self.path}: another thread of this process held it for {self.lock_timeout:.0f}s "
                                  f"(raise ${ENV_LOCK_TIMEOUT} on a busy machine)")
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, closed on exit; retries while a writer holds the file."""
        with self._in_process_turn():
            con = self._open(read_only=True)
            try:
                yield con
            finally:
                self._close(con)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short read-write transaction: committed on success, rolled back on error, file closed either way."""
        with self._in_process_turn():
            con = self._open(read_only=False)
            lowered = None
            try:
                con.begin()
                try:
                    yield con
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
                lowered = self._lower_for_checkpoint(con)
            finally:
                self._close(con, lowered)

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """A query file (umedata/schemas/queries/<name>.sql) run read-only, with its `$name` parameters."""
        with self.reader() as con:
            return sql.query(con, name, params)

    def sql(self, text: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """SQL text run read-only (exploration, tests), with the same `$name` parameter rule."""
        with self.reader() as con:
            return sql.run(con, text, params)

    # -- schema -----------------------------------------------------------------------------------------------
    def init(self) -> list[str]:
        """Apply pending migrations (each once, recorded in schema_migrations) and (re)create the views."""
        migrations = sql.sql_files("migrations")
        if not migrations:
            raise MigrationsMissing(
                f"no migrations found in {sql.schemas()}: this umedata install is incomplete (reinstall the package)"
            )
        views = sql.sql_files("views")
        applied: list[str] = []
        with self.transaction() as con:
            # The bootstrap table: the one statement that must exist before any file can be recorded.
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version VARCHAR PRIMARY KEY, sha256 VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            done = {r[0] for r in sql.execute(con, "migrations_applied")}
            for f in migrations:
                version = f.name.removesuffix(".sql")
                if version in done:
                    continue
                text = f.read_text(encoding="utf-8")
                con.execute(text)
                sql.execute(con, "migration_record", {"version": version, "text": text})
                applied.append(version)
            for f in views:
                con.execute(f.read_text(encoding="utf-8"))
        return applied

    def prepare(self) -> int:
        """What every writer does first: migrate, then commit batches a crashed run left sealed. Returns how many."""
        self.init()
        return self.recover()

    def require(self) -> Warehouse:
        """For readers: fail with a clear message when the file does not exist."""
        if not self.path.exists():
            raise WarehouseMissing(f"no warehouse at {self.path}; create it with `umedata init`")
        return self

    # -- staged writes ----------------------------------------------------------------------------------------
    def stage(self) -> StagedBatch:
        self.staging_root.mkdir(parents=True, exist_ok=True)
        return StagedBatch(self.staging_root)

    def commit(self, batch: StagedBatch) -> dict[str, int]:
        """Seal (if needed) and apply one staged batch in a single transaction; returns new rows per table."""
        if not batch.sealed:
            batch.seal()
        if not batch.dir.exists():
            return {}
        return self._apply(batch.dir)

    def commit_tables(self, tables: Mapping[str, pa.Table], modes: Mapping[str, str] | None = None) -> dict[str, int]:
        """Stage the tables and commit them in one transaction (the synchronous door)."""
        return self.commit(self.stage_tables(tables, modes))

    def stage_tables(self, tables: Mapping[str, pa.Table], modes: Mapping[str, str] | None = None) -> StagedBatch:
        """The tables as one sealed batch for `commit`; a caller that lets go of its tables before committing keeps
        only the shards on disk while the transaction runs."""
        batch = self.stage()
        for name, table in tables.items():
            batch.add(name, table, mode=(modes or {}).get(name, "ignore"))
        batch.seal()
        return batch

    def committer(self, rows_per_commit: int = 0,
                  on_counts: Callable[[dict[str, int]], None] | None = None) -> Committer:
        """A background committer (the pipelined door); use it as a context manager."""
        return Committer(self, rows_per_commit, on_counts)

    def _apply(self, batch_dir: Path) -> dict[str, int]:
        try:
            manifest = json.loads((batch_dir / "batch.json").read_text())
        except FileNotFoundError:  # another process's recover() committed and removed it meanwhile
            return self._committed_counts(batch_dir.name)
        counts: dict[str, int] = {}
        try:
            self._fitting(batch_dir, manifest)._apply_manifest(batch_dir, manifest, counts)
        except WarehouseLocked:
            raise
        except duckdb.OutOfMemoryException as exc:
            if self.memory_limit is None:
                self._park(batch_dir)
                raise
            # Rolled back, so nothing of it landed: once more under DuckDB's default limit, rather than lose a
            # batch to a bound meant to keep a long run's memory flat.
            log.warning("staged batch %s does not fit memory_limit %s (%s); applying it without the limit",
                        batch_dir.name, self.memory_limit, str(exc).splitlines()[0])
            return self.bounded(self.threads)._apply(batch_dir)
        except Exception:
            self._park(batch_dir)
            raise
        shutil.rmtree(batch_dir, ignore_errors=True)
        return counts

    def _fitting(self, batch_dir: Path, manifest: dict[str, Any]) -> Warehouse:
        """This handle, or, where its memory limit is below what the batch needs (BATCH_MEMORY_FACTOR x the
        uncompressed bytes of its shards + BATCH_MEMORY_BASE), the same with that limit: a bound keeps small
        commits small and lets a large batch through at the first attempt."""
        bound = _limit_bytes(self.memory_limit)
        if bound is None:
            return self
        raw = 0
        for entry in manifest["entries"]:
            meta = pq.ParquetFile(batch_dir / entry["file"]).metadata
            raw += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        need = BATCH_MEMORY_FACTOR * raw + BATCH_MEMORY_BASE
        return self if need <= bound else self.bounded(self.threads, f"{-(-need // 2**20)}MiB")

    def _park(self, batch_dir: Path) -> None:
        """A batch that cannot apply (a constraint, a bad shard) would block every later recovery: it goes under
        failed/ for inspection, and the caller lets the error surface."""
        failed = self.staging_root / "failed"
        failed.mkdir(parents=True, exist_ok=True)
        batch_dir.rename(failed / batch_dir.name)

    def _apply_manifest(self, batch_dir: Path, manifest: dict[str, Any], counts: dict[str, int]) -> None:
        with self.transaction() as con:
            if sql.execute(con, "commit_seen", {"batch_id": manifest["batch_id"]}):
                return
            natural = dict(sql.execute(con, "natural_keys"))
            for entry in manifest["entries"]:
                table = entry["table"]
                if not table.isidentifier():
                    raise ValueError(f"bad table name {table!r} in {batch_dir}")
                shard = str(batch_dir / entry["file"])
                n = _insert(con, table, shard, entry["mode"], natural.get(table))
                counts[table] = counts.get(table, 0) + n
            sql.execute(con, "commit_record", {"batch_id": manifest["batch_id"], "counts": json.dumps(counts)})

    def _committed_counts(self, batch_id: str) -> dict[str, int]:
        with self.reader() as con:
            rows = sql.execute(con, "commit_seen", {"batch_id": batch_id})
        return json.loads(rows[0][0]) if rows else {}

    def recover(self) -> int:
        """Commit sealed batches left by a crashed producer; drop half-staged ones. Returns batches committed."""
        if not self.staging_root.exists():
            return 0
        n = 0
        for d in sorted(self.staging_root.iterdir()):
            if d.name == "failed":
                continue
            if d.name.endswith(".partial"):
                # A live producer in another process may still be writing it: only drop stale ones.
                if time.time() - d.stat().st_mtime > 3600:
                    shutil.rmtree(d, ignore_errors=True)
            elif (d / "batch.json").exists():
                try:
                    self._apply(d)
                except WarehouseLocked:
                    raise
                except Exception as exc:  # parked under failed/ by _apply; the rest still commit
                    warnings.warn(f"staged batch {d.name} could not be applied: {exc}", stacklevel=2)
                    continue
                n += 1
        return n


class Committer:
    """Staged tables gathered into batches of about `rows_per_commit` producer rows (0: one batch per `flush`),
    each committed in a background thread while the producer prepares the next (DuckDB and Arrow release the
    GIL). At most one commit is in flight, so batches land in the order they were made.

        with wh.committer(250_000, on_counts=tally) as c:
            for chunk in chunks:
                c.add(tables_of(chunk), rows=chunk.num_rows)

    On an error inside the block, a commit in flight finishes and the half-built batch is dropped (every key is a
    content hash, so a re-run re-derives it).
    """

    def __init__(self, warehouse: Warehouse, rows_per_commit: int = 0,
                 on_counts: Callable[[dict[str, int]], None] | None = None):
        self.warehouse = warehouse
        self.rows_per_commit = rows_per_commit
        self.on_counts = on_counts
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="umedata-commit")
        self.pending: Future | None = None
        self.batch: StagedBatch | None = None
        self.rows = 0

    def __enter__(self) -> Committer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()

    def add(self, tables: Mapping[str, pa.Table | None], rows: int = 0, modes: Mapping[str, str] | None = None) -> None:
        """Stage tables (None or empty ones are skipped); commit once `rows_per_commit` rows have gathered."""
        if self.batch is None:
            self.batch = self.warehouse.stage()
        for name, table in tables.items():
            if table is not None and table.num_rows:
                self.batch.add(name, table, mode=(modes or {}).get(name, "ignore"))
        self.rows += rows
        if self.rows_per_commit and self.rows >= self.rows_per_commit:
            self.flush()

    def flush(self) -> None:
        """Commit what has gathered (in the background, after the commit in flight)."""
        if self.batch is None:
            return
        batch, self.batch, self.rows = self.batch, None, 0
        self.wait()
        self.pending = self.pool.submit(self.warehouse.commit, batch)

    def wait(self) -> None:
        """Block until the commit in flight has landed (its error, if any, is raised here)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            counts = pending.result()
            if self.on_counts is not None:
                self.on_counts(counts)

    def close(self) -> None:
        try:
            self.flush()
            self.wait()
        finally:
            self.pool.shutdown()

    def abandon(self) -> None:
        """After an error: let a commit in flight finish, drop the half-built batch."""
        try:
            if self.pending is not None:
                self.pending.result()
        finally:
            self.pool.shutdown()
            if self.batch is not None and self.batch.partial_dir.exists():
                shutil.rmtree(self.batch.partial_dir, ignore_errors=True)
