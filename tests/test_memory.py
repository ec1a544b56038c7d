"""The process's C heap (umedata/memory.py): a teacher run pins glibc's mmap threshold, so large blocks freed do not
move later ones into the heap, unless the user set the threshold; each probe runs in a fresh process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only"
)

PROBE = """
import ctypes, json
from umedata import memory
class MI2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MI2
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
pinned = memory.pin_mmap_threshold() if {pin} else False
libc.free(libc.malloc(4 << 20))  # unpinned, glibc now serves blocks up to 4 MB from the heap
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(json.dumps({{"pinned": pinned, "mapped": mapped, "again": memory.pin_mmap_threshold()}}))
"""


def probe(pin: bool, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(pin=pin)], cwd=REPO, env={**clean, **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_pinned_threshold_keeps_a_large_block_in_its_own_mapping_after_a_larger_one_was_freed():
    assert probe(pin=False)["mapped"] == 0  # glibc's own behaviour: the freed 4 MB block raised the threshold
    pinned = probe(pin=True)
    assert pinned == {"pinned": True, "mapped": 1, "again": False}  # and only once per process


def test_a_threshold_the_user_set_is_left_alone():
    assert probe(pin=True, MALLOC_MMAP_THRESHOLD_="65536")["pinned"] is False
    assert probe(pin=True, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")["pinned"] is False


def test_a_teacher_run_pins_it(warehouse, tmp_path, monkeypatch):
    import umedata.memory as m
    from umedata.teacher.config import TeacherConfig
    from umedata.teacher.run import RunRecord

    calls = []
    monkeypatch.setattr(m, "pin_mmap_threshold", lambda: calls.append(1) or True)
    record = RunRecord(warehouse, TeacherConfig.from_dict({"backend": "offline", "model": "offline-test"}))
    with record.running():
        pass
    assert calls == [1]
