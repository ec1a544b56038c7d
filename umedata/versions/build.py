"""Building versions: select -> rows -> content id -> version directory (once) -> registry (every build).

`build_sft_set` selects (umedata/versions/select.py) and hands the kept pairs to `build_version`, the writer every
kind of version shares (an RL set curated from rollouts is another caller). The warehouse is held (read-only) only
while candidates and rows are read, and once more, briefly, to record the build; mixing, splitting, hashing,
counting and writing happen with the file closed.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from umedata import sql
from umedata.checks import gate
from umedata.clock import iso, utcnow
from umedata.errors import UserError
from umedata.format import FORMAT_VERSION
from umedata.ids import digest
from umedata.versions import card, registry
from umedata.versions.content import ID_SCHEME, ROW_SCHEMA, conform, content_id
from umedata.versions.decontam import decontaminate
from umedata.versions.select import SftSpec, arrange, candidates
from umedata.versions.store import PARQUET_OPTIONS, STORE_MEDIA_ROOT, VersionExists, VersionStore, read_manifest
from umedata.warehouse import Warehouse

DEFAULT_ROWS_PER_SHARD = 100_000
DEFAULT_ROW_GROUP_SIZE = 10_000


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


def summarise(rows: pa.Table) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Counts per dataset/modality/split and the teachers behind the annotations."""
    con = sql.memory()
    try:
        con.register("version_rows", rows)
        per = sql.query(con, "version_counts").to_pylist()
        teachers = sql.query(con, "version_teachers").to_pylist()
    finally:
        con.close()
    counts: dict[str, Any] = {"total": rows.num_rows, "by_split": {}, "by_dataset": {}, "by_modality": {}, "rows": per}
    for r in per:
        for key, val in (("by_split", r["split"]), ("by_dataset", r["dataset_name"]), ("by_modality", r["modality"])):
            counts[key][val] = counts[key].get(val, 0) + r["pairs"]
    return counts, teachers


def build_sft_set(
    warehouse: Warehouse | str | os.PathLike[str] | None = None,
    spec: SftSpec | None = None,
    store: str | os.PathLike[str] | None = None,
    parents: list[str] | None = None,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
) -> BuildResult:
    """Build (or find) the SFT version the spec selects, and record the build.

    Same rows -> same id and byte-identical shards; an existing version directory is left untouched (no file is
    written) and only the build is recorded. parents: explicit lineage; by default the latest registered version
    built under the same name.
    """
    spec = spec or SftSpec()
    wh = registry.as_warehouse(warehouse)
    # Two short read sessions here and more in build_version, so a writer elsewhere waits for seconds at most; the
    # rows are joined to the annotations chosen here by id, so a teacher committing in between changes nothing.
    with wh.reader() as con:
        cands = candidates(con, spec)
    kept, info = arrange(cands, spec)
    selection = {
        "query_name": spec.query_name(), "query": spec.query_sql(), "filters": spec.to_json(),
        "candidates": info["candidates"], "after_mix": info["after_mix"], "quotas": info["quotas"],
    }
    return build_version(
        wh, kept, kind="sft", name=spec.name, selection=selection, manifest_extra={"split": info["split"]},
        build_filters={**spec.to_json(), "parents": parents}, query_name=spec.query_name(),
        query_sql=spec.query_sql(), store=store, parents=parents, rows_per_shard=rows_per_shard,
        row_group_size=row_group_size, keep_contaminated=spec.keep_contaminated,
    )


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
) -> BuildResult:
    """Rows -> content id -> version directory (once) -> registry (every build), for any kind of version.

    Pairs sharing content with a registered eval set are left out first (umedata/versions/decontam.py), unless
    `keep_contaminated`; the manifest's `decontamination` records how many and against which sets.

    `kept` says which pairs and annotations: (pair_id, split, split_group, qry_annotation_id, pos_annotation_id).
    The rows are assembled from the warehouse by sft_rows.sql (every kind has the same columns), hashed, and
    written unless a directory with that id exists. `selection` and `manifest_extra` go into the manifest (what
    chose the rows: they are recorded, never hashed); `build_filters`/`query_*` into the build's registry row.
    """
    wh = warehouse
    vstore = VersionStore(str(store) if store is not None else str(wh.path.resolve().parent))
    started = utcnow()
    with wh.reader() as con:
        sql.temp_table(con, "kept", kept)
        kept, decontamination = decontaminate(con, kept, keep_contaminated)
        if decontamination["excluded"]:
            sql.temp_table(con, "kept", kept)
        # The quality gate: a batch whose suite failed (and nobody overrode) cannot be promoted; raises if so.
        checks = gate.promotion(con)
        rows = sql.query(con, "sft_rows", {"format_version": FORMAT_VERSION})
        con.register("version_rows", rows)
        refs = sql.query(con, "version_media_refs")
        con.register("media_refs", refs)
        media_files = sql.query(con, "version_media_sources").to_pylist()
        sources = sql.query(con, "version_sources").to_pylist()
    if rows.num_rows == 0:
        raise EmptySelection(
            f"the selection gave no pairs with validated annotations on both sides "
            f"({selection.get('candidates', kept.num_rows)} candidates"
            + (f"; {decontamination['excluded']} left out as eval-set contamination)"
               if decontamination["excluded"] else ")")
        )
    rows = conform(rows).sort_by([("split", "ascending"), ("pair_id", "ascending")])  # canonical order
    version_id = content_id(rows)
    with wh.reader() as con:
        known = sql.query(con, "registry_get", {"version_id": version_id}).to_pylist()
        default_parent = sql.query(con, "version_registry_latest", {"name": name, "exclude": version_id})

    vdir = vstore.url(vstore.version_path(version_id))  # a URL for remote stores, a path locally
    code = code_version()
    if known and known[0]["dropped_at"] is None:
        lineage = list(known[0]["parents"])
    elif parents is not None:
        lineage = list(parents)
    else:
        lineage = default_parent.column("version_id").to_pylist()

    wrote = False
    if vstore.has_version(version_id):
        manifest = read_manifest(vdir)
    else:
        counts, teachers = summarise(rows)
        manifest = {
            "version_id": version_id,
            "name": name,
            "kind": kind,
            "format_version": FORMAT_VERSION,
            "parents": lineage,
            "n_rows": rows.num_rows,
            "splits": {},  # filled by the writer
            "media_root": STORE_MEDIA_ROOT,
            "media_mode": "reference",
            "counts": counts,
            "selection": selection,
            "teachers": teachers,
            "sources": sources,
            "checks": checks,  # the checks version, its settings, suite results per batch, overrides
            "decontamination": decontamination,
            **(manifest_extra or {}),
            "content": {"id_scheme": ID_SCHEME, "computed_by": "umedata.versions.content.content_id",
                        "media": refs.num_rows},
            "columns": ROW_SCHEMA.names,
            "layout": {"rows_per_shard": rows_per_shard, "row_group_size": row_group_size, "parquet": PARQUET_OPTIONS},
            "code_version": code,
            "built_at": iso(started),
        }
        vstore.ensure_media(media_files)
        try:
            manifest["splits"] = vstore.write_version(
                version_id, rows, manifest, card.render({**manifest, "splits": _planned_splits(rows)}),
                rows_per_shard, row_group_size,
            )
            wrote = True
        except VersionExists:  # a concurrent build of the same content finished first: same bytes
            manifest = read_manifest(vdir)

    build_id = digest("build", version_id, name, started.isoformat(), os.urandom(8).hex())
    registry.register(
        wh,
        version={
            "version_id": version_id, "name": name, "kind": manifest.get("kind", kind),
            "parents": manifest.get("parents", lineage), "path": vdir,
            "media_root": manifest.get("media_root"), "format_version": manifest["format_version"],
            "n_rows": manifest["n_rows"], "splits": manifest["counts"]["by_split"], "counts": manifest["counts"]["rows"],
            "manifest": manifest, "registered_at": started,
        },
        media=refs.column("sha256").to_pylist(),
        build={
            "build_id": build_id, "version_id": version_id, "name": name, "query_name": query_name,
            "query_sql": query_sql, "filters": build_filters or {}, "wrote_files": wrote,
            "code_version": code, "built_at": started,
        },
    )
    return BuildResult(version_id=version_id, path=vdir, wrote_files=wrote, build_id=build_id,
                       parents=list(manifest.get("parents", lineage)), counts=manifest["counts"], manifest=manifest)


def _planned_splits(rows: pa.Table) -> dict[str, list[str]]:
    splits = rows.column("split").unique().to_pylist()
    return {s: [] for s in splits}
