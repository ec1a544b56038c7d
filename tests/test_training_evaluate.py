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
                         [0.0, 1.0, 0.0],   # query 1, positive 0: one candidate above, one tied -> rank 2
                         [0.1, 0.2, 1.0]])  # query 2, positive 2: rank 1
    q, c, pos = torch.eye(3), sims.T.contiguous(), torch.tensor([0, 0, 2])
    assert evaluate._scores(q, c, pos, "hit@1").tolist() == [1.0, 0.0, 1.0]
    assert evaluate._scores(q, c, pos, "ndcg@5").tolist() == pytest.approx([1.0, 1 / math.log2(3), 1.0])
    # a positive ranked 7th scores 0 under NDCG@5
    far = torch.tensor([[0.0] + [0.1 * k for k in range(1, 7)]])
    assert evaluate._scores(torch.eye(1), far.T.contiguous(), torch.tensor([0]), "ndcg@5").tolist() == [0.0]


def test_report_on_an_untrained_model(tiny_dir, version_dir):
    report = evaluate.evaluate(str(tiny_dir), str(version_dir), split="eval", batch_size=8, max_new_tokens=8)
    ds = report["datasets"]["ShapesI2T"]
    assert ds["metric"] == "hit@1"
    assert ds["chance"] == pytest.approx(1 / ds["candidates"])
    assert ds["candidates"] == 12 and ds["queries"] == 24
    for kind in ("disc", "gen", "oracle"):
        assert 0.0 <= ds[kind] <= 1.0
    assert ds["oracle"] >= max(ds["disc"], ds["gen"])
    assert 0.0 <= report["gen_emb_share"] <= 1.0 and 0.0 <= report["format_ok_share"] <= 1.0
    assert report["max_new_tokens"] == 8


def test_teacher_forced_mode_and_query_limit(tiny_dir, version_dir):
    report = evaluate.evaluate(str(tiny_dir), str(version_dir), split="eval", gen_mode="teacher", max_queries=5)
    ds = report["datasets"]["ShapesI2T"]
    assert ds["queries"] == 5 and ds["candidates"] == 12  # the pool stays the whole dataset's targets
    assert "gen_emb_share" not in report
