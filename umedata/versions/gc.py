"""Retention: remove version directories and media no registered version uses.

Deleted:
- a directory under <store>/versions/ that is not a registered, live version (dropped with `versions drop`, never
  registered, or a temporary left by a crashed build);
- a file under <store>/media/ that no live version uses and the warehouse's media table does not point at (ingest
  may keep its own media in the same store; those files belong to the warehouse, not to versions).
Never deleted: anything younger than `min_age_s` (a build or ingest in flight may have written it but not yet
registered it), anything a live version uses, exports outside the store.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from dataclasses import dataclass, field
from typing import Any

from umedata import sql
from umedata.versions.registry import as_warehouse
from umedata.versions.store import VersionStore, is_local
from umedata.warehouse import Warehouse

_SHA = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9]+)?$")
DEFAULT_MIN_AGE_S = 3600.0


@dataclass
class GcReport:
    dry_run: bool
    versions_removed: list[str] = field(default_factory=list)
    media_removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept_media: int = 0
    missing_versions: list[str] = field(default_factory=list)  # live in the registry, no directory

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "versions_removed": self.versions_removed,
                "media_removed": len(self.media_removed), "bytes_freed": self.bytes_freed,
                "kept_media": self.kept_media, "missing_versions": self.missing_versions}


def _mtime(fs: Any, path: str) -> float:
    info = fs.info(path)
    m = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return m.timestamp() if hasattr(m, "timestamp") else float(m)


def gc(
    warehouse: Warehouse | str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    min_age_s: float = DEFAULT_MIN_AGE_S,
) -> GcReport:
    wh = as_warehouse(warehouse)
    vs = VersionStore(str(store) if store is not None else str(wh.path.resolve().parent))
    fs = vs.fs
    with wh.reader() as con:
        known = sql.query(con, "gc_versions").to_pylist()
        live_media = set(sql.query(con, "gc_live_media").column("sha256").to_pylist())
        owned_paths = sql.query(con, "gc_warehouse_files").column("path").to_pylist()
    local = is_local(fs)
    owned = {os.path.realpath(p) if local else p for p in owned_paths}
    live_ids = {k["version_id"] for k in known if k["live"]}
    report = GcReport(dry_run=dry_run)
    now = time.time()

    for k in known:  # live versions of this store whose directory is gone (deleted by hand): report them
        here = vs.url(vs.version_path(k["version_id"]))
        if k["live"] and k["path"] == here and not vs.has_version(k["version_id"]):
            report.missing_versions.append(k["version_id"])

    if fs.exists(vs.versions_path):
        for d in sorted(fs.ls(vs.versions_path, detail=False)):
            name = posixpath.basename(d.rstrip("/"))
            if name in live_ids or now - _mtime(fs, d) < min_age_s:
                continue
            report.versions_removed.append(name)
            if not dry_run:
                _rm(fs, d)

    if fs.exists(vs.media_path):
        for prefix in sorted(fs.ls(vs.media_path, detail=False)):
            if not fs.isdir(prefix):
                continue
            for f in sorted(fs.ls(prefix, detail=True), key=lambda i: i["name"]):
                p = f["name"]
                m = _SHA.match(posixpath.basename(p))
                in_use = m is not None and m.group(1) in live_media
                if in_use or (os.path.realpath(p) if local else p) in owned or now - _mtime(fs, p) < min_age_s:
                    report.kept_media += 1
                    continue
                report.media_removed.append(p)
                report.bytes_freed += int(f.get("size") or 0)
                if not dry_run:
                    fs.rm(p)
    return report


def _rm(fs: Any, path: str) -> None:
    if is_local(fs):
        import shutil

        shutil.rmtree(path, ignore_errors=False)
    else:
        fs.rm(path, recursive=True)
