"""`umedata` commands over a real warehouse file."""

import json
from datetime import datetime

from typer.testing import CliRunner

from umedata.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def seed(wh):
    b = wh.stage()
    b.add("sides", [{"side_id": "q", "text": "a red circle", "media": [], "modality": "text"},
                    {"side_id": "t", "text": "red", "media": [], "modality": "text"}])
    b.add("pairs", [{"pair_id": "p", "source": "s", "dataset_name": "Shapes", "modality": "text", "task": "retrieval",
                     "split": "train", "qry_side_id": "q", "pos_side_id": "t", "negatives": []}])
    b.add("quarantine", [{"quarantine_id": "abc123", "source": "s", "stage": "ingest", "what": "f.jsonl:7",
                          "reason": "missing_media", "detail": "img/x.png not found", "created_at": datetime.now()}])
    wh.commit(b)


def test_init_is_idempotent(tmp_path):
    db = str(tmp_path / "w.duckdb")
    assert "applied 0001_core" in invoke("init", "-w", db)
    assert "up to date" in invoke("init", "-w", db)


def test_status_sql_and_quarantine(warehouse):
    seed(warehouse)
    w = str(warehouse.path)
    out = invoke("status", "-w", w)
    assert "Shapes" in out and "pairs" in out
    rows = json.loads(invoke("sql", "SELECT qry_text, pos_text FROM pair_overview", "-f", "json", "-w", w))
    assert rows == [{"qry_text": "a red circle", "pos_text": "red"}]
    assert "qry_text" in invoke("sql", "SELECT qry_text FROM pair_overview", "-f", "csv", "-w", w)
    out = invoke("quarantine", "list", "-w", w)
    assert "missing_media" in out and "f.jsonl:7" in out
    out = invoke("quarantine", "show", "abc", "-w", w)
    assert "img/x.png not found" in out


def test_sql_is_read_only_unless_asked(warehouse):
    seed(warehouse)
    w = str(warehouse.path)
    result = runner.invoke(app, ["sql", "DELETE FROM pairs", "-w", w])
    assert result.exit_code != 0 and "read-only" in str(result.exception).lower()
    invoke("sql", "DELETE FROM pairs", "--write", "-w", w)
    assert json.loads(invoke("sql", "SELECT count(*) AS n FROM pairs", "-f", "json", "-w", w)) == [{"n": 0}]
