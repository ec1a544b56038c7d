"""The two SFT losses.

InfoNCE, symmetric: ((q -> t) + (t -> q)) / 2 over cosine similarities times a logit scale (50, i.e. tau 0.02).
Negatives are the other sides of the micro-batch gathered from every rank WITH gradient, so a micro-batch of b
pairs on w ranks sees b*w - 1 in-batch negatives per row; gradient accumulation adds none. Each rank averages its
own rows; DDP's gradient mean then equals the single-process loss on the global batch.

False negatives: a repeated class label is the same side (equal side_id) on several pairs, so "the other targets"
include copies of the positive. With the mask on (default), a column j is excluded from row i's softmax when pair
j's target or query is the same side as pair i's (i != j). Source hard negatives (off by default) are prompt-only
sides appended to the q -> t candidates; one equal to the row's positive is masked the same way.

CE: next-token loss over the assistant tokens, averaged per side (queries apart from targets). Under DDP the
divisor is the global token count / world size, so every token weighs the same whichever rank holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training import dist


@dataclass
class NCE:
    loss: torch.Tensor
    negatives: float  # candidates per row that are not the positive (before masking)
    masked: float  # mean false negatives masked per row
    accuracy: float  # share of rows (both directions) whose positive scores highest


def info_nce(q: torch.Tensor, t: torch.Tensor, q_keys: torch.Tensor, t_keys: torch.Tensor, scale: float = 50.0,
             mask_false_negatives: bool = True, neg: torch.Tensor | None = None,
             neg_keys: torch.Tensor | None = None) -> NCE:
    """q, t: this rank's (n, d) L2-normalised embeddings of n pairs; keys: side keys (int64) of their sides."""
    n = q.shape[0]
    all_q, all_t = dist.gather_with_grad(q), dist.gather_with_grad(t)
    all_qk, all_tk = dist.gather(q_keys), dist.gather(t_keys)
    pos = torch.arange(n, device=q.device) + dist.rank() * n

    same = torch.zeros(n, all_t.shape[0], dtype=torch.bool, device=q.device)
    if mask_false_negatives:
        same = (all_tk[None] == t_keys[:, None]) | (all_qk[None] == q_keys[:, None])
        same[torch.arange(n), pos] = False
    logits_qt = scale * q @ all_t.T
    logits_tq = scale * t @ all_q.T
    logits_qt = logits_qt.masked_fill(same, float("-inf"))
    logits_tq = logits_tq.masked_fill(same, float("-inf"))
    masked = same.sum().item() / max(n, 1)

    if neg is not None:
        all_neg = dist.gather_varlen(neg)
        all_nk = dist.gather_varlen(neg_keys, grad=False)
        extra = scale * q @ all_neg.T
        if mask_false_negatives:
            hit = all_nk[None] == t_keys[:, None]
            extra = extra.masked_fill(hit, float("-inf"))
            masked += hit.sum().item() / max(n, 1)
        logits_qt = torch.cat([logits_qt, extra], dim=1)

    loss = (F.cross_entropy(logits_qt, pos) + F.cross_entropy(logits_tq, pos)) / 2
    with torch.no_grad():
        acc = ((logits_qt.argmax(1) == pos).float().mean() + (logits_tq.argmax(1) == pos).float().mean()) / 2
    return NCE(loss, negatives=float(logits_qt.shape[1] - 1), masked=masked, accuracy=acc.item())


def side_ce(nll: torch.Tensor, nll_seq: torch.Tensor, first: int, last: int) -> tuple[torch.Tensor, int]:
    """Mean token loss of sequences first..last-1 (one side of the batch), normalised by the global count.

    Returns (loss, local token count)."""
    sel = (nll_seq >= first) & (nll_seq < last)
    count = int(sel.sum())
    total = float(dist.all_sum(count))
    if total == 0:
        return nll.sum() * 0.0, 0
    return nll[sel].sum() / (total / dist.world()), count
