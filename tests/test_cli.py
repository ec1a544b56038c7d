"""`umedata` commands over a real warehouse file: one output option everywhere, one error handler."""

import json
import subprocess
import sys
from datetime import datetime

from typer.testing import CliRunner

from umedata.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def umedata(*args, cwd=None):
    """The real entry point in its own process (the error handler lives there, not in the typer app)."""
    return subprocess.run([sys.executable, "-m", "umedata", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


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
    first = json.loads(invoke("init", "-w", db, "-f", "json"))
    assert first["applied"][0] == "0001_core"
    assert json.loads(invoke("init", "-w", db, "-f", "json"))["applied"] == "up to date"
    assert "up to date" in invoke("init", "-w", db)


def test_status_sql_and_quarantine(warehouse):
    seed(warehouse)
    w = str(warehouse.path)
    out = invoke("status", "-w", w)
    assert "Shapes" in out and "pairs" in out
    status = json.loads(invoke("status", "-w", w, "-f", "json"))
    assert {"table": "pairs", "rows": 1} in status["tables"] and status["datasets"][0]["dataset_name"] == "Shapes"
    rows = json.loads(invoke("sql", "SELECT qry_text, pos_text FROM pair_overview", "-f", "json", "-w", w))
    assert rows == [{"qry_text": "a red circle", "pos_text": "red"}]
    assert invoke("sql", "SELECT qry_text FROM pair_overview", "-f", "csv", "-w", w).splitlines() == [
        "qry_text", "a red circle"]
    out = invoke("quarantine", "list", "-w", w)
    assert "missing_media" in out and "f.jsonl:7" in out
    listed = json.loads(invoke("quarantine", "list", "-w", w, "-f", "json", "--reason", "missing_media"))
    assert listed["items"][0]["what"] == "f.jsonl:7" and listed["summary"][0]["n"] == 1
    assert "f.jsonl:7" in invoke("quarantine", "list", "-w", w, "-f", "csv")
    assert json.loads(invoke("quarantine", "list", "-w", w, "-f", "json", "--reason", "bad_json"))["items"] == []
    out = invoke("quarantine", "show", "abc", "-w", w)
    assert "img/x.png not found" in out
    assert json.loads(invoke("quarantine", "show", "abc", "-w", w, "-f", "json"))["reason"] == "missing_media"


def test_sql_is_read_only_unless_asked(warehouse):
    seed(warehouse)
    w = str(warehouse.path)
    result = runner.invoke(app, ["sql", "DELETE FROM pairs", "-w", w])
    assert result.exit_code == 2 and "read-only" in result.output.lower()
    invoke("sql", "DELETE FROM pairs", "--write", "-w", w)
    assert json.loads(invoke("sql", "SELECT count(*) AS n FROM pairs", "-f", "json", "-w", w)) == [{"n": 0}]


def test_expected_failures_are_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "nowhere" / "w.duckdb"
    for args in (["status", "-w", missing], ["quarantine", "list", "-w", missing], ["versions", "list", "-w", missing]):
        r = umedata(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "no warehouse at" in r.stderr and "umedata init" in r.stderr
        assert "Traceback" not in r.stderr + r.stdout and len(r.stderr.strip().splitlines()) == 1
    assert not missing.exists(), "a read command must not create the file"

    bad = tmp_path / "teacher.toml"
    bad.write_text('backend = "offline"\nmodle = "x"\n')  # a misspelt key
    r = umedata("annotate", "-c", bad, "-w", tmp_path / "w.duckdb")
    assert r.returncode == 2 and "modle" in r.stderr and "Traceback" not in r.stderr + r.stdout

    r = umedata("ingest", "-c", tmp_path / "no-such-sources.toml", "-w", tmp_path / "w.duckdb")
    assert r.returncode == 2 and "no-such-sources.toml" in r.stderr and "Traceback" not in r.stderr + r.stdout

    r = umedata("ingest", tmp_path / "no-such-file.jsonl", "-w", tmp_path / "w.duckdb")
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr + r.stdout
