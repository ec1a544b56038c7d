"""Retrieval metrics and the evaluation report."""

from __future__ import annotations

import math

import pytest
import torch
from training_fixtures import tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import evaluate

torch.set_num_threads(1)


def test_hit_at_1_and_ndcg_at_5_by_hand():
    # with one-hot queries, similarity[i][j] is candidate j's i-th coordinate
    sims = torch.tensor([[0.9, 0.5, 0.1],   # query 0, positive 0: rank 1
                         [0.0, 1.0, 0.0],   # query 1, positive 0: one candidate above, one tied -> rank 3
                         [0.1, 0.2, 1.0]])  # query 2, positive 2: rank 1
    q, c, pos = torch.eye(3), sims.T.contiguous(), torch.tensor([0, 0, 2])
    assert evaluate.positive_rank(sims, pos).tolist() == [1, 3, 1]
    assert evaluate._scores(q, c, pos, "hit@1").tolist() == [1.0, 0.0, 1.0]
    assert evaluate._scores(q, c, pos, "ndcg@5").tolist() == pytest.approx([1.0, 1 / math.log2(4), 1.0])
    # a positive ranked 7th scores 0 under NDCG@5
    far = torch.tensor([[0.0] + [0.1 * k for k in range(1, 7)]])
    assert evaluate._scores(torch.eye(1), far.T.contiguous(), torch.tensor([0]), "ndcg@5").tolist() == [0.0]


def test_ties_count_against_the_positive_in_both_metrics():
    # each row: the positive (column `pos`) ties with some others; rank = 1 + candidates scoring >= it
    sims = torch.tensor([[0.5, 0.5, 0.1, 0.1, 0.1, 0.1],   # positive 0 tied with 1            -> rank 2
                         [0.2, 0.9, 0.9, 0.9, 0.0, 0.0],   # positive 1 tied with 2 and 3      -> rank 3
                         [0.3, 0.3, 0.3, 0.3, 0.3, 0.8],   # positive 5 alone on top           -> rank 1
                         [0.7, 0.7, 0.7, 0.7, 0.7, 0.7]])  # all equal                         -> rank 6
    pos = torch.tensor([0, 1, 5, 3])
    assert evaluate.positive_rank(sims, pos).tolist() == [2, 3, 1, 6]
    q, c = torch.eye(4), sims.T.contiguous()
    assert evaluate._scores(q, c, pos, "hit@1").tolist() == [0.0, 0.0, 1.0, 0.0]
    ndcg = [1 / math.log2(3), 1 / math.log2(4), 1.0, 0.0]
    assert evaluate._scores(q, c, pos, "ndcg@5").tolist() == pytest.approx(ndcg)
    # the same tie never scores the positive higher in one metric than in the other
    hit, nd = evaluate._scores(q, c, pos, "hit@1"), evaluate._scores(q, c, pos, "ndcg@5")
    assert torch.all((hit == 1) == (nd == 1))


def test_a_collapsed_model_scores_zero_not_one():
    emb = torch.nn.functional.normalize(torch.ones(6, 4), dim=-1)  # every embedding the same
    pos = torch.arange(6)
    assert evaluate._scores(emb, emb, pos, "hit@1").tolist() == [0.0] * 6
    assert evaluate._scores(emb, emb, pos, "ndcg@5").tolist() == [0.0] * 6  # rank 6 of 6: past the top 5
    nan = torch.full((2, 4), float("nan"))  # a broken model's NaN embeddings count against it too
    assert evaluate._scores(nan, nan, torch.arange(2), "hit@1").tolist() == [0.0, 0.0]


def test_report_on_an_untrained_model(tiny_dir, version_dir):
    # 8 tokens: an untrained model never reaches <gen_emb>, and 2048 greedy steps would take minutes on CPU
    report = evaluate.evaluate(str(tiny_dir), str(version_dir), split="eval", batch_size=8, max_completion_length=8)
    ds = report["datasets"]["ShapesI2T"]
    assert ds["metric"] == "hit@1"
    assert ds["chance"] == pytest.approx(1 / ds["candidates"])
    assert ds["candidates"] == 12 and ds["queries"] == 24
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
    report = evaluate.evaluate(str(tiny_dir), str(version_dir), split="eval", gen_mode="teacher", max_queries=5)
    ds = report["datasets"]["ShapesI2T"]
    assert ds["queries"] == 5 and ds["candidates"] == 12  # the pool stays the whole dataset's targets
    assert "gen_emb_share" not in report
