"""The student: a Qwen2-VL-family model that yields a discriminative and a generative embedding per sequence.

Loading goes through the transformers auto classes only, so the tiny test model and Qwen/Qwen2-VL-2B-Instruct
(or any Qwen2.5-VL) take the same path. `<disc_emb>` and `<gen_emb>` are added once as special tokens; their
embedding (and, when untied, output) rows start as copies of `<|object_ref_start|>` / `<|object_ref_end|>`
(umedata.format.INIT_FROM). Loading a folder that already has them changes nothing.

Pooling (both from the last layer, after the final norm, L2-normalised):
  disc = hidden state at the `<disc_emb>` of the prompt (user turn);
  gen  = hidden state at the LAST `<gen_emb>` inside the completion span. The prompt itself contains the
         literal "<gen_emb>" (GEN_PROMPT), so the search never looks outside the completion; a completion
         without it falls back to its last non-pad token.
Positions are found per sequence through masks, so left padding (generation), right padding (training) and
packed rows (padding-free) are handled by the same code.

`EmbeddingModel` wraps the HF model so DDP / FSDP see one forward: it computes the 3D rope positions, optionally
packs the batch into one row without padding, runs the backbone, pools, and returns token losses only for
labelled positions (the full-vocabulary logits of every position are never materialised).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from umedata.format import DISC_EMB, INIT_FROM, SPECIAL_TOKENS


# ---------------------------------------------------------------------------------------------------------- loading
def load(path: str, dtype: torch.dtype = torch.float32, attn_implementation: str = "sdpa"):
    """(model, tokenizer) from a model folder or hub name, with the embedding tokens in place."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype, attn_implementation=attn_implementation)
    add_embedding_tokens(model, tokenizer)
    return model, tokenizer


def add_embedding_tokens(model, tokenizer) -> dict[str, int]:
    """Add <disc_emb>/<gen_emb> if missing and initialise their rows; idempotent. Returns their ids."""
    from transformers import AddedToken

    vocab = tokenizer.get_vocab()
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    emb = model.get_input_embeddings()
    if max(ids.values()) >= emb.weight.shape[0]:
        # Real checkpoints have spare rows past the tokenizer; only grow when the new ids do not fit.
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        emb = model.get_input_embeddings()
    if missing:
        out = model.get_output_embeddings()
        tied = out is not None and out.weight.data_ptr() == emb.weight.data_ptr()
        with torch.no_grad():
            for token in missing:
                src = tokenizer.convert_tokens_to_ids(INIT_FROM[token])
                emb.weight[ids[token]] = emb.weight[src]
                if out is not None and not tied:
                    out.weight[ids[token]] = out.weight[src]
    return ids


def core(model):
    """The transformers model under DDP / peft wrappers."""
    model = getattr(model, "module", model)
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


# ---------------------------------------------------------------------------------------------------------- pooling
def last_position(cond: torch.Tensor, segments: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Flat index (into B*L) of the last True of `cond` within each segment; -1 where there is none."""
    flat = torch.arange(cond.numel(), device=cond.device).view_as(cond)
    score = torch.where(cond & (segments >= 0), flat, torch.full_like(flat, -1))
    out = torch.full((n_segments,), -1, dtype=torch.long, device=cond.device)
    return out.scatter_reduce(0, segments.clamp(min=0).flatten(), score.flatten(), reduce="amax")


def pool_positions(input_ids, attention_mask, completion_mask, disc_id: int, gen_id: int):
    """(disc, gen, gen_found) flat positions for each row of a padded batch (left or right padded)."""
    n = input_ids.shape[0]
    valid = attention_mask.bool()
    segments = torch.arange(n, device=input_ids.device)[:, None].expand_as(input_ids)
    completion = completion_mask & valid
    disc = last_position((input_ids == disc_id) & valid & ~completion, segments, n)
    gen = last_position((input_ids == gen_id) & completion, segments, n)
    found = gen >= 0
    fallback = last_position(completion, segments, n)
    fallback = torch.where(fallback >= 0, fallback, last_position(valid, segments, n))  # prompt-only rows
    if (disc < 0).any():
        raise ValueError(f"a sequence has no {DISC_EMB} in its prompt; was it rendered with umedata.format?")
    return disc, torch.where(found, gen, fallback), found


# ------------------------------------------------------------------------------------------------------------ model
@dataclass
class Output:
    disc: torch.Tensor  # (n_seq, H) L2-normalised
    gen: torch.Tensor  # (n_seq, H) L2-normalised
    gen_found: torch.Tensor  # (n_seq,) bool: a <gen_emb> was in the completion
    nll: torch.Tensor  # (n_labelled,) token losses of labelled positions
    nll_seq: torch.Tensor  # (n_labelled,) sequence index of each
    zero: torch.Tensor  # 0 * (dummy vision output) on image-less batches, else 0: add it to the loss


class EmbeddingModel(nn.Module):
    def __init__(self, hf_model, disc_id: int, gen_id: int):
        super().__init__()
        self.hf = hf_model
        self.disc_id, self.gen_id = disc_id, gen_id

    def positions(self, batch) -> torch.Tensor:
        """3D (t, h, w) rope positions, (3, B, L); text-only rows count from their first real token."""
        inner = core(self.hf).model
        attention = batch["attention_mask"]
        if batch.get("image_grid_thw") is None and batch.get("video_grid_thw") is None:
            pos = (attention.long().cumsum(-1) - 1).clamp(min=0)
            return pos[None].expand(3, -1, -1)
        pos, _ = inner.get_rope_index(
            input_ids=batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"],
            image_grid_thw=batch.get("image_grid_thw"), video_grid_thw=batch.get("video_grid_thw"),
            attention_mask=attention)
        return pos

    def vision(self, batch) -> tuple[dict | None, torch.Tensor]:
        """Run the vision tower exactly once per forward: images and video frames together, or a blank dummy
        when the batch has neither. A fixed call pattern keeps FSDP's per-block all-gathers in step across ranks
        (one rank with images and video, another with text only); the dummy's zero-weighted output gives every
        vision parameter a gradient, so DDP never waits on unused parameters either.

        Returns (encoder outputs for the backbone, or None; a zero scalar to add to the loss)."""
        hf = core(self.hf)
        visual = hf.model.visual
        dtype = next(visual.parameters()).dtype
        parts = [(k, batch[p], batch[g]) for k, p, g in (("image", "pixel_values", "image_grid_thw"),
                                                         ("video", "pixel_values_videos", "video_grid_thw"))
                 if batch.get(g) is not None]
        if not parts:
            cfg = hf.config.vision_config
            side = cfg.spatial_merge_size
            pixels = torch.zeros(side * side, cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size ** 2,
                                 device=batch["input_ids"].device, dtype=dtype)
            out = visual(pixels, grid_thw=torch.tensor([[1, side, side]], device=pixels.device))
            return None, out.pooler_output.float().sum() * 0.0
        pixels = torch.cat([p for _, p, _ in parts])
        grids = torch.cat([g for _, _, g in parts])
        merged = visual(pixels.to(dtype), grid_thw=grids).pooler_output
        sizes = [int(g.prod(-1).sum()) // visual.spatial_merge_size ** 2 for _, _, g in parts]
        outputs = {k: BaseModelOutputWithPooling(pooler_output=(emb,))
                   for (k, _, _), emb in zip(parts, merged.split(sizes))}
        return outputs, merged.new_zeros(()).float()

    def hidden(self, batch, packed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(last-layer hidden states after the final norm (B, L, H), zero scalar from the vision pass)."""
        inner = core(self.hf).model
        ids, attention = batch["input_ids"], batch["attention_mask"]
        pos = self.positions(batch)
        encoded, zero = self.vision(batch)
        if not packed:
            out = inner(input_ids=ids, attention_mask=attention, position_ids=pos, use_cache=False,
                        mm_encoder_outputs=encoded)
            return out.last_hidden_state, zero
        # Padding-free: one row of all real tokens; row 0 of the 4-row positions restarts at 0 for every
        # sequence, which is how transformers builds the block-diagonal (per-sequence causal) mask.
        keep = attention.bool()
        text_pos = (attention.long().cumsum(-1) - 1)[keep][None]
        position_ids = torch.cat([text_pos[None], pos[:, keep][:, None]], dim=0)
        out = inner(input_ids=ids[keep][None], attention_mask=None, position_ids=position_ids, use_cache=False,
                    mm_encoder_outputs=encoded)
        flat = out.last_hidden_state[0]
        hidden = flat.new_zeros(*ids.shape, flat.shape[-1])
        hidden[keep] = flat
        return hidden, zero

    def forward(self, batch: dict, packed: bool = False) -> Output:
        hf = core(self.hf)
        hidden, zero = self.hidden(batch, packed=packed)
        ids = batch["input_ids"]
        disc_at, gen_at, found = pool_positions(ids, batch["attention_mask"], batch["completion_mask"],
                                                self.disc_id, self.gen_id)
        flat = hidden.flatten(0, 1)
        disc = F.normalize(flat[disc_at].float(), dim=-1)
        gen = F.normalize(flat[gen_at].float(), dim=-1)

        # Next-token loss only where a label exists: logits for those rows alone.
        labels = batch["labels"]
        target = labels[:, 1:]
        where = target != -100
        logits = hf.lm_head(hidden[:, :-1][where])
        nll = F.cross_entropy(logits.float(), target[where], reduction="none")
        nll_seq = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(target)[where]
        return Output(disc, gen, found, nll, nll_seq, zero)


# ------------------------------------------------------------------------------------------------------- generation
# The cap on generated completion tokens, one name (--max-completion-length) for every generation path; 2048 is the
# reference's RL cap. Real reasoning runs ~400 tokens, so a much lower cap cuts <gen_emb> off and understates gen.
# Generation itself (sampling, greedy, backends, the prompt + completion forward) lives in training/generation.py.
MAX_COMPLETION_LENGTH = 2048
