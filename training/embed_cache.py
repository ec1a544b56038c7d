"""Side embeddings cached on disk by (checkpoint, side_id, mode), so a side is encoded once per checkpoint.

An MMEB set ranks each of ~1,000 queries against ~1,000 candidates, and many sets share their candidates (a
classification set's labels, a corpus): evaluation encodes every distinct side once, and a re-run (more sets, a
second report, pass@k after greedy) reads what an earlier run computed instead of generating it again.

    cache = EmbedCache(root, training.ids.checkpoint_id(model_dir), settings)
    have = cache.get("greedy", side_ids)         # {(side_id, sample): Entry}
    cache.put("greedy", entries)                 # appends one parquet part (temp name, then rename)

Layout: <root>/<checkpoint_id>/<settings_id>/<mode>/part-<n>.parquet. The checkpoint id (training/ids.py, the one
rollout keys and GRPO use) hashes the model folder's weights, config, tokenizer and processor files (not its run
notes), so the same model shares a cache wherever it lives; `settings` are everything else the embedding depends on
(generation cap, pixel bounds, blank image, format, dtype), hashed into settings_id and written beside it as
settings.json. Modes: "greedy" (sample -1) and
"sample-t<T>-s<seed>" (samples 0..n-1 of seeded sampling). Parts are only ever added; concurrent writers at most
store an entry twice, and the reader keeps one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("side_id", pa.string()), ("sample", pa.int32()), ("disc", pa.list_(pa.float32())),
    ("gen", pa.list_(pa.float32())), ("gen_found", pa.bool_()), ("text", pa.string()),
    ("completion_tokens", pa.int32()), ("finish_reason", pa.string()),
])


def settings_id(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Entry:
    side_id: str
    sample: int  # -1: greedy
    disc: np.ndarray  # float32, L2-normalised
    gen: np.ndarray
    gen_found: bool
    text: str
    completion_tokens: int
    finish_reason: str


class EmbedCache:
    """One checkpoint's embeddings under given settings. `root` None: a cache that keeps nothing."""

    def __init__(self, root: str | os.PathLike[str] | None, checkpoint: str, settings: dict):
        self.settings = settings
        self.dir = None if root is None else Path(root) / checkpoint / settings_id(settings)
        self.hits = 0
        self.computed = 0

    def _mode_dir(self, mode: str) -> Path:
        assert self.dir is not None
        return self.dir / mode

    def get(self, mode: str, side_ids: set[str] | None = None) -> dict[tuple[str, int], Entry]:
        if self.dir is None or not self._mode_dir(mode).is_dir():
            return {}
        out: dict[tuple[str, int], Entry] = {}
        for part in sorted(self._mode_dir(mode).glob("part-*.parquet")):
            for r in pq.read_table(part).to_pylist():
                key = (r["side_id"], r["sample"])
                if key in out or (side_ids is not None and r["side_id"] not in side_ids):
                    continue
                out[key] = Entry(r["side_id"], r["sample"], np.asarray(r["disc"], np.float32),
                                 np.asarray(r["gen"], np.float32), r["gen_found"], r["text"], r["completion_tokens"],
                                 r["finish_reason"])
        self.hits += len(out)
        return out

    def put(self, mode: str, entries: list[Entry]) -> None:
        self.computed += len(entries)
        if self.dir is None or not entries:
            return
        d = self._mode_dir(mode)
        d.mkdir(parents=True, exist_ok=True)
        settings = self.dir / "settings.json"
        if not settings.exists():
            settings.write_text(json.dumps(self.settings, indent=2, sort_keys=True, default=str))
        table = pa.table({
            "side_id": [e.side_id for e in entries], "sample": [e.sample for e in entries],
            "disc": [e.disc.astype(np.float32).tolist() for e in entries],
            "gen": [e.gen.astype(np.float32).tolist() for e in entries],
            "gen_found": [bool(e.gen_found) for e in entries], "text": [e.text for e in entries],
            "completion_tokens": [e.completion_tokens for e in entries],
            "finish_reason": [e.finish_reason for e in entries],
        }, schema=SCHEMA)
        name = f"part-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = d / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, d / name)
