"""The DuckDB warehouse: one file, migrations from schemas/, and a writer that holds the file only to commit.

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
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ENV_PATH = "UMEDATA_WAREHOUSE"
ENV_LOCK_TIMEOUT = "UMEDATA_LOCK_TIMEOUT"
DEFAULT_PATH = Path("warehouse") / "umedata.duckdb"
# New files are written in a storage format the `duckdb` command-line shell (PyPI duckdb-cli, 1.5) can open too.
STORAGE_VERSION = os.environ.get("UMEDATA_STORAGE_VERSION", "v1.5.0")
SCHEMAS_DIR = Path(os.environ.get("UMEDATA_SCHEMAS", Path(__file__).resolve().parent.parent / "schemas"))

# How a staged table lands: "ignore" keeps existing rows (content-keyed inserts), "replace" overwrites by key
# (status changes such as leases and request results), "append" for tables without a key.
MODES = {"ignore": "INSERT OR IGNORE INTO", "replace": "INSERT OR REPLACE INTO", "append": "INSERT INTO"}


class WarehouseLocked(RuntimeError):
    """The file stayed locked by another process for longer than the timeout."""


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Explicit path > $UMEDATA_WAREHOUSE > warehouse/umedata.duckdb."""
    return Path(path or os.environ.get(ENV_PATH) or DEFAULT_PATH)


def _is_lock_error(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "lock" in msg and ("conflicting" in msg or "could not set" in msg)


def sql_file(relpath: str) -> str:
    """The text of a file under schemas/ (DDL, views and queries live as files, not as strings in code)."""
    return (SCHEMAS_DIR / relpath).read_text(encoding="utf-8")


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
        if mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}")
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
    if key is None or mode == "append":
        return int(con.execute(f"{MODES[mode]} {table} BY NAME SELECT * FROM read_parquet(?)", [shard]).fetchall()[0][0])
    cols = ", ".join(key)
    match = " AND ".join(f"t.{c} = n.{c}" for c in key)
    if mode == "replace":
        con.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM read_parquet(?) n WHERE {match})", [shard])
    new_rows = (
        f"SELECT DISTINCT ON ({cols}) * FROM read_parquet(?) n "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"
    )
    return int(con.execute(f"INSERT INTO {table} BY NAME {new_rows}", [shard]).fetchall()[0][0])


class Warehouse:
    """A handle on one DuckDB file. Cheap to create; holds no connection between calls."""

    def __init__(self, path: str | os.PathLike[str] | None = None, lock_timeout: float | None = None):
        self.path = resolve_path(path)
        self.staging_root = self.path.with_name(self.path.name + ".staging")
        self.lock_timeout = float(lock_timeout or os.environ.get(ENV_LOCK_TIMEOUT) or 120.0)

    # -- connections -------------------------------------------------------------------------------------------
    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path}; run `umedata init` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                if not self.path.exists():
                    return duckdb.connect(str(self.path), config={"storage_compatibility_version": STORAGE_VERSION})
                # Row order inside a table is never relied on; not preserving it lets bulk inserts run in parallel.
                return duckdb.connect(str(self.path), read_only=read_only, config={"preserve_insertion_order": False})
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(f"{self.path} stayed locked for {self.lock_timeout:.0f}s: {exc}") from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, closed on exit; retries while a writer holds the file."""
        con = self._open(read_only=True)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short read-write transaction: committed on success, rolled back on error, file closed either way."""
        con = self._open(read_only=False)
        try:
            con.begin()
            try:
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
        finally:
            con.close()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self.reader() as con:
            return con.sql(sql, params=params or None).to_arrow_table() if params else con.sql(sql).to_arrow_table()

    # -- schema -----------------------------------------------------------------------------------------------
    def init(self) -> list[str]:
        """Apply pending migrations (each once, recorded in schema_migrations) and (re)create the views."""
        migrations = sorted((SCHEMAS_DIR / "migrations").glob("[0-9]*.sql"))
        views = sorted((SCHEMAS_DIR / "views").glob("*.sql"))
        applied: list[str] = []
        with self.transaction() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version VARCHAR PRIMARY KEY, sha256 VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for path in migrations:
                if path.stem in done:
                    continue
                text = path.read_text(encoding="utf-8")
                con.execute(text)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, sha256(?), now())", [path.stem, text]
                )
                applied.append(path.stem)
            for path in views:
                con.execute(path.read_text(encoding="utf-8"))
        return applied

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

    def _apply(self, batch_dir: Path) -> dict[str, int]:
        try:
            manifest = json.loads((batch_dir / "batch.json").read_text())
        except FileNotFoundError:  # another process's recover() committed and removed it meanwhile
            return self._committed_counts(batch_dir.name)
        counts: dict[str, int] = {}
        try:
            self._apply_manifest(batch_dir, manifest, counts)
        except WarehouseLocked:
            raise
        except Exception:
            # A batch that cannot apply (a constraint, a bad shard) would block every later recovery:
            # park it under failed/ for inspection and let the error surface.
            failed = self.staging_root / "failed"
            failed.mkdir(parents=True, exist_ok=True)
            batch_dir.rename(failed / batch_dir.name)
            raise
        shutil.rmtree(batch_dir, ignore_errors=True)
        return counts

    def _apply_manifest(self, batch_dir: Path, manifest: dict[str, Any], counts: dict[str, int]) -> None:
        with self.transaction() as con:
            seen = con.execute("SELECT 1 FROM committed_batches WHERE batch_id = ?", [manifest["batch_id"]]).fetchall()
            if not seen:
                natural = dict(con.execute("SELECT table_name, key_columns FROM natural_keys").fetchall())
                for entry in manifest["entries"]:
                    table = entry["table"]
                    if not table.isidentifier():
                        raise ValueError(f"bad table name {table!r} in {batch_dir}")
                    shard = str(batch_dir / entry["file"])
                    n = _insert(con, table, shard, entry["mode"], natural.get(table))
                    counts[table] = counts.get(table, 0) + n
                con.execute(
                    "INSERT INTO committed_batches VALUES (?, now(), ?)", [manifest["batch_id"], json.dumps(counts)]
                )

    def _committed_counts(self, batch_id: str) -> dict[str, int]:
        with self.reader() as con:
            rows = con.execute("SELECT counts FROM committed_batches WHERE batch_id = ?", [batch_id]).fetchall()
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
