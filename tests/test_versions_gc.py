"""Retention: gc deletes only what no registered version uses, never the media a version or the warehouse needs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from test_versions_data import basic_world, world  # noqa: F401  (fixture)

from umedata.versions import SftSpec, build_sft_set, drop, gc, list_versions, read_manifest, read_rows, verify
from umedata.versions.export import media_url


def used_media(version_dir: str) -> set[str]:
    m = read_manifest(version_dir)
    out = set()
    for row in read_rows(version_dir).to_pylist():
        refs = row["qry_images"] + row["pos_images"] + row["qry_video"] + row["pos_video"]
        refs += [r for n in row["negatives"] for r in n["images"] + n["video"]]
        out |= {os.path.realpath(media_url(version_dir, r["path"], m)) for r in refs}
    return out


def test_gc_removes_only_what_no_registered_version_uses(warehouse, world, tmp_path):
    basic_world(world, n=4)
    world.commit(warehouse)
    big = build_sft_set(warehouse, SftSpec(name="big"))
    small = build_sft_set(warehouse, SftSpec(name="small", datasets=("ShapesI2T", "Clips")))
    assert big.version_id != small.version_id
    store = Path(warehouse.path).parent
    only_big = used_media(big.path) - used_media(small.path)
    assert only_big and used_media(small.path)

    # a file the warehouse itself points at inside the store (as ingest keeps rendered pages) is never garbage
    page = store / "media" / "ab" / ("ab" + "0" * 62 + ".png")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_bytes(b"page")
    batch = warehouse.stage()
    batch.add("media", [{"sha256": "ab" + "0" * 62, "kind": "page", "path": str(page), "width": 1, "height": 1,
                         "frames": None, "bytes": 4, "format": "PNG"}])
    warehouse.commit(batch)
    leftover = store / "versions" / f".{big.version_id}.tmp-dead"
    leftover.mkdir()

    # nothing is garbage while both are registered, and young files are spared whatever they are
    assert gc(warehouse, min_age_s=0).versions_removed == [leftover.name]
    drop(warehouse, big.version_id)
    assert gc(warehouse).media_removed == []  # min age: a build in flight may not have registered yet

    dry = gc(warehouse, dry_run=True, min_age_s=0)
    assert dry.versions_removed == [big.version_id] and Path(big.path).exists()
    assert {os.path.realpath(p) for p in dry.media_removed} == only_big

    report = gc(warehouse, min_age_s=0)
    assert report.versions_removed == [big.version_id]
    assert {os.path.realpath(p) for p in report.media_removed} == only_big
    assert not Path(big.path).exists() and page.exists()
    assert all(os.path.isfile(p) for p in used_media(small.path))
    assert verify(small.path)["ok"]
    assert [v["version_id"] for v in list_versions(warehouse)] == [small.version_id]

    # rebuilding the dropped content registers it again, with the same bytes
    again = build_sft_set(warehouse, SftSpec(name="big"))
    assert again.version_id == big.version_id and again.wrote_files
    assert {v["version_id"] for v in list_versions(warehouse)} == {big.version_id, small.version_id}
    for p in used_media(again.path):
        name = Path(p).name.split(".")[0]
        assert hashlib.sha256(Path(p).read_bytes()).hexdigest() == name
