"""The record rules one annotation at a time, in plain Python: the straightforward definition of every value that
measure.py computes vectorised over pages. tests/test_checks_fast_path.py holds measure to it on crafted and random
texts; bench/checks.py times it as the per-row baseline.

    checker = PerRow(cfg, counter)                       # exact=True: patterns through the vectorised path's engine
    checker.values(record, pairs)                        # {rule: (value, detail)} for every measurable rule

`record` has the columns measure reads (reasoning, summary, format_status, text, finish_reason); `pairs` are the
record's rows of measure's `pairs` frame as dicts (target_text, qry_text, pair_id, optionally qry_media).

Choices: a character's Unicode class (letter, mark, number, punctuation, whitespace, script) is asked of the regex
engine the vectorised path uses, once per distinct character (Python's unicodedata lags it by Unicode versions and
has no scripts). The configurable patterns (refusal, control_tags) go through that engine too with `exact` (one
call per text: the definition the tests compare with), or through Python's `re` without it (the plain-Python
baseline the bench times; it differs only where the engines do: Python's \\b and \\w leave out combining marks).
Everything else (word splits, n-grams, runs, normalisation, containment, lengths, the leak's best pair) is plain
Python.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import polars as pl

from umedata.checks.config import ChecksConfig
from umedata.checks.rules import RULES
from umedata.checks.text import STRIP, WHITESPACE
from umedata.checks.tokens import TokenCounter

_SPACE_RUNS = re.compile(f"[{re.escape(WHITESPACE)}]{{2,}}|[{re.escape(WHITESPACE.replace(' ', ''))}]")


@cache
def is_class(ch: str, cls: str) -> bool:
    """Whether the one character `ch` is in the regex character class `cls` (e.g. r"\\p{L}"), as the engine says."""
    return bool(pl.Series([ch]).str.contains(f"^{cls}$").item())


def norm(text: str | None) -> str:
    """Lower case, every whitespace run as one space, STRIP characters stripped at both ends."""
    return _SPACE_RUNS.sub(" ", (text or "").lower()).strip(STRIP)


def words(normed: str) -> int:
    return normed.count(" ") + 1 if normed else 0


def _first_run(text: str, member) -> str | None:
    """The first maximal run of characters for which member(ch) holds, or None."""
    start = next((i for i, ch in enumerate(text) if member(ch)), None)
    if start is None:
        return None
    end = start
    while end < len(text) and member(text[end]):
        end += 1
    return text[start:end]


class _Engine:
    """A pattern as the vectorised path's regex engine runs it, one text at a time."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def count_first(self, text: str) -> tuple[int, str | None]:
        one = pl.Series([text])
        return int(one.str.count_matches(self.pattern).item()), one.str.extract(f"({self.pattern})", 1).item()

    def remove(self, text: str) -> str:
        return pl.Series([text]).str.replace_all(self.pattern, "").item()


class _Python:
    """A pattern through Python's re."""

    def __init__(self, pattern: str):
        self.re = re.compile(pattern)

    def count_first(self, text: str) -> tuple[int, str | None]:
        found = [m.group(0) for m in self.re.finditer(text)]
        return len(found), found[0] if found else None

    def remove(self, text: str) -> str:
        return self.re.sub("", text)


class PerRow:
    def __init__(self, cfg: ChecksConfig, counter: TokenCounter | None, *, exact: bool = True):
        self.cfg, self.counter = cfg, counter
        p = {name: cfg.rules[name].params for name in RULES}
        kind = _Engine if exact else _Python
        self.refusal = kind("(?i)(?:" + "|".join(f"(?:{x})" for x in p["refusal"]["patterns"]) + ")")
        self.tags = kind(str(p["control_tags"]["pattern"]))
        self.n = int(p["repetition"]["n"])
        self.media_queries = bool(p["leak"]["media_queries"])
        allowed = "[" + "".join(rf"\p{{{x}}}" for x in p["wrong_script"]["scripts"]) + "]"
        # Symbols, control and replacement characters: not letters, marks, digits, punctuation or whitespace.
        self.garbage = cache(lambda ch: not (is_class(ch, r"[\p{L}\p{M}\p{N}\p{P}]") or ch in WHITESPACE))
        self.foreign = cache(lambda ch: is_class(ch, r"\p{L}") and not is_class(ch, allowed))
        self.enabled = [name for name in RULES if cfg.enabled(name)]

    def values(self, record: dict[str, Any], pairs: list[dict[str, Any]]) -> dict[str, tuple[float | None, str | None]]:
        """Every rule the config can measure, for one annotation: {rule: (value, detail)}."""
        reasoning, summary = record.get("reasoning"), record.get("summary")
        status = record.get("format_status")
        out: dict[str, tuple[float | None, str | None]] = {
            "format": (float(status == "ok"), None if status == "ok" else status)}
        if reasoning is None and summary is None:  # did not parse: the format verdict is all there is
            return {name: out.get(name, (None, None)) for name in self.enabled}
        r, s = reasoning or "", summary or ""
        full = r + "\n" + s
        if self.counter is not None:
            rt = float(len(self.counter.tok.encode(r, add_special_tokens=False).ids))
            st = float(len(self.counter.tok.encode(s, add_special_tokens=False).ids))
            out.update({"empty_reasoning": (rt, None), "long_reasoning": (rt, None), "short_summary": (st, None),
                        "long_summary": (st, None)})
        ws = [w for w in r.split(" ") if w]
        grams = [tuple(ws[i:i + self.n]) for i in range(len(ws) - self.n + 1)]
        out["repetition"] = (1.0 - len(set(grams)) / len(grams) if grams else 0.0, None)
        run = best = 0
        for i, w in enumerate(ws):
            run = run + 1 if i and w == ws[i - 1] else 1
            best = max(best, run)
        out["token_run"] = (float(best), None)
        count, first = self.refusal.count_first(full)
        out["refusal"] = (float(count), first)
        out["truncated"] = (float(record.get("finish_reason") == "length"), None)
        sn, tn = norm(summary), norm(record.get("text"))
        out["summary_copy"] = (float(words(sn)) if sn and sn in tn else 0.0, None)
        leak: tuple[int, str] | None = None
        for pair in pairs:
            if not self.media_queries and (pair.get("qry_media") or 0) != 0:
                continue
            t = norm(pair["target_text"])
            if t and (t in norm(reasoning) or t in sn) and t not in norm(pair["qry_text"]):
                here = (words(t), pair["pair_id"])
                if leak is None or here[0] > leak[0] or (here[0] == leak[0] and here[1] < leak[1]):
                    leak = here
        out["leak"] = (float(leak[0]), leak[1]) if leak else (0.0, None)
        count, first = self.tags.count_first(full)
        out["control_tags"] = (float(count), first)
        length = len(full)
        clean = self.tags.remove(full)  # tags are the control_tags rule's business
        out["garbage"] = (sum(map(self.garbage, clean)) / length if length else 0.0,
                          (_first_run(clean, self.garbage) or "")[:20] or None)
        out["wrong_script"] = (sum(map(self.foreign, full)) / length if length else 0.0,
                               (_first_run(full, self.foreign) or "")[:20] or None)
        return {name: out[name] for name in self.enabled}
