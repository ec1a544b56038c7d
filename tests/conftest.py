"""Shared fixtures: one Prefect harness for the whole session (starting one costs seconds), temp warehouses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["COLUMNS"] = "250"  # rich wraps CLI output at the terminal width; keep test output on one line

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))  # bench scripts import their BENCHMARKS.md writer as a sibling module


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server shared by every test that runs a real flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def warehouse(tmp_path):
    """A fresh, migrated warehouse file in a temp folder."""
    from umedata.warehouse import Warehouse

    wh = Warehouse(tmp_path / "wh" / "umedata.duckdb")
    wh.init()
    return wh
