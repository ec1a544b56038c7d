"""bench/grpo_step.py runs (our half; the TRL half needs its side venv and runs with the bench itself) and
rewrites only its own section of a markdown file."""

from __future__ import annotations

import torch
from training_fixtures import load_bench, run_bench_twice

torch.set_num_threads(1)


def test_cpu_bench_runs_and_updates_its_section_only(tmp_path):
    bench = load_bench("grpo_step")
    flags = ["--pairs", "2", "--group", "2", "--max-completion-length", "8", "--steps", "1", "--warmup", "0",
             "--no-trl"]
    rows, text = run_bench_twice(bench.main, flags, tmp_path)
    ours = rows[0]
    assert ours["rollouts"] == 2 * 2 * 2 and 1 <= ours["completion_len"] <= 8
    assert ours["rollouts_per_s"] > 0 and ours["generate_s"] > 0 and ours["update_s"] > 0
    assert ours["step_s"] >= ours["generate_s"] + ours["score_s"] + ours["update_s"] - 1e-3
    assert text.count(f"<!-- {bench.SECTION}:begin -->") == 1 and "## Ingest\nother figures" in text
    assert "TRL half skipped: --no-trl." in text
