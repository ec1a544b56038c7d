"""The record rules: each is named (the name is its reason code in annotation_checks and quarantine listings),
measures one value per annotation and passes it against one threshold.

A rule's *value* depends only on the annotation and the rule's measure settings (`params`, plus the student
tokenizer for length rules); its *verdict* is the value against a threshold, which may differ per dataset. So a
threshold change re-evaluates stored values, and only a change of measure settings (or of this module's
MEASURE_VERSION) measures again.

    op "max": passes when value <= threshold        op "min": passes when value >= threshold
"""

from __future__ import annotations

from dataclasses import dataclass

# Bumped whenever a measurement below changes meaning; part of every measure key, so stored values of the old
# code are never reused.
MEASURE_VERSION = "checks/1"


@dataclass(frozen=True)
class Rule:
    name: str
    op: str  # "max" | "min"
    unit: str
    about: str  # what the value is, one line (docs, reports)
    params: tuple[str, ...] = ()  # measure settings read from the thresholds file (part of the measure key)
    tokens: bool = False  # measured in student tokens: off when no student tokenizer is given


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("format", "min", "flag", "1 when umedata.format parsed <think>…</think><answer>…<gen_emb> cleanly, else 0"),
    Rule("empty_reasoning", "min", "tokens", "reasoning length in student tokens (too short to teach anything)",
         tokens=True),
    Rule("long_reasoning", "max", "tokens", "reasoning length in student tokens (the RL stage caps completions)",
         tokens=True),
    Rule("short_summary", "min", "tokens", "summary length in student tokens", tokens=True),
    Rule("long_summary", "max", "tokens", "summary length in student tokens (a word or one sentence)", tokens=True),
    Rule("repetition", "max", "share", "share of the reasoning's word n-grams that repeat an earlier one", ("n",)),
    Rule("token_run", "max", "words", "longest run of one word repeated back to back in the reasoning"),
    Rule("refusal", "max", "matches", "refusal phrases in reasoning + summary", ("patterns",)),
    Rule("truncated", "max", "flag", "1 when the teacher stopped at its token limit (finish_reason length)"),
    Rule("summary_copy", "max", "words",
         "words of the summary when it is a verbatim copy of part of the side's own text, else 0"),
    Rule("leak", "max", "words",
         "words of the longest paired target text found verbatim in a query side's reasoning or summary (and not "
         "in the query's own text), over every pair the side is the query of; queries with media only when "
         "`media_queries` is on (a picture may show what its caption says)", ("media_queries",)),
    Rule("control_tags", "max", "matches", "format tags or special tokens inside reasoning or summary", ("pattern",)),
    Rule("garbage", "max", "share", "share of characters that are symbols, control or replacement characters"),
    Rule("wrong_script", "max", "share", "share of characters that are letters outside the allowed scripts",
         ("scripts",)),
)}

TOKEN_RULES = tuple(r.name for r in RULES.values() if r.tokens)
