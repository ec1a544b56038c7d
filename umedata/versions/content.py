"""What a version's rows are: the column schema (docs/interfaces.md), the content id, and the HF features metadata.

The id is a hash of the content alone: the rows in canonical order (split, pair_id), every column counted, with a
medium counted as its sha256 rather than how it is stored (path or embedded bytes), plus FORMAT_VERSION. Time, code
version, selection query and shard layout are not content: they live in the manifest and the registry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata.format import FORMAT_VERSION

# Bumped if the way the id is computed ever changes; recorded in every manifest.
ID_SCHEME = "umedata-content/1"  # the encoding in _update below

MEDIA = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
MEDIA_LIST = pa.list_(MEDIA)
NEGATIVE = pa.struct(
    [("side_id", pa.string()), ("text", pa.string()), ("images", MEDIA_LIST), ("video", MEDIA_LIST)]
)

# The contract columns first (docs/interfaces.md, the trainer reads them), then provenance columns added here.
ROW_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("dataset_name", pa.string()),
        ("modality", pa.string()),
        ("task", pa.string()),
        ("split", pa.string()),
        ("qry_side_id", pa.string()),
        ("pos_side_id", pa.string()),
        ("qry_text", pa.string()),
        ("pos_text", pa.string()),
        ("qry_images", MEDIA_LIST),
        ("pos_images", MEDIA_LIST),
        ("qry_video", MEDIA_LIST),
        ("pos_video", MEDIA_LIST),
        ("qry_reasoning", pa.string()),
        ("qry_summary", pa.string()),
        ("pos_reasoning", pa.string()),
        ("pos_summary", pa.string()),
        ("negatives", pa.list_(NEGATIVE)),
        ("format_version", pa.string()),
        ("source", pa.string()),
        ("source_split", pa.string()),
        ("split_group", pa.string()),  # smallest pair_id of the pair's leakage group (see sft_split_keys.sql)
        ("qry_annotation_id", pa.string()),
        ("qry_teacher_model", pa.string()),
        ("qry_prompt_version", pa.string()),
        ("pos_annotation_id", pa.string()),
        ("pos_teacher_model", pa.string()),
        ("pos_prompt_version", pa.string()),
        ("qry_raw", pa.string()),  # the annotation's assistant text as received (UME-R1 export writes it back)
        ("pos_raw", pa.string()),
    ]
)
MEDIA_COLUMNS = ("qry_images", "pos_images", "qry_video", "pos_video")


def conform(table: pa.Table) -> pa.Table:
    """Cast rows to ROW_SCHEMA (column order, string not large_string, list item names): the bytes of a shard then
    depend on the content only, not on which engine produced the rows."""
    table = table.select(ROW_SCHEMA.names)
    return table if table.schema.equals(ROW_SCHEMA) else table.cast(ROW_SCHEMA)


def _update(h: hashlib._Hash, arr: pa.Array | pa.ChunkedArray) -> None:
    """Feed one column into the hash in a canonical encoding: length, validity bits, then per type the values
    (strings/binary: int64 lengths + bytes; lists: lengths + the flattened items; structs: each field by name;
    integers/booleans: int64). A media list counts as the list of its sha256s. Null slots contribute no bytes, so
    how an engine lays out buffers (sliced offsets, absent or all-set validity bitmaps) never changes the id."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    n = len(arr)
    h.update(b"n" + n.to_bytes(8, "little"))
    h.update(np.packbits(arr.is_valid().to_numpy(zero_copy_only=False)).tobytes())
    t = arr.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        h.update(pc.fill_null(pc.list_value_length(arr), 0).to_numpy().astype("<i8").tobytes())
        items = arr.flatten()
        if t.value_type.equals(MEDIA):
            items = pc.extract_regex(pc.struct_field(items, "path"), r"(?P<sha>[0-9a-f]{64})")
            items = pc.struct_field(items, "sha")
        _update(h, items)
    elif pa.types.is_struct(t):
        for field, child in zip(t, arr.flatten()):
            h.update(b"f" + field.name.encode())
            _update(h, child)
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        filled = pc.fill_null(arr, "" if "string" in str(t) else b"").cast(pa.large_binary())
        offsets = np.frombuffer(filled.buffers()[1], dtype="<i8")[filled.offset: filled.offset + n + 1]
        h.update(np.diff(offsets).astype("<i8").tobytes())
        if n:
            h.update(memoryview(filled.buffers()[2])[offsets[0]: offsets[-1]])
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        h.update(pc.fill_null(arr, 0).cast(pa.int64()).to_numpy().astype("<i8").tobytes())
    else:
        raise TypeError(f"no canonical encoding for {t}")


def content_id(rows: pa.Table) -> str:
    """The version id of these rows, in any order and either media mode: sha256 over ID_SCHEME, FORMAT_VERSION and
    every column of ROW_SCHEMA (by name, in schema order) with rows in canonical order (split, pair_id)."""
    rows = conform(rows)
    if rows.num_rows:
        order = pc.sort_indices(rows, sort_keys=[("split", "ascending"), ("pair_id", "ascending")])
        if not pc.all(pc.equal(order, pa.array(np.arange(rows.num_rows), pa.uint64()))).as_py():
            rows = rows.take(order)
    formats = set(rows.column("format_version").unique().to_pylist()) if rows.num_rows else {FORMAT_VERSION}
    if len(formats) != 1:
        raise ValueError(f"rows mix format versions {sorted(map(str, formats))}")
    h = hashlib.sha256(f"{ID_SCHEME}\n{formats.pop()}\n".encode())
    for field in ROW_SCHEMA:
        h.update(b"c" + field.name.encode())
        _update(h, rows.column(field.name))
    return h.hexdigest()


def hf_features(schema: pa.Schema, embedded: bool) -> dict[str, Any]:
    """The `datasets` features of a row schema. Embedded: media lists are Sequence(Image()) so images decode on
    load. The Sequence / list spelling is the one datasets 3.x reads as well as 4.x and later."""

    def feature(t: pa.DataType) -> Any:
        if pa.types.is_list(t):
            item = t.value_type
            if embedded and item.equals(MEDIA):
                return {"_type": "Sequence", "feature": {"_type": "Image"}}
            if pa.types.is_struct(item):
                return [feature(item)]
            return {"_type": "Sequence", "feature": feature(item)}
        if pa.types.is_struct(t):
            return {f.name: feature(f.type) for f in t}
        if pa.types.is_binary(t):
            return {"_type": "Value", "dtype": "binary"}
        if pa.types.is_boolean(t):
            return {"_type": "Value", "dtype": "bool"}
        if pa.types.is_integer(t):
            return {"_type": "Value", "dtype": str(t)}
        return {"_type": "Value", "dtype": "string"}

    return {f.name: feature(f.type) for f in schema}


def with_hf_metadata(schema: pa.Schema, embedded: bool) -> pa.Schema:
    meta = {"info": {"features": hf_features(schema, embedded)}}
    # Key order must follow the column order: datasets drops features whose struct fields are ordered differently.
    return schema.with_metadata({b"huggingface": json.dumps(meta).encode()})
