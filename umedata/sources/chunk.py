"""What every ingest adapter shares: the canonical chunk, and turning file columns or records into it.

Every layout reduces to the same flat fields (the generic layout's names):

    qry, qry_image, qry_video, pos, pos_image, pos_video, neg, neg_image, dataset, split, task
    (+ qry_raw, pos_raw: an imported assistant text, UME-R1 SFT only)

An adapter says which of its columns feed which field (`mapping`), how to clean side text (`clean`), and, for
nested layouts, how to flatten one record (`flatten_record`). This module then builds a *canonical chunk*, an
Arrow table in `CANON` layout, columnar when the file is columnar (parquet, clean JSON Lines, Arrow shards) and
row by row otherwise. Rows that cannot be taken in keep their place with `error` / `error_detail` set, so the
ingest core quarantines them and nothing vanishes.

Accepted shapes: a text field is a string (or null); an image/video field is a path string or a list of paths
(empty string / null = none); `neg` is one text or a list of texts, `neg_image` then one path / list of paths for
a single negative, or a list aligned with a list `neg` (one entry per negative: a path, a list of paths or null).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata.media import MediaError
from umedata.sources.config import DatasetSpec
from umedata.sources.readers import Block, FileError, RowError, read_blocks

PATHS = pa.list_(pa.string())
CANON = pa.schema(
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
TEXT_FIELDS = ("qry", "pos", "dataset", "split", "task", "qry_raw", "pos_raw")
PATH_FIELDS = ("qry_image", "qry_video", "pos_image", "pos_video")

# MMEB-train's 20 datasets and their meta-task (VLM2Vec, Jiang et al. 2024): the default when a dataset's task
# is not configured.
KNOWN_TASKS = {
    **dict.fromkeys(["ImageNet_1K", "N24News", "HatefulMemes", "VOC2007", "SUN397"], "classification"),
    **dict.fromkeys(["OK-VQA", "A-OKVQA", "DocVQA", "InfographicsVQA", "ChartQA", "Visual7W"], "vqa"),
    **dict.fromkeys(
        ["VisDial", "CIRR", "VisualNews_t2i", "VisualNews_i2t", "MSCOCO_t2i", "MSCOCO_i2t", "NIGHTS", "WebQA"],
        "retrieval",
    ),
    "MSCOCO": "grounding",
}

StoreBytes = Callable[[bytes], str]
Clean = Callable[[pa.Array], pa.Array]


# -- per-value checks (records, and columns whose type varies) --------------------------------------------------
def _tname(v: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(v), type(v).__name__
    )


def _utf8(s: str, name: str) -> str:
    """Strings from surrogate-escaped input carry lone surrogates where the bytes were not UTF-8."""
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise RowError("non_utf8", f"{name}: text is not valid UTF-8") from None
    return s


def py_text(v: Any, name: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return _utf8(v, name)
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError("non_utf8", f"{name}: bytes do not decode as UTF-8") from None
    raise RowError("wrong_type", f"{name} is {_tname(v)}, expected text")


def _py_image(v: dict, name: str, store_bytes: StoreBytes | None) -> str | None:
    """An HF `Image` value: {bytes, path}; embedded bytes go to the media store."""
    if v.get("bytes") is not None:
        if store_bytes is None:
            raise RowError("wrong_type", f"{name}: embedded image bytes are not accepted here")
        try:
            return store_bytes(v["bytes"])
        except MediaError as exc:
            raise RowError(exc.reason, f"{name}: {exc.detail}") from None
    return py_text(v.get("path"), name) or None


def _py_path(v: str | bytes, name: str) -> str:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError("non_utf8", f"{name}: path is not valid UTF-8") from None
    return _utf8(v, name)


def py_paths(v: Any, name: str, store_bytes: StoreBytes | None = None) -> list[str]:
    if v is None or v in ("", b""):
        return []
    if isinstance(v, (str, bytes)):
        return [_py_path(v, name)]
    if isinstance(v, dict) and ("bytes" in v or "path" in v):
        p = _py_image(v, name, store_bytes)
        return [p] if p else []
    if isinstance(v, list):
        out = []
        for x in v:
            if x is None or x in ("", b""):
                continue
            if isinstance(x, (str, bytes)):
                out.append(_py_path(x, name))
            elif isinstance(x, dict) and ("bytes" in x or "path" in x):
                p = _py_image(x, name, store_bytes)
                if p:
                    out.append(p)
            else:
                raise RowError("wrong_type", f"{name} holds {_tname(x)}, expected paths")
        return out
    raise RowError("wrong_type", f"{name} is {_tname(v)}, expected a path or a list of paths")


def py_negatives(neg: Any, img: Any, store_bytes: StoreBytes | None = None) -> tuple[list[str], list[list[str]]]:
    """(texts, images per negative). Empty negatives are kept here and dropped once media are resolved."""
    if isinstance(neg, list):
        texts = [py_text(t, "neg") or "" for t in neg]
        if img is None or img == "":
            return texts, [[] for _ in texts]
        if not isinstance(img, list) or len(img) != len(texts):
            raise RowError("wrong_type", f"neg is a list of {len(texts)}: neg_image must be a list of the same length")
        return texts, [py_paths(x, "neg_image", store_bytes) for x in img]
    text = py_text(neg, "neg") or ""
    return [text], [py_paths(img, "neg_image", store_bytes)]


def normalise_record(flat: dict[str, Any], store_bytes: StoreBytes | None = None) -> dict[str, Any]:
    """One record's flat fields in uniform types (text: str, paths: list[str]); raises RowError."""
    out: dict[str, Any] = {}
    for f in TEXT_FIELDS:
        if f in flat:
            out[f] = py_text(flat[f], f)
    for f in PATH_FIELDS:
        if f in flat:
            out[f] = py_paths(flat[f], f, store_bytes)
    if "neg" in flat or "neg_image" in flat:
        out["neg"], out["neg_image"] = py_negatives(flat.get("neg"), flat.get("neg_image"), store_bytes)
    return out


UNIFORM = {
    **dict.fromkeys(TEXT_FIELDS, pa.string()),
    **dict.fromkeys(PATH_FIELDS, PATHS),
    "neg": PATHS,
    "neg_image": pa.list_(PATHS),
}


# -- columns -> canonical ----------------------------------------------------------------------------------------
class _Errors:
    """First reason per row wins; later problems of the same row add nothing."""

    def __init__(self) -> None:
        self.by_pos: dict[int, tuple[str, str]] = {}

    def add(self, pos: int, reason: str, detail: str) -> None:
        self.by_pos.setdefault(int(pos), (reason, detail))

    def add_many(self, positions: np.ndarray, reason: str, detail: str) -> None:
        for p in positions.tolist():
            self.by_pos.setdefault(p, (reason, detail))


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


def _decode_each(arr: pa.Array, name: str, errs: _Errors) -> pa.Array:
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


def _nonnull(arr: pa.Array) -> np.ndarray:
    return np.flatnonzero(pc.is_valid(arr).to_numpy(zero_copy_only=False))


def _text_col(arr: pa.Array | None, n: int, name: str, errs: _Errors) -> pa.Array:
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
    errs.add_many(_nonnull(arr), "wrong_type", f"{name} is {t}, expected text")
    return pa.nulls(n, pa.string())


def _empty_lists(n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))


def lists_from(parents: np.ndarray, values: pa.Array, n: int) -> pa.Array:
    """A list<string> array of n rows from values and their (sorted) row indices."""
    counts = np.bincount(parents, minlength=n) if len(parents) else np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values.cast(pa.string()))


def _path_col(arr: pa.Array | None, n: int, name: str, errs: _Errors, store_bytes: StoreBytes | None) -> pa.Array:
    if arr is None or pa.types.is_null(arr.type):
        return _empty_lists(n)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if _is_stringish(t) and _valid_utf8(arr):
        keep = pc.fill_null(pc.greater(pc.utf8_length(arr), 0), False).to_numpy(zero_copy_only=False)
        return lists_from(np.flatnonzero(keep), arr.filter(pa.array(keep)), n)
    if _is_list(t) and (_is_stringish(t.value_type) or pa.types.is_null(t.value_type)):
        flat = pc.list_flatten(arr)
        if pa.types.is_null(flat.type):
            return _empty_lists(n)
        if _valid_utf8(flat):
            parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
            keep = pc.fill_null(pc.greater(pc.utf8_length(flat), 0), False).to_numpy(zero_copy_only=False)
            return lists_from(parents[keep], flat.filter(pa.array(keep)), n)
    # Anything else (HF Image structs, bytes, invalid UTF-8, numbers): value by value.
    out: list[list[str]] = []
    for i, v in enumerate(_as_python(arr)):
        try:
            out.append(py_paths(v, name, store_bytes))
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
    neg: pa.Array | None, img: pa.Array | None, n: int, errs: _Errors, store_bytes: StoreBytes | None
) -> tuple[pa.Array, pa.Array]:
    if neg is None and img is None:
        empty = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], PATHS))
        return _empty_lists(n), empty
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
            t, im = py_negatives(neg_vals[i], img_vals[i], store_bytes)
        except RowError as exc:
            errs.add(i, exc.reason, exc.detail)
            t, im = [], []
        texts_out.append(t)
        images_out.append(im)
    return pa.array(texts_out, PATHS), pa.array(images_out, pa.list_(PATHS))


def _clean_lists(lists: pa.Array, clean: Clean) -> pa.Array:
    flat = clean(pc.list_flatten(lists))
    return pa.ListArray.from_arrays(pc.subtract(lists.offsets, lists.offsets[0]), flat)


def canonical(
    cols: dict[str, pa.Array],
    rows: pa.Array,
    clean: Clean,
    errs: _Errors | None = None,
    store_bytes: StoreBytes | None = None,
    split: str | None = None,
) -> pa.Table:
    """The canonical chunk from flat-field columns (any of the accepted shapes)."""
    n = len(rows)
    errs = errs or _Errors()
    text = {f: _text_col(cols.get(f), n, f, errs) for f in TEXT_FIELDS}
    paths = {f: _path_col(cols.get(f), n, f, errs, store_bytes) for f in PATH_FIELDS}
    neg_text, neg_images = _neg_cols(cols.get("neg"), cols.get("neg_image"), n, errs, store_bytes)
    if split is not None and cols.get("split") is None:
        text["split"] = pa.array([split] * n, pa.string())
    error = [None] * n
    detail = [None] * n
    for pos, (reason, det) in errs.by_pos.items():
        error[pos], detail[pos] = reason, det
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
            "error": pa.array(error, pa.string()),
            "error_detail": pa.array(detail, pa.string()),
        },
        schema=CANON,
    )


# -- adapters ----------------------------------------------------------------------------------------------------
class Adapter:
    """One published layout. Subclasses set `layout` and override `mapping` / `clean` / `flatten_record`."""

    layout: ClassVar[str] = ""
    nested: ClassVar[bool] = False  # rows are nested objects: read as records and flattened one by one

    def __init__(self, dataset: DatasetSpec):
        self.dataset = dataset

    def mapping(self) -> dict[str, str]:
        """Our flat field -> the column (key) that holds it in this layout."""
        raise NotImplementedError

    def required(self) -> set[str]:
        """Fields whose column must exist in a file that declares its columns (parquet, Arrow)."""
        return {"qry", "pos"}

    def clean(self, arr: pa.Array) -> pa.Array:
        """Side text as stored: layout-specific markup removed. Vectorised over a string array."""
        return arr

    def flatten_record(self, obj: dict[str, Any]) -> dict[str, Any]:
        """One record's flat fields (raise RowError when its shape is wrong)."""
        return {f: obj.get(col) for f, col in self.mapping().items() if col in obj}

    def chunks(
        self, path: Path, batch_rows: int, store_bytes: StoreBytes | None = None
    ) -> Iterator[tuple[Path, pa.Table]]:
        """(file, canonical chunk) for every block of one data file or HF folder."""
        checked = False
        for block in read_blocks(path, batch_rows, columnar=not self.nested, split=self.dataset.split):
            if block.table is not None:
                if block.fixed_schema and not checked:
                    self._check_columns(block)
                    checked = True
                yield block.file, self._from_table(block, store_bytes)
            else:
                yield block.file, self._from_records(block, store_bytes)

    def _check_columns(self, block: Block) -> None:
        names = set(block.table.column_names)
        mapping = self.mapping()
        missing = sorted(mapping[f] for f in self.required() if f in mapping and mapping[f] not in names)
        if missing:
            raise FileError("missing_column", f"{block.file}: no column(s) {missing}; has {sorted(names)}")

    def _from_table(self, block: Block, store_bytes: StoreBytes | None) -> pa.Table:
        names = set(block.table.column_names)
        cols = {f: block.table[c].combine_chunks() for f, c in self.mapping().items() if c in names}
        return canonical(cols, block.rows, self.clean, store_bytes=store_bytes, split=block.split)

    def _from_records(self, block: Block, store_bytes: StoreBytes | None) -> pa.Table:
        errs = _Errors()
        values: dict[str, list[Any]] = {f: [] for f in UNIFORM}
        for pos, obj in enumerate(block.records or []):
            try:
                if isinstance(obj, RowError):
                    raise obj
                if not isinstance(obj, dict):
                    raise RowError("wrong_type", f"row is {_tname(obj)}, expected an object")
                rec = normalise_record(self.flatten_record(obj), store_bytes)
            except RowError as exc:
                errs.add(pos, exc.reason, exc.detail)
                rec = {}
            for f, vals in values.items():
                vals.append(rec.get(f))
        cols = {f: pa.array(v, UNIFORM[f]) for f, v in values.items()}
        return canonical(cols, block.rows, self.clean, errs=errs, store_bytes=store_bytes, split=block.split)
