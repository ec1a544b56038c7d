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

A build streams: `begin` opens a temporary directory, a `ShardWriter` takes the rows batch by batch (their id is
not known yet), and `finish` writes README.md and manifest.json under the id the rows hashed to and moves the
directory into place (or discards it, when that id is already there).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
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


class ShardWriter:
    """Rows in canonical order (grouped by split), batch by batch, into data/<split>-i-of-n.parquet: rows_per_shard
    rows a shard, row groups of row_group_size; byte for byte the files write_shards makes of the same rows. Holds
    at most one row group. A shard is written under a temporary name and renamed by `close`, once n is known."""

    def __init__(self, fs: fsspec.AbstractFileSystem, vdir: str, rows_per_shard: int, row_group_size: int,
                 schema: pa.Schema | None = None):
        self.fs, self.vdir, self.schema = fs, vdir, schema
        self.rows_per_shard, self.row_group_size = rows_per_shard, row_group_size
        self.shards: dict[str, int] = {}  # split -> shards written, in the order the splits came
        self.rows = 0
        self.split: str | None = None
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.shard_rows = 0
        self.out: Any = None
        self.writer: pq.ParquetWriter | None = None
        fs.makedirs(join(vdir, "data"), exist_ok=True)

    def _partial(self, split: str, i: int) -> str:
        return join(self.vdir, f"data/.{split}-{i:05d}.partial")

    def add(self, rows: pa.Table | pa.RecordBatch) -> None:
        table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
        splits = table.column("split").to_numpy(zero_copy_only=False)
        start = 0
        while start < table.num_rows:
            split = splits[start]
            end = start + 1
            while end < table.num_rows and splits[end] == split:
                end += 1
            self._add_split(split, table.slice(start, end - start))
            start = end

    def _add_split(self, split: str, part: pa.Table) -> None:
        if split != self.split:
            if split in self.shards:
                raise ValueError(f"rows of split {split!r} are not together: rows must come in canonical order")
            self._close_shard()
            self.split = split
            self.shards[split] = 0
        self.rows += part.num_rows
        while part.num_rows:
            if self.out is None:
                self.out = self.fs.open(self._partial(split, self.shards[split]), "wb")
                self.shards[split] += 1
                self.shard_rows = 0
            take = min(part.num_rows, self.rows_per_shard - self.shard_rows)
            self.pending.append(part.slice(0, take))
            self.pending_rows += take
            self.shard_rows += take
            part = part.slice(take)
            self._flush(final=False)
            if self.shard_rows == self.rows_per_shard:
                self._close_shard()

    def _flush(self, final: bool) -> None:
        """Write whole row groups from what is pending (the last, shorter one only when the shard ends)."""
        if not self.pending_rows or (self.pending_rows < self.row_group_size and not final):
            return
        table = pa.concat_tables(self.pending) if len(self.pending) > 1 else self.pending[0]
        whole = table.num_rows if final else table.num_rows - table.num_rows % self.row_group_size
        if self.schema is not None:
            table = table.replace_schema_metadata(self.schema.metadata)
        if self.writer is None:  # as pq.write_table does: the writer takes the table's schema
            self.writer = pq.ParquetWriter(self.out, table.schema, **PARQUET_OPTIONS)
        self.writer.write_table(table.slice(0, whole), row_group_size=self.row_group_size)
        rest = table.slice(whole)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def _close_shard(self) -> None:
        if self.out is None:
            return
        self._flush(final=True)
        self.writer.close()
        self.out.close()
        self.writer = self.out = None

    def close(self) -> dict[str, list[str]]:
        """Finish the last shard and name every shard <split>-i-of-n; returns the manifest's splits map."""
        self._close_shard()
        splits = {}
        for split, n in self.shards.items():
            names = shard_names(split, n * self.rows_per_shard, self.rows_per_shard)
            for i, name in enumerate(names):
                self.fs.mv(self._partial(split, i), join(self.vdir, name))
            splits[split] = names
        return splits

    def abort(self) -> None:
        """Close what is open (the caller removes the directory)."""
        if self.writer is not None:
            self.writer.close()
        if self.out is not None:
            self.out.close()
        self.writer = self.out = None


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
        if self.has_version(version_id):
            raise VersionExists(f"version {version_id} already exists at {self.url(self.version_path(version_id))}; "
                                "versions are immutable")
        target = self.begin()
        try:
            splits = write_shards(rows, self.fs, target, rows_per_shard, row_group_size, schema)
        except BaseException:
            self.abort(target)
            raise
        self.finish(target, version_id, {**manifest, "splits": splits}, card)
        return splits

    # -- streamed builds: begin -> ShardWriter(target) -> finish(target, id) ----------------------------------
    def begin(self) -> str:
        """A fresh directory to write a version into before its id is known. Locally a hidden sibling of the final
        directories (same filesystem: the rename is atomic); remote stores have no atomic rename, so there the
        files are moved under the id by `finish`, manifest.json last."""
        target = join(self.versions_path, f".build-{uuid.uuid4().hex}.tmp")
        self.fs.makedirs(target, exist_ok=True)
        return target

    def finish(self, target: str, version_id: str, manifest: dict[str, Any], card: str) -> str:
        """Write README.md and manifest.json (last) into `target` and move it to versions/<version_id>. Raises
        VersionExists (and removes `target`) when that version is there already: same id, same content."""
        final = self.version_path(version_id)
        local = is_local(self.fs)
        try:
            if self.has_version(version_id):
                raise VersionExists(f"version {version_id} already exists at {self.url(final)}; versions are immutable")
            if local:
                self._write_meta(target, manifest, card)
                for dirpath, _dirs, names in os.walk(target):
                    for n in names:
                        os.chmod(os.path.join(dirpath, n), 0o444)
                try:
                    os.rename(target, final)
                except OSError as exc:  # another build of the same content won the race: identical bytes
                    raise VersionExists(f"version {version_id} appeared at {final} meanwhile") from exc
            else:
                for src in self.fs.find(target):
                    self.fs.mv(src, join(final, posixpath.relpath(src, target)))
                self._write_meta(final, manifest, card)
                self.abort(target)
        except BaseException:
            self.abort(target)
            raise
        return final

    def abort(self, target: str) -> None:
        """Remove a directory `begin` made (a failed or redundant build)."""
        if is_local(self.fs):
            shutil.rmtree(target, ignore_errors=True)
        elif self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    def _write_meta(self, vdir: str, manifest: dict[str, Any], card: str) -> None:
        with self.fs.open(join(vdir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)
        with self.fs.open(join(vdir, "manifest.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def read_manifest(version_dir: str | os.PathLike[str]) -> dict[str, Any]:
    fs, path = open_dir(version_dir)
    with fs.open(join(path, "manifest.json"), "r", encoding="utf-8") as f:
        return json.load(f)


def iter_rows(version_dir: str | os.PathLike[str], columns: list[str] | None = None,
              batch_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
    """The rows of a version directory batch by batch, in canonical order (splits by name, shards in order)."""
    fs, path = open_dir(version_dir)
    manifest = read_manifest(version_dir)
    for split in sorted(manifest["splits"]):
        for name in manifest["splits"][split]:
            with fs.open(join(path, name), "rb") as f:
                yield from pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=columns)


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
