"""A synthetic, learnable dataset version directory for the trainer's tests (docs/interfaces.md layout).

The task: images of a coloured shape at one of four positions; the target of each is its class caption ("a red
circle"), so a caption is one side repeated across many pairs (the false-negative mask matters). Around the main
image->caption dataset sit a few video pairs (3 frames of a moving shape: odd, so the trainer must pad), text-only
pairs and source hard negatives. Reasoning and summaries are composed from the caption and only describe the side
they belong to. Media are written as files referenced from `media_root` (reference mode) or inlined as bytes
(embedded mode).

    build_version(tmp_path / "v", embedded=False) -> Path        (kind="rl": marked as an RL version)

Below the data: what the trainer's tests share (pytest fixtures of the tiny model and a version, the environment
of a trainer subprocess, killing one mid-run, reading its metrics, the two-process gloo set-up, loading a bench
script).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
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
    draw_shape(d, shape, cx, cy, r, COLOURS[colour])
    return img


def draw_shape(d: ImageDraw.ImageDraw, shape: str, cx: int, cy: int, r: int, fill) -> None:
    """A filled circle, square or (any other name) triangle of half-size r centred at (cx, cy)."""
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)


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
                  n_video: int = 16, n_text: int = 16, seed: int = 0, shards: int = 2, kind: str | None = None) -> Path:
    """Write a version directory; returns its path. `kind` goes into the manifest ("rl": an RL version, whose rows
    are an SFT version's)."""
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
    if kind is not None:
        manifest["kind"] = kind
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


# ------------------------------------------------------------------------------------------ trainer processes
def kill_when(cmd: list, ready, timeout: float = 300.0) -> None:
    """Start a trainer command and SIGKILL it as soon as `ready()` holds (a checkpoint, some shards on disk); the
    run must still be going then, or the test would not be testing a kill."""
    proc = subprocess.Popen([str(c) for c in cmd], cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not ready() and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def metrics_rows(out: Path) -> list[dict]:
    """The lines of out/metrics.jsonl; a kill may cut the last one short (left out)."""
    rows = []
    for line in (Path(out) / "metrics.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def has_checkpoint(out: Path):
    """A `ready` for kill_when: a checkpoint is on disk under out."""
    return lambda: bool(list((Path(out) / "checkpoints").glob("step_*")))


def killed_and_resumed(cmd_for, tmp_path: Path, steps: int) -> tuple[list[dict], list[dict], Path]:
    """A trainer run uninterrupted (tmp/full), and the same run SIGKILLed once it has a checkpoint and then resumed
    with --resume (tmp/cut); `cmd_for(out)` is the command writing to out. Asserts the kill came before the last
    step, the resume succeeded, and every step is recorded once (the steps after the checkpoint redone). Returns
    (the full run's metrics, the resumed run's, tmp/cut)."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run([str(c) for c in cmd_for(full)], env=subprocess_env(), cwd=REPO, check=True, capture_output=True)
    kill_when(cmd_for(cut), has_checkpoint(cut))
    assert max(r["step"] for r in metrics_rows(cut)) < steps
    resumed = subprocess.run([str(c) for c in cmd_for(cut)] + ["--resume"], env=subprocess_env(), cwd=REPO,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = metrics_rows(full), metrics_rows(cut)
    assert [r["step"] for r in b] == list(range(1, steps + 1))
    return a, b, cut


# ------------------------------------------------------------------------------------- two processes (gloo)
def mixed_rows(version: Path) -> list[dict]:
    """Two image pairs then two text-only pairs: split over two ranks, rank 1 holds no pixels at all (the dummy
    vision pass is exercised there)."""
    from training import data

    rows = data.open_version(version).read_split("train").to_pylist()
    return [r for r in rows if r["modality"] == "image"][:2] + [r for r in rows if r["modality"] == "text"][:2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_gloo(rank: int, world: int, port: int) -> None:
    """In a spawned worker: one CPU thread, the torchrun variables set, the gloo process group joined."""
    import torch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)


def trainable_grads(net) -> dict:
    """Gradient of every trainable parameter, made whole under FSDP2, keyed by name without DDP's "module."."""
    grads = {}
    for name, p in net.named_parameters():
        if p.requires_grad:
            g = p.grad
            g = g.full_tensor() if hasattr(g, "full_tensor") else g
            grads[name.removeprefix("module.")] = g.detach().clone()
    return grads


# --------------------------------------------------------------------------------------------------- benches
def load_bench(name: str):
    """A bench/ script as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_bench", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bench_twice(main, flags: list[str], tmp_path: Path):
    """Run a bench's main twice with --write into a page that has another section; returns (first result, the
    page's text after the second run)."""
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\n## Ingest\nother figures\n")
    result = main([*flags, "--write", str(page)])
    main([*flags, "--write", str(page)])
    return result, page.read_text()
