"""MMEB eval sets: one row per query with its own candidate list, the first candidate the positive.

mmeb_eval (the image sets of MMEB / MMEB-V2, as VLM2Vec publishes them; parquet, JSON Lines or JSON):
    qry_text      the query's text (with `<|image_1|>` where its image goes)
    qry_img_path  its image ("" or missing: none; a list for several)
    tgt_text      list: every candidate's text
    tgt_img_path  list, aligned with tgt_text: every candidate's image ("" for none)

video_eval (the video sets, with frames extracted, as MMEB-V2 ships them):
    qry_text, qry_img_path   as above
    qry_video     the query's video: a list of frame paths in order, or a folder whose image files are its frames
    tgt_text      list of candidate texts
    tgt_video     list, aligned with tgt_text: each candidate's video (frame list or folder; [] or "" for none)
    tgt_img_path  optional, as above

The row number is the query id. A row whose lists do not line up, or are empty, is a problem (wrong_type).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from umedata.errors import MediaError, RowError
from umedata.media import is_blank, resolve_under
from umedata.sources.eval_config import EvalSetSpec
from umedata.sources.eval_layout import RawEvalSet, RawQuery, RawSide, clean_text
from umedata.sources.readers import read_blocks

FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def _images(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"an image reference is a string or a list of strings, not {type(value).__name__}")
    return tuple(v for v in values if v and not is_blank(v))


def _frames(value: Any, root: Path) -> tuple[str, ...]:
    """A video as frame references: a list as given, or the image files of a folder in name order."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        folder = resolve_under(root, value)
        if not folder.is_dir():
            raise MediaError("missing_media", f"{value}: no such frame folder")
        names = sorted(n for n in os.listdir(folder) if Path(n).suffix.lower() in FRAME_SUFFIXES)
        if not names:
            raise MediaError("missing_media", f"{value}: no frames in the folder")
        return tuple(os.path.relpath(folder / n, root) for n in names)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"a video is a list of frame paths or a folder, not {type(value).__name__}")
    return tuple(value)


def _side(text: Any, images: Any, video: Any, root: Path) -> RawSide:
    return RawSide(clean_text(text), _images(images), _frames(video, root))


def parse_row(obj: Any, layout: str, root: Path) -> tuple[RawSide, list[RawSide]]:
    """(query side, candidate sides) of one row; raises RowError or MediaError."""
    if not isinstance(obj, dict):
        raise RowError("wrong_type", f"a row is an object, not {type(obj).__name__}")
    texts = obj.get("tgt_text")
    if not isinstance(texts, list) or not texts:
        raise RowError("wrong_type", "tgt_text must be a non-empty list of candidate texts")
    n = len(texts)
    images = obj.get("tgt_img_path")
    images = [""] * n if images is None else images
    videos = obj.get("tgt_video") if layout == "video_eval" else None
    videos = [[]] * n if videos is None else videos
    for name, col in (("tgt_img_path", images), ("tgt_video", videos)):
        if not isinstance(col, list) or len(col) != n:
            raise RowError("wrong_type", f"{name} must be a list as long as tgt_text ({n})")
    try:
        query = _side(obj.get("qry_text", obj.get("qry")), obj.get("qry_img_path"),
                      obj.get("qry_video") if layout == "video_eval" else None, root)
        cands = [_side(t, i, v, root) for t, i, v in zip(texts, images, videos)]
    except TypeError as exc:
        raise RowError("wrong_type", str(exc)) from None
    for where, side in [("query", query)] + [(f"candidate {k}", c) for k, c in enumerate(cands)]:
        if not (side.text or side.images or side.frames):
            raise RowError("empty_side", f"{where} has neither text nor media")
        if side.images and side.frames:
            raise RowError("wrong_type", f"{where} has both images and a video")
    return query, cands


def read_candidate_lists(spec: EvalSetSpec) -> RawEvalSet:
    out = RawEvalSet()
    name = spec.path.name
    for block in read_blocks(spec.path, 10_000, columnar=False):
        for row, obj in zip(block.rows.to_pylist(), block.records or []):
            where = f"{name}:{row}"
            if isinstance(obj, Exception):
                out.problems.append((where, getattr(obj, "reason", "bad_row"), getattr(obj, "detail", str(obj))))
                continue
            try:
                query, cands = parse_row(obj, spec.layout, spec.root)
            except (RowError, MediaError) as exc:
                out.problems.append((where, exc.reason, exc.detail))
                continue
            out.queries.append(RawQuery(str(row), where, query, cands, {0: 1}))
    return out
