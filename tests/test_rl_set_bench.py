"""bench/curation.py runs at a small size, the three curations agree, and it rewrites only its own section."""

from __future__ import annotations

import importlib.util
import sys

from training_fixtures import REPO


def test_curation_bench_runs_small_and_agrees(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))  # the bench imports its section writer from beside it
    spec = importlib.util.spec_from_file_location("curation_bench", REPO / "bench" / "curation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\n## Ingest\nother figures\n")
    args = ["--pairs", "3000", "--target", "200", "--pools", "8", "--threads", "1", "--out", str(page)]
    result = bench.main(args)
    assert result["rows"] == 3000 * 2 * 8 and result["selected"] == 200
    assert result["pandas_differ"] == result["polars_differ"] == 0
    assert result["rollouts_per_s"]["8/cpu"] > 0
    bench.main(args)
    text = page.read_text()
    assert text.count("<!-- curation-bench:begin -->") == 1 and "## Ingest\nother figures" in text
