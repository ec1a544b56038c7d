"""The offline stand-in: a consumer that composes reasoning and summary from the side's own pixels and text,
deterministically, instead of asking a model.

    summary = OfflineRun(Warehouse(), load_config(None, backend="offline")).run()

For the demo and tests only. Its model name always starts with "offline" (config enforces it) and every reasoning
it writes says it is a template ("(Offline template.)"), so its rows cannot pass for a real teacher's. Nothing
leaves the machine, so it may annotate sources that forbid external teachers. It takes its requests from the same
producer (leases) as a real run and keeps the same books (judged with umedata.format, where its answers parse as
ok); composing an answer is computation, not waiting, so it runs synchronously, one leased chunk at a time.

What it writes is informative the way a real teacher's reasoning is, and it looks ONLY at the side it annotates
(its media files and its text; never the paired side, its label or how the data was generated):
  * an image: the shapes, colours and places it measures in the pixels (umedata/teacher/offline_sight.py), or
    the dominant colours of a picture that is no plain drawing; a question in the side's text about counts,
    colours or places is answered from those measurements;
  * a video: what moves across the frames, which way, and where;
  * a document page: the words printed on it (read in Pillow's bitmap font), else how many lines it holds;
  * text: the text itself, and the content after an instruction ("Find an image that matches: <content>").
The summary is the one-line gist: the answer to the question, else what the media show, else the text's content.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from umedata.format import ANSWER_CLOSE, ANSWER_OPEN, DISC_EMB, GEN_EMB, IM_END, THINK_CLOSE, THINK_OPEN, assistant_text
from umedata.teacher import offline_sight as sight
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.producer import Producer
from umedata.teacher.run import RecordedRun, RunOptions, RunSummary, Selection
from umedata.warehouse import Warehouse

_TOKENS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE, GEN_EMB, DISC_EMB, IM_END)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
MARK = "(Offline template.)"
_HOW_MANY = re.compile(r"how many (?:(\w+) )?(circle|square|triangle|rectangle|shape)s?\b", re.I)
_COLOUR_OF = re.compile(r"what colou?r is the (circle|square|triangle|rectangle)\b", re.I)
_SHAPE_AT = re.compile(r"what shape is (?:at|in|on) the ([a-z ]+?)\s*\?", re.I)


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


def content_of(text: str) -> str:
    """What a text is about: the part after an instruction's colon ("Find an image that matches: a red circle"),
    else the text itself."""
    head, sep, tail = text.rpartition(":")
    if sep and tail.strip() and len(head.split()) <= 14 and not head.rstrip().endswith(tuple("0123456789")):
        return tail.strip()
    return text


def answer(question: str, scene: sight.Scene) -> str | None:
    """A question about counts, colours or places, answered from the measured scene (None: not one of those)."""
    if not scene.clear:
        return None
    m = _HOW_MANY.search(question)
    if m:
        colour, shape = (m.group(1) or "").lower(), m.group(2).lower()
        colour = colour if colour in sight.BASIC_COLOURS else ""
        return str(sum(1 for b in scene.blobs
                       if (not colour or b.colour == colour) and (shape == "shape" or b.shape == shape)))
    m = _COLOUR_OF.search(question)
    if m:
        found = [b for b in scene.blobs if b.shape == m.group(1).lower()]
        return found[0].colour if len(found) == 1 else None
    m = _SHAPE_AT.search(question)
    if m:
        words = m.group(1).lower().split()
        row = next((i for i, r in enumerate(sight.ROWS) if r in words), 1)
        col = next((i for i, c in enumerate(sight.COLS) if c in words or (c == "center" and "centre" in words)), 1)
        found = [b for b in scene.blobs if (b.row, b.col) == (row, col)]
        return found[0].shape if found else None
    return None


def _look(req: PreparedRequest) -> tuple[list[str], str | None, sight.Scene | None]:
    """(sentences about the media, the media's one-line gist, the scene of a single picture)."""
    paths = [m.path for m in req.media if m.path]
    kinds = [m.kind for m in req.media]
    if not paths:
        return [], None, None
    try:
        if req.modality == "video" or "frame" in kinds:
            mo = sight.motion(paths)
            said = f"A video of {req.n_frames or len(paths)} frames"
            if mo.subject is None:
                said += " with no clear object in it."
            elif mo.direction is None:
                said += f": {mo.caption()} in every frame."
            else:
                said += (f": one {mo.subject.colour} {mo.subject.shape} in the {mo.band} band, a little further "
                         f"{mo.direction} in each frame, so it moves {mo.direction}.")
            return [said], mo.caption(), None
        if req.modality == "visdoc" or "page" in kinds:
            said, gist = [], []
            for p in paths:
                lines, seen = sight.read_lines(p)
                if lines:
                    said.append(f"A document page of {seen} lines: " + "; ".join(lines) + ".")
                    gist += lines
                elif seen:
                    said.append(f"A document page of {seen} lines in a font I cannot read.")
                else:
                    said.append("A blank document page.")
            words = " ".join(gist).split()
            return said, (" ".join(words[:30]) if words else "a document page"), None
        scenes = [sight.scene(p) for p in paths]
    except (OSError, ValueError):  # a file that cannot be read: say what is known without it
        return [], None, None
    said = []
    for k, sc in enumerate(scenes):
        which = "A" if len(scenes) == 1 else f"Picture {k + 1}: a"
        if not sc.clear:
            said.append(f"{which} {sc.width}x{sc.height} picture, mostly "
                        + sight._and([f"{c} ({round(100 * v)}%)" for c, v in sc.dominant[:3]]) + ".")
        elif not sc.blobs:
            said.append(f"{which} plain {sc.background} {sc.width}x{sc.height} picture.")
        else:
            n = len(sc.blobs)
            said.append(f"{which} {sc.width}x{sc.height} picture on {sc.background} with {n} "
                        f"shape{'s' if n > 1 else ''}: {sc.caption()}.")
    gist = "; ".join(sc.caption() for sc in scenes)
    return said, gist, scenes[0] if len(scenes) == 1 else None


def compose(req: PreparedRequest) -> tuple[str, str]:
    """(reasoning, summary) for one side, from nothing but that side: its media files and its text."""
    text = _clean(req.text)
    said, gist, scene = _look(req)
    parts = said or ([f"This {req.modality} input contains {_media_phrase(req)}."] if req.media else [])
    content = content_of(text) if text else ""
    reply = answer(content, scene) if content and scene is not None else None
    if reply is not None:
        parts.append(f'It asks: "{content}" From the picture, the answer is {reply}.')
    elif text and (not said or content != text):  # a text side, or media with a request about something
        quoted = text if len(text) <= 300 else text[:297] + "..."
        parts.append(f'The text says: "{quoted}"' + ("" if quoted[-1] in ".!?" else "."))
    elif not text and not req.media:
        parts.append(f"This {req.modality} input is empty.")
    parts.append(MARK)
    if reply is not None:
        summary = reply
    elif gist:
        summary = gist
    elif text:
        first = _SENTENCE.split(content, maxsplit=1)[0]
        words = first.split()
        summary = " ".join(words[:20]) + ("..." if len(words) > 20 else "")
    else:
        summary = f"A {req.modality} input with {_media_phrase(req)}." if req.media else f"An empty {req.modality} input."
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


class OfflineRun(RecordedRun):
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
