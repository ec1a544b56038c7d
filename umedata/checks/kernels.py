"""Compiled kernels of the record checks: byte classes, verbatim containment, the word split, the word-level
statistics and the piece-count table, over the bytes of whole columns of texts, with no Python step per row or
per word.

    texts = Texts.of(series)                        # where each text's UTF-8 bytes are (no copy)
    flags = byte_flags(texts.addr, texts.size)      # per row: non-ASCII, control whitespace, "  ", garbage bytes
    words = copied_words(hay..., needle..., plain, strip)   # per row: the needle's words if the hay holds it
    h, start = split(texts.addr, texts.size)        # hashes of the space-split pieces, each row's first piece
    rep, run = word_stats(h, start, n, EMPTY)       # repeated n-gram share, longest run of one word, per row
    sums, *missing = piece_sums(keys, vals, h, start, salt)  # per-row sums of the values of an open-addressing table

They are numba functions compiled to machine code with the GIL released (nogil), so the threads that measure the
blocks of a page run them on every core at once. Compiled code is cached on disk (beside this file, or the user's
cache directory where that is read-only, or NUMBA_CACHE_DIR), so only a process that finds no cache compiles them:
a fresh process's first annotation takes ~3.5 s on 2 cores then, ~0.7 s with them cached (mostly imports).

Texts are read where polars keeps them: a String column exports to Arrow as a string_view array without a copy
(each row a 16-byte view: the length, then either the bytes themselves when they fit in 12 or a buffer index and
offset), so Texts holds each row's byte address and length and keeps the Arrow array (the owner of the bytes)
alive. A null reads as "".

A piece's hash is a 64-bit hash of its bytes (MurmurHash3's 64-bit block mix and finaliser, the length mixed in):
consistent within a process, which is all its users need (TokenCounter's table keys, n-gram distinctness);
collisions among the ~1e5 distinct pieces of a corpus: ~1e-10.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_C1, _C2 = np.uint64(0x87C37B91114253D5), np.uint64(0x4CF5AD432745937F)
_F1, _F2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_M5, _N1 = np.uint64(5), np.uint64(0x52DCE729)
_SEED = np.uint64(0x243F6A8885A308D3)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # joins the hashes of an n-gram's words
_U8, _U31, _U33, _U27, _U64 = np.uint64(8), np.uint64(31), np.uint64(33), np.uint64(27), np.uint64(64)
_SPACE = np.uint8(32)

log = logging.getLogger("umedata.checks")


_cached = [True]  # whether numba found a place to cache the kernels (it asks for each)


def jit(func):
    """Compiled without the GIL, cached on disk where numba finds a writable place (beside this file, the user's
    cache directory, or NUMBA_CACHE_DIR); where it finds none (a read-only install and no writable home) compiled
    anew in each process instead of failing to import."""
    if _cached[0]:
        try:
            return numba.njit(cache=True, nogil=True)(func)
        except RuntimeError as e:  # numba's "cannot cache function ...: no locator available"
            _cached[0] = False
            log.warning("%s; the record checks' kernels compile in every process (set NUMBA_CACHE_DIR to a writable "
                        "folder to keep them)", e)
    return numba.njit(nogil=True)(func)


@intrinsic
def _bytes_at(typingctx, addr):
    """The int64 address `addr` as a pointer to bytes (for numba.carray): the texts live in Arrow buffers that
    numba cannot take as arguments, so their addresses travel as integers. The caller keeps the buffers alive."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.PointerType(ir.IntType(8)))
    return types.CPointer(types.uint8)(types.int64), codegen


@numba.njit(inline="always")
def _rotl(x, r):
    return (x << r) | (x >> (_U64 - r))


@numba.njit(inline="always")
def _block(h, k):
    k *= _C1
    k = _rotl(k, _U31)
    k *= _C2
    h ^= k
    h = _rotl(h, _U27)
    return h * _M5 + _N1


@numba.njit(inline="always")
def _final(h, length):
    h ^= np.uint64(length)
    h ^= h >> _U33
    h *= _F1
    h ^= h >> _U33
    h *= _F2
    return h ^ (h >> _U33)


@intrinsic
def _word_at(typingctx, addr):
    """The 8 bytes at address `addr` as a little-endian uint64 (an unaligned load)."""
    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], ir.PointerType(ir.IntType(64)))
        return builder.load(ptr, align=1)
    return types.uint64(types.int64), codegen


_TAIL = np.array([(1 << (8 * k)) - 1 for k in range(8)], np.uint64)  # the low k bytes of a word


@numba.njit(inline="always")
def _hash(b, base, lo, hi, size):
    """Hash of the bytes b[lo:hi] of a text of `size` bytes at address `base`, eight at a time (little-endian
    words, the last one zero-padded; read as one word, masked, where the text has 8 bytes from there on)."""
    h = _SEED
    q = lo
    while q + 8 <= hi:
        h = _block(h, _word_at(base + q))
        q += 8
    if q < hi:
        if q + 8 <= size:
            w = _word_at(base + q) & _TAIL[hi - q]
        else:
            w = np.uint64(0)
            shift = np.uint64(0)
            for j in range(q, hi):
                w |= np.uint64(b[j]) << shift
                shift += _U8
        h = _block(h, w)
    return _final(h, hi - lo)


@jit
def _rows(views, valid, voff, vaddr, bufs):
    """(address, length) of each row's bytes from the 16-byte views (four uint32 each: length; inline bytes, or
    prefix, buffer index, offset). `valid`: the Arrow validity bitmap from bit `voff` on, empty when none."""
    n = len(views) // 4
    addr = np.empty(n, np.int64)
    size = np.empty(n, np.int64)
    for i in range(n):
        if len(valid) and not (valid[(voff + i) >> 3] >> ((voff + i) & 7)) & 1:
            addr[i] = 0
            size[i] = 0
            continue
        length = np.int64(views[4 * i])
        size[i] = length
        if length <= 12:
            addr[i] = vaddr + 16 * i + 4
        else:
            addr[i] = bufs[views[4 * i + 2]] + np.int64(views[4 * i + 3])
    return addr, size


@dataclass
class Texts:
    """Where the UTF-8 bytes of each text of a column are: addr (int64) and size (int64) per row, valid while
    `owner` (the Arrow array holding them) lives."""

    addr: np.ndarray
    size: np.ndarray
    owner: object

    @classmethod
    def of(cls, texts: pl.Series) -> Texts:
        arr = texts.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.newest())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.type != pa.string_view():
            arr = arr.cast(pa.string_view())
        n, off = len(arr), arr.offset
        buffers = arr.buffers()
        views = np.frombuffer(buffers[1], np.uint32)[4 * off:4 * (off + n)] if n else np.zeros(0, np.uint32)
        valid = (np.frombuffer(buffers[0], np.uint8) if buffers[0] is not None and arr.null_count
                 else np.zeros(0, np.uint8))
        bufs = np.array([b.address for b in buffers[2:]], np.int64)
        vaddr = buffers[1].address + 16 * off if n else 0
        addr, size = _rows(views, valid, off, vaddr, bufs)
        return cls(addr, size, arr)


NON_ASCII, CONTROL_WS, DOUBLE_SPACE, ASCII_GARBAGE = 1, 2, 4, 8  # byte_flags' bits


@jit
def byte_flags(addr, size):
    """Per text, which kinds of byte it holds, as bits: NON_ASCII (a byte >= 0x80: any non-ASCII character),
    CONTROL_WS (one of \\t \\n \\v \\f \\r), DOUBLE_SPACE (two spaces in a row), ASCII_GARBAGE (an ASCII
    control that is not whitespace, DEL, or one of $+<=>^`|~: the ASCII characters that are not letters, digits,
    punctuation or whitespace). Comparisons only, no branch per byte, so the loops run on vector registers."""
    out = np.zeros(len(addr), np.uint8)
    for i in range(len(addr)):
        end = size[i]
        b = numba.carray(_bytes_at(addr[i]), end)
        high = False
        ctrl = False
        bad = False
        double = False
        for j in range(end):
            c = b[j]
            high |= c >= 128
            ctrl |= (c >= 9) & (c <= 13)
            bad |= ((c < 9) | ((c >= 14) & (c <= 31)) | (c == 127) | (c == 36) | (c == 43)
                    | ((c >= 60) & (c <= 62)) | (c == 94) | (c == 96) | (c == 124) | (c == 126))
        for j in range(1, end):
            double |= (b[j] == 32) & (b[j - 1] == 32)
        out[i] = high * NON_ASCII | ctrl * CONTROL_WS | double * DOUBLE_SPACE | bad * ASCII_GARBAGE
    return out


@numba.njit(inline="always")
def _lower(c):
    return c + 32 if (c >= 65) & (c <= 90) else c


@numba.njit(inline="always")
def _stripped(b, end, strip):
    lo, hi = 0, end
    while lo < hi and strip[b[lo]]:
        lo += 1
    while hi > lo and strip[b[hi - 1]]:
        hi -= 1
    return lo, hi


@jit
def copied_words(hay_addr, hay_size, ndl_addr, ndl_size, plain, strip):
    """Per row where plain[row] (both texts ASCII with single spaces: their normal form is their ASCII lower case
    with the `strip` characters (256 bools) taken off both ends): the words of the needle's normal form when it is
    non-empty and occurs in the hay's, else 0; -1 where not plain. No normal form is built: bytes are lowered as
    they are read, and the search is Horspool's (the hay byte under the needle's last one says how far the needle
    may move on: past a byte the needle lacks, its whole length), so a 100-byte target is looked for in a 240-byte
    reasoning in a few steps, not one per byte."""
    out = np.full(len(hay_addr), -1, np.int64)
    shift = np.empty(256, np.uint8)  # capped at 255: a shorter move than allowed is still a correct one
    for i in range(len(hay_addr)):
        if not plain[i]:
            continue
        nb = numba.carray(_bytes_at(ndl_addr[i]), ndl_size[i])
        lo, hi = _stripped(nb, ndl_size[i], strip)
        out[i] = 0
        length = hi - lo
        if length == 0:
            continue
        hb = numba.carray(_bytes_at(hay_addr[i]), hay_size[i])
        hlo, hhi = _stripped(hb, hay_size[i], strip)
        if hhi - hlo < length:
            continue
        shift[:] = min(length, 255)
        for k in range(max(0, length - 256), length - 1):
            shift[_lower(nb[lo + k])] = length - 1 - k
        last = _lower(nb[hi - 1])
        p = hlo
        while p + length <= hhi:
            c = _lower(hb[p + length - 1])
            if c == last:
                k = 0
                while k < length - 1 and _lower(hb[p + k]) == _lower(nb[lo + k]):
                    k += 1
                if k == length - 1:
                    words = 1
                    for j in range(lo, hi):
                        words += nb[j] == _SPACE
                    out[i] = words
                    break
            p += shift[c]
    return out


def split(addr: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split every text at every space: (h, start), h the uint64 hash of each piece in row order ("" for the
    piece between two spaces in a row, or before a leading / after a trailing space), start the index in h of
    each row's first piece (rows + 1 entries). Every row has at least one piece ("" splits into [""]); equal to
    str.split(" ").

    Per row, the spaces' positions are listed first without a branch per byte (the position is written always,
    the count moves on at a space; a branch at every space would be mispredicted ~ once per word), then each
    piece between two of them is hashed."""
    n = len(addr)
    # At most one piece per byte, plus one per row. Numpy allocates it (with huge pages where the system has them:
    # a page fault per 4 KiB of a fresh 50 MB array costs more than the split itself); the pages past the last
    # piece are never touched, so they hold no memory.
    h = np.empty(int(size.sum()) + n, np.uint64)
    start = np.empty(n + 1, np.int64)
    return h[:_split(addr, size, h, start)], start


@jit
def _split(addr, size, h, start):
    n = len(addr)
    cut = np.empty((size.max() if n else 0) + 2, np.int64)
    k = 0
    for i in range(n):
        start[i] = k
        base, end = addr[i], size[i]
        b = numba.carray(_bytes_at(base), end)
        cut[0] = -1
        m = 1
        for j in range(end):
            cut[m] = j
            m += b[j] == _SPACE
        cut[m] = end
        for p in range(m):
            h[k] = _hash(b, base, cut[p] + 1, cut[p + 1], end)
            k += 1
    start[n] = k
    return k


@jit
def hash_each(addr, size):
    """The hash of each whole text (as split hashes a piece)."""
    out = np.empty(len(addr), np.uint64)
    for i in range(len(addr)):
        out[i] = _hash(numba.carray(_bytes_at(addr[i]), size[i]), addr[i], 0, size[i], size[i])
    return out


@jit
def pieces(addr, size, rows, ordinal, space):
    """The bytes of chosen pieces of split's cut, as Arrow large_string buffers (offsets, data): piece
    `ordinal[j]` of row `rows[j]`, with a space put before it where space[j]. The requests are in piece order
    (rows ascending, ordinals ascending within a row), so each row is scanned once."""
    m = len(rows)
    offsets = np.zeros(m + 1, np.int64)
    total = m  # the spaces put before pieces, and each row's bytes once (its pieces are disjoint parts of it)
    for j in range(m):
        if j == 0 or rows[j] != rows[j - 1]:
            total += size[rows[j]]
    data = np.empty(total, np.uint8)
    j = 0
    at = 0
    while j < m:
        r = rows[j]
        b = numba.carray(_bytes_at(addr[r]), size[r])
        piece = 0
        lo = 0
        for e in range(size[r] + 1):
            if e < size[r] and b[e] != _SPACE:
                continue
            while j < m and rows[j] == r and ordinal[j] == piece:
                if space[j]:
                    data[at] = _SPACE
                    at += 1
                for x in range(lo, e):
                    data[at] = b[x]
                    at += 1
                offsets[j + 1] = at
                j += 1
            piece += 1
            lo = e + 1
            if j >= m or rows[j] != r:
                break
        while j < m and rows[j] == r:  # an ordinal past the row's last piece: nothing (never asked for)
            offsets[j + 1] = at
            j += 1
    return offsets, data[:at].copy()


@jit
def word_stats(h, start, n, empty):
    """Per row: the share of its word n-grams that repeat an earlier one (1 - distinct / total; 0 without any),
    and the longest run of one word repeated back to back (0 for a row without words). A row's words are its
    pieces less the empty ones (hash `empty`); an n-gram's key mixes the hashes of its n consecutive words; the
    distinct keys of a row are counted in a small open-addressing set (eight times the row's n-grams, rounded up
    to a power of two: a key seldom finds its slot taken, which would cost a mispredicted branch; 30 % faster than
    twice), whose slots belong to the row that last wrote them, so no row clears it."""
    rows = len(start) - 1
    rep = np.zeros(rows)
    run = np.zeros(rows, np.int64)
    most = 1
    for r in range(rows):
        most = max(most, start[r + 1] - start[r])
    words = np.empty(most, np.uint64)
    size = 1
    while size < 8 * most:
        size *= 2
    keys = np.empty(size, np.uint64)
    owner = np.full(size, -1, np.int64)
    for r in range(rows):
        m = 0
        best = 0
        streak = 0
        for p in range(start[r], start[r + 1]):
            w = h[p]
            if w == empty:
                continue
            streak = streak + 1 if m and words[m - 1] == w else 1
            best = max(best, streak)
            words[m] = w
            m += 1
        run[r] = best
        total = m - n + 1
        if n < 1 or total < 1:
            continue
        mask = 1
        while mask < 8 * total:
            mask *= 2
        mask -= 1
        distinct = 0
        for j in range(total):
            key = words[j]
            for q in range(1, n):
                key = key * _MIX ^ words[j + q]
            s = np.int64(key & np.uint64(mask))
            while owner[s] == r and keys[s] != key:
                s = (s + 1) & mask
            if owner[s] != r:
                owner[s] = r
                keys[s] = key
                distinct += 1
        rep[r] = 1.0 - distinct / total
    return rep, run


@numba.njit(inline="always")
def _slot(keys, vals, key):
    """Where `key` is in the table, or the empty slot where it would go (linear probing; vals < 0: empty)."""
    mask = len(keys) - 1
    s = np.int64(key & np.uint64(mask))
    while vals[s] >= 0 and keys[s] != key:
        s = (s + 1) & mask
    return s


@jit
def piece_sums(keys, vals, h, start, first):
    """Per row, the sum of its pieces' values in the table (a row's first piece keyed by its hash ^ `first`, the
    others by their hash); and the distinct keys the table does not hold (those pieces add nothing yet), with the
    index in h of the first piece of each, in order. A page that meets a new vocabulary misses most of its pieces
    but few distinct ones: they are gathered in a set that doubles as it fills, never one per piece."""
    sums = np.zeros(len(start) - 1, np.int64)
    size = 1024
    seen = np.zeros(size, np.uint64)
    used = np.zeros(size, np.bool_)
    new = np.empty(size // 2, np.uint64)
    at = np.empty(size // 2, np.int64)
    m = 0
    for r in range(len(start) - 1):
        total = 0
        for p in range(start[r], start[r + 1]):
            k = h[p] ^ first if p == start[r] else h[p]
            v = vals[_slot(keys, vals, k)]
            if v >= 0:
                total += v
                continue
            s = np.int64(k & np.uint64(size - 1))
            while used[s] and seen[s] != k:
                s = (s + 1) & (size - 1)
            if used[s]:
                continue
            used[s] = True
            seen[s] = k
            new[m] = k
            at[m] = p
            m += 1
            if 2 * m == size:  # half full: twice the room, the keys so far put back
                size *= 2
                seen = np.zeros(size, np.uint64)
                used = np.zeros(size, np.bool_)
                for j in range(m):
                    s = np.int64(new[j] & np.uint64(size - 1))
                    while used[s]:
                        s = (s + 1) & (size - 1)
                    used[s] = True
                    seen[s] = new[j]
                new = np.concatenate((new, np.empty(size // 2 - m, np.uint64)))
                at = np.concatenate((at, np.empty(size // 2 - m, np.int64)))
        sums[r] = total
    return sums, new[:m].copy(), at[:m].copy()


@jit
def add_missing(sums, keys, vals, more, values, h, start, first):
    """sums[r] += the value in the table (more, values) of each piece of row r that the table (keys, vals) does not
    hold (keyed as piece_sums keys them): the second pass of piece_sums once its missing pieces are counted."""
    for r in range(len(start) - 1):
        for p in range(start[r], start[r + 1]):
            k = h[p] ^ first if p == start[r] else h[p]
            if vals[_slot(keys, vals, k)] < 0:
                sums[r] += values[_slot(more, values, k)]


@jit
def find(keys, vals, query):
    """The table's value of each key of `query`, -1 where it has none."""
    out = np.empty(len(query), np.int32)
    for j in range(len(query)):
        out[j] = vals[_slot(keys, vals, query[j])]
    return out


@jit
def insert(keys, vals, new, values):
    """Put (new, values) into the table in place (a key it holds keeps its value); the table must have room.
    Returns how many keys were added."""
    added = 0
    for j in range(len(new)):
        s = _slot(keys, vals, new[j])
        if vals[s] < 0:
            keys[s] = new[j]
            vals[s] = values[j]
            added += 1
    return added


def table(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """An empty table of `capacity` slots (a power of two): keys uint64, values int32 (-1: empty)."""
    return np.zeros(capacity, np.uint64), np.full(capacity, -1, np.int32)


EMPTY = np.uint64(hash_each(np.zeros(1, np.int64), np.zeros(1, np.int64))[0])  # the hash of ""
