"""`umedata report` writes one static HTML page that opens without a server; headless Chromium renders it where
Chromium is installed (the test says why it skips elsewhere)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from umedata.cli import app
from umedata.ingest import ingest_source
from umedata.sources.config import load_sources
from umedata.teacher.annotate import run_teacher
from umedata.teacher.config import load_config

REPO = Path(__file__).resolve().parent.parent


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_page_of_a_warehouse_renders(warehouse, tmp_path):
    for spec in load_sources(REPO / "examples" / "sample" / "sources.toml"):
        ingest_source(warehouse, spec)
    run_teacher(warehouse, load_config(None, backend="offline"))
    out = tmp_path / "site" / "report.html"
    res = CliRunner().invoke(app, ["report", "--out", str(out), "-w", str(warehouse.path), "-f", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["bytes"] == out.stat().st_size
    page = out.read_text()
    for section in ("Stages", "Quality gates", "Reward variance", "Training", "Evaluation"):
        assert f"<h2>{section}" in page
    pairs = warehouse.sql("SELECT count(*) AS n FROM pairs").column("n")[0].as_py()
    assert f"{pairs:,}" in page and "http://" not in page and "https://" not in page  # nothing to fetch
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine: the page was written and checked, not rendered")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
                    f"--screenshot={shot}", "--window-size=1200,1600", out.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_durations_and_times_read_as_a_person_writes_them():
    import datetime as dt

    import pyarrow as pa

    from umedata.html_report import _cell

    nano = pa.scalar(pa.MonthDayNano([0, 0, 112_156_149_000]), pa.month_day_nano_interval()).as_py()
    assert _cell(nano) == "1m 52s"  # what DuckDB's interval columns arrive as
    assert _cell(dt.timedelta(hours=2, minutes=3, seconds=4)) == "2h 03m 04s"
    assert _cell(dt.timedelta(seconds=33.2)) == "33.2 s"
    assert _cell(dt.datetime(2026, 11, 29, 13, 34, 42, 384439)) == "2026-11-29 13:34:42"
    assert _cell(None) == "" and _cell("x") == "x"
