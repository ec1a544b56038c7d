"""Record rules on crafted annotations: every bad record gets exactly its reason(s), good records pass, the leak
check works pair by pair, lengths are exact student-token counts, and the thresholds file behaves."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from checks_fixtures import student_dir  # noqa: F401  (session fixture)

from umedata.checks.config import ChecksConfigError, load_config
from umedata.checks.evaluate import evaluate
from umedata.checks.measure import measure
from umedata.checks.rules import RULES
from umedata.checks.tokens import TokenCounter

TEXT = "Find the caption of this picture."
GOOD = ("The picture shows a red circle near the top left corner of a white canvas. The circle is small and solid, "
        "so a retrieval system should match on its colour, its shape and where it sits.")
LONG_TEXT = ("the red circle and the blue square sit on the left of the image while a green triangle moves to the right "
             "across the top of the white canvas in every frame")  # 32 words, 41 tiny-student tokens
TARGET_A = "a red circle drawn with thick lines near the top left of a plain white canvas beside a grey dot"
TARGET_B = "a blue square"

# name -> (record, failed rules expected)
CASES: dict[str, tuple[dict, set[str]]] = {
    "good": ({"reasoning": GOOD, "summary": "A red circle at the top left."}, set()),
    "format": ({"reasoning": None, "summary": None, "format_status": "no_gen_emb"}, {"format"}),
    "empty_reasoning": ({"reasoning": "Ok.", "summary": "A red circle."}, {"empty_reasoning"}),
    "long_reasoning": ({"reasoning": " ".join(f"observation{i}" for i in range(1500)), "summary": "A red circle."},
                       {"long_reasoning"}),
    "short_summary": ({"reasoning": GOOD, "summary": ""}, {"short_summary"}),
    "long_summary": ({"reasoning": GOOD, "summary": " ".join(f"token{i}" for i in range(120))}, {"long_summary"}),
    "repetition": ({"reasoning": "The picture shows the same shape again and again. " * 30, "summary": "A shape."},
                   {"repetition"}),
    "token_run": ({"reasoning": GOOD + " very" * 8, "summary": "A red circle."}, {"token_run"}),
    "refusal": ({"reasoning": "I'm sorry, but I can't help with describing this input.",
                 "summary": "I cannot assist with that."}, {"refusal"}),
    "truncated": ({"reasoning": GOOD, "summary": "A red circle.", "finish_reason": "length"}, {"truncated"}),
    "summary_copy": ({"reasoning": GOOD, "summary": LONG_TEXT, "text": "Passage: " + LONG_TEXT + "."},
                     {"summary_copy"}),
    "control_tags": ({"reasoning": GOOD + " <|im_start|>assistant", "summary": "A red circle."}, {"control_tags"}),
    "garbage": ({"reasoning": "■▓¤©®™±≈♦☺ ◊∆∑∏√∞ ⌘⌥⇧ ☂☃☄★☆ ♠♣♥ ⚡⚽⛄ ✓✗✘ a red thing", "summary": "A red circle."},
                {"garbage"}),
    "wrong_script": ({"reasoning": "На изображении показан красный круг в левом верхнем углу белого холста.",
                      "summary": "A red circle."}, {"wrong_script"}),
    "leak": ({"reasoning": GOOD + f" The answer is {TARGET_A}.", "summary": "A red circle."}, {"leak"}),
    "two_faults": ({"reasoning": "I'm sorry, but I can't help. <|im_end|>", "summary": "No."},
                   {"refusal", "control_tags"}),
}


@pytest.fixture(scope="module")
def counter(student_dir):  # noqa: F811
    return TokenCounter.load(str(student_dir))


@pytest.fixture(scope="module")
def cfg(counter):
    c = load_config(student=str(counter.path))
    c.tokenizer_sha = counter.sha
    return c


def frame(cases: dict[str, tuple[dict, set[str]]]) -> pl.DataFrame:
    rows = []
    for name, (rec, _) in cases.items():
        rows.append({"annotation_id": name, "reasoning": rec.get("reasoning"), "summary": rec.get("summary"),
                     "format_status": rec.get("format_status", "ok"), "text": rec.get("text", TEXT),
                     "finish_reason": rec.get("finish_reason", "stop")})
    return pl.DataFrame(rows, schema={"annotation_id": pl.String, "reasoning": pl.String, "summary": pl.String,
                                      "format_status": pl.String, "text": pl.String, "finish_reason": pl.String})


def pairs_frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"annotation_id": pl.String, "pair_id": pl.String, "target_text": pl.String,
                                      "qry_text": pl.String}, orient="row")


def failed_rules(checks: pl.DataFrame) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in checks.iter_rows(named=True):
        out.setdefault(r["annotation_id"], set())
        if not r["passed"]:
            out[r["annotation_id"]].add(r["rule"])
    return out


def test_every_bad_record_gets_exactly_its_reasons_and_good_records_pass(cfg, counter):
    ann = frame(CASES)
    pairs = pairs_frame([("leak", "p-leak", TARGET_A, TEXT), ("good", "p-good", TARGET_A, TEXT)])
    checks = evaluate(measure(ann, list(RULES), cfg, counter, pairs), cfg)
    got = failed_rules(checks)
    assert got == {name: want for name, (_, want) in CASES.items()}
    # Every annotation carries a verdict for every enabled rule, and only those.
    assert checks.group_by("annotation_id").len().get_column("len").unique().to_list() == [len(RULES)]


def test_values_are_the_documented_measurements(cfg, counter):
    ann = frame(CASES)
    pairs = pairs_frame([("leak", "p-leak", TARGET_A, TEXT)])
    v = {(r["annotation_id"], r["rule"]): r for r in measure(ann, list(RULES), cfg, counter, pairs).iter_rows(named=True)}
    assert v[("good", "long_reasoning")]["value"] == len(counter.tok.encode(GOOD, add_special_tokens=False).ids)
    assert v[("token_run", "token_run")]["value"] == 8
    assert v[("good", "token_run")]["value"] == 1  # no word twice in a row
    # 30 copies of a 9-word sentence: 268 trigrams, 9 distinct.
    assert v[("repetition", "repetition")]["value"] == pytest.approx(1 - 9 / 268)
    assert v[("summary_copy", "summary_copy")]["value"] == len(LONG_TEXT.split())
    assert v[("leak", "leak")]["value"] == len(TARGET_A.split())
    assert v[("leak", "leak")]["detail"] == "p-leak"
    assert v[("refusal", "refusal")]["value"] == 3  # "I'm sorry", "I can't help", "I cannot assist"
    assert v[("control_tags", "control_tags")]["detail"] == "<|im_start|>"
    assert v[("format", "format")]["detail"] == "no_gen_emb"
    # An answer that did not parse is judged by its format alone: its other values are NULL, and pass.
    assert v[("format", "repetition")]["value"] is None
    wrong = "На изображении показан красный круг в левом верхнем углу белого холста."
    letters = sum(ch.isalpha() for ch in wrong)
    assert v[("wrong_script", "wrong_script")]["value"] == pytest.approx(letters / (len(wrong) + 1 + len("A red circle.")))


def test_leak_is_checked_pair_by_pair(cfg, counter):
    """One query side in two pairs leaks one pair's target; another side mentions that target but is not paired
    with it; a third quotes a target that its own text already contains."""
    quoting = f"Which picture matches: {TARGET_A}?"
    ann = frame({
        "q1": ({"reasoning": GOOD + f" It must be {TARGET_A}.", "summary": "A red circle."}, set()),
        "q2": ({"reasoning": GOOD + f" Not to be confused with {TARGET_A}.", "summary": "A red circle."}, set()),
        "q3": ({"reasoning": GOOD + f" The question spells it out: {TARGET_A}.", "summary": "A red circle.",
                "text": quoting}, set()),
        "q4": ({"reasoning": GOOD + f" It is {TARGET_B}.", "summary": "A red circle."}, set()),
    })
    pairs = pairs_frame([
        ("q1", "pair-A", TARGET_A, TEXT),   # leaks its own pair's target
        ("q1", "pair-B", TARGET_B, TEXT),   # ... and not this one
        ("q2", "pair-C", "a green star on a black background", TEXT),  # TARGET_A is not q2's target
        ("q3", "pair-D", TARGET_A, quoting),  # the query itself contains the target text
        ("q4", "pair-E", TARGET_B, TEXT),   # a 3-word target: an answer, not evidence of a leak
    ])
    values = measure(ann, ["leak"], cfg, counter, pairs)
    by_id = {r["annotation_id"]: r for r in values.iter_rows(named=True)}
    assert (by_id["q1"]["value"], by_id["q1"]["detail"]) == (len(TARGET_A.split()), "pair-A")
    assert by_id["q2"]["value"] == 0 and by_id["q3"]["value"] == 0
    assert by_id["q4"]["value"] == 3  # measured, and under the default threshold (12 words)
    assert failed_rules(evaluate(values, cfg)) == {"q1": {"leak"}, "q2": set(), "q3": set(), "q4": set()}


def test_queries_with_media_are_left_out_of_the_leak_check_unless_asked(cfg, counter, tmp_path):
    """A picture's faithful description may be its caption word for word: such queries are not judged by default."""
    ann = frame({"image_query": ({"reasoning": GOOD + f" It shows {TARGET_A}.", "summary": TARGET_A}, set())})
    pairs = pl.DataFrame({"annotation_id": ["image_query"], "pair_id": ["p"], "target_text": [TARGET_A],
                          "qry_text": [TEXT], "qry_media": [1]})
    assert measure(ann, ["leak"], cfg, counter, pairs).get_column("value").to_list() == [0.0]
    p = tmp_path / "media.toml"
    p.write_text("[rules.leak]\nmedia_queries = true\n")
    on = load_config(p, student=str(counter.path))
    assert on.measure_key("leak") != cfg.measure_key("leak")
    assert measure(ann, ["leak"], on, counter, pairs).get_column("value").to_list() == [len(TARGET_A.split())]


def test_token_counts_are_exact_student_tokens(counter):
    rng = np.random.default_rng(0)
    alphabet = list("abc de  \n\t.,'!é漢字<|>") + ["<|im_end|>", "<think>", " \n", "  ", "don't", "I'll", "12", "   "]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 40))) for _ in range(3000)]
    texts += [None, "", " ", "  x", "x  ", "a b", GOOD]
    got = counter.count(pl.Series(texts, dtype=pl.String))
    want = [len(counter.tok.encode(t or "", add_special_tokens=False).ids) for t in texts]
    assert counter.mode == "pieces"
    assert got.tolist() == want


def test_a_tokenizer_that_is_not_additive_is_counted_whole(student_dir, tmp_path):  # noqa: F811
    """A normalizer that prepends to the whole text breaks the piece sum: the counter notices and stays exact."""
    data = json.loads((student_dir / "tokenizer.json").read_text())
    data["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "@@"}]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    c = TokenCounter.load(str(tmp_path))
    texts = [GOOD, "a b c", "one two three four"]
    got = c.count(pl.Series(texts))
    assert c.mode == "whole"
    assert got.tolist() == [len(c.tok.encode(t, add_special_tokens=False).ids) for t in texts]


def test_dataset_overrides_apply_and_the_strictest_wins(cfg, counter, tmp_path):
    p = tmp_path / "checks.toml"
    p.write_text('[datasets.Captions.rules.summary_copy]\nmax = 40\n[datasets.Quiet.rules.refusal]\nenabled = false\n')
    c = load_config(p, student=str(counter.path))
    c.tokenizer_sha = counter.sha
    ann = frame({"only_captions": CASES["summary_copy"], "both": CASES["summary_copy"],
                 "refuses_quietly": CASES["refusal"], "refuses_loudly": CASES["refusal"]})
    side_ds = pl.DataFrame({"annotation_id": ["only_captions", "both", "both", "refuses_quietly", "refuses_loudly"],
                            "dataset_name": ["Captions", "Captions", "Other", "Quiet", "Other"]})
    checks = evaluate(measure(ann, list(RULES), c, counter), c, side_ds)
    got = failed_rules(checks)
    assert got["only_captions"] == set()          # 31 copied words <= 40 in Captions
    assert got["both"] == {"summary_copy"}         # also used by Other: the default 24 applies
    assert got["refuses_quietly"] == set() and "refusal" not in checks.filter(
        pl.col("annotation_id") == "refuses_quietly").get_column("rule").to_list()
    assert got["refuses_loudly"] == {"refusal"}
    thr = checks.filter((pl.col("annotation_id") == "only_captions") & (pl.col("rule") == "summary_copy"))
    assert thr.get_column("threshold").to_list() == [40.0]


def test_versions_and_measure_keys(counter, tmp_path):
    base = load_config(student=str(counter.path))
    looser = tmp_path / "looser.toml"
    looser.write_text("[rules.repetition]\nmax = 0.5\n")
    other_n = tmp_path / "bigrams.toml"
    other_n.write_text("[rules.repetition]\nn = 2\n")
    a, b, c = (load_config(p, student=str(counter.path)) for p in (None, looser, other_n))
    for x in (a, b, c):
        x.tokenizer_sha = counter.sha
    assert len({a.version, b.version, c.version}) == 3
    assert a.measure_key("repetition") == b.measure_key("repetition") != c.measure_key("repetition")
    assert base.rules["long_reasoning"].threshold == 2048
    no_tok = load_config()
    assert not no_tok.enabled("long_reasoning") and no_tok.enabled("repetition")


@pytest.mark.parametrize("text, message", [
    ("[rules.repetition]\nmin = 0.1\n", "takes `max`"),
    ("[rules.nonsense]\nmax = 1\n", "unknown rules"),
    ("[checks]\nstudnet = 'x'\n", "unknown [checks] keys"),
    ("[datasets.D.rules.repetition]\nn = 2\n", "only `max` and `enabled`"),
    ("[rules.format]\nenabled = false\n", "cannot be disabled"),
])
def test_bad_thresholds_files_are_refused_with_a_reason(tmp_path, text, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ChecksConfigError, match=message.replace("[", r"\[").replace("`", "`")):
        load_config(p)
