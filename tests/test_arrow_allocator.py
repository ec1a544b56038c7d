"""Arrow's allocator in umedata's processes: the system allocator unless the user chose one (umedata/__init__.py),
and a teacher run says so once when pyarrow was imported first and kept mimalloc (teacher/run.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, logging, sys
if {pyarrow_first}:
    import pyarrow
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("umedata.teacher").addHandler(Keep())
from umedata.teacher.run import warn_if_mimalloc
import pyarrow as pa
warn_if_mimalloc()
warn_if_mimalloc()  # a second run in the same process says nothing new
print(json.dumps({{"pool": pa.default_memory_pool().backend_name, "warnings": records}}))
"""


def probe(pyarrow_first: bool, pool: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = pool
    out = subprocess.run([sys.executable, "-c", PROBE.format(pyarrow_first=pyarrow_first)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_umedata_first_gives_arrow_the_system_allocator_and_no_warning():
    assert probe(pyarrow_first=False, pool=None) == {"pool": "system", "warnings": []}


def test_pyarrow_imported_first_keeps_mimalloc_and_a_run_says_so_once():
    got = probe(pyarrow_first=True, pool=None)
    assert got["pool"] == "mimalloc"
    assert len(got["warnings"]) == 1 and "ARROW_DEFAULT_MEMORY_POOL=system" in got["warnings"][0]


def test_the_users_own_choice_of_allocator_wins_and_is_not_questioned():
    assert probe(pyarrow_first=False, pool="mimalloc") == {"pool": "mimalloc", "warnings": []}
    assert probe(pyarrow_first=False, pool="jemalloc")["pool"] == "jemalloc"
