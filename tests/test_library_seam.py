"""The library's seam: `umedata/` is pure Python that never imports Prefect (flows resolve Prefect-only features,
such as Secret blocks, and pass them in) and never imports `flows` or `training`."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import umedata

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("prefect", "flows", "training")

BLOCKED_IMPORT = """
import importlib, pkgutil, sys
for name in ("prefect", "flows", "training"):
    sys.modules[name] = None  # any import of these now raises ImportError
import umedata
names = sorted(m.name for m in pkgutil.walk_packages(umedata.__path__, "umedata.") if m.name != "umedata.__main__")
for name in names:
    importlib.import_module(name)
print(len(names), "modules")
"""


def test_every_umedata_module_imports_with_prefect_flows_and_training_blocked():
    out = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split()[0]) > 30, out.stdout


def test_no_import_of_prefect_flows_or_training_anywhere_in_umedata_even_lazily():
    for mod in pkgutil.walk_packages(umedata.__path__, "umedata."):
        path = Path(mod.module_finder.path) / (mod.name.rsplit(".", 1)[-1] + ("/__init__.py" if mod.ispkg else ".py"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.relative_to(REPO)} imports {name}"
