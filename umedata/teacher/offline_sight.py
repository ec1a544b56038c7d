"""What the offline stand-in teacher measures in a side's own pixels: shapes and colours, motion, printed words.

A real teacher VLM describes what a side shows; the stand-in (umedata/teacher/offline.py) does it with plain image
measurements, so its reasoning carries the information a real one would, without a model. It sees only the media
of the side it annotates.

  * scene(image): the background (the commonest border colour), then every connected blob of one colour that
    covers at least 0.3 % of the picture: its colour named by the nearest of the basic colour terms (Berlin and
    Kay's eleven, at typical sRGB values), its shape from how much of its bounding box it fills and how its width
    changes from top to bottom (square ~1, circle ~pi/4, triangle ~1/2 and widening or narrowing), its place in a
    3 x 3 grid of the picture, and its size. A picture with no clear background or too many blobs (a photograph)
    is described by its dominant colours instead.
  * motion(frames): the largest blob of each frame, followed from the first frame to the last: which way it
    moves and in which horizontal band.
  * read_lines(page): printed text by template matching against the glyphs of Pillow's built-in bitmap font
    (monospaced, 6 x 11 pixels), at scale 1, 2 or 3; lines in any other font are not read (the caller then says
    how many lines the page has). A VLM reads any font; this stand-in reads the one the bundled sample prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

# The eleven basic colour terms at typical sRGB values.
BASIC_COLOURS = {
    "red": (220, 35, 35), "orange": (245, 135, 20), "yellow": (235, 205, 30), "green": (40, 160, 60),
    "blue": (40, 80, 220), "purple": (145, 60, 185), "pink": (240, 140, 190), "brown": (135, 85, 40),
    "black": (20, 20, 20), "white": (250, 250, 250), "gray": (128, 128, 128),
}
_NAMES = list(BASIC_COLOURS)
_PROTOS = np.array([BASIC_COLOURS[n] for n in _NAMES], dtype=np.float32)
ROWS, COLS = ("top", "middle", "bottom"), ("left", "center", "right")
_MAX_SIDE = 256  # pictures are measured at most this large (blobs, not detail, are what is described)


def colour_name(rgb) -> str:
    d = ((_PROTOS - np.asarray(rgb, dtype=np.float32)) ** 2).sum(-1)
    return _NAMES[int(d.argmin())]


def place(row: int, col: int) -> str:
    """A grid cell in words: "at the top left", "on the right", "in the center", ..."""
    if (row, col) == (1, 1):
        return "in the center"
    if row == 1:
        return f"on the {COLS[col]}"
    return f"at the {ROWS[row]}" if col == 1 else f"at the {ROWS[row]} {COLS[col]}"


@dataclass
class Blob:
    colour: str
    shape: str  # circle | square | rectangle | triangle | shape
    row: int  # grid cell, 0..2
    col: int
    cx: float  # centroid, as a fraction of width / height
    cy: float
    share: float  # of the picture's area

    def phrase(self) -> str:
        article = "an" if self.colour[0] in "aeiou" else "a"
        return f"{article} {self.colour} {self.shape} {place(self.row, self.col)}"


@dataclass
class Scene:
    width: int
    height: int
    background: str
    blobs: list[Blob]  # reading order (row, then column)
    dominant: list[tuple[str, float]]  # colour name, share of the picture; largest first
    clear: bool  # a plain background with a few blobs on it

    def caption(self) -> str:
        if not self.clear:
            return "a picture mostly in " + _and([c for c, _ in self.dominant[:3]])
        if not self.blobs:
            return f"a plain {self.background} picture"
        return _and([b.phrase() for b in self.blobs])


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def load_rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if max(im.size) > _MAX_SIDE:
            scale = _MAX_SIDE / max(im.size)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.NEAREST)
        return np.asarray(im)


def _shape(mask: np.ndarray) -> str:
    ys, xs = np.nonzero(mask)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    fill = len(ys) / float(h * w)
    aspect = w / float(h)
    box = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    widths = box.sum(1)
    third = max(1, h // 3)
    top, bottom = widths[:third].mean(), widths[-third:].mean()
    if 0.3 <= fill <= 0.66 and (bottom > 1.8 * top or top > 1.8 * bottom):
        return "triangle"
    if fill >= 0.9:
        return "square" if 0.8 <= aspect <= 1.25 else "rectangle"
    if 0.68 <= fill < 0.9 and 0.8 <= aspect <= 1.25:
        return "circle"
    return "shape"


def scene(path: str) -> Scene:
    from scipy import ndimage

    px = load_rgb(path)
    h, w, _ = px.shape
    names = ((px[:, :, None, :].astype(np.float32) - _PROTOS[None, None]) ** 2).sum(-1).argmin(-1)
    border = np.concatenate([names[0], names[-1], names[:, 0], names[:, -1]])
    bg = int(np.bincount(border, minlength=len(_NAMES)).argmax())
    counts = np.bincount(names.ravel(), minlength=len(_NAMES)) / float(h * w)
    dominant = [(_NAMES[i], float(counts[i])) for i in np.argsort(-counts) if counts[i] >= 0.02]
    blobs: list[Blob] = []
    min_area = max(12, int(0.003 * h * w))
    for ci in np.unique(names):
        if ci == bg:
            continue
        labels, n = ndimage.label(names == ci, structure=np.ones((3, 3)))
        for k in range(1, n + 1):
            mask = labels == k
            area = int(mask.sum())
            if area < min_area:
                continue
            ys, xs = np.nonzero(mask)
            cx, cy = (xs.mean() + 0.5) / w, (ys.mean() + 0.5) / h
            blobs.append(Blob(_NAMES[ci], _shape(mask), min(2, int(cy * 3)), min(2, int(cx * 3)), cx, cy, area / (h * w)))
    blobs.sort(key=lambda b: (b.row, b.col, b.cy, b.cx))
    clear = counts[bg] >= 0.4 and 0 < len(blobs) <= 6 or (counts[bg] >= 0.95 and not blobs)
    return Scene(w, h, _NAMES[bg], blobs if clear else [], dominant, clear)


@dataclass
class Motion:
    frames: int
    subject: Blob | None  # the largest blob of the first frame
    direction: str | None  # left | right | up | down | None (it stays put)
    band: str | None  # top | middle | bottom (horizontal motion) or left | center | right (vertical)

    def caption(self) -> str:
        if self.subject is None:
            return f"a video of {self.frames} frames"
        article = "an" if self.subject.colour[0] in "aeiou" else "a"
        what = f"{article} {self.subject.colour} {self.subject.shape}"
        if self.direction is None:
            return f"{what} staying {place(self.subject.row, self.subject.col)}"
        return f"{what} moving {self.direction} across the {self.band}"


def motion(paths: list[str]) -> Motion:
    tracks = []
    for p in paths:
        s = scene(p)
        tracks.append(max(s.blobs, key=lambda b: b.share) if s.blobs else None)
    seen = [b for b in tracks if b is not None]
    if not seen:
        return Motion(len(paths), None, None, None)
    first, last = seen[0], seen[-1]
    dx, dy = last.cx - first.cx, last.cy - first.cy
    if max(abs(dx), abs(dy)) < 0.1:
        return Motion(len(paths), first, None, None)
    if abs(dx) >= abs(dy):
        band = ROWS[min(2, int(np.mean([b.cy for b in seen]) * 3))]
        return Motion(len(paths), first, "right" if dx > 0 else "left", band)
    band = COLS[min(2, int(np.mean([b.cx for b in seen]) * 3))]
    return Motion(len(paths), first, "down" if dy > 0 else "up", band)


# ------------------------------------------------------------------------------------------------- printed text
GLYPH_W, GLYPH_H = 6, 11
_TOLERANCE = 3  # pixels a cell may differ from its glyph: drawn in a line, glyphs overhang into their neighbours
_CHARS = [chr(c) for c in range(33, 127)]


@cache
def _templates() -> np.ndarray:
    """(n_chars, 11 * 6) ink masks of Pillow's built-in bitmap font."""
    from PIL import Image, ImageDraw, ImageFont

    font = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()
    out = []
    for ch in _CHARS:
        im = Image.new("L", (GLYPH_W, GLYPH_H), 255)
        ImageDraw.Draw(im).text((0, 0), ch, font=font, fill=0)
        out.append((np.asarray(im) < 128).ravel())
    return np.stack(out)


def _read_band(ink: np.ndarray) -> tuple[str, float]:
    """Best reading of one band of text at scale 1: every vertical and horizontal offset of the 6 x 11 grid is
    tried; returns (text, share of inked cells within a few pixels of their glyph)."""
    t = _templates()
    best = ("", 0.0)
    h, w = ink.shape
    if h > GLYPH_H:
        return best
    for dy in range(GLYPH_H - h + 1):
        padded = np.zeros((GLYPH_H, w + 2 * GLYPH_W), dtype=bool)
        padded[dy : dy + h, GLYPH_W : GLYPH_W + w] = ink
        for dx in range(GLYPH_W):
            n = (padded.shape[1] - dx) // GLYPH_W
            cells = padded[:, dx : dx + n * GLYPH_W].reshape(GLYPH_H, n, GLYPH_W).transpose(1, 0, 2).reshape(n, -1)
            inked = cells.any(1)
            if not inked.any():
                continue
            # column 0 is the space: a cell with a pixel or two bled in from a neighbour is a space, not a dot
            diff = np.concatenate([cells.sum(1, keepdims=True), (cells[:, None, :] != t[None]).sum(-1)], axis=1)
            match = diff.argmin(1)
            close = (diff.min(1) <= _TOLERANCE) & inked
            score = close.sum() / float(inked.sum())
            if score > best[1]:
                text = "".join(_CHARS[m - 1] if m else " " for m in match)
                best = (" ".join(text.split()), score)
    return best


def _bands(ink: np.ndarray) -> list[tuple[int, int]]:
    rows = ink.any(1)
    out, start = [], None
    for y, on in enumerate(list(rows) + [False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            out.append((start, y))
            start = None
    return out


def read_lines(path: str, min_score: float = 0.9) -> tuple[list[str], int]:
    """(lines read, lines seen): text set in Pillow's bitmap font, at 1x, 2x or 3x; unreadable lines are skipped."""
    from PIL import Image

    with Image.open(path) as im:
        grey = np.asarray(im.convert("L"))
    if grey.shape[0] * grey.shape[1] > 4_000_000:
        return [], 0
    ink = grey < 128
    lines, seen = [], 0
    for top, bottom in _bands(ink):
        band = ink[top:bottom]
        cols = np.nonzero(band.any(0))[0]
        if len(cols) == 0:
            continue
        band = band[:, cols.min() : cols.max() + 1]
        if band.shape[1] > 8 * band.shape[0] and band.shape[0] <= 2:  # a rule, not text
            continue
        seen += 1
        reading = ("", 0.0)
        for scale in (1, 2, 3):
            if band.shape[0] > GLYPH_H * scale + scale:
                continue
            for py in range(scale):
                for px in range(scale):
                    r = _read_band(band[py::scale, px::scale])
                    if r[1] > reading[1]:
                        reading = r
            if reading[1] >= min_score:
                break
        if reading[1] >= min_score and reading[0]:
            lines.append(reading[0])
    return lines, seen
