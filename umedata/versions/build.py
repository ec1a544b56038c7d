"""Building versions: select -> rows -> content id -> version directory (once) -> registry (every build), streamed.

`build_sft_set` selects (umedata/versions/select.py) and builds; `build_version` builds a version of a given list of
pairs (an RL set curated from rollouts is its caller). Both go the same way, and no step holds the rows:

1. fingerprint (umedata/versions/fingerprint.py): what the rows are made from, summed cheaply. A registered version
   built from the same fingerprint, present in the target store, is the answer: the build is recorded and no row
   is assembled (a rebuild costs a scan of the selection and the annotations);
2. select, inside DuckDB: TEMP tables on a read-only warehouse session with a memory limit, so DuckDB spills
   rather than growing the process; the split's connected components run in Python over integers;
3. decontaminate (umedata/versions/decontam.py) and the quality gate (umedata/checks/gate.py), over the kept table;
4. pieces: DuckDB writes the rows' pieces (the pair, its sides, its annotations) as parquet bucketed by the row's
   place in canonical order, and the media they show with their files; the warehouse is closed after this step;
5. assemble, hash, write: bucket after bucket (umedata/versions/assemble.py) the rows are put together in
   canonical order, folded into the content id (ContentHasher, equal to content_id), written as shards
   (ShardWriter) into a temporary directory, and their narrow columns kept aside for the counts and teachers;
6. a short read session for the lineage; then the media are copied, the manifest and card written, and the
   directory moved into place under its id - or discarded when that id is already there (same rows, same bytes);
7. a short write transaction records the build (with its fingerprint) and, the first time, the version.

Memory: one bucket of rows (DEFAULT_BUCKET_ROWS), DuckDB's memory limit (UMEDATA_BUILD_MEMORY, default 768 MB),
and integers per pair for the split. Disk: scratch beside the warehouse (<file>.build/, removed after the build)
of about the rows' size twice (the pieces, and the id's spooled sections).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from umedata import sql
from umedata.checks import gate
from umedata.clock import iso, utcnow
from umedata.errors import UserError
from umedata.format import FORMAT_VERSION
from umedata.ids import digest
from umedata.versions import assemble, card, fingerprint, registry
from umedata.versions.content import ID_SCHEME, ROW_SCHEMA, ContentHasher
from umedata.versions.decontam import flag
from umedata.versions.select import SftSpec, arrange, stage_candidates, stage_selection
from umedata.versions.store import (
    PARQUET_OPTIONS,
    STORE_MEDIA_ROOT,
    ShardWriter,
    VersionExists,
    VersionStore,
    read_manifest,
)
from umedata.warehouse import Warehouse

DEFAULT_ROWS_PER_SHARD = 100_000
DEFAULT_ROW_GROUP_SIZE = 10_000
DEFAULT_BUCKET_ROWS = 50_000  # rows assembled at once: ~50 MB of Arrow at 1 kB a row
ENV_MEMORY = "UMEDATA_BUILD_MEMORY"
DEFAULT_MEMORY = "768MB"  # DuckDB's share of a build; with a bucket and Python, peak RSS stays near 1.2 GB


class EmptySelection(UserError, ValueError):
    """A version needs at least one row."""


@dataclass
class BuildResult:
    version_id: str
    path: str  # the version directory
    wrote_files: bool  # False: the same content was already there, nothing was written
    build_id: str
    parents: list[str]
    counts: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)
    reused: bool = False  # True: found by fingerprint, no row assembled

    def summary(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "path": self.path, "wrote_files": self.wrote_files,
                "build_id": self.build_id, "parents": self.parents, "n_rows": self.manifest["n_rows"],
                "by_split": self.counts["by_split"], "rows": self.counts["rows"]}


def code_version() -> str:
    """The git commit of this checkout (+dirty), else the package version. Recorded, never hashed into an id."""
    from umedata import __version__

    repo = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return f"{head}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return f"umedata-{__version__}"


def summarise(con: duckdb.DuckDBPyConnection, n_rows: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Counts per dataset/modality/split and the teachers behind the annotations (relation version_rows)."""
    per = sql.query(con, "version_counts").to_pylist()
    teachers = sql.query(con, "version_teachers").to_pylist()
    counts: dict[str, Any] = {"total": n_rows, "by_split": {}, "by_dataset": {}, "by_modality": {}, "rows": per}
    for r in per:
        for key, val in (("by_split", r["split"]), ("by_dataset", r["dataset_name"]), ("by_modality", r["modality"])):
            counts[key][val] = counts[key].get(val, 0) + r["pairs"]
    return counts, teachers


@dataclass
class _Build:
    """One build's settings and state, from the fingerprint to the registry (see the module docstring)."""

    wh: Warehouse
    store: str | os.PathLike[str] | None
    kind: str
    name: str
    selection: dict[str, Any]
    manifest_extra: dict[str, Any] | None
    build_filters: dict[str, Any] | None
    query_name: str
    query_sql: str
    parents: list[str] | None
    rows_per_shard: int
    row_group_size: int
    keep_contaminated: bool
    bucket_rows: int = DEFAULT_BUCKET_ROWS
    memory_limit: str | None = None
    fingerprint: str = ""
    candidates: int = 0
    decontamination: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    result: BuildResult | None = None

    def __post_init__(self) -> None:
        self.vstore = VersionStore(str(self.store) if self.store is not None else str(self.wh.path.resolve().parent))
        self.started = utcnow()
        self.code = code_version()
        self.scratch = self.wh.path.with_name(self.wh.path.name + ".build") / uuid.uuid4().hex
        self.pieces = self.scratch / "pieces"
        self.target: str | None = None
        self.media = 0
        self.sources: pa.Table | None = None

    def __enter__(self) -> _Build:
        self.pieces.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.target is not None:
            self.vstore.abort(self.target)
        shutil.rmtree(self.scratch, ignore_errors=True)
        try:
            self.scratch.parent.rmdir()  # the .build folder goes when no build is left in it
        except OSError:
            pass

    @contextmanager
    def session(self) -> Any:
        """A read-only warehouse session with the build's memory limit and spill folder."""
        with self.wh.reader() as con:
            sql.execute(con, "version_build_settings", {
                "memory_limit": self.memory_limit or os.environ.get(ENV_MEMORY) or DEFAULT_MEMORY,
                "temp_directory": str(self.scratch / "duckdb"),
            })
            yield con

    # -- 1. a registered version with the same fingerprint ------------------------------------------------------
    def reuse(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Find the version by fingerprint; if its directory is in the target store, prepare the result."""
        version_id = fingerprint.registered(con, self.fingerprint)
        if version_id is None or not self.vstore.has_version(version_id):
            return False
        known = sql.query(con, "registry_get", {"version_id": version_id}).to_pylist()
        vdir = self.vstore.url(self.vstore.version_path(version_id))
        manifest = read_manifest(vdir)
        self.result = self._result(version_id, vdir, manifest, wrote=False, lineage=list(known[0]["parents"]))
        self.result.reused = True
        return True

    # -- 3, 4. decontaminate, gate, pieces ------------------------------------------------------------------------
    def stage(self, con: duckdb.DuckDBPyConnection) -> int:
        """Over the TEMP table kept: leave out contamination, pass the gate, write the pieces; returns rows."""
        self.candidates = self.selection.get("candidates", self.candidates)
        flagged, self.decontamination = flag(con, self.keep_contaminated)
        if self.decontamination["excluded"]:
            sql.temp_table(con, "excluded_pairs", flagged.select(["pair_id"]))
            sql.execute(con, "sft_kept_exclude")
        # The quality gate: a batch whose suite failed (and nobody overrode) cannot be promoted; raises if so.
        self.checks = gate.promotion(con)
        params = {"bucket_rows": int(self.bucket_rows)}
        n = int(sql.execute(con, "sft_rows_kept", {**params, "path": str(self.pieces / "kept")})[0][0])
        if n == 0:
            self._empty()
        for piece in ("sides", "annotations"):
            sql.execute(con, assemble.QUERIES[piece], {**params, "path": str(self.pieces / piece)})
        # What the manifest needs from the warehouse besides the rows: the media they show (and where their files
        # are), and the sources table (a few rows).
        self.media = int(sql.execute(con, "version_piece_media", {
            "glob": str(self.pieces / "sides" / "*" / "*.parquet"), "path": str(self.scratch / "media.parquet")})[0][0])
        self.sources = sql.query(con, "version_source_rows")
        return n

    def _empty(self) -> None:
        raise EmptySelection(
            f"the selection gave no pairs with validated annotations on both sides "
            f"({self.candidates} candidates"
            + (f"; {self.decontamination['excluded']} left out as eval-set contamination)"
               if self.decontamination.get("excluded") else ")")
        )

    # -- 5-7. assemble, hash and write; media; manifest; registry ---------------------------------------------
    def write(self) -> BuildResult:
        if self.result is not None:  # reused: only the build is recorded
            return self._register(self.result, media=None)
        target = self.target = self.vstore.begin()
        writer = ShardWriter(self.vstore.fs, target, self.rows_per_shard, self.row_group_size)
        hasher = ContentHasher(str(self.scratch))
        summary = _Summary(self.scratch)
        try:
            # Three at once: the next bucket is assembled and this one hashed in threads while this one is written
            # (Arrow, parquet, sha256 and file writes release the GIL): two buckets in memory at most.
            with ThreadPoolExecutor(2, thread_name_prefix="umedata-build") as pool:
                n = assemble.buckets(self.pieces)
                nxt = pool.submit(assemble.bucket, self.pieces, 0, FORMAT_VERSION) if n else None
                for b in range(n):
                    rows = nxt.result()
                    nxt = pool.submit(assemble.bucket, self.pieces, b + 1, FORMAT_VERSION) if b + 1 < n else None
                    if rows.num_rows:
                        hashing = pool.submit(hasher.add, rows)
                        writer.add(rows)
                        summary.add(rows)
                        hashing.result()
                splits = writer.close()
                shutil.rmtree(self.pieces, ignore_errors=True)
                if hasher.rows == 0:
                    self._empty()
                folding = pool.submit(hasher.hexdigest)  # reads the spooled sections back while DuckDB counts
                counts, teachers, sources = summary.finish(hasher.rows, self.sources)
                version_id = folding.result()
        except BaseException:
            writer.abort()
            summary.close()
            raise
        with self.session() as con:
            known = sql.query(con, "registry_get", {"version_id": version_id}).to_pylist()
            default_parent = sql.query(con, "version_registry_latest", {"name": self.name, "exclude": version_id})

        vdir = self.vstore.url(self.vstore.version_path(version_id))
        if known and known[0]["dropped_at"] is None:
            lineage = list(known[0]["parents"])
        elif self.parents is not None:
            lineage = list(self.parents)
        else:
            lineage = default_parent.column("version_id").to_pylist()

        media = self.scratch / "media.parquet"
        wrote = False
        if self.vstore.has_version(version_id):
            manifest = read_manifest(vdir)
        else:
            manifest = {
                "version_id": version_id,
                "name": self.name,
                "kind": self.kind,
                "format_version": FORMAT_VERSION,
                "parents": lineage,
                "n_rows": hasher.rows,
                "splits": splits,
                "media_root": STORE_MEDIA_ROOT,
                "media_mode": "reference",
                "counts": counts,
                "selection": self.selection,
                "teachers": teachers,
                "sources": sources,
                "checks": self.checks,  # the checks version, its settings, suite results per batch, overrides
                "decontamination": self.decontamination,
                **(self.manifest_extra or {}),
                "content": {"id_scheme": ID_SCHEME, "computed_by": "umedata.versions.content.ContentHasher",
                            "media": self.media},
                "columns": ROW_SCHEMA.names,
                "layout": {"rows_per_shard": self.rows_per_shard, "row_group_size": self.row_group_size,
                           "parquet": PARQUET_OPTIONS},
                "code_version": self.code,
                "built_at": iso(self.started),
            }
            self.vstore.ensure_media(_media_rows(media))
            try:
                self.vstore.finish(target, version_id, manifest, card.render(manifest))
                wrote = True
            except VersionExists:  # a concurrent build of the same content finished first: same bytes
                manifest = read_manifest(vdir)
            self.target = None
        result = self._result(version_id, vdir, manifest, wrote=wrote, lineage=lineage)
        return self._register(result, media=pq.read_table(media, columns=["sha256"]).column("sha256"))

    def _result(self, version_id: str, vdir: str, manifest: dict[str, Any], *, wrote: bool,
                lineage: list[str]) -> BuildResult:
        build_id = digest("build", version_id, self.name, self.started.isoformat(), os.urandom(8).hex())
        return BuildResult(version_id=version_id, path=vdir, wrote_files=wrote, build_id=build_id,
                           parents=list(manifest.get("parents", lineage)), counts=manifest["counts"], manifest=manifest)

    def _register(self, result: BuildResult, media: Any) -> BuildResult:
        manifest = result.manifest
        registry.register(
            self.wh,
            version={
                "version_id": result.version_id, "name": self.name, "kind": manifest.get("kind", self.kind),
                "parents": result.parents, "path": result.path,
                "media_root": manifest.get("media_root"), "format_version": manifest["format_version"],
                "n_rows": manifest["n_rows"], "splits": manifest["counts"]["by_split"],
                "counts": manifest["counts"]["rows"], "manifest": manifest, "registered_at": self.started,
            },
            media=media if media is not None else [],
            build={
                "build_id": result.build_id, "version_id": result.version_id, "name": self.name,
                "query_name": self.query_name, "query_sql": self.query_sql, "filters": self.build_filters or {},
                "wrote_files": result.wrote_files, "code_version": self.code, "built_at": self.started,
                "fingerprint": self.fingerprint,
            },
        )
        return result


def _media_rows(path: Path):
    """The media a version needs (sha256, relpath, source_path), read back batch by batch."""
    for b in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        yield from b.to_pylist()


class _Summary:
    """The manifest's counts, teachers and sources, from the rows as they stream past: their narrow columns go to a
    DuckDB table of their own (spilled under a small memory limit), the queries run on it at the end."""

    COLUMNS = ["pair_id", "dataset_name", "modality", "split", "source", "qry_side_id", "pos_side_id",
               "qry_teacher_model", "qry_prompt_version", "pos_teacher_model", "pos_prompt_version"]

    def __init__(self, scratch: Path):
        self.con = sql.memory()
        sql.execute(self.con, "version_build_settings",
                    {"memory_limit": "256MB", "temp_directory": str(scratch / "summary")})
        self.started = False

    def add(self, rows: pa.Table) -> None:
        rel = self.con.from_arrow(rows.select(self.COLUMNS))
        if self.started:
            rel.insert_into("version_rows")
        else:
            rel.create("version_rows")
            self.started = True

    def finish(self, n_rows: int, sources: pa.Table) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict]]:
        try:
            counts, teachers = summarise(self.con, n_rows)
            self.con.register("sources", sources)
            return counts, teachers, sql.query(self.con, "version_sources").to_pylist()
        finally:
            self.close()

    def close(self) -> None:
        self.con.close()


def build_sft_set(
    warehouse: Warehouse | str | os.PathLike[str] | None = None,
    spec: SftSpec | None = None,
    store: str | os.PathLike[str] | None = None,
    parents: list[str] | None = None,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    *,
    bucket_rows: int = DEFAULT_BUCKET_ROWS,
    memory_limit: str | None = None,
) -> BuildResult:
    """Build (or find) the SFT version the spec selects, and record the build.

    Same rows -> same id and byte-identical shards; an existing version directory is left untouched (no file is
    written) and only the build is recorded. parents: explicit lineage; by default the latest registered version
    built under the same name. bucket_rows / memory_limit: how much a build holds (module docstring).
    """
    spec = spec or SftSpec()
    wh = registry.as_warehouse(warehouse)
    job = _Build(
        wh, store, kind="sft", name=spec.name, selection={}, manifest_extra=None,
        build_filters={**spec.to_json(), "parents": parents}, query_name=spec.query_name(), query_sql=spec.query_sql(),
        parents=parents, rows_per_shard=rows_per_shard, row_group_size=row_group_size,
        keep_contaminated=spec.keep_contaminated, bucket_rows=bucket_rows, memory_limit=memory_limit,
    )
    with job:
        # One read session selects and writes the pieces; rows are joined to the annotations chosen here by id, so
        # a teacher committing before the next session changes nothing.
        with job.session() as con:
            stage_selection(con, spec)
            job.fingerprint = fingerprint.complete(con, fingerprint.of_selection(con, spec.to_json()), kind="sft",
                                                   keep_contaminated=spec.keep_contaminated)
            if not job.reuse(con):
                n = stage_candidates(con, spec)
                info = arrange(con, spec, n)
                job.selection = {
                    "query_name": spec.query_name(), "query": spec.query_sql(), "filters": spec.to_json(),
                    "candidates": info["candidates"], "after_mix": info["after_mix"], "quotas": info["quotas"],
                }
                job.manifest_extra = {"split": info["split"]}
                job.stage(con)
        return job.write()


def build_version(
    warehouse: Warehouse,
    kept: pa.Table,
    *,
    kind: str,
    name: str,
    selection: dict[str, Any],
    manifest_extra: dict[str, Any] | None = None,
    build_filters: dict[str, Any] | None = None,
    query_name: str = "",
    query_sql: str = "",
    store: str | os.PathLike[str] | None = None,
    parents: list[str] | None = None,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    keep_contaminated: bool = False,
    bucket_rows: int = DEFAULT_BUCKET_ROWS,
    memory_limit: str | None = None,
) -> BuildResult:
    """Rows -> content id -> version directory (once) -> registry (every build), for any kind of version.

    Pairs sharing content with a registered eval set are left out first (umedata/versions/decontam.py), unless
    `keep_contaminated`; the manifest's `decontamination` records how many and against which sets.

    `kept` says which pairs and annotations: (pair_id, split, split_group, qry_annotation_id, pos_annotation_id).
    The rows are assembled from the warehouse as sft_rows.sql defines them (every kind has the same columns),
    hashed, and written unless a directory with that id exists. `selection` and `manifest_extra` go into the
    manifest (what chose the rows: they are recorded, never hashed); `build_filters`/`query_*` into the build's
    registry row.
    """
    job = _Build(
        warehouse, store, kind=kind, name=name, selection=selection, manifest_extra=manifest_extra,
        build_filters=build_filters, query_name=query_name, query_sql=query_sql, parents=parents,
        rows_per_shard=rows_per_shard, row_group_size=row_group_size, keep_contaminated=keep_contaminated,
        bucket_rows=bucket_rows, memory_limit=memory_limit,
    )
    with job:
        with job.session() as con:
            sql.temp_table(con, "kept", kept)
            job.fingerprint = fingerprint.complete(con, fingerprint.of_kept(con), kind=kind,
                                                   keep_contaminated=keep_contaminated)
            if not job.reuse(con):
                job.candidates = kept.num_rows
                job.stage(con)
        return job.write()
