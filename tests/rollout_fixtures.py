"""A tiny model that ends its completions: the generation, rollout and scoring tests need both finish reasons.

A random tiny model almost never samples <|im_end|> or <gen_emb> (about 1 in 1,000 per token), so every
completion would hit the cap and none would have a generative token. `steer` points the output rows of chosen
tokens along the mean direction of the model's final hidden states, which raises their logits at most positions:
sampled completions then end after a handful of tokens, some with a <gen_emb>, some at the cap. The weights stay
an ordinary checkpoint (no new parameters), so the folder loads through the normal path.

    steered_dir (session fixture) -> a model folder
    has_shards(out, n) -> a `ready` for training_fixtures.kill_when: n complete rollout shards on disk
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_fixtures import build_version

from umedata.format import GEN_EMB, IM_END


def mean_hidden_direction(hf, tok) -> torch.Tensor:
    """Unit mean of the final-norm hidden states over a short text (the direction most positions share)."""
    ids = tok("Represent the above input as embeddings. a red circle in the top left", return_tensors="pt")
    with torch.no_grad():
        h = hf.model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).last_hidden_state[0]
    return torch.nn.functional.normalize(h.mean(0), dim=0)


def steer(hf, tok, scales: dict[str, float]) -> None:
    """Output row of each token := scale x the mean hidden direction (in place)."""
    m = mean_hidden_direction(hf, tok)
    with torch.no_grad():
        for token, scale in scales.items():
            hf.lm_head.weight[tok.convert_tokens_to_ids(token)] = scale * m


def build_steered(base: Path, out: Path, scales: dict[str, float] | None = None) -> Path:
    from training import model as M

    hf, tok = M.load(str(base))
    steer(hf, tok, scales or {IM_END: 2.5, GEN_EMB: 3.0})
    hf.save_pretrained(out)
    tok.save_pretrained(out)
    for name in ("preprocessor_config.json", "chat_template.jinja", "processor_config.json"):
        if (base / name).exists():
            (out / name).write_bytes((base / name).read_bytes())
    return out


@pytest.fixture(scope="session")
def steered_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    from training import tiny

    base = tiny.build(tmp_path_factory.mktemp("tiny_base") / "qwen2_vl")
    return build_steered(base, tmp_path_factory.mktemp("steered") / "model")


@pytest.fixture(scope="session")
def small_version(tmp_path_factory) -> Path:
    """A few pairs of every kind: image, video (odd frame count), text; 4 of the 12 captions repeat within the
    image dataset (a shared target in a pool)."""
    return build_version(tmp_path_factory.mktemp("small") / "shapes", n_train=16, n_eval=4, n_video=2, n_text=2)


def has_shards(out: Path, n: int):
    """A `ready` for training_fixtures.kill_when: the rollout folder has n complete shards."""
    return lambda: len(list((Path(out) / "rollouts").glob("part-*.parquet"))) >= n
