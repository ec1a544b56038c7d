"""Token and cost accounting: per request at commit time, rolled up per run and model by the teacher_* views.

Cost = prompt_tokens x input price + completion_tokens x output price (config `[prices."<model>"]`, USD per
million tokens), times the batch discount for Batch API results. A model without a price gets NULL cost (unknown),
except the offline stand-in, which is free. Token *estimates* (before sending) feed the TPM limiter only.
"""

from __future__ import annotations

from typing import Any

from umedata.teacher.answers import Verdict
from umedata.teacher.config import TeacherConfig
from umedata.teacher.keys import PreparedRequest

PATCH_PIXELS = 28 * 28  # one Qwen2-VL visual token per 28x28 patch (after 2x2 merge)


def cost(
    cfg: TeacherConfig, prompt_tokens: int | None, completion_tokens: int | None, batch: bool = False
) -> float | None:
    if cfg.backend == "offline":
        return 0.0
    price = cfg.price()
    return price.cost(prompt_tokens, completion_tokens, batch) if price else None


def tally(summary: Any, verdict: Verdict, cost_usd: float | None) -> None:
    """Count one judged answer into a run's or an import's summary (ok / bad answer, tokens, cost)."""
    if verdict.ok:
        summary.ok += 1
    else:
        summary.bad_answers[verdict.outcome] = summary.bad_answers.get(verdict.outcome, 0) + 1
    summary.prompt_tokens += verdict.prompt_tokens or 0
    summary.completion_tokens += verdict.completion_tokens or 0
    summary.cost_usd += cost_usd or 0.0


def estimate_tokens(item: PreparedRequest, cfg: TeacherConfig) -> int:
    """Upper-ish estimate of a request's tokens (prompt + max completion) for the TPM budget."""
    text = sum(len(m["content"]) if isinstance(m["content"], str) else 0 for m in item.messages) + len(item.text)
    visual = 0
    for m in item.media:
        pixels = (m.width or 0) * (m.height or 0) or cfg.media.max_pixels
        visual += min(pixels, cfg.media.max_pixels) // PATCH_PIXELS
    return text // 4 + visual + int(cfg.params.get("max_tokens") or cfg.params.get("max_completion_tokens") or 1024)
