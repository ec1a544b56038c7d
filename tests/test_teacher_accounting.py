"""Accounting: tokens, latency, attempts and cost per request, rolled up per run and model by the views."""

from __future__ import annotations

import pytest
import teacher_helpers as th
from openai_server import OpenAIServer, Script

from umedata.teacher.online import OnlineRun

PRICE = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}


def test_cost_tokens_and_attempts_are_recorded_and_rolled_up(warehouse, tmp_path):
    th.seed(warehouse, tmp_path, n_pairs=12, images=True)
    with OpenAIServer(Script(latency_s=0.005, cycle=["ok", "ok", "429", "length", "500_always"])) as srv:
        cfg = th.config(srv.url, prices={"test-teacher": PRICE}, max_attempts=2)
        s1 = OnlineRun(warehouse, cfg).run()
    reqs = warehouse.sql("SELECT * FROM teacher_requests").to_pylist()
    for r in reqs:
        assert r["attempts"] >= 1 and r["elapsed_ms"] is not None
        if r["status"] == "done":  # answered: tokens from the response's usage, cost from the price table
            assert r["prompt_tokens"] > 0 and r["latency_ms"] > 0
            expected = (
                r["prompt_tokens"] * PRICE["input_per_mtok"] + r["completion_tokens"] * PRICE["output_per_mtok"]
            ) / 1e6
            assert r["cost_usd"] == pytest.approx(expected)
        else:  # never answered: nothing to pay
            assert r["cost_usd"] is None
    run = warehouse.sql("SELECT * FROM teacher_run_summary WHERE run_id = $run_id", {"run_id": s1.run_id}).to_pylist()
    assert len(run) == 1
    run = run[0]
    done = [r for r in reqs if r["status"] == "done"]
    assert run["requests"] == len(reqs)
    assert run["ok"] == s1.ok
    assert run["bad_answers"] == sum(s1.bad_answers.values())
    assert run["failed"] == sum(s1.failed.values())
    assert run["attempts"] == sum(r["attempts"] for r in reqs) == s1.attempts
    assert run["prompt_tokens"] == sum(r["prompt_tokens"] for r in done) == s1.prompt_tokens
    assert run["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in done)) == pytest.approx(s1.cost_usd, abs=1e-6)
    model = warehouse.sql("SELECT * FROM teacher_model_summary").to_pylist()
    assert sum(m["finished"] for m in model) == len(reqs)
    outcomes = {
        (o["status"], o["reason"]): o["n"] for o in warehouse.sql("SELECT * FROM teacher_outcomes").to_pylist()
    }
    assert outcomes[("done", "finish_length")] == s1.bad_answers["finish_length"]
    assert outcomes[("failed", "http_500")] == s1.failed["http_500"]
    # the run record keeps the config it ran with (no secrets in it) and its counts
    rec = warehouse.sql("SELECT status, counts, config FROM teacher_runs WHERE run_id = $run_id", {"run_id": s1.run_id}).to_pylist()[
        0
    ]
    assert rec["status"] == "finished" and '"ok"' in rec["counts"] and "local" in rec["config"]
