"""A built wheel is whole: installed into a fresh venv outside the repo, it creates a warehouse, ingests the
bundled sample and reports its status — the SQL and prompt files it needs travel inside the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def test_wheel_installed_outside_the_repo_runs_init_ingest_status(tmp_path):
    # Built from a copy of what the package is made of, so the build leaves nothing in the checkout; no build
    # isolation: the setuptools of this environment builds it (no network needed).
    src, dist = tmp_path / "src", tmp_path / "dist"
    for part in ("umedata", "flows", "training"):
        shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, src / part)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, src])
    wheel = next(dist.glob("umedata-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("umedata/schemas/migrations/0001_") for n in names), "migrations not in the wheel"
    assert any(n.startswith("umedata/teacher/prompts/") for n in names), "prompt templates not in the wheel"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    # The wheel itself installs without its dependencies; those come from this environment's site-packages,
    # appended to the new venv's path (a .pth line is not a site dir, so the repo's editable install stays out).
    site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])

    home = tmp_path / "elsewhere"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "UMEDATA_WAREHOUSE")}
    where = run([py, "-c", "import umedata; print(umedata.__file__)"], cwd=home, env=env).stdout
    assert str(venv) in where, f"umedata imported from {where}, not the installed wheel"

    umedata = venv / "bin" / "umedata"
    db = home / "wh" / "umedata.duckdb"
    init = json.loads(run([umedata, "init", "-w", db, "-f", "json"], cwd=home, env=env).stdout)
    assert init["applied"][0] == "0001_core"
    run([umedata, "ingest", "-c", REPO / "examples" / "sample" / "sources.toml", "-w", db, "-f", "json"],
        cwd=home, env=env)
    status = json.loads(run([umedata, "status", "-w", db, "-f", "json"], cwd=home, env=env).stdout)
    rows = {t["table"]: t["rows"] for t in status["tables"]}
    assert rows["pairs"] > 1000 and rows["sides"] > 0 and rows["media"] > 0
    assert {d["dataset_name"] for d in status["datasets"]} >= {"ShapesI2T", "MovingShapesV2T", "FieldDocs"}
