"""Scoring as the benchmark does it, on hand-made similarity matrices: candidate lists of their own, graded qrels,
ties counted against the relevant items, pass@k, and the per-set / per-category means."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training import data, evaluate
from training.embed_cache import Entry

torch.set_num_threads(1)
L2 = [1 / math.log2(r + 1) for r in range(1, 7)]  # the discount of ranks 1..6


def test_one_relevant_candidate_is_positive_rank():
    sims = torch.tensor([[0.9, 0.5, 0.1],   # positive 0 on top                  -> rank 1
                         [0.0, 1.0, 0.0],   # one above, one tied                -> rank 3
                         [0.1, 0.2, 1.0]])  # positive 2 on top                  -> rank 1
    pos = torch.tensor([0, 0, 2])
    assert evaluate.positive_rank(sims, pos).tolist() == [1, 3, 1]
    gains = torch.nn.functional.one_hot(pos, 3).float()
    hit, ndcg = evaluate.hit_and_ndcg(sims, gains)
    assert hit.tolist() == [1.0, 0.0, 1.0]
    assert ndcg.tolist() == pytest.approx([1.0, L2[2], 1.0])
    far = torch.tensor([[0.0] + [0.1 * k for k in range(1, 7)]])  # the positive 7th: past the top 5
    assert evaluate.hit_and_ndcg(far, torch.tensor([[1.0] + [0.0] * 6]))[1].tolist() == [0.0]


def test_graded_qrels_by_hand():
    # candidates a..e; relevance a=2, c=1, the rest 0
    gains = torch.tensor([[2.0, 0.0, 1.0, 0.0, 0.0]])
    # ranking c, b, a, d, e: DCG = 1/log2(2) + 2/log2(4); ideal a, c: 2/log2(2) + 1/log2(3)
    sims = torch.tensor([[0.5, 0.6, 0.9, 0.2, 0.1]])
    hit, ndcg = evaluate.hit_and_ndcg(sims, gains)
    assert hit.item() == 1.0  # c is relevant, if not the most relevant
    assert ndcg.item() == pytest.approx((1 * L2[0] + 2 * L2[2]) / (2 * L2[0] + 1 * L2[1]))
    # the ideal order scores 1; every relevant item below five irrelevant ones scores 0
    assert evaluate.hit_and_ndcg(torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.3]]), gains)[1].item() == pytest.approx(1.0)
    worst = torch.tensor([[0.0, 0.9, 0.0, 0.8, 0.7, 0.6, 0.5]])
    assert evaluate.hit_and_ndcg(worst, torch.tensor([[2.0, 0.0, 1.0, 0, 0, 0, 0]]))[1].item() == 0.0


def test_ties_count_against_the_relevant_items():
    gains = torch.tensor([[2.0, 0.0, 1.0, 0.0]])
    # everything tied: irrelevant first, then grade 1, then grade 2 -> ranks 3 (grade 1) and 4 (grade 2)
    flat = torch.full((1, 4), 0.3)
    hit, ndcg = evaluate.hit_and_ndcg(flat, gains)
    assert hit.item() == 0.0
    assert ndcg.item() == pytest.approx((1 * L2[2] + 2 * L2[3]) / (2 * L2[0] + 1 * L2[1]))
    # a relevant item tied with an irrelevant one at the top loses the top place
    tie = torch.tensor([[0.9, 0.9, 0.1, 0.1]])
    assert evaluate.hit_and_ndcg(tie, gains)[0].item() == 0.0
    # ... which is exactly positive_rank's rule when one candidate is relevant
    sims = torch.tensor([[0.5, 0.5, 0.1], [0.7, 0.7, 0.7], [0.2, 0.9, 0.9]])
    pos = torch.tensor([0, 2, 1])
    hit, ndcg = evaluate.hit_and_ndcg(sims, torch.nn.functional.one_hot(pos, 3).float())
    ranks = evaluate.positive_rank(sims, pos)
    assert ranks.tolist() == [2, 3, 2]
    assert ndcg.tolist() == pytest.approx([L2[r - 1] for r in ranks.tolist()])
    assert hit.tolist() == [0.0, 0.0, 0.0]


def test_a_collapsed_or_broken_model_scores_zero():
    emb = torch.nn.functional.normalize(torch.ones(6, 4), dim=-1)
    gains = torch.eye(6)
    hit, ndcg = evaluate.hit_and_ndcg(emb @ emb.T, gains)
    assert hit.tolist() == [0.0] * 6 and ndcg.tolist() == [0.0] * 6  # rank 6 of 6
    nan = torch.full((2, 3), float("nan"))
    hit, ndcg = evaluate.hit_and_ndcg(nan, torch.tensor([[1.0, 0, 0], [0, 2.0, 0]]))
    assert hit.tolist() == [0.0, 0.0]
    assert ndcg.tolist() == pytest.approx([L2[2], L2[2]])  # NaN ranks the relevant item last: 3rd of 3


def test_pass_at_k_estimator():
    assert evaluate.pass_at_k(8, 0, 1) == 0.0 and evaluate.pass_at_k(8, 8, 4) == 1.0
    assert evaluate.pass_at_k(8, 2, 1) == pytest.approx(2 / 8)
    assert evaluate.pass_at_k(8, 2, 2) == pytest.approx(1 - math.comb(6, 2) / math.comb(8, 2))
    assert evaluate.pass_at_k(8, 7, 2) == 1.0  # any two samples include a solving one
    assert [evaluate.pass_at_k(8, 3, k) for k in (1, 2, 4, 8)] == sorted(evaluate.pass_at_k(8, 3, k) for k in (1, 2, 4, 8))


def _entry(side, vec, sample=-1, found=True):
    v = np.asarray(vec, np.float32)
    v = v / np.linalg.norm(v)
    return Entry(side, sample, v, v, found, "<think>x</think><answer>y<gen_emb>" if found else "x", 3, "stop")


def test_score_set_ranks_each_query_against_its_own_list_and_means_by_category():
    # two image sets and a visdoc set; embeddings in 2D so every similarity is known
    sides = {s: data.Side(s, s) for s in ("q1", "q2", "a", "b", "c", "d", "q3", "p1", "p2", "p3")}
    ev = data.EvalSets(
        "x", "eval_sets",
        [{"name": "I", "category": "image", "metric": "hit@1"}, {"name": "J", "category": "image", "metric": "hit@1"},
         {"name": "D", "category": "visdoc", "metric": "ndcg@5"}],
        sides,
        {"I": [("0", "q1", "L1"), ("1", "q2", "L2")], "J": [("0", "q1", "L3")], "D": [("0", "q3", "C")]},
        {("I", "L1"): ["a", "b"], ("I", "L2"): ["a", "b", "c", "d"], ("J", "L3"): ["c", "d"],
         ("D", "C"): ["p1", "p2", "p3"]},
        {("I", "0"): {"a": 1}, ("I", "1"): {"c": 1}, ("J", "0"): {"c": 1}, ("D", "0"): {"p1": 2, "p2": 1}},
    )
    vec = {"q1": [1, 0], "a": [1, 0.1], "b": [0, 1], "q2": [0, 1], "c": [1, 1], "d": [0, 1],
           "q3": [1, 0], "p1": [0.5, 1], "p2": [1, 0], "p3": [1, 0.2]}
    greedy = {(s, -1): _entry(s, v) for s, v in vec.items()}
    r_i = evaluate.score_set("I", ev.sets[0], ev, greedy, None, [], None)
    # q1 vs [a, b]: a on top (hit); q2 vs [a, b, c, d]: b and d tie on top, c (relevant) below -> miss
    assert r_i["hit@1"]["disc"] == pytest.approx(0.5)
    assert r_i["chance"] == pytest.approx((1 / 2 + 1 / 4) / 2) and r_i["lists"] == 2 and r_i["candidates"] == 4
    r_j = evaluate.score_set("J", ev.sets[1], ev, greedy, None, [], None)
    assert r_j["hit@1"]["gen"] == 1.0  # q1 vs [c, d]: c wins
    r_d = evaluate.score_set("D", ev.sets[2], ev, greedy, None, [], None)
    # q3 = (1, 0): p2 (grade 1) first, p3, then p1 (grade 2)
    ideal = 2 * L2[0] + 1 * L2[1]
    assert r_d["ndcg@5"]["disc"] == pytest.approx((1 * L2[0] + 2 * L2[2]) / ideal)
    assert r_d["disc"] == r_d["ndcg@5"]["disc"] and r_d["gen_emb_share"] == 1.0
    cats, overall = evaluate.summarise({"I": r_i, "J": r_j, "D": r_d}, [])
    assert cats["image"]["disc"] == pytest.approx((0.5 + 1.0) / 2) and cats["image"]["sets"] == ["I", "J"]
    assert overall["disc"] == pytest.approx((0.5 + 1.0 + r_d["disc"]) / 3)


def test_oracle_is_per_instance_and_pass_at_k_counts_solving_samples():
    sides = {s: data.Side(s, s) for s in ("q1", "q2", "a", "b")}
    ev = data.EvalSets("x", "eval_sets", [{"name": "I", "category": "image", "metric": "hit@1"}], sides,
                       {"I": [("0", "q1", "L"), ("1", "q2", "L")]}, {("I", "L"): ["a", "b"]},
                       {("I", "0"): {"a": 1}, ("I", "1"): {"b": 1}})
    greedy = {("a", -1): _entry("a", [1, 0]), ("b", -1): _entry("b", [0, 1])}
    # q1: disc right, gen wrong; q2: disc wrong, gen right -> disc 0.5, gen 0.5, oracle 1.0
    for q, d, g in (("q1", [1, 0], [0, 1]), ("q2", [1, 0], [0, 1])):
        e = _entry(q, d)
        e.gen = np.asarray(g, np.float32)
        greedy[(q, -1)] = e
    # 4 samples per query: q1's gen solves in 1 of 4, q2's in 4 of 4
    samples = {}
    for j in range(4):
        samples[("q1", j)] = _entry("q1", [1, 0] if j == 0 else [0, 1], j)
        samples[("q2", j)] = _entry("q2", [0, 1], j)
    r = evaluate.score_set("I", ev.sets[0], ev, greedy, samples, [1, 2, 4], None)
    assert (r["disc"], r["gen"], r["oracle"]) == (0.5, 0.5, 1.0)
    p = r["pass@k"]
    assert p["1"]["gen"] == pytest.approx((1 / 4 + 1) / 2)
    assert p["2"]["gen"] == pytest.approx((1 - math.comb(3, 2) / math.comb(4, 2) + 1) / 2)
    assert p["4"]["gen"] == 1.0
    assert p["1"]["disc"] == p["4"]["disc"] == 0.5  # disc does not depend on sampling
    assert p["1"]["oracle"] == 1.0  # q1 by disc, q2 by every sample
