"""The offline stand-in: a consumer that composes reasoning and summary from the side's own text and metadata,
deterministically, instead of asking a model.

    summary = OfflineRun(Warehouse(), load_config(None, backend="offline")).run()

For the demo and tests only. Its model name always starts with "offline" (config enforces it) and every reasoning
it writes says it is a template, so its rows cannot pass for a real teacher's. Nothing leaves the machine, so it
may annotate sources that forbid external teachers. It takes its requests from the same producer (leases) as a
real run and keeps the same books (judged with umedata.format, where its answers parse as ok); composing an
answer is computation, not waiting, so it runs synchronously, one leased chunk at a time.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from umedata.format import ANSWER_CLOSE, ANSWER_OPEN, DISC_EMB, GEN_EMB, IM_END, THINK_CLOSE, THINK_OPEN, assistant_text
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.producer import Producer
from umedata.teacher.run import RunOptions, RunSummary, Selection
from umedata.warehouse import Warehouse

_TOKENS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE, GEN_EMB, DISC_EMB, IM_END)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _clean(text: str) -> str:
    for t in _TOKENS:
        text = text.replace(t, " ")
    return " ".join(text.split())


def _media_phrase(req: PreparedRequest) -> str:
    kinds = [m.kind for m in req.media]
    if not kinds:
        return ""
    if req.modality == "video" or "frame" in kinds:
        return f"a video of {req.n_frames or len(kinds)} frames, {len(kinds)} of them shown"
    if req.modality == "visdoc" or "page" in kinds:
        return f"{len(kinds)} document page{'s' if len(kinds) > 1 else ''}"
    sizes = [f"{m.width}x{m.height}" for m in req.media if m.width and m.height]
    n = len(kinds)
    what = "one image" if n == 1 else f"{n} images"
    return f"{what} ({', '.join(sizes)} pixels)" if sizes else what


def compose(req: PreparedRequest) -> tuple[str, str]:
    """(reasoning, summary) for one side, from nothing but that side."""
    text = _clean(req.text)
    media = _media_phrase(req)
    parts = [f"This {req.modality} input contains {media}." if media else f"This is a {req.modality} input."]
    if text:
        quoted = text if len(text) <= 300 else text[:297] + "..."
        parts.append(f'Its text reads: "{quoted}".')
        terms = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:8]
        if terms:
            parts.append("Key terms: " + ", ".join(terms) + ".")
    else:
        parts.append("It has no text, so its content is carried by the media alone.")
    parts.append("(Offline template, not a model's reasoning.)")
    if text:
        first = _SENTENCE.split(text, maxsplit=1)[0]
        words = first.split()
        summary = " ".join(words[:20]) + ("..." if len(words) > 20 else "")
    else:
        summary = f"A {req.modality} input with {media}." if media else f"An empty {req.modality} input."
    return " ".join(parts), summary


def reply_body(req: PreparedRequest, model: str) -> dict[str, Any]:
    """A chat-completion body, as a server would send it, carrying the composed answer."""
    reasoning, summary = compose(req)
    content = assistant_text(reasoning, summary)
    return {
        "id": f"offline-{req.key[:16]}",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": len(req.messages_json) // 4, "completion_tokens": len(content) // 4},
    }


class OfflineRun:
    """One run of the stand-in (backend "offline"): claims chunks, answers them, commits every `commit_every`
    results or `commit_interval_s` seconds."""

    def __init__(self, wh: Warehouse, cfg: TeacherConfig, selection: Selection | None = None,
                 options: RunOptions | None = None):
        if cfg.backend != "offline":
            raise ValueError("OfflineRun needs a config with backend = 'offline'")
        opts = options or RunOptions()
        self.cfg = cfg
        self.record = opts.record(wh, cfg, selection)
        self.producer = Producer(self.record, wait_for_leases=opts.wait_for_leases, retry_failed=opts.retry_failed,
                                 spill_dir=opts.spill_dir)

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def progress(self) -> dict[str, Any]:
        return self.record.progress()

    def run(self) -> RunSummary:
        record, producer, cfg = self.record, self.producer, self.cfg
        with record.running(), producer:
            producer.spill()
            last_commit = last_beat = time.monotonic()
            for claim in producer.claims():
                for item in claim.unsendable:
                    record.unsendable(item)
                for item in claim.requests:
                    t0 = time.perf_counter()
                    body = reply_body(item, cfg.model)
                    raw = json.dumps(body, ensure_ascii=False)
                    elapsed = time.perf_counter() - t0
                    record.done(record.meta(item), body, raw, endpoint="offline", attempts=1, latency_s=elapsed,
                                elapsed_s=elapsed)
                now = time.monotonic()
                if len(record.buffer) >= cfg.commit_every or now - last_commit >= cfg.commit_interval_s:
                    record.commit()
                    last_commit = now
                if now - last_beat >= producer.lease_ttl_s / 3:  # chunks still claimed wait in the buffer
                    producer.heartbeat()
                    last_beat = now
                record.report_progress()
            record.commit()
            record.summary.endpoints = {"offline": {"answered": record.answered}}
        return record.summary
