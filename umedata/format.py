"""The UME-R1 conversation format: the one place both the data side and the trainer take it from.

Dependency-free on purpose (stdlib only): a GPU training image imports this module with nothing but torch and
transformers installed, and the warehouse, teacher, dataset versions and trainer all render and parse through it.

A side (query or target) is rendered as one user turn and one assistant turn:

    user      = [image | video] + "{text}\\n<disc_emb>\\n" + GEN_PROMPT
    assistant = "<think>{reasoning}</think><answer>{summary}<gen_emb>"

GEN_PROMPT itself contains "<gen_emb>", so anything that looks for the generative token must look only inside the
assistant span (the trainer's pooling does). The released UME-R1 data writes no "</answer>"; parsing accepts both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Bumped whenever the rendered bytes of a side change; dataset manifests record it and the trainer refuses a
# version whose format it does not know.
FORMAT_VERSION = "ume-r1/1"
KNOWN_FORMAT_VERSIONS = frozenset({FORMAT_VERSION})

DISC_EMB = "<disc_emb>"
GEN_EMB = "<gen_emb>"
SPECIAL_TOKENS: tuple[str, ...] = (DISC_EMB, GEN_EMB)
# Rows of the new tokens start as copies of these existing Qwen tokens (as the reference does).
INIT_FROM: dict[str, str] = {DISC_EMB: "<|object_ref_start|>", GEN_EMB: "<|object_ref_end|>"}

GEN_PROMPT = (
    "Represent the above input text, images, videos, or any combination of the three as embeddings. "
    "First output the thinking process in <think> </think> tags and then summarize the entire input in a word "
    "or sentence. Finally, use the <gen_emb> tag to represent the entire input."
)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
IM_END = "<|im_end|>"

# r_format = 1 iff this matches the completion (DOTALL), exactly as the reward defines it.
FORMAT_REGEX = re.compile(r"<think>.*?</think>.*?\s*<answer>.*?\s*<gen_emb>", re.DOTALL)

# Media placeholders other tools bake into side text; stripped at ingest, rendered as structured content here.
IMAGE_TAG = "<image>"
VIDEO_TAG = "<video>"

MODALITIES = ("text", "image", "video", "visdoc")


def user_text(text: str) -> str:
    """The text part of a side's user turn (media go before it as structured content)."""
    return f"{text}\n{DISC_EMB}\n{GEN_PROMPT}"


def assistant_text(reasoning: str, summary: str, close_answer: bool = False) -> str:
    """The assistant turn for a side; `close_answer` adds the "</answer>" the released data omits."""
    closing = ANSWER_CLOSE if close_answer else ""
    return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{ANSWER_OPEN}{summary}{closing}{GEN_EMB}"


def render_side(
    text: str,
    n_images: int = 0,
    video: bool = False,
    reasoning: str | None = None,
    summary: str | None = None,
    close_answer: bool = False,
) -> list[dict[str, Any]]:
    """Chat messages (transformers content-list style) for one side.

    Media appear as placeholders ({"type": "image"} / {"type": "video"}) in the order the side lists them; the
    caller attaches pixel data. Without reasoning and summary only the user turn is returned (a generation prompt).
    """
    if video and n_images:
        raise ValueError("a side carries either images or one video, not both")
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
    if video:
        content.append({"type": "video"})
    content.append({"type": "text", "text": user_text(text)})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if reasoning is not None or summary is not None:
        if reasoning is None or summary is None:
            raise ValueError("reasoning and summary go together")
        messages.append(
            {"role": "assistant", "content": [{"type": "text", "text": assistant_text(reasoning, summary, close_answer)}]}
        )
    return messages


@dataclass(frozen=True)
class Parsed:
    """An assistant text taken apart. `status` is "ok" or the reason it is not."""

    reasoning: str | None
    summary: str | None
    status: str
    format_ok: bool  # FORMAT_REGEX matches (the reward's notion of format)
    closed_answer: bool  # "</answer>" was present

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# Statuses a parse can end in; the warehouse quarantines anything but "ok" with this as the reason.
PARSE_STATUSES = ("ok", "empty", "no_think", "unclosed_think", "no_answer", "no_gen_emb", "empty_reasoning", "empty_summary")

_PARSE = re.compile(
    r"^\s*<think>(?P<reasoning>.*?)</think>\s*<answer>(?P<summary>.*?)(?P<close></answer>)?\s*<gen_emb>",
    re.DOTALL,
)


def parse_assistant(text: str | None) -> Parsed:
    """Split an assistant text into reasoning and summary; never raises on malformed input."""
    if text is None or not text.strip():
        return Parsed(None, None, "empty", False, False)
    text = text.replace(IM_END, "")
    format_ok = FORMAT_REGEX.search(text) is not None
    m = _PARSE.search(text)
    if m is None:
        if THINK_OPEN not in text:
            status = "no_think"
        elif THINK_CLOSE not in text:
            status = "unclosed_think"
        elif ANSWER_OPEN not in text:
            status = "no_answer"
        else:
            status = "no_gen_emb"
        return Parsed(None, None, status, format_ok, ANSWER_CLOSE in text)
    reasoning = m.group("reasoning").strip()
    summary = m.group("summary").strip()
    status = "ok" if reasoning and summary else ("empty_reasoning" if not reasoning else "empty_summary")
    return Parsed(reasoning, summary, status, format_ok, m.group("close") is not None)


def format_reward(completion: str) -> float:
    """r_format: 1.0 iff the completion matches FORMAT_REGEX."""
    return 1.0 if FORMAT_REGEX.search(completion) else 0.0


_GEN_PROMPT_LOOSE = re.compile(r"\s*".join(re.escape(w) for w in GEN_PROMPT.split()))


def strip_prompt(text: str) -> str:
    """Recover a side's own text from a rendered user turn.

    Removes media tags, the "<disc_emb>" marker and the generation prompt (matched whitespace-insensitively:
    published copies wrap it over several lines). Used by importers of data that has the prompt baked in.
    """
    text = _GEN_PROMPT_LOOSE.sub("", text)
    text = text.replace(DISC_EMB, "").replace(IMAGE_TAG, "").replace(VIDEO_TAG, "")
    return text.strip()


def check_format_version(version: str) -> None:
    """Raise if a dataset was written in a format this code does not know."""
    if version not in KNOWN_FORMAT_VERSIONS:
        raise ValueError(
            f"dataset format {version!r} is not one this code knows ({sorted(KNOWN_FORMAT_VERSIONS)}); "
            "upgrade umedata or rebuild the dataset version"
        )
