"""The evaluation report on a dataset version's split (tests/test_eval_metrics.py has the metrics by hand)."""

from __future__ import annotations

import pytest
import torch
from training_fixtures import tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import evaluate

torch.set_num_threads(1)


def test_report_on_an_untrained_model(tiny_dir, version_dir):
    # 8 tokens: an untrained model never reaches <gen_emb>, and 2048 greedy steps would take minutes on CPU
    report = evaluate.evaluate(str(tiny_dir), str(version_dir), split="eval", batch_size=8, max_completion_length=8,
                               cache_dir=None)
    ds = report["datasets"]["ShapesI2T"]
    assert ds["metric"] == "hit@1"
    assert ds["chance"] == pytest.approx(1 / ds["candidates"])
    assert ds["candidates"] == 12 and ds["queries"] == 24 and ds["lists"] == 1  # one list: the dataset's targets
    for kind in ("disc", "gen", "oracle"):
        assert 0.0 <= ds[kind] <= 1.0
    assert ds["oracle"] >= max(ds["disc"], ds["gen"])
    assert 0.0 <= report["gen_emb_share"] <= 1.0 and 0.0 <= report["format_ok_share"] <= 1.0
    assert report["max_completion_length"] == 8
    assert report["blank_image"] is True and report["truncated_sides"] == 0  # the recipe's defaults, recorded


def test_generation_is_capped_at_the_recipes_completion_length_by_default():
    args = evaluate.build_parser().parse_args(["--model", "m", "--dataset", "d"])
    assert args.max_completion_length == 2048 and args.blank_image is True
    assert evaluate.build_parser().parse_args(["--model", "m", "--dataset", "d", "--no-blank-image"]).blank_image is False


def test_teacher_forced_mode_and_query_limit(tiny_dir, version_dir):
    report = evaluate.evaluate(str(tiny_dir), str(version_dir), split="eval", gen_mode="teacher", max_queries=5,
                               cache_dir=None)
    ds = report["datasets"]["ShapesI2T"]
    assert ds["queries"] == 5 and ds["candidates"] == 12  # the pool stays the whole dataset's targets
    assert "gen_emb_share" not in report
