"""A synthetic, learnable dataset version directory for the trainer's tests (docs/interfaces.md layout).

The task: images of a coloured shape at one of four positions; the target of each is its class caption ("a red
circle"), so a caption is one side repeated across many pairs (the false-negative mask matters). Around the main
image->caption dataset sit a few video pairs (3 frames of a moving shape: odd, so the trainer must pad), text-only
pairs and source hard negatives. Reasoning and summaries are composed from the caption and only describe the side
they belong to. Media are written as files referenced from `media_root` (reference mode) or inlined as bytes
(embedded mode).

    build_version(tmp_path / "v", embedded=False) -> Path
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from umedata.format import FORMAT_VERSION

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 230), "yellow": (235, 205, 30)}
SHAPES = ("circle", "square", "triangle")
CORNERS = {"circle": "no", "square": "four", "triangle": "three"}
POSITIONS = {"top left": (0, 0), "top right": (1, 0), "bottom left": (0, 1), "bottom right": (1, 1)}
CLASSES = [(c, s) for c in COLOURS for s in SHAPES]
SIZE = 56

MEDIA = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema(
    [(c, pa.string()) for c in ("pair_id", "dataset_name", "modality", "task", "split", "qry_side_id", "pos_side_id",
                                "qry_text", "pos_text")]
    + [(c, pa.list_(MEDIA)) for c in ("qry_images", "pos_images", "qry_video", "pos_video")]
    + [(c, pa.string()) for c in ("qry_reasoning", "qry_summary", "pos_reasoning", "pos_summary")]
    + [("negatives", pa.list_(pa.struct([("side_id", pa.string()), ("text", pa.string()),
                                         ("images", pa.list_(MEDIA))]))),
       ("format_version", pa.string())]
)


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def draw(colour: str, shape: str, position: str, rng: np.random.Generator, offset: int = 0) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), (250, 250, 250))
    d = ImageDraw.Draw(img)
    qx, qy = POSITIONS[position]
    r = int(rng.integers(8, 12))
    cx = qx * SIZE // 2 + SIZE // 4 + int(rng.integers(-3, 4)) + offset
    cy = qy * SIZE // 2 + SIZE // 4 + int(rng.integers(-3, 4))
    fill = COLOURS[colour]
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return img


class _Media:
    """Stores an image as a file under media/ (reference mode) or as bytes (embedded mode)."""

    def __init__(self, root: Path, embedded: bool):
        self.root, self.embedded = root / "media", embedded
        if not embedded:
            self.root.mkdir(parents=True, exist_ok=True)

    def __call__(self, img: Image.Image) -> dict:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        raw = buf.getvalue()
        name = hashlib.sha256(raw).hexdigest()[:20] + ".png"
        if self.embedded:
            return {"bytes": raw, "path": name}
        (self.root / name).write_bytes(raw)
        return {"bytes": None, "path": name}


def _caption_target(colour: str, shape: str) -> dict:
    caption = f"a {colour} {shape}"
    return dict(pos_side_id=_sha("side", caption, ""), pos_text=caption, pos_images=[], pos_video=[],
                pos_reasoning=f"The caption names a {colour} {shape}.", pos_summary=caption)


def _row(dataset: str, modality: str, split: str, qry: dict, pos: dict, negatives: list) -> dict:
    row = dict(dataset_name=dataset, modality=modality, task="retrieval", split=split, negatives=negatives,
               format_version=FORMAT_VERSION, **qry, **pos)
    row["pair_id"] = _sha("pair", dataset, split, row["qry_side_id"], row["pos_side_id"])
    return row


def _image_pair(rng, media, split: str, colour: str, shape: str) -> dict:
    position = list(POSITIONS)[int(rng.integers(len(POSITIONS)))]
    ref = media(draw(colour, shape, position, rng))
    text = "Find the caption of this image."
    qry = dict(qry_side_id=_sha("side", text, ref["path"]), qry_text=text, qry_images=[ref], qry_video=[],
               qry_reasoning=f"The image shows a {colour} {shape} in the {position}.",
               qry_summary=f"a {colour} {shape}")
    other = CLASSES[(CLASSES.index((colour, shape)) + 1 + int(rng.integers(len(CLASSES) - 1))) % len(CLASSES)]
    neg_caption = f"a {other[0]} {other[1]}"
    negatives = [{"side_id": _sha("side", neg_caption, ""), "text": neg_caption, "images": []}]
    return _row("ShapesI2T", "image", split, qry, _caption_target(colour, shape), negatives)


def _video_pair(rng, media, split: str, colour: str, shape: str) -> dict:
    position = list(POSITIONS)[int(rng.integers(len(POSITIONS)))]
    frames = [media(draw(colour, shape, position, rng, offset=3 * k)) for k in range(3)]
    text = "What moves in this video?"
    qry = dict(qry_side_id=_sha("side", text, ",".join(f["path"] for f in frames)), qry_text=text, qry_images=[],
               qry_video=frames, qry_reasoning=f"A {colour} {shape} moves to the right across the frames.",
               qry_summary=f"a {colour} {shape} moving")
    return _row("ShapesVideo", "video", split, qry, _caption_target(colour, shape), [])


def _text_pair(split: str, colour: str, shape: str) -> dict:
    text = f"Which shape is {colour} and has {CORNERS[shape]} corners?"
    qry = dict(qry_side_id=_sha("side", text, ""), qry_text=text, qry_images=[], qry_video=[],
               qry_reasoning=f"The question asks for a {colour} shape with {CORNERS[shape]} corners.",
               qry_summary=f"a {colour} {shape}")
    return _row("ShapesText", "text", split, qry, _caption_target(colour, shape), [])


def build_version(out: str | Path, embedded: bool = False, n_train: int = 480, n_eval: int = 240,
                  n_video: int = 16, n_text: int = 16, seed: int = 0, shards: int = 2) -> Path:
    """Write a version directory; returns its path."""
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    media = _Media(out, embedded)

    def classes(n):
        return [CLASSES[k % len(CLASSES)] for k in range(n)]

    train = [_image_pair(rng, media, "train", c, s) for c, s in classes(n_train)]
    train += [_video_pair(rng, media, "train", c, s) for c, s in classes(n_video)]
    train += [_text_pair("train", c, s) for c, s in classes(n_text)]
    evals = [_image_pair(rng, media, "eval", c, s) for c, s in classes(n_eval)]

    splits = {}
    for name, rows in (("train", train), ("eval", evals)):
        n = shards if name == "train" else 1
        paths = []
        for k in range(n):
            rel = f"data/{name}-{k:05d}-of-{n:05d}.parquet"
            pq.write_table(pa.Table.from_pylist(rows[k::n], schema=SCHEMA), out / rel)
            paths.append(rel)
        splits[name] = paths
    version_id = _sha("version", *sorted(r["pair_id"] for r in train + evals))[:16]
    manifest = {
        "name": "shapes", "version_id": version_id, "format_version": FORMAT_VERSION, "splits": splits,
        "media_root": None if embedded else "media",
        "counts": {"train": len(train), "eval": len(evals)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out / "README.md").write_text(f"# shapes {version_id}\n\nSynthetic trainer test data, {len(train)} train pairs.\n")
    return out


# --------------------------------------------------------------------------------------------- pytest fixtures
# Imported by the trainer's test modules (`from training_fixtures import tiny_dir, version_dir`); session-scoped
# so each test process builds the tiny model and the version once.
REPO = Path(__file__).resolve().parent.parent


def subprocess_env(threads: int = 1) -> dict:
    """Environment for a trainer subprocess: the repo importable, one CPU thread (tests share two cores)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env


def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    from training import tiny

    return tiny.build(tmp_path_factory.mktemp("tiny") / "qwen2_vl")


@pytest.fixture(scope="session")
def version_dir(tmp_path_factory) -> Path:
    return build_version(tmp_path_factory.mktemp("version") / "shapes", n_train=96, n_eval=24, n_video=8, n_text=8)
