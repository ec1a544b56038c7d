"""Text primitives the record rules share, vectorised over a polars Series of texts.

    norm(texts)          lower case, whitespace runs as one space, punctuation stripped at both ends
    split_unsafe(texts)  rows where a space touches other whitespace (regex SPLIT_UNSAFE)
    words_in(normed)     words of normalised texts

Whitespace is the regex engine's `\\s`: Unicode White_Space, the 25 characters of WHITESPACE (not Python's
str.isspace, which adds \\x1c-\\x1f). Regex passes over whole pages are the cost of these helpers, so each does the
expensive pass only where it can matter: a text that is ASCII and holds none of \\t \\n \\v \\f \\r has single
spaces or double spaces as its only whitespace, and both questions are answered for it by a literal search for
"  " (memchr speed); the regex runs on the other rows alone. The answers are the regex's on every row.
"""

from __future__ import annotations

import numpy as np
import polars as pl

WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
              + "\u2028\u2029\u202f\u205f\u3000")
STRIP = " .,;:!?\"'()[]{}…-"
_ODD_WS = r"\s{2,}|[^\S ]"  # what norm turns into one space
SPLIT_UNSAFE = r"\s | \s"  # a space next to other whitespace
_ASCII_CONTROL_WS = r"[\t\n\x0b\x0c\r]"  # a class of five bytes: the regex engine searches it at memchr speed


def _spacing(t: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(has a double space, may hold whitespace other than the space: an ASCII control whitespace or any non-ASCII
    character, as Unicode spaces are non-ASCII). Neither: the text's whitespace is single spaces only."""
    return (t.str.contains("  ", literal=True),
            t.str.contains(_ASCII_CONTROL_WS) | (t.str.len_bytes() != t.str.len_chars().cast(pl.UInt32)))


def _select(texts: pl.Series, *exprs: pl.Expr) -> pl.DataFrame:
    """Expressions over the texts (column "t", null read as ""), run as one frame select: polars runs them side by
    side and without the GIL (eager Series methods may hold it, which would serialise the measuring threads)."""
    return texts.fill_null("").to_frame("t").select(*exprs)


def split_unsafe(texts: pl.Series) -> np.ndarray:
    """texts.str.contains(SPLIT_UNSAFE) as a numpy bool array, the regex run only on rows that need it."""
    double, other = _spacing(pl.col("t"))
    flags = _select(texts, double.alias("double"), other.alias("other"))
    out = flags.get_column("double").to_numpy().copy()
    rest = np.flatnonzero(flags.get_column("other").to_numpy() & ~out)
    if len(rest):
        out[rest] = _select(texts.gather(rest), pl.col("t").str.contains(SPLIT_UNSAFE)).to_series().to_numpy()
    return out


def norm(texts: pl.Series) -> pl.Series:
    """The verbatim-comparison form of a text: lower case, every whitespace run as one space, STRIP characters
    stripped at both ends; null reads as "". Equal to
    `texts.fill_null("").str.to_lowercase().str.replace_all(r"\s{2,}|[^\S ]", " ").str.strip_chars(STRIP)`."""
    double, other = _spacing(pl.col("t"))
    low = _select(texts, pl.col("t").str.to_lowercase())
    flags = low.select((double | other).alias("odd"), pl.col("t").str.strip_chars(STRIP).alias("plain"))
    out = flags.get_column("plain")
    odd = np.flatnonzero(flags.get_column("odd").to_numpy())
    if len(odd):
        fixed = _select(low.get_column("t").gather(odd), pl.col("t").str.replace_all(_ODD_WS, " ")
                        .str.strip_chars(STRIP)).to_series()
        out = out.scatter(odd, fixed)
    return out


def words_in(normed: pl.Series) -> pl.Series:
    """Words of a normalised text (single spaces between words; "" has none)."""
    spaces = normed.str.count_matches(" ").to_numpy()
    return np.where(normed.str.len_bytes().to_numpy() > 0, spaces + 1, 0)
