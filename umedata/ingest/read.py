"""Steps 1 and 2, read and canonicalise: every data file of a source as canonical chunks.

A chunk is at most `batch_rows` rows of one file, in the canonical layout (umedata/sources/chunk.py). A file
that cannot be read at all (missing, unknown format, a required column absent) becomes a chunk with no rows and
one problem, so it is quarantined like a bad row and the next file still lands.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from umedata.errors import FileError
from umedata.sources import adapter_for
from umedata.sources.chunk import CHUNK
from umedata.sources.config import DatasetSpec, SourceSpec
from umedata.sources.values import StoreBytes

PROBLEMS = pa.schema([("what", pa.string()), ("reason", pa.string()), ("detail", pa.string())])


@dataclass(frozen=True)
class Chunk:
    dataset: DatasetSpec
    file: str  # how the file is named in quarantine and pairs.source_file
    stem: str  # the configured path's stem: the dataset name when neither the config nor the row gives one
    rows: pa.Table  # canonical chunk
    problems: pa.Table  # file-level problems (what, reason, detail); rows are then empty

    @classmethod
    def refused(cls, dataset: DatasetSpec, what: str, reason: str, detail: str) -> Chunk:
        problems = pa.table({"what": [what], "reason": [reason], "detail": [detail]}, schema=PROBLEMS)
        return cls(dataset, what, Path(what).stem, CHUNK.empty_table(), problems)


def read_source(spec: SourceSpec, batch_rows: int, store_bytes: StoreBytes | None = None) -> Iterator[Chunk]:
    """Chunks of every dataset of a source, file by file, in configuration order."""
    for dataset in spec.datasets:
        adapter = adapter_for(spec.layout, dataset)
        files = dataset_files(spec, dataset)
        if not files:
            yield Chunk.refused(dataset, dataset.path, "missing_file", "the path matches no file")
        for path in files:
            try:
                for block in adapter.read(path, batch_rows):
                    rows = adapter.to_chunk(block, store_bytes)
                    yield Chunk(dataset, file_label(spec, block.file), path.stem, rows, PROBLEMS.empty_table())
            except FileError as exc:
                yield Chunk.refused(dataset, file_label(spec, path), exc.reason, exc.detail)


def dataset_files(spec: SourceSpec, dataset: DatasetSpec) -> list[Path]:
    """The files a dataset's path names: one path, or every match of a glob (sorted)."""
    p = Path(dataset.path)
    full = p if p.is_absolute() else spec.root / p
    if glob.has_magic(str(full)):
        return sorted(Path(x) for x in glob.glob(str(full), recursive=True))
    return [full]


def file_label(spec: SourceSpec, path: Path) -> str:
    """A file's name in quarantine and pairs.source_file: relative to the root when inside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(spec.root).as_posix()
    except ValueError:
        return str(path)
