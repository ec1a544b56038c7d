"""InfoNCE and CE against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from training import losses


def nll(logits: list[float], target: int) -> float:
    """-log softmax(logits)[target], written out."""
    return -logits[target] + math.log(sum(math.exp(x) for x in logits))


def test_info_nce_both_directions_with_scale():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    keys_q, keys_t = torch.tensor([1, 2]), torch.tensor([3, 4])
    s = 2.0
    # q -> t rows: q0.t = [1, 0.6], q1.t = [0, 0.8];  t -> q rows: t0.q = [1, 0], t1.q = [0.6, 0.8]
    qt = (nll([s * 1, s * 0.6], 0) + nll([s * 0, s * 0.8], 1)) / 2
    tq = (nll([s * 1, s * 0], 0) + nll([s * 0.6, s * 0.8], 1)) / 2
    out = losses.info_nce(q, t, keys_q, keys_t, scale=s)
    assert out.loss.item() == pytest.approx((qt + tq) / 2, rel=1e-6)
    assert out.negatives == 1
    # the scale multiplies the cosine: at 50 the same inputs give the hand value at 50
    s = 50.0
    qt = (nll([s * 1, s * 0.6], 0) + nll([s * 0, s * 0.8], 1)) / 2
    tq = (nll([s * 1, s * 0], 0) + nll([s * 0.6, s * 0.8], 1)) / 2
    q64 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # float64: the loss is ~1e-5 here
    t64 = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    default = losses.info_nce(q64, t64, keys_q, keys_t)
    assert default.loss.item() == pytest.approx((qt + tq) / 2, rel=1e-9)


def test_false_negative_mask_removes_copies_of_the_positive():
    # pairs 0 and 2 share the same target side (a repeated class label)
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    keys_q, keys_t = torch.tensor([10, 11, 12]), torch.tensor([7, 8, 7])
    s = 3.0
    dot = (q @ t.T).tolist()
    # masked: row 0 drops column 2, row 2 drops column 0 (both directions); row 1 keeps all
    qt = (nll([s * dot[0][0], s * dot[0][1]], 0) + nll([s * x for x in dot[1]], 1)
          + nll([s * dot[2][1], s * dot[2][2]], 1)) / 3
    tdot = (t @ q.T).tolist()
    tq = (nll([s * tdot[0][0], s * tdot[0][1]], 0) + nll([s * x for x in tdot[1]], 1)
          + nll([s * tdot[2][1], s * tdot[2][2]], 1)) / 3
    masked = losses.info_nce(q, t, keys_q, keys_t, scale=s)
    assert masked.loss.item() == pytest.approx((qt + tq) / 2, rel=1e-6)
    assert masked.masked == pytest.approx(2 / 3)  # two masked cells over three rows
    unmasked = losses.info_nce(q, t, keys_q, keys_t, scale=s, mask_false_negatives=False)
    assert unmasked.masked == 0
    assert unmasked.loss.item() > masked.loss.item()  # the copy counted as a negative costs loss


def test_same_query_side_is_masked_too():
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # one query side paired with two targets
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = losses.info_nce(q, t, torch.tensor([5, 5]), torch.tensor([1, 2]), scale=1.0)
    # every off-diagonal cell is masked, so each row holds only its positive: loss 0
    assert out.loss.item() == pytest.approx(0.0, abs=1e-7)


def test_hard_negatives_join_query_to_target_only_and_copies_are_masked():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    neg = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    neg_keys = torch.tensor([9, 3])  # the second negative IS pair 0's positive (key 3): masked for row 0
    s = 2.0
    qt = (nll([s * 1, s * 0, s * 0.6], 0) + nll([s * 0, s * 1, s * 0.8, s * 0], 1)) / 2
    tq = (nll([s * 1, s * 0], 0) + nll([s * 0, s * 1], 1)) / 2
    out = losses.info_nce(q, t, torch.tensor([1, 2]), torch.tensor([3, 4]), scale=s, neg=neg, neg_keys=neg_keys)
    assert out.loss.item() == pytest.approx((qt + tq) / 2, rel=1e-6)
    assert out.negatives == 3


def test_info_nce_gradient_flows_to_both_sides():
    q = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1).requires_grad_()
    t = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1).requires_grad_()
    losses.info_nce(q, t, torch.arange(4), torch.arange(4) + 10).loss.backward()
    assert q.grad.abs().sum() > 0 and t.grad.abs().sum() > 0


def test_side_ce_is_a_mean_per_side():
    token_nll = torch.tensor([1.0, 2.0, 3.0, 4.0, 6.0])
    seq = torch.tensor([0, 0, 1, 2, 3])  # 2 pairs: sequences 0,1 are queries, 2,3 targets
    ce_q, n_q = losses.side_ce(token_nll, seq, 0, 2)
    ce_t, n_t = losses.side_ce(token_nll, seq, 2, 4)
    assert (ce_q.item(), n_q) == (pytest.approx(2.0), 3)  # (1 + 2 + 3) / 3
    assert (ce_t.item(), n_t) == (pytest.approx(5.0), 2)  # (4 + 6) / 2
    empty, n = losses.side_ce(token_nll, seq, 4, 6)
    assert empty.item() == 0 and n == 0
