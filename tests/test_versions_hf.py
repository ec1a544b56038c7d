"""A version loads with `datasets`: references resolve through the helper, embedded images decode directly."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from test_versions_data import basic_world, world  # noqa: F401  (fixture)

from umedata.versions import (
    SftSpec,
    VersionExists,
    build_sft_set,
    export_parquet,
    read_manifest,
    read_media,
    read_rows,
    resolve_media,
    verify,
)

datasets = pytest.importorskip("datasets")


@pytest.fixture
def version(warehouse, world):
    basic_world(world, n=4)
    world.commit(warehouse)
    return build_sft_set(warehouse, SftSpec(eval_fraction=0.4))


def _load(d, tmp_path):
    return datasets.load_dataset("parquet", data_dir=str(d), cache_dir=str(tmp_path / "hf-cache"))


def test_reference_mode_resolves_through_helper(version, tmp_path):
    ds = _load(version.path, tmp_path)
    m = read_manifest(version.path)
    assert set(ds) == set(m["splits"])
    assert sum(len(ds[s]) for s in ds) == m["n_rows"]
    raw = ds["train"][0]
    assert all(ref["bytes"] is None for ref in raw["qry_images"] + raw["pos_images"])

    resolved = resolve_media(ds, version.path)
    from PIL.Image import Image

    seen_video = seen_neg = False
    for split in resolved:
        for row, plain in zip(resolved[split], ds[split]):
            for img, ref in zip(row["qry_images"] + row["pos_images"], plain["qry_images"] + plain["pos_images"]):
                assert isinstance(img, Image)
                # the decoded image is the very file the reference names (content hash in its name)
                assert hashlib.sha256(read_media(version.path, ref, m)).hexdigest() in ref["path"]
            if row["qry_video"]:
                seen_video = True
                assert all(isinstance(f, Image) for f in row["qry_video"])
            for n in row["negatives"]:
                seen_neg = True
                assert all(isinstance(i, Image) for i in n["images"])
    assert seen_video and seen_neg


def test_embedded_export_decodes_and_keeps_the_id(version, tmp_path):
    dest = tmp_path / "embedded"
    export_parquet(version.path, dest, embed_media=True)
    # self-contained: nothing of the store is needed any more
    shutil.move(str(Path(version.path).parent.parent / "media"), str(tmp_path / "media-away"))
    m = read_manifest(dest)
    assert m["version_id"] == version.version_id and m["media_root"] is None and m["media_mode"] == "embedded"
    assert verify(dest)["ok"]

    ds = _load(dest, tmp_path)
    from PIL.Image import Image

    rows = read_rows(dest).to_pylist()
    by_pair = {r["pair_id"]: r for r in rows}
    n_images = 0
    for split in ds:
        for row in ds[split]:
            stored = by_pair[row["pair_id"]]
            for img, ref in zip(row["qry_images"] + row["pos_images"] + row["qry_video"],
                                stored["qry_images"] + stored["pos_images"] + stored["qry_video"]):
                assert isinstance(img, Image)
                assert hashlib.sha256(ref["bytes"]).hexdigest() in ref["path"]
                n_images += 1
            for n in row["negatives"]:
                assert all(isinstance(i, Image) for i in n["images"])
    assert n_images > 0
    assert resolve_media(ds, dest) is ds  # embedded data needs no resolving

    with pytest.raises(VersionExists):
        export_parquet(version.path, dest, embed_media=True)


def test_reference_export_carries_its_media(version, tmp_path):
    dest = tmp_path / "ref-copy"
    export_parquet(version.path, dest, embed_media=False)
    shutil.move(str(Path(version.path).parent.parent / "media"), str(tmp_path / "media-away"))
    assert read_manifest(dest)["media_root"] == "media"
    assert verify(dest)["ok"]
    ds = resolve_media(_load(dest, tmp_path), dest)
    row = next(r for r in ds["train"] if r["qry_images"])
    assert row["qry_images"][0].size == (16, 16)


def test_trainer_reads_a_built_version(version):
    """The hand-off: the trainer's reader takes the directory as built, media resolving under media_root."""
    pytest.importorskip("torch")
    from training.data import join, open_version, sides_of_row

    v = open_version(version.path)
    assert v.version_id == version.version_id
    table = v.read_split("train")
    assert table.num_rows == version.counts["by_split"]["train"]
    for row in table.to_pylist():
        qry, pos, negs = sides_of_row(row, hard_negatives=4)
        for ref in qry.images + qry.video + pos.images + pos.video + [i for n in negs for i in n.images]:
            assert os.path.isfile(join(v.media_root(), ref["path"]))
