"""The canonical chunk, and building one from a block's columns or records (columnar normalisation).

Every layout reduces to the same flat fields (the generic layout's names):

    qry, qry_image, qry_video, pos, pos_image, pos_video, neg, neg_image, dataset, split, task
    (+ qry_raw, pos_raw: an imported assistant text, UME-R1 SFT only)

An adapter says which of its columns feed which field; this module turns those columns into a *canonical chunk*,
an Arrow table in `CHUNK` layout, columnar when the file is columnar (parquet, clean JSON Lines, Arrow shards)
and value by value (`values.py`) otherwise. Rows that cannot be taken in keep their place with `error` /
`error_detail` set, so the ingest steps quarantine them and nothing vanishes.

Accepted shapes: a text field is a string (or null); an image/video field is a path string or a list of paths
(empty string / null = none); `neg` is one text or a list of texts, `neg_image` then one path / list of paths for
a single negative, or a list aligned with a list `neg` (one entry per negative: a path, a list of paths or null).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata.errors import RowError
from umedata.sources import values
from umedata.sources.arrays import PATHS, as_numpy, empty_lists, lists_from
from umedata.sources.values import PATH_FIELDS, TEXT_FIELDS, StoreBytes

CHUNK = pa.schema(
    [
        ("row", pa.int64()),
        ("dataset", pa.string()),
        ("task", pa.string()),
        ("split", pa.string()),
        ("qry_text", pa.string()),
        ("qry_images", PATHS),
        ("qry_video", PATHS),
        ("pos_text", pa.string()),
        ("pos_images", PATHS),
        ("pos_video", PATHS),
        ("neg_text", PATHS),
        ("neg_images", pa.list_(PATHS)),
        ("qry_raw", pa.string()),
        ("pos_raw", pa.string()),
        ("error", pa.string()),
        ("error_detail", pa.string()),
    ]
)
# The Arrow type of each flat field once its values are uniform (what records are gathered into).
UNIFORM = {
    **dict.fromkeys(TEXT_FIELDS, pa.string()),
    **dict.fromkeys(PATH_FIELDS, PATHS),
    "neg": PATHS,
    "neg_image": pa.list_(PATHS),
}

Clean = Callable[[pa.Array], pa.Array]  # side text as stored, vectorised over a string array


class RowErrors:
    """The problems of a block's rows by position; the first reason of a row wins."""

    def __init__(self) -> None:
        self.by_pos: dict[int, tuple[str, str]] = {}

    def add(self, pos: int, reason: str, detail: str) -> None:
        self.by_pos.setdefault(int(pos), (reason, detail))

    def add_many(self, positions: np.ndarray, reason: str, detail: str) -> None:
        for p in positions.tolist():
            self.by_pos.setdefault(p, (reason, detail))

    def columns(self, n: int) -> tuple[pa.Array, pa.Array]:
        """(error, error_detail) columns of n rows."""
        error: list[str | None] = [None] * n
        detail: list[str | None] = [None] * n
        for pos, (reason, det) in self.by_pos.items():
            error[pos], detail[pos] = reason, det
        return pa.array(error, pa.string()), pa.array(detail, pa.string())


# -- building the chunk ------------------------------------------------------------------------------------------
def chunk_from_columns(
    cols: dict[str, pa.Array],
    rows: pa.Array,
    clean: Clean,
    errs: RowErrors | None = None,
    store_bytes: StoreBytes | None = None,
    split: str | None = None,
) -> pa.Table:
    """The canonical chunk from flat-field columns (any of the accepted shapes); `split` is the container's."""
    n = len(rows)
    errs = errs or RowErrors()
    text = {f: _text_col(cols.get(f), n, f, errs) for f in TEXT_FIELDS}
    paths = {f: _path_col(cols.get(f), n, f, errs, store_bytes) for f in PATH_FIELDS}
    neg_text, neg_images = _neg_cols(cols.get("neg"), cols.get("neg_image"), n, errs, store_bytes)
    if split is not None and cols.get("split") is None:
        text["split"] = pa.array([split] * n, pa.string())
    error, detail = errs.columns(n)
    return pa.table(
        {
            "row": rows.cast(pa.int64()),
            "dataset": text["dataset"],
            "task": text["task"],
            "split": text["split"],
            "qry_text": pc.fill_null(clean(text["qry"]), ""),
            "qry_images": paths["qry_image"],
            "qry_video": paths["qry_video"],
            "pos_text": pc.fill_null(clean(text["pos"]), ""),
            "pos_images": paths["pos_image"],
            "pos_video": paths["pos_video"],
            "neg_text": _clean_lists(neg_text, clean),
            "neg_images": neg_images,
            "qry_raw": text["qry_raw"],
            "pos_raw": text["pos_raw"],
            "error": error,
            "error_detail": detail,
        },
        schema=CHUNK,
    )


def chunk_from_records(
    records: Sequence[Any],
    flatten: Callable[[dict[str, Any]], dict[str, Any]],
    rows: pa.Array,
    clean: Clean,
    store_bytes: StoreBytes | None = None,
    split: str | None = None,
) -> pa.Table:
    """The canonical chunk from per-row records (objects, or the RowError a reader made of an unreadable row)."""
    errs = RowErrors()
    gathered: dict[str, list[Any]] = {f: [] for f in UNIFORM}
    for pos, obj in enumerate(records):
        try:
            if isinstance(obj, RowError):
                raise obj
            if not isinstance(obj, dict):
                raise RowError("wrong_type", f"row is {values.type_name(obj)}, expected an object")
            rec = values.record(flatten(obj), store_bytes)
        except RowError as exc:
            errs.add(pos, exc.reason, exc.detail)
            rec = {}
        for f, vals in gathered.items():
            vals.append(rec.get(f))
    cols = {f: pa.array(v, UNIFORM[f]) for f, v in gathered.items()}
    return chunk_from_columns(cols, rows, clean, errs=errs, store_bytes=store_bytes, split=split)


# -- one column ----------------------------------------------------------------------------------------------------
def _is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_binaryish(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _valid_utf8(arr: pa.Array) -> bool:
    try:
        arr.validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False


def _decode_each(arr: pa.Array, name: str, errs: RowErrors) -> pa.Array:
    """Per-value UTF-8 decode of a column that is not valid as a whole; bad values become non_utf8 rows."""
    out: list[str | None] = []
    for i, v in enumerate(arr.cast(pa.large_binary()).to_pylist()):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            errs.add(i, "non_utf8", f"{name}: bytes do not decode as UTF-8")
            out.append(None)
    return pa.array(out, pa.string())


def _text_col(arr: pa.Array | None, n: int, name: str, errs: RowErrors) -> pa.Array:
    if arr is None or pa.types.is_null(arr.type):
        return pa.nulls(n, pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if _is_stringish(t):
        return arr.cast(pa.string()) if _valid_utf8(arr) else _decode_each(arr, name, errs)
    if _is_binaryish(t):
        try:
            return arr.cast(pa.string())
        except pa.ArrowInvalid:
            return _decode_each(arr, name, errs)
    errs.add_many(np.flatnonzero(as_numpy(pc.is_valid(arr))), "wrong_type", f"{name} is {t}, expected text")
    return pa.nulls(n, pa.string())


def _path_col(arr: pa.Array | None, n: int, name: str, errs: RowErrors, store_bytes: StoreBytes | None) -> pa.Array:
    if arr is None or pa.types.is_null(arr.type):
        return empty_lists(n)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if _is_stringish(t) and _valid_utf8(arr):
        keep = as_numpy(pc.fill_null(pc.greater(pc.utf8_length(arr), 0), False))
        return lists_from(np.flatnonzero(keep), arr.filter(pa.array(keep)).cast(pa.string()), n)
    if _is_list(t) and (_is_stringish(t.value_type) or pa.types.is_null(t.value_type)):
        flat = pc.list_flatten(arr)
        if pa.types.is_null(flat.type):
            return empty_lists(n)
        if _valid_utf8(flat):
            parents = as_numpy(pc.list_parent_indices(arr))
            keep = as_numpy(pc.fill_null(pc.greater(pc.utf8_length(flat), 0), False))
            return lists_from(parents[keep], flat.filter(pa.array(keep)).cast(pa.string()), n)
    # Anything else (HF Image structs, bytes, invalid UTF-8, numbers): value by value.
    out: list[list[str]] = []
    for i, v in enumerate(_as_python(arr)):
        try:
            out.append(values.paths(v, name, store_bytes))
        except RowError as exc:
            errs.add(i, exc.reason, exc.detail)
            out.append([])
    return pa.array(out, PATHS)


def _as_python(arr: pa.Array) -> list[Any]:
    """Python values of a column, with strings as bytes where the column is not valid UTF-8 (to_pylist would
    fail on the whole column; bytes let the bad values be refused one by one)."""
    t = arr.type
    if _is_stringish(t) and not _valid_utf8(arr):
        return arr.cast(pa.large_binary()).to_pylist()
    if _is_list(t) and _is_stringish(t.value_type) and not _valid_utf8(pc.list_flatten(arr)):
        return arr.cast(pa.list_(pa.large_binary())).to_pylist()
    return arr.to_pylist()


def _neg_cols(
    neg: pa.Array | None, img: pa.Array | None, n: int, errs: RowErrors, store_bytes: StoreBytes | None
) -> tuple[pa.Array, pa.Array]:
    if neg is None and img is None:
        return empty_lists(n), empty_lists(n, PATHS)
    scalar_neg = neg is None or pa.types.is_null(neg.type) or _is_stringish(neg.type) or _is_binaryish(neg.type)
    if scalar_neg:
        # One (possibly empty) negative per row: the common MMEB shape, kept columnar.
        texts = pc.fill_null(_text_col(neg, n, "neg", errs), "")
        images = _path_col(img, n, "neg_image", errs, store_bytes)
        offsets = pa.array(np.arange(n + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, texts), pa.ListArray.from_arrays(offsets, images)
    neg_vals = _as_python(neg)
    img_vals = _as_python(img) if img is not None else [None] * n
    texts_out: list[list[str]] = []
    images_out: list[list[list[str]]] = []
    for i in range(n):
        try:
            t, im = values.negatives(neg_vals[i], img_vals[i], store_bytes)
        except RowError as exc:
            errs.add(i, exc.reason, exc.detail)
            t, im = [], []
        texts_out.append(t)
        images_out.append(im)
    return pa.array(texts_out, PATHS), pa.array(images_out, pa.list_(PATHS))


def _clean_lists(lists: pa.Array, clean: Clean) -> pa.Array:
    flat = clean(pc.list_flatten(lists))
    return pa.ListArray.from_arrays(pc.subtract(lists.offsets, lists.offsets[0]), flat)
