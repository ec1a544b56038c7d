"""`umedata run NAME`: a flow by name, run locally with its deployment's parameters (prefect.yaml) and overrides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from umedata.ingest import ingest_source
from umedata.sources.config import load_sources
from umedata.teacher.annotate import run_teacher
from umedata.teacher.config import load_config

REPO = Path(__file__).resolve().parent.parent


def umedata(*args, cwd=REPO):
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([sys.executable, "-m", "umedata", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_run_a_flow_by_name_with_deployment_parameters_and_overrides(warehouse, tmp_path):
    for spec in load_sources(REPO / "examples" / "sample" / "sources.toml"):
        ingest_source(warehouse, spec)
    run_teacher(warehouse, load_config(None, backend="offline"))
    out = umedata("run", "build_sft_set", "--param", f"warehouse={warehouse.path}", "--param", "split_mode=source",
                  "--param", 'datasets=["ShapesI2T"]')
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout[out.stdout.index("{"):])
    assert result["n_rows"] > 0 and {r["dataset_name"] for r in result["rows"]} == {"ShapesI2T"}
    # the deployment's own parameter (name = "sft") applied, the overrides on top
    versions = warehouse.sql("SELECT name, kind FROM dataset_versions").to_pylist()
    assert versions == [{"name": "sft", "kind": "sft"}]


def test_run_refuses_an_unknown_name_in_one_line():
    out = umedata("run", "no_such_flow")
    assert out.returncode == 2 and "no flow or deployment named 'no_such_flow'" in out.stderr
    assert "Traceback" not in out.stderr
    listed = umedata("run", "--list")
    assert listed.returncode == 0 and "build-sft-set" in listed.stdout
