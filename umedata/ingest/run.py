"""The ingest driver: one source through the steps, chunk by chunk, into the warehouse.

    read, canonicalise   read.py        data files -> canonical chunks (the layout's adapter)
    resolve media        resolve.py     references -> content hashes; bad media or sides refuse their row
    compose              compose.py     each side's media and modality; the pair's dataset, split, task
    ids                  content_ids.py side and pair ids, a column at a time
    dedup                dedup.py       pairs the warehouse already has, or the chunk repeats, dropped
    stage                stage.py       warehouse rows: pairs, sides, media, video_frames, annotations, quarantine

The staged tables of about `batch_rows` source rows make one commit, through the warehouse's committer: the
file is not held between commits, and the next chunk is prepared while the previous batch commits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from umedata.clock import utcnow
from umedata.ingest import stage
from umedata.ingest.compose import compose_sides, fill_pair_fields
from umedata.ingest.content_ids import Hasher, derive_ids
from umedata.ingest.dedup import drop_known
from umedata.ingest.read import Chunk, read_source
from umedata.ingest.records import IngestSummary, record_run, register
from umedata.ingest.resolve import check_sides, resolve_media, split_refused
from umedata.media import MediaResolver
from umedata.sources.config import SourceSpec
from umedata.warehouse import Warehouse


@dataclass
class Run:
    """What every chunk of one run shares."""

    source: str
    resolver: MediaResolver  # hashes each media file once per run
    known: pa.Array  # pair ids the source already had when the run started
    hasher: Hasher = field(default_factory=Hasher)
    staged_media: set[str] = field(default_factory=set)
    started: datetime = field(default_factory=utcnow)


def ingest_source(
    warehouse: Warehouse,
    spec: SourceSpec,
    batch_rows: int = 250_000,
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest every dataset of one source; returns what was seen, added and refused.

    `batch_rows` rows make one warehouse commit: each commit costs a DuckDB checkpoint, so larger batches ingest
    faster (1 M pairs: ~120 k pairs/s at 250 k, ~85 k at 50 k; BENCHMARKS.md) while readers still see progress
    every few seconds.

    `progress`, if given, is called with the number of rows read so far after each chunk. Safe to re-run: all
    keys are content hashes, so a second run over the same data adds no rows (but its own ingest_runs record).
    """
    t0 = time.perf_counter()
    warehouse.recover()  # a batch sealed by a crashed run lands before this one starts
    registration = register(warehouse, spec)
    run = Run(spec.name, MediaResolver(spec.root, warehouse.path.parent / "media"), registration.known)
    summary = IngestSummary(source=spec.name, run_id=uuid.uuid4().hex)
    try:
        with warehouse.committer(batch_rows, on_counts=summary.add_committed) as committer:
            committer.add({"sources": registration.row}, modes={"sources": registration.mode})
            for chunk in read_source(spec, batch_rows, store_bytes=run.resolver.store_bytes):
                staged = stage_chunk(chunk, run)
                summary.add_staged(chunk.rows.num_rows, staged.get("quarantine"))
                committer.add(staged, rows=chunk.rows.num_rows)
                if progress is not None and chunk.rows.num_rows:
                    progress(summary.rows_seen)
    finally:
        run.hasher.close()
    summary.seconds = time.perf_counter() - t0
    record_run(warehouse, summary, run.started)
    return summary


def stage_chunk(chunk: Chunk, run: Run) -> dict[str, pa.Table]:
    """The warehouse rows of one canonical chunk (table name -> Arrow table), step by step."""
    good, refused = split_refused(chunk.rows)  # rows the reader could not take in
    good, found = resolve_media(good, run.resolver)
    good, bad = split_refused(check_sides(good))  # refused media, sides with both images and a video, or empty
    good = compose_sides(good, chunk.dataset.modality)
    good = fill_pair_fields(good, chunk.dataset, chunk.stem)
    good = derive_ids(good, run.hasher, run.source)
    fresh = drop_known(good, run.known)
    media, video_frames = stage.media_tables(fresh, found, run.staged_media)
    problems = [chunk.problems, stage.row_problems(refused, chunk.file), stage.row_problems(bad, chunk.file)]
    return {
        "sides": stage.sides_table(fresh),
        "pairs": stage.pairs_table(fresh, run.source, chunk.file),
        "media": media,
        "video_frames": video_frames,
        "annotations": stage.annotations_table(good, chunk.file, run.started),
        "quarantine": stage.quarantine_table(run.source, pa.concat_tables(problems), run.started),
    }
