"""Dataset versions: immutable, content-addressed snapshots of the warehouse, the hand-off to the trainer.

    build_sft_set(warehouse, SftSpec(...))   select -> split -> version directory (once) -> registry (every build)
    list_versions / show / diff / drop       the registry in the warehouse (dataset_versions, ..._builds)
    export_parquet(dir, dest, embed_media)   a self-contained copy (embedded bytes loadable by `datasets`)
    resolve_media(ds, dir) / media_url       reference-mode media paths -> files under media_root
    gc(warehouse)                            delete what no registered version uses
    verify(dir)                              recompute the id of a directory

Module map: select (which rows), content (schema, id), store (directories, media store), card (README.md),
build, registry, export, gc. The directory layout and columns are specified in docs/interfaces.md.
"""

from umedata.versions.build import BuildResult, EmptySelection, build_sft_set, build_version, code_version
from umedata.versions.content import ROW_SCHEMA, content_id
from umedata.versions.export import export_parquet, media_root_url, media_url, read_media, resolve_media, verify
from umedata.versions.gc import GcReport, gc
from umedata.versions.registry import UnknownVersion, builds, diff, diff_dirs, drop, get, list_versions, resolve, show
from umedata.versions.select import SftSpec
from umedata.versions.store import MediaChanged, VersionExists, VersionStore, read_manifest, read_rows

__all__ = [
    "ROW_SCHEMA", "BuildResult", "EmptySelection", "GcReport", "MediaChanged", "SftSpec", "UnknownVersion", "VersionExists",
    "VersionStore", "build_sft_set", "build_version", "builds", "code_version", "content_id", "diff", "diff_dirs", "drop",
    "export_parquet", "gc", "get", "list_versions", "media_root_url", "media_url", "read_manifest", "read_media",
    "read_rows", "resolve", "resolve_media", "show", "verify",
]
