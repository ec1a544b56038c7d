"""bench/grpo_step.py runs (our half; the TRL half needs its side venv and runs with the bench itself) and
rewrites only its own section of a markdown file."""

from __future__ import annotations

import importlib.util

import torch
from training_fixtures import REPO

torch.set_num_threads(1)


def _bench():
    spec = importlib.util.spec_from_file_location("grpo_step_bench", REPO / "bench" / "grpo_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_bench_runs_and_updates_its_section_only(tmp_path):
    bench = _bench()
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\n## Ingest\nother figures\n")
    flags = ["--pairs", "2", "--group", "2", "--max-completion-length", "8", "--steps", "1", "--warmup", "0",
             "--no-trl", "--write", str(page)]
    rows = bench.main(flags)
    ours = rows[0]
    assert ours["rollouts"] == 2 * 2 * 2 and 1 <= ours["completion_len"] <= 8
    assert ours["rollouts_per_s"] > 0 and ours["generate_s"] > 0 and ours["update_s"] > 0
    assert ours["step_s"] >= ours["generate_s"] + ours["score_s"] + ours["update_s"] - 1e-3
    bench.main(flags)
    text = page.read_text()
    assert text.count(f"<!-- {bench.SECTION}:begin -->") == 1 and "## Ingest\nother figures" in text
    assert "TRL half skipped: --no-trl." in text
