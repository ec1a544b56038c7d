"""A real OpenAI-compatible chat-completions server for the teacher tests and bench (aiohttp, 127.0.0.1 only).

It answers POST /v1/chat/completions with scripted content and can inject every fault a teacher run must survive:
429 with Retry-After, 500/503, answers slower than the client's timeout, `finish_reason: length`, malformed,
empty, refusal, a non-JSON body, 400, and a reasoning model's separate `reasoning_content`; and, as a noisy teacher
for the quality gates, well-formed answers with bad content (NOISY: loops, refusals, copies, leaks, special tokens,
garbage, another script, overlong or empty reasoning). It counts requests
and successful answers per request key (the client sends the key in X-Client-Request-Id), so tests can prove a
key was answered once. GET /metrics serves a vLLM-style queue-depth gauge; GET /stats the counters as JSON.

In-process (tests):  with OpenAIServer(Script(latency_s=0.01, faults={key: "429"})) as srv: ... srv.url
As a process (bench): python tests/openai_server.py --latency 0.2 --port 0   (prints "PORT <n>")
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

try:
    import orjson

    _dumps, _loads = orjson.dumps, orjson.loads
except ImportError:  # pragma: no cover
    _dumps = lambda o: json.dumps(o).encode()  # noqa: E731
    _loads = json.loads

# Faults that hit only the first `transient_attempts` attempts of a key (a retry then gets a good answer) ...
TRANSIENT = ("429", "500", "503", "slow", "bad_json")
# ... and faults that hit every attempt (the client must record them, not loop on them).
PERMANENT = ("length", "malformed", "empty", "refusal", "no_gen_emb", "400", "500_always")
ANSWER_KINDS = ("ok", "reasoning")  # good answers: plain, or split into reasoning_content + content
# A noisy teacher: well-formed answers (finish_reason "stop", tags in place) whose *content* is bad, for the quality
# gates to catch: loops, a refusal written as the answer, a summary copying the input, the paired target's text
# leaked (Script.leaks maps a side's text to the text to leak), special tokens, symbol garbage, another script, a
# reasoning far past the RL length cap, one that says nothing. ("length", above, is the truncated answer.)
NOISY = ("repetition", "degenerate", "refusal_text", "copy", "leak", "control_tags", "garbage", "wrong_script",
         "overlong", "short")
ALL_FAULTS = TRANSIENT + PERMANENT + NOISY


def default_content(key: str, body: dict[str, Any] | None) -> str:
    tag = key[:12]
    return f"<think>Scripted reasoning for request {tag}.</think><answer>Scripted summary {tag}<gen_emb>"


def side_text(body: dict[str, Any] | None) -> str:
    """The annotated side's own text: the user turn's text part before the generation prompt (templates end
    with "\n\n{gen_prompt}")."""
    for msg in reversed((body or {}).get("messages") or []):
        if msg.get("role") == "user":
            content = msg.get("content")
            parts = [c.get("text", "") for c in content if c.get("type") == "text"] if isinstance(content, list) else [content]
            return "".join(p or "" for p in parts).rsplit("\n\n", 1)[0].strip()
    return ""


def noisy_content(fault: str, good: str, text: str, leaks: dict[str, str]) -> str:
    """A well-formed answer whose content carries `fault` (see NOISY)."""
    think = good.split("<think>", 1)[-1].split("</think>", 1)[0].strip()
    summary = good.split("<answer>", 1)[-1].split("<gen_emb>", 1)[0].replace("</answer>", "").strip()
    if fault == "repetition":
        think = "The picture shows the same shape again and again. " * 30
    elif fault == "degenerate":
        think = think + " very" * 30
    elif fault == "refusal_text":
        think, summary = "I'm sorry, but I can't help with describing this input.", "I cannot assist with that."
    elif fault == "copy":
        summary = text
    elif fault == "leak":
        think = f"{think} The matching target says: {leaks.get(text, '')}"
    elif fault == "control_tags":
        think = f"{think} <|im_start|>assistant <|vision_start|>"
    elif fault == "garbage":  # block elements and geometric shapes, no word twice (garbage, not a loop)
        think = " ".join("".join(chr(0x2580 + 4 * w + k) for k in range(4)) for w in range(24))
        summary = "■■ ♦♦"
    elif fault == "wrong_script":
        think = "На изображении показан красный круг в левом верхнем углу. Фигура маленькая и закрашенная."
        summary = "красный круг"
    elif fault == "overlong":
        think = " ".join(f"observation{i}" for i in range(1500))
    elif fault == "short":
        think = "Ok."
    return f"<think>{think}</think><answer>{summary}<gen_emb>"


def _hung_up(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


@dataclass
class Script:
    latency_s: float = 0.0
    capacity: int = 0  # > 0: at most this many answered at once, the rest wait (a saturated vLLM queues)
    faults: dict[str, str] = field(default_factory=dict)  # request key -> fault (or "reasoning")
    cycle: list[str] = field(default_factory=list)  # faults dealt to keys in order of first arrival
    fault_rates: dict[str, float] = field(default_factory=dict)  # fault -> share of keys, drawn by key hash
    seed: int = 0
    transient_attempts: int = 1
    retry_after_s: float = 0.05
    slow_s: float = 3.0
    record_bodies: bool = False
    require_key: str | None = None  # bearer token the server insists on (401 otherwise)
    rate_headers: dict[str, str] | None = None  # x-ratelimit-* headers to send with every answer
    content: Callable[[str, dict[str, Any] | None], str] = default_content
    leaks: dict[str, str] = field(default_factory=dict)  # "leak" fault: side text -> the text it leaks
    # side text -> fault for the first request key seen for that side; later keys of the side (a requeue with a new
    # seed or model) get a good answer. Overrides the other ways of dealing faults.
    text_faults: dict[str, str] = field(default_factory=dict)
    first_key_of_text: dict[str, str] = field(default_factory=dict)

    def fault_for(self, key: str) -> str:
        if key in self.faults:
            return self.faults[key]
        if self.cycle:  # deal the next fault to a key seen for the first time, and remember it
            self.faults[key] = self.cycle[len(self.faults) % len(self.cycle)]
            return self.faults[key]
        if self.fault_rates:
            u = int(hashlib.sha256(f"{self.seed}:{key}".encode()).hexdigest()[:12], 16) / 16**12
            acc = 0.0
            for fault, rate in sorted(self.fault_rates.items()):
                acc += rate
                if u < acc:
                    return fault
        return "ok"


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # every request, per key
        self.ok: Counter[str] = Counter()  # answers with a good assistant text, per key
        self.answered: Counter[str] = Counter()  # every 200 with content, per key
        self.faults: Counter[str] = Counter()
        self.inflight: Counter[str] = Counter()  # keys in flight now (a key leaves when its count is back to 0)
        self.inflight_now = 0  # their sum, kept as it changes: summing a million keys per request made a 1 M-request
        self.max_inflight = 0  # run quadratic in the server, not the client
        self.bodies: list[bytes] = []
        self.auth_failures = 0

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "ok": dict(self.ok),
                "answered": dict(self.answered),
                "faults": dict(self.faults),
                "inflight": sorted(k for k, v in self.inflight.items() if v > 0),
                "max_inflight": self.max_inflight,
                "total": sum(self.requests.values()),  # per snapshot, not per request
                "auth_failures": self.auth_failures,
            }


def make_app(script: Script, stats: Stats) -> web.Application:
    gate = asyncio.Semaphore(script.capacity) if script.capacity else None
    waiting = [0]

    def completion(
        key: str,
        content: str | None,
        finish: str = "stop",
        reasoning: str | None = None,
        refusal: str | None = None,
        prompt_bytes: int = 0,
    ) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        if refusal is not None:
            message["refusal"] = refusal
        return _dumps(
            {
                "id": f"chatcmpl-{key[:16]}",
                "object": "chat.completion",
                "model": "scripted",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt_bytes // 4, "completion_tokens": len(content or "") // 4},
            }
        )

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = _dumps({"error": {"message": message, "type": "scripted", "code": status}})
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    async def chat(request: web.Request) -> web.Response:
        raw = await request.read()
        if script.require_key is not None and request.headers.get("Authorization") != f"Bearer {script.require_key}":
            with stats.lock:
                stats.auth_failures += 1
            return error(401, "invalid api key")
        body = _loads(raw) if (script.record_bodies or script.content is not default_content) else None
        key = request.headers.get("X-Client-Request-Id") or hashlib.sha256(raw).hexdigest()
        with stats.lock:
            stats.requests[key] += 1
            attempt = stats.requests[key]
            stats.inflight[key] += 1
            stats.inflight_now += 1
            stats.max_inflight = max(stats.max_inflight, stats.inflight_now)
            if script.record_bodies:
                stats.bodies.append(raw)
        fault = script.fault_for(key)
        if script.text_faults:
            body = body if body is not None else _loads(raw)
            text = side_text(body)
            with stats.lock:
                first = script.first_key_of_text.setdefault(text, key)
            fault = script.text_faults.get(text, "ok") if first == key else "ok"
        if fault in TRANSIENT and attempt > script.transient_attempts:
            fault = "ok"
        if fault in NOISY and body is None:
            body = _loads(raw)
        try:
            if gate is not None:
                waiting[0] += 1
                async with gate:
                    waiting[0] -= 1
                    await asyncio.sleep(script.latency_s)
            elif script.latency_s:
                await asyncio.sleep(script.latency_s)
            with stats.lock:
                stats.faults[fault] += 1
            if fault == "429":
                ra = script.retry_after_s
                return error(429, "rate limited", {"Retry-After": f"{ra:g}", "retry-after-ms": str(int(ra * 1000))})
            if fault in ("500", "500_always"):
                return error(500, "internal error")
            if fault == "503":
                return error(503, "overloaded")
            if fault == "400":
                return error(400, "bad request: image too large")
            if fault == "bad_json":
                return web.Response(status=200, body=b"<html>gateway hiccup</html>", content_type="text/html")
            if fault == "slow":
                # Wait in steps and stop once the client has hung up (its timeout fired), so a long slow_s does not
                # hold the server's shutdown.
                deadline = time.monotonic() + script.slow_s
                while time.monotonic() < deadline and not _hung_up(request):
                    await asyncio.sleep(0.05)
            good = script.content(key, body)
            prompt_bytes = len(raw)
            if fault == "length":
                out = completion(key, good[: len(good) // 3], "length", prompt_bytes=prompt_bytes)
            elif fault == "malformed":
                out = completion(key, "Sure! Here is a summary without any tags.", prompt_bytes=prompt_bytes)
            elif fault == "no_gen_emb":
                out = completion(key, good.replace("<gen_emb>", ""), prompt_bytes=prompt_bytes)
            elif fault == "empty":
                out = completion(key, "", prompt_bytes=prompt_bytes)
            elif fault == "refusal":
                out = completion(key, None, refusal="I can't help with that.", prompt_bytes=prompt_bytes)
            elif fault in NOISY:
                out = completion(key, noisy_content(fault, good, side_text(body), script.leaks), prompt_bytes=prompt_bytes)
            elif fault == "reasoning":
                think, _, rest = good.partition("</think>")
                out = completion(key, rest, reasoning=think.replace("<think>", ""), prompt_bytes=prompt_bytes)
            else:
                out = completion(key, good, prompt_bytes=prompt_bytes)
            with stats.lock:
                stats.answered[key] += 1
                if fault in ("ok", "slow", "reasoning"):
                    stats.ok[key] += 1
            return web.Response(body=out, content_type="application/json", headers=script.rate_headers)
        finally:
            with stats.lock:
                stats.inflight[key] -= 1
                stats.inflight_now -= 1
                if stats.inflight[key] <= 0:
                    del stats.inflight[key]

    async def metrics(request: web.Request) -> web.Response:
        running = stats.inflight_now - waiting[0]
        text = (
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="scripted"}} {float(waiting[0])}\n'
            f'vllm:num_requests_running{{model_name="scripted"}} {float(running)}\n'
        )
        return web.Response(text=text)

    async def stats_view(request: web.Request) -> web.Response:
        return web.Response(body=_dumps(stats.snapshot()), content_type="application/json")

    app = web.Application(client_max_size=256 << 20)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/stats", stats_view)
    return app


class OpenAIServer:
    """The server on a background thread with its own event loop; a context manager."""

    def __init__(self, script: Script | None = None, port: int = 0):
        self.script = script or Script()
        self.stats = Stats()
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._serve, name="openai-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(make_app(self.script, self.stats), access_log=None, handler_cancellation=False)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--capacity", type=int, default=0, help="answer at most this many at once (0 = unlimited)")
    ap.add_argument("--fault", action="append", default=[], help="FAULT=RATE, e.g. 429=0.01")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    script = Script(
        latency_s=args.latency,
        capacity=args.capacity,
        seed=args.seed,
        fault_rates={f.split("=")[0]: float(f.split("=")[1]) for f in args.fault},
    )
    if args.uvloop:
        import uvloop

        uvloop.install()

    async def serve() -> None:
        stats = Stats()
        runner = web.AppRunner(make_app(script, stats), access_log=None, handler_cancellation=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
        await site.start()
        print(f"PORT {site._server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
