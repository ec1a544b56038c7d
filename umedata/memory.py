"""The process's C heap (glibc): keep what a long-running writer frees returnable, and hand it back, for a process
whose memory must stay flat (a teacher run); no-ops where glibc is not the allocator. Arrow allocates from the same
heap (umedata/__init__.py picks its system allocator), so its buffers are covered.

glibc sizes two thresholds on its own: each time a block it had mapped is freed, the mmap threshold rises to that
block's size (up to 32 MiB) and the trim threshold to twice that. The second is what costs a long run: a thread's
arena gives back the free space at its top only above the trim threshold, and malloc_trim never trims a thread
arena's top. Over a 1 M-request teacher run the free bytes held by the arenas grew from ~20 to ~31 MB (the largest
holder: the thread that runs the warehouse work), and the run's resident memory between commits rose ~10 MB with
them; its peak was 256 MB against 233 at 10 k requests (measured). `keep_heap_returnable` fixes both thresholds
instead: blocks up to 32 MiB come from the arenas, as they do once glibc has raised the threshold itself (pinned at
128 KiB, each ~1 MB buffer of a request carrying a 1-megapixel image was mapped and unmapped anew, and those requests
fell from 765 to 426 a second), and free tops above glibc's default 128 KiB go back. Measured with it: peak 233 /
243 / 252 MB at 10 k / 100 k / 1 M requests; image requests ~3 % slower (690 against 711 a second, mean of five
runs each; presumably arena tops given back and faulted in again).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
TRIM_THRESHOLD = 128 * 1024  # glibc's default
MMAP_THRESHOLD = 32 * 1024 * 1024  # the ceiling glibc's own rising threshold stops at (64-bit)


def _libc_function(name: str) -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)  # glibc; absent elsewhere (musl)
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_function("malloc_trim")
_MALLOPT = _libc_function("mallopt")
_TUNED = False


def _user_tuned_malloc() -> bool:
    """The thresholds were chosen when the process started (GLIBC_TUNABLES, MALLOC_*_): not ours to change."""
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") or any(
        os.environ.get(f"MALLOC_{name}_") for name in ("TRIM_THRESHOLD", "MMAP_THRESHOLD", "TOP_PAD", "MMAP_MAX")
    )


def keep_heap_returnable() -> bool:
    """Fix glibc's mmap and trim thresholds (module docstring) for the rest of the process, once; returns whether
    they are set. The setting is the process's, not the caller's: glibc has one, and a fixed threshold cannot be
    handed back to glibc's own sizing. Left alone where the user set the thresholds at start."""
    global _TUNED
    if _TUNED:
        return True
    if _MALLOPT is None or _user_tuned_malloc():
        return False
    _TUNED = bool(_MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(_MALLOPT(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _TUNED


def return_freed_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc's malloc_trim: the free pages inside every arena, and the
    main arena's top). A trim costs well under a millisecond; bounded warehouse handles trim after each connection
    closes."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
