"""Export a dataset version to the UME-R1 training JSON, so the paper's own scripts can train on our data.

SFT layout (zhibinlan/UME-sft-train), one JSON list per split, `<dest>/<split>.json`:

    {"dataset_name": ..., "qry": {"conversations": [{"from": "human", "value": "<image>\\n" + user_text(text)},
                                                  {"from": "gpt", "value": <assistant text>}],
                                 "image": "images/ab/ab12....png"},
     "pos": {...}}

RL layout (zhibinlan/UME-rl-train): `dataset_name, qry_text, qry_image, qry_video, pos_text, pos_image, pos_video`,
the text being user_text(text) (the prompt baked in, media given by the image/video fields).

Rendering comes from umedata.format: the human value is one "<image>\\n" per image (or "<video>\\n") followed by
user_text(text), as the released data writes it; the gpt value is the annotation's assistant text as received
(`gpt="raw"`, byte for byte, so export -> import -> export gives the same JSON) or re-rendered from reasoning and
summary (`gpt="rendered"`). A video side lists its frames under "video". A text-only side carries the blank
placeholder image `images/blank.jpg` (the released data does; the importer reads it as "no image"), or nothing
with blank_image=False. Media files are hard-linked from the media store where possible (else copied) under
`<dest>/images/`, so `<dest>` is the image root to give their scripts. Hard negatives have no place in these layouts
and are not exported.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from typing import Any

import pyarrow.parquet as pq

from umedata.format import IMAGE_TAG, VIDEO_TAG, assistant_text, user_text
from umedata.versions.export import media_root_url
from umedata.versions.store import VersionExists, is_local, join, open_dir, read_manifest

LAYOUTS = ("sft", "rl")
BLANK = "images/blank.jpg"
MEDIA_DIR = "images"


def blank_jpeg() -> bytes:
    """The text-only placeholder: a white 28x28 JPEG (the smallest image the Qwen2-VL processor takes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (28, 28), (255, 255, 255)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


class _Media:
    """Puts each medium once under <dest>/images/ and returns its path relative to dest."""

    def __init__(self, fs: Any, dest: str, root: str | None, link: bool):
        self.fs, self.dest, self.root, self.link = fs, dest, root, link
        self.done: set[str] = set()
        self.linked = self.copied = 0

    def put(self, ref: dict[str, Any]) -> str:
        rel = f"{MEDIA_DIR}/{ref['path']}"
        if rel in self.done:
            return rel
        target = join(self.dest, rel)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        if ref.get("bytes") is not None:
            with self.fs.open(target, "wb") as f:
                f.write(ref["bytes"])
            self.copied += 1
        else:
            src = join(self.root, ref["path"])  # type: ignore[arg-type]
            if self.link and is_local(self.fs) and "://" not in src:
                try:
                    os.link(src, target)
                    self.linked += 1
                    self.done.add(rel)
                    return rel
                except OSError:
                    pass  # another filesystem, or links not allowed: copy
            import fsspec

            with fsspec.open(src, "rb") as fi, self.fs.open(target, "wb") as fo:
                fo.write(fi.read())
            self.copied += 1
        self.done.add(rel)
        return rel


def _media_fields(images: list[dict], video: list[dict], media: _Media, blank: bool) -> tuple[str, Any, Any]:
    """(tag prefix, image field, video field) of one side."""
    if video:
        return f"{VIDEO_TAG}\n", None, [media.put(f) for f in video]
    if images:
        paths = [media.put(i) for i in images]
        return f"{IMAGE_TAG}\n" * len(paths), paths[0] if len(paths) == 1 else paths, None
    if blank:
        return f"{IMAGE_TAG}\n", BLANK, None
    return "", None, None


def sft_record(row: dict[str, Any], media: _Media, gpt: str = "raw", blank: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"dataset_name": row["dataset_name"]}
    for s in ("qry", "pos"):
        tag, image, video = _media_fields(row[f"{s}_images"] or [], row[f"{s}_video"] or [], media, blank)
        answer = row.get(f"{s}_raw") if gpt == "raw" else None
        if answer is None:
            answer = assistant_text(row[f"{s}_reasoning"], row[f"{s}_summary"])
        side: dict[str, Any] = {"conversations": [{"from": "human", "value": tag + user_text(row[f"{s}_text"])},
                                                  {"from": "gpt", "value": answer}]}
        if image is not None:
            side["image"] = image
        if video is not None:
            side["video"] = video
        out[s] = side
    return out


def rl_record(row: dict[str, Any], media: _Media, blank: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"dataset_name": row["dataset_name"]}
    for s in ("qry", "pos"):
        _tag, image, video = _media_fields(row[f"{s}_images"] or [], row[f"{s}_video"] or [], media, blank)
        out[f"{s}_text"] = user_text(row[f"{s}_text"])
        out[f"{s}_image"] = image
        out[f"{s}_video"] = video
    return out


def export_ume_r1(
    version_dir: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    layout: str = "sft",
    splits: Iterable[str] | None = None,
    gpt: str = "raw",
    blank_image: bool = True,
    link: bool = True,
) -> dict[str, Any]:
    """Write `<dest>/<split>.json` for each split (all by default) plus the media; returns a summary."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    if gpt not in ("raw", "rendered"):
        raise ValueError("gpt must be 'raw' or 'rendered'")
    manifest = read_manifest(version_dir)
    src_fs, src_path = open_dir(version_dir)
    fs, path = open_dir(dest)
    if fs.exists(path) and fs.ls(path, detail=False):
        raise VersionExists(f"{dest} exists and is not empty; exports never overwrite")
    fs.makedirs(path, exist_ok=True)
    media = _Media(fs, path, media_root_url(version_dir, manifest), link)
    wanted = sorted(splits) if splits is not None else sorted(manifest["splits"])
    files: dict[str, str] = {}
    rows = 0
    for split in wanted:
        out = join(path, f"{split}.json")
        with fs.open(out, "w", encoding="utf-8") as f:
            f.write("[")
            first = True
            for name in manifest["splits"].get(split, []):
                with src_fs.open(join(src_path, name), "rb") as pf:
                    table = pq.read_table(pf)
                for row in table.to_pylist():
                    rec = sft_record(row, media, gpt, blank_image) if layout == "sft" else rl_record(row, media, blank_image)
                    f.write(("\n" if first else ",\n") + json.dumps(rec, ensure_ascii=False))
                    first = False
                    rows += 1
            f.write("\n]\n")
        files[split] = out
    if blank_image:
        fs.makedirs(join(path, MEDIA_DIR), exist_ok=True)
        with fs.open(join(path, BLANK), "wb") as f:
            f.write(blank_jpeg())
    return {"version_id": manifest["version_id"], "layout": f"ume_r1_{layout}", "dest": path, "files": files,
            "rows": rows, "media_linked": media.linked, "media_copied": media.copied}
