"""Where versions live: `<root>/versions/<version_id>/` beside a content-addressed media store `<root>/media/`.

Layout (root is a local folder or an fsspec URL; by default the warehouse's folder, so the media store is the one
ingest uses):

    <root>/media/<sha[:2]>/<sha>.<ext>                 every medium once, whatever number of versions use it
    <root>/versions/<id>/manifest.json                 written last: a directory without it is not a version
    <root>/versions/<id>/README.md                     the dataset card
    <root>/versions/<id>/data/<split>-00000-of-0000N.parquet

A version directory is never rewritten: writing into an existing one raises VersionExists. Locally it is written
under a temporary name and renamed into place (atomic), and its files are made read-only. Shards are deterministic
(fixed row order, row-group size, compression, no timestamps), so the same rows give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

# Relative to a version directory of this store: manifests record it so a store moves as one folder.
STORE_MEDIA_ROOT = "../../media"
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "version": "2.6",
}


class VersionExists(FileExistsError):
    """A version directory is never rewritten."""


class MediaChanged(ValueError):
    """A medium's file no longer hashes to the sha256 the warehouse knows it by."""


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def open_dir(url: str | os.PathLike[str]) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path) for a local path or an fsspec URL; local paths are made absolute."""
    fs, path = fsspec.core.url_to_fs(str(url))
    if is_local(fs):
        path = str(Path(path).resolve())
    return fs, path.rstrip("/") or "/"


def join(base: str, *parts: str) -> str:
    """Join onto a local path or a URL (a relative part may climb with "..")."""
    if "://" in base:
        scheme, rest = base.split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, *parts))}"
    return posixpath.normpath(posixpath.join(base, *parts))


def media_relpath(sha256: str, ext: str) -> str:
    return f"{sha256[:2]}/{sha256}.{ext.lower().lstrip('.')}"


def write_parquet(
    table: pa.Table, fs: fsspec.AbstractFileSystem, path: str, row_group_size: int, schema: pa.Schema | None = None
) -> None:
    """One deterministic parquet file."""
    if schema is not None:
        table = table.replace_schema_metadata(schema.metadata)
    with fs.open(path, "wb") as f:
        pq.write_table(table, f, row_group_size=row_group_size, **PARQUET_OPTIONS)


def shard_names(split: str, n_rows: int, rows_per_shard: int) -> list[str]:
    n = max(1, -(-n_rows // rows_per_shard))
    return [f"data/{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def write_shards(
    rows: pa.Table,
    fs: fsspec.AbstractFileSystem,
    vdir: str,
    rows_per_shard: int,
    row_group_size: int,
    schema: pa.Schema | None = None,
) -> dict[str, list[str]]:
    """Rows (already in canonical order, grouped by split) -> data/<split>-i-of-n.parquet; returns the splits map."""
    splits: dict[str, list[str]] = {}
    fs.makedirs(join(vdir, "data"), exist_ok=True)
    split_col = rows.column("split").to_pylist()
    start = 0
    while start < rows.num_rows:
        split = split_col[start]
        end = start
        while end < rows.num_rows and split_col[end] == split:
            end += 1
        part = rows.slice(start, end - start)
        names = shard_names(split, part.num_rows, rows_per_shard)
        for i, name in enumerate(names):
            write_parquet(part.slice(i * rows_per_shard, rows_per_shard), fs, join(vdir, name), row_group_size, schema)
        splits[split] = names
        start = end
    return splits


@dataclass
class VersionStore:
    """A versions folder and its media store. Cheap to create; nothing is touched until something is written."""

    root: str

    def __post_init__(self) -> None:
        self.fs, self.path = open_dir(self.root)

    @property
    def versions_path(self) -> str:
        return join(self.path, "versions")

    @property
    def media_path(self) -> str:
        return join(self.path, "media")

    def version_path(self, version_id: str) -> str:
        return join(self.versions_path, version_id)

    def url(self, path: str) -> str:
        """A path of this store as the registry records it (a URL for remote filesystems)."""
        return path if is_local(self.fs) else self.fs.unstrip_protocol(path)

    def has_version(self, version_id: str) -> bool:
        return self.fs.exists(join(self.version_path(version_id), "manifest.json"))

    # -- media ----------------------------------------------------------------------------------------------------
    def ensure_media(self, files: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Copy media the store lacks; each item has relpath and source_path. Present files are left alone (content
        addressed: the same name holds the same bytes). Returns counts {present, copied}."""
        counts = {"present": 0, "copied": 0}
        existing: dict[str, set[str]] = {}
        for item in files:
            rel = item["relpath"]
            prefix, name = rel.split("/", 1)
            if prefix not in existing:
                d = join(self.media_path, prefix)
                existing[prefix] = {posixpath.basename(p) for p in self.fs.ls(d, detail=False)} if self.fs.exists(d) else set()
            if name in existing[prefix]:
                counts["present"] += 1
                continue
            src = item.get("source_path")
            if not src:
                raise FileNotFoundError(f"medium {item.get('sha256')} has no file in the warehouse or the store")
            self._put(src, join(self.media_path, rel), item["sha256"])
            existing[prefix].add(name)
            counts["copied"] += 1
        return counts

    def _put(self, src: str, dest: str, sha256: str) -> None:
        """Copy under a temporary name, then rename (a reader never sees half a file), hashing on the way: a source
        file edited since ingest must not land under its old content address."""
        self.fs.makedirs(posixpath.dirname(dest), exist_ok=True)
        local = is_local(self.fs)
        tmp = f"{dest}.tmp-{uuid.uuid4().hex}" if local else dest
        h = hashlib.sha256()
        try:
            with fsspec.open(src, "rb") as fi, self.fs.open(tmp, "wb") as fo:
                while chunk := fi.read(1 << 20):
                    h.update(chunk)
                    fo.write(chunk)
            if h.hexdigest() != sha256:
                raise MediaChanged(f"{src} no longer has the content ingested as {sha256}; re-ingest its source")
            if local:
                os.replace(tmp, dest)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise

    # -- versions -------------------------------------------------------------------------------------------------
    def write_version(
        self,
        version_id: str,
        rows: pa.Table,
        manifest: dict[str, Any],
        card: str,
        rows_per_shard: int,
        row_group_size: int,
        schema: pa.Schema | None = None,
    ) -> dict[str, list[str]]:
        """Write a version directory (shards, README.md, manifest.json last). Raises VersionExists if it is there."""
        final = self.version_path(version_id)
        if self.fs.exists(final) and self.has_version(version_id):
            raise VersionExists(f"version {version_id} already exists at {self.url(final)}; versions are immutable")
        local = is_local(self.fs)
        # Remote stores have no atomic rename: files go straight into place and manifest.json, written last, marks
        # the directory complete (a leftover without it is not a version and gc removes it).
        target = join(self.versions_path, f".{version_id}.tmp-{uuid.uuid4().hex}") if local else final
        self.fs.makedirs(target, exist_ok=True)
        try:
            splits = write_shards(rows, self.fs, target, rows_per_shard, row_group_size, schema)
            manifest = {**manifest, "splits": splits}
            with self.fs.open(join(target, "README.md"), "w", encoding="utf-8") as f:
                f.write(card)
            with self.fs.open(join(target, "manifest.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            if local:
                for dirpath, _dirs, names in os.walk(target):
                    for n in names:
                        os.chmod(os.path.join(dirpath, n), 0o444)
                try:
                    os.rename(target, final)
                except OSError as exc:  # another build of the same content won the race: identical bytes
                    shutil.rmtree(target, ignore_errors=True)
                    raise VersionExists(f"version {version_id} appeared at {final} meanwhile") from exc
        except VersionExists:
            raise
        except BaseException:
            if local:
                shutil.rmtree(target, ignore_errors=True)
            raise
        return splits


def read_manifest(version_dir: str | os.PathLike[str]) -> dict[str, Any]:
    fs, path = open_dir(version_dir)
    with fs.open(join(path, "manifest.json"), "r", encoding="utf-8") as f:
        return json.load(f)


def read_rows(version_dir: str | os.PathLike[str], columns: list[str] | None = None, splits: Iterable[str] | None = None) -> pa.Table:
    """All rows of a version directory (chosen splits, chosen columns), in canonical order."""
    fs, path = open_dir(version_dir)
    manifest = read_manifest(version_dir)
    wanted = list(splits) if splits is not None else sorted(manifest["splits"])
    tables = []
    for split in sorted(wanted):
        for name in manifest["splits"].get(split, []):
            with fs.open(join(path, name), "rb") as f:
                tables.append(pq.read_table(f, columns=columns))
    if not tables:
        from umedata.versions.content import ROW_SCHEMA

        schema = ROW_SCHEMA if columns is None else pa.schema([ROW_SCHEMA.field(c) for c in columns])
        return schema.empty_table()
    return pa.concat_tables(tables)
