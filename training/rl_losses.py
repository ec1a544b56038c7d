"""The GRPO losses (UME-R1, stage 2), as small functions over flat token tensors.

Shapes: a micro-batch of n rollout sequences contributes T completion tokens; `logp`, `old_logp`, `ref_logp` are
(T,) log-probabilities of the sampled tokens, `seq` (T,) says which sequence each token belongs to (0..n-1, tokens
of one sequence contiguous, as training.model.EmbeddingModel returns them), and per-sequence tensors are (n,).

    advantage   A_i = (r_i - mean_g r) / (std_g r + 1e-4), std unbiased (n - 1) over the G rollouts of one side;
                a group whose rewards are all equal (to 1e-6) gets A = 0 exactly (and is counted as zero-std)
    surrogate   s_t = min(rho_t A_i, clip(rho_t, 1 - eps_low, 1 + eps_high) A_i),  rho_t = exp(logp - old_logp)
    k3 KL       k_t = exp(ref - logp) - (ref - logp) - 1   (>= 0, unbiased for KL(pi || ref) under pi's samples)
    sequence    L_i = sum_t (-s_t + beta k_t) / max_completion_length   (a constant divisor, not the length, so a
                long completion weighs no less per token than a short one: the reference's normalisation)
    loss        (mean_{i in queries} L_i + mean_{i in targets} L_i) / 2

With one policy update per generation batch old_logp is logp detached: rho = 1 and the clip is inert, but the
gradient of rho A is A grad logp, the policy gradient. Means run over the whole generation batch across ranks:
each rank divides its sums by the global count of its role's sequences and multiplies by the world size, so DDP's
gradient average and gradient accumulation over micro-batches (summed, not averaged) give exactly the loss above.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

QRY, POS = 0, 1  # roles of a rollout: a query side's or a target side's


def group_advantages(rewards: torch.Tensor, group: int, eps: float = 1e-4,
                     tol: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-relative advantages of contiguous groups of `group` rewards.

    A group whose rewards lie within `tol` of each other is all-equal: identical completions get embeddings that
    differ in the last bits when batched rows take different kernel paths, and such a group carries no signal.
    Returns (advantages like `rewards`, zero_std (n_groups,) bool)."""
    if group < 2:
        raise ValueError(f"a group needs at least 2 rollouts for an unbiased std, not {group}")
    if rewards.numel() % group:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group}")
    r = rewards.double().view(-1, group)
    zero_std = (r.amax(1) - r.amin(1)) <= tol
    adv = (r - r.mean(1, keepdim=True)) / (r.std(1, unbiased=True, keepdim=True) + eps)
    adv = torch.where(zero_std[:, None], torch.zeros_like(adv), adv)  # exactly 0, not a rounding residue
    return adv.view(-1).to(rewards.dtype), zero_std


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference) at the sampled tokens."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, eps_low: float = 0.2,
                      eps_high: float = 0.28) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO surrogate (to maximise) and where the clip decided it (no gradient flows there).

    `adv` is per token (a sequence's advantage repeated over its tokens)."""
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv
    return torch.minimum(unclipped, clipped), clipped < unclipped


def sequence_sums(values: torch.Tensor, seq: torch.Tensor, n: int) -> torch.Tensor:
    """Sum of per-token `values` for each of n sequences."""
    return values.new_zeros(n).index_add(0, seq, values)


@dataclass
class GRPOLoss:
    loss: torch.Tensor  # this micro-batch's share of the global loss (sum the shares, then backward each)
    kl: float  # sum of k3 over this micro-batch's weighted tokens (divide by the token count for a mean)
    clipped: float  # tokens where the clip decided the surrogate
    tokens: float  # weighted tokens of this micro-batch


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, seq: torch.Tensor,
              adv: torch.Tensor, role: torch.Tensor, weight: torch.Tensor, n_role: tuple[float, float],
              max_completion_length: int, eps_low: float = 0.2, eps_high: float = 0.28, beta: float = 0.04,
              world: int = 1) -> GRPOLoss:
    """This micro-batch's share of (L_qry + L_pos) / 2.

    adv, role (QRY/POS), weight (1 in the loss, 0 left out: a filtered zero-std group or a padding sequence) are
    per sequence; n_role = the global count of weighted query and target sequences of the whole generation batch.
    ref_logp None (or beta 0) drops the KL term."""
    n = adv.shape[0]
    surrogate, clip = clipped_surrogate(logp, old_logp, adv[seq], eps_low, eps_high)
    token = -surrogate
    kl = torch.zeros_like(logp)
    if ref_logp is not None and beta:
        kl = k3_kl(logp, ref_logp)
        token = token + beta * kl
    per_seq = sequence_sums(token, seq, n) / max_completion_length
    counts = torch.tensor(n_role, dtype=per_seq.dtype, device=per_seq.device)[role]
    share = torch.where(counts > 0, weight.to(per_seq.dtype) / counts.clamp(min=1), torch.zeros_like(counts))
    loss = (per_seq * share).sum() / 2 * world
    w_tok = weight.to(logp.dtype)[seq]
    with torch.no_grad():
        return GRPOLoss(loss, kl=float((kl.detach() * w_tok).sum()), clipped=float((clip.float() * w_tok).sum()),
                        tokens=float(w_tok.sum()))
