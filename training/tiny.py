"""A tiny Qwen2-VL / Qwen2.5-VL with random weights, saved as a normal checkpoint folder.

Tests and the demo need a model that loads through exactly the code path a real one does (transformers auto
classes, tokenizer with the Qwen chat special tokens, image processor, chat template) but builds in seconds
without any hub access. The tokenizer is a byte-level BPE trained here with `tokenizers` on a small corpus (the
generation prompt, the format tags and plain English), wrapped as a `Qwen2Tokenizer`, so every text encodes.

The folder holds config.json + weights, tokenizer files, preprocessor_config.json (image processor),
chat_template.jinja and a processor_config.json naming Qwen2VLProcessor, so `AutoProcessor` loads it wherever
torchvision is installed. The embedding tokens <disc_emb>/<gen_emb> are NOT in it: training/model.py adds them,
as it does for a real base model.

    python -m training.tiny --out runs/tiny                # Qwen2-VL
    python -m training.tiny --out runs/tiny25 --family qwen2_5_vl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from umedata.format import ANSWER_CLOSE, ANSWER_OPEN, GEN_PROMPT, THINK_CLOSE, THINK_OPEN

# Qwen2-VL's special tokens, in Qwen's own id order (the real ids start at 151643).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The Qwen2-VL-Instruct chat template (system default, one vision block per image / video item).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = (
    "a an the of in on at to and or is are was with from this that it its which what where who how many "
    "red green blue yellow purple orange black white gray pink brown cyan "
    "circle square triangle star cross ring diamond shape shapes object objects "
    "top bottom left right centre center middle corner upper lower near far above below "
    "image picture photo video frame frames text document page caption question answer label class "
    "see shows show showing contains there one two three four small large big bright dark moving moves "
    "describe find retrieve match represent summary reasoning thinking input output embedding"
)


def _corpus() -> list[str]:
    tags = f"{THINK_OPEN} {THINK_CLOSE} {ANSWER_OPEN} {ANSWER_CLOSE} system user assistant You are a helpful assistant."
    words = _WORDS.split()
    # Short phrases so the BPE learns merges that span the format's frequent words.
    phrases = [" ".join(words[i : i + 5]) for i in range(0, len(words) - 5)]
    return [GEN_PROMPT] * 50 + [tags] * 50 + phrases * 5 + [_WORDS] * 20


def build_tokenizer(vocab_size: int = 1024):
    """A byte-level BPE with Qwen's pre-tokenizer, trained on a tiny corpus, as a transformers Qwen2Tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tok = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS])
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_config(tok, family: str = "qwen2_vl", hidden: int = 64, layers: int = 2, heads: int = 4,
                 vision_depth: int = 1, vision_dim: int = 32, vocab_multiple: int = 64):
    """A Qwen2-VL / Qwen2.5-VL config shaped like the real one, only small.

    transformers 5 checks `mrope_section` sums to head_dim / 2 and feeds the vision merger output straight into
    the text embedding space, so the vision output size is the text hidden size.
    """
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    head_dim = hidden // heads
    half = head_dim // 2
    spatial = 3 * half // 8
    mrope = [half - 2 * spatial, spatial, spatial]  # (t, h, w); real models: [16, 24, 24] for head_dim 128
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    # Real checkpoints have more embedding rows than tokens; keep that so adding tokens usually needs no resize.
    vocab = -(-len(tok) // vocab_multiple) * vocab_multiple
    text = dict(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=8192,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
    )
    common = dict(
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    if family == "qwen2_vl":
        vision = dict(depth=vision_depth, embed_dim=vision_dim, hidden_size=hidden, num_heads=2, mlp_ratio=2,
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        return Qwen2VLConfig(text_config=text, vision_config=vision, **common)
    if family == "qwen2_5_vl":
        vision = dict(depth=vision_depth, hidden_size=vision_dim, intermediate_size=2 * vision_dim, num_heads=2,
                      out_hidden_size=hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                      window_size=112, fullatt_block_indexes=[vision_depth - 1], tokens_per_second=2)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
    raise ValueError(f"unknown family {family!r} (qwen2_vl | qwen2_5_vl)")


def image_processor(min_pixels: int = 28 * 28, max_pixels: int = 28 * 28 * 64):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)


def save_processor_files(out: Path, tok, improc) -> None:
    """Tokenizer, image processor and chat template, plus processor_config.json naming the real processor.

    Instantiating Qwen2VLProcessor itself needs the torchvision video processor, so the composite config is
    written directly; it carries the video processor's settings so a torchvision machine can load it all.
    """
    tok.save_pretrained(out)
    improc.save_pretrained(out)
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    image_cfg = improc.to_dict()
    video_cfg = {
        "video_processor_type": "Qwen2VLVideoProcessor",
        "size": dict(image_cfg["size"]),
        "patch_size": improc.patch_size, "temporal_patch_size": improc.temporal_patch_size,
        "merge_size": improc.merge_size, "image_mean": list(improc.image_mean), "image_std": list(improc.image_std),
        "do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
        "do_sample_frames": False, "resample": 3,
    }
    processor = {"processor_class": "Qwen2VLProcessor", "image_processor": image_cfg, "video_processor": video_cfg}
    (out / "processor_config.json").write_text(json.dumps(processor, indent=2, default=str))


def build(out: str | Path, family: str = "qwen2_vl", seed: int = 0, **shape) -> Path:
    """Build and save a tiny model folder; returns its path."""
    from transformers import AutoModelForImageTextToText

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    config = build_config(tok, family=family, **shape)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.save_pretrained(out)
    save_processor_files(out, tok, image_processor())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--family", default="qwen2_vl", choices=["qwen2_vl", "qwen2_5_vl"])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    path = build(args.out, family=args.family, seed=args.seed, hidden=args.hidden, layers=args.layers)
    print(f"tiny {args.family} written to {path} in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
