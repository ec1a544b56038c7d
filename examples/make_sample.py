"""Generate the bundled sample: small multimodal embedding pairs a tiny model can learn, in the published layouts.

    python examples/make_sample.py --out examples/sample

Everything is drawn from a fixed seed, so a rerun writes byte-identical files. PNGs are encoded here (stdlib
zlib for checksums only, deflate done in this file): the bytes then do not depend on the Pillow or zlib build on
the machine. Pillow is used only to draw text with its built-in bitmap font, which is pixel-exact.

What it writes (paths relative to the sample root, which is also every dataset's media root):
  mmeb/<Dataset>/{train,eval}.jsonl      MMEB-train (VLM2Vec) layout: image->caption, caption->image, VQA,
                                         classification over pictures of coloured shapes
  ume_r1/<Dataset>/{train,eval}.json     UME-R1 SFT layout: a shape moving left or right as frame lists, paired
                                         with captions (text sides carry blank.jpg); gpt turns are annotations
  visdoc/{train,eval}.jsonl              generic layout: question -> rendered text page (PNG or a PDF page)
  images/ video/ visdoc/pages/ visdoc/handbook.pdf blank.jpg sources.toml
  eval/                                  eval sets as the benchmark publishes them (eval_sets.toml lists them):
                                         eval/mmeb/*.jsonl (MMEB eval: a candidate list per query, the first
                                         one the positive), eval/video/*.jsonl (the same with frame lists),
                                         eval/visdoc/FieldDocs/ (BEIR: corpus, queries, graded qrels). Their
                                         pictures, videos and pages are new: none occurs in train or the eval
                                         splits above, and adding them left every other file byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import struct
import sys
import zlib
from pathlib import Path

# Runnable from a plain clone (python examples/make_sample.py) as well as from an installed environment.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from umedata.format import assistant_text, user_text  # noqa: E402

SEED = 20251101

# ---------------------------------------------------------------------------------------------------------------
# PNG: deterministic encoder (fixed-Huffman deflate with run and previous-row matches; enough for flat drawings)
# ---------------------------------------------------------------------------------------------------------------
_LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
             195, 227, 258]
_LEN_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
_DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
              3073, 4097, 6145, 8193, 12289, 16385, 24577]
_DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]


def _rev(code: int, n: int) -> int:
    # Huffman codes go out most-significant bit first inside an LSB-first bit stream.
    return int(format(code, f"0{n}b")[::-1], 2)


def _fixed_lit(sym: int) -> tuple[int, int]:
    if sym < 144:
        return _rev(0x30 + sym, 8), 8
    if sym < 256:
        return _rev(0x190 + sym - 144, 9), 9
    if sym < 280:
        return _rev(sym - 256, 7), 7
    return _rev(0xC0 + sym - 280, 8), 8


_LIT = [_fixed_lit(s) for s in range(288)]
_LEN_CODE: list[tuple[int, int]] = [(0, 0)] * 259
for _i, _base in enumerate(_LEN_BASE):
    _bits, _n = _LIT[257 + _i]
    for _e in range(1 << _LEN_EXTRA[_i]):
        if _base + _e <= 258:  # 258 ends up on symbol 285, the only valid code for it
            _LEN_CODE[_base + _e] = (_bits | (_e << _n), _n + _LEN_EXTRA[_i])


def _dist_code(d: int) -> tuple[int, int]:
    sym = max(i for i, b in enumerate(_DIST_BASE) if b <= d)
    return _rev(sym, 5) | ((d - _DIST_BASE[sym]) << 5), 5 + _DIST_EXTRA[sym]


def _zlib_fixed(data: bytes, dists: tuple[int, ...]) -> bytes:
    """A zlib stream of one fixed-Huffman block; greedy matches at the given distances only."""
    dcodes = {d: _dist_code(d) for d in dists}
    out = bytearray(b"\x78\x01")
    acc, nacc = 0b011, 3  # BFINAL=1, BTYPE=01 (fixed Huffman)
    n, i = len(data), 0
    while i < n:
        best, best_d = 0, 0
        maxl = min(258, n - i)
        if maxl >= 3:
            for d in dists:
                if d > i:
                    continue
                j, k = i - d, 0
                while k + 32 <= maxl and data[i + k:i + k + 32] == data[j + k:j + k + 32]:
                    k += 32
                while k < maxl and data[i + k] == data[j + k]:
                    k += 1
                if k > best:
                    best, best_d = k, d
        if best >= 3:
            bits, nb = _LEN_CODE[best]
            acc |= bits << nacc
            nacc += nb
            bits, nb = dcodes[best_d]
            i += best
        else:
            bits, nb = _LIT[data[i]]
            i += 1
        acc |= bits << nacc
        nacc += nb
        if nacc >= 64:
            out += (acc & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
            acc >>= 64
            nacc -= 64
    bits, nb = _LIT[256]  # end of block
    acc |= bits << nacc
    nacc += nb
    out += acc.to_bytes((nacc + 7) // 8, "little")
    out += struct.pack(">I", zlib.adler32(data))
    return bytes(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png(path: Path, width: int, height: int, pixels: bytes, channels: int) -> None:
    """8-bit grey (channels=1) or RGB (channels=3) PNG, filter None on every row, no ancillary chunks."""
    stride = width * channels
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    colour_type = {1: 0, 3: 2}[channels]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    idat = _zlib_fixed(raw, (channels, stride + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


# A 28x28 white baseline JPEG (quality 95), kept as bytes so the placeholder never depends on the local libjpeg.
_BLANK_JPG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggL"
    "DAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wAAR"
    "CAAcABwDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEG"
    "E1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWG"
    "h4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEB"
    "AQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYk"
    "NOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0"
    "tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD9/KKKKACiiigAooooAKKKKAP/2Q=="
)

# ---------------------------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------------------------
SIZE = 64
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (150, 60, 190),
    "orange": (240, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
# 3x3 grid cells, row-major; the phrase is how a caption names the cell.
CELLS = [(r, c) for r in range(3) for c in range(3)]
CELL_PHRASE = {
    (0, 0): "at the top left", (0, 1): "at the top", (0, 2): "at the top right",
    (1, 0): "on the left", (1, 1): "in the center", (1, 2): "on the right",
    (2, 0): "at the bottom left", (2, 1): "at the bottom", (2, 2): "at the bottom right",
}
CELL_NAME = {
    (0, 0): "top left", (0, 1): "top", (0, 2): "top right", (1, 0): "left", (1, 1): "center",
    (1, 2): "right", (2, 0): "bottom left", (2, 1): "bottom", (2, 2): "bottom right",
}
CENTRES = [11, 32, 53]  # pixel centres of the three grid rows/columns on a 64-pixel canvas


def plural(shape: str) -> str:
    return shape + "s"


def article(colour: str) -> str:
    return ("an " if colour[0] in "aeiou" else "a ") + colour


def render(objects: list[tuple[str, str, float, float, float]]) -> bytes:
    """RGB pixels of (colour, shape, cx, cy, r) objects on white; tested at pixel centres, no anti-aliasing."""
    px = bytearray(b"\xff" * (SIZE * SIZE * 3))
    for colour, shape, cx, cy, r in objects:
        rgb = bytes(COLOURS[colour])
        y0, y1 = max(0, int(cy - r) - 1), min(SIZE, int(cy + r) + 2)
        x0, x1 = max(0, int(cx - r) - 1), min(SIZE, int(cx + r) + 2)
        for y in range(y0, y1):
            py = y + 0.5
            for x in range(x0, x1):
                qx = x + 0.5
                if shape == "circle":
                    inside = (qx - cx) ** 2 + (py - cy) ** 2 <= r * r
                elif shape == "square":
                    half = r * 0.85  # about the area of the circle of radius r
                    inside = abs(qx - cx) <= half and abs(py - cy) <= half
                else:  # triangle pointing up
                    top, base = cy - r, cy + r * 0.8
                    inside = top <= py <= base and abs(qx - cx) <= (py - top) / (base - top) * r
                if inside:
                    o = (y * SIZE + x) * 3
                    px[o:o + 3] = rgb
    return bytes(px)


class Scene:
    """Up to three shapes, each in its own grid cell, with small random offsets and sizes."""

    def __init__(self, objs: list[tuple[str, str, tuple[int, int], int, int, int]]):
        # (colour, shape, cell, dx, dy, r), kept in reading order so the caption is canonical
        self.objs = sorted(objs, key=lambda o: CELLS.index(o[2]))

    @property
    def key(self) -> tuple:
        return tuple(self.objs)

    def caption(self) -> str:
        parts = [f"{article(c)} {s} {CELL_PHRASE[cell]}" for c, s, cell, *_ in self.objs]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def pixels(self) -> bytes:
        return render([(c, s, CENTRES[cell[1]] + dx, CENTRES[cell[0]] + dy, r)
                       for c, s, cell, dx, dy, r in self.objs])


def random_scene(rng: random.Random, n: int) -> Scene:
    cells = rng.sample(CELLS, n)
    return Scene([(rng.choice(list(COLOURS)), rng.choice(SHAPES), cell, rng.randint(-2, 2), rng.randint(-2, 2),
                   rng.randint(7, 8)) for cell in cells])


# ---------------------------------------------------------------------------------------------------------------
# MMEB-train layout: qry, qry_image_path, pos_text, pos_image_path, neg_text, neg_image_path
# ---------------------------------------------------------------------------------------------------------------
IMG = "<|image_1|>"
I2T_QRY = f"{IMG}\nFind a caption describing the given image.\n"
T2I_QRY = "Find me an image that matches the given caption: {}\n"
T2I_POS = f"{IMG}\nRepresent the given image.\n"
VQA_QRY = f"{IMG}\nRepresent the given image with the following question: {{}}\n"
CLS_QRY = f"{IMG}\nRepresent the given image for classification\n"


def mmeb_row(qry: str, qry_image: str, pos_text: str, pos_image: str, neg_text: str = "", neg_image: str = ""):
    # Empty strings where a field is absent, as in the published files.
    return {"qry": qry, "qry_image_path": qry_image, "pos_text": pos_text, "pos_image_path": pos_image,
            "neg_text": neg_text, "neg_image_path": neg_image}


def vqa(scene: Scene, rng: random.Random) -> tuple[str, str]:
    """One question about counts, colours or positions, answerable from the pixels alone."""
    shapes = [s for _, s, *_ in scene.objs]
    colours = [c for c, *_ in scene.objs]
    kinds = ["count_shape", "count_colour", "count_all"]
    if any(shapes.count(s) == 1 for s in shapes):
        kinds.append("colour_of")
    kinds.append("shape_at")
    kind = rng.choice(kinds)
    if kind == "count_shape":
        s = rng.choice(SHAPES)
        return f"How many {plural(s)} are there?", str(shapes.count(s))
    if kind == "count_colour":
        c = rng.choice(colours) if rng.random() < 0.7 else rng.choice(list(COLOURS))
        return f"How many {c} shapes are there?", str(colours.count(c))
    if kind == "count_all":
        return "How many shapes are there?", str(len(shapes))
    if kind == "colour_of":
        s = rng.choice(sorted({s for s in shapes if shapes.count(s) == 1}))
        return f"What colour is the {s}?", colours[shapes.index(s)]
    c, s, cell, *_ = rng.choice(scene.objs)
    return f"What shape is at the {CELL_NAME[cell]}?", s


def build_images(out: Path, rng: random.Random, files: dict, seen: set[tuple] | None = None,
                 captions: set[str] | None = None) -> dict[str, list[dict]]:
    # `seen` and `captions` come back filled, so the eval sets drawn later avoid every train picture and caption.
    seen = set() if seen is None else seen
    captions = set() if captions is None else captions

    def fresh(n_shapes: int, captions: set[str] | None) -> Scene:
        # Unique pixels across the whole sample (so eval images never occur in train) and, for the caption pool,
        # unique captions (so eval captions never occur in train and no two retrieval candidates read the same).
        while True:
            sc = random_scene(rng, n_shapes)
            if sc.key in seen or (captions is not None and sc.caption() in captions):
                continue
            seen.add(sc.key)
            if captions is not None:
                captions.add(sc.caption())
            return sc

    # Caption pool: 1-3 shapes; the same images serve I2T, T2I and VQA (one stored image, several sides).
    pool = {"train": [], "eval": []}
    for split, n in (("eval", 80), ("train", 330)):
        for i in range(n):
            sc = fresh(rng.choices((1, 2, 3), weights=(3, 4, 3))[0], captions)
            path = f"images/shapes/{split}/{i:04d}.png"
            write_png(out / path, SIZE, SIZE, sc.pixels(), 3)
            pool[split].append((sc, path))
    eval_captions = {sc.caption() for sc, _ in pool["eval"]}

    rows: dict[str, list[dict]] = {}
    for split, scenes in pool.items():
        i2t, t2i, vq = [], [], []
        for i, (sc, path) in enumerate(scenes):
            neg_cap = neg_img = ""
            if split == "train" and i % 3 == 0:
                # Hard negatives: the same picture with one shape recoloured, and another picture sharing a shape.
                objs = list(sc.objs)
                j = rng.randrange(len(objs))
                c, s, cell, dx, dy, r = objs[j]
                objs[j] = (rng.choice([k for k in COLOURS if k != c]), s, cell, dx, dy, r)
                neg_cap = Scene(objs).caption()
                if neg_cap in eval_captions:
                    neg_cap = ""
                same = [p for k, (o, p) in enumerate(scenes) if k != i
                        and {(c0, s0) for c0, s0, *_ in o.objs} & {(c0, s0) for c0, s0, *_ in sc.objs}]
                neg_img = rng.choice(same) if same else ""
            i2t.append(mmeb_row(I2T_QRY, path, sc.caption(), "", neg_cap, ""))
            t2i.append(mmeb_row(T2I_QRY.format(sc.caption()), "", T2I_POS, path,
                                T2I_POS if neg_img else "", neg_img))
            q, a = vqa(sc, rng)
            vq.append(mmeb_row(VQA_QRY.format(q), path, a, ""))
        rows[f"ShapesI2T/{split}"] = i2t
        rows[f"ShapesT2I/{split}"] = t2i
        rows[f"ShapesVQA/{split}"] = vq

    # Classification: one shape per image, label "colour shape" (18 classes): many pairs share one target side.
    classes = [(c, s) for c in COLOURS for s in SHAPES]
    for split, per_class in (("eval", 3), ("train", 12)):
        cls = []
        order = [cs for cs in classes for _ in range(per_class)]
        rng.shuffle(order)
        for i, (c, s) in enumerate(order):
            while True:
                sc = Scene([(c, s, rng.choice(CELLS), rng.randint(-2, 2), rng.randint(-2, 2), rng.randint(7, 8))])
                if sc.key not in seen:
                    seen.add(sc.key)
                    break
            path = f"images/classes/{split}/{i:04d}.png"
            write_png(out / path, SIZE, SIZE, sc.pixels(), 3)
            neg = ""
            if split == "train" and i % 4 == 0:
                neg = f"{c} {rng.choice([x for x in SHAPES if x != s])}"
            cls.append(mmeb_row(CLS_QRY, path, f"{c} {s}", "", neg, ""))
        rows[f"ShapesCls/{split}"] = cls

    for key, rs in rows.items():
        files[f"mmeb/{key}.jsonl"] = rs
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Video, UME-R1 SFT layout: {dataset_name, qry: {conversations, video | image}, pos: {...}}
# ---------------------------------------------------------------------------------------------------------------
ROWS = ("top", "middle", "bottom")
V2T_QRY = "Find a caption that describes the motion in the video."
T2V_QRY = "Find a video that shows: {}"
T2V_POS = "Understand the content of the provided video."
BLANK = "blank.jpg"


def ume_side(tag: str, text: str, reasoning: str, summary: str, media_key: str, media) -> dict:
    return {
        "conversations": [
            {"from": "human", "value": f"{tag}\n{user_text(text)}"},
            {"from": "gpt", "value": assistant_text(reasoning, summary)},
        ],
        media_key: media,
    }


def build_video(out: Path, rng: random.Random, files: dict, held_out: list | None = None) -> dict[str, list[dict]]:
    combos = [(c, s, row) for c in COLOURS for s in SHAPES for row in range(3)]
    rng.shuffle(combos)
    if held_out is not None:  # the eval sets draw their videos from the same held-out combinations
        held_out.extend(sorted(combos[:12], key=lambda cb: (list(COLOURS).index(cb[0]), cb[1], cb[2])))
    # Held-out combinations: eval videos and captions never occur in train (frames are shared only within a combo).
    split_of = {cb: ("eval" if k < 12 else "train") for k, cb in enumerate(combos)}
    rows: dict[str, list[dict]] = {f"{d}/{s}": [] for d in ("MovingShapesV2T", "MovingShapesT2V")
                                   for s in ("eval", "train")}
    for k, (c, s, row) in enumerate(sorted(combos, key=lambda cb: (list(COLOURS).index(cb[0]), cb[1], cb[2]))):
        n = 4 + k % 3  # 4, 5 or 6 frames: odd counts exercise the repeat-last-frame rule
        frames = []
        for f in range(n):
            x = 10 + round(f * 44 / (n - 1))
            path = f"video/{c}-{s}-{ROWS[row]}/frame{f}.png"
            # Radius 6 is never used by the still images (7-8), so no frame can equal an eval or train picture.
            write_png(out / path, SIZE, SIZE, render([(c, s, x, CENTRES[row], 6)]), 3)
            frames.append(path)
        split = split_of[(c, s, row)]
        for direction, fr in (("right", frames), ("left", frames[::-1])):
            caption = f"{article(c)} {s} moving {direction} across the {ROWS[row]}"
            start, end = ("left", "right") if direction == "right" else ("right", "left")
            v_reason = (f"There are {n} frames. Each shows one {c} {s} in the {ROWS[row]} band of the frame. "
                        f"It starts at the {start} edge and its position shifts toward the {end} a little in every "
                        f"frame, so the {s} is moving {direction}.")
            rows[f"MovingShapesV2T/{split}"].append({
                "dataset_name": "MovingShapesV2T",
                "qry": ume_side("<video>", V2T_QRY, v_reason, caption, "video", fr),
                "pos": ume_side("<image>", caption,
                                f"The text describes {article(c)} {s} that travels to the {direction} across the "
                                f"{ROWS[row]} of a scene.", caption, "image", BLANK),
            })
            rows[f"MovingShapesT2V/{split}"].append({
                "dataset_name": "MovingShapesT2V",
                "qry": ume_side("<image>", T2V_QRY.format(caption),
                                f"The request is for a video in which {article(c)} {s} moves {direction} across the "
                                f"{ROWS[row]}.", caption, "image", BLANK),
                "pos": ume_side("<video>", T2V_POS, v_reason, caption, "video", fr),
            })
    for key, rs in rows.items():
        files[f"ume_r1/{key}.json"] = rs
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Visual documents, generic layout: {"id", "question", "page", "page_prompt"}
# ---------------------------------------------------------------------------------------------------------------
PLACES = [f"{a} {b}" for a in ("Alder", "Birch", "Cedar", "Maple", "Willow", "Aspen")
          for b in ("Bay", "Ridge", "Falls", "Harbor", "Creek", "Valley")]
CROPS = ("barley", "apples", "potatoes", "oats", "plums", "beans")
ANIMALS = ("otters", "herons", "foxes", "owls", "deer", "badgers")
WARDENS = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Petrov", "Mensah",
           "Ibarra", "Dubois", "Fischer", "Nakamura", "Rossi", "Yilmaz", "Andersen", "Costa", "Murphy", "Varga",
           "Keller", "Ortiz", "Sato", "Quinn", "Larsen", "Abara", "Bianchi", "Clarke", "Duarte", "Egede", "Ferreira",
           "Gallo", "Horvat", "Ivanova", "Jensen", "Kaur")
PAGE_PROMPT = "Understand the content of the provided document page."
PAGE_W, PAGE_H = 224, 280

HANDBOOK = [
    ("Boiling water", ["Fill the kettle to the line.", "Wait for the click.", "Pour slowly over the leaves.",
                       "Steep for four minutes."]),
    ("Knots for tents", ["Tie a bowline to the ring.", "Use a taut-line hitch", "on every guy rope.",
                         "Check the knots at dusk."]),
    ("Reading a compass", ["Hold the compass flat.", "Turn the bezel to north.", "Follow the travel arrow.",
                           "Pick a landmark ahead."]),
    ("Packing a bag", ["Heavy items go near your back.", "Keep the rain coat on top.",
                       "Water bottles in side pockets.", "Snacks in the lid pocket."]),
]
HANDBOOK_QUERIES = {
    "train": ["handbook section on boiling water for tea", "which knots to use for tent guy ropes",
              "how to read a compass on a hike", "how to pack a hiking bag"],
    "eval": ["How long should tea leaves steep?", "Where do I tie a bowline?", "Where do I turn the bezel?",
             "Where should the rain coat go in the bag?"],
}


def _font():
    from PIL import ImageFont

    # The legacy bitmap font is pixel-exact on every Pillow (the default TrueType one depends on FreeType).
    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def render_page(title: str, lines: list[str]) -> bytes:
    from PIL import Image, ImageDraw

    font = _font()
    page = Image.new("L", (PAGE_W, PAGE_H), 255)
    draw = ImageDraw.Draw(page)
    strip = Image.new("L", (PAGE_W // 2, 14), 255)
    ImageDraw.Draw(strip).text((0, 0), title, font=font, fill=0)
    page.paste(strip.resize((PAGE_W, 28), Image.NEAREST), (12, 14))  # a title twice the size of the body text
    draw.line([(12, 48), (PAGE_W - 12, 48)], fill=0, width=1)
    for k, line in enumerate(lines):
        draw.text((12, 60 + 18 * k), line, font=font, fill=0)
    return page.tobytes()


def _pdf_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, pages: list[tuple[str, list[str]]]) -> None:
    """A minimal PDF 1.4: one page per (title, lines), Helvetica text, no dates or ids so bytes are stable."""
    objs: list[bytes] = []
    n = len(pages)
    # 1 catalog, 2 pages tree, 3 font, then a (page, content) object pair per page
    kids = " ".join(f"{4 + 2 * k} 0 R" for k in range(n))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for k, (title, lines) in enumerate(pages):
        ops = [f"BT /F1 20 Tf 30 340 Td ({_pdf_text(title)}) Tj ET", "30 325 m 270 325 l S"]
        ops += [f"BT /F1 12 Tf 30 {300 - 20 * i} Td ({_pdf_text(line)}) Tj ET" for i, line in enumerate(lines)]
        ops.append(f"BT /F1 9 Tf 30 30 Td (Field handbook, page {k + 1}) Tj ET")
        stream = "\n".join(ops).encode()
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 380] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {5 + 2 * k} 0 R >>".encode())
        objs.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    body = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, start=1):
        offsets.append(len(body))
        body += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(body))


def build_visdoc(out: Path, rng: random.Random, files: dict) -> dict[str, list[dict]]:
    # Every page gets a distinct (crop, animal) pair, warden and year, so each question names exactly one page.
    pairs = [(c, a) for c in CROPS for a in ANIMALS]
    rng.shuffle(pairs)
    wardens = list(WARDENS)
    rng.shuffle(wardens)
    years = rng.sample(range(1850, 1990), len(PLACES))
    rows: dict[str, list[dict]] = {"train": [], "eval": []}
    for k, place in enumerate(PLACES):
        crop, animal = pairs[k]
        lines = [f"Station report no. {k + 1}", f"Founded: {years[k]}", f"Warden: {wardens[k]}",
                 f"Rainfall: {rng.randint(300, 1400)} mm a year", f"Main crop: {crop}", f"Often seen: {animal}",
                 f"Population: {rng.randint(80, 9000)}"]
        path = f"visdoc/pages/page{k + 1:02d}.png"
        write_png(out / path, PAGE_W, PAGE_H, render_page(place, lines), 1)
        rows["train"].append({"question": f"{place} station report", "page": path})
        rows["train"].append({"question": f"Which station grows {crop} and often sees {animal}?", "page": path})
        if k % 2 == 0:
            rows["eval"].append({"question": f"Report from the station at {place}", "page": path})
        else:
            rows["eval"].append({"question": f"Which station has the warden {wardens[k]}?", "page": path})
    write_pdf(out / "visdoc/handbook.pdf", HANDBOOK)
    for split in ("train", "eval"):
        for k, q in enumerate(HANDBOOK_QUERIES[split]):
            rows[split].append({"question": q, "page": f"visdoc/handbook.pdf#page={k + 1}"})
    for split, rs in rows.items():
        for i, r in enumerate(rs):
            r["id"] = f"{split}-{i:03d}"
            r["page_prompt"] = PAGE_PROMPT
        files[f"visdoc/{split}.jsonl"] = rs
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Eval sets as the benchmark publishes them (eval/, listed in eval_sets.toml): fresh pictures, videos and pages
# that occur nowhere in train (nor in the eval splits above), scored by Hit@1 over each query's own candidates or
# NDCG@5 over a corpus with graded qrels.
# ---------------------------------------------------------------------------------------------------------------
VIDEO_TAG = "<|video_1|>"
EVAL_V2T_QRY = f"{VIDEO_TAG}\nFind a caption that describes the motion in the video.\n"
EVAL_T2V_QRY = "Find a video that contains the following visual content: {}\n"
EVAL_T2V_TGT = f"{VIDEO_TAG}\nUnderstand the content of the provided video.\n"
EVAL_PLACES = [f"{a} {b}" for a in ("Oak", "Pine", "Elm", "Rowan", "Hazel", "Larch") for b in ("Hill", "Point", "Lake",
                                                                                                   "Moor")]
EVAL_MANUAL = [
    ("Lighting a stove", ["Open the fuel valve a little.", "Hold the match to the burner.", "Wait for a blue flame."]),
    ("Crossing a river", ["Unclip the hip belt first.", "Face upstream and shuffle.", "Use a pole for balance."]),
]
EVAL_MANUAL_QUERIES = ["How do I light a camping stove?", "What should I unclip before crossing a river?"]
EVAL_SETS = [  # (name, layout, category, path) as eval_sets.toml lists them
    ("ShapesI2T", "mmeb_eval", "image", "eval/mmeb/ShapesI2T.jsonl"),
    ("ShapesT2I", "mmeb_eval", "image", "eval/mmeb/ShapesT2I.jsonl"),
    ("ShapesVQA", "mmeb_eval", "image", "eval/mmeb/ShapesVQA.jsonl"),
    ("ShapesCls", "mmeb_eval", "image", "eval/mmeb/ShapesCls.jsonl"),
    ("MovingShapesV2T", "video_eval", "video", "eval/video/MovingShapesV2T.jsonl"),
    ("MovingShapesT2V", "video_eval", "video", "eval/video/MovingShapesT2V.jsonl"),
    ("FieldDocs", "beir", "visdoc", "eval/visdoc/FieldDocs"),
]


def _distractors(rng: random.Random, k: int, positive, pool: list, related) -> list:
    """k candidates other than `positive`: half from the related ones (hard), the rest at random."""
    others = [x for x in pool if x != positive]
    hard = [x for x in others if related(x)]
    rng.shuffle(hard)
    picked = hard[: k // 2]
    rest = [x for x in others if x not in picked]
    return picked + rng.sample(rest, k - len(picked))


def build_eval_sets(out: Path, rng: random.Random, files: dict, texts: dict, seen: set[tuple], captions: set[str],
                    held_out: list) -> None:
    n_cand = 20
    # Images: 40 new scenes (I2T, T2I and VQA share them, as MMEB's sets share COCO pictures) + 36 class pictures.
    scenes = []
    while len(scenes) < 40:
        sc = random_scene(rng, rng.choices((1, 2, 3), weights=(3, 4, 3))[0])
        if sc.key in seen or sc.caption() in captions:
            continue
        seen.add(sc.key)
        captions.add(sc.caption())
        path = f"eval/images/{len(scenes):04d}.png"
        write_png(out / path, SIZE, SIZE, sc.pixels(), 3)
        scenes.append((sc, path))

    def objects(sc: Scene) -> set:
        return {(c, s) for c, s, *_ in sc.objs}

    i2t, t2i, vq = [], [], []
    for sc, path in scenes:
        near = _distractors(rng, n_cand - 1, (sc, path), scenes, lambda o, sc=sc: bool(objects(o[0]) & objects(sc)))
        i2t.append({"qry_text": I2T_QRY, "qry_img_path": path, "tgt_text": [sc.caption()] + [o.caption() for o, _ in near],
                    "tgt_img_path": [""] * n_cand})
        t2i.append({"qry_text": T2I_QRY.format(sc.caption()), "qry_img_path": "", "tgt_text": [T2I_POS] * n_cand,
                    "tgt_img_path": [path] + [p for _, p in near]})
        q, a = vqa(sc, rng)
        kind = ("count" if a.isdigit() else "colour" if a in COLOURS else "shape")
        answers = {"count": [str(n) for n in range(5)], "colour": list(COLOURS), "shape": list(SHAPES)}[kind]
        vq.append({"qry_text": VQA_QRY.format(q), "qry_img_path": path,
                   "tgt_text": [a] + [x for x in answers if x != a], "tgt_img_path": [""] * len(answers)})
    classes = [(c, s) for c in COLOURS for s in SHAPES]
    labels = [f"{c} {s}" for c, s in classes]
    cls = []
    for i, (c, s) in enumerate([cs for cs in classes for _ in range(2)]):
        while True:
            sc = Scene([(c, s, rng.choice(CELLS), rng.randint(-2, 2), rng.randint(-2, 2), rng.randint(7, 8))])
            if sc.key not in seen:
                seen.add(sc.key)
                break
        path = f"eval/classes/{i:04d}.png"
        write_png(out / path, SIZE, SIZE, sc.pixels(), 3)
        rest = [x for x in labels if x != f"{c} {s}"]
        rng.shuffle(rest)
        cls.append({"qry_text": CLS_QRY, "qry_img_path": path, "tgt_text": [f"{c} {s}"] + rest,
                    "tgt_img_path": [""] * len(labels)})
    for name, rows in (("ShapesI2T", i2t), ("ShapesT2I", t2i), ("ShapesVQA", vq), ("ShapesCls", cls)):
        files[f"eval/mmeb/{name}.jsonl"] = rows

    # Video: the 12 held-out combinations of build_video, moving both ways, drawn anew (radius 5, other frame counts)
    videos = []
    for k, (c, s, row) in enumerate(held_out):
        n = 4 + (k + 1) % 3
        frames = []
        for f in range(n):
            x = 12 + round(f * 40 / (n - 1))
            path = f"eval/video/{c}-{s}-{ROWS[row]}/frame{f}.png"
            write_png(out / path, SIZE, SIZE, render([(c, s, x, CENTRES[row] + 1, 5)]), 3)
            frames.append(path)
        for direction, fr in (("right", frames), ("left", frames[::-1])):
            videos.append(((c, s, row, direction), f"{article(c)} {s} moving {direction} across the {ROWS[row]}", fr))
    v2t, t2v = [], []
    n_vid = 12
    for key, caption, fr in videos:
        near = _distractors(rng, n_vid - 1, (key, caption, fr), videos,
                            lambda o, key=key: o[0][:2] == key[:2] or o[0][2:] == key[2:])
        v2t.append({"qry_text": EVAL_V2T_QRY, "qry_video": fr, "tgt_text": [caption] + [o[1] for o in near],
                    "tgt_video": [[] for _ in range(n_vid)]})
        t2v.append({"qry_text": EVAL_T2V_QRY.format(caption), "qry_video": [], "tgt_text": [EVAL_T2V_TGT] * n_vid,
                    "tgt_video": [fr] + [o[2] for o in near]})
    files["eval/video/MovingShapesV2T.jsonl"] = v2t
    files["eval/video/MovingShapesT2V.jsonl"] = t2v

    # Visual documents, BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv (graded: 2 = the page that answers,
    # 1 = a page that answers half of it).
    root = "eval/visdoc/FieldDocs"
    pairs = [(c, a) for c in CROPS for a in ANIMALS]
    rng.shuffle(pairs)
    wardens = list(WARDENS)
    rng.shuffle(wardens)
    years = rng.sample(range(1850, 1990), len(EVAL_PLACES))
    corpus, queries, qrels = [], [], []
    for k, place in enumerate(EVAL_PLACES):
        crop, animal = pairs[k]
        lines = [f"Station report no. {k + 101}", f"Founded: {years[k]}", f"Warden: {wardens[k]}",
                 f"Rainfall: {rng.randint(300, 1400)} mm a year", f"Main crop: {crop}", f"Often seen: {animal}",
                 f"Population: {rng.randint(80, 9000)}"]
        path = f"{root}/pages/page{k + 1:02d}.png"
        write_png(out / path, PAGE_W, PAGE_H, render_page(place, lines), 1)
        corpus.append({"_id": f"d{k + 1:02d}", "title": "", "text": "", "image": path})
    for k, place in enumerate(EVAL_PLACES):
        crop, animal = pairs[k]
        qid = f"q{k + 1:02d}"
        if k % 2 == 0:
            queries.append({"_id": qid, "text": f"Find the report listing {crop} as main crop and {animal} as often seen"})
            qrels += [(qid, f"d{j + 1:02d}", 2 if j == k else 1) for j in range(len(EVAL_PLACES))
                      if pairs[j][0] == crop or pairs[j][1] == animal]
        else:
            queries.append({"_id": qid, "text": f"Who is the warden of the {place} station?"})
            qrels.append((qid, f"d{k + 1:02d}", 2))
    write_pdf(out / f"{root}/manual.pdf", EVAL_MANUAL)
    for k, q in enumerate(EVAL_MANUAL_QUERIES):
        doc, qid = f"m{k + 1}", f"qm{k + 1}"
        corpus.append({"_id": doc, "title": EVAL_MANUAL[k][0], "text": "", "image": f"{root}/manual.pdf#page={k + 1}"})
        queries.append({"_id": qid, "text": q})
        qrels.append((qid, doc, 2))
    files[f"{root}/corpus.jsonl"] = corpus
    files[f"{root}/queries.jsonl"] = queries
    texts[f"{root}/qrels/test.tsv"] = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in qrels)


def eval_sets_toml() -> str:
    out = ["# Eval sets of the bundled sample, in the benchmark's layouts (examples/make_sample.py writes this file).",
           "# Ingest: umedata eval-sets ingest --config examples/sample/eval_sets.toml", ""]
    for name, layout, category, path in EVAL_SETS:
        out += ["[[eval_set]]", f'name = "{name}"', f'layout = "{layout}"', f'category = "{category}"',
                f'path = "{path}"', 'root = "."', 'licence = "CC0-1.0"',
                'provenance = "generated by examples/make_sample.py"']
        if layout == "beir":
            out += ['qrels = "test"', f'doc_prompt = "{PAGE_PROMPT}"']
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------
DATASETS = [  # (source, dataset, path stem, modality, task)
    ("shapes-mmeb", "ShapesI2T", "mmeb/ShapesI2T", "image", "retrieval"),
    ("shapes-mmeb", "ShapesT2I", "mmeb/ShapesT2I", "image", "retrieval"),
    ("shapes-mmeb", "ShapesVQA", "mmeb/ShapesVQA", "image", "vqa"),
    ("shapes-mmeb", "ShapesCls", "mmeb/ShapesCls", "image", "classification"),
    ("moving-shapes-ume", "MovingShapesV2T", "ume_r1/MovingShapesV2T", "video", "retrieval"),
    ("moving-shapes-ume", "MovingShapesT2V", "ume_r1/MovingShapesT2V", "video", "retrieval"),
    ("field-docs", "FieldDocs", "visdoc", "visdoc", "retrieval"),
]
SOURCES = {"shapes-mmeb": ("mmeb", ".jsonl"), "moving-shapes-ume": ("ume_r1_sft", ".json"),
           "field-docs": ("generic", ".jsonl")}
GENERIC_COLUMNS = '{ qry = "question", pos = "page_prompt", pos_image = "page" }'


def sources_toml() -> str:
    out = ["# The bundled sample (examples/make_sample.py writes this file). Paths are relative to this folder.", ""]
    for src, (layout, ext) in SOURCES.items():
        out += ["[[source]]", f'name = "{src}"', f'layout = "{layout}"', 'root = "."', 'licence = "CC0-1.0"',
                'provenance = "generated by examples/make_sample.py"', "allow_external_teacher = true", ""]
        for s, name, stem, modality, task in DATASETS:
            if s != src:
                continue
            for split in ("train", "eval"):
                path = f"{stem}/{split}{ext}"
                out += ["  [[source.datasets]]", f'  name = "{name}"', f'  path = "{path}"',
                        f'  modality = "{modality}"', f'  task = "{task}"', f'  split = "{split}"']
                if layout == "generic":
                    out.append(f"  columns = {GENERIC_COLUMNS}")
                out.append("")
    return "\n".join(out)


def _dump(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    else:
        text = json.dumps(rows, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def generate(out: Path) -> dict[str, int]:
    """Write the whole sample under `out` (replacing it) and return pair counts per file."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files: dict[str, list[dict]] = {}
    texts: dict[str, str] = {}
    seen: set[tuple] = set()
    captions: set[str] = set()
    held_out: list = []
    # One generator per part, so changing one part leaves the bytes of the others alone.
    build_images(out, random.Random(f"{SEED}-images"), files, seen, captions)
    build_video(out, random.Random(f"{SEED}-video"), files, held_out)
    build_visdoc(out, random.Random(f"{SEED}-visdoc"), files)
    build_eval_sets(out, random.Random(f"{SEED}-eval-sets"), files, texts, seen, captions, held_out)
    for rel, rows in files.items():
        _dump(out / rel, rows)
    for rel, text in texts.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8", newline="\n")
    (out / "eval_sets.toml").write_text(eval_sets_toml(), encoding="utf-8", newline="\n")
    (out / BLANK).write_bytes(_BLANK_JPG)
    (out / "sources.toml").write_text(sources_toml(), encoding="utf-8", newline="\n")
    return {rel: len(rows) for rel, rows in sorted(files.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample")
    args = ap.parse_args()
    counts = generate(args.out)
    for rel, n in counts.items():
        print(f"{n:6d}  {rel}")
    print(f"{sum(n for r, n in counts.items() if '/train' in r):6d}  train pairs")
    print(f"{sum(n for r, n in counts.items() if '/eval' in r):6d}  eval queries (eval splits of the sources)")
    print(f"{sum(n for r, n in counts.items() if r.startswith('eval/') and 'corpus' not in r):6d}  "
          "eval-set queries (eval_sets.toml)")


if __name__ == "__main__":
    main()
