"""GRPO loss functions against values computed by hand (training/rl_losses.py)."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from training import rl_losses as R


def test_advantages_by_hand():
    rewards = torch.tensor([1.0, 2.0, 3.0, 6.0, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    adv, zero = R.group_advantages(rewards, 4)
    g = [1.0, 2.0, 3.0, 6.0]
    mean, std = statistics.mean(g), statistics.stdev(g)  # stdev: the unbiased (n - 1) one
    assert std == pytest.approx(math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + 0 + 3 ** 2) / 3))
    assert adv[:4].tolist() == pytest.approx([(x - mean) / (std + 1e-4) for x in g], rel=1e-12)
    assert adv[4:].tolist() == [0.0, 0.0, 0.0, 0.0]  # all-equal group: exactly zero
    assert zero.tolist() == [False, True]


def test_all_equal_groups_of_awkward_floats_are_exactly_zero():
    # 0.1 * 3 is not exactly representable: mean - r can be a rounding residue, the advantage must not be
    rewards = torch.full((6,), 0.1 + 0.2, dtype=torch.float32)
    adv, zero = R.group_advantages(rewards, 3)
    assert adv.tolist() == [0.0] * 6 and zero.tolist() == [True, True]


def test_groups_equal_up_to_float_noise_are_zero_std():
    rewards = torch.tensor([0.25, 0.25 + 3e-7, 0.25 - 2e-7, 0.25, 0.25, 0.25 + 1e-5], dtype=torch.float64)
    adv, zero = R.group_advantages(rewards, 3)
    assert zero.tolist() == [True, False] and adv[:3].tolist() == [0.0, 0.0, 0.0]
    assert adv[5] > 0  # 1e-5 apart is a real difference: (r - mean) / (std + 1e-4), small but kept


def test_advantages_reject_bad_groups():
    with pytest.raises(ValueError, match="at least 2"):
        R.group_advantages(torch.ones(4), 1)
    with pytest.raises(ValueError, match="groups of 3"):
        R.group_advantages(torch.ones(4), 3)


@pytest.mark.parametrize("adv", [2.0, -2.0])
def test_clipped_surrogate_on_both_sides_of_the_clip(adv):
    lo, hi = 0.2, 0.28
    ratios = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5], dtype=torch.float64)
    logp = torch.log(ratios).requires_grad_()
    old = torch.zeros_like(ratios)
    surr, clip = R.clipped_surrogate(logp, old, torch.full_like(ratios, adv), lo, hi)
    if adv > 0:
        # ratio 1.5 > 1.28 is capped at 1.28 * A; a low ratio is not (min keeps the worse, unclipped value)
        expected = [0.5 * adv, 0.9 * adv, adv, 1.1 * adv, 1.28 * adv]
        expected_clip = [False, False, False, False, True]
    else:
        # ratio 0.5 < 0.8 is held at 0.8 * A (the worse value for A < 0); a high ratio is not
        expected = [0.8 * adv, 0.9 * adv, adv, 1.1 * adv, 1.5 * adv]
        expected_clip = [True, False, False, False, False]
    assert surr.tolist() == pytest.approx(expected, rel=1e-12)
    assert clip.tolist() == expected_clip
    surr.sum().backward()
    # d(rho A)/d logp = rho A where unclipped, 0 where the clip decided
    grad = [0.0 if c else r * adv for r, c in zip(ratios.tolist(), expected_clip)]
    assert logp.grad.tolist() == pytest.approx(grad, rel=1e-12)


def test_ratio_one_gives_the_policy_gradient():
    logp = torch.tensor([-1.0, -2.0], dtype=torch.float64, requires_grad=True)
    surr, clip = R.clipped_surrogate(logp, logp.detach(), torch.tensor([0.7, -0.3], dtype=torch.float64))
    assert surr.tolist() == pytest.approx([0.7, -0.3]) and not clip.any()
    surr.sum().backward()
    assert logp.grad.tolist() == pytest.approx([0.7, -0.3])


def test_k3_kl_by_hand():
    logp = torch.tensor([-1.0, -2.0, -0.5], dtype=torch.float64)
    ref = torch.tensor([-1.0, -1.5, -1.5], dtype=torch.float64)
    expected = [math.exp(r - p) - (r - p) - 1 for p, r in zip(logp.tolist(), ref.tolist())]
    assert expected[0] == 0.0 and all(e > 0 for e in expected[1:])
    assert R.k3_kl(logp, ref).tolist() == pytest.approx(expected, rel=1e-12)


def _loss_by_hand(tokens, adv, role, weight, lmax, beta, ref_minus_logp):
    """tokens[i] = number of tokens of sequence i; ratio 1; every token has the same ref - logp."""
    kl = math.exp(ref_minus_logp) - ref_minus_logp - 1
    per_seq = [n * (-a + beta * kl) / lmax for n, a in zip(tokens, adv)]
    sides = []
    for r in (0, 1):
        vals = [p for p, ro, w in zip(per_seq, role, weight) if ro == r and w]
        sides.append(sum(vals) / len(vals) if vals else 0.0)
    return (sides[0] + sides[1]) / 2


def test_loss_normalises_by_max_completion_length_and_averages_the_two_sides():
    # three query rollouts (3, 1 and 2 tokens) and one target rollout (4 tokens)
    tokens = [3, 1, 2, 4]
    seq = torch.tensor([i for i, n in enumerate(tokens) for _ in range(n)])
    logp = torch.full((len(seq),), -1.0, dtype=torch.float64)
    ref = logp + 0.3
    adv = torch.tensor([1.0, -0.5, 0.25, 2.0], dtype=torch.float64)
    role = torch.tensor([0, 0, 0, 1])
    weight = torch.ones(4)
    for lmax, beta in ((8, 0.04), (2048, 0.04), (8, 0.0)):
        out = R.grpo_loss(logp, logp, ref, seq, adv, role, weight, (3, 1), lmax, beta=beta)
        expected = _loss_by_hand(tokens, adv.tolist(), role.tolist(), [1] * 4, lmax, beta, 0.3)
        assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    # the divisor is the configured cap, not the sequence's own length: 8 -> 2048 scales the loss by 8 / 2048
    a = R.grpo_loss(logp, logp, ref, seq, adv, role, weight, (3, 1), 8).loss.item()
    b = R.grpo_loss(logp, logp, ref, seq, adv, role, weight, (3, 1), 2048).loss.item()
    assert b == pytest.approx(a * 8 / 2048, rel=1e-12)
    # symmetric: (mean of queries + mean of targets) / 2, not the mean over all four sequences
    per_seq = [n * -x / 8 for n, x in zip(tokens, adv.tolist())]
    no_kl = R.grpo_loss(logp, logp, None, seq, adv, role, weight, (3, 1), 8).loss.item()
    assert no_kl == pytest.approx((sum(per_seq[:3]) / 3 + per_seq[3]) / 2, rel=1e-12)
    assert no_kl != pytest.approx(sum(per_seq) / 4)
    assert out.tokens == 10 and out.clipped == 0


def test_weights_leave_sequences_out_and_shares_add_up_across_micro_batches_and_ranks():
    tokens = [2, 3, 1, 2]
    seq = torch.tensor([i for i, n in enumerate(tokens) for _ in range(n)])
    logp = torch.linspace(-2, -0.5, len(seq), dtype=torch.float64)
    ref = logp - 0.2
    adv = torch.tensor([0.5, -1.0, 1.5, 0.0], dtype=torch.float64)
    role = torch.tensor([0, 1, 0, 1])
    weight = torch.tensor([1.0, 1.0, 1.0, 0.0])  # the last (a zero-std group's) is filtered
    whole = R.grpo_loss(logp, logp, ref, seq, adv, role, weight, (2, 1), 16).loss.item()
    kl = math.exp(-0.2) + 0.2 - 1
    per = [n * (-a + 0.04 * kl) / 16 for n, a in zip(tokens, adv.tolist())]
    assert whole == pytest.approx(((per[0] + per[2]) / 2 + per[1]) / 2, rel=1e-12)
    # two micro-batches on each of two "ranks" (world=2 doubles each share; DDP halves the sum back)
    parts = []
    for idx in ([0], [1], [2], [3]):
        mask = torch.isin(seq, torch.tensor(idx))
        local = torch.searchsorted(torch.tensor(idx), seq[mask])
        parts.append(R.grpo_loss(logp[mask], logp[mask], ref[mask], local, adv[idx], role[idx], weight[idx],
                                 (2, 1), 16, world=2).loss.item())
    assert sum(parts) / 2 == pytest.approx(whole, rel=1e-12)
