"""The trainer's seam: it imports only torch-side libraries and umedata.format, never the data side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from training_fixtures import REPO, python, subprocess_env

ALLOWED = {"torch", "transformers", "peft", "pyarrow", "fsspec", "PIL", "numpy", "tqdm", "tensorboard", "tokenizers",
           "training", "umedata"}

BLOCKED_IMPORT = """
import importlib.abc, sys
sys.modules["duckdb"] = None
sys.modules["prefect"] = None

class DataSide(importlib.abc.MetaPathFinder):
    # umedata itself and umedata.format are fine; any other umedata module is the data side
    def find_spec(self, name, path=None, target=None):
        if name.startswith("umedata.") and name != "umedata.format":
            raise ImportError(f"training imported the data side: {name}")
        return None

sys.meta_path.insert(0, DataSide())
import training, training.tiny, training.model, training.video, training.data, training.losses, training.dist
import training.checkpoint, training.sft, training.evaluate
loaded = sorted(m for m in sys.modules if m.startswith("umedata"))
assert loaded == ["umedata", "umedata.format"], loaded
print("ok")
"""


def test_training_imports_with_the_data_side_blocked():
    out = subprocess.run([python(), "-c", BLOCKED_IMPORT], cwd=REPO, env=subprocess_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_every_import_in_training_is_allowed():
    for path in sorted(Path(REPO, "training").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED or top in sys.stdlib_module_names, f"{path.name} imports {name}"
                if top == "umedata":
                    assert name == "umedata.format", f"{path.name} imports {name}"
