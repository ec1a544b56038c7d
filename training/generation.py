"""Generation: THE one place completions are sampled and their embeddings read.

Every caller that generates (evaluation, rollouts for curation, GRPO) goes through `sample`:

    prompts = generation.prompts(renderer, sides)                 # Renderer.render(side, completion=False)
    out = generation.sample(net, tokenizer, prompts, Sampling(k=8, temperature=1.0, seed=0))
    out.texts[i], out.finish_reason[i], out.gen[i], out.gen_found[i]   # row i = prompt i // k, sample i % k

`sample` asks a backend for K completions per prompt, then runs ONE forward of the trainer's own model over
prompt + completion to read the embeddings: generate() returns no hidden state for the token it sampled last, so
the <gen_emb> a completion ends with has no hidden state until this forward (DESIGN.md). The generative embedding
is read at the last <gen_emb> of the completion, else at its last token (`gen_found` says which; the pooling is
training.model.pool_positions). Greedy decoding is `Sampling(temperature=0)` (`greedy()`), K = 1.

GRPO runs its own forward with gradients over exactly the sampled tokens: `completion_batch(prompts, ids)` builds
that batch (input ids, attention, completion mask, labels = the completion tokens, media), one row per
completion; `net(batch)` then gives the embeddings and the per-token losses (-log p) of the completion.

Backends, one interface (`complete(prompts, sampling) -> [Completion]`, prompt-major):
  * "transformers": `generate()` of the trainer's model, batched, KV cache, CPU or GPU. The model folder's own
    generation_config is overridden (no repetition penalty or other processors: samples follow the policy's
    distribution, which GRPO's ratios assume).
  * "vllm": the vLLM offline engine, imported lazily (it lives in its own GPU environment, never beside Prefect).
    vLLM samples the tokens from the model folder; the embeddings still come from the trainer's forward. Its
    pixel bounds are the renderer's, so both see the same image sizes.
Media placeholder tokens (<|image_pad|>, <|video_pad|>) are never sampled: a sampled one would demand pixels the
embedding forward does not have (an untrained model does emit them).

Reproducible, resumable sampling. Each prompt carries a key (its side_id); sample j of a prompt draws its tokens
from a random stream that is a pure function of (seed, key, j, step): a counter-based hash, one uniform per token,
inverse-CDF sampling over the (temperature / top-k / top-p filtered) distribution. So a sample does not depend
on which other prompts share its batch, on the batch size, on the rank it ran on, or on whether the run was
resumed: a resumed run regenerates a missing (side, k) exactly as the uninterrupted run would have (up to the
floating-point noise that different padding puts into the logits). vLLM gets one request per (prompt, j) with a
seed derived the same way, reproducible within vLLM (its sampler is not the transformers one).

Completion fields: token ids up to and including <|im_end|> ("stop") or the first `max_completion_length` tokens
("length"); the text decoded with special tokens kept (<gen_emb>, <|im_end|>), as the reward parses it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from training import data
from training.model import MAX_COMPLETION_LENGTH, core
from umedata.format import IM_END, render_side

BACKENDS = ("transformers", "vllm")


# ---------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Sampling:
    """How completions are drawn. temperature 0 = greedy (then k must be 1); top_k 0 and top_p 1 = off."""

    k: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_completion_length: int = MAX_COMPLETION_LENGTH
    seed: int = 0

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"k must be >= 1, not {self.k}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, not {self.temperature}")
        if self.temperature == 0 and self.k != 1:
            raise ValueError("greedy decoding (temperature 0) gives k identical completions: use k=1")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), not {self.top_k}")
        if self.max_completion_length < 1:
            raise ValueError(f"max_completion_length must be >= 1, not {self.max_completion_length}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def as_dict(self) -> dict:
        """The manifest's `sampling` object (docs/interfaces.md)."""
        return asdict(self)


def greedy(max_completion_length: int = MAX_COMPLETION_LENGTH) -> Sampling:
    return Sampling(k=1, temperature=0.0, max_completion_length=max_completion_length)


# ------------------------------------------------------------------------------------------------------ records
@dataclass
class Prompt:
    rendered: dict  # data.Renderer.render(side, completion=False)
    key: str = ""  # names the prompt's random streams (the side_id): sample j depends on (seed, key, j) only
    side: data.Side | None = None  # the vLLM backend builds its own inputs (text + PIL media) from it


def prompts(renderer: data.Renderer, sides: list[data.Side]) -> list[Prompt]:
    """Generation prompts for sides (the user turn + "<|im_start|>assistant\\n"), keyed by side_id."""
    return [Prompt(renderer.render(s, completion=False), s.side_id, s) for s in sides]


@dataclass
class Completion:
    ids: list[int]  # sampled tokens, <|im_end|> included when finish_reason is "stop"
    finish_reason: str  # "stop" (emitted <|im_end|>) | "length" (hit max_completion_length)


@dataclass
class Samples:
    """K samples per prompt, prompt-major: row i is sample i % k of prompt i // k."""

    prompt_index: list[int]
    sample_index: list[int]
    completion_ids: list[list[int]]
    texts: list[str]  # decoded with special tokens kept
    prompt_tokens: list[int]  # media placeholders expanded, as the model sees them
    completion_tokens: list[int]
    finish_reason: list[str]
    disc: torch.Tensor  # (N, H) float32, L2-normalised, on the model's device
    gen: torch.Tensor  # (N, H) float32, L2-normalised
    gen_found: torch.Tensor  # (N,) bool: gen read at a generated <gen_emb> (else at the last completion token)

    def __len__(self) -> int:
        return len(self.texts)


# ------------------------------------------------------------------------------------------- seeded sampling
_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """An avalanche hash of 32-bit values held in int64 (multipliers < 2**31, so products never overflow)."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _M32
    return x ^ (x >> 15)


def streams(seed: int, keys: list[str], k: int) -> torch.Tensor:
    """(len(keys) * k, 2) int64: the 64-bit stream of sample j of each key, prompt-major."""
    out = []
    for key in keys:
        for j in range(k):
            h = hashlib.sha256(f"{seed}\x1f{key}\x1f{j}".encode()).digest()
            out.append((int.from_bytes(h[:4], "little"), int.from_bytes(h[4:8], "little")))
    return torch.tensor(out, dtype=torch.long).reshape(-1, 2)


def uniforms(stream: torch.Tensor, step: int) -> torch.Tensor:
    """(N,) float32 in [0, 1): one draw per stream for this decoding step, a pure function of (stream, step)."""
    c = _mix32(torch.full_like(stream[:, 0], (step * 0x9E3779B1) & _M32))
    h = _mix32(stream[:, 1] ^ c)
    h = _mix32(stream[:, 0] ^ h)
    return (h >> 8).float() * (1.0 / (1 << 24))


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0,
         banned: list[int] | None = None) -> torch.Tensor:
    """(N,) tokens from (N, V) logits by inverse CDF at the uniforms `u`, after temperature, top-k and top-p.

    Top-p keeps the smallest set of most likely tokens whose mass reaches p (the first always stays), as
    transformers' TopPLogitsWarper does. A token of zero probability is never drawn."""
    logits = logits.float() / temperature
    if banned:
        logits[:, banned] = float("-inf")
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        before = probs.cumsum(-1) - probs
        probs = probs * (before < top_p)
    cdf = probs.cumsum(-1)
    # right=True: the first index whose cdf exceeds the draw, so a zero-probability token (a flat cdf step) is
    # never chosen; the draw is scaled by the total mass, which rounding keeps from being exactly 1.
    idx = torch.searchsorted(cdf, (u.to(cdf.device) * cdf[:, -1])[:, None], right=True).clamp(max=cdf.shape[-1] - 1)
    return (idx if order is None else order.gather(1, idx)).squeeze(1)


class SeededSampler(LogitsProcessor):
    """Turns greedy `generate()` into seeded sampling: it draws each row's token from its own stream and leaves
    only that token finite, so the argmax that follows picks it."""

    def __init__(self, stream: torch.Tensor, prompt_len: int, sampling: Sampling, banned: list[int]):
        self.stream, self.prompt_len, self.sampling, self.banned = stream, prompt_len, sampling, banned

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_len
        s = self.sampling
        u = uniforms(self.stream.to(scores.device), step)
        token = draw(scores, u, s.temperature, s.top_k, s.top_p, self.banned)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token[:, None], 0.0)


# ----------------------------------------------------------------------------------------------------- backends
def media_tokens(hf) -> list[int]:
    """Token ids that must never be sampled (media placeholders)."""
    cfg = core(hf).config
    return [t for t in (getattr(cfg, "image_token_id", None), getattr(cfg, "video_token_id", None)) if t is not None]


def _device(net) -> torch.device:
    return next(net.parameters()).device


def split_completions(completion: torch.Tensor, eos: int) -> list[Completion]:
    """Rows of generate()'s new tokens -> completions cut after their first <|im_end|>. A row without one ran to
    the cap (generate stops early only when every row has ended)."""
    out = []
    for row in completion.tolist():
        if eos in row:
            out.append(Completion(row[: row.index(eos) + 1], "stop"))
        else:
            out.append(Completion(row, "length"))
    return out


class TransformersBackend:
    """Batched `generate()` with KV cache on the trainer's model (CPU or GPU)."""

    name = "transformers"

    def __init__(self, net, tokenizer):
        self.net, self.tokenizer = net, tokenizer
        self.hf = core(net.hf if hasattr(net, "hf") else net)
        self.eos = tokenizer.convert_tokens_to_ids(IM_END)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos
        self.banned = media_tokens(self.hf)

    @torch.no_grad()
    def complete(self, prompts: list[Prompt], sampling: Sampling) -> list[Completion]:
        rows = [p.rendered for p in prompts for _ in range(sampling.k)]
        batch = data.to_device(data.collate(rows, self.pad, "left"), _device(self.hf))
        media = {k: batch[k] for k in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw")
                 if batch.get(k) is not None}
        prompt_len = batch["input_ids"].shape[1]
        processors = LogitsProcessorList()
        if not sampling.greedy:
            stream = streams(sampling.seed, [p.key for p in prompts], sampling.k)
            processors.append(SeededSampler(stream, prompt_len, sampling, self.banned))
        # Every processor setting is explicit, so a model folder's generation_config (repetition penalty, its own
        # eos list, sampling defaults) cannot change what is drawn; the KV cache is on even where a trainer turned
        # config.use_cache off for its own forward.
        seqs = self.hf.generate(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
            mm_token_type_ids=batch["mm_token_type_ids"], max_new_tokens=sampling.max_completion_length,
            do_sample=False, num_beams=1, use_cache=True, repetition_penalty=1.0, no_repeat_ngram_size=0, min_new_tokens=0,
            eos_token_id=self.eos, pad_token_id=self.pad, suppress_tokens=self.banned, logits_processor=processors,
            **media)
        return split_completions(seqs[:, prompt_len:], self.eos)


class VllmBackend:
    """The vLLM offline engine samples; the trainer's model still computes every embedding (see `sample`).

    Built from the model folder the trainer loaded and the same renderer (chat template, pixel bounds, blank
    image). One request per (prompt, sample) with its own seed, so a sample is independent of its batch; prefix
    caching shares the prompt's work among the K requests."""

    name = "vllm"

    def __init__(self, model_dir: str, renderer: data.Renderer, gpu_memory_utilization: float = 0.5,
                 max_model_len: int | None = None, **engine_kwargs):
        try:
            import vllm
        except ImportError as e:  # the GPU env has it; the data env never does
            raise RuntimeError("the vllm backend needs the `vllm` package (install it in the GPU environment, "
                               "never beside Prefect); or use --backend transformers") from e
        self.vllm, self.renderer = vllm, renderer
        tok = renderer.tokenizer
        self.eos = tok.convert_tokens_to_ids(IM_END)
        self.banned = [tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>")]
        self.llm = vllm.LLM(
            model=str(model_dir), tokenizer=str(model_dir), gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len or renderer.max_length, enable_prefix_caching=True,
            mm_processor_kwargs={"min_pixels": renderer.min_pixels, "max_pixels": renderer.max_pixels},
            limit_mm_per_prompt={"image": 8, "video": 1}, **engine_kwargs)

    def request(self, side: data.Side) -> dict:
        """The side as a vLLM prompt: the chat-templated text with one placeholder per medium, and PIL media."""
        r = self.renderer
        images = [r.load_image(ref) for ref in side.images]
        frames = [r.load_image(ref) for ref in side.video]
        if not images and not frames and r.blank_image:
            images = [data.blank_image()]
        messages = render_side(side.text, n_images=len(images), video=bool(frames))
        text = r.tokenizer.apply_chat_template(messages, chat_template=r.chat_template, tokenize=False,
                                               add_generation_prompt=True)
        media = {}
        if images:
            media["image"] = images
        if frames:
            frames = frames + frames[-1:] * (len(frames) % 2)  # an even count (temporal patch 2), as training.video
            media["video"] = np.stack([np.asarray(f.resize(frames[0].size)) for f in frames])
        return {"prompt": text, "multi_modal_data": media}

    def complete(self, prompts: list[Prompt], sampling: Sampling) -> list[Completion]:
        if any(p.side is None for p in prompts):
            raise ValueError("the vllm backend needs each Prompt's side (build prompts with generation.prompts)")
        seeds = streams(sampling.seed, [p.key for p in prompts], sampling.k)[:, 0].tolist()
        requests, params = [], []
        for i, p in enumerate(prompts):
            req = self.request(p.side)
            for j in range(sampling.k):
                requests.append(req)
                params.append(self.vllm.SamplingParams(
                    n=1, temperature=sampling.temperature, top_p=sampling.top_p,
                    **({"top_k": sampling.top_k} if sampling.top_k else {}),
                    max_tokens=sampling.max_completion_length, seed=int(seeds[i * sampling.k + j]),
                    repetition_penalty=1.0, stop_token_ids=[self.eos], ignore_eos=True, skip_special_tokens=False,
                    logit_bias={t: -100.0 for t in self.banned}))
        outs = self.llm.generate(requests, params, use_tqdm=False)
        result = []
        for out in outs:
            o = out.outputs[0]
            ids = list(o.token_ids)
            if o.finish_reason == "stop" and (not ids or ids[-1] != self.eos):
                ids.append(self.eos)  # some versions leave the stop token out of token_ids
            result.append(Completion(ids, "stop" if o.finish_reason == "stop" else "length"))
        return result


def backend(name: str, net, tokenizer, model_dir: str | None = None, renderer: data.Renderer | None = None,
            **kwargs):
    """A backend by name ("transformers" | "vllm")."""
    if name == "transformers":
        return TransformersBackend(net, tokenizer)
    if name == "vllm":
        if model_dir is None or renderer is None:
            raise ValueError("the vllm backend needs the model folder and the renderer")
        return VllmBackend(model_dir, renderer, **kwargs)
    raise ValueError(f"backend must be one of {BACKENDS}, not {name!r}")


# ------------------------------------------------------------------------------------------- prompt + completion
def completion_batch(prompts: list[dict], completions: list[list[int]], pad_id: int,
                     padding_side: str = "right") -> dict:
    """One training-style row per (rendered prompt, completion ids): input ids = prompt + completion, labels = the
    completion tokens (prompt masked), completion_mask over the completion, media of each prompt in row order.
    `prompts[i]` goes with `completions[i]` (repeat a prompt once per sample)."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
    rows = []
    for p, ids in zip(prompts, completions):
        n = p["prompt_len"]
        rows.append({**p, "input_ids": list(p["input_ids"][:n]) + list(ids),
                     "labels": [data.IGNORE] * n + list(ids),
                     "mm_token_type_ids": list(p["mm_token_type_ids"][:n]) + [0] * len(ids)})
    return data.collate(rows, pad_id, padding_side)


@torch.no_grad()
def encode(net, prompts: list[dict], completions: list[list[int]], pad_id: int,
           batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(disc, gen, gen_found) of each (prompt, completion) from a forward over both, `batch_size` rows at a time."""
    step = batch_size or len(prompts) or 1
    disc, gen, found = [], [], []
    dev = _device(net)
    for k in range(0, len(prompts), step):
        batch = completion_batch(prompts[k : k + step], completions[k : k + step], pad_id)
        # No labels: the forward then computes no vocabulary logits (B x K x 2048 x 152k floats would not fit).
        batch["labels"] = torch.full_like(batch["labels"], data.IGNORE)
        out = net(data.to_device(batch, dev))
        disc.append(out.disc)
        gen.append(out.gen)
        found.append(out.gen_found)
    return torch.cat(disc), torch.cat(gen), torch.cat(found)


def sample(net, tokenizer, prompts: list[Prompt], sampling: Sampling, backend=None,
           encode_batch: int | None = None) -> Samples:
    """K completions per prompt from `backend` (default: transformers on `net`), then their embeddings from `net`.

    `encode_batch` bounds the rows of one embedding forward (default: all K x len(prompts) at once)."""
    backend = backend or TransformersBackend(net, tokenizer)
    k = sampling.k
    completions = backend.complete(prompts, sampling)
    if len(completions) != len(prompts) * k:
        raise RuntimeError(f"backend {backend.name} returned {len(completions)} completions for "
                           f"{len(prompts)} prompts x {k}")
    rows = [p.rendered for p in prompts for _ in range(k)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.convert_tokens_to_ids(IM_END)
    ids = [c.ids for c in completions]
    disc, gen, found = encode(net, rows, ids, pad, encode_batch)
    return Samples(
        prompt_index=[i // k for i in range(len(rows))], sample_index=[i % k for i in range(len(rows))],
        completion_ids=ids, texts=tokenizer.batch_decode(ids, skip_special_tokens=False),
        prompt_tokens=[len(r["input_ids"]) for r in rows], completion_tokens=[len(c) for c in ids],
        finish_reason=[c.finish_reason for c in completions], disc=disc, gen=gen, gen_found=found)
