"""The record rules one annotation at a time, in plain Python: the straightforward definition of every value that
measure.py computes vectorised over pages. tests/test_checks_fast_path.py holds measure to it on crafted and random
texts; bench/checks.py times it as the per-row baseline.

    got = per_row.values(record, pairs, cfg, counter)    # {rule: (value, detail)} for every measurable rule

`record` has the columns measure reads (reasoning, summary, format_status, text, finish_reason); `pairs` are the
record's rows of measure's `pairs` frame as dicts (target_text, qry_text, pair_id, optionally qry_media).

Choices: the configurable patterns (refusal, control_tags) and a character's Unicode class (letter, mark, number,
punctuation, whitespace, script) are asked of the regex engine the vectorised path uses, a pattern once per text and
a class once per distinct character: Python's `re` differs from it (its \b and \w leave out combining marks, its
\s takes in \x1c-\x1f) and its unicodedata lags it by Unicode versions and has no scripts. Everything else (word
splits, n-grams, runs, normalisation, containment, lengths, the leak's best pair) is plain Python.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import polars as pl

from umedata.checks.config import ChecksConfig
from umedata.checks.rules import RULES
from umedata.checks.text import STRIP, WHITESPACE
from umedata.checks.tokens import TokenCounter

_SPACE_RUNS = re.compile(f"[{re.escape(WHITESPACE)}]{{2,}}|[{re.escape(WHITESPACE.replace(' ', ''))}]")


@lru_cache(maxsize=None)
def is_class(ch: str, cls: str) -> bool:
    """Whether the one character `ch` is in the regex character class `cls` (e.g. r"\\p{L}"), as the engine says."""
    return bool(pl.Series([ch]).str.contains(f"^{cls}$").item())


def matches(text: str, pattern: str) -> tuple[int, str | None]:
    """(non-overlapping matches of `pattern` in `text`, the first one), as the regex engine finds them."""
    one = pl.Series([text])
    return int(one.str.count_matches(pattern).item()), one.str.extract(f"({pattern})", 1).item()


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


def values(record: dict[str, Any], pairs: list[dict[str, Any]], cfg: ChecksConfig,
           counter: TokenCounter | None) -> dict[str, tuple[float | None, str | None]]:
    """Every rule the config can measure, for one annotation: {rule: (value, detail)}."""
    p = {name: cfg.rules[name].params for name in RULES}
    reasoning, summary = record.get("reasoning"), record.get("summary")
    status = record.get("format_status")
    out: dict[str, tuple[float | None, str | None]] = {
        "format": (float(status == "ok"), None if status == "ok" else status)}
    if reasoning is None and summary is None:  # did not parse: the format verdict is all there is
        out.update({name: (None, None) for name in RULES if name != "format" and cfg.enabled(name)})
        return out
    r, s = reasoning or "", summary or ""
    full = r + "\n" + s
    if counter is not None:
        rt = float(len(counter.tok.encode(r, add_special_tokens=False).ids))
        st = float(len(counter.tok.encode(s, add_special_tokens=False).ids))
        out.update({"empty_reasoning": (rt, None), "long_reasoning": (rt, None), "short_summary": (st, None),
                    "long_summary": (st, None)})
    ws = [w for w in r.split(" ") if w]
    n = int(p["repetition"]["n"])
    grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]
    out["repetition"] = (1.0 - len(set(grams)) / len(grams) if grams else 0.0, None)
    run = best = 0
    for i, w in enumerate(ws):
        run = run + 1 if i and w == ws[i - 1] else 1
        best = max(best, run)
    out["token_run"] = (float(best), None)
    count, first = matches(full, "(?i)(?:" + "|".join(f"(?:{x})" for x in p["refusal"]["patterns"]) + ")")
    out["refusal"] = (float(count), first)
    out["truncated"] = (float(record.get("finish_reason") == "length"), None)
    sn, tn = norm(summary), norm(record.get("text"))
    out["summary_copy"] = (float(words(sn)) if sn and sn in tn else 0.0, None)
    leak: tuple[int, str] | None = None
    for pair in pairs:
        if not p["leak"]["media_queries"] and (pair.get("qry_media") or 0) != 0:
            continue
        t = norm(pair["target_text"])
        if t and (t in norm(reasoning) or t in sn) and t not in norm(pair["qry_text"]):
            here = (words(t), pair["pair_id"])
            if leak is None or here[0] > leak[0] or (here[0] == leak[0] and here[1] < leak[1]):
                leak = here
    out["leak"] = (float(leak[0]), leak[1]) if leak else (0.0, None)
    tags = str(p["control_tags"]["pattern"])
    count, first = matches(full, tags)
    out["control_tags"] = (float(count), first)
    length = len(full)
    clean = pl.Series([full]).str.replace_all(tags, "").item()
    garbage = lambda ch: not (is_class(ch, r"[\p{L}\p{M}\p{N}\p{P}]") or ch in WHITESPACE)  # noqa: E731
    out["garbage"] = (sum(map(garbage, clean)) / length if length else 0.0, (_first_run(clean, garbage) or "")[:20]
                      or None)
    allowed = "".join(rf"\p{{{x}}}" for x in p["wrong_script"]["scripts"])
    foreign = lambda ch: is_class(ch, r"\p{L}") and not is_class(ch, f"[{allowed}]")  # noqa: E731
    out["wrong_script"] = (sum(map(foreign, full)) / length if length else 0.0, (_first_run(full, foreign) or "")[:20]
                           or None)
    return {name: v for name, v in out.items() if cfg.enabled(name)}
