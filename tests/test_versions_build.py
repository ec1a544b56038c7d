"""Dataset versions: identity, immutability, lineage, selection rules, leakage-free split, mixing, manifest."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_versions_data import basic_world, world  # noqa: F401  (fixture)

from umedata.format import KNOWN_FORMAT_VERSIONS, render_side
from umedata.versions import (
    EmptySelection,
    MediaChanged,
    SftSpec,
    VersionExists,
    VersionStore,
    build_sft_set,
    builds,
    diff,
    read_manifest,
    read_rows,
)
from umedata.versions.content import ROW_SCHEMA, content_id
from umedata.versions.export import media_url


def snapshot(d: str) -> dict[str, tuple[bytes, int]]:
    out = {}
    for p in sorted(Path(d).rglob("*")):
        if p.is_file():
            out[str(p.relative_to(d))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def shard_bytes(d: str) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(Path(d, "data").glob("*.parquet"))}


@pytest.fixture
def built(warehouse, world):
    basic_world(world)
    world.commit(warehouse)
    return warehouse, world


def test_same_selection_same_id_and_identical_shards(built, tmp_path):
    wh, _ = built
    spec = SftSpec(eval_fraction=0.3)
    first = build_sft_set(wh, spec)
    assert first.wrote_files
    before = snapshot(first.path)

    again = build_sft_set(wh, spec)
    assert again.version_id == first.version_id
    assert not again.wrote_files
    assert snapshot(first.path) == before  # no file rewritten, not even touched

    elsewhere = build_sft_set(wh, spec, store=tmp_path / "other-store")
    assert elsewhere.version_id == first.version_id
    assert elsewhere.path != first.path
    assert shard_bytes(elsewhere.path) == shard_bytes(first.path)
    assert len(builds(wh, first.version_id)) == 3


def test_different_selection_of_same_rows_same_id_both_builds_recorded(built, tmp_path):
    wh, w = built
    everything = build_sft_set(wh, SftSpec(eval_fraction=0.3))
    names = sorted({r["dataset_name"] for r in read_rows(everything.path, columns=["dataset_name"]).to_pylist()})
    listed = build_sft_set(wh, SftSpec(eval_fraction=0.3, datasets=tuple(names)))
    custom = tmp_path / "mine.sql"
    custom.write_text("SELECT pair_id FROM pairs WHERE dataset_name <> 'NoSuchDataset'")
    by_query = build_sft_set(wh, SftSpec(eval_fraction=0.3, query=str(custom)))

    assert listed.version_id == everything.version_id == by_query.version_id
    assert not listed.wrote_files and not by_query.wrote_files
    recorded = builds(wh, everything.version_id)
    assert len(recorded) == 3
    assert {tuple(b["filters"]["datasets"]) for b in recorded} == {(), tuple(names)}
    assert any(b["query_name"] == str(custom.resolve()) and "NoSuchDataset" in b["query_sql"] for b in recorded)


def test_different_rows_different_id_with_parent(built):
    wh, w = built
    first = build_sft_set(wh, SftSpec(name="main", eval_fraction=0.3))
    q = w.side("Find an image of a brand new colour.")
    p = w.side("", [w.image(999)])
    w.annotate(q)
    w.annotate(p)
    w.pair("ShapesT2I", q, p)
    w.commit(wh)
    second = build_sft_set(wh, SftSpec(name="main", eval_fraction=0.3))
    assert second.version_id != first.version_id
    assert second.parents == [first.version_id]
    assert read_manifest(second.path)["parents"] == [first.version_id]
    d = diff(wh, first.version_id, second.version_id)
    assert d["changes"].get("added") == 1 and "removed" not in d["changes"]
    assert sum(v["b"] for v in d["splits"].values()) == sum(v["a"] for v in d["splits"].values()) + 1
    # a build under another name starts its own lineage
    other = build_sft_set(wh, SftSpec(name="other", eval_fraction=0.3, datasets=("ShapesI2T",)))
    assert other.parents == []


def test_version_cannot_be_overwritten(built):
    wh, _ = built
    r = build_sft_set(wh, SftSpec())
    store = VersionStore(str(Path(r.path).parent.parent))
    with pytest.raises(VersionExists):
        store.write_version(r.version_id, pa.table({"split": ["train"]}), {}, "", 10, 10)
    for f in Path(r.path).rglob("*"):
        if f.is_file():
            assert not f.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    before = snapshot(r.path)
    assert not build_sft_set(wh, SftSpec()).wrote_files
    assert snapshot(r.path) == before


def test_preference_validation_and_quarantine(warehouse, world):
    w = world
    q = w.side("which colour?", [w.image(1)])
    p = w.side("red")
    a_m1 = w.annotate(q, model="m1", prompt_version="p1")
    a_m2p1 = w.annotate(q, model="m2", prompt_version="p1")
    a_m2p2 = w.annotate(q, model="m2", prompt_version="p2")
    w.annotate(p, model="m1", prompt_version="p1")
    w.annotate(p, model="m2", prompt_version="p2")
    w.pair("Pref", q, p)
    # a pair whose target only has a malformed annotation never makes it in
    q2 = w.side("which shape?", [w.image(2)])
    p2 = w.side("circle")
    w.annotate(q2, model="m1")
    w.annotate(p2, model="m1", status="no_think")
    w.pair("Pref", q2, p2)
    # quarantined by annotation id, and by request key
    q3 = w.side("which size?", [w.image(3)])
    p3 = w.side("small")
    w.quarantine(w.annotate(q3, model="m1"))
    w.annotate(p3, model="m1")
    w.pair("Pref", q3, p3)
    q4 = w.side("which place?", [w.image(4)])
    p4 = w.side("left")
    w.annotate(q4, model="m1", request_key="rk-4")
    w.quarantine("rk-4")
    w.annotate(p4, model="m1")
    w.pair("Pref", q4, p4)
    w.commit(warehouse)

    def chosen(preference):
        r = build_sft_set(warehouse, SftSpec(name="pref", preference=preference, eval_fraction=0.0))
        rows = read_rows(r.path).to_pylist()
        return rows

    rows = chosen(("m2@p2", "m1"))
    assert len(rows) == 1  # the malformed and the quarantined ones are out
    assert rows[0]["qry_annotation_id"] == a_m2p2 and rows[0]["pos_teacher_model"] == "m2"
    rows = chosen(("m1",))
    assert rows[0]["qry_annotation_id"] == a_m1 and rows[0]["qry_teacher_model"] == "m1"
    # equal preference: the smallest annotation id, whatever the insertion order
    rows = chosen(("*@p1",))
    assert rows[0]["qry_annotation_id"] == min(a_m1, a_m2p1)
    # nothing matches the target: no pair
    with pytest.raises(EmptySelection):
        chosen(("m2@p1",))


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]|_", " ", text.lower()).split())


def test_split_keeps_query_images_and_near_duplicate_texts_on_one_side(warehouse, world):
    w = world
    label_a, label_b = w.side("cat"), w.side("dog")
    shared = [w.image(i) for i in range(16)]
    for i in range(48):
        # the same query image recurs under other instructions and in another dataset
        img = shared[i % 16]
        q = w.side(f"Represent the image, variant {i // 16}.", [img])
        w.pair("Cls" if i % 2 else "Cls2", q, label_a if i % 3 else label_b, task="classification")
    texts = ["A red circle on the left.", "a  RED circle, on the LEFT", "A red circle on the left!!",
             "Two blue squares.", "two blue squares", "3 green dots", "4 green dots", "A yellow star."]
    for i in range(30):
        w.pair("T2I", w.side(texts[i % len(texts)]), w.side("", [w.image(100 + i)]))
    for s in w.tables["sides"]:
        w.annotate(s["side_id"])
    w.commit(warehouse)

    r = build_sft_set(warehouse, SftSpec(eval_fraction=0.5, seed=3))
    rows = read_rows(r.path).to_pylist()
    assert {row["split"] for row in rows} == {"train", "eval"}
    img_split: dict[str, set[str]] = {}
    text_split: dict[str, set[str]] = {}
    for row in rows:
        for ref in row["qry_images"]:
            img_split.setdefault(ref["path"], set()).add(row["split"])
        if not row["qry_images"]:
            text_split.setdefault(_norm(row["qry_text"]), set()).add(row["split"])
    assert all(len(s) == 1 for s in img_split.values()), img_split
    assert all(len(s) == 1 for s in text_split.values()), text_split
    assert len(text_split) < len(texts)  # the near duplicates did collapse ("a red circle on the left")
    assert "3 green dots" in text_split and "4 green dots" in text_split  # digits keep texts apart
    # class labels are shared targets by design: they may sit on both sides of the split
    label_splits = {row["split"] for row in rows if row["pos_side_id"] in (label_a, label_b)}
    assert label_splits == {"train", "eval"}
    groups: dict[str, set[str]] = {}
    for row in rows:
        groups.setdefault(row["split_group"], set()).add(row["split"])
    assert all(len(s) == 1 for s in groups.values())


def test_source_split_is_respected_and_leaks_dropped(warehouse, world):
    w = world
    img = w.image(7)
    train_leak = w.pair("Src", w.side("describe it", [img]), w.side("seven"), split="train")
    eval_pair = w.pair("Src", w.side("describe the picture", [img]), w.side("seven again"), split="test")
    kept_train = [w.pair("Src", w.side(f"q{i}", [w.image(20 + i)]), w.side(f"t{i}"), split="train") for i in range(3)]
    for s in w.tables["sides"]:
        w.annotate(s["side_id"])
    w.commit(warehouse)
    r = build_sft_set(warehouse, SftSpec(split_mode="source"))
    rows = {row["pair_id"]: row for row in read_rows(r.path).to_pylist()}
    assert train_leak not in rows
    assert rows[eval_pair]["split"] == "eval" and rows[eval_pair]["source_split"] == "test"
    assert all(rows[p]["split"] == "train" for p in kept_train)
    assert r.manifest["split"]["dropped_train_pairs_leaking_into_eval"] == 1


def test_mix_by_caps_and_weights(built):
    wh, _ = built
    full = build_sft_set(wh, SftSpec(name="full")).counts["by_dataset"]
    capped = build_sft_set(wh, SftSpec(name="capped", caps={"ShapesI2T": 3}))
    assert capped.counts["by_dataset"]["ShapesI2T"] == 3
    assert {k: v for k, v in capped.counts["by_dataset"].items() if k != "ShapesI2T"} == \
        {k: v for k, v in full.items() if k != "ShapesI2T"}
    assert build_sft_set(wh, SftSpec(name="capped", caps={"ShapesI2T": 3})).version_id == capped.version_id

    weighted = build_sft_set(wh, SftSpec(name="w", weights={"ShapesI2T": 2, "ShapesCls": 1}, total=6))
    assert weighted.counts["by_dataset"] == {"ShapesI2T": 4, "ShapesCls": 2}
    fill = build_sft_set(wh, SftSpec(name="w2", weights={"ShapesI2T": 1, "ShapesT2I": 1}))
    assert fill.counts["by_dataset"] == {"ShapesI2T": full["ShapesI2T"], "ShapesT2I": full["ShapesT2I"]}
    with pytest.raises(ValueError):
        SftSpec(caps={"a": 1}, weights={"a": 1.0})


def test_manifest_card_and_columns_follow_the_contract(built):
    wh, w = built
    r = build_sft_set(wh, SftSpec(eval_fraction=0.3))
    m = read_manifest(r.path)
    for key in ("version_id", "parents", "selection", "counts", "teachers", "sources", "checks", "code_version",
                "built_at", "format_version", "splits", "media_root"):
        assert key in m, key
    assert m["format_version"] in KNOWN_FORMAT_VERSIONS
    assert m["checks"] == {}
    assert {"query", "filters"} <= set(m["selection"])
    assert sum(m["counts"]["by_split"].values()) == m["n_rows"] == r.manifest["n_rows"]
    assert {t["model"] for t in m["teachers"]} == {"teacher-a"}
    assert m["sources"][0]["licence"] == "CC0-1.0" and m["sources"][0]["provenance"]
    for split, files in m["splits"].items():
        for f in files:
            assert re.fullmatch(rf"data/{split}-\d{{5}}-of-\d{{5}}\.parquet", f)
            schema = pq.read_schema(Path(r.path, f))
            for field in ROW_SCHEMA:
                if field.name in ("qry_images", "pos_images", "qry_video", "pos_video"):
                    assert schema.field(field.name).type.value_type.equals(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
                assert field.name in schema.names
    card = Path(r.path, "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and m["version_id"] in card
    rows = read_rows(r.path).to_pylist()
    for row in rows:
        for ref in row["qry_images"] + row["pos_images"] + row["qry_video"] + row["pos_video"]:
            assert ref["bytes"] is None and os.path.isfile(media_url(r.path, ref["path"], m))
        # the row renders through umedata.format on the trainer's side
        msgs = render_side(row["qry_text"], len(row["qry_images"]), bool(row["qry_video"]),
                           row["qry_reasoning"], row["qry_summary"])
        assert msgs[-1]["role"] == "assistant"
    video_rows = [row for row in rows if row["modality"] == "video"]
    assert video_rows and all(len(row["qry_video"]) == 3 for row in video_rows)
    neg_rows = [row for row in rows if row["negatives"]]
    assert neg_rows and all(n["images"] for row in neg_rows for n in row["negatives"])
    # the media store is shared: a second version using the same images copies nothing new
    media_files = sorted(Path(r.path, m["media_root"]).resolve().rglob("*.png"))
    build_sft_set(wh, SftSpec(name="again", eval_fraction=0.6))
    assert sorted(Path(r.path, m["media_root"]).resolve().rglob("*.png")) == media_files


def test_empty_selection_refused(built):
    wh, _ = built
    with pytest.raises(EmptySelection):
        build_sft_set(wh, SftSpec(datasets=("NoSuchDataset",)))


def test_content_id_depends_on_content_only(built):
    wh, _ = built
    r = build_sft_set(wh, SftSpec(eval_fraction=0.3))
    rows = read_rows(r.path)
    assert content_id(rows) == r.version_id
    # order, chunking and buffer layout are not content
    shuffled = rows.take(pa.array(list(range(rows.num_rows))[::-1]))
    rechunked = pa.concat_tables([rows.slice(0, 5), rows.slice(5)])
    assert content_id(shuffled) == content_id(rechunked) == r.version_id
    # how a medium is stored is not content either: another extension, or the bytes embedded
    def restore(col, fn):
        return pa.array([[fn(m) for m in refs] for refs in rows.column(col).to_pylist()], rows.schema.field(col).type)
    renamed = rows.set_column(rows.schema.get_field_index("qry_images"), "qry_images",
                              restore("qry_images", lambda m: {"bytes": b"x", "path": m["path"].rsplit(".", 1)[0] + ".img"}))
    assert content_id(renamed) == r.version_id
    # any change of a value is
    changed = rows.set_column(rows.schema.get_field_index("qry_summary"), "qry_summary",
                              pa.array(["other"] + rows.column("qry_summary").to_pylist()[1:], pa.string()))
    assert content_id(changed) != r.version_id
    def first_summary(value):
        col = rows.schema.get_field_index("qry_summary")
        return rows.set_column(col, "qry_summary", pa.array([value] + rows.column("qry_summary").to_pylist()[1:], pa.string()))

    assert content_id(first_summary("")) != content_id(first_summary(None))  # empty and missing differ


def test_minhash_links_near_duplicate_texts_that_normalising_misses(warehouse, world):
    w = world
    near = ["a red circle on the left of a blue square next to a green triangle",
            "a red circle on the left of a blue square next to a green triangle today"]
    far = ["three yellow stars above the moon at night", "two dogs run across an empty beach"]
    pos = {t: w.side("", [w.image(i)]) for i, t in enumerate(near + far)}
    for t in near + far:
        w.pair("T2I", w.side(t), pos[t])
    for s in w.tables["sides"]:
        w.annotate(s["side_id"])
    w.commit(warehouse)

    def groups(text_key):
        r = build_sft_set(warehouse, SftSpec(name=text_key, text_key=text_key))
        return {row["qry_text"]: row["split_group"] for row in read_rows(r.path).to_pylist()}, r

    exact, _ = groups("text_only")
    fuzzy, r = groups("minhash")
    assert exact[near[0]] != exact[near[1]]
    assert fuzzy[near[0]] == fuzzy[near[1]]
    assert len({fuzzy[t] for t in far} | {fuzzy[near[0]]}) == 3
    assert r.manifest["split"]["text_key"] == "minhash"


def test_a_source_file_edited_since_ingest_is_refused(warehouse, world):
    w = world
    img = w.image(5)
    w.pair("Edit", w.side("what is it?", [img]), w.side("a circle"))
    for s in w.tables["sides"]:
        w.annotate(s["side_id"])
    path = Path(next(m["path"] for m in w.tables["media"] if m["sha256"] == img))
    w.commit(warehouse)
    path.write_bytes(path.read_bytes() + b"changed")
    with pytest.raises(MediaChanged):
        build_sft_set(warehouse, SftSpec(eval_fraction=0.0))
    store = Path(warehouse.path).parent / "media"
    assert not list(store.rglob(f"{img}*"))  # nothing landed under the old content address


def test_a_store_at_an_fsspec_url(built, tmp_path):
    from umedata.versions import export_parquet, gc, verify
    from umedata.versions.export import read_media

    wh, _ = built
    url = f"memory://{tmp_path.name}/store"  # any fsspec filesystem; memory needs no server
    r = build_sft_set(wh, SftSpec(eval_fraction=0.3), store=url)
    assert r.path.startswith("memory://") and r.wrote_files
    assert r.version_id == build_sft_set(wh, SftSpec(eval_fraction=0.3)).version_id  # same id as a local store
    assert not build_sft_set(wh, SftSpec(eval_fraction=0.3), store=url).wrote_files
    rows = read_rows(r.path).to_pylist()
    ref = next(row["qry_images"][0] for row in rows if row["qry_images"])
    assert ref["path"].split("/")[-1].startswith(hashlib.sha256(read_media(r.path, ref)).hexdigest())
    export_parquet(r.path, f"memory://{tmp_path.name}/exported", embed_media=True)
    assert verify(r.path)["ok"] and verify(f"memory://{tmp_path.name}/exported")["ok"]
    assert gc(wh, store=url, min_age_s=0).versions_removed == []
