"""Lengths in the student's tokens: the student model's own tokenizer.json, read with `tokenizers` (no torch).

    counter = TokenCounter.load("runs/tiny")            # a model folder, a tokenizer.json, or a hub id in the cache
    counter.count(pl.Series(["<think>…", ...]))         # numpy int64, one count per text (null -> 0)

Counting every text through `encode_batch` runs at ~10-20 k texts/s on 2 cores (the Qwen pre-tokenizer regex is
the cost), far below what the checks need. Byte-level BPE tokenizers (Qwen, GPT-style) never merge across a
pre-token boundary, and every space that follows a non-whitespace character starts a new pre-token; so a text's
count is the sum of the counts of its pieces cut before each such space (the first piece as is, every later one
with its space back). Texts repeat few distinct pieces (words), so each distinct piece is encoded once, its count
kept in a table keyed by the piece's 64-bit hash, and a row's counts are summed in one compiled pass
(kernels.piece_sums: open addressing, no GIL held). For a text whose spaces all sit between non-whitespace
characters (nearly every text) the pieces are its space-split words (Words.of, a compiled split of the texts'
bytes shared with the word-level rules); an oddly spaced text (runs of spaces, indentation, " \n") is cut by a
regex (Words.runs), its pieces then holding their whitespace runs.

The additivity is checked, not assumed: on first use the counter encodes up to 256 plain and 64 oddly spaced texts
both ways, each kind apart, and at the first difference (a tokenizer whose normalizer strips or prepends, a SentencePiece
Metaspace, a pre-tokenizer that joins a space to the word before it) counts those texts through `encode_batch`
whole and says so in `self.mode` / `self.odd_mode`. Collisions of the 64-bit piece hash among the ~1e5 distinct
pieces of a corpus: ~1e-10.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from umedata.checks import kernels
from umedata.checks.config import ChecksConfigError, file_sha
from umedata.checks.text import split_unsafe

log = logging.getLogger("umedata.checks")
VERIFY_TEXTS = {"mode": 256, "odd_mode": 64}  # texts encoded both ways once; oddly spaced ones are few and long
KNOWN_MAX = 5_000_000  # distinct pieces whose counts are kept between calls
TABLE_MIN = 1 << 16  # slots of an empty piece table
_FIRST = np.uint64(0x9E3779B97F4A7C15)  # salts the hash of a row's first piece (it is counted without its space)
# A piece of Words.runs: the text's first piece (from its start), or a space and what follows it up to the next space
# that follows a non-whitespace character. After \S+ only a non-space whitespace may continue a piece.
_RUN_PIECE = r"^\s*(?:\S+(?:[^\S ]\s*)?)*| \s*(?:\S+(?:[^\S ]\s*)?)*"


@dataclass
class Words:
    """The space-split pieces of a column of texts, flat and in row order: each piece's 64-bit hash
    (kernels' hash of its bytes) and where each row's pieces start. Split once, shared by token counting and the
    word-level rules. Every row has at least one piece ("" splits into [""]). The pieces themselves are read back
    only when asked for (spelled): from the texts they were cut from (Words.of), or from `w` (Words.runs)."""

    rows: int
    h: np.ndarray  # uint64 hash of each piece
    start: np.ndarray  # int64 index of each row's first piece (rows + 1 entries: the last is the total)
    w: pl.Series | None = None  # the pieces (Words.runs; may be "": two spaces in a row)
    texts: kernels.Texts | None = None  # the texts the pieces were cut from (Words.of)
    row0: int = 0  # the first row's row in `texts`

    @classmethod
    def of(cls, texts: pl.Series) -> Words:
        """Split at every space (a compiled pass over the texts' bytes: kernels.split)."""
        src = kernels.Texts.of(texts)
        h, start = kernels.split(src.addr, src.size)
        return cls(len(texts), h, start, texts=src)

    @classmethod
    def runs(cls, texts: pl.Series) -> Words:
        """Cut before every space that follows a non-whitespace character; a piece after a cut keeps its whitespace
        but for that one space (so on a plainly spaced text this is Words.of). For oddly spaced texts."""
        # Frame expressions throughout: polars runs them without the GIL, so threads measuring blocks overlap.
        lists = texts.cast(pl.String).fill_null("").to_frame("t").select(pl.col("t").str.extract_all(_RUN_PIECE)
                                                                         .alias("w"))
        # extract_all finds nothing in "": that row has the one empty piece split gives it
        lists = lists.select(pl.when(pl.col("w").list.len() == 0).then(pl.lit([""], dtype=pl.List(pl.String)))
                             .otherwise(pl.col("w")).alias("w"))
        n = len(texts)
        per_row = lists.select(pl.col("w").list.len()).to_series().to_numpy().astype(np.int64)
        start = np.zeros(n + 1, np.int64)
        np.cumsum(per_row, out=start[1:])
        first = np.zeros(int(start[-1]), dtype=bool)
        first[start[:-1]] = True
        # The cut space comes off; it goes back on when the piece is encoded, as for a split word.
        w = (lists.lazy().explode("w").with_columns(pl.when(pl.lit(pl.Series(first))).then(pl.col("w"))
                                                   .otherwise(pl.col("w").str.slice(1)).alias("w"))
             .collect().get_column("w"))
        src = kernels.Texts.of(w)
        return cls(n, kernels.hash_each(src.addr, src.size), start, w=w)

    def tail(self, rows: int) -> Words:
        """The pieces of the last `rows` rows, renumbered from 0 (for a Words made over two columns one after the
        other: Words.of(pl.concat([a, b])).tail(len(b)) is Words.of(b))."""
        begin = int(self.start[self.rows - rows])
        return Words(rows, self.h[begin:], self.start[self.rows - rows:] - begin,
                     None if self.w is None else self.w.slice(begin), self.texts, self.row0 + self.rows - rows)

    def head(self, rows: int) -> Words:
        """The pieces of the first `rows` rows (a view: no copy of the arrays)."""
        end = int(self.start[rows])
        return Words(rows, self.h[:end], self.start[:rows + 1], None if self.w is None else self.w.slice(0, end),
                     self.texts, self.row0)

    def spelled(self, idx: np.ndarray) -> list[str]:
        """The pieces at `idx` (ascending) as they are encoded: a row's first piece as is, a later one with its space
        back in front."""
        row = np.searchsorted(self.start, idx, side="right") - 1
        later = idx != self.start[row]
        if self.w is not None:
            w = self.w.gather(idx)
            return pl.select(pl.when(pl.lit(pl.Series(later))).then(" " + pl.lit(w)).otherwise(pl.lit(w))
                             ).to_series().to_list()
        offsets, data = kernels.pieces(self.texts.addr, self.texts.size, row + self.row0, idx - self.start[row],
                                       later)
        return pa.Array.from_buffers(pa.large_string(), len(idx), [None, pa.py_buffer(offsets),
                                                                   pa.py_buffer(data)]).to_pylist()


def resolve(student: str) -> Path:
    """A model folder holding tokenizer.json, a tokenizer.json file, or a hub model id already in the local
    Hugging Face cache (no download: checks run where hubs may be unreachable)."""
    p = Path(student).expanduser()
    if p.is_dir():
        f = p / "tokenizer.json"
        if f.is_file():
            return f
        raise ChecksConfigError(f"student {student!r} is a folder without tokenizer.json")
    if p.is_file():
        return p
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(student, "tokenizer.json")
        if isinstance(hit, str):
            return Path(hit)
    except (ImportError, ValueError):
        pass
    raise ChecksConfigError(
        f"student tokenizer {student!r}: no such folder or file, and not in the local Hugging Face cache "
        "(give the student model folder, e.g. the one `python -m training.tiny --out DIR` writes)"
    )


def _room(held: int) -> int:
    """Slots of a table holding `held` keys: a power of two, at most 2/3 full (linear probing stays short)."""
    size = TABLE_MIN
    while held * 3 > size * 2:
        size *= 2
    return size


class TokenCounter:
    """Counts texts in the student's tokens. Safe to share between threads: the piece counts learnt so far are one
    immutable table swapped under a lock, so a thread reads a consistent table while another adds to it."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self.path = path
        self.sha = file_sha(path)
        self.tok = Tokenizer.from_file(str(path))
        # "pieces" (additivity verified) | "whole" (it failed: such texts are encoded whole); None until first use
        self.mode: str | None = None  # plainly spaced texts (the space-split words)
        self.odd_mode: str | None = None  # oddly spaced texts (Words.runs)
        # piece key -> tokens, kept across calls: (keys, values, how many held), an open-addressing table
        # (kernels) never changed once published: a learning thread fills a copy and swaps it in.
        self._table = (*kernels.table(TABLE_MIN), 0)
        self._lock = threading.Lock()  # one thread learns at a time
        self._verifying = threading.Lock()  # one thread verifies additivity, the others wait for its answer

    @classmethod
    def load(cls, student: str) -> TokenCounter:
        return cls(resolve(student))

    def encode_lengths(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, np.int64)
        enc = self.tok.encode_batch_fast(texts, add_special_tokens=False)
        return np.fromiter(map(len, enc), np.int64, len(enc))  # len(Encoding): its token count, no ids list built

    def count(self, texts: pl.Series, words: Words | None = None) -> np.ndarray:
        """Tokens of each text (null counts 0), exactly as the student tokenizer counts them. `words`: the texts'
        pieces when the caller has them already (Words.of(texts), or a Words whose first rows are these texts)."""
        s = texts.cast(pl.String).fill_null("")
        n = len(s)
        if n == 0:
            return np.zeros(0, np.int64)
        odd = split_unsafe(s)
        if self.mode is None:
            self._verify(s.filter(pl.Series(~odd)), Words.of, "mode")
        if self.mode == "whole":
            return self.encode_lengths(s.to_list())
        words = words if words is not None else Words.of(s)
        out = self._pieces(words if words.rows == n else words.head(n))
        where = np.flatnonzero(odd)
        if len(where):
            texts = s.gather(where)
            if self.odd_mode is None:
                self._verify(texts, Words.runs, "odd_mode")
            out[where] = (self._pieces(Words.runs(texts)) if self.odd_mode == "pieces"
                          else self.encode_lengths(texts.to_list()))
        return out

    def _pieces(self, words: Words) -> np.ndarray:
        """Per row, the sum of its pieces' counts: the first piece as is, every later one with its space back.
        Each distinct (piece, first) is encoded once, the first time any page holds it."""
        keys, vals, _ = self._table
        sums, new, at = kernels.piece_sums(keys, vals, words.h, words.start, _FIRST)
        if len(new):
            # The missing pieces' counts come from a table of their own: another thread may have replaced the
            # shared one since (cleared it at KNOWN_MAX), and the second pass must miss exactly what the first did.
            mine = kernels.table(_room(len(new)))
            kernels.insert(*mine, new, self._learn(new, at, words).astype(np.int32))
            kernels.add_missing(sums, keys, vals, *mine, words.h, words.start, _FIRST)
        return sums

    def _learn(self, key: np.ndarray, idx: np.ndarray, words: Words) -> np.ndarray:
        """Tokens of the distinct pieces words[idx] (ascending; keys `key`), encoding those the table does not hold
        and adding them to it. One thread learns at a time (encode_batch is parallel itself): a thread that waited
        finds most of its pieces learnt by the other (the blocks of a page share their vocabulary) and encodes only
        the rest."""
        with self._lock:
            keys, vals, held = self._table
            if held > KNOWN_MAX:  # a corpus of garbage would grow it without bound
                keys, vals, held = *kernels.table(TABLE_MIN), 0
            n = kernels.find(keys, vals, key).astype(np.int64)
            new = np.flatnonzero(n < 0)
            if len(new):
                n[new] = self.encode_lengths(words.spelled(idx[new]))
                keys, vals = self._grown(keys, vals, max(len(keys), _room(held + len(new))))
                held += kernels.insert(keys, vals, key[new], n[new].astype(np.int32))
                self._table = (keys, vals, held)
        return n

    @staticmethod
    def _grown(keys: np.ndarray, vals: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the table with `size` slots (the published one is never written: threads read it unlocked)."""
        if size == len(keys):
            return keys.copy(), vals.copy()
        bigger = kernels.table(size)
        held = vals >= 0
        kernels.insert(*bigger, keys[held], vals[held])
        return bigger

    def _verify(self, sample: pl.Series, cut, mode: str) -> None:
        """Set `mode` ("mode" for plain texts, "odd_mode" for oddly spaced ones) to "pieces" when up to
        VERIFY_TEXTS[mode] of `sample` count the same cut into pieces by `cut` as whole, else to "whole". One thread
        checks; the others wait for its answer."""
        with self._verifying:
            if getattr(self, mode) is not None or len(sample) == 0:
                return
            most = VERIFY_TEXTS[mode]
            step = max(1, len(sample) // most)
            probe = sample.gather(np.arange(0, len(sample), step)[:most])
            direct = self.encode_lengths(probe.to_list())
            fast = self._pieces(cut(probe))
            if np.array_equal(direct, fast):
                setattr(self, mode, "pieces")
                return
            i = int(np.flatnonzero(direct != fast)[0])
            setattr(self, mode, "whole")
            log.warning("student tokenizer %s does not count %s texts by pieces (text %r: %d tokens whole, %d by "
                        "pieces); they go through encode_batch whole (slower, still exact)", self.path,
                        "plainly spaced" if mode == "mode" else "oddly spaced", probe[i][:80], direct[i], fast[i])
