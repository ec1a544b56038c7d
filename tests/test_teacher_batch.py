"""The Batch API path: request files split at the API's limits, keys held while exported, results imported once."""

from __future__ import annotations

import json

import teacher_helpers as th
from openai_server import OpenAIServer, Script

from umedata.teacher.batch import export_batch, import_batch
from umedata.teacher.config import TeacherConfig
from umedata.teacher.online import OnlineRun

PRICE = {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "batch_discount": 0.5}


def _cfg(**batch) -> TeacherConfig:
    return TeacherConfig.from_dict(
        {
            "backend": "batch",
            "model": "gpt-test",
            "params": {"temperature": 0.0, "max_tokens": 256, "seed": 0},
            "batch": batch,
            "prices": {"gpt-test": PRICE},
        }
    )


def _lines(files) -> list[dict]:
    return [json.loads(line) for f in files for line in open(f.path, encoding="utf-8")]


def test_export_splits_at_the_request_limit_and_holds_the_keys(warehouse, tmp_path):
    n_sides = len(th.seed(warehouse, tmp_path, n_pairs=10, images=True)["sides"])
    summary, files = export_batch(warehouse, _cfg(max_requests_per_file=7), out_dir=tmp_path / "out")
    assert [f.n_requests for f in files] == [7, 7, 6]
    lines = _lines(files)
    assert len({ln["custom_id"] for ln in lines}) == n_sides == summary["leased"]
    assert all(ln["method"] == "POST" and ln["url"] == "/v1/chat/completions" for ln in lines)
    assert any("data:image/png;base64," in json.dumps(ln["body"]) for ln in lines)  # the file carries the bytes ...
    stored = warehouse.sql("SELECT status, messages::VARCHAR AS m FROM teacher_requests").to_pylist()
    assert {r["status"] for r in stored} == {"exported"}
    assert not any("base64" in r["m"] for r in stored)  # ... the warehouse only their hashes
    assert not list((tmp_path / "out").glob("*.partial"))
    recorded = warehouse.sql("SELECT path, run_id, n_requests, sha256 FROM teacher_batch_files ORDER BY path").to_pylist()
    assert [(r["path"], r["n_requests"], r["sha256"]) for r in recorded] == [(f.path, f.n_requests, f.sha256) for f in files]
    assert {r["run_id"] for r in recorded} == {summary["run_id"]}
    # while exported, an online run with the same request keys sends none of them
    with OpenAIServer(Script()) as srv:
        cfg = th.config(srv.url, model="gpt-test", params={"temperature": 0.0, "max_tokens": 256, "seed": 0})
        online = OnlineRun(warehouse, cfg).run()
        assert srv.stats.snapshot()["total"] == 0
    assert online.leased == 0 and online.leased_elsewhere == n_sides


def test_export_splits_at_the_byte_limit(warehouse, tmp_path):
    th.seed(warehouse, tmp_path, n_pairs=6, images=False)
    limit = 4000  # two or so requests per file
    summary, files = export_batch(warehouse, _cfg(max_bytes_per_file=limit), out_dir=tmp_path / "out")
    assert len(files) > 1
    assert all(f.bytes <= limit for f in files)
    assert sum(f.n_requests for f in files) == summary["leased"] == 12


def _result_lines(request_lines: list[dict]) -> list[str]:
    """What the Batch API would return: good answers, one truncated, one error line, one HTTP 500."""
    out = []
    for i, req in enumerate(request_lines):
        key = req["custom_id"]
        content = f"<think>batch reasoning {i}</think><answer>batch summary {i}<gen_emb>"
        finish = "length" if i == 0 else "stop"
        body = {
            "id": f"cmpl-{i}",
            "object": "chat.completion",
            "model": "gpt-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 100 + i, "completion_tokens": 20 + i},
        }
        if i == 1:
            line = {
                "id": f"r{i}",
                "custom_id": key,
                "response": None,
                "error": {"code": "server_error", "message": "x"},
            }
        elif i == 2:
            line = {
                "id": f"r{i}",
                "custom_id": key,
                "response": {"status_code": 500, "body": {"error": {"message": "x"}}},
                "error": None,
            }
        else:
            line = {"id": f"r{i}", "custom_id": key, "response": {"status_code": 200, "body": body}, "error": None}
        out.append(json.dumps(line))
    return out


def test_import_judges_each_answer_once_at_the_batch_price(warehouse, tmp_path):
    n_sides = len(th.seed(warehouse, tmp_path, n_pairs=5, images=False)["sides"])
    cfg = _cfg()
    _, files = export_batch(warehouse, cfg, out_dir=tmp_path / "out")
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(_result_lines(_lines(files))) + "\n")

    first = import_batch(warehouse, cfg, [results])
    assert first.ok == n_sides - 3
    assert first.bad_answers == {"finish_length": 1}
    assert sum(first.failed.values()) == 2
    rows = warehouse.sql("SELECT * FROM teacher_requests WHERE status = 'done'").to_pylist()
    for r in rows:  # half price, from the price table
        expected = (
            (r["prompt_tokens"] * PRICE["input_per_mtok"] + r["completion_tokens"] * PRICE["output_per_mtok"])
            / 1e6
            * 0.5
        )
        assert abs(r["cost_usd"] - expected) < 1e-12
    failed = warehouse.sql("SELECT retryable FROM teacher_requests WHERE status = 'failed'").column(0).to_pylist()
    assert failed == [True, True]  # a later export or online run retries them

    before = warehouse.sql("SELECT count(*) FROM annotations").column(0)[0].as_py()
    again = import_batch(warehouse, cfg, [results])
    assert again.ok == 0 and again.already_done == n_sides - 2
    assert warehouse.sql("SELECT count(*) FROM annotations").column(0)[0].as_py() == before
    assert warehouse.sql("SELECT count(*) FROM teacher_requests WHERE status = 'exported'").column(0)[0].as_py() == 0
