"""The evaluation process: the command line `umedata eval` and the eval flow both launch, and where its report goes.

umedata never imports training: evaluation runs as `python -m training.evaluate` in its own process (the
interpreter may be a GPU environment's), reads the exported eval-set directory and writes a report JSON, which
umedata.evals.results loads.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Settings `umedata eval` passes through as they are (None: the evaluator's default, the recipe's).
PASS_THROUGH = ("max_completion_length", "batch_size", "max_queries", "temperature", "seed", "threads", "device",
                "backend", "min_pixels", "max_pixels")


def report_path(checkpoint: str, eval_dir_id: str) -> str:
    """Beside a local checkpoint's folder (inside its run folder), named by the eval directory; else here."""
    name = f"eval-{eval_dir_id[:16]}.json"
    folder = Path(checkpoint)
    return str(folder.resolve().parent / name) if folder.is_dir() else name


def evaluate_command(checkpoint: str, eval_dir: str, out: str, python: str | None = None,
                     pass_k: list[int] | None = None, cache_dir: str | None = None, blank_image: bool | None = None,
                     extra: list[str] | None = None, progress: bool = False, **settings) -> list[str]:
    """The evaluator's command line; `progress` draws its bar (on a terminal only: a flow's log gets none)."""
    unknown = set(settings) - set(PASS_THROUGH)
    if unknown:
        raise ValueError(f"unknown evaluation settings {sorted(unknown)} (known: {PASS_THROUGH})")
    cmd = [python or sys.executable, "-m", "training.evaluate", "--model", str(checkpoint), "--eval-sets",
           str(eval_dir), "--out", str(out), "--progress" if progress else "--no-progress"]
    for key, value in settings.items():
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    if pass_k:
        cmd += ["--pass-k", ",".join(str(k) for k in pass_k)]
    if cache_dir is not None:
        cmd += ["--cache-dir", str(cache_dir)]
    if blank_image is not None:
        cmd.append("--blank-image" if blank_image else "--no-blank-image")
    return cmd + list(extra or [])
