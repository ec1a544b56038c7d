"""The C heap of a long run (umedata/memory.py): with glibc's own thresholds, what a thread frees stays resident
after glibc has raised them, and a trim does not return it; with keep_heap_returnable it goes back. Each case runs
in a fresh process, as the thresholds are the process's."""

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
import json, sys, threading
from umedata import memory

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

tuned = memory.keep_heap_returnable() if sys.argv[1] == "tuned" else False
big = bytearray(24 << 20)  # a mapped block freed: glibc's own thresholds rise to 24 MiB (trim: 48 MiB)
del big

def work():  # a worker thread's arena: 32 blocks of 1 MiB, written, then freed
    blocks = [bytearray(1 << 20) for _ in range(32)]
    del blocks

before = anon_mb()
t = threading.Thread(target=work)
t.start(); t.join()
memory.return_freed_memory()
print(json.dumps({"tuned": tuned, "kept_mb": anon_mb() - before}))
"""


def probe(mode: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True, text=True, check=True, cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")} | env,
    )
    return json.loads(out.stdout)


def test_a_thread_arena_keeps_what_it_freed_under_glibcs_thresholds_and_returns_it_once_they_are_fixed():
    plain, tuned = probe("plain"), probe("tuned")
    assert plain["kept_mb"] > 20, plain  # the free top of the thread's arena: under the risen trim threshold
    assert tuned["tuned"] is True
    assert tuned["kept_mb"] < 4, tuned


def test_thresholds_the_user_set_at_start_are_left_alone():
    assert probe("tuned", GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576")["tuned"] is False
    assert probe("tuned", MALLOC_MMAP_THRESHOLD_="65536")["tuned"] is False


def test_a_teacher_run_sets_them(warehouse, monkeypatch):
    import umedata.memory as m
    from umedata.teacher.config import TeacherConfig
    from umedata.teacher.run import RunRecord

    calls = []  # patched: the real call would change this test process's heap for the rest of the suite
    monkeypatch.setattr(m, "keep_heap_returnable", lambda: calls.append(1) or True)
    record = RunRecord(warehouse, TeacherConfig.from_dict({"backend": "offline", "model": "offline-test"}))
    with record.running():
        pass
    assert calls == [1]
