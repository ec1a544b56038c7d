"""Text primitives the record rules share, vectorised over a polars Series of texts.

    norm(texts)          lower case, whitespace runs as one space, punctuation stripped at both ends
    odd_spacing(texts)   rows whose whitespace may be anything but single ASCII spaces
    split_unsafe(texts)  rows where a space touches other whitespace (regex SPLIT_UNSAFE)

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


def odd_spacing(texts: pl.Series) -> pl.Series:
    """True where the text may hold whitespace other than single ASCII spaces: a double space, an ASCII control
    whitespace, or any non-ASCII character (Unicode spaces are non-ASCII). False means: single spaces only."""
    s = texts.fill_null("")
    return (s.str.contains("  ", literal=True) | s.str.contains(_ASCII_CONTROL_WS)
            | (s.str.len_bytes() != s.str.len_chars().cast(pl.UInt32)))


def _ascii_plain(s: pl.Series) -> np.ndarray:
    """Rows that are ASCII and hold none of \\t \\n \\v \\f \\r: their only possible whitespace is the space."""
    return (~(s.str.contains(_ASCII_CONTROL_WS) | (s.str.len_bytes() != s.str.len_chars().cast(pl.UInt32)))).to_numpy()


def split_unsafe(texts: pl.Series) -> np.ndarray:
    """texts.str.contains(SPLIT_UNSAFE) as a numpy bool array, the regex run only on rows that need it."""
    s = texts.fill_null("")
    out = s.str.contains("  ", literal=True).to_numpy().copy()
    rest = np.flatnonzero(~_ascii_plain(s) & ~out)
    if len(rest):
        out[rest] = s.gather(rest).str.contains(SPLIT_UNSAFE).to_numpy()
    return out


def norm(texts: pl.Series) -> pl.Series:
    """The verbatim-comparison form of a text: lower case, every whitespace run as one space, STRIP characters
    stripped at both ends; null reads as "". Equal to
    `texts.fill_null("").str.to_lowercase().str.replace_all(r"\\s{2,}|[^\\S ]", " ").str.strip_chars(STRIP)`."""
    low = texts.fill_null("").str.to_lowercase()
    odd = np.flatnonzero(odd_spacing(low).to_numpy())
    if len(odd):
        low = low.scatter(odd, low.gather(odd).str.replace_all(_ODD_WS, " "))
    return low.str.strip_chars(STRIP)


def words_in(normed: pl.Series) -> pl.Series:
    """Words of a normalised text (single spaces between words; "" has none)."""
    spaces = normed.str.count_matches(" ").to_numpy()
    return np.where(normed.str.len_bytes().to_numpy() > 0, spaces + 1, 0)
