"""What every eval-set layout reads into: queries, each with its candidates (its own list, or the set's corpus) and
its graded relevant items, still as text and media references (umedata/evals/ingest.py resolves them).

    read_eval_set(spec) -> RawEvalSet

Side text is cleaned the way train text is: media placeholders (`<|image_1|>`, `<|video_1|>`, `<image>`,
`<video>`) are removed and the ends trimmed; the UME-R1 blank image marks a text-only side. A row that cannot be
read becomes a problem (what, reason, detail) that ingest quarantines; its neighbours are read on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from umedata.errors import FileError
from umedata.sources.eval_config import EvalSetSpec

_PLACEHOLDERS = re.compile(r"<\|(?:image|video)_\d+\|>|<image>|<video>")


def clean_text(text: object) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise TypeError(f"text is {type(text).__name__}, not a string")
    return _PLACEHOLDERS.sub("", text).strip()


@dataclass(frozen=True)
class RawSide:
    text: str
    images: tuple[str, ...] = ()  # references under the set's root (`doc.pdf#page=2` names a page)
    frames: tuple[str, ...] = ()  # the frames of one video, in order


@dataclass
class RawQuery:
    query_id: str
    where: str  # file:row or file:id, for quarantine
    side: RawSide
    candidates: list[RawSide] | None  # None: the set's corpus
    relevant: dict[int | str, int]  # candidate index (own list) or corpus doc id -> grade > 0


@dataclass
class RawEvalSet:
    queries: list[RawQuery] = field(default_factory=list)
    corpus: dict[str, RawSide] | None = None  # doc id -> side (BEIR)
    corpus_where: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (what, reason, detail)
    skipped: dict[str, int] = field(default_factory=dict)  # what was left out on purpose, and how often

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def read_eval_set(spec: EvalSetSpec) -> RawEvalSet:
    """The layout's reader for `spec`; raises FileError when the file (or folder) itself cannot be read."""
    from umedata.sources.eval_beir import read_beir
    from umedata.sources.eval_mmeb import read_candidate_lists

    if spec.layout == "beir":
        return read_beir(spec)
    if spec.layout in ("mmeb_eval", "video_eval"):
        return read_candidate_lists(spec)
    raise FileError("unknown_layout", f"{spec.layout}")
