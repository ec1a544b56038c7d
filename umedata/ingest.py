"""Ingest one source into the warehouse: canonical chunks in, sources/pairs/sides/media/annotations out.

`ingest_source` streams each dataset file through its layout's adapter (umedata/sources/), resolves media by
content (umedata/media.py), derives every id from content (the same bytes umedata/ids.py hashes, computed here a
column at a time) and commits through the warehouse writer in batches of about `batch_rows` rows. Each batch is
staged as parquet and committed in one transaction; the file is not held between batches, and the next batch is
prepared while the previous one commits.

Rows that cannot be taken in become `quarantine` rows (reason + detail, keyed by content so a re-ingest adds
none) and their neighbours land. A pair is refused whole when any of its sides or negatives is bad. Pairs the
warehouse already holds are recognised by id and not staged again, so a re-run costs reading and hashing only.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata import ids, tables
from umedata.clock import utcnow
from umedata.errors import FileError, MediaError
from umedata.format import parse_assistant
from umedata.media import MediaInfo, MediaResolver, is_blank
from umedata.sources import adapter_for
from umedata.sources.arrays import PATHS, lists_from
from umedata.sources.config import DatasetSpec, SourceSpec
from umedata.sources.mmeb import KNOWN_TASKS
from umedata.warehouse import StagedBatch, Warehouse

MODALITY_ORDER = ("text", "image", "visdoc", "video")  # "most visual" wins when a pair's modality is inferred
IMPORTED_MODEL = "imported"
IMPORTED_PROMPT = "imported:ume-r1-sft"


@dataclass
class IngestSummary:
    source: str
    rows_seen: int = 0
    pairs_new: int = 0
    sides_new: int = 0
    media_new: int = 0
    annotations_new: int = 0
    quarantined: int = 0  # rows (or files) refused in this run, whether or not quarantine already held them
    quarantine_new: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    run_id: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- column helpers ------------------------------------------------------------------------------------------
def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False)


def _first_of_each(table: pa.Table, key: str) -> pa.Table:
    """Rows with a distinct key, first occurrence kept."""
    codes = _np(pc.dictionary_encode(table[key].combine_chunks()).indices)
    _, first = np.unique(codes, return_index=True)
    return table if len(first) == table.num_rows else table.take(pa.array(np.sort(first)))


def _where(table: pa.Table, mask: np.ndarray) -> pa.Table:
    return table if mask.all() else table.filter(pa.array(mask))


_MODALITIES = pa.array(MODALITY_ORDER, pa.string())


def _modality(code: np.ndarray) -> pa.Array:
    return _MODALITIES.take(pa.array(code, pa.int8()))


def _side_code(has_video: np.ndarray, n_media: np.ndarray, document: np.ndarray | bool) -> np.ndarray:
    """Index into MODALITY_ORDER: video if a video, visdoc if document pages, image if any image, else text."""
    return np.where(has_video, 3, np.where(n_media > 0, np.where(document, 2, 1), 0))


class _Hasher:
    """Content ids a column at a time, in an in-memory DuckDB: the bytes umedata.ids hashes, several times
    faster than a Python loop. Arguments must be non-null (concat would hash NULL as an empty string)."""

    def __init__(self) -> None:
        self.con = duckdb.connect()

    def _run(self, sql: str, table: pa.Table, params: list[Any] | None = None) -> pa.Array:
        if table.num_rows == 0:
            return pa.array([], pa.string())
        self.con.register("_h", table)
        try:
            rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            out = rel.to_arrow_table()["h"]
        finally:
            self.con.unregister("_h")
        return out.combine_chunks().cast(pa.string())

    def side_ids(self, text: pa.Array, media: pa.Array) -> pa.Array:
        """ids.side_id(text, media) per row."""
        return self._run(
            f"SELECT left(sha256(concat('side', chr(31), t, chr(31), array_to_string(m, ','))), {ids.ID_HEX}) AS h FROM _h",
            pa.table({"t": text, "m": media}),
        )

    def pair_ids(
        self, source: str, dataset: pa.Array, split: pa.Array, qry: pa.Array, pos: pa.Array, negs: pa.Array
    ) -> pa.Array:
        """ids.pair_id(source, dataset, split, qry, pos, negatives) per row."""
        return self._run(
            "SELECT left(sha256(concat('pair', chr(31), ?, chr(31), d, chr(31), s, chr(31), q, chr(31), p, chr(31), "
            f"array_to_string(n, ','))), {ids.ID_HEX}) AS h FROM _h",
            pa.table({"d": dataset, "s": split, "q": qry, "p": pos, "n": negs}),
            [source],
        )

    def close(self) -> None:
        self.con.close()


class _KnownIds:
    """Membership in a fixed set of ids (the pairs a source already has), built once per run."""

    def __init__(self, known: pa.Array | pa.ChunkedArray):
        self.ids = frozenset(known.to_pylist())

    def contains(self, ids_: pa.Array) -> np.ndarray:
        if not self.ids:
            return np.zeros(len(ids_), dtype=bool)
        return np.fromiter((i in self.ids for i in ids_.to_pylist()), dtype=bool, count=len(ids_))


# -- media of one chunk ----------------------------------------------------------------------------------------
@dataclass
class _Refs:
    """The distinct media references of a chunk, resolved."""

    refs: pa.Array
    sha: pa.Array  # null where blank or refused
    blank: np.ndarray
    error: np.ndarray
    page: np.ndarray
    infos: list[MediaInfo | None]
    problems: list[tuple[str, str] | None]


@dataclass
class _Mapped:
    """One list column of references turned into media hashes."""

    hashes: pa.Array  # list<string> per list (side or negative)
    pages: np.ndarray  # per list: holds a rendered document page
    used: tuple[np.ndarray, np.ndarray]  # (ref index, row) of every hash kept
    kind: str


class _Run:
    """State of one ingest run: the source, its media resolver and cache, the summary so far."""

    def __init__(self, warehouse: Warehouse, spec: SourceSpec, known_pairs: pa.Array):
        self.spec = spec
        self.resolver = MediaResolver(spec.root, warehouse.path.parent / "media")
        self.hasher = _Hasher()
        self.known = _KnownIds(known_pairs)
        self.staged_media: set[str] = set()
        self.started = utcnow()
        self.summary = IngestSummary(source=spec.name, run_id=uuid.uuid4().hex)
        self.reasons: Counter[str] = Counter()
        self.threads = min(8, 2 * (os.cpu_count() or 1))

    def quarantine(self, items: list[tuple[str, str, str]]) -> pa.Table:
        """Quarantine rows for (what, reason, detail) items, counted in the summary."""
        self.reasons.update(r for _, r, _ in items)
        self.summary.quarantined += len(items)
        src = self.spec.name
        return pa.table(
            {
                "quarantine_id": pa.array([ids.quarantine_id(src, w, r) for w, r, _ in items], pa.string()),
                "source": pa.array([src] * len(items), pa.string()),
                "stage": pa.array(["ingest"] * len(items), pa.string()),
                "what": pa.array([w for w, _, _ in items], pa.string()),
                "reason": pa.array([r for _, r, _ in items], pa.string()),
                "detail": pa.array([d for _, _, d in items], pa.string()),
                "created_at": pa.array([self.started] * len(items), pa.timestamp("us")),
            }
        )

    # media ---------------------------------------------------------------------------------------------------
    def _resolve_one(self, ref: str) -> tuple[MediaInfo | None, tuple[str, str] | None, bool]:
        if is_blank(ref):
            return None, None, True
        try:
            return self.resolver.resolve(ref), None, False
        except MediaError as exc:
            return None, (exc.reason, exc.detail if ref in exc.detail else f"{ref}: {exc.detail}"), False

    def _resolve(self, columns: list[pa.Array]) -> _Refs:
        """Resolve every distinct reference once (in threads when there are many: hashing releases the GIL)."""
        refs = pc.unique(pa.concat_arrays([pc.list_flatten(c) for c in columns]))
        values = refs.to_pylist()
        if len(values) > 32 and self.threads > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                results = list(pool.map(self._resolve_one, values))
        else:
            results = [self._resolve_one(v) for v in values]
        infos = [r[0] for r in results]
        return _Refs(
            refs=refs,
            sha=pa.array([i.sha256 if i else None for i in infos], pa.string()),
            blank=np.array([r[2] for r in results], dtype=bool),
            error=np.array([r[1] is not None for r in results], dtype=bool),
            page=np.array([i is not None and i.kind == "page" for i in infos], dtype=bool),
            infos=infos,
            problems=[r[1] for r in results],
        )

    @staticmethod
    def _map(
        lists: pa.Array, refs: _Refs, name: str, owner: np.ndarray, errors: dict[int, tuple[str, str]], kind: str
    ) -> _Mapped:
        """References -> media hashes for one list column: blanks dropped, a refused one recorded against its row.

        `owner` maps each list (a side, or a negative) to its row.
        """
        m = len(lists)
        flat = pc.list_flatten(lists)
        parents = _np(pc.list_parent_indices(lists)).astype(np.int64)
        idx = _np(pc.index_in(flat, value_set=refs.refs)).astype(np.int64) if len(flat) else np.zeros(0, np.int64)
        bad = refs.error[idx]
        for p in np.flatnonzero(bad).tolist():
            reason, detail = refs.problems[idx[p]]
            errors.setdefault(int(owner[parents[p]]), (reason, f"{name}: {detail}"))
        keep = ~(refs.blank[idx] | bad)
        kept_idx, kept_parents = idx[keep], parents[keep]
        pages = np.bincount(kept_parents[refs.page[kept_idx]], minlength=m) > 0 if m else np.zeros(0, dtype=bool)
        return _Mapped(
            lists_from(kept_parents, refs.sha.take(pa.array(kept_idx)), m).cast(PATHS), pages, (kept_idx, owner[kept_parents]), kind
        )

    def _videos(self, frames: pa.Array, refs: _Refs) -> tuple[pa.Array, np.ndarray, dict[int, tuple[MediaInfo, list]]]:
        """Per side: the video hash or null, whether it has one, and {row: (video media, frame hashes)}."""
        has = _np(pc.list_value_length(frames)) > 0
        shas: list[str | None] = [None] * len(frames)
        videos: dict[int, tuple[MediaInfo, list]] = {}
        if has.any():
            by_sha = {s: i for i, s in enumerate(refs.sha.to_pylist()) if s is not None}
            for i, fs in zip(np.flatnonzero(has).tolist(), frames.filter(pa.array(has)).to_pylist()):
                video = self.resolver.video([refs.infos[by_sha[s]] for s in fs])
                shas[i] = video.sha256
                videos[i] = (video, fs)
        return pa.array(shas, pa.string()), has, videos

    # one chunk ------------------------------------------------------------------------------------------------
    def process(self, chunk: pa.Table, dataset: DatasetSpec, file_label: str, default_name: str) -> dict[str, pa.Table]:
        """Warehouse rows (table name -> Arrow table) for one canonical chunk."""
        self.summary.rows_seen += chunk.num_rows
        refused = _np(pc.is_valid(chunk["error"]))
        problems = [
            (f"{file_label}:{r}", e, d)
            for r, e, d in zip(
                *(chunk[c].filter(pa.array(refused)).to_pylist() for c in ("row", "error", "error_detail"))
            )
        ]
        g = _where(chunk, ~refused)
        col = {c: g[c].combine_chunks() for c in g.column_names}
        n = g.num_rows
        errors: dict[int, tuple[str, str]] = {}  # row -> (reason, detail); the first problem of a row wins

        # Media references -> hashes.
        neg_lists = pc.list_flatten(col["neg_images"])  # one list of paths per negative
        neg_owner = _np(pc.list_parent_indices(col["neg_images"])).astype(np.int64)
        refs = self._resolve([col["qry_images"], col["pos_images"], col["qry_video"], col["pos_video"], neg_lists])
        rows = np.arange(n, dtype=np.int64)
        images = {s: self._map(col[f"{s}_images"], refs, f"{s}_image", rows, errors, "image") for s in ("qry", "pos")}
        frames = {s: self._map(col[f"{s}_video"], refs, f"{s}_video", rows, errors, "frame") for s in ("qry", "pos")}
        neg = self._map(neg_lists, refs, "neg_image", neg_owner, errors, "image")

        # A side carries images or one video, and is never empty.
        for s in ("qry", "pos"):
            n_img = _np(pc.list_value_length(images[s].hashes))
            n_frm = _np(pc.list_value_length(frames[s].hashes))
            for i in np.flatnonzero((n_img > 0) & (n_frm > 0)).tolist():
                errors.setdefault(i, ("wrong_type", f"{s} has both images and a video"))
            for i in np.flatnonzero(
                (n_img == 0) & (n_frm == 0) & (_np(pc.utf8_length(col[f"{s}_text"])) == 0)
            ).tolist():
                errors.setdefault(i, ("empty_side", f"{s} has neither text nor media"))
        ok = np.ones(n, dtype=bool)
        bad_rows = np.fromiter(errors, dtype=np.int64, count=len(errors))
        ok[bad_rows] = False
        problems += [
            (f"{file_label}:{r}", *errors[i]) for i, r in zip(bad_rows.tolist(), _np(col["row"])[bad_rows].tolist())
        ]

        # Sides: media list (images, or the one video), modality, id.
        document = dataset.modality == "visdoc"
        side: dict[str, dict[str, Any]] = {}
        for s in ("qry", "pos"):
            vshas, has_video, videos = self._videos(frames[s].hashes, refs)
            media = pc.if_else(
                pa.array(has_video), lists_from(np.flatnonzero(has_video), vshas.drop_null(), n), images[s].hashes
            )
            code = _side_code(has_video, _np(pc.list_value_length(media)), document | images[s].pages)
            side[s] = {
                "media": media,
                "code": code,
                "id": self.hasher.side_ids(col[f"{s}_text"], media),
                "videos": videos,
            }

        # Negatives: empty ones dropped (MMEB writes "" for none), the rest are sides too.
        neg_text = pc.list_flatten(col["neg_text"])
        neg_n_media = _np(pc.list_value_length(neg.hashes))
        neg_keep = ((neg_n_media > 0) | (_np(pc.utf8_length(neg_text)) > 0)) & ok[neg_owner]
        neg_text, neg_media = neg_text.filter(pa.array(neg_keep)), neg.hashes.filter(pa.array(neg_keep))
        neg_owner = neg_owner[neg_keep]
        neg_ids = self.hasher.side_ids(neg_text, neg_media)
        neg_code = _side_code(np.zeros(len(neg_ids), dtype=bool), neg_n_media[neg_keep], document | neg.pages[neg_keep])
        negatives = lists_from(neg_owner, neg_ids, n)

        # Pairs; what the rows leave open comes from the dataset's configuration.
        src = self.spec.name
        dataset_name = pc.fill_null(col["dataset"], dataset.name or default_name)
        split = pc.fill_null(col["split"], dataset.split)
        if dataset.task:
            task = pc.fill_null(col["task"], dataset.task)
        else:
            names = pc.unique(dataset_name)
            known_task = pa.array([KNOWN_TASKS.get(x, "unknown") for x in names.to_pylist()], pa.string())
            task = pc.coalesce(col["task"], known_task.take(pc.index_in(dataset_name, value_set=names)))
        if dataset.modality:
            modality = pa.array([dataset.modality] * n, pa.string())
        else:
            modality = _modality(np.maximum(side["qry"]["code"], side["pos"]["code"]))
        pair_ids = self.hasher.pair_ids(src, dataset_name, split, side["qry"]["id"], side["pos"]["id"], negatives)
        # Pairs already in the warehouse were committed with their sides and media: stage none of it again.
        fresh = ok & ~self.known.contains(pair_ids)
        pairs = pa.table(
            {
                "pair_id": pair_ids,
                "source": pa.array([src] * n, pa.string()),
                "dataset_name": dataset_name,
                "modality": modality,
                "task": task,
                "split": split,
                "qry_side_id": side["qry"]["id"],
                "pos_side_id": side["pos"]["id"],
                "negatives": negatives,
                "source_file": pa.array([file_label] * n, pa.string()),
                "source_row": col["row"],
            }
        )
        pairs = _first_of_each(_where(pairs, fresh), "pair_id")  # a repeated row keeps its first position

        def sides_of(ids_: pa.Array, text: pa.Array, media: pa.Array, code: np.ndarray, keep: np.ndarray) -> pa.Table:
            table = pa.table(
                {
                    "side_id": ids_,
                    "text": text.cast(pa.string()),
                    "media": media.cast(PATHS),
                    "modality": _modality(code),
                }
            )
            return _where(table, keep)

        sides = pa.concat_tables(
            [
                sides_of(side[s]["id"], col[f"{s}_text"], side[s]["media"], side[s]["code"], fresh)
                for s in ("qry", "pos")
            ]
            + [sides_of(neg_ids, neg_text, neg_media, neg_code, fresh[neg_owner])]
        )
        media_rows: list[dict] = []
        frame_rows: list[dict] = []
        for i, (video, fs) in [kv for s in ("qry", "pos") for kv in side[s]["videos"].items()]:
            if fresh[i] and video.sha256 not in self.staged_media:
                self.staged_media.add(video.sha256)
                media_rows.append(video.as_row())
                frame_rows += [
                    {"video_sha256": video.sha256, "frame_index": k, "frame_sha256": h} for k, h in enumerate(fs)
                ]
        for mapped in (images["qry"], images["pos"], frames["qry"], frames["pos"], neg):
            ref_idx, owner = mapped.used
            for u in np.unique(ref_idx[fresh[owner]]).tolist():
                info = refs.infos[u]
                if info.sha256 not in self.staged_media:
                    self.staged_media.add(info.sha256)
                    media_rows.append(info.as_row("frame" if mapped.kind == "frame" and info.kind == "image" else None))

        # Sorted by key: DuckDB maintains the primary-key index markedly faster for ordered inserts, and the
        # commit, not this preparation, is what bounds ingest speed.
        out = {
            "sides": _first_of_each(sides, "side_id").sort_by("side_id"),
            "pairs": pairs.sort_by("pair_id"),
            "media": tables.rows("media", media_rows),
            "video_frames": tables.rows("video_frames", frame_rows),
            # Annotations of every good row, known pair or not: a new gpt text for an old pair is new content.
            "annotations": self._annotations(col, side, ok, file_label),
            "quarantine": self.quarantine(problems) if problems else None,
        }
        return {k: v for k, v in out.items() if v is not None and v.num_rows}

    def _annotations(
        self, col: dict[str, pa.Array], side: dict[str, dict], ok: np.ndarray, origin: str
    ) -> pa.Table | None:
        """Imported assistant texts (UME-R1 SFT) as annotations of their side, raw kept byte for byte."""
        out: list[dict] = []
        for s in ("qry", "pos"):
            has = _np(pc.is_valid(col[f"{s}_raw"])) & ok
            if not has.any():
                continue
            mask = pa.array(has)
            for sid, raw in zip(side[s]["id"].filter(mask).to_pylist(), col[f"{s}_raw"].filter(mask).to_pylist()):
                parsed = parse_assistant(raw)
                out.append(
                    {
                        "annotation_id": ids.annotation_id(ids.import_key(sid, IMPORTED_MODEL, IMPORTED_PROMPT, raw)),
                        "side_id": sid,
                        "request_key": None,
                        "model": IMPORTED_MODEL,
                        "prompt_version": IMPORTED_PROMPT,
                        "reasoning": parsed.reasoning,
                        "summary": parsed.summary,
                        "raw": raw,
                        "format_status": parsed.status,
                        "closed_answer": parsed.closed_answer,
                        "origin": origin,
                        "created_at": self.started,
                    }
                )
        return tables.rows("annotations", out) if out else None


# -- batching and commits --------------------------------------------------------------------------------------
class _Committer:
    """Gathers staged tables into batches of about `batch_rows` source rows; one commit per batch, in order.

    A batch commits in a background thread while the next is prepared (DuckDB and Arrow release the GIL). At
    most one commit is in flight, so batches land in source order.
    """

    def __init__(self, warehouse: Warehouse, batch_rows: int, on_counts: Callable[[dict[str, int]], None]):
        self.warehouse = warehouse
        self.batch_rows = batch_rows
        self.on_counts = on_counts
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="umedata-commit")
        self.pending: Future | None = None
        self.batch: StagedBatch | None = None
        self.rows = 0

    def add(self, staged: dict[str, pa.Table], rows: int = 0, modes: dict[str, str] | None = None) -> None:
        if self.batch is None:
            self.batch = self.warehouse.stage()
        for name, table in staged.items():
            self.batch.add(name, table, mode=(modes or {}).get(name, "ignore"))
        self.rows += rows
        if self.rows >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self.batch is None:
            return
        batch, self.batch, self.rows = self.batch, None, 0
        self.wait()
        self.pending = self.pool.submit(self.warehouse.commit, batch)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.on_counts(pending.result())

    def close(self) -> None:
        try:
            self.flush()
            self.wait()
        finally:
            self.pool.shutdown()

    def abandon(self) -> None:
        """After an error: let a commit in flight finish, drop the half-built batch (a re-run re-derives it)."""
        try:
            if self.pending is not None:
                self.pending.result()
        finally:
            self.pool.shutdown()
            if self.batch is not None and self.batch.partial_dir.exists():
                shutil.rmtree(self.batch.partial_dir, ignore_errors=True)


# -- the entry point -------------------------------------------------------------------------------------------
def _files(spec: SourceSpec, dataset: DatasetSpec) -> list[Path]:
    p = Path(dataset.path)
    full = p if p.is_absolute() else spec.root / p
    if glob.has_magic(str(full)):
        return sorted(Path(x) for x in glob.glob(str(full), recursive=True))
    return [full]


def _label(spec: SourceSpec, path: Path) -> str:
    """How a file is named in quarantine and pairs.source_file: relative to the root when inside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(spec.root).as_posix()
    except ValueError:
        return str(path)


def _source_row(warehouse: Warehouse, spec: SourceSpec) -> tuple[pa.Table | None, str, pa.Array]:
    """(sources row to stage or None, its mode, the ids of the pairs this source already has)."""
    row = {
        "name": spec.name,
        "layout": spec.layout,
        "root": str(spec.root),
        "licence": spec.licence,
        "provenance": spec.provenance,
        "allow_external_teacher": spec.allow_external_teacher,
        "options": json.dumps(spec.options(), sort_keys=True),
        "registered_at": utcnow(),
    }
    with warehouse.reader() as con:
        existing = (
            con.sql(
                "SELECT layout, root, licence, provenance, allow_external_teacher, options::VARCHAR AS options, "
                "registered_at FROM sources WHERE name = ?",
                params=[spec.name],
            )
            .to_arrow_table()
            .to_pylist()
        )
        known = con.sql("SELECT pair_id FROM pairs WHERE source = ?", params=[spec.name]).to_arrow_table()["pair_id"]
    if not existing:
        return pa.Table.from_pylist([row]), "ignore", known
    old = existing[0]
    same = all(old[k] == row[k] for k in ("layout", "root", "licence", "provenance", "allow_external_teacher"))
    if same and json.loads(old["options"] or "null") == spec.options():
        return None, "ignore", known
    row["registered_at"] = old["registered_at"]  # a changed configuration updates the row, not its age
    return pa.Table.from_pylist([row]), "replace", known


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
    source_row, source_mode, known = _source_row(warehouse, spec)
    run = _Run(warehouse, spec, known)
    summary = run.summary

    def count(c: dict[str, int]) -> None:
        summary.pairs_new += c.get("pairs", 0)
        summary.sides_new += c.get("sides", 0)
        summary.media_new += c.get("media", 0)
        summary.annotations_new += c.get("annotations", 0)
        summary.quarantine_new += c.get("quarantine", 0)

    committer = _Committer(warehouse, batch_rows, count)
    try:
        if source_row is not None:
            committer.add({"sources": source_row}, modes={"sources": source_mode})
        for dataset in spec.datasets:
            adapter = adapter_for(spec.layout, dataset)
            files = _files(spec, dataset)
            if not files:
                committer.add(
                    {"quarantine": run.quarantine([(dataset.path, "missing_file", "the path matches no file")])}
                )
            for path in files:
                try:
                    for block in adapter.read(path, batch_rows):
                        chunk = adapter.to_chunk(block, run.resolver.store_bytes)
                        committer.add(run.process(chunk, dataset, _label(spec, block.file), path.stem), rows=chunk.num_rows)
                        if progress is not None:
                            progress(summary.rows_seen)
                except FileError as exc:
                    committer.add({"quarantine": run.quarantine([(_label(spec, path), exc.reason, exc.detail)])})
        committer.close()
    except BaseException:
        committer.abandon()
        raise
    finally:
        run.hasher.close()
    summary.reasons = dict(sorted(run.reasons.items()))
    summary.seconds = time.perf_counter() - t0
    _record_run(warehouse, run)
    return summary


def _record_run(warehouse: Warehouse, run: _Run) -> None:
    s = run.summary
    row = {
        "run_id": s.run_id,
        "source": s.source,
        "started_at": run.started,
        "finished_at": utcnow(),
        "rows_seen": s.rows_seen,
        "pairs_new": s.pairs_new,
        "sides_new": s.sides_new,
        "media_new": s.media_new,
        "annotations_new": s.annotations_new,
        "quarantined": s.quarantined,
        "reasons": json.dumps(s.reasons),
    }
    batch = warehouse.stage()
    batch.add("ingest_runs", pa.Table.from_pylist([row]), mode="ignore")
    warehouse.commit(batch)
