"""Every deployment of prefect.yaml deploys to a real local Prefect server (`prefect deploy --all` from the clone),
and one runs through a worker of its pool: the way users run umedata as scheduled deployments."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from umedata.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "prefect", *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"prefect {' '.join(args)}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.slow
def test_deploy_all_to_a_local_server_and_run_one_through_a_worker(tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "UMEDATA_HOME": str(REPO),
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"}
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the Prefect server did not start"
            time.sleep(1)
        for pool in ("umedata-data", "umedata-gpu"):
            prefect(env, "work-pool", "create", pool, "--type", "process")
        prefect(env, "--no-prompt", "deploy", "--all", timeout=600)
        expected = {(d["entrypoint"], d["name"]) for d in yaml.safe_load((REPO / "prefect.yaml").read_text())
                    ["deployments"]}
        listed = prefect(env, "deployment", "ls").stdout
        for _entry, name in expected:
            assert name in listed, f"deployment {name} not on the server:\n{listed}"

        # One real run through a worker of its pool: ingest a small source into a fresh warehouse.
        src = tmp_path / "src"
        src.mkdir()
        (src / "pairs.jsonl").write_text("".join(json.dumps({"q": f"query {i}", "t": f"target {i}"}) + "\n"
                                                 for i in range(20)))
        (src / "sources.toml").write_text(
            '[[source]]\nname = "tiny"\nlayout = "generic"\nroot = "."\n[[source.datasets]]\nname = "Tiny"\n'
            'path = "pairs.jsonl"\nmodality = "text"\ntask = "retrieval"\ncolumns = { qry = "q", pos = "t" }\n')
        wh = tmp_path / "w.duckdb"
        prefect(env, "deployment", "run", "ingest/ingest", "--param", f"config={src / 'sources.toml'}",
                "--param", f"warehouse={wh}")
        prefect(env, "worker", "start", "--pool", "umedata-data", "--run-once", timeout=600)
        runs = prefect(env, "flow-run", "ls").stdout
        assert "COMPLETED" in runs, runs
        assert Warehouse(wh).sql("SELECT count(*) AS n FROM pairs").column("n")[0].as_py() == 20
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
