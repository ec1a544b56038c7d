"""UME-R1 JSON export: both layouts, rendered with umedata.format, and the round trip through the ingest adapters."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_versions_data import basic_world, world  # noqa: F401  (fixture)

from umedata.format import IMAGE_TAG, VIDEO_TAG, user_text
from umedata.versions import SftSpec, build_sft_set, read_rows
from umedata.versions.ume_r1 import BLANK, export_ume_r1
from umedata.warehouse import Warehouse


@pytest.fixture
def version(warehouse, world):
    basic_world(world, n=4)
    world.commit(warehouse)
    return build_sft_set(warehouse, SftSpec(eval_fraction=0.4))


def sha_of(dest: Path, rel: str) -> str:
    return hashlib.sha256((dest / rel).read_bytes()).hexdigest()


def media_of(dest: Path, side: dict, image_key: str = "image", video_key: str = "video") -> tuple[list[str], list[str]]:
    img = side.get(image_key)
    imgs = [] if img in (None, "", BLANK) else ([img] if isinstance(img, str) else img)
    return [sha_of(dest, p) for p in imgs], [sha_of(dest, p) for p in side.get(video_key) or []]


def test_sft_layout(version, tmp_path):
    dest = tmp_path / "ume-sft"
    summary = export_ume_r1(version.path, dest, layout="sft")
    rows = read_rows(version.path).to_pylist()  # canonical order: split, then pair_id, as the files are written
    records = [rec for split in sorted(summary["files"]) for rec in json.loads(Path(summary["files"][split]).read_text())]
    assert len(records) == len(rows) == summary["rows"]
    assert (dest / BLANK).is_file()
    for rec, row in zip(records, rows):
        assert set(rec) == {"dataset_name", "qry", "pos"} and rec["dataset_name"] == row["dataset_name"]
        for s in ("qry", "pos"):
            conv = rec[s]["conversations"]
            assert [c["from"] for c in conv] == ["human", "gpt"]
            human, gpt = conv[0]["value"], conv[1]["value"]
            images, video = media_of(dest, rec[s])
            assert images == [r["path"].split("/")[-1].split(".")[0] for r in row[f"{s}_images"]]
            assert video == [r["path"].split("/")[-1].split(".")[0] for r in row[f"{s}_video"]]
            if video:
                assert human == f"{VIDEO_TAG}\n" + user_text(row[f"{s}_text"]) and "image" not in rec[s]
            else:
                assert human == f"{IMAGE_TAG}\n" * max(1, len(images)) + user_text(row[f"{s}_text"])
                if not images:
                    assert rec[s]["image"] == BLANK
            assert gpt == row[f"{s}_raw"]


def test_rl_layout(version, tmp_path):
    dest = tmp_path / "ume-rl"
    summary = export_ume_r1(version.path, dest, layout="rl", splits=["train"])
    records = json.loads(Path(summary["files"]["train"]).read_text())
    rows = read_rows(version.path, splits=["train"]).to_pylist()
    assert len(records) == len(rows)
    for rec, row in zip(records, rows):
        assert set(rec) == {"dataset_name", "qry_text", "qry_image", "qry_video", "pos_text", "pos_image", "pos_video"}
        for s in ("qry", "pos"):
            assert rec[f"{s}_text"] == user_text(row[f"{s}_text"])
            images, video = media_of(dest, rec, f"{s}_image", f"{s}_video")
            assert len(images) == len(row[f"{s}_images"]) and len(video) == len(row[f"{s}_video"])


def _ingest(dest: Path, layout: str, files: dict[str, str], tmp_path: Path, name: str) -> Warehouse:
    from umedata.ingest import ingest_source
    from umedata.sources.config import DatasetSpec, SourceSpec

    wh = Warehouse(tmp_path / name / "umedata.duckdb")
    wh.init()
    spec = SourceSpec(name=name, layout=layout, root=dest, licence="CC0-1.0", provenance="round trip",
                      datasets=[DatasetSpec(name=None, path=Path(f).name, split=split) for split, f in files.items()])
    summary = ingest_source(wh, spec)
    assert summary.quarantined == 0, summary.reasons
    return wh


def _canonical(records: list[dict], dest: Path) -> list[str]:
    """Records with media paths replaced by content hashes (paths differ by store, content must not)."""
    out = []
    for rec in records:
        rec = json.loads(json.dumps(rec))
        for s in ("qry", "pos"):
            side = rec[s] if s in rec else rec
            for key in (("image", "video") if s in rec else (f"{s}_image", f"{s}_video")):
                v = side.get(key)
                if isinstance(v, str) and v != BLANK:
                    side[key] = sha_of(dest, v)
                elif isinstance(v, list):
                    side[key] = [sha_of(dest, p) for p in v]
        out.append(json.dumps(rec, sort_keys=True))
    return sorted(out)


def test_sft_round_trip_through_the_ingest_adapter_keeps_every_field(version, tmp_path):
    pytest.importorskip("umedata.sources.ume_r1")
    first = tmp_path / "first"
    s1 = export_ume_r1(version.path, first, layout="sft")
    wh2 = _ingest(first, "ume_r1_sft", s1["files"], tmp_path, "rt")
    # the imported gpt turns are the annotations; source splits carry train/eval over unchanged
    again = build_sft_set(wh2, SftSpec(split_mode="source"))
    assert again.counts["by_split"] == version.counts["by_split"]
    assert again.counts["by_dataset"] == version.counts["by_dataset"]

    media = lambda r, s: [m["path"].split("/")[-1].split(".")[0] for m in r[f"{s}_images"] + r[f"{s}_video"]]  # noqa: E731
    key = lambda r: (r["dataset_name"], r["split"], r["qry_side_id"], r["pos_side_id"])  # noqa: E731
    before = {key(r): r for r in read_rows(version.path).to_pylist()}
    after = {key(r): r for r in read_rows(again.path).to_pylist()}
    assert before.keys() == after.keys()
    for k, b in before.items():
        a = after[k]
        for s in ("qry", "pos"):
            for f in ("text", "reasoning", "summary", "raw"):
                assert a[f"{s}_{f}"] == b[f"{s}_{f}"], (k, s, f)
            assert media(a, s) == media(b, s)

    second = tmp_path / "second"
    s2 = export_ume_r1(again.path, second, layout="sft")
    for split in s1["files"]:
        one = json.loads(Path(s1["files"][split]).read_text())
        two = json.loads(Path(s2["files"][split]).read_text())
        assert _canonical(one, first) == _canonical(two, second)


def test_rl_round_trip_through_the_ingest_adapter(version, tmp_path):
    pytest.importorskip("umedata.sources.ume_r1")
    first = tmp_path / "rl"
    s1 = export_ume_r1(version.path, first, layout="rl")
    wh2 = _ingest(first, "ume_r1_rl", s1["files"], tmp_path, "rl")
    got = wh2.sql(
        "SELECT p.dataset_name, p.split, q.text AS qry_text, t.text AS pos_text, q.side_id AS q, t.side_id AS t "
        "FROM pairs p JOIN sides q ON q.side_id = p.qry_side_id JOIN sides t ON t.side_id = p.pos_side_id"
    ).to_pylist()
    want = read_rows(version.path).to_pylist()
    assert sorted((g["dataset_name"], g["split"], g["qry_text"], g["pos_text"], g["q"], g["t"]) for g in got) == \
        sorted((w["dataset_name"], w["split"], w["qry_text"], w["pos_text"], w["qry_side_id"], w["pos_side_id"])
               for w in want)
