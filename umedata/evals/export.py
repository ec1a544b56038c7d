"""Registered eval sets -> an eval-set directory: the trainer's input for evaluation (layout in docs/interfaces.md).

    out = export_eval_sets(Warehouse(), names=["MSCOCO_i2t"])      # {eval_dir_id, path, wrote, sets}

Like a dataset version it is parquet + manifest.json, content-addressed and written once, beside the same media
store (`<store>/evalsets/<id>/`, media under `<store>/media/`, so `media_root` is "../../media"); the store defaults
to the warehouse's folder. The id hashes the sets' names and content ids: the same sets with the same content give
the same directory, wherever and whenever they are exported.

    data/sides.parquet    side_id, text, modality, images, video (media references, as in a version's rows)
    data/queries.parquet  eval_set, query_id, side_id, list_id
    data/lists.parquet    eval_set, list_id, position, side_id
    data/qrels.parquet    eval_set, query_id, side_id, grade
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Any

import pyarrow as pa

from umedata import sql
from umedata.clock import iso, utcnow
from umedata.errors import UserError
from umedata.format import FORMAT_VERSION
from umedata.ids import digest
from umedata.versions.store import STORE_MEDIA_ROOT, VersionStore, is_local, join, write_parquet
from umedata.warehouse import Warehouse

KIND = "eval_sets"
FILES = {"sides": "data/sides.parquet", "queries": "data/queries.parquet", "lists": "data/lists.parquet",
         "qrels": "data/qrels.parquet"}


class NoEvalSets(UserError, ValueError):
    """Nothing to export: no eval set registered, or a name that is not."""


def eval_dir_id(sets: list[dict[str, Any]]) -> str:
    return digest("eval_dir", FORMAT_VERSION, *[f"{s['name']}:{s['content_id']}" for s in sorted(sets, key=lambda s: s["name"])])


def export_eval_sets(warehouse: Warehouse, names: list[str] | None = None,
                     store: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    wanted = sorted(set(names or []))
    with warehouse.reader() as con:
        sets = sql.query(con, "eval_export_sets", {"names": wanted}).to_pylist()
        missing = sorted(set(wanted) - {s["name"] for s in sets})
        if missing or not sets:
            known = sorted(sql.query(con, "eval_set_list").column("name").to_pylist())
            raise NoEvalSets(f"no registered eval set {missing} (registered: {known or 'none'}; "
                             "add some with `umedata eval-sets ingest --config FILE`)" if missing else
                             "no eval set is registered; add some with `umedata eval-sets ingest --config FILE`")
        chosen = {"names": [s["name"] for s in sets]}
        parts = {name: sql.query(con, f"eval_export_{name}", chosen) for name in FILES}
        con.register("eval_sides", parts["sides"])
        refs = sql.query(con, "eval_media_refs")
        con.register("media_refs", refs)
        media_files = sql.query(con, "version_media_sources").to_pylist()
    vstore = VersionStore(str(store) if store is not None else str(warehouse.path.resolve().parent))
    dir_id = eval_dir_id(sets)
    final = join(vstore.path, "evalsets", dir_id)
    out = {"eval_dir_id": dir_id, "path": vstore.url(final), "wrote": False, "sets": [s["name"] for s in sets]}
    if vstore.fs.exists(join(final, "manifest.json")):
        return out
    vstore.ensure_media(media_files)
    manifest = {
        "kind": KIND, "eval_dir_id": dir_id, "format_version": FORMAT_VERSION, "media_root": STORE_MEDIA_ROOT,
        "media_mode": "reference", "sets": sets, "files": FILES,
        "counts": {name: t.num_rows for name, t in parts.items()}, "media": refs.num_rows, "built_at": iso(utcnow()),
    }
    _write(vstore, final, parts, manifest)
    out["wrote"] = True
    return out


def _write(vstore: VersionStore, final: str, parts: dict[str, pa.Table], manifest: dict[str, Any]) -> None:
    """Files under a temporary name, manifest.json last, then renamed into place (locally); a directory another
    export finished first is the same content, so losing that race is fine."""
    fs, local = vstore.fs, is_local(vstore.fs)
    target = join(vstore.path, "evalsets", f".{manifest['eval_dir_id']}.tmp-{uuid.uuid4().hex}") if local else final
    fs.makedirs(join(target, "data"), exist_ok=True)
    try:
        for name, rel in FILES.items():
            write_parquet(parts[name], fs, join(target, rel), row_group_size=100_000)
        with fs.open(join(target, "manifest.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
        if local:
            try:
                os.rename(target, final)
            except OSError:
                shutil.rmtree(target, ignore_errors=True)
    except BaseException:
        if local:
            shutil.rmtree(target, ignore_errors=True)
        raise
