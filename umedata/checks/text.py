"""Text primitives the record rules share, vectorised over a polars Series of texts.

    norm(texts)          lower case, whitespace runs as one space, punctuation stripped at both ends
    split_unsafe(texts)  rows where a space touches other whitespace (regex SPLIT_UNSAFE)
    copied_words(h, n)   words of norm(n) where norm(h) contains it verbatim (0 where not, or norm(n) is "")
    words_in(normed)     words of normalised texts

Whitespace is the regex engine's `\\s`: Unicode White_Space, the 25 characters of WHITESPACE (not Python's
str.isspace, which adds \\x1c-\\x1f). Regex passes over whole pages are the cost of these helpers, so each does the
expensive pass only where it can matter: a text that is ASCII and holds none of \\t \\n \\v \\f \\r has single
spaces or double spaces as its only whitespace, and both questions are answered for it by whether it holds "  ".
Which texts are such, and which hold "  ", one compiled pass over the bytes says (kernels.byte_flags); the regex
runs on the other rows alone. The answers are the regex's on every row.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from umedata.checks import kernels

WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
              + "\u2028\u2029\u202f\u205f\u3000")
STRIP = " .,;:!?\"'()[]{}…-"
_ODD_WS = r"\s{2,}|[^\S ]"  # what norm turns into one space
SPLIT_UNSAFE = r"\s | \s"  # a space next to other whitespace


def _spacing(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(has a double space, may hold whitespace other than the space: an ASCII control whitespace or any non-ASCII
    character, as Unicode spaces are non-ASCII) per text. Neither: the text's whitespace is single spaces only."""
    src = kernels.Texts.of(texts)
    flags = kernels.byte_flags(src.addr, src.size)
    return (flags & kernels.DOUBLE_SPACE) != 0, (flags & (kernels.CONTROL_WS | kernels.NON_ASCII)) != 0


def _select(texts: pl.Series, *exprs: pl.Expr) -> pl.DataFrame:
    """Expressions over the texts (column "t", null read as ""), run as one frame select: polars runs them side by
    side and without the GIL (eager Series methods may hold it, which would serialise the measuring threads)."""
    return texts.fill_null("").to_frame("t").select(*exprs)


def split_unsafe(texts: pl.Series) -> np.ndarray:
    """texts.str.contains(SPLIT_UNSAFE) as a numpy bool array, the regex run only on rows that need it."""
    out, other = _spacing(texts)
    rest = np.flatnonzero(other & ~out)
    if len(rest):
        out[rest] = _select(texts.gather(rest), pl.col("t").str.contains(SPLIT_UNSAFE)).to_series().to_numpy()
    return out


def norm(texts: pl.Series) -> pl.Series:
    """The verbatim-comparison form of a text: lower case, every whitespace run as one space, STRIP characters
    stripped at both ends; null reads as "". Equal to
    `texts.fill_null("").str.to_lowercase().str.replace_all(r"\s{2,}|[^\S ]", " ").str.strip_chars(STRIP)`."""
    # The spacing of the text is that of its lower case (lower case never makes or removes whitespace, and an
    # ASCII text stays ASCII), so the flags are read before lowering.
    double, other = _spacing(texts)
    low = _select(texts, pl.col("t").str.to_lowercase())
    out = low.select(pl.col("t").str.strip_chars(STRIP)).to_series()
    odd = np.flatnonzero(double | other)
    if len(odd):
        fixed = _select(low.get_column("t").gather(odd), pl.col("t").str.replace_all(_ODD_WS, " ")
                        .str.strip_chars(STRIP)).to_series()
        out = out.scatter(odd, fixed)
    return out


_STRIP_BYTES = np.array([chr(c) in STRIP for c in range(256)])  # the ASCII STRIP characters, for the kernels
_NOT_PLAIN = kernels.NON_ASCII | kernels.CONTROL_WS | kernels.DOUBLE_SPACE


def copied_words(hay: pl.Series, needle: pl.Series) -> np.ndarray:
    """Per row: the words of norm(needle) when it is non-empty and norm(hay) contains it, else 0 (int64). Where
    both texts are ASCII with single spaces, norm is ASCII lower case and the strip, and a compiled search answers
    without building either normal form (kernels.copied_words); the other rows go through norm and the regex
    engine's literal search."""
    h, n = kernels.Texts.of(hay), kernels.Texts.of(needle)
    plain = ((kernels.byte_flags(h.addr, h.size) | kernels.byte_flags(n.addr, n.size)) & _NOT_PLAIN) == 0
    out = kernels.copied_words(h.addr, h.size, n.addr, n.size, plain, _STRIP_BYTES)
    odd = np.flatnonzero(~plain)
    if len(odd):
        s, t = norm(needle.gather(odd)), norm(hay.gather(odd))
        found = pl.DataFrame({"s": s, "t": t}).select(
            (pl.col("s").str.len_bytes() > 0) & pl.col("t").str.contains(pl.col("s"), literal=True)).to_series()
        out[odd] = np.where(found.to_numpy(), words_in(s), 0)
    return out


def words_in(normed: pl.Series) -> pl.Series:
    """Words of a normalised text (single spaces between words; "" has none)."""
    spaces = normed.str.count_matches(" ").to_numpy()
    return np.where(normed.str.len_bytes().to_numpy() > 0, spaces + 1, 0)
