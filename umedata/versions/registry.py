"""The registry of dataset versions in the warehouse: record builds, list, show, resolve, diff, drop.

A reference to a version (`ref`) is its id, a unique prefix of it, or a build name (then the latest build under that
name). Writes are single short transactions (the warehouse file is held only while they run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from umedata import sql, tables
from umedata.errors import UserError
from umedata.versions.store import read_manifest, read_rows
from umedata.warehouse import Warehouse


class UnknownVersion(UserError, LookupError):
    pass


def as_warehouse(warehouse: Warehouse | str | os.PathLike[str] | None) -> Warehouse:
    return warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)


def _jsonish(row: Mapping[str, Any]) -> dict[str, Any]:
    """JSON columns come back from DuckDB as text: parse them."""
    out = dict(row)
    for k in ("splits", "counts", "manifest", "filters"):
        if isinstance(out.get(k), str):
            out[k] = json.loads(out[k])
    return out


def resolve_with(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    hits = sql.query(con, "registry_resolve", {"ref": ref}).to_pylist()
    by_id = [h["version_id"] for h in hits if h["how"] == 0]
    if ref in by_id:
        return ref
    if len(by_id) == 1:
        return by_id[0]
    if len(by_id) > 1:
        raise UnknownVersion(f"{ref!r} is a prefix of {len(by_id)} versions; give more of the id")
    by_name = [h["version_id"] for h in hits if h["how"] == 1]
    if by_name:
        return by_name[0]
    raise UnknownVersion(f"no registered version matches {ref!r}")


def resolve(warehouse: Warehouse | str | None, ref: str) -> str:
    with as_warehouse(warehouse).reader() as con:
        return resolve_with(con, ref)


def get(warehouse: Warehouse | str | None, ref: str) -> dict[str, Any]:
    """The registry row of a version (manifest and counts parsed), with its names and number of builds."""
    with as_warehouse(warehouse).reader() as con:
        vid = resolve_with(con, ref)
        rows = sql.query(con, "registry_get", {"version_id": vid}).to_pylist()
    return _jsonish(rows[0])


def list_versions(warehouse: Warehouse | str | None, include_dropped: bool = False) -> list[dict[str, Any]]:
    with as_warehouse(warehouse).reader() as con:
        rows = sql.query(con, "registry_list", {"include_dropped": include_dropped}).to_pylist()
    return [_jsonish(r) for r in rows]


def builds(warehouse: Warehouse | str | None, ref: str) -> list[dict[str, Any]]:
    with as_warehouse(warehouse).reader() as con:
        vid = resolve_with(con, ref)
        rows = sql.query(con, "registry_builds", {"version_id": vid}).to_pylist()
    return [_jsonish(r) for r in rows]


def show(warehouse: Warehouse | str | None, ref: str) -> dict[str, Any]:
    """Registry row + every build + the manifest as it is on disk (when the directory is reachable)."""
    wh = as_warehouse(warehouse)
    info = get(wh, ref)
    info["builds"] = builds(wh, info["version_id"])
    try:
        info["manifest"] = read_manifest(info["path"])
        info["on_disk"] = True
    except (FileNotFoundError, OSError):
        info["on_disk"] = False
    return info


def register(
    warehouse: Warehouse,
    version: Mapping[str, Any],
    media: Iterable[str] | pa.Array | pa.ChunkedArray,
    build: Mapping[str, Any],
) -> None:
    """Record a build; the version row is inserted only the first time its id is seen. `media`: the sha256 of every
    medium the version uses (an Arrow array keeps a large list out of Python objects)."""
    vrow = dict(version)
    for k in ("splits", "counts", "manifest"):
        vrow[k] = json.dumps(vrow[k], ensure_ascii=False)
    brow = {**build, "filters": json.dumps(build["filters"], ensure_ascii=False)}
    version_columns = ("version_id", "name", "kind", "parents", "path", "media_root", "format_version", "n_rows",
                       "splits", "counts", "manifest", "registered_at")
    new_version = tables.rows("dataset_versions", [vrow], version_columns)
    if isinstance(media, (pa.Array, pa.ChunkedArray)):
        shas = pc.unique(media)
        new_media = pa.table({"version_id": pa.array([version["version_id"]] * len(shas), pa.string()),
                              "sha256": shas.cast(pa.string())})
    else:
        shas = sorted(set(media))
        new_media = tables.rows("dataset_version_media",
                                [{"version_id": version["version_id"], "sha256": h} for h in shas])
    new_build = tables.rows("dataset_version_builds", [brow])
    with warehouse.transaction() as con:
        con.register("new_version", new_version)
        con.register("new_media", new_media)
        con.register("new_build", new_build)
        sql.execute(con, "registry_register")


def drop(warehouse: Warehouse | str | None, ref: str) -> str:
    """Unregister a version; `gc` may then delete its files (and media nothing else uses)."""
    wh = as_warehouse(warehouse)
    vid = resolve(wh, ref)
    with wh.transaction() as con:
        sql.execute(con, "registry_drop", {"version_id": vid})
    return vid


def record_export(warehouse: Warehouse | str | None, version_id: str, dest: str, layout: str) -> None:
    with as_warehouse(warehouse).transaction() as con:
        sql.execute(con, "registry_record_export", {"version_id": version_id, "dest": dest, "layout": layout})


_DIFF_COLUMNS = ["pair_id", "dataset_name", "modality", "split", "qry_annotation_id", "pos_annotation_id"]


def diff_dirs(a_dir: str, b_dir: str) -> dict[str, Any]:
    """What changed from version directory A to B: pairs added/removed/moved/reannotated per dataset and modality,
    counts per split, and the manifest fields that differ (format, teachers, selection)."""
    ma, mb = read_manifest(a_dir), read_manifest(b_dir)
    con = sql.memory()
    try:
        con.register("a_rows", read_rows(a_dir, columns=_DIFF_COLUMNS))
        con.register("b_rows", read_rows(b_dir, columns=_DIFF_COLUMNS))
        by_change = sql.query(con, "version_diff").to_pylist()
    finally:
        con.close()
    totals: dict[str, int] = {}
    for r in by_change:
        totals[r["change"]] = totals.get(r["change"], 0) + r["pairs"]
    splits = sorted(set(ma["counts"]["by_split"]) | set(mb["counts"]["by_split"]))
    fields = ("format_version", "teachers", "sources", "selection", "parents", "split")
    return {
        "a": ma["version_id"], "b": mb["version_id"], "same_content": ma["version_id"] == mb["version_id"],
        "changes": totals,
        "by_dataset": by_change,
        "splits": {s: {"a": ma["counts"]["by_split"].get(s, 0), "b": mb["counts"]["by_split"].get(s, 0)} for s in splits},
        "manifest_changes": {k: {"a": ma.get(k), "b": mb.get(k)} for k in fields if ma.get(k) != mb.get(k)},
    }


def diff(warehouse: Warehouse | str | None, a: str, b: str) -> dict[str, Any]:
    wh = as_warehouse(warehouse)
    return diff_dirs(get(wh, a)["path"], get(wh, b)["path"])


EXPORT_LAYOUTS = ("parquet", "ume-r1-sft", "ume-r1-rl")


def export(
    warehouse: Warehouse | str | None,
    ref: str,
    dest: str,
    layout: str = "parquet",
    embed: bool = True,
    splits: Iterable[str] | None = None,
    gpt: str = "raw",
) -> dict[str, Any]:
    """Write a self-contained copy of a registered version to `dest` and record the export; returns a summary.

    layout: parquet (media embedded as bytes, or referenced files beside the shards with embed=False), or the
    UME-R1 SFT / RL JSON the reference scripts train on (splits and gpt apply to those).
    """
    from umedata.versions.export import export_parquet
    from umedata.versions.ume_r1 import export_ume_r1

    if layout not in EXPORT_LAYOUTS:
        raise UserError(f"export layout must be one of {', '.join(EXPORT_LAYOUTS)}, not {layout!r}")
    wh = as_warehouse(warehouse)
    info = get(wh, ref)
    if layout == "parquet":
        export_parquet(info["path"], dest, embed_media=embed)
        summary: dict[str, Any] = {"version_id": info["version_id"], "dest": str(dest),
                                   "layout": "parquet-embedded" if embed else "parquet-reference"}
    else:
        summary = export_ume_r1(info["path"], dest, layout=layout.rsplit("-", 1)[1], splits=splits, gpt=gpt)
        summary.setdefault("version_id", info["version_id"])
    record_export(wh, info["version_id"], str(dest), summary["layout"])
    return summary
