"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM, SGLang, OpenAI, ...).

Several endpoints may be listed; each request goes to the least-loaded endpoint it is allowed to use (a side
whose sources forbid external teachers only ever goes to endpoints marked self_hosted). Per endpoint: an
adaptive in-flight limit, optional RPM/TPM buckets fed by x-ratelimit-* headers, a pause honouring Retry-After,
and (for vLLM) its queue depth from /metrics. Each request is retried by tenacity on retryable errors.

Two transports speak the same wire format. `aiohttp` is a lean path (one pooled aiohttp session, orjson bodies):
on 2 cores the client's CPU per request, not the network, bounds throughput, and this path is the one that
reaches the throughput goal. `sdk` goes through the official `openai` client (over its aiohttp transport), for
providers whose quirks the SDK handles; both return the raw body, which is what the warehouse stores.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from typing import Any

import aiohttp
from tenacity import stop_after_attempt

from umedata.teacher.accounting import estimate_tokens
from umedata.teacher.backends.base import (
    FATAL_STATUS,
    OVERLOAD_STATUS,
    RETRYABLE_STATUS,
    Answer,
    FatalEndpointError,
    Reply,
    TransportError,
)
from umedata.teacher.backends.inline import DataUrlCache, inline_media
from umedata.teacher.config import EndpointConfig, TeacherConfig
from umedata.teacher.credentials import SecretLoader, redact, resolve_api_key
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.limits import (
    AdaptiveConcurrency,
    TokenBucket,
    apply_rate_headers,
    first_retry_delay,
    retry_after_s,
    retry_policy,
)

try:  # orjson ships with Prefect; the stdlib is the fallback
    import orjson

    _dumps = orjson.dumps
    _loads = orjson.loads
except ImportError:  # pragma: no cover
    import json

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")

    _loads = json.loads

REQUEST_ID_HEADER = "X-Client-Request-Id"  # the request key, for server-side tracing and de-duplication


def classify(status: int, raw: bytes, headers, latency_s: float) -> Reply:
    """A Reply for a usable 200, else the TransportError that says why not."""
    if status == 200:
        try:
            body = _loads(raw)
        except ValueError as exc:
            raise TransportError("bad_response", f"body is not JSON ({exc})", status=status) from None
        if not isinstance(body, dict):
            raise TransportError("bad_response", "body is not a JSON object", status=status)
        return Reply(body, raw.decode("utf-8", "replace"), latency_s, status, headers)
    detail = redact(raw[:300].decode("utf-8", "replace")) or ""
    err = TransportError(
        f"http_{status}",
        detail,
        status=status,
        retryable=status in RETRYABLE_STATUS,
        retry_after=retry_after_s(headers),
        overload=status in OVERLOAD_STATUS,
    )
    err.fatal = status in FATAL_STATUS  # type: ignore[attr-defined]
    raise err


class AiohttpTransport:
    def __init__(self, cfg: EndpointConfig, api_key: str | None, timeout_s: float, max_connections: int):
        self.url = f"{cfg.base_url}/chat/completions"
        self.metrics_url = cfg.metrics_url
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.headers = {"Content-Type": "application/json", **cfg.headers}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300),
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def post(self, payload: dict[str, Any], key: str) -> Reply:
        body = _dumps(payload)
        t0 = time.perf_counter()
        try:
            async with self.session.post(self.url, data=body, headers={REQUEST_ID_HEADER: key}) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except TimeoutError:
            raise TransportError("timeout", f"no answer within {self.timeout_s:g}s", overload=True) from None
        except aiohttp.ClientError as exc:
            raise TransportError("connection", redact(f"{type(exc).__name__}: {exc}") or "") from None
        return classify(status, raw, headers, time.perf_counter() - t0)

    async def get_text(self, url: str) -> str:
        async with self.session.get(url, headers={"Accept": "text/plain"}) as resp:
            return await resp.text()


class SdkTransport:
    """The official client (max_retries=0: tenacity retries, so every attempt is counted and limited here)."""

    def __init__(self, cfg: EndpointConfig, api_key: str | None, timeout_s: float, max_connections: int):
        self.cfg = cfg
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.metrics_url = cfg.metrics_url
        self.client = None
        self._aux: AiohttpTransport | None = None

    async def start(self) -> None:
        from openai import AsyncOpenAI, DefaultAioHttpClient

        self.client = AsyncOpenAI(
            base_url=self.cfg.base_url,
            api_key=self.api_key or "unused",
            max_retries=0,
            timeout=self.timeout_s,
            default_headers=self.cfg.headers or None,
            http_client=DefaultAioHttpClient(),
        )
        if self.metrics_url:
            self._aux = AiohttpTransport(self.cfg, None, 10.0, 2)
            await self._aux.start()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._aux is not None:
            await self._aux.close()

    async def post(self, payload: dict[str, Any], key: str) -> Reply:
        import openai

        extra = dict(payload)
        model, messages = extra.pop("model"), extra.pop("messages")
        t0 = time.perf_counter()
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                model=model, messages=messages, extra_body=extra, extra_headers={REQUEST_ID_HEADER: key}
            )
        except openai.APITimeoutError:
            raise TransportError("timeout", f"no answer within {self.timeout_s:g}s", overload=True) from None
        except openai.APIStatusError as exc:
            return classify(exc.status_code, exc.response.content, exc.response.headers, time.perf_counter() - t0)
        except openai.APIConnectionError as exc:
            raise TransportError("connection", redact(f"{type(exc).__name__}: {exc}") or "") from None
        http = raw.http_response
        return classify(http.status_code, http.content, http.headers, time.perf_counter() - t0)

    async def get_text(self, url: str) -> str:
        return await self._aux.get_text(url)


_WAITING = re.compile(r"^vllm:num_requests_waiting(?:\{[^}]*\})?\s+([0-9.eE+-]+)", re.MULTILINE)


class Endpoint:
    def __init__(self, cfg: EndpointConfig, tcfg: TeacherConfig, secret_loader: SecretLoader | None = None):
        self.cfg = cfg
        self.name = cfg.name
        self.wire_model = cfg.served_model or tcfg.model
        a = tcfg.adaptive
        self.adaptive = AdaptiveConcurrency(
            min(cfg.max_in_flight, tcfg.max_in_flight),
            min_limit=a.min_limit,
            tolerance=a.latency_tolerance,
            decrease=a.decrease,
            overload_decrease=a.overload_decrease,
            queue_target=a.queue_target,
            enabled=a.enabled,
        )
        self.rpm = TokenBucket(cfg.rpm) if cfg.rpm else None
        self.tpm = TokenBucket(cfg.tpm) if cfg.tpm else None
        key = resolve_api_key(cfg, secret_loader)
        kind = AiohttpTransport if cfg.transport == "aiohttp" else SdkTransport
        self.transport = kind(cfg, key, tcfg.timeout_s, self.adaptive.max_limit + 8)
        self.inflight = 0
        self.max_inflight_seen = 0
        self.paused_until = 0.0
        self.requests = 0
        self.ok = 0
        self.errors: dict[str, int] = {}

    def on_reply(self, reply: Reply) -> None:
        self.ok += 1
        self.adaptive.on_success(reply.latency_s)
        h = reply.headers
        if h is not None and ("x-ratelimit-limit-requests" in h or "x-ratelimit-limit-tokens" in h):
            self.rpm, self.tpm = apply_rate_headers(h, self.rpm, self.tpm)

    def on_error(self, err: TransportError) -> float:
        """Count it, back off; returns how long the endpoint is paused (0 if not)."""
        self.errors[err.kind] = self.errors.get(err.kind, 0) + 1
        if err.overload:
            self.adaptive.on_overload()
        if err.retry_after:
            self.paused_until = max(self.paused_until, time.monotonic() + err.retry_after)
            return err.retry_after
        return 0.0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "limit": self.adaptive.capacity,
            "limit_cuts": self.adaptive.cuts,
            "max_in_flight_seen": self.max_inflight_seen,
            "rpm": self.rpm.per_minute if self.rpm else None,
            "tpm": self.tpm.per_minute if self.tpm else None,
        }


class EndpointPool:
    """Hands out a slot on the least-loaded eligible endpoint; waiters are woken FIFO as slots free up."""

    def __init__(self, endpoints: list[Endpoint]):
        self.endpoints = endpoints
        self._waiters: deque[tuple[asyncio.Future, tuple[Endpoint, ...]]] = deque()

    def _pick(self, eligible: tuple[Endpoint, ...]) -> Endpoint | None:
        best, best_load = None, 2.0
        now = time.monotonic()
        for ep in eligible:
            if ep.paused_until > now:
                continue
            cap = ep.adaptive.capacity
            if ep.inflight < cap:
                load = ep.inflight / cap
                if load < best_load:
                    best, best_load = ep, load
        return best

    async def acquire(self, eligible: tuple[Endpoint, ...]) -> Endpoint:
        ep = self._pick(eligible)
        while ep is None:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            self._waiters.append((fut, eligible))
            paused = [e.paused_until for e in eligible if e.paused_until > time.monotonic()]
            if paused:  # nothing frees a paused endpoint but time
                loop.call_at(loop.time() + (min(paused) - time.monotonic()) + 0.001, self.wake_all)
            await fut
            ep = self._pick(eligible)
        ep.inflight += 1
        ep.requests += 1
        if ep.inflight > ep.max_inflight_seen:
            ep.max_inflight_seen = ep.inflight
        return ep

    def release(self, ep: Endpoint) -> None:
        ep.inflight -= 1
        for i, (fut, eligible) in enumerate(self._waiters):
            if fut.done():
                continue
            if ep in eligible:
                fut.set_result(None)
                del self._waiters[i]
                break
        while self._waiters and self._waiters[0][0].done():
            self._waiters.popleft()

    def wake_all(self) -> None:
        while self._waiters:
            fut, _ = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)


class OpenAIBackend:
    name = "openai"

    def __init__(self, cfg: TeacherConfig, secret_loader: SecretLoader | None = None):
        self.cfg = cfg
        self.endpoints = [Endpoint(e, cfg, secret_loader) for e in cfg.endpoints]
        self.all = tuple(self.endpoints)
        self.self_hosted = tuple(e for e in self.endpoints if e.cfg.self_hosted)
        self.pool = EndpointPool(self.endpoints)
        self.retrying = retry_policy(cfg.max_attempts, cfg.backoff_initial_s, cfg.backoff_max_s)
        self.workers = min(cfg.max_in_flight, sum(e.adaptive.max_limit for e in self.endpoints))
        self.media_cache = DataUrlCache()
        self.uses_tpm = any(e.tpm for e in self.endpoints)
        self._tasks: list[asyncio.Task] = []

    def eligible(self, request: PreparedRequest) -> bool:
        return bool(self.all if request.external_ok else self.self_hosted)

    async def start(self) -> None:
        for ep in self.endpoints:
            await ep.transport.start()
            if ep.cfg.metrics_url:
                self._tasks.append(asyncio.create_task(self._watch_queue(ep)))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for ep in self.endpoints:
            await ep.transport.close()

    async def _watch_queue(self, ep: Endpoint, every_s: float = 1.0) -> None:
        """Poll a vLLM server's queue depth: it queues rather than refusing, so this is its overload signal."""
        while True:
            await asyncio.sleep(every_s)
            try:
                text = await ep.transport.get_text(ep.cfg.metrics_url)
            except Exception:  # metrics are advisory; a failed poll changes nothing
                continue
            waiting = sum(float(v) for v in _WAITING.findall(text))
            ep.adaptive.on_queue_depth(waiting)

    async def _payload(self, req: PreparedRequest, model: str) -> dict[str, Any]:
        if req.media:
            loop = asyncio.get_running_loop()
            messages = await loop.run_in_executor(None, inline_media, req, self.cfg.media.max_pixels, self.media_cache)
        else:
            messages = req.messages
        return {"model": model, "messages": messages, **self.cfg.params}

    async def answer(self, req: PreparedRequest) -> Answer:
        eligible = self.all if req.external_ok else self.self_hosted
        t0 = time.perf_counter()
        attempts = 0
        used: list[Endpoint] = []
        payloads: dict[str, dict[str, Any]] = {}
        tokens = estimate_tokens(req, self.cfg) if self.uses_tpm else 0

        async def once() -> Reply:
            nonlocal attempts
            attempts += 1
            ep = await self.pool.acquire(eligible)
            used.append(ep)
            try:
                payload = payloads.get(ep.wire_model)
                if payload is None:
                    payload = payloads[ep.wire_model] = await self._payload(req, ep.wire_model)
                if ep.rpm is not None:
                    await ep.rpm.acquire(1)
                if ep.tpm is not None:
                    await ep.tpm.acquire(tokens)
                reply = await ep.transport.post(payload, req.key)
            except TransportError as err:
                paused_s = ep.on_error(err)
                self.pool.release(ep)
                if paused_s:  # requests waiting for this endpoint are woken when its pause ends
                    asyncio.get_running_loop().call_later(paused_s, self.pool.wake_all)
                raise
            except BaseException:
                self.pool.release(ep)
                raise
            self.pool.release(ep)
            ep.on_reply(reply)
            return reply

        try:
            try:
                # The first attempt runs outside tenacity: its per-call bookkeeping costs about a tenth of the
                # client's CPU budget at 1,000 requests/s, and most requests succeed first time.
                reply = await once()
            except TransportError as first:
                if not first.retryable or self.cfg.max_attempts <= 1:
                    raise
                delay = first_retry_delay(first, self.cfg.backoff_initial_s, self.cfg.backoff_max_s)

                async def after_wait() -> Reply:
                    nonlocal delay
                    if delay:
                        await asyncio.sleep(delay)
                        delay = 0.0
                    return await once()

                reply = await self.retrying.copy(stop=stop_after_attempt(self.cfg.max_attempts - 1))(after_wait)
        except TransportError as err:
            if getattr(err, "fatal", False):
                raise FatalEndpointError(f"endpoint {used[-1].name if used else '?'} refused the run: {err}") from None
            return Answer(None, err, attempts, used[-1].name if used else None, time.perf_counter() - t0)
        return Answer(reply, None, attempts, used[-1].name, time.perf_counter() - t0)

    def stats(self) -> dict[str, Any]:
        return {ep.name: ep.stats() for ep in self.endpoints}
