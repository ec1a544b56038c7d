"""Content ids on the trainer side: `digest` (umedata.ids.digest's formula) and a model folder's `checkpoint_id`.

One checkpoint id for every place that names a checkpoint: rollout keys and rollout run ids (training/rollout.py),
the embedding cache and evaluation reports (training/embed_cache.py, training/evaluate.py) and GRPO's record of the
SFT checkpoint it starts from (training/grpo.py). The same id in all of them is what lets the warehouse join a
rollout run, an evaluation and an RL run on the weights they share.

Choices:
  * `digest` restates umedata.ids.digest because training/ imports no umedata module but umedata.format (sha256
    of the parts joined by U+001F, first 32 hex characters); tests/test_training_ids.py holds the two equal.
  * The id hashes what decides what the folder computes: every top-level file of the folder (names and bytes) but
    its run notes (NOT_COMPUTING: umedata_run.json, README.md, generation_config.json, training_args.bin) and
    hidden files. So weights and config, and also the tokenizer, chat template and image processor files the
    renderer reads: a changed chat template changes every prompt, hence every rollout. Names are relative to the
    folder, so the same files give the same id wherever they live.
  * A hub name hashes the content of its snapshot in the local hub cache (the name alone would keep the id when
    the hub's weights change); the trainers load the model before they ask, so the snapshot is there.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Files of a model folder that do not change what it computes (run notes, sampling defaults the trainer overrides).
NOT_COMPUTING = frozenset({"umedata_run.json", "README.md", "generation_config.json", "training_args.bin"})
# A folder without one of these holds no weights: hashing it would give an id to nothing.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def digest(*parts: str) -> str:
    """umedata.ids.digest: sha256 of the parts joined by U+001F, first 32 hex characters."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def model_folder(model: str | os.PathLike[str]) -> Path:
    """The local folder of a model: the path itself, or a hub name's snapshot in the local hub cache."""
    path = Path(model)
    if path.is_dir():
        return path
    from transformers.utils import cached_file

    config = cached_file(str(model), "config.json", _raise_exceptions_for_missing_entries=False)
    if not config:
        raise FileNotFoundError(f"{model} is neither a model folder nor a model in the local hub cache")
    return Path(config).parent


def checkpoint_id(model: str | os.PathLike[str]) -> str:
    """Content id of a model folder (or a cached hub model): digest("checkpoint", "name:sha256", ...) over its
    files in name order, run notes and hidden files left out (see the module docstring)."""
    folder = model_folder(model)
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.name not in NOT_COMPUTING)
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in files):
        raise FileNotFoundError(f"{folder} holds no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    parts = []
    for p in files:
        with open(p, "rb") as f:
            parts.append(f"{p.name}:{hashlib.file_digest(f, 'sha256').hexdigest()}")
    return digest("checkpoint", *parts)
