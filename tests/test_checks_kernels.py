"""The compiled kernels of the record checks (umedata/checks/kernels.py) read Arrow string columns as they come from
polars (nulls, slices with an offset, texts stored inline in the view or in a data buffer, several chunks) and
answer what plain Python answers: str.split(" ") for the split, the per-row definition for the word statistics,
the tokenizer itself for the piece counts, also when the count table grows and two threads learn at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest
from checks_fixtures import student_dir  # noqa: F401  (session fixture)

from umedata.checks import kernels
from umedata.checks.measure import GARBAGE, word_stats
from umedata.checks.text import copied_words, norm
from umedata.checks.tokens import TABLE_MIN, TokenCounter, Words

TEXTS = [
    "",
    None,
    " ",
    "     ",
    "one",
    "twelve bytes",  # 12 bytes: stored inline in its view
    "thirteen byte",  # 13: in a data buffer
    "very " * 300,
    "very very very very very very",
    "  leading and trailing  ",
    "naïve straße İstanbul ΣΟΦΙΑ 漢字 красный ☺ e\u0301",
    "\u00a0 \u3000 wide\u3000space",
    "tab\there new\nline",
    "a b a b a b a b",
    "word",
    None,
    "the cat sat on the mat the cat sat on the mat",
]


def columns() -> dict[str, pl.Series]:
    """The texts as polars gives them: whole, sliced (a non-zero offset), in two chunks, and a slice of those."""
    whole = pl.Series("t", TEXTS * 3, dtype=pl.String)
    chunked = pl.concat([whole.slice(0, 20), whole.slice(20)], rechunk=False)
    return {"whole": whole, "sliced": whole.slice(5, 30), "chunked": chunked, "chunked slice": chunked.slice(17, 20),
            "empty": pl.Series("t", [], dtype=pl.String), "all null": pl.Series("t", [None, None], dtype=pl.String)}


def plain_words(texts: pl.Series) -> list[list[str]]:
    return [(t or "").split(" ") for t in texts.to_list()]


@pytest.mark.parametrize("name", list(columns()))
def test_split_is_str_split_and_the_pieces_read_back(name):
    texts = columns()[name]
    words = Words.of(texts)
    pieces = plain_words(texts)
    assert words.start.tolist() == np.cumsum([0] + [len(p) for p in pieces]).tolist()
    flat = pl.Series([w for p in pieces for w in p], dtype=pl.String)
    src = kernels.Texts.of(flat)
    assert words.h.tolist() == kernels.hash_each(src.addr, src.size).tolist()
    assert words.spelled(np.arange(len(flat))) == [w if k == 0 else " " + w for p in pieces for k, w in enumerate(p)]
    if len(texts):
        half = len(texts) // 2  # head and tail read back the rows they hold, however the rows were cut
        tail = words.tail(len(texts) - half)
        assert tail.spelled(np.arange(len(tail.h))) == [w if k == 0 else " " + w for p in pieces[half:]
                                                       for k, w in enumerate(p)]


def test_equal_pieces_hash_equal_and_the_empty_piece_is_empty():
    words = Words.of(pl.Series(["a  b", "b a", ""]))
    h = words.h.tolist()
    assert h[0] == h[4] and h[2] == h[3]  # "a", "b" wherever they are
    assert h[1] == h[5] == kernels.EMPTY
    assert len(set(h)) == 3


@pytest.mark.parametrize("name", list(columns()))
@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_word_stats_equal_the_per_row_definition(name, n):
    texts = columns()[name]
    rep, run = word_stats(Words.of(texts), n)
    for r, pieces in enumerate(plain_words(texts)):
        ws = [w for w in pieces if w]
        grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)] if n >= 1 else []
        assert rep[r] == (1.0 - len(set(grams)) / len(grams) if grams else 0.0)
        best = cur = 0
        for i, w in enumerate(ws):
            cur = cur + 1 if i and w == ws[i - 1] else 1
            best = max(best, cur)
        assert run[r] == best


@pytest.fixture()
def counter(student_dir):  # noqa: F811  (a fresh one per test: an empty piece table)
    return TokenCounter.load(str(student_dir))


def direct(counter: TokenCounter, texts: pl.Series) -> list[int]:
    return [len(counter.tok.encode(t or "", add_special_tokens=False).ids) for t in texts.to_list()]


def test_token_counts_of_every_shape_of_column_are_exact(counter):
    for texts in columns().values():
        assert counter.count(texts).tolist() == direct(counter, texts)
    assert counter.mode == "pieces" and counter.odd_mode == "pieces"


def test_the_piece_table_grows_and_threads_learn_at_once(counter):
    rng = np.random.default_rng(3)
    # More distinct pieces than an empty table has room for (it grows by rehashing while full of learnt pieces),
    # in two blocks counted on two threads at once, both holding pieces the other learns.
    vocab = np.array([f"w{i}x{i % 7}" for i in range(TABLE_MIN)])
    texts = pl.Series([" ".join(rng.choice(vocab, rng.integers(1, 40))) for _ in range(6000)])
    halves = [texts.slice(0, 3000), texts.slice(3000)]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(counter.count, halves))
    assert np.concatenate(got).tolist() == direct(counter, texts)
    keys, vals, held = counter._table
    assert len(keys) > TABLE_MIN and held == int((vals >= 0).sum()) and held * 3 <= len(keys) * 2
    assert counter.count(texts).tolist() == direct(counter, texts)  # now from the table alone


def test_byte_flags_name_what_each_text_holds():
    """Every ASCII character, alone in a text: garbage exactly where the garbage rule's class matches it, control
    whitespace exactly for \\t \\n \\v \\f \\r; and non-ASCII and double spaces wherever they are."""
    chars = [chr(c) for c in range(128)]
    texts = pl.Series([f"a{ch}b" for ch in chars] + ["é", "x 漢", "a  b", "  ", " a b ", "", None])
    src = kernels.Texts.of(texts)
    flags = kernels.byte_flags(src.addr, src.size).tolist()
    garbage = pl.Series(chars).str.contains(GARBAGE).to_list()
    for c, ch in enumerate(chars):
        assert bool(flags[c] & kernels.ASCII_GARBAGE) == garbage[c], repr(ch)
        assert bool(flags[c] & kernels.CONTROL_WS) == (ch in "\t\n\x0b\x0c\r"), repr(ch)
        assert not flags[c] & (kernels.NON_ASCII | kernels.DOUBLE_SPACE), repr(ch)
    assert flags[128:] == [kernels.NON_ASCII, kernels.NON_ASCII, kernels.DOUBLE_SPACE, kernels.DOUBLE_SPACE, 0, 0, 0]


def test_copied_words_is_containment_of_the_normal_forms():
    """The compiled search on plain ASCII rows and norm + the regex engine on the rest answer alike: words of
    norm(needle) where it is non-empty and norm(hay) contains it, else 0."""
    rng = np.random.default_rng(11)
    alphabet = ["a", "b", "A", "B", " ", " ", ".", "-", "!", "(", "é", "\t", "  ", "x"]
    hay = ["".join(rng.choice(alphabet, rng.integers(0, 14))) for _ in range(3000)]
    needle = ["".join(rng.choice(alphabet, rng.integers(0, 5))) for _ in range(3000)]
    hay += ["A red circle.", "tired circle", "", None, "ab", "a", " .a. ", "RED", "x" * 40 + "y"]
    needle += ["red circle", "RED CIRCLE!", "a", "a", "abc", "(a)", "A", ".", "X" * 20 + "Y"]
    got = copied_words(pl.Series(hay), pl.Series(needle))

    def plain(t):
        return norm(pl.Series([t], dtype=pl.String)).item()

    want = [plain(n).count(" ") + 1 if plain(n) and plain(n) in plain(h) else 0 for h, n in zip(hay, needle)]
    assert got.tolist() == want
    assert max(want) > 1 and sum(w > 0 for w in want) > 100  # copies of several words were found, not only none
