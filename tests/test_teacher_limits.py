"""Limits: Retry-After parsing, rate buckets and their header updates, adaptive concurrency (unit level), and
adaptive concurrency against a real server that queues like a saturated vLLM."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import teacher_helpers as th
from openai_server import OpenAIServer, Script

from umedata.teacher.limits import AdaptiveConcurrency, TokenBucket, apply_rate_headers, parse_duration, retry_after_s
from umedata.teacher.online import OnlineRun


def test_retry_after_forms():
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "2"}) == 2.0
    in_3s = retry_after_s({"retry-after": formatdate(time.time() + 3, usegmt=True)})
    assert 1.0 < in_3s <= 3.0
    assert retry_after_s({}) is None
    assert retry_after_s({"retry-after": "soon"}) is None


def test_reset_durations():
    assert parse_duration("20ms") == 0.02
    assert parse_duration("6m0s") == 360.0
    assert parse_duration("1h2m3.5s") == 3723.5
    assert parse_duration("1.5") == 1.5


def test_token_bucket_holds_its_rate():
    async def take(n: int) -> float:
        b = TokenBucket(per_minute=6000)  # 100/s, burst of one second
        t0 = time.monotonic()
        for _ in range(n):
            await b.acquire()
        return time.monotonic() - t0

    elapsed = asyncio.run(take(150))
    assert elapsed >= 0.4  # 100 from the burst, 50 more at 100/s


def test_rate_headers_lower_the_rate_and_pause():
    rpm, tpm = apply_rate_headers(
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "2s",
            "x-ratelimit-limit-tokens": "1000",
        },
        TokenBucket(600),
        None,
    )
    assert rpm.per_minute == 60
    assert rpm.paused_until > time.monotonic() + 1.0
    assert tpm is not None and tpm.per_minute == 1000  # created from the header though none was configured


def test_adaptive_concurrency_cuts_on_congestion_and_recovers():
    a = AdaptiveConcurrency(64, min_limit=2)
    now = 0.0
    for _ in range(50):
        now += 0.01
        a.on_success(0.1, now)
    assert a.capacity == 64  # steady latency: no change
    for _ in range(50):
        now += 0.5
        a.on_success(0.5, now)  # latency 5x the baseline: the server is queueing
    rising = a.capacity
    assert rising < 64
    now += 1
    a.on_overload(now)
    assert a.capacity <= rising // 2 + 1
    low = a.capacity
    for _ in range(2000):
        now += 0.01
        a.on_success(0.1, now)
    assert a.capacity > low  # back to normal latency: additive increase
    q = AdaptiveConcurrency(32, queue_target=0)
    q.on_queue_depth(5, 1.0)
    assert q.capacity < 32


def test_adaptive_concurrency_backs_off_a_queueing_server(warehouse, tmp_path):
    th.seed(warehouse, tmp_path, n_pairs=120, images=False)
    # 4 slots of 40 ms: 32 in flight means ~8x the latency; the client should settle well below 32.
    with OpenAIServer(Script(latency_s=0.04, capacity=4)) as srv:
        cfg = th.config(
            srv.url,
            max_in_flight=32,
            endpoint={"max_in_flight": 32, "metrics_url": srv.url[:-3] + "/metrics"},
            timeout_s=10,
        )
        summary = OnlineRun(warehouse, cfg).run()
    ep = summary.endpoints["local"]
    assert summary.ok == summary.pending
    assert ep["limit_cuts"] > 0
    assert ep["limit"] < 32


def test_rpm_limit_and_server_rate_headers_are_obeyed(warehouse, tmp_path):
    th.seed(warehouse, tmp_path, n_pairs=40, images=False)
    headers = {"x-ratelimit-limit-requests": "1800", "x-ratelimit-remaining-requests": "100"}
    with OpenAIServer(Script(latency_s=0.001, rate_headers=headers)) as srv:
        # configured 6000/min (a burst of 100 would let all 80 through at once); the server says 1800/min
        # (30/s, burst 30), so the requests after the first burst are paced: well over a second in all
        cfg = th.config(srv.url, endpoint={"rpm": 6000})
        t0 = time.monotonic()
        summary = OnlineRun(warehouse, cfg).run()
        elapsed = time.monotonic() - t0
    assert summary.ok == 80
    assert summary.endpoints["local"]["rpm"] == 1800
    assert elapsed >= 1.0
