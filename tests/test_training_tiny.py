"""The tiny model folders load through the same auto classes as a real Qwen2-VL checkpoint."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time

import pytest
import torch
from training_fixtures import REPO, python, subprocess_env

from training import model as M
from training import tiny
from training.tiny import QWEN_SPECIAL_TOKENS

torch.set_num_threads(1)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_tiny_builds_in_seconds_and_loads_with_auto_classes(family, tmp_path):
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    t0 = time.time()
    path = tiny.build(tmp_path / family, family=family)
    assert time.time() - t0 < 60
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == family
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    out_dim = getattr(config.vision_config, "out_hidden_size", None) or config.vision_config.hidden_size
    assert out_dim == text.hidden_size
    tok = AutoTokenizer.from_pretrained(path)
    for t in QWEN_SPECIAL_TOKENS:
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1, t
    assert config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert "<disc_emb>" not in tok.get_vocab()  # added by training.model, as for a real base model
    improc = AutoImageProcessor.from_pretrained(path, backend="pil")
    assert improc.patch_size == config.vision_config.patch_size
    assert json.loads((path / "processor_config.json").read_text())["processor_class"] == "Qwen2VLProcessor"

    model = AutoModelForImageTextToText.from_pretrained(path)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "a red circle"}]}]
    prompt = tok.apply_chat_template(messages, chat_template=(path / "chat_template.jinja").read_text(),
                                     tokenize=False, add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    assert "<|vision_start|><|image_pad|><|vision_end|>a red circle<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    # one forward with an image, the way the processor would feed it
    from PIL import Image

    feats = improc(images=[Image.new("RGB", (56, 56), "red")], return_tensors="pt")
    n = int(feats["image_grid_thw"].prod()) // improc.merge_size ** 2
    ids = tok(prompt.replace("<|image_pad|>", "<|image_pad|>" * n), add_special_tokens=False, return_tensors="pt")
    mm = (ids["input_ids"] == config.image_token_id).int()
    with torch.no_grad():
        out = model(**ids, mm_token_type_ids=mm, **feats)
    assert out.logits.shape[:2] == ids["input_ids"].shape
    hf, tok2 = M.load(str(path))
    assert "<gen_emb>" in tok2.get_vocab()


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision not installed")
def test_auto_processor_loads_the_tiny_folder(tmp_path):
    from transformers import AutoProcessor

    path = tiny.build(tmp_path / "tiny")
    assert type(AutoProcessor.from_pretrained(path)).__name__ == "Qwen2VLProcessor"


def test_cli(tmp_path):
    out = subprocess.run([python(), "-m", "training.tiny", "--out", str(tmp_path / "cli")], cwd=REPO,
                         env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "cli" / "config.json").exists() and (tmp_path / "cli" / "tokenizer.json").exists()
