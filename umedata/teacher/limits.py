"""Limits on how hard a run pushes an endpoint: retries, rate limits, adaptive concurrency.

- Retries: tenacity (exponential backoff with jitter, stop after max_attempts), with a wait that honours the
  server's Retry-After / retry-after-ms when it sends one. Only errors marked retryable are retried.
- RPM/TPM: token buckets per endpoint; the OpenAI-style x-ratelimit-* response headers lower the configured rate
  to what the server says and pause the bucket until the server's reset when it reports nothing left.
- Adaptive concurrency (AIMD): the in-flight limit of an endpoint grows by one per window of successes and is cut
  multiplicatively on 429/503/timeouts, on latency rising well above its baseline, and on a vLLM server's queue
  depth. A saturated vLLM queues requests instead of answering 429, so latency and queue depth are the signals
  that matter there.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

# -- retries ---------------------------------------------------------------------------------------------------


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, else Retry-After (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class wait_retry_after(wait_base):
    """Wait what the server asked for (plus a little jitter), else fall back to exponential backoff + jitter."""

    def __init__(self, fallback: wait_base, max_wait: float):
        self.fallback = fallback
        self.max_wait = max_wait

    def __call__(self, retry_state) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return min(self.max_wait, asked * (1.0 + 0.1 * random.random()))
        return self.fallback(retry_state)


def first_retry_delay(exc: BaseException, initial_s: float, max_s: float) -> float:
    """The wait before the second attempt: what the server asked for, else the policy's first backoff step."""
    asked = getattr(exc, "retry_after", None)
    if asked is not None:
        return min(max_s, asked * (1.0 + 0.1 * random.random()))
    return min(max_s, initial_s + random.uniform(0, initial_s))


def retry_policy(max_attempts: int, initial_s: float, max_s: float) -> AsyncRetrying:
    """A tenacity policy for one request; call `.copy()` per request (tenacity keeps per-call state on it)."""
    return AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=wait_retry_after(wait_exponential_jitter(initial=initial_s, max=max_s, jitter=initial_s), max_s),
        retry=retry_if_exception(lambda e: bool(getattr(e, "retryable", False))),
        reraise=True,
    )


# -- rate limits -----------------------------------------------------------------------------------------------


class TokenBucket:
    """`per_minute` units per minute, bursting up to one second's worth (or one request's need, if larger).

    A request needing more than the burst waits until the bucket is full and then takes its whole need,
    leaving the bucket in debt, so the long-run rate holds whatever the request sizes.
    """

    def __init__(self, per_minute: float, burst_s: float = 1.0):
        self.burst_s = burst_s
        self.set_rate(per_minute)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.paused_until = 0.0

    def set_rate(self, per_minute: float) -> None:
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.capacity = max(1.0, self.rate * self.burst_s)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        self.tokens = min(self.tokens, 0.0)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, n: float = 1.0) -> None:
        while True:
            now = time.monotonic()
            if self.paused_until > now:
                await asyncio.sleep(self.paused_until - now)
                continue
            self._refill(now)
            need = min(n, self.capacity)
            if self.tokens >= need:
                self.tokens -= n
                return
            await asyncio.sleep((need - self.tokens) / self.rate)


_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<u>ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """OpenAI's reset durations: "20ms", "1s", "6m0s", "1h2m3.5s"."""
    if not text:
        return None
    parts = _DURATION.findall(text)
    if not parts:
        try:
            return float(text)
        except ValueError:
            return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def apply_rate_headers(headers: Mapping[str, str], rpm: TokenBucket | None, tpm: TokenBucket | None):
    """Lower the buckets to the server's stated limits and pause them when it reports none left.

    Returns the (rpm, tpm) buckets, created when the server states a limit and none was configured.
    """
    for kind in ("requests", "tokens"):
        limit = headers.get(f"x-ratelimit-limit-{kind}")
        if limit is None:
            continue
        try:
            limit_v = float(limit)
        except ValueError:
            continue
        bucket = rpm if kind == "requests" else tpm
        if bucket is None:
            bucket = TokenBucket(limit_v)
        elif limit_v < bucket.per_minute:
            bucket.set_rate(limit_v)
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        if remaining is not None and remaining.strip() in ("0", "0.0"):
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
            if reset:
                bucket.pause(reset)
        if kind == "requests":
            rpm = bucket
        else:
            tpm = bucket
    return rpm, tpm


# -- adaptive concurrency --------------------------------------------------------------------------------------


class AdaptiveConcurrency:
    """AIMD in-flight limit for one endpoint: +1 per `limit` successes, x`decrease` on congestion signals.

    Congestion: an overload answer (429, 503, timeout: cut by `overload_decrease`), a short-term latency average
    above `tolerance` x the baseline (the lowest latency seen, drifting up slowly so a real change of request mix
    is accepted), or a server queue deeper than `queue_target`. Cuts happen at most once per current latency, so
    one burst of slow answers counts once.
    """

    def __init__(
        self,
        max_limit: int,
        *,
        min_limit: int = 1,
        tolerance: float = 2.0,
        decrease: float = 0.9,
        overload_decrease: float = 0.5,
        queue_target: int = 0,
        enabled: bool = True,
    ):
        self.max_limit = max(1, int(max_limit))
        self.min_limit = max(1, min(int(min_limit), self.max_limit))
        self.tolerance = tolerance
        self.decrease = decrease
        self.overload_decrease = overload_decrease
        self.queue_target = queue_target
        self.enabled = enabled
        self.limit = float(self.max_limit)
        self.baseline: float | None = None
        self.short: float | None = None
        self.samples = 0
        self.cuts = 0
        self._last_cut = 0.0

    @property
    def capacity(self) -> int:
        return int(self.limit) if self.enabled else self.max_limit

    def _cut(self, factor: float, now: float) -> None:
        if now - self._last_cut < (self.short or 0.05):
            return
        self._last_cut = now
        self.limit = max(float(self.min_limit), self.limit * factor)
        self.cuts += 1

    def on_success(self, latency_s: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.samples += 1
        self.short = latency_s if self.short is None else self.short + 0.1 * (latency_s - self.short)
        if self.baseline is None or latency_s < self.baseline:
            self.baseline = latency_s
        else:
            self.baseline += 0.001 * (latency_s - self.baseline)
        if self.samples > 10 and self.short > self.tolerance * max(self.baseline, 1e-3):
            self._cut(self.decrease, now)
        elif self.limit < self.max_limit:
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)

    def on_overload(self, now: float | None = None) -> None:
        self._cut(self.overload_decrease, time.monotonic() if now is None else now)

    def on_queue_depth(self, waiting: float, now: float | None = None) -> None:
        if waiting > self.queue_target:
            self._cut(self.decrease, time.monotonic() if now is None else now)
