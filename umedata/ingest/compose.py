"""Step 4, compose: what each side and pair is made of, before anything is hashed.

A side's media are its images, or its one video; its modality is video, visdoc (document pages), image or
text. Empty negatives (MMEB writes "" for none) are dropped. A pair's dataset, split and task come from the row,
else from the dataset's configuration (the task then from MMEB-train's known tasks, else "unknown"); its
modality is the configured one, else the most visual of its two sides.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata.ingest.resolve import SIDES
from umedata.sources.arrays import PATHS, as_numpy, lists_from, with_column
from umedata.sources.config import DatasetSpec
from umedata.sources.mmeb import KNOWN_TASKS

MODALITY_ORDER = ("text", "image", "visdoc", "video")  # "most visual" wins when a pair's modality is inferred
_MODALITIES = pa.array(MODALITY_ORDER, pa.string())


def compose_sides(rows: pa.Table, modality: str | None) -> pa.Table:
    """Adds {side}_media, {side}_modality and the pair's `modality`; negatives become neg_text / neg_media /
    neg_modality lists without the empty ones."""
    document = modality == "visdoc"
    codes = []
    for s in SIDES:
        rows, code = _side(rows, s, document)
        codes.append(code)
    rows = _negatives(rows, document)
    pair = pa.array([modality] * rows.num_rows, pa.string()) if modality else _named(np.maximum(*codes))
    return with_column(rows, "modality", pair)


def _side(rows: pa.Table, s: str, document: bool) -> tuple[pa.Table, np.ndarray]:
    """A side's media (its images, or its one video) and modality; also returns the modality codes."""
    video = rows[f"{s}_video"].combine_chunks()
    has_video = as_numpy(pc.is_valid(video))
    as_list = lists_from(np.flatnonzero(has_video), video.drop_null(), rows.num_rows)
    media = pc.if_else(pa.array(has_video), as_list, rows[f"{s}_images"]).cast(PATHS)
    code = _code(has_video, as_numpy(pc.list_value_length(media)), document | as_numpy(rows[f"{s}_pages"]))
    rows = with_column(rows, f"{s}_media", media)
    return with_column(rows, f"{s}_modality", _named(code)), code


def _negatives(rows: pa.Table, document: bool) -> pa.Table:
    """Negatives with text or media (a negative is never a video), as lists per row."""
    n = rows.num_rows
    owner = as_numpy(pc.list_parent_indices(rows["neg_images"])).astype(np.int64)
    text = rows["neg_text"].combine_chunks().flatten()
    media = rows["neg_images"].combine_chunks().flatten()
    n_media = as_numpy(pc.list_value_length(media))
    keep = (n_media > 0) | (as_numpy(pc.utf8_length(text)) > 0)
    pages = as_numpy(rows["neg_pages"].combine_chunks().flatten())
    code = _code(np.zeros(len(keep), dtype=bool), n_media, document | pages)[keep]
    owner, kept = owner[keep], pa.array(keep)
    rows = with_column(rows, "neg_text", lists_from(owner, text.filter(kept), n))
    rows = with_column(rows, "neg_media", lists_from(owner, media.filter(kept), n))
    return with_column(rows, "neg_modality", lists_from(owner, _named(code), n))


def fill_pair_fields(rows: pa.Table, dataset: DatasetSpec, default_name: str) -> pa.Table:
    """dataset, split and task of every row: the row's own, else the dataset's configuration."""
    name = pc.fill_null(rows["dataset"], dataset.name or default_name)
    if dataset.task:
        task = pc.fill_null(rows["task"], dataset.task)
    else:
        names = pc.unique(name)
        known = pa.array([KNOWN_TASKS.get(x, "unknown") for x in names.to_pylist()], pa.string())
        task = pc.coalesce(rows["task"], known.take(pc.index_in(name, value_set=names)))
    rows = with_column(rows, "dataset", name)
    rows = with_column(rows, "split", pc.fill_null(rows["split"], dataset.split))
    return with_column(rows, "task", task)


def _code(has_video: np.ndarray, n_media: np.ndarray, document: np.ndarray) -> np.ndarray:
    """Index into MODALITY_ORDER: video if a video, visdoc if document pages, image if any image, else text."""
    return np.where(has_video, 3, np.where(n_media > 0, np.where(document, 2, 1), 0))


def _named(code: np.ndarray) -> pa.Array:
    return _MODALITIES.take(pa.array(code, pa.int8()))
