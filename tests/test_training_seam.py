"""The trainer's seam: it imports only torch-side libraries and umedata.format, never the data side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from training_fixtures import REPO, python, subprocess_env

# Exactly the third-party packages training/ imports (import names; pillow is PIL). The README and the `train`
# extra list the same, plus tensorboard, which training/ never names: torch.utils.tensorboard imports it.
THIRD_PARTY = {"torch", "transformers", "peft", "pyarrow", "fsspec", "PIL", "numpy", "tokenizers", "tqdm"}
THROUGH_TORCH = {"torch.utils.tensorboard": "tensorboard"}
# Imported lazily, inside the one function that needs it, and installed only in the GPU environment (its pins clash
# with Prefect's), so in no extra: the vLLM generation backend (training/generation.py).
LAZY_GPU_ONLY = {"vllm"}

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
import training.generation, training.reward, training.rollout, training.score_rollouts
import training.rl_losses, training.grpo, training.embed_cache
import training.ids, training.setup, training.run_log
loaded = sorted(m for m in sys.modules if m.startswith("umedata"))
assert loaded == ["umedata", "umedata.format"], loaded
print("ok")
"""


def test_training_imports_with_the_data_side_blocked():
    out = subprocess.run([python(), "-c", BLOCKED_IMPORT], cwd=REPO, env=subprocess_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def _imports() -> dict[str, set[str]]:
    """Top-level name -> every module name training/*.py imports under it (function-level imports included)."""
    found: dict[str, set[str]] = {}
    for path in sorted(Path(REPO, "training").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(name)
    return found


def test_training_imports_exactly_the_listed_packages():
    found = _imports()
    third_party = {top for top in found if top not in sys.stdlib_module_names and top not in ("training", "umedata")}
    assert third_party == THIRD_PARTY | LAZY_GPU_ONLY
    assert found["umedata"] == {"umedata.format"}
    for module, package in THROUGH_TORCH.items():
        assert module in found["torch"], f"{module} is no longer imported: drop {package} from the list"
