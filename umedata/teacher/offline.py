"""The offline stand-in: composes reasoning and summary from the side's own text and metadata, deterministically.

For the demo and tests only. Its model name always starts with "offline" (config enforces it) and every reasoning
it writes says it is a template, so its rows cannot pass for a real teacher's. Nothing leaves the machine, so it
may annotate sources that forbid external teachers. Its answers go through the same lease/commit/parse path as a
real backend's and parse as ok with umedata.format.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from umedata.format import ANSWER_CLOSE, ANSWER_OPEN, DISC_EMB, GEN_EMB, IM_END, THINK_CLOSE, THINK_OPEN, assistant_text
from umedata.teacher.backends.base import Answer, Reply
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest

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


class OfflineBackend:
    name = "offline"

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        self.workers = 1  # answers are computed synchronously; more workers would only add switching
        self.answered = 0

    def eligible(self, request: PreparedRequest) -> bool:
        return True  # nothing leaves the machine

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def reply_for(self, req: PreparedRequest) -> Reply:
        t0 = time.perf_counter()
        reasoning, summary = compose(req)
        content = assistant_text(reasoning, summary)
        body: dict[str, Any] = {
            "id": f"offline-{req.key[:16]}",
            "object": "chat.completion",
            "model": self.cfg.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(req.messages_json) // 4, "completion_tokens": len(content) // 4},
        }
        self.answered += 1
        return Reply(body=body, raw=json.dumps(body, ensure_ascii=False), latency_s=time.perf_counter() - t0)

    async def answer(self, request: PreparedRequest) -> Answer:
        t0 = time.perf_counter()
        reply = self.reply_for(request)
        return Answer(reply, None, 1, "offline", time.perf_counter() - t0)

    def stats(self) -> dict[str, Any]:
        return {"offline": {"answered": self.answered}}
