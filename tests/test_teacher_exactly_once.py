"""Exactly once: a finished key is never sent again — across re-runs, reparses, parallel runs and SIGKILLs.

The server counts requests and good answers per request key, so "sent once" is checked where it matters: on the
server's side of the wire.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import teacher_helpers as th
from openai_server import OpenAIServer, Script

from umedata.format import Parsed, parse_assistant
from umedata.teacher.online import OnlineRun

REPO = Path(__file__).resolve().parent.parent


def _count(wh, sql: str) -> int:
    return wh.sql(sql).column(0)[0].as_py()


def test_rerun_of_a_finished_run_and_reparse_send_nothing(warehouse, tmp_path):
    sides = th.seed(warehouse, tmp_path, n_pairs=15, images=True)["sides"]
    with OpenAIServer(Script(latency_s=0.002)) as srv:
        cfg = th.config(srv.url)
        first = OnlineRun(warehouse, cfg).run()
        sent = srv.stats.snapshot()["total"]
        again = OnlineRun(warehouse, cfg).run()
        assert srv.stats.snapshot()["total"] == sent  # not one request
        from umedata.teacher.results import reparse

        counts = reparse(warehouse)
        assert srv.stats.snapshot()["total"] == sent
    assert first.ok == len(sides) == counts["ok"]
    assert again.pending == 0 and again.leased == 0 and again.attempts == 0
    assert _count(warehouse, "SELECT count(*) FROM annotations") == len(sides)


def _lenient(text: str | None) -> Parsed:
    """A parser that also accepts an answer missing its <gen_emb> (as a changed parser might)."""
    p = parse_assistant(text)
    if p.status == "no_gen_emb":
        return parse_assistant((text or "") + "<gen_emb>")
    return p


def test_a_changed_parser_rederives_annotations_with_zero_requests(warehouse, tmp_path):
    from umedata.teacher.results import reparse

    th.seed(warehouse, tmp_path, n_pairs=10, images=False)
    with OpenAIServer(Script(latency_s=0.001, cycle=["ok", "no_gen_emb"])) as srv:
        OnlineRun(warehouse, th.config(srv.url)).run()
        sent = srv.stats.snapshot()["total"]
        strict_ok = _count(warehouse, "SELECT count(*) FROM annotations")
        quarantined = _count(warehouse, "SELECT count(*) FROM quarantine WHERE reason = 'malformed:no_gen_emb'")
        assert strict_ok == quarantined == 10

        lenient = reparse(warehouse, parse=_lenient)
        assert lenient["changed"] == 10
        assert _count(warehouse, "SELECT count(*) FROM validated_annotations") == 20
        assert _count(warehouse, "SELECT count(*) FROM quarantine") == 0

        back = reparse(warehouse)  # and back to the strict parser
        assert back["changed"] == 10
        assert _count(warehouse, "SELECT count(*) FROM annotations") == 10
        assert _count(warehouse, "SELECT count(*) FROM quarantine WHERE reason = 'malformed:no_gen_emb'") == 10
        assert srv.stats.snapshot()["total"] == sent  # all of it without a single request


def test_a_side_shared_by_many_pairs_is_requested_once(warehouse, tmp_path):
    data = th.seed(warehouse, tmp_path, n_pairs=12, images=False, shared_target=8)
    with OpenAIServer(Script(latency_s=0.002)) as srv:
        OnlineRun(warehouse, th.config(srv.url)).run()
        stats = srv.stats.snapshot()
    assert len(data["pairs"]) == 12 and len(data["sides"]) == 12 + 5  # 12 queries, 4 own targets + 1 shared
    assert stats["total"] == len(data["sides"])
    assert set(stats["requests"].values()) == {1}


def test_in_flight_cap_holds(warehouse, tmp_path):
    th.seed(warehouse, tmp_path, n_pairs=60, images=False)
    with OpenAIServer(Script(latency_s=0.02)) as srv:
        OnlineRun(warehouse, th.config(srv.url, max_in_flight=8, endpoint={"max_in_flight": 64})).run()
        assert 1 < srv.stats.snapshot()["max_inflight"] <= 8


# -- separate processes ------------------------------------------------------------------------------------------


def _annotate_cmd(cfg_path: Path, wh_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "umedata", "annotate", "-c", str(cfg_path), "-w", str(wh_path), "--no-progress", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}


def test_two_runs_started_at_once_send_each_key_once(warehouse, tmp_path):
    sides = th.seed(warehouse, tmp_path, n_pairs=150, images=False)["sides"]
    with OpenAIServer(Script(latency_s=0.01)) as srv:
        cfg = th.toml_config(tmp_path / "t.toml", srv.url, lease_chunk=64, commit_every=64, commit_interval_s=0.2)
        procs = [
            subprocess.Popen(
                _annotate_cmd(cfg, warehouse.path, "--wait-for-leases"),
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        stats = srv.stats.snapshot()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    assert stats["total"] == len(sides)  # each key went over the wire exactly once
    assert set(stats["requests"].values()) == {1}
    assert _count(warehouse, "SELECT count(*) FROM annotations") == len(sides)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(warehouse, tmp_path):
    sides = th.seed(warehouse, tmp_path, n_pairs=200, images=False)["sides"]
    rng = random.Random(int(os.environ.get("UMEDATA_KILL_SEED", "7")))
    C, commit_every, ttl, max_gap, latency = 16, 16, 1.0, 0.3, 0.02  # short commit gaps: a small tail at risk
    allowed: set[str] = set()  # keys that were in flight (sent, not committed) at some kill
    kills = 0
    with OpenAIServer(Script(latency_s=latency)) as srv:
        cfg = th.toml_config(
            tmp_path / "t.toml",
            srv.url,
            max_in_flight=C,
            endpoint={"max_in_flight": C},
            lease_chunk=32,
            commit_every=commit_every,
            commit_interval_s=0.1,
            lease_ttl_s=ttl,
            commit_max_interval_s=max_gap,
        )
        for _ in range(3):
            before = srv.stats.snapshot()["total"]
            proc = subprocess.Popen(
                _annotate_cmd(cfg, warehouse.path), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 30
            while srv.stats.snapshot()["total"] == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)  # wait until it is sending, then kill it somewhere in the middle
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            snap = srv.stats.snapshot()
            warehouse.recover()  # what the next run does first: commit a batch sealed before the kill
            done = {
                r["request_key"]
                for r in warehouse.sql("SELECT request_key FROM teacher_requests WHERE status = 'done'").to_pylist()
            }
            allowed |= (set(snap["ok"]) - done) | set(snap["inflight"])
        # a last run after the dead runs' leases expired finishes the rest
        final = subprocess.run(
            _annotate_cmd(cfg, warehouse.path, "--wait-for-leases"), env=_env(), capture_output=True, timeout=120
        )
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        stats = srv.stats.snapshot()
    assert kills >= 1
    # nothing lost, nothing doubled
    assert _count(warehouse, "SELECT count(*) FROM annotations") == len(sides)
    assert _count(warehouse, "SELECT count(DISTINCT side_id) FROM annotations") == len(sides)
    assert _count(warehouse, "SELECT count(*) FROM teacher_requests WHERE status <> 'done'") == 0
    # a key answered twice was in flight at a kill; nothing else was ever answered twice
    twice = {k for k, n in stats["ok"].items() if n > 1}
    assert twice <= allowed, twice - allowed
