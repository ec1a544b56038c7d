"""Self-contained copies of a version, the media-reference helpers, and verification.

- export_parquet(..., embed=True): shards with the media bytes inside (HF `Image` storage {bytes, path} plus the
  `huggingface` features metadata), so `datasets.load_dataset("parquet", data_dir=dest)` decodes images with
  nothing else present. embed=False copies the shards as they are and the media they use into dest/media/.
  Either way the copy keeps the version id: the content is the same, only the storage differs.
- media_root_url / media_url / read_media: where a reference-mode path resolves (for any reader);
  resolve_media: the same for a `datasets` Dataset, casting media columns to Image so they decode.
- verify: recompute a directory's id from its rows (and embedded bytes' hashes) and compare with its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from umedata.clock import iso, utcnow
from umedata.versions import card
from umedata.versions.content import MEDIA, ROW_SCHEMA, ContentHasher, content_id, with_hf_metadata
from umedata.versions.store import (
    VersionExists,
    is_local,
    iter_rows,
    join,
    open_dir,
    read_manifest,
    read_rows,
    shard_names,
    write_parquet,
)

EMBEDDED_ROWS_PER_SHARD = 1_000
EMBEDDED_ROW_GROUP_SIZE = 100  # rows with image bytes are large; HF uses 100-row groups for image datasets too


def media_root_url(version_dir: str | os.PathLike[str], manifest: dict[str, Any] | None = None) -> str | None:
    """Where the relative media paths of a version resolve (None when media is embedded)."""
    manifest = manifest or read_manifest(version_dir)
    root = manifest.get("media_root")
    if root is None:
        return None
    if "://" in root or os.path.isabs(root):
        return root
    fs, path = open_dir(version_dir)
    base = path if is_local(fs) else fs.unstrip_protocol(path)
    return join(base, root)


def media_url(version_dir: str | os.PathLike[str], relpath: str, manifest: dict[str, Any] | None = None) -> str:
    """The file (path or URL) a reference-mode media path names."""
    root = media_root_url(version_dir, manifest)
    if root is None:
        raise ValueError("this version embeds its media; read the bytes from the row")
    return join(root, relpath)


def read_media(version_dir: str | os.PathLike[str], ref: dict[str, Any], manifest: dict[str, Any] | None = None) -> bytes:
    """The bytes of one media reference {bytes, path}, embedded or not."""
    if ref.get("bytes") is not None:
        return ref["bytes"]
    import fsspec

    with fsspec.open(media_url(version_dir, ref["path"], manifest), "rb") as f:
        return f.read()


def resolve_media(dataset: Any, version_dir: str | os.PathLike[str], decode: bool = True) -> Any:
    """Reference mode for `datasets`: turn each media path into a full path under media_root and cast the media
    columns to `Image`, so images (and video frames) decode on access. Takes a Dataset or DatasetDict loaded with
    `load_dataset("parquet", data_dir=version_dir)`; embedded-mode data is returned unchanged.

        ds = resolve_media(load_dataset("parquet", data_dir=d), d)
        ds["train"][0]["qry_images"][0]  # a PIL image
    """
    from datasets import Features, Image, List, Value

    manifest = read_manifest(version_dir)
    root = media_root_url(version_dir, manifest)
    if root is None:
        return dataset

    def fix_list(refs: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if refs is None:
            return None
        return [r if r.get("bytes") is not None else {"bytes": None, "path": join(root, r["path"])} for r in refs]

    def fix(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for col in ("qry_images", "pos_images", "qry_video", "pos_video"):
            if col in batch:
                batch[col] = [fix_list(v) for v in batch[col]]
        if "negatives" in batch:
            batch["negatives"] = [
                None if negs is None else
                [{**n, "images": fix_list(n.get("images")), "video": fix_list(n.get("video"))} for n in negs]
                for negs in batch["negatives"]
            ]
        return batch

    dataset = dataset.map(fix, batched=True, desc="resolving media references")
    if not decode:
        return dataset
    features = Features(dict(next(iter(dataset.values())).features if hasattr(dataset, "keys") else dataset.features))
    for col in ("qry_images", "pos_images", "qry_video", "pos_video"):
        if col in features:
            features[col] = List(Image())
    if "negatives" in features:
        features["negatives"] = List({"side_id": Value("string"), "text": Value("string"),
                                      "images": List(Image()), "video": List(Image())})
    return dataset.cast(features)


def _embed_list(arr: pa.Array, load: Callable[[str], bytes]) -> pa.Array:
    """A list<struct<bytes, path>> array with the bytes filled in (offsets and nulls kept)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    items = arr.values
    paths = items.field("path").to_pylist()
    have = items.field("bytes").to_pylist()
    data = [b if b is not None else (load(p) if p is not None else None) for b, p in zip(have, paths)]
    new_items = pa.StructArray.from_arrays([pa.array(data, pa.binary()), items.field("path")], fields=list(MEDIA))
    return pa.ListArray.from_arrays(arr.offsets, new_items, mask=arr.is_null() if arr.null_count else None)


def _embed_negatives(arr: pa.Array, load: Callable[[str], bytes]) -> pa.Array:
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    negs = arr.values
    fields = [negs.type.field(i) for i in range(negs.type.num_fields)]
    children = [
        _embed_list(negs.field(f.name), load) if f.name in ("images", "video") else negs.field(f.name) for f in fields
    ]
    new_negs = pa.StructArray.from_arrays(children, fields=fields)
    return pa.ListArray.from_arrays(arr.offsets, new_negs, mask=arr.is_null() if arr.null_count else None)


def embed(table: pa.Table, load: Callable[[str], bytes]) -> pa.Table:
    """Rows with every media reference's bytes read through `load(relpath)`."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if name in ("qry_images", "pos_images", "qry_video", "pos_video"):
            cols[name] = _embed_list(col, load)
        elif name == "negatives":
            cols[name] = _embed_negatives(col, load)
        else:
            cols[name] = col.combine_chunks()
    return pa.table(cols).cast(table.schema)


def _check_dest(dest: str) -> tuple[Any, str]:
    fs, path = open_dir(dest)
    if fs.exists(path) and fs.ls(path, detail=False):
        raise VersionExists(f"{dest} exists and is not empty; exports never overwrite")
    fs.makedirs(path, exist_ok=True)
    return fs, path


def export_parquet(
    version_dir: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    embed_media: bool = True,
    rows_per_shard: int | None = None,
    row_group_size: int | None = None,
) -> dict[str, Any]:
    """Copy a version to dest as a self-contained directory; returns the new manifest."""
    import fsspec

    src_fs, src_path = open_dir(version_dir)
    manifest = read_manifest(version_dir)
    root = media_root_url(version_dir, manifest)
    fs, path = _check_dest(str(dest))
    layout = manifest.get("layout", {})
    rows_per_shard = rows_per_shard or (EMBEDDED_ROWS_PER_SHARD if embed_media else layout.get("rows_per_shard", 100_000))
    row_group_size = row_group_size or (EMBEDDED_ROW_GROUP_SIZE if embed_media else layout.get("row_group_size", 10_000))

    def load(relpath: str) -> bytes:
        with fsspec.open(join(root, relpath), "rb") as f:  # type: ignore[arg-type]
            return f.read()

    schema = with_hf_metadata(ROW_SCHEMA, embedded=True) if embed_media else None
    splits: dict[str, list[str]] = {}
    copied: set[str] = set()
    fs.makedirs(join(path, "data"), exist_ok=True)
    for split in sorted(manifest["splits"]):
        n = manifest["counts"]["by_split"].get(split, 0)
        names = shard_names(split, n, rows_per_shard)
        buf: list[pa.Table] = []
        buffered = 0
        out = 0

        def flush(final: bool = False) -> None:
            nonlocal buf, buffered, out
            while buffered >= rows_per_shard or (final and buffered):
                whole = pa.concat_tables(buf)
                part, rest = whole.slice(0, rows_per_shard), whole.slice(rows_per_shard)
                if embed_media:
                    part = embed(part, load)
                write_parquet(part, fs, join(path, names[out]), row_group_size, schema)  # noqa: B023 (called in this iteration only)
                out += 1
                buf, buffered = ([rest] if rest.num_rows else []), rest.num_rows

        for name in manifest["splits"][split]:
            with src_fs.open(join(src_path, name), "rb") as f:
                t = pq.read_table(f)
            buf.append(t)
            buffered += t.num_rows
            flush()
            if not embed_media and root is not None:
                _copy_media(t, root, fs, join(path, "media"), copied)
        flush(final=True)
        splits[split] = names[:out]

    new = {
        **manifest,
        "splits": splits,
        "media_root": None if embed_media or root is None else "media",
        "media_mode": "embedded" if embed_media else "reference",
        "layout": {**layout, "rows_per_shard": rows_per_shard, "row_group_size": row_group_size},
        "exported_from": {"path": str(version_dir),
                          "at": iso(utcnow())},
    }
    with fs.open(join(path, "README.md"), "w", encoding="utf-8") as f:
        f.write(card.render(new))
    with fs.open(join(path, "manifest.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(new, indent=2, ensure_ascii=False) + "\n")
    return new


def _copy_media(rows: pa.Table, root: str, fs: Any, dest_media: str, done: set[str]) -> None:
    import fsspec

    from umedata import sql

    con = sql.memory()
    try:
        con.register("version_rows", rows)
        refs = sql.query(con, "version_media_refs").column("relpath").to_pylist()
    finally:
        con.close()
    for rel in refs:
        if rel in done:
            continue
        target = join(dest_media, rel)
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        with fsspec.open(join(root, rel), "rb") as fi, fs.open(target, "wb") as fo:
            fo.write(fi.read())
        done.add(rel)


def verify(version_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Recompute the id from the rows and check embedded bytes against their sha256; {"ok": bool, ...}. Streams the
    shards batch by batch (ContentHasher), so a version of any size is checked in the memory of one batch."""
    manifest = read_manifest(version_dir)
    hasher = ContentHasher()
    bad_media: list[str] = []
    try:
        got, n = _stream_check(version_dir, manifest, hasher, bad_media)
    except ValueError:  # shards not in canonical order (written by other tools): sort in memory, as content_id does
        rows = read_rows(version_dir)
        got, n, bad_media = content_id(rows), rows.num_rows, []
        _embedded_check(rows.to_batches(), manifest, bad_media)
    return {"ok": got == manifest["version_id"] and not bad_media, "version_id": manifest["version_id"],
            "computed_id": got, "rows": n, "bad_media": bad_media}


def _stream_check(version_dir: str | os.PathLike[str], manifest: dict[str, Any], hasher: ContentHasher,
                  bad_media: list[str]) -> tuple[str, int]:
    for batch in iter_rows(version_dir):
        hasher.add(batch)
        _embedded_check([batch], manifest, bad_media)
    return hasher.hexdigest(), hasher.rows


def _embedded_check(batches: Any, manifest: dict[str, Any], bad_media: list[str]) -> None:
    for batch in batches:
        if manifest.get("media_mode") == "embedded":
            for col in ("qry_images", "pos_images", "qry_video", "pos_video"):
                for refs in batch.column(col).to_pylist():
                    for r in refs or []:
                        stem = r["path"].rsplit("/", 1)[-1].split(".", 1)[0]
                        if r["bytes"] is None or hashlib.sha256(r["bytes"]).hexdigest() != stem:
                            bad_media.append(r["path"])
