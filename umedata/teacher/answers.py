"""Judging a chat-completion response: usable annotation, or a bad answer with its reason.

Parsing goes through umedata.format only. Bad answers are recorded as such (quarantine with the reason), never
dropped: `finish_length` (truncated), `refusal`, `content_filter`, `empty`, `malformed:<parse status>`,
`bad_response` (no choices). A reasoning teacher may return its thinking in a separate `reasoning_content` (or
`reasoning`) field with only the answer in `content`; the two are joined back into one assistant text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from umedata.format import THINK_CLOSE, THINK_OPEN, Parsed, parse_assistant

Parser = Callable[[str | None], Parsed]


@dataclass(slots=True)
class Verdict:
    outcome: str
    text: str | None  # the assistant text the annotation's `raw` keeps
    parsed: Parsed | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def detail(self, limit: int = 300) -> str:
        text = self.text or ""
        return f"finish_reason={self.finish_reason}; text={text[:limit]!r}"


def assistant_text(content: str | None, reasoning: str | None) -> str:
    """One assistant text from `content` and an optional separate reasoning field."""
    content = content or ""
    if reasoning and reasoning.strip() and THINK_OPEN not in content:
        return f"{THINK_OPEN}{reasoning.strip()}{THINK_CLOSE}{content.lstrip()}"
    return content


def usage_of(body: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = body.get("usage") or {}
    return usage.get("prompt_tokens"), usage.get("completion_tokens")


def judge(body: dict[str, Any], parse: Parser = parse_assistant) -> Verdict:
    pt, ct = usage_of(body)
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return Verdict("bad_response", None, None, None, pt, ct)
    choice = choices[0]
    finish = choice.get("finish_reason")
    msg = choice.get("message") or {}
    text = assistant_text(msg.get("content"), msg.get("reasoning_content") or msg.get("reasoning"))
    if msg.get("refusal"):
        return Verdict("refusal", msg["refusal"], None, finish, pt, ct)
    if finish == "content_filter":
        return Verdict("content_filter", text, None, finish, pt, ct)
    if finish == "length":
        return Verdict("finish_length", text, parse(text), finish, pt, ct)
    parsed = parse(text)
    if parsed.status == "empty":
        return Verdict("empty", text, parsed, finish, pt, ct)
    if not parsed.ok:
        return Verdict(f"malformed:{parsed.status}", text, parsed, finish, pt, ct)
    return Verdict("ok", text, parsed, finish, pt, ct)
