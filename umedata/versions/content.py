"""What a version's rows are: the column schema (docs/interfaces.md), the content id, and the HF features metadata.

The id is a hash of the content alone: the rows in canonical order (split, pair_id), every column counted, with a
medium counted as its sha256 rather than how it is stored (path or embedded bytes), plus FORMAT_VERSION. Time, code
version, selection query and shard layout are not content: they live in the manifest and the registry.

Two ways to compute the same id: `content_id(rows)` over a table in memory, and `ContentHasher`, fed record batches
in canonical order, for builds and checks that never hold the rows. The encoding is column-major (a column's
lengths, then its bytes, column after column), so a stream cannot go straight into one sha256: the hasher keeps one
spool per section of the encoding (in memory up to 1 MiB, then a temporary file) and feeds the spools to sha256 in
the encoding's order at the end. Memory stays one batch; disk holds about the uncompressed size of the rows once.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from typing import Any, BinaryIO

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


_SPOOL_IN_MEMORY = 1 << 20  # a section stays in memory up to this size, then goes to a temporary file


class _Spool:
    """One section of the encoding, appended to batch after batch and read back whole at the end."""

    def __init__(self, spool_dir: str | None):
        self.f: BinaryIO = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, dir=spool_dir)

    def write(self, data: bytes | memoryview) -> None:
        self.f.write(data)

    def fold(self, h: hashlib._Hash) -> None:
        self.f.seek(0)
        while chunk := self.f.read(1 << 22):
            h.update(chunk)
        self.f.close()


class _Bits(_Spool):
    """Validity bits packed 8 to a byte (np.packbits, big bit order) across batches of any length: the bits that do
    not fill a byte wait for the next batch, so the bytes equal packbits over the whole column."""

    def __init__(self, spool_dir: str | None):
        super().__init__(spool_dir)
        self.rest = np.zeros(0, dtype=bool)

    def add(self, valid: np.ndarray) -> None:
        bits = np.concatenate([self.rest, valid]) if len(self.rest) else valid
        cut = len(bits) - len(bits) % 8
        self.write(np.packbits(bits[:cut]).tobytes())
        self.rest = bits[cut:]

    def fold(self, h: hashlib._Hash) -> None:
        self.write(np.packbits(self.rest).tobytes())  # packbits pads the last byte with zeros, as over the whole
        super().fold(h)


class _Node:
    """The encoding of one array type (see _update), kept as spools so batches can be added one at a time."""

    def __init__(self, t: pa.DataType, spool_dir: str | None):
        self.t, self.n = t, 0
        self.valid = _Bits(spool_dir)
        self.lengths: _Spool | None = None
        self.data: _Spool | None = None
        self.child: _Node | None = None
        self.fields: list[tuple[str, _Node]] = []
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            self.lengths = _Spool(spool_dir)
            self.media = t.value_type.equals(MEDIA)
            self.child = _Node(pa.string() if self.media else t.value_type, spool_dir)
        elif pa.types.is_struct(t):
            self.fields = [(f.name, _Node(f.type, spool_dir)) for f in t]
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            self.lengths, self.data = _Spool(spool_dir), _Spool(spool_dir)
        elif pa.types.is_integer(t) or pa.types.is_boolean(t):
            self.data = _Spool(spool_dir)
        else:
            raise TypeError(f"no canonical encoding for {t}")

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        n = len(arr)
        self.n += n
        self.valid.add(arr.is_valid().to_numpy(zero_copy_only=False))
        t = arr.type
        if self.child is not None:
            self.lengths.write(pc.fill_null(pc.list_value_length(arr), 0).to_numpy().astype("<i8").tobytes())
            items = arr.flatten()
            if self.media:
                items = pc.struct_field(pc.extract_regex(pc.struct_field(items, "path"), r"(?P<sha>[0-9a-f]{64})"), "sha")
            self.child.add(items)
        elif self.fields:
            for (_, node), child in zip(self.fields, arr.flatten()):
                node.add(child)
        elif self.lengths is not None:
            filled = pc.fill_null(arr, "" if "string" in str(t) else b"").cast(pa.large_binary())
            offsets = np.frombuffer(filled.buffers()[1], dtype="<i8")[filled.offset: filled.offset + n + 1]
            self.lengths.write(np.diff(offsets).astype("<i8").tobytes())
            if n:
                self.data.write(memoryview(filled.buffers()[2])[offsets[0]: offsets[-1]])
        else:
            self.data.write(pc.fill_null(arr, 0).cast(pa.int64()).to_numpy().astype("<i8").tobytes())

    def fold(self, h: hashlib._Hash) -> None:
        """The bytes _update would have fed for the whole column, in its order."""
        h.update(b"n" + self.n.to_bytes(8, "little"))
        self.valid.fold(h)
        if self.child is not None:
            self.lengths.fold(h)
            self.child.fold(h)
        elif self.fields:
            for name, node in self.fields:
                h.update(b"f" + name.encode())
                node.fold(h)
        elif self.lengths is not None:
            self.lengths.fold(h)
            self.data.fold(h)
        else:
            self.data.fold(h)


class ContentHasher:
    """The content id of rows fed as batches, without holding them: equal to content_id() of the same rows.

        hasher = ContentHasher(spool_dir)
        for batch in batches_in_canonical_order:   # (split, pair_id) ascending, across batches too
            hasher.add(batch)
        version_id = hasher.hexdigest()

    The caller supplies the order (content_id sorts; a stream cannot); rows out of order are refused batch by batch
    and at each batch boundary, so a wrong order is an error, never a different id."""

    def __init__(self, spool_dir: str | None = None):
        self.columns = [(f.name, _Node(f.type, spool_dir)) for f in ROW_SCHEMA]
        self.formats: set[str] = set()
        self.rows = 0
        self._last: tuple[str, str] | None = None

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        table = conform(pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch)
        self._check_order(table)
        self.formats.update(str(v) for v in pc.unique(table.column("format_version")).to_pylist())
        for (name, node) in self.columns:
            node.add(table.column(name))
        self.rows += table.num_rows

    def _check_order(self, table: pa.Table) -> None:
        split, pair = table.column("split").combine_chunks(), table.column("pair_id").combine_chunks()
        first = (split[0].as_py(), pair[0].as_py())
        if self._last is not None and first < self._last:
            raise ValueError("rows fed out of canonical order (split, pair_id)")
        if table.num_rows > 1:
            s0, s1, p0, p1 = split[:-1], split[1:], pair[:-1], pair[1:]
            ok = pc.or_(pc.less(s0, s1), pc.and_(pc.equal(s0, s1), pc.less_equal(p0, p1)))
            if not pc.all(ok).as_py():
                raise ValueError("rows fed out of canonical order (split, pair_id)")
        self._last = (split[-1].as_py(), pair[-1].as_py())

    def hexdigest(self) -> str:
        if len(self.formats) > 1:
            raise ValueError(f"rows mix format versions {sorted(self.formats)}")
        fmt = next(iter(self.formats)) if self.formats else FORMAT_VERSION
        h = hashlib.sha256(f"{ID_SCHEME}\n{fmt}\n".encode())
        for name, node in self.columns:
            h.update(b"c" + name.encode())
            node.fold(h)
        return h.hexdigest()


def streamed_id(batches: Iterable[pa.RecordBatch | pa.Table], spool_dir: str | None = None) -> tuple[str, int]:
    """(content id, rows) of batches in canonical order (what `verify` uses on a version's shards)."""
    hasher = ContentHasher(spool_dir)
    for b in batches:
        hasher.add(b)
    return hasher.hexdigest(), hasher.rows


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
