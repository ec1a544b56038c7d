"""A writer killed (SIGKILL) between staging and commit leaves the warehouse consistent, and a re-run completes it.

The child process runs the real ingest with a small batch size; it is stopped at its second data batch, either
before the batch is sealed (a `.partial` folder) or after sealing but before the transaction (a sealed batch
that `recover()` applies). It writes a file when it reaches that point and then waits to be killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ingest_fixtures import counts, image, jsonl, rows

from umedata.ingest import ingest_source
from umedata.sources.config import load_sources

REPO = Path(__file__).resolve().parent.parent
ROWS, BATCH = 30, 10

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import umedata.warehouse as W
    from umedata.ingest import ingest_source
    from umedata.sources.config import load_sources

    db, config, ready, where, batch = sys.argv[1:6]
    seen = {"data_batches": 0}

    def stop_here():
        Path(ready).write_text("ready")
        time.sleep(600)

    if where == "staged":  # before the batch is sealed
        original = W.Warehouse.commit
        def commit(self, batch):
            if any(e["table"] == "pairs" for e in batch.entries):
                seen["data_batches"] += 1
                if seen["data_batches"] == 2:
                    stop_here()
            return original(self, batch)
        W.Warehouse.commit = commit
    else:  # sealed, not yet applied
        original = W.Warehouse._apply
        def apply(self, batch_dir):
            if '"pairs"' in (batch_dir / "batch.json").read_text():
                seen["data_batches"] += 1
                if seen["data_batches"] == 2:
                    stop_here()
            return original(self, batch_dir)
        W.Warehouse._apply = apply

    ingest_source(W.Warehouse(db), load_sources(config)[0], batch_rows=int(batch))
    """
)


@pytest.fixture
def config(tmp_path):
    root = tmp_path / "data"
    image(root / "img" / "a.png")
    jsonl(
        root / "train.jsonl",
        [
            {
                "qry": f"<|image_1|> item {k}" if k % 3 == 0 else f"item {k}",
                "qry_image_path": "img/a.png" if k % 3 == 0 else "",
                "pos_text": f"label {k % 4}",
                "pos_image_path": "",
            }
            for k in range(ROWS)
        ],
    )
    path = tmp_path / "sources.toml"
    path.write_text(
        '[[source]]\nname = "crashy"\nlayout = "mmeb"\nroot = "data"\n'
        '[[source.datasets]]\nname = "D"\npath = "train.jsonl"\n',
        encoding="utf-8",
    )
    return path


def _run_and_kill(warehouse, config: Path, tmp_path: Path, where: str) -> None:
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(warehouse.path), str(config), str(ready), where, str(BATCH)], env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, "the writer exited before reaching the kill point"
            assert time.monotonic() < deadline, "the writer never reached the kill point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()


def _consistent(warehouse) -> None:
    """Every pair's sides and negatives exist; every side's media exist."""
    dangling = rows(
        warehouse,
        """
        SELECT count(*) AS n FROM pairs p, unnest(list_concat([p.qry_side_id, p.pos_side_id], p.negatives)) AS u(s)
        WHERE u.s NOT IN (SELECT side_id FROM sides)""",
    )[0]["n"]
    missing_media = rows(
        warehouse,
        """
        SELECT count(*) AS n FROM sides, unnest(media) AS u(m) WHERE u.m NOT IN (SELECT sha256 FROM media)""",
    )[0]["n"]
    assert dangling == 0 and missing_media == 0


@pytest.mark.parametrize("where", ["staged", "sealed"])
def test_sigkill_between_staging_and_commit(warehouse, config, tmp_path, where):
    _run_and_kill(warehouse, config, tmp_path, where)

    # Only the first batch landed, whole; the file opens (the dead writer's lock went with it).
    after_kill = counts(warehouse)
    assert after_kill["pairs"] == BATCH
    _consistent(warehouse)
    sealed = [
        p for p in warehouse.staging_root.iterdir() if (p / "batch.json").exists() and not p.name.endswith(".partial")
    ]
    assert bool(sealed) == (where == "sealed")
    assert any(p.name.endswith(".partial") for p in warehouse.staging_root.iterdir()) or where == "sealed"

    summary = ingest_source(warehouse, load_sources(config)[0], batch_rows=BATCH)
    final = counts(warehouse)
    distinct_sides = ROWS + 4  # every query differs; four labels
    assert (final["pairs"], final["sides"], final["media"], final["quarantine"]) == (ROWS, distinct_sides, 1, 0)
    _consistent(warehouse)
    assert rows(warehouse, "SELECT count(DISTINCT pair_id) AS n FROM pairs")[0]["n"] == ROWS
    # Already there + recovered from the sealed leftover + new in the re-run = exactly the whole source.
    recovered = BATCH if where == "sealed" else 0
    assert after_kill["pairs"] + recovered + summary.pairs_new == ROWS
    # The sealed leftover was applied; half-staged folders are only ever discarded, never applied.
    assert not [
        p for p in warehouse.staging_root.iterdir() if (p / "batch.json").exists() and not p.name.endswith(".partial")
    ]
