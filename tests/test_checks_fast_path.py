"""The vectorised record checks equal a straightforward per-row computation (umedata/checks/per_row.py), value and
detail for every rule, on crafted texts (whitespace of every kind, tags, scripts, symbols, copies, leaks, nulls)
and on random ones, however the page is cut into parallel blocks; and each shortcut of the fast path (text.py,
the rare-rule prefilter, the token counter's pieces) answers exactly what the plain expression it stands for
answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from checks_fixtures import student_dir  # noqa: F401  (session fixture)

from umedata.checks.config import load_config
from umedata.checks.evaluate import evaluate
from umedata.checks.measure import RARE, measure, rare_rows
from umedata.checks.per_row import PerRow
from umedata.checks.rules import RULES
from umedata.checks.text import SPLIT_UNSAFE, STRIP, WHITESPACE, norm, split_unsafe
from umedata.checks.tokens import TokenCounter, Words

ANN = {"annotation_id": pl.String, "reasoning": pl.String, "summary": pl.String, "format_status": pl.String,
       "text": pl.String, "finish_reason": pl.String}
PAIRS = {"annotation_id": pl.String, "pair_id": pl.String, "target_text": pl.String, "qry_text": pl.String,
         "qry_media": pl.Int64}
TARGET = "a red circle drawn near the top left of a white canvas"
# Pieces random texts are made of: words (some repeated), every whitespace the regex engine knows and some it does
# not (\x1c-\x1f: Python calls them spaces), tags, refusals, symbols, controls, other scripts, combining marks.
PIECES = (["the", "a", "red", "circle", "circle", "top", "left", "Canvas", "shows", "don't", "I'll", "12", "3.5",
           "é", "e\u0301", "naïve", "straße", "İstanbul", "ΣΟΦΙΑ", "漢字", "красный", "☺", "★", "$", "+", "<", "=",
           "^", "`", "|", "~", "\x01", "\x7f", "\x1c", "\x1f", "\ufffd", "<|im_end|>", "<think>", "</answer>",
           "<gen_emb>", "<image>", "I'm sorry", "I cannot help", "as an AI model", "I am not able to see", "very",
           TARGET, "."] + list(WHITESPACE) + [" "] * 30 + ["  ", " \n", "\n ", "\t", "\r\n", "\u00a0 ", " \u3000"])


PLAIN = ["the", "a", "red", "circle", "circle", "top", "left", "Canvas", "shows", "don't", "12", "3.5", "red.", "A"]


def random_text(rng: np.random.Generator, lo: int, hi: int) -> str:
    """Half the texts are plain (ASCII words, single spaces: the fast paths' common case), half use every piece."""
    if rng.random() < 0.5:
        return " ".join(PLAIN[i] for i in rng.integers(0, len(PLAIN), rng.integers(lo, hi)))
    picks = rng.integers(0, len(PIECES), rng.integers(lo, hi))
    return "".join(PIECES[i] + (" " if rng.random() < 0.6 else "") for i in picks)


CRAFTED = [  # (reasoning, summary, text)
    ("The picture shows a red circle.", "A red circle.", "Find the caption of this picture."),
    ("", "", ""),
    (None, None, "a side whose answer did not parse"),
    (None, "only a summary", "x"),
    ("only a reasoning", None, "x"),
    (" leading space and trailing space ", " s ", " t "),
    ("double  space and triple   space", "tab\there", "new\nline"),
    ("space then newline \nand newline then space\n ok", "a\u00a0b \u00a0c", "\u3000wide space\u3000"),
    ("\u2028line separator\u2029 paragraph \u0085 next line", "\x1c\x1d\x1e\x1f not spaces to the engine", ""),
    ("very very very very very very", "very", "very"),
    ("I'm sorry, but I can't help with that. As an AI model I am not able to see.", "I'M SORRY", ""),
    ("<|im_start|>assistant <think> nested </think> <gen_emb>", "<image><video>", ""),
    ("■▓¤©®™±≈♦☺ ◊∆∑∏√∞ ⌘⌥⇧ a red thing", "€100 + 5% = $$", ""),
    ("На изображении показан красный круг.", "Ελληνικά 漢字 カタカナ", ""),
    ("A RED CIRCLE DRAWN NEAR THE TOP LEFT OF A WHITE CANVAS, obviously.", "the answer",
     "Which one? " + TARGET),
    ("It is " + TARGET + ".", "A red circle drawn near the top left.", "Find the caption of this picture."),
    ("Copied:", "a red circle drawn", "Caption: A red  circle\tdrawn near the top."),
    ("ΣΟΦΙΑΣ ΟΔΟΣ", "straße İstanbul", "STRASSE"),
    ("word " * 300, "x " * 40, "y"),
]


def records(rng: np.random.Generator, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, pairs = [], []
    for i, (r, s, t) in enumerate(CRAFTED):
        rows.append({"annotation_id": f"c{i:03d}", "reasoning": r, "summary": s, "format_status": "ok", "text": t,
                     "finish_reason": "stop"})
    statuses, finishes = ["ok"] * 6 + ["no_gen_emb", None], ["stop"] * 4 + ["length", None]
    for i in range(n):
        r = random_text(rng, 0, 60) if rng.random() > 0.03 else None
        s = random_text(rng, 0, 8) if rng.random() > 0.03 else None
        rows.append({"annotation_id": f"r{i:05d}", "reasoning": r, "summary": s,
                     "format_status": statuses[rng.integers(len(statuses))],
                     "text": random_text(rng, 0, 20) if rng.random() > 0.5 else (s or "") + " and more",
                     "finish_reason": finishes[rng.integers(len(finishes))]})
    for row in rows:  # 0-3 pairs per annotation: targets that leak, that the query quotes, or that are unrelated
        for _ in range(rng.integers(0, 4)):
            kind = rng.integers(0, 4)
            target = [TARGET, "  A  red circle ", random_text(rng, 1, 6), row["reasoning"] or ""][kind]
            pairs.append({"annotation_id": row["annotation_id"], "pair_id": f"p{rng.integers(0, 1 << 30):09d}",
                          "target_text": target,
                          "qry_text": row["text"] if rng.random() < 0.7 else f"{target} in the query",
                          "qry_media": int(rng.random() < 0.2)})
    return pl.DataFrame(rows, schema=ANN), pl.DataFrame(pairs, schema=PAIRS)


@pytest.fixture(scope="module")
def counter(student_dir):  # noqa: F811
    return TokenCounter.load(str(student_dir))


@pytest.fixture(scope="module")
def cfg(counter):
    c = load_config(student=str(counter.path), overrides={"rules": {"leak": {"media_queries": True}}})
    c.tokenizer_sha = counter.sha
    return c


@pytest.fixture(scope="module")
def data():
    return records(np.random.default_rng(7), 1500)


def by_key(values: pl.DataFrame) -> dict[tuple[str, str], tuple[float | None, str | None]]:
    return {(r["annotation_id"], r["rule"]): (r["value"], r["detail"]) for r in values.iter_rows(named=True)}


@pytest.mark.parametrize("blocks", [1, 3])
def test_measure_equals_the_per_row_definition(cfg, counter, data, blocks):
    ann, pairs = data
    got = by_key(measure(ann, list(RULES), cfg, counter, pairs, blocks=blocks))
    assert counter.mode == "pieces"  # the additive path was taken, not the whole-text fallback
    by_ann: dict[str, list[dict]] = {}
    for p in pairs.iter_rows(named=True):
        by_ann.setdefault(p["annotation_id"], []).append(p)
    want, plain = {}, PerRow(cfg, counter)
    for rec in ann.iter_rows(named=True):
        for rule, v in plain.values(rec, by_ann.get(rec["annotation_id"], [])).items():
            want[(rec["annotation_id"], rule)] = v
    assert set(got) == set(want)
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, f"{len(wrong)} values differ, e.g. {list(wrong.items())[:5]}"


def test_leak_obeys_media_queries_off(counter, data):
    ann, pairs = data
    off = load_config(student=str(counter.path))
    off.tokenizer_sha = counter.sha
    got = by_key(measure(ann, ["leak"], off, counter, pairs, blocks=2))
    plain = PerRow(off, counter)
    for rec in ann.head(200).iter_rows(named=True):
        mine = [p for p in pairs.iter_rows(named=True) if p["annotation_id"] == rec["annotation_id"]]
        assert got[(rec["annotation_id"], "leak")] == plain.values(rec, mine)["leak"]


def test_text_helpers_equal_the_regexes_they_stand_for(data):
    ann, _ = data
    texts = pl.concat([ann.get_column(c) for c in ("reasoning", "summary", "text")])
    assert split_unsafe(texts).tolist() == texts.fill_null("").str.contains(SPLIT_UNSAFE).to_list()
    plain = (texts.fill_null("").str.to_lowercase().str.replace_all(r"\s{2,}|[^\S ]", " ").str.strip_chars(STRIP))
    assert norm(texts).to_list() == plain.to_list()


def test_the_rare_prefilter_finds_every_row_a_rare_rule_flags(cfg, counter, data):
    ann, _ = data
    full = ann.select(pl.col("reasoning").fill_null("") + "\n" + pl.col("summary").fill_null("")).to_series()
    found = set(rare_rows(full, cfg).tolist())
    values = measure(ann, list(RARE), cfg, counter, blocks=1)
    flagged = set(values.filter(pl.col("value") > 0).with_row_index().get_column("annotation_id").to_list())
    ids = ann.get_column("annotation_id").to_list()
    assert flagged <= {ids[i] for i in found}
    assert len(found) < ann.height  # and it is a filter: plain rows are left out


def test_token_counts_of_oddly_spaced_texts_are_exact(counter):
    texts = ["x  y", "  lead", "trail  ", "a \n b", "a\n b", "a \tb", "tab\t\tx", "a\u00a0 b", " ", "  ", "\n",
             "one two  three   four", "<|im_end|>  <think>", "x " * 50, "x  " * 50]
    got = counter.count(pl.Series(texts))
    assert got.tolist() == [len(counter.tok.encode(t, add_special_tokens=False).ids) for t in texts]
    assert counter.odd_mode == "pieces"  # counted by their pieces (Words.runs), not encoded whole


def test_oddly_spaced_texts_are_cut_into_pieces_that_rebuild_them(data):
    """Words.runs cuts before every space that follows a non-whitespace character, and only there."""
    ann, _ = data
    texts = ann.get_column("reasoning").fill_null("").to_list() + ["x  y", "  lead", "a\u00a0 b", " \n ", "a \tb c"]
    words = Words.runs(pl.Series(texts))
    pieces = words.w.to_list()
    for r, text in enumerate(texts):
        mine = pieces[words.start[r]:words.start[r + 1]]
        assert mine[0] + "".join(" " + p for p in mine[1:]) == text
        cuts = [k for k in range(1, len(text)) if text[k] == " " and text[k - 1] not in WHITESPACE]
        assert len(mine) == len(cuts) + 1


def test_verdicts_are_the_values_against_the_thresholds(cfg, counter, data):
    ann, pairs = data
    checks = evaluate(measure(ann, list(RULES), cfg, counter, pairs, blocks=2), cfg)
    want = {}
    for (aid, rule), (value, _) in by_key(measure(ann, list(RULES), cfg, counter, pairs, blocks=1)).items():
        threshold = cfg.rules[rule].threshold
        want[(aid, rule)] = (rule != "format" if value is None else
                             value <= threshold if RULES[rule].op == "max" else value >= threshold)
    assert {(r["annotation_id"], r["rule"]): r["passed"] for r in checks.iter_rows(named=True)} == want
