"""The annotate flow, run for real by Prefect: it annotates, reports, re-runs as a no-op, and the API key it used
(from an environment variable, or from a Prefect Secret block only the flow reads) appears nowhere — not in the
warehouse, the artifacts, the logs or the flow's parameters."""

from __future__ import annotations

import logging
import time
import uuid

import teacher_helpers as th
from openai_server import OpenAIServer, Script

# Imported at collection, not inside a test: Prefect binds its console log handler to the stderr of the moment it
# sets up logging, and a test's capfd stream is closed once that test ends (later flows would log into it).
from flows.annotate import annotate_flow


def _everything_in(wh) -> str:
    """Every value of every table, as text."""
    tables = wh.sql("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").column(0)
    return "\n".join(str(wh.sql(f'SELECT * FROM "{t}"').to_pylist()) for t in tables.to_pylist())


def test_annotate_flow_reports_reruns_for_free_and_keeps_the_key_secret(
    prefect_harness, warehouse, tmp_path, monkeypatch, caplog, capfd
):
    secret = f"sk-umedata-{uuid.uuid4().hex}"
    monkeypatch.setenv("UMEDATA_FLOW_TEACHER_KEY", secret)
    n_sides = len(th.seed(warehouse, tmp_path, n_pairs=10, images=True)["sides"])
    caplog.set_level(logging.DEBUG)
    with OpenAIServer(Script(latency_s=0.002, require_key=secret, cycle=["ok", "ok", "ok", "length"])) as srv:
        cfg = th.toml_config(tmp_path / "teacher.toml", srv.url, endpoint={"api_key_env": "UMEDATA_FLOW_TEACHER_KEY"})
        state = annotate_flow(config=str(cfg), warehouse=str(warehouse.path), return_state=True)
        summary = state.result()
        sent = srv.stats.snapshot()["total"]
        assert srv.stats.auth_failures == 0  # the key did reach the server ...
        again = annotate_flow(config=str(cfg), warehouse=str(warehouse.path))
        assert srv.stats.snapshot()["total"] == sent  # a finished flow re-runs without a request
    assert summary["status"] == "finished" and again["leased"] == 0
    assert summary["ok"] + sum(summary["bad_answers"].values()) == n_sides
    assert warehouse.sql("SELECT count(*) FROM annotations").column(0)[0].as_py() == summary["ok"]

    _assert_secret_nowhere(secret, state, warehouse, caplog, capfd, logs_with="ok, bad answers")


def _assert_secret_nowhere(secret, state, warehouse, caplog, capfd, logs_with: str) -> None:
    """The flow reported (artifacts, logs) and the key is in none of it, nor anywhere else it could have gone."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        for _ in range(50):  # logs reach the API in the background
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            if any(logs_with in log.message for log in logs):
                break
            time.sleep(0.1)
    by_key = {a.key: a for a in artifacts}
    assert {"annotate-summary", "annotate-accounting", "annotate-progress"} <= set(by_key)
    assert "finish_length" in str(by_key["annotate-summary"].data)  # error reasons are reported
    assert logs  # the run did log

    # ... and is nowhere else
    out, err = capfd.readouterr()
    places = {
        "warehouse tables": _everything_in(warehouse),
        "artifacts": "\n".join(f"{a.data} {a.description}" for a in artifacts),
        "api logs": "\n".join(log.message for log in logs),
        "captured logs": caplog.text,
        "stdout/stderr": out + err,
        "flow parameters": str(flow_run.parameters),
    }
    for where, text in places.items():
        assert secret not in text, where
    for path in warehouse.path.parent.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_annotate_flow_reads_a_secret_block_the_library_never_sees(prefect_harness, warehouse, tmp_path, caplog, capfd):
    from prefect.blocks.system import Secret

    secret = f"sk-block-{uuid.uuid4().hex}"
    block = f"umedata-test-teacher-{uuid.uuid4().hex[:8]}"
    Secret(value=secret).save(block)
    n_sides = len(th.seed(warehouse, tmp_path, n_pairs=4, images=False)["sides"])
    caplog.set_level(logging.DEBUG)
    with OpenAIServer(Script(latency_s=0.002, require_key=secret, cycle=["ok", "length"])) as srv:
        cfg = th.toml_config(tmp_path / "teacher.toml", srv.url, endpoint={"api_key_secret": block})
        state = annotate_flow(config=str(cfg), warehouse=str(warehouse.path), return_state=True)
        summary = state.result()
        assert srv.stats.auth_failures == 0  # the block's key reached the server
    assert summary["ok"] + sum(summary["bad_answers"].values()) == n_sides
    _assert_secret_nowhere(secret, state, warehouse, caplog, capfd, logs_with="ok, bad answers")
