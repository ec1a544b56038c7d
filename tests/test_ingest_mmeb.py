"""MMEB-train (VLM2Vec layout): placeholders, ordered media, negatives, shared sides, re-ingest, columnar paths."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_fixtures import counts, image, jsonl, pdf, rows, sha, sides_by_text, source

from umedata import ids
from umedata.ingest import ingest_source
from umedata.sources.config import DatasetSpec

CLASSIFY = "<|image_1|>\nRepresent the given image for classification"


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "MMEB-train"
    image(r / "images" / "cat.png", (200, 120, 40), (16, 12))
    image(r / "images" / "dog.png", (90, 60, 30), (10, 10))
    return r


def mmeb_rows():
    return [
        {
            "qry": CLASSIFY,
            "qry_image_path": "images/cat.png",
            "pos_text": "cat",
            "pos_image_path": "",
            "neg_text": "dog",
            "neg_image_path": "",
        },
        {
            "qry": CLASSIFY,
            "qry_image_path": "images/dog.png",
            "pos_text": "dog",
            "pos_image_path": "",
            "neg_text": "cat",
            "neg_image_path": "",
        },
        {
            "qry": "<|image_1|> compare <|image_2|>",
            "qry_image_path": ["images/dog.png", "images/cat.png"],
            "pos_text": "two pets",
            "pos_image_path": "",
        },
        {
            "qry": "Find a picture of a cat",
            "qry_image_path": "",
            "pos_text": "<|image_1|>\nRepresent the given image",
            "pos_image_path": "images/cat.png",
            "neg_text": "<|image_1|>\nRepresent the given image",
            "neg_image_path": "images/dog.png",
        },
    ]


def test_mmeb_rows_become_pairs_sides_and_media(warehouse, root):
    jsonl(root / "Pets" / "train.jsonl", mmeb_rows())
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("Pets", "Pets/train.jsonl", task="classification")))
    assert (s.rows_seen, s.pairs_new, s.quarantined) == (4, 4, 0)
    cat, dog = sha(root / "images" / "cat.png"), sha(root / "images" / "dog.png")

    sides = sides_by_text(warehouse)
    assert not any("<|image_" in t for t in sides)
    assert sides["compare"]["media"] == [dog, cat]  # placeholder order, not file order
    all_sides = rows(warehouse, "SELECT * FROM sides")
    same_text = [r["media"] for r in all_sides if r["text"] == "Represent the given image"]
    assert sorted(same_text) == sorted([[cat], [dog]])  # same text, different image: two sides
    for r in all_sides:
        assert r["side_id"] == ids.side_id(r["text"], r["media"])
        assert r["modality"] == ("image" if r["media"] else "text")

    pairs = {r["source_row"]: r for r in rows(warehouse, "SELECT * FROM pairs")}
    # Row 0's negative "dog" is row 1's positive: one side, referenced twice.
    assert pairs[0]["negatives"] == [pairs[1]["pos_side_id"]] == [ids.side_id("dog", [])]
    assert pairs[1]["negatives"] == [pairs[0]["pos_side_id"]]
    assert pairs[2]["negatives"] == []  # no negative columns in that row
    assert pairs[3]["negatives"] == [ids.side_id("Represent the given image", [dog])]
    assert pairs[3]["pos_side_id"] == ids.side_id("Represent the given image", [cat])
    for p in pairs.values():
        assert p["pair_id"] == ids.pair_id("src", "Pets", "train", p["qry_side_id"], p["pos_side_id"], p["negatives"])
        assert (p["dataset_name"], p["task"], p["split"], p["modality"]) == ("Pets", "classification", "train", "image")
        assert p["source_file"] == "Pets/train.jsonl"
    side_ids = {r["side_id"] for r in all_sides}
    assert all(n in side_ids for p in pairs.values() for n in p["negatives"])

    media = {r["sha256"]: r for r in rows(warehouse, "SELECT * FROM media")}
    assert set(media) == {cat, dog}
    assert (media[cat]["width"], media[cat]["height"], media[cat]["format"], media[cat]["kind"]) == (
        16,
        12,
        "PNG",
        "image",
    )
    assert media[cat]["path"] == str(root / "images" / "cat.png")


def test_reingest_adds_nothing(warehouse, root):
    jsonl(root / "Pets" / "train.jsonl", mmeb_rows())
    spec = source(root, "mmeb", DatasetSpec("Pets", "Pets/train.jsonl"))
    first = ingest_source(warehouse, spec)
    before = counts(warehouse)
    again = ingest_source(warehouse, spec)
    assert counts(warehouse) == before
    assert (again.pairs_new, again.sides_new, again.media_new, again.quarantine_new) == (0, 0, 0, 0)
    assert again.rows_seen == first.rows_seen and first.pairs_new == before["pairs"]
    assert len(rows(warehouse, "SELECT * FROM ingest_runs")) == 2  # each run is recorded


def test_a_side_repeated_across_pairs_is_stored_once(warehouse, root):
    data = [
        {
            "qry": CLASSIFY,
            "qry_image_path": "images/cat.png" if k % 2 else "images/dog.png",
            "pos_text": "Yes",
            "pos_image_path": "",
        }
        for k in range(50)
    ]
    data += [{"qry": f"question {k}", "qry_image_path": "", "pos_text": "Yes", "pos_image_path": ""} for k in range(50)]
    jsonl(root / "Memes" / "train.jsonl", data)
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("Memes", "Memes/train.jsonl")), batch_rows=30)
    c = counts(warehouse)
    # 2 distinct image queries + 50 text queries + one "Yes".
    assert (c["pairs"], c["sides"], s.sides_new) == (52, 53, 53)
    assert rows(warehouse, "SELECT count(*) AS n FROM sides WHERE text = 'Yes'")[0]["n"] == 1


def test_parquet_and_jsonl_give_the_same_sides(warehouse, root):
    data = [r for r in mmeb_rows() if not isinstance(r["qry_image_path"], list)]
    table = pa.Table.from_pylist(
        [{**r, "neg_text": r.get("neg_text", ""), "neg_image_path": r.get("neg_image_path", "")} for r in data]
    )
    (root / "P").mkdir()
    pq.write_table(table, root / "P" / "train.parquet")
    jsonl(root / "J" / "train.jsonl", data)  # uniform types: read by Arrow's JSON reader
    ingest_source(warehouse, source(root, "mmeb", DatasetSpec("Pets", "P/train.parquet"), name="p"))
    ingest_source(warehouse, source(root, "mmeb", DatasetSpec("Pets", "J/train.jsonl"), name="j"))
    by_source = {}
    for r in rows(warehouse, "SELECT source, qry_side_id, pos_side_id, negatives FROM pairs ORDER BY source_row"):
        by_source.setdefault(r["source"], []).append((r["qry_side_id"], r["pos_side_id"], r["negatives"]))
    assert by_source["p"] == by_source["j"] and len(by_source["p"]) == 3


def test_list_columns_in_parquet_keep_their_order(warehouse, root):
    table = pa.table(
        {
            "qry": ["<|image_1|><|image_2|> which is bigger?", "<|image_1|> alone"],
            "qry_image_path": pa.array(
                [["images/cat.png", "images/dog.png"], ["images/dog.png"]], pa.list_(pa.string())
            ),
            "pos_text": ["the cat", "a dog"],
            "pos_image_path": pa.array([None, None], pa.string()),
        }
    )
    pq.write_table(table, root / "multi.parquet")
    ingest_source(warehouse, source(root, "mmeb", DatasetSpec("Multi", "multi.parquet", task="vqa")))
    sides = sides_by_text(warehouse)
    assert sides["which is bigger?"]["media"] == [sha(root / "images/cat.png"), sha(root / "images/dog.png")]
    assert sides["alone"]["media"] == [sha(root / "images/dog.png")]


def test_task_defaults_and_visual_documents(warehouse, root):
    pdf(root / "docs" / "report.pdf", pages=2)
    jsonl(
        root / "HatefulMemes" / "train.jsonl",
        [{"qry": CLASSIFY, "qry_image_path": "images/cat.png", "pos_text": "No", "pos_image_path": ""}],
    )
    jsonl(root / "Mine" / "train.jsonl", [{"qry": "q", "qry_image_path": "", "pos_text": "a", "pos_image_path": ""}])
    jsonl(
        root / "Docs" / "train.jsonl",
        [
            {
                "qry": "What is on page two?",
                "qry_image_path": "",
                "pos_text": "<|image_1|>",
                "pos_image_path": "docs/report.pdf#page=2",
            }
        ],
    )
    spec = source(
        root,
        "mmeb",
        DatasetSpec("HatefulMemes", "HatefulMemes/train.jsonl"),
        DatasetSpec("Mine", "Mine/train.jsonl"),
        DatasetSpec("DocRetrieval", "Docs/train.jsonl", modality="visdoc", task="retrieval"),
    )
    ingest_source(warehouse, spec)
    pairs = {r["dataset_name"]: r for r in rows(warehouse, "SELECT * FROM pairs")}
    assert pairs["HatefulMemes"]["task"] == "classification"  # MMEB-train's own meta-task
    assert pairs["Mine"]["task"] == "unknown" and pairs["Mine"]["modality"] == "text"
    assert pairs["DocRetrieval"]["modality"] == "visdoc"
    page = rows(warehouse, "SELECT m.* FROM media m WHERE kind = 'page'")
    assert len(page) == 1
    assert page[0]["path"].startswith(str(warehouse.path.parent / "media"))
    pos = sides_by_text(warehouse)[""]
    assert pos["media"] == [page[0]["sha256"]] and pos["modality"] == "visdoc"


def test_glob_paths_and_progress(warehouse, root):
    for k in range(3):
        jsonl(root / "shards" / f"part-{k}.jsonl", [{"qry": f"q{k}-{i}", "pos_text": f"a{i}"} for i in range(4)])
    seen: list[int] = []
    s = ingest_source(
        warehouse,
        source(root, "mmeb", DatasetSpec("Sharded", "shards/part-*.jsonl")),
        batch_rows=5,
        progress=seen.append,
    )
    assert s.pairs_new == 12 and seen[-1] == 12 and seen == sorted(seen)
    assert {r["source_file"] for r in rows(warehouse, "SELECT source_file FROM pairs")} == {
        f"shards/part-{k}.jsonl" for k in range(3)
    }


def test_a_grown_file_adds_exactly_its_new_rows(warehouse, root):
    first = [{"qry": f"question {k}", "pos_text": f"answer {k % 3}"} for k in range(20)]
    path = jsonl(root / "grow.jsonl", first)
    spec = source(root, "mmeb", DatasetSpec("Grow", "grow.jsonl"))
    ingest_source(warehouse, spec, batch_rows=7)
    more = [{"qry": f"question {k}", "pos_text": f"answer {k % 5}"} for k in range(20, 30)]
    jsonl(path, first[:10] + more + first[10:])  # new rows in the middle shift the old ones
    again = ingest_source(warehouse, spec, batch_rows=7)
    assert (again.pairs_new, again.sides_new) == (10, 10 + 2)  # ten questions, answers 3 and 4
    assert counts(warehouse)["pairs"] == 30
