"""The RL reward of UME-R1 (DESIGN.md, Method): r = r_format + r_emb, with r_emb = rank x gap.

For a query rollout i with generative embedding e_i, scored against the target rollouts of its pool:

    s      = cos(e_i, e_t) for every target rollout t of the pool
    P      = the target rollouts that are positives of i (below)
    rank_i = |TopG(s) ∩ P| / G          G = the group size (rollouts per side, 8 in the recipe)
    gap_i  = mean_P s - mean_{pool \\ P} s
    r_emb  = rank_i x gap_i
    r_format = 1 iff umedata.format.FORMAT_REGEX matches the completion

and symmetrically for a target rollout against the query rollouts of the pool. r_emb is computed for every
rollout, also when its format fails (its embedding then comes from the fallback position, training.generation).

The pool is an argument: the RL trainer passes its generation batch gathered across ranks (the reference), offline
curation passes seeded pools of P pairs from one dataset (training/score_rollouts.py); the pool changes the reward,
so every caller records which one it used. A pool is

    rows  : the rollouts — embedding (N, H), side key (N,) int64, role (is_target, (N,) bool), format_ok (N,)
    pairs : (M, 2) int64, the (query side, target side) keys of the pool's pairs

Positives come from sides, not from row positions: a query rollout of side a and a target rollout of side b are
positives of each other iff (a, b) is a pair of the pool. With one distinct side per pair this is exactly
DESIGN.md's "P = the G rollouts of g's target". When two pairs of a pool share a target side (a class label), all
of that side's rollouts are positives of both queries, and both queries are positives of each of those target
rollouts, so a class label is never its own negative (|P| is then a multiple of G). GRPO's layout (rows carrying a
pair index) turns into `pairs` with `pool_pairs`.

Edge cases, chosen so the reward never rewards what it cannot measure:
  * TopG with ties counts them against the positives (the positives at the G-th score take only the slots the
    negatives tied with them leave), so a collapsed model whose embeddings all tie gets rank 0, not a lucky
    draw; the same rule as training/evaluate.py's Hit@1.
  * |P| != G: rank = |TopG ∩ P| / min(G, |P|), so it stays in [0, 1] and a perfect ranking scores 1 even when a
    side has fewer than G rollouts in the pool. G larger than the candidates: TopG is all of them.
  * no negatives in the pool (one pair, or every pair with the same target): gap = 0, so r_emb = 0 — there is
    nothing to contrast with. A rollout with no positive in the pool is the caller's error (ValueError).

Vectorised over the pool (similarities, top-G thresholds and masked means as tensor ops; rows in blocks of
`block` to bound memory), on the embeddings' device, CPU or GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from umedata.format import FORMAT_REGEX


@dataclass
class Reward:
    """Per rollout row, in the order of the pool's rows (float32, on the embeddings' device)."""

    r_format: torch.Tensor
    rank: torch.Tensor
    gap: torch.Tensor
    r_emb: torch.Tensor
    reward: torch.Tensor
    n_pos: torch.Tensor  # |P| (int64)
    n_neg: torch.Tensor  # |pool \ P| (int64)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"r_format": self.r_format, "rank": self.rank, "gap": self.gap, "r_emb": self.r_emb,
                "reward": self.reward}


def format_ok(texts: list[str]) -> torch.Tensor:
    """(N,) bool: FORMAT_REGEX matches each completion (r_format)."""
    return torch.tensor([FORMAT_REGEX.search(t) is not None for t in texts], dtype=torch.bool)


def pool_pairs(pair: torch.Tensor, side: torch.Tensor, is_target: torch.Tensor) -> torch.Tensor:
    """(M, 2) (query side, target side) keys from rows that carry a pair index (GRPO's generation batch).

    Every pair index must have query and target rows, all of one side per role."""
    pair, side, is_target = pair.long(), side.long(), is_target.bool()
    n = int(pair.max()) + 1 if pair.numel() else 0
    out = torch.zeros(n, 2, dtype=torch.long, device=side.device)
    seen = torch.zeros(n, 2, dtype=torch.bool, device=side.device)
    role = is_target.long()
    out[pair, role] = side
    seen[pair, role] = True
    if not bool(seen.all()):
        missing = (~seen.all(1)).nonzero().flatten()[:5].tolist()
        raise ValueError(f"pairs {missing} lack query or target rollouts in the pool")
    if not bool((out[pair, role] == side).all()):
        raise ValueError("the rows of one pair and role carry different side keys")
    return out


def _one_direction(s: torch.Tensor, pos: torch.Tensor, group_size: int) -> tuple[torch.Tensor, ...]:
    """rank, gap, |P|, |negatives| of rows with similarities `s` (n, m) to their candidates (pos: (n, m) bool)."""
    m = s.shape[1]
    count = dict(dim=1, dtype=torch.int32)  # counting in int32 runs several times faster than bool -> int64
    n_pos = pos.sum(**count).long()
    n_neg = m - n_pos
    k = min(group_size, m)
    kth = s.topk(k, dim=1).values[:, -1:]
    above, at = s > kth, s == kth
    hits = (above & pos).sum(**count)
    slots = k - above.sum(**count)
    at_pos = (at & pos).sum(**count)
    tie_hits = (slots - (at.sum(**count) - at_pos)).clamp(min=0).minimum(at_pos)
    rank = (hits + tie_hits).float() / n_pos.clamp(max=group_size, min=1).float()
    sum_p = (s * pos).sum(1)
    mean_p = sum_p / n_pos.clamp(min=1)
    mean_n = (s.sum(1) - sum_p) / n_neg.clamp(min=1)
    gap = torch.where(n_neg > 0, mean_p - mean_n, torch.zeros_like(mean_p))
    return rank, gap, n_pos, n_neg


def score(embeddings: torch.Tensor, side: torch.Tensor, is_target: torch.Tensor, format_ok: torch.Tensor,
          pairs: torch.Tensor, group_size: int, block: int = 4096, max_cells: int = 1 << 28) -> Reward:
    """The reward parts of every rollout of one pool (see the module docstring). `block` rows are ranked at a time;
    up to `max_cells` query x target similarities (1 GiB of float32) are computed once for both directions."""
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, not {group_size}")
    dev = embeddings.device
    e = F.normalize(embeddings.float(), dim=-1)
    side, is_target = side.to(dev).long(), is_target.to(dev).bool()
    pairs = pairs.to(dev).long().reshape(-1, 2)
    n = e.shape[0]
    # Sides -> compact ids; R[a, b] = some pair of the pool is (query side a, target side b).
    _, inv = torch.unique(torch.cat([side, pairs.flatten()]), return_inverse=True)
    u_row, u_pair = inv[:n], inv[n:].view(-1, 2)
    u = int(inv.max()) + 1 if inv.numel() else 0
    related = torch.zeros(u, u, dtype=torch.bool, device=dev)
    related[u_pair[:, 0], u_pair[:, 1]] = True

    qi, ti = (~is_target).nonzero().flatten(), is_target.nonzero().flatten()
    rank = torch.zeros(n, device=dev)
    gap = torch.zeros(n, device=dev)
    n_pos = torch.zeros(n, dtype=torch.long, device=dev)
    n_neg = torch.zeros(n, dtype=torch.long, device=dev)
    if len(qi) and len(ti):
        u_q, u_t = u_row[qi], u_row[ti]
        if len(qi) * len(ti) <= max_cells:
            # One similarity matrix and one positive mask serve both directions (the targets' are transposes).
            sim = e[qi] @ e[ti].T
            pos = related.index_select(0, u_q).index_select(1, u_t)
            parts = [(qi, sim, pos), (ti, sim.T, pos.T)]
            for rows, s_all, p_all in parts:
                for b in range(0, len(rows), block):
                    r = rows[b : b + block]
                    rank[r], gap[r], n_pos[r], n_neg[r] = _one_direction(
                        s_all[b : b + block].contiguous(), p_all[b : b + block].contiguous(), group_size)
        else:  # too large to hold: each direction in row blocks, similarities computed twice
            for rows, cands, rel in ((qi, ti, related), (ti, qi, related.T)):
                for b in range(0, len(rows), block):
                    r = rows[b : b + block]
                    pos = rel.index_select(0, u_row[r]).index_select(1, u_row[cands])
                    rank[r], gap[r], n_pos[r], n_neg[r] = _one_direction(e[r] @ e[cands].T, pos, group_size)
    if bool((n_pos == 0).any()):
        bad = (n_pos == 0).nonzero().flatten()[:5].tolist()
        raise ValueError(f"rollout rows {bad} have no positive in the pool: their side is in none of its pairs "
                         "(or the pool lacks the other role)")
    r_format = format_ok.to(dev).float()
    r_emb = rank * gap
    return Reward(r_format=r_format, rank=rank, gap=gap, r_emb=r_emb, reward=r_format + r_emb, n_pos=n_pos,
                  n_neg=n_neg)
