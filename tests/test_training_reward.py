"""training/reward.py against hand-computed cases (DESIGN.md, Method: r = r_format + rank x gap)."""

from __future__ import annotations

import math

import pytest
import torch

from training import reward as R

torch.set_num_threads(1)
A, B, C, X, Y = 1, 2, 3, 11, 12  # side keys: queries A, B, C; targets X, Y


def unit(*v):
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def basis(n, i):
    return torch.eye(n)[i]


def pool_two_pairs():
    """Pairs (A, X), (B, Y); G = 2. Target rollouts are basis vectors, so a query's cosines are its coordinates."""
    q = torch.stack([unit(3, 1, 2, 0), unit(1, 1, 0, 0), unit(0, 0, 1, 1), unit(1, 0, 0, 2)])  # A0 A1 B0 B1
    t = torch.eye(4)  # X0 X1 Y0 Y1
    emb = torch.cat([q, t])
    side = torch.tensor([A, A, B, B, X, X, Y, Y])
    is_target = torch.tensor([False] * 4 + [True] * 4)
    pairs = torch.tensor([[A, X], [B, Y]])
    return emb, side, is_target, pairs


def test_rank_and_gap_by_hand_in_both_directions():
    emb, side, is_target, pairs = pool_two_pairs()
    fmt = torch.tensor([True, False, True, True, True, True, False, True])
    out = R.score(emb, side, is_target, fmt, pairs, group_size=2)
    r14, r2, r5 = math.sqrt(14), math.sqrt(2), math.sqrt(5)
    expected = {
        # A0: s = (3, 1, 2, 0)/√14, P = {X0, X1}; top-2 = {X0, Y0}: one in P. gap = (3+1)/2 - (2+0)/2, over √14
        0: (0.5, 1 / r14),
        # A1: s = (1, 1, 0, 0)/√2: top-2 = P
        1: (1.0, 1 / r2),
        2: (1.0, 1 / r2),
        # B1: s = (1, 0, 0, 2)/√5, P = {Y0, Y1}; top-2 = {Y1, X0}; gap = (0+2)/2 - (1+0)/2, over √5
        3: (0.5, 0.5 / r5),
        # target X0 = e1 against the queries' first coordinates (3/√14, 1/√2, 0, 1/√5), P = {A0, A1}
        4: (1.0, (3 / r14 + 1 / r2) / 2 - (0 + 1 / r5) / 2),
        # X1: (1/√14, 1/√2, 0, 0)
        5: (1.0, (1 / r14 + 1 / r2) / 2),
        # Y0: (2/√14, 0, 1/√2, 0), P = {B0, B1}; top-2 = {B0, A0}
        6: (0.5, (1 / r2 + 0) / 2 - (2 / r14 + 0) / 2),
        # Y1: (0, 0, 1/√2, 2/√5)
        7: (1.0, (1 / r2 + 2 / r5) / 2),
    }
    for i, (rank, gap) in expected.items():
        assert out.rank[i].item() == pytest.approx(rank), i
        assert out.gap[i].item() == pytest.approx(gap, abs=1e-6), i
        assert out.r_emb[i].item() == pytest.approx(rank * gap, abs=1e-6), i
        # a failed format (rows 1 and 6) still gets its r_emb
        assert out.reward[i].item() == pytest.approx(float(fmt[i]) + rank * gap, abs=1e-6), i
    assert out.r_format.tolist() == fmt.float().tolist()
    assert out.n_pos.tolist() == [2] * 8 and out.n_neg.tolist() == [2] * 8


def test_rows_can_come_in_any_order_and_embeddings_are_normalised():
    emb, side, is_target, pairs = pool_two_pairs()
    fmt = torch.ones(8, dtype=torch.bool)
    ref = R.score(emb, side, is_target, fmt, pairs, 2)
    perm = torch.tensor([5, 2, 7, 0, 3, 6, 1, 4])
    out = R.score(emb[perm] * 3.0, side[perm], is_target[perm], fmt[perm], pairs.flip(0), 2)
    assert torch.allclose(out.reward, ref.reward[perm], atol=1e-6)


def test_a_target_side_shared_by_two_pairs_is_never_its_own_negative():
    # Pairs (A, X), (B, X), (C, Y), each with its own 2 rollouts per side (GRPO's layout): X has 4 rollouts.
    d = 6
    x = [basis(d, i) for i in range(4)]  # X rollouts of pair 0 (x0, x1) and pair 1 (x2, x3)
    y = [basis(d, 4), basis(d, 5)]
    a0 = unit(0, 0, 2, 3, 0, 1)  # closest to pair 1's X rollouts
    q = [a0, unit(1, 1, 0, 0, 0, 0), unit(0, 0, 1, 1, 0, 0), unit(0, 0, 0, 1, 1, 0), unit(0, 0, 0, 0, 1, 1),
         unit(0, 0, 0, 0, 1, 2)]
    emb = torch.stack(q + x + y)
    side = torch.tensor([A, A, B, B, C, C, X, X, X, X, Y, Y])
    is_target = torch.tensor([False] * 6 + [True] * 6)
    pair = torch.tensor([0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2])
    pairs = R.pool_pairs(pair, side, is_target)
    assert pairs.tolist() == [[A, X], [B, X], [C, Y]]
    out = R.score(emb, side, is_target, torch.zeros(12, dtype=torch.bool), pairs, group_size=2)
    r14 = math.sqrt(14)
    # A0: s = (0, 0, 2, 3 | 0, 1)/√14; P = all four X rollouts (|P| = 4 != G): top-2 = {x3, x2}, both in P
    assert out.n_pos[0] == 4 and out.n_neg[0] == 2
    assert out.rank[0].item() == pytest.approx(1.0)
    assert out.gap[0].item() == pytest.approx(((2 + 3) / 4 - 1 / 2) / r14)
    # x2 (pair 1's target rollout, side X): positives are the A and B queries (4), negatives the C queries
    s_x2 = [2 / r14, 0, 1 / math.sqrt(2), 0, 0, 0]
    assert out.n_pos[8] == 4 and out.n_neg[8] == 2
    assert out.rank[8].item() == pytest.approx(1.0)
    assert out.gap[8].item() == pytest.approx(sum(s_x2[:4]) / 4 - sum(s_x2[4:]) / 2)
    # the naive pool, where only pair 0's own X rollouts are positives of A0, would put x2, x3 among the negatives
    naive = R.score(emb[[0, 1, 2, 3, 6, 7, 8, 9]], torch.tensor([A, A, B, B, X, X, 99, 99]),
                    is_target[[0, 1, 2, 3, 6, 7, 8, 9]], torch.zeros(8, dtype=torch.bool),
                    torch.tensor([[A, X], [B, 99]]), group_size=2)
    assert naive.rank[0].item() == 0.0 and naive.gap[0].item() < 0


def test_the_pool_argument_changes_what_it_should():
    emb, side, is_target, pairs = pool_two_pairs()
    fmt = torch.tensor([True, False, True, True, True, True, False, True])
    full = R.score(emb, side, is_target, fmt, pairs, 2)
    # pair (A, X) alone: no negatives, so gap = 0 and r_emb = 0; rank is 1 (every candidate is a positive)
    keep = torch.tensor([0, 1, 4, 5])
    alone = R.score(emb[keep], side[keep], is_target[keep], fmt[keep], pairs[:1], 2)
    assert alone.gap.tolist() == [0, 0, 0, 0] and alone.r_emb.tolist() == [0, 0, 0, 0]
    assert alone.rank.tolist() == [1, 1, 1, 1] and alone.n_neg.tolist() == [0, 0, 0, 0]
    assert alone.r_format.tolist() == full.r_format[keep].tolist()
    assert alone.reward.tolist() == fmt[keep].float().tolist()
    # another partner pair: (A, X) with (C, Y') where Y' = -e1, far from everything but X0's direction reversed
    emb3 = torch.cat([emb[keep], torch.stack([unit(0, 0, 0, 1), unit(0, 0, 1, 0)]),
                      torch.stack([-basis(4, 0), -basis(4, 1)])])
    side3 = torch.tensor([A, A, X, X, C, C, Y, Y])
    t3 = torch.tensor([False, False, True, True, False, False, True, True])
    other = R.score(emb3, side3, t3, torch.ones(8, dtype=torch.bool), torch.tensor([[A, X], [C, Y]]), 2)
    # A0: s = (3, 1 | -3, -1)/√14 now: rank 1, gap = (2 - (-2))/√14 (it was rank 0.5, gap 1/√14 beside (B, Y))
    assert other.rank[0].item() == pytest.approx(1.0)
    assert other.gap[0].item() == pytest.approx(4 / math.sqrt(14))
    assert full.rank[0].item() == pytest.approx(0.5)


def test_ties_count_against_the_positives_and_a_collapsed_model_earns_nothing():
    emb, side, is_target, pairs = pool_two_pairs()
    collapsed = torch.ones(8, 4)
    out = R.score(collapsed, side, is_target, torch.zeros(8, dtype=torch.bool), pairs, 2)
    assert out.rank.tolist() == [0.0] * 8 and out.gap.abs().max() < 1e-6
    # A0 tied with one negative at the 2nd place: s = (2, 1, 1, 0): X0 above, then X1 and Y0 tie for one slot
    emb2 = emb.clone()
    emb2[0] = unit(2, 1, 1, 0)
    out = R.score(emb2, side, is_target, torch.zeros(8, dtype=torch.bool), pairs, 2)
    assert out.rank[0].item() == pytest.approx(0.5)
    # two positives tied at the 2nd place with one negative and G = 3: s = (2, 1, 1, 0) against 3 slots
    out = R.score(emb2, side, is_target, torch.zeros(8, dtype=torch.bool), pairs, 3)
    assert out.rank[0].item() == pytest.approx(1.0)  # X0, X1 and Y0 all fit: both positives count


def test_fewer_rollouts_than_g_and_g_larger_than_the_pool():
    emb, side, is_target, pairs = pool_two_pairs()
    keep = torch.tensor([0, 1, 2, 3, 4, 6, 7])  # X has one rollout left (X0)
    out = R.score(emb[keep], side[keep], is_target[keep], torch.zeros(7, dtype=torch.bool), pairs, 2)
    # A0: s = (3, 2, 0)/√14 over X0, Y0, Y1; top-2 = {X0, Y0}: 1 hit of min(G, |P|) = 1
    assert out.n_pos[0] == 1 and out.rank[0].item() == pytest.approx(1.0)
    assert out.gap[0].item() == pytest.approx((3 - 1) / math.sqrt(14))
    # G above the number of candidates: TopG is every candidate, so rank = |P| / min(G, |P|) = 1
    out = R.score(emb, side, is_target, torch.zeros(8, dtype=torch.bool), pairs, 16)
    assert out.rank.tolist() == [1.0] * 8


def test_a_rollout_without_positive_is_an_error():
    emb, side, is_target, pairs = pool_two_pairs()
    with pytest.raises(ValueError, match="no positive"):
        R.score(emb, side, is_target, torch.zeros(8, dtype=torch.bool), pairs[:1], 2)
    with pytest.raises(ValueError, match="lack query or target"):
        R.pool_pairs(torch.tensor([0, 0, 1]), torch.tensor([A, X, B]), torch.tensor([False, True, False]))


def _reference(emb, side, is_target, fmt, pairs, g):
    """A plain loop over rollouts: the definition read literally (positive sets from the pairs' sides)."""
    e = torch.nn.functional.normalize(emb.double(), dim=-1)
    rel = {(int(a), int(b)) for a, b in pairs.tolist()}
    out = []
    for i in range(len(e)):
        cands = [j for j in range(len(e)) if bool(is_target[j]) != bool(is_target[i])]
        s = {j: float(e[i] @ e[j]) for j in cands}
        if is_target[i]:
            P = [j for j in cands if (int(side[j]), int(side[i])) in rel]
        else:
            P = [j for j in cands if (int(side[i]), int(side[j])) in rel]
        N = [j for j in cands if j not in P]
        top = sorted(cands, key=lambda j: (-s[j], j in P))[:g]  # ties: negatives first
        rank = len([j for j in top if j in P]) / min(g, len(P))
        gap = (sum(s[j] for j in P) / len(P) - sum(s[j] for j in N) / len(N)) if N else 0.0
        out.append(float(fmt[i]) + rank * gap)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("max_cells", [1 << 28, 100])  # one similarity matrix, or row blocks per direction
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_matches_the_literal_definition_on_a_random_pool(device, max_cells):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gen = torch.Generator().manual_seed(0)
    n_pairs, g, dim = 12, 4, 8
    q_side = torch.randint(0, 9, (n_pairs,), generator=gen)  # repeats: some pairs share a query side
    t_side = 100 + torch.randint(0, 5, (n_pairs,), generator=gen)  # and many share a target side
    pair = torch.arange(n_pairs).repeat_interleave(g)
    side = torch.cat([q_side[pair], t_side[pair]])
    is_target = torch.cat([torch.zeros(len(pair), dtype=torch.bool), torch.ones(len(pair), dtype=torch.bool)])
    emb = torch.randn(len(side), dim, generator=gen)
    emb[60] = emb[52]  # two target rollouts of different pairs tie for every query
    emb[3] = emb[9]
    fmt = torch.rand(len(side), generator=gen) > 0.5
    pairs = R.pool_pairs(torch.cat([pair, pair]), side, is_target)
    out = R.score(emb.to(device), side.to(device), is_target.to(device), fmt.to(device), pairs.to(device), g,
                  block=7, max_cells=max_cells)  # several row blocks
    assert out.reward.device.type == device
    assert torch.allclose(out.reward.cpu().double(), _reference(emb, side, is_target, fmt, pairs, g), atol=1e-5)


def test_format_reward_is_the_regex_of_umedata_format():
    texts = ["<think>a</think><answer>b<gen_emb><|im_end|>", "<think>a</think> <answer>b</answer><gen_emb>",
             "<answer>b<gen_emb>", "<think>a</think><answer>b", ""]
    assert R.format_ok(texts).tolist() == [True, True, False, False, False]
