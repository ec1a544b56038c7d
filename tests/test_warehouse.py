"""The warehouse writer: migrations once, staged batches committed atomically, crash recovery, lock retries."""

import os
import platform
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from umedata.warehouse import Warehouse, WarehouseLocked

REPO = Path(__file__).resolve().parent.parent


def side(i, text=None):
    return {"side_id": f"s{i}", "text": text or f"text {i}", "media": [], "modality": "text"}


def run_py(code: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, **kw)


def test_migrations_apply_once_and_are_recorded(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    first = wh.init()
    assert first and first[0] == "0001_core"
    assert wh.init() == []
    recorded = wh.sql("SELECT version FROM schema_migrations ORDER BY version").column("version").to_pylist()
    assert recorded == first
    views = set(wh.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").column("view_name").to_pylist())
    assert {"pair_overview", "side_usage", "dataset_summary"} <= views


def test_duckdb_shell_reads_the_file(warehouse):
    b = warehouse.stage()
    b.add("sides", [side(1)])
    warehouse.commit(b)
    shell = Path(sys.executable).with_name("duckdb")
    if not shell.exists():
        pytest.skip("duckdb shell not installed in this environment")
    out = subprocess.run([str(shell), "-readonly", str(warehouse.path), "-csv", "-c", "SELECT text FROM sides"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["text", "text", "1"] or "text 1" in out.stdout


def test_commit_is_idempotent_by_key_and_counts_only_new_rows(warehouse):
    b = warehouse.stage()
    b.add("sides", [side(1), side(1), side(2)])
    assert warehouse.commit(b) == {"sides": 2}
    b = warehouse.stage()
    b.add("sides", pa.Table.from_pylist([side(2), side(3)]))
    assert warehouse.commit(b) == {"sides": 1}
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 3
    assert not any(warehouse.staging_root.iterdir()), "committed batches are removed from staging"


def test_a_failing_batch_commits_nothing(warehouse):
    b = warehouse.stage()
    b.add("sides", [side(1)])
    b.add("pairs", [{"pair_id": "p"}])  # violates NOT NULL columns
    with pytest.raises(Exception, match="NOT NULL"):
        warehouse.commit(b)
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 0
    # parked for inspection, so it does not block later recoveries
    assert (warehouse.staging_root / "failed" / b.batch_id).exists()
    assert warehouse.recover() == 0


def test_a_bounded_handle_lets_a_large_batch_through(warehouse, caplog, monkeypatch):
    """A handle with a small DuckDB memory limit (the teacher's) keeps commits small: a batch larger than the limit
    is given room for its size at once, and one that still runs out of memory is rolled back and applied again
    without the limit, never lost or parked."""
    import random
    import string

    import umedata.warehouse as w

    rng = random.Random(0)
    bounded = warehouse.bounded(threads=1, memory_limit="4MB")

    def commit(first: int) -> dict[str, int]:
        rows = [side(i, "".join(rng.choices(string.ascii_letters, k=4000))) for i in range(first, first + 4000)]
        b = bounded.stage()
        b.add("sides", rows)  # ~16 MB of text
        return bounded.commit(b)

    with caplog.at_level("WARNING", logger="umedata.warehouse"):
        assert commit(0) == {"sides": 4000}
    assert "does not fit" not in caplog.text  # sized from the shards before the first attempt
    monkeypatch.setattr(w, "BATCH_MEMORY_FACTOR", 0)  # as if the estimate fell short
    monkeypatch.setattr(w, "BATCH_MEMORY_BASE", 0)
    with caplog.at_level("WARNING", logger="umedata.warehouse"):
        assert commit(4000) == {"sides": 4000}
    assert "does not fit memory_limit 4MB" in caplog.text
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 8000
    assert not (warehouse.staging_root / "failed").exists()


def test_a_bounded_handle_trims_the_c_heap_after_each_connection_and_a_plain_one_does_not(warehouse, monkeypatch):
    import umedata.memory as m

    trims = []
    monkeypatch.setattr(m, "_MALLOC_TRIM", lambda pad: trims.append(pad) or 1)
    warehouse.sql("SELECT 1 AS one")
    with warehouse.transaction():
        pass
    assert trims == []
    bounded = warehouse.bounded(threads=1, memory_limit="32MB")
    bounded.sql("SELECT 1 AS one")
    with bounded.transaction():
        pass
    assert trims == [0, 0]
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert m._libc_function("malloc_trim") is not None  # the real one is found where it exists


def test_a_bounded_handle_checkpoints_under_its_checkpoint_limit_and_doubles_one_that_does_not_fit(warehouse, caplog):
    """Closing a transaction's connection checkpoints; a bounded handle lowers the limit for that checkpoint. One
    that does not fit leaves its WAL (the rows are kept: the next open replays it) and the handle doubles the limit;
    one that fits leaves no WAL. The same commits through a handle without a checkpoint limit leave none either."""
    text = "x" * 3000

    def commit(handle, first: int) -> None:
        b = handle.stage()
        b.add("sides", [side(i, f"{i} {text}") for i in range(first, first + 2000)])
        handle.commit(b)

    commit(warehouse, 0)
    assert not warehouse.wal_path.exists()
    tight = warehouse.bounded(threads=1, memory_limit="64MB", checkpoint_memory="1MB")
    with caplog.at_level("INFO", logger="umedata.warehouse"):
        commit(tight, 2000)
    assert warehouse.wal_path.exists()
    assert tight.checkpoint_memory == "2MiB"
    assert "did not fit 1MB" in caplog.text
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 4000  # replayed from the WAL
    roomy = warehouse.bounded(threads=1, memory_limit="64MB", checkpoint_memory="16MB")
    commit(roomy, 4000)
    assert not warehouse.wal_path.exists()
    assert roomy.checkpoint_memory == "16MB"
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 6000
    for first in range(6000, 6000 + 2000 * 5, 2000):  # doubling until the checkpoint fits (at most 64MB: the limit)
        commit(tight, first)
    assert not warehouse.wal_path.exists()


def test_sealed_batch_of_a_killed_producer_is_recovered_once(warehouse, tmp_path):
    ready = tmp_path / "ready"
    code = f"""
        import time
        from umedata.warehouse import Warehouse
        wh = Warehouse({str(warehouse.path)!r})
        b = wh.stage()
        b.add("sides", [{{"side_id": f"k{{i}}", "text": "t", "media": [], "modality": "text"}} for i in range(100)])
        b.seal()
        open({str(ready)!r}, "w").close()
        time.sleep(60)  # killed here: staged and sealed, never committed
        wh.commit(b)
    """
    proc = run_py(code)
    deadline = time.time() + 60
    while not ready.exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 0
    assert warehouse.recover() == 1
    assert warehouse.recover() == 0
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 100


def test_batch_committed_but_not_cleaned_is_not_applied_twice(warehouse):
    b = warehouse.stage()
    b.add("sides", [side(1)])
    b.add("quarantine", [{"quarantine_id": "q", "source": "s", "stage": "ingest", "what": "f:1",
                          "reason": "r", "detail": None, "created_at": datetime.now()}], mode="append")
    b.seal()
    # A crash right after COMMIT leaves the folder behind: copy it aside, commit, put it back.
    import shutil
    keep = warehouse.staging_root / "keep"
    shutil.copytree(b.dir, keep)
    warehouse._apply(b.dir)
    shutil.move(keep, b.dir)
    assert warehouse.recover() == 1
    n = warehouse.sql("SELECT count(*) AS n FROM committed_batches").column("n")[0].as_py()
    assert n == 1


def test_partial_batches_are_never_applied(warehouse):
    b = warehouse.stage()
    b.add("sides", [side(1)])  # never sealed: the producer died while staging
    assert b.partial_dir.exists()
    assert warehouse.recover() == 0
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 0


def test_readers_wait_for_a_writer_and_two_writers_never_lose_rows(warehouse):
    hold = run_py(f"""
        import duckdb, time
        con = duckdb.connect({str(warehouse.path)!r})
        print("held", flush=True)
        time.sleep(1.5)
        con.close()
    """, stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    assert warehouse.sql("SELECT count(*) AS n FROM sides").num_rows == 1  # retried until the holder let go
    assert time.monotonic() - t0 > 0.5
    hold.wait()

    writer = """
        import sys
        from umedata.warehouse import Warehouse
        wh = Warehouse({path!r})
        for j in range(15):
            b = wh.stage()
            b.add("sides", [{{"side_id": f"{tag}-{{j}}-{{i}}", "text": "t", "media": [], "modality": "text"}} for i in range(200)])
            wh.commit(b)
    """
    procs = [run_py(writer.format(path=str(warehouse.path), tag=tag)) for tag in ("a", "b")]
    # meanwhile, read repeatedly: readers always get in between commits
    reads = 0
    while any(p.poll() is None for p in procs):
        warehouse.sql("SELECT count(*) FROM sides")
        reads += 1
    assert all(p.returncode == 0 for p in procs)
    assert reads > 0
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 2 * 15 * 200


def test_lock_timeout_raises_a_clear_error(warehouse):
    hold = run_py(f"""
        import duckdb, time
        con = duckdb.connect({str(warehouse.path)!r})
        print("held", flush=True)
        time.sleep(5)
    """, stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseLocked, match="stayed locked"):
            Warehouse(warehouse.path, lock_timeout=0.3).sql("SELECT 1")
    finally:
        hold.kill()
        hold.wait()


def test_natural_key_tables_ignore_and_replace_by_key(warehouse):
    # sides carries no index (bulk table): the writer enforces its key
    b = warehouse.stage()
    b.add("sides", [side(1, "old"), side(2)])
    warehouse.commit(b)
    b = warehouse.stage()
    b.add("sides", [side(1, "ignored")])
    assert warehouse.commit(b) == {"sides": 0}
    b = warehouse.stage()
    b.add("sides", [side(1, "new")], mode="replace")
    assert warehouse.commit(b) == {"sides": 1}
    rows = warehouse.sql("SELECT side_id, text FROM sides ORDER BY side_id").to_pylist()
    assert rows == [{"side_id": "s1", "text": "new"}, {"side_id": "s2", "text": "text 2"}]


def test_staging_schemas_are_the_ddl(warehouse):
    from umedata import tables

    for table in ("media", "annotations", "quarantine", "teacher_requests", "training_runs"):
        ddl = warehouse.sql(f"SELECT * FROM {table} LIMIT 0").schema
        assert ddl.names == tables.schema(table).names, table
        for field in tables.schema(table):
            assert ddl.field(field.name).type == field.type, (table, field.name)
    assert tables.schema("teacher_requests", ["status", "request_key"]).names == ["status", "request_key"]


def test_init_fails_loudly_without_migrations(tmp_path, monkeypatch):
    from umedata import sql
    from umedata.warehouse import MigrationsMissing

    monkeypatch.setattr(sql, "sql_files", lambda folder: [])
    with pytest.raises(MigrationsMissing, match="incomplete"):
        Warehouse(tmp_path / "w.duckdb").init()


def test_threads_of_one_process_take_turns_like_processes(warehouse):
    """Connections of one process share DuckDB's database: without the in-process turn, two threads writing at once
    conflict (and a reader cannot open beside a writer) instead of waiting."""
    import threading

    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for j in range(10):
                b = warehouse.stage()
                b.add("sides", [side(1000 * k + j)])
                warehouse.commit(b)
                warehouse.sql("SELECT count(*) FROM sides")
        except BaseException as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert warehouse.sql("SELECT count(*) AS n FROM sides").column("n")[0].as_py() == 40
