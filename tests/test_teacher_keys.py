"""Request keys and leases: what names a request, and how runs claim keys without ever sharing one."""

from __future__ import annotations

import json
import time

from umedata.teacher import keys
from umedata.teacher.config import TeacherConfig
from umedata.teacher.prompts import Templates


def _row(text="a red square", media=None, modality="image", pv=None):
    t = Templates().for_modality(modality)
    info = [
        {
            "sha256": m,
            "kind": "image",
            "path": f"/m/{m}.png",
            "width": 4,
            "height": 4,
            "frame_paths": None,
            "frame_hashes": None,
        }
        for m in (media if media is not None else ["a" * 64])
    ]
    return {
        "side_id": keys.stable_json([text, media]),
        "text": text,
        "modality": modality,
        "source": "src",
        "external_ok": True,
        "prompt_version": pv or t.version,
        "media_info": info,
    }, t


def _key(cfg: TeacherConfig, model: str = "m", **row_kw) -> str:
    row, t = _row(**row_kw)
    kp = cfg.key_params()
    return keys.prepare(row, t, model, kp, keys.stable_json(kp)).key


def test_request_key_changes_with_what_the_teacher_sees_only():
    base = TeacherConfig(backend="offline", params={"temperature": 0.6, "seed": 0})
    k = _key(base)
    assert _key(base) == k
    assert _key(base, model="other") != k
    assert _key(base, text="a blue square") != k
    assert _key(base, media=["b" * 64]) != k
    assert _key(base, pv="image-0000") != k
    assert _key(TeacherConfig(backend="offline", params={"temperature": 0.6, "seed": 1})) != k
    assert (
        _key(TeacherConfig(backend="offline", params={"temperature": 0.6, "seed": 0}, media={"max_pixels": 1000})) != k
    )
    # how it is sent is not part of it
    assert (
        _key(
            TeacherConfig(
                backend="offline", params={"temperature": 0.6, "seed": 0}, max_in_flight=3, timeout_s=5, lease_ttl_s=1
            )
        )
        == k
    )


def test_stored_messages_reference_media_by_hash():
    row, t = _row(media=["c" * 64])
    cfg = TeacherConfig(backend="offline")
    kp = cfg.key_params()
    req = keys.prepare(row, t, "m", kp, keys.stable_json(kp))
    assert "sha256:" + "c" * 64 in req.messages_json
    assert "base64" not in req.messages_json and "/m/" not in req.messages_json


def test_video_frames_are_sampled_evenly():
    assert keys.sample_frames(3, 8) == [0, 1, 2]
    picked = keys.sample_frames(100, 5)
    assert picked[0] == 0 and picked[-1] == 99 and len(picked) == 5


def _items(n: int) -> list[keys.PreparedRequest]:
    cfg = TeacherConfig(backend="offline")
    kp = cfg.key_params()
    out = []
    for i in range(n):
        row, t = _row(text=f"side {i}", media=[])
        out.append(keys.prepare(row, t, "m", kp, keys.stable_json(kp)))
    return out


def _lease(wh, items, owner, ttl=30.0):
    with wh.transaction() as con:
        return keys.lease(
            con,
            items,
            owner=owner,
            ttl_s=ttl,
            model="m",
            backend="offline",
            key_params_json=keys.stable_json(TeacherConfig(backend="offline").key_params()),
        )


def test_a_leased_key_belongs_to_one_run_until_it_expires(warehouse):
    items = _items(6)
    a = _lease(warehouse, items[:4], "run-a", ttl=1.0)
    b = _lease(warehouse, items, "run-b", ttl=30)
    assert a == {i.key for i in items[:4]}
    assert b == {i.key for i in items[4:]}  # only what nobody holds
    time.sleep(1.1)
    c = _lease(warehouse, items, "run-c")
    assert c == a  # run-a's leases expired (it "crashed"); run-b's are still live


def _live(wh, run_id: str, alive_s: float = 60.0) -> None:
    """A run that has started (and so selected its keys): live until alive_s from now."""
    from datetime import datetime

    from umedata import tables

    row = {"run_id": run_id, "backend": "offline", "model": "m", "status": "running", "started_at": datetime(2026, 1, 1)}
    wh.commit_tables({"teacher_runs": tables.rows("teacher_runs", [row])})
    with wh.transaction() as con:
        keys.heartbeat(con, run_id, alive_s)


def _finish(wh, items, run_id: str) -> dict[str, int]:
    """Land results the way a run does (ResultBuffer -> results.commit): the first key done, the second failed
    (retryable), the third failed for good; returns the rows landed per table."""
    from umedata.teacher.answers import judge
    from umedata.teacher.backends.base import TransportError
    from umedata.teacher.results import KeyMeta, ResultBuffer, commit

    buf = ResultBuffer()
    meta = [KeyMeta(i.key, i.side_id, i.source, "m", i.prompt_version) for i in items]
    body = {"choices": [{"message": {"content": "<think>r</think><answer>s<gen_emb>"}, "finish_reason": "stop"}]}
    buf.done(meta[0], raw="{}", verdict=judge(body), run_id=run_id, backend="offline", endpoint=None, attempts=1,
             cost_usd=None, latency_ms=None, elapsed_ms=None)
    buf.failed(meta[1], error=TransportError("http_503", "busy", status=503, retryable=True), run_id=run_id,
               endpoint=None, attempts=1, elapsed_ms=1.0)
    buf.failed(meta[2], error=TransportError("http_400", "bad", status=400, retryable=False), run_id=run_id,
               endpoint=None, attempts=1, elapsed_ms=1.0)
    return commit(wh, buf)


def test_a_done_key_is_never_leased_again(warehouse):
    items = _items(3)
    _lease(warehouse, items, "run-a", ttl=0.05)
    _live(warehouse, "run-b")  # run-b selected these keys while run-a held them
    assert _finish(warehouse, items, "run-a")["teacher_requests"] == 3
    time.sleep(0.1)
    assert _lease(warehouse, items, "run-b") == {items[1].key}  # only the retryable failure comes back
    # the done key left the open table as a tombstone, kept while run-b lives; it goes once run-b ends
    assert warehouse.sql("SELECT status FROM teacher_requests_open WHERE request_key = $k",
                         {"k": items[0].key}).column(0).to_pylist() == ["done"]
    with warehouse.transaction() as con:
        keys.release(con, "run-b")
    assert warehouse.sql("SELECT count(*) FROM teacher_requests_open WHERE status = 'done'").column(0)[0].as_py() == 0
    assert warehouse.sql("SELECT status FROM teacher_requests WHERE request_key = $k",
                         {"k": items[0].key}).column(0).to_pylist() == ["done"]  # one row per key, through the view


def test_a_landed_key_keeps_what_its_lease_recorded(warehouse):
    """teacher_finish.sql lands a done key with the lease-time columns of its open row (the request as sent) and
    the result columns of its answer, whatever route each takes through the statement."""
    items = _items(3)
    _lease(warehouse, items, "run-a")
    leased = {r["request_key"]: r for r in warehouse.sql("SELECT * FROM teacher_requests_open").to_pylist()}
    _finish(warehouse, items, "run-a")
    done = warehouse.sql("SELECT * FROM teacher_requests_done").to_pylist()
    assert [r["request_key"] for r in done] == [items[0].key]
    row, lease = done[0], leased[items[0].key]
    for col in ("side_id", "source", "model", "prompt_version", "params_hash", "backend", "messages", "params",
                "created_at"):
        assert row[col] == lease[col] and row[col] is not None, col
    assert json.loads(row["messages"]) == json.loads(items[0].messages_json)
    assert (row["status"], row["outcome"], row["run_id"], row["attempts"]) == ("done", "ok", "run-a", 1)


def test_an_answer_lands_only_for_the_run_that_holds_the_key(warehouse):
    """A lease that expired and was taken over: the old holder's late answer does not land, the new one's does."""
    items = _items(3)
    _lease(warehouse, items, "run-a", ttl=0.05)
    time.sleep(0.1)
    assert _lease(warehouse, items, "run-b") == {i.key for i in items}
    late = _finish(warehouse, items, "run-a")
    assert late.get("teacher_requests", 0) == 0 and late.get("annotations", 0) == 0 and late.get("quarantine", 0) == 0
    assert warehouse.sql("SELECT count(*) FROM annotations").column(0)[0].as_py() == 0
    assert _finish(warehouse, items, "run-b") == {"teacher_requests": 3, "teacher_responses": 1, "annotations": 1,
                                                    "quarantine": 2}
    again = _finish(warehouse, items, "run-b")  # the same answers once more (a batch staged twice): nothing lands
    assert again.get("teacher_requests", 0) == 0 and again.get("annotations", 0) == 0
    rows = warehouse.sql("SELECT request_key, status, retryable FROM teacher_requests ORDER BY request_key").to_pylist()
    assert sorted((r["status"], r["retryable"]) for r in rows) == [("done", None), ("failed", False), ("failed", True)]


def test_heartbeat_keeps_and_release_gives_back(warehouse):
    items = _items(2)
    _lease(warehouse, items, "run-a", ttl=1.0)
    with warehouse.transaction() as con:
        keys.heartbeat(con, "run-a", 30)
    time.sleep(1.1)
    assert _lease(warehouse, items, "run-b") == set()  # kept alive
    with warehouse.transaction() as con:
        keys.release(con, "run-a")
    assert _lease(warehouse, items, "run-b") == {i.key for i in items}


def _land(wh, items, run_id: str) -> None:
    """Land every item as done, the way a run's result commit does."""
    from umedata.teacher.answers import judge
    from umedata.teacher.results import KeyMeta, ResultBuffer, commit

    buf = ResultBuffer()
    body = {"choices": [{"message": {"content": "<think>r</think><answer>s<gen_emb>"}, "finish_reason": "stop"}]}
    for i in items:
        buf.done(KeyMeta(i.key, i.side_id, i.source, "m", i.prompt_version), raw="{}", verdict=judge(body),
                 run_id=run_id, backend="offline", endpoint=None, attempts=1, cost_usd=None, latency_ms=None,
                 elapsed_ms=None)
    commit(wh, buf)


def test_a_commit_lets_go_of_its_rows_and_lands_at_most_max_keys_keys_a_transaction(warehouse, monkeypatch):
    """results.commit stages the buffer and empties it before DuckDB commits and checkpoints (the client's peak), so
    the rows are then only in the staged shards. Past max_keys keys it commits one transaction per max_keys keys,
    each with every row of its keys (an unsendable side's quarantine row with the first), and all of them land."""
    from umedata.teacher.answers import judge
    from umedata.teacher.backends.base import TransportError
    from umedata.teacher.results import KeyMeta, ResultBuffer, commit
    from umedata.warehouse import Warehouse

    items = _items(6)
    _lease(warehouse, items[:5], "run-a")
    buf = ResultBuffer()
    good = {"choices": [{"message": {"content": "<think>r</think><answer>s<gen_emb>"}, "finish_reason": "stop"}]}
    bad = {"choices": [{"message": {"content": "no tags"}, "finish_reason": "stop"}]}
    meta = [KeyMeta(i.key, i.side_id, i.source, "m", i.prompt_version) for i in items]
    for k, body in ((0, good), (1, bad), (3, good), (4, good)):
        buf.done(meta[k], raw="{}", verdict=judge(body), run_id="run-a", backend="offline", endpoint=None,
                 attempts=1, cost_usd=None, latency_ms=None, elapsed_ms=None)
    buf.failed(meta[2], error=TransportError("http_400", "bad", status=400, retryable=False), run_id="run-a",
               endpoint=None, attempts=1, elapsed_ms=1.0)
    buf.quarantine_row(items[5].source, items[5].key, "missing_media", "side never sent")  # no request row
    held, landed = [], []
    real_commit = Warehouse.commit

    def spy(self, batch):
        held.append(len(buf) + len(buf.responses) + len(buf.annotations))
        counts = real_commit(self, batch)
        landed.append(counts)
        return counts

    monkeypatch.setattr(Warehouse, "commit", spy)
    counts = commit(warehouse, buf, max_keys=2)
    assert held == [0, 0, 0] and buf.empty
    assert [c["teacher_requests"] for c in landed] == [2, 2, 1]
    assert landed[0]["quarantine"] == 2  # key 1's bad answer and the unsendable side
    assert counts == {"teacher_requests": 5, "teacher_responses": 4, "annotations": 3, "quarantine": 3}
    q = warehouse.sql("SELECT what, reason FROM quarantine ORDER BY what").to_pylist()
    assert {(r["what"], r["reason"]) for r in q} == {
        (items[1].key, "malformed:no_think"), (items[2].key, "http_400"), (items[5].key, "missing_media")}
    ann = warehouse.sql("SELECT request_key FROM annotations").column(0).to_pylist()
    assert sorted(ann) == sorted(items[k].key for k in (0, 3, 4))


def test_the_open_table_keeps_what_is_in_flight_not_every_key_ever_leased(warehouse):
    """Keys leave teacher_requests_open out of order (a slow answer stays behind) while new ones arrive; the rows
    they leave must be reclaimed, or every lease and commit re-compresses them when it closes the file and the
    client's memory grows with the number of requests made (0011). duckdb_tables().estimated_size counts the rows
    stored, deleted ones included."""
    items = _items(6000)
    chunk, previous, slow = 500, [], []
    for c in range(0, len(items), chunk):
        leased = items[c:c + chunk]
        _lease(warehouse, leased, "run-a")  # the next chunk is leased before the last one is answered
        if previous:
            _land(warehouse, previous[1:], "run-a")
            slow.append(previous[0])  # one answer per chunk comes back late
        if len(slow) == 4:
            _land(warehouse, slow[:2], "run-a")
            slow = slow[2:]
        previous = leased
    live = warehouse.sql("SELECT count(*) FROM teacher_requests_open").column(0)[0].as_py()
    stored = warehouse.sql("SELECT estimated_size FROM duckdb_tables() WHERE table_name = 'teacher_requests_open'"
                           ).column(0)[0].as_py()
    assert live == chunk + len(slow)
    assert stored <= 3 * chunk, f"{stored} rows stored for {live} live"
