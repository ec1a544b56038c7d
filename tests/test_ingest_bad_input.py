"""Bad input never stops the batch and never vanishes: one quarantine row each, good rows land."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_fixtures import counts, image, json_array, jsonl, quarantine, rows, source

from umedata.ingest import ingest_source
from umedata.sources.config import DatasetSpec


def row(qry="<|image_1|> q", img="images/ok.png", pos="a"):
    return {"qry": qry, "qry_image_path": img, "pos_text": pos, "pos_image_path": ""}


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    image(r / "images" / "ok.png")
    (r / "images" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    outside = image(tmp_path / "elsewhere" / "secret.png", (1, 2, 3))
    (r / "images" / "link_out.png").symlink_to(outside)
    return r


def test_every_kind_of_bad_row_is_quarantined_while_good_rows_land(warehouse, root, tmp_path):
    lines = [
        row(pos="good one"),  # 0
        row(img="images/missing.png"),  # 1
        row(img="images/corrupt.jpg"),  # 2
        '{"qry": "unterminated", ',  # 3
        row(qry=42),  # 4
        row(qry={"text": "nested"}),  # 5
        row(img=3.5),  # 6
        b'{"qry": "caf\xe9", "pos_text": "latin-1 bytes"}',  # 7
        row(img="../elsewhere/secret.png"),  # 8
        row(img=str(tmp_path / "elsewhere" / "secret.png")),  # 9
        row(img="images/link_out.png"),  # 10
        row(qry="", img=""),  # 11
        "[1, 2, 3]",  # 12
        "",  # 13: blank line, skipped
        row(img=str(root / "images" / "ok.png"), pos="good two"),  # 14: absolute but inside
    ]
    jsonl(root / "bad.jsonl", lines)
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "bad.jsonl")))
    expected = {
        "bad.jsonl:1": "missing_media",
        "bad.jsonl:2": "corrupt_media",
        "bad.jsonl:3": "bad_json",
        "bad.jsonl:4": "wrong_type",
        "bad.jsonl:5": "wrong_type",
        "bad.jsonl:6": "wrong_type",
        "bad.jsonl:7": "non_utf8",
        "bad.jsonl:8": "path_escape",
        "bad.jsonl:9": "path_escape",
        "bad.jsonl:10": "path_escape",
        "bad.jsonl:11": "empty_side",
        "bad.jsonl:12": "wrong_type",
    }
    assert quarantine(warehouse) == expected
    assert s.quarantined == len(expected) == s.quarantine_new
    assert s.reasons == {r: list(expected.values()).count(r) for r in set(expected.values())}
    assert s.rows_seen == 14 and s.pairs_new == 2
    assert {r["pos_text"] for r in rows(warehouse, "SELECT pos_text FROM pair_overview")} == {"good one", "good two"}
    details = {r["what"]: r["detail"] for r in rows(warehouse, "SELECT what, detail, source, stage FROM quarantine")}
    assert "missing.png" in details["bad.jsonl:1"] and "qry_image" in details["bad.jsonl:1"]
    assert {(r["source"], r["stage"]) for r in rows(warehouse, "SELECT source, stage FROM quarantine")} == {
        ("src", "ingest")
    }
    # Nothing from outside the root was hashed or recorded.
    assert all(m["path"].startswith(str(root)) for m in rows(warehouse, "SELECT path FROM media"))

    before = counts(warehouse)
    again = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "bad.jsonl")))
    assert counts(warehouse) == before and again.quarantined == len(expected) and again.quarantine_new == 0


def test_bad_rows_in_a_json_array(warehouse, root):
    good = {"dataset_name": "D", "qry_text": "hello", "pos_text": "world"}
    path = json_array(root / "rl.json", [good, {**good, "qry_text": ["a", "list"]}, {**good, "pos_text": "ok two"}])
    # Invalid UTF-8 inside one element: only that element is refused.
    raw = path.read_bytes().replace(b'"ok two"', b'"ok \xff two"')
    path.write_bytes(raw + b"\n")
    s = ingest_source(warehouse, source(root, "ume_r1_rl", DatasetSpec(None, "rl.json")))
    assert s.pairs_new == 1
    assert quarantine(warehouse) == {"rl.json:1": "wrong_type", "rl.json:2": "non_utf8"}


def test_a_broken_json_array_keeps_the_rows_before_the_break(warehouse, root):
    good = {"dataset_name": "D", "qry_text": "hello", "pos_text": "world"}
    text = json.dumps([good, {**good, "pos_text": "second"}, {**good, "pos_text": "third"}])
    (root / "cut.json").write_text(text.replace('"third"}', '"third"'), encoding="utf-8")
    s = ingest_source(warehouse, source(root, "ume_r1_rl", DatasetSpec(None, "cut.json")))
    assert s.pairs_new == 2
    assert quarantine(warehouse) == {"cut.json:2": "bad_json"}


def test_non_utf8_and_wrong_types_in_parquet(warehouse, root):
    table = pa.table(
        {
            "qry": pa.array([b"fine", b"caf\xe9", b"also fine"], pa.binary()),
            "qry_image_path": ["", "", ""],
            "pos_text": ["a", "b", "c"],
            "pos_image_path": pa.array([None, None, 7], pa.int64()),
        }
    )
    pq.write_table(table, root / "t.parquet")
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "t.parquet")))
    assert s.pairs_new == 1
    assert quarantine(warehouse) == {"t.parquet:1": "non_utf8", "t.parquet:2": "wrong_type"}


def test_a_wrong_column_type_refuses_every_row_that_has_a_value(warehouse, root):
    pq.write_table(
        pa.table({"qry": pa.array([1, None, 3]), "pos_text": ["a", "b", "c"], "qry_image_path": ["images/ok.png"] * 3}),
        root / "n.parquet",
    )
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "n.parquet")))
    assert s.pairs_new == 1  # the row whose qry is null still has its image
    assert quarantine(warehouse) == {"n.parquet:0": "wrong_type", "n.parquet:2": "wrong_type"}


def test_missing_and_unreadable_files(warehouse, root):
    (root / "junk.parquet").write_bytes(b"PAR1 not parquet at all")
    spec = source(
        root,
        "mmeb",
        DatasetSpec("A", "nope/*.jsonl"),
        DatasetSpec("B", "missing.jsonl"),
        DatasetSpec("C", "junk.parquet"),
    )
    s = ingest_source(warehouse, spec)
    assert quarantine(warehouse) == {
        "nope/*.jsonl": "missing_file",
        "missing.jsonl": "missing_file",
        "junk.parquet": "unreadable_file",
    }
    assert s.quarantined == 3 and s.pairs_new == 0


def test_a_bad_negative_quarantines_its_pair(warehouse, root):
    jsonl(
        root / "neg.jsonl",
        [
            {**row(), "neg_text": "n", "neg_image_path": "images/missing.png"},
            {**row(pos="b"), "neg_text": ["x", "y"], "neg_image_path": ["images/ok.png"]},  # lengths differ
            {**row(pos="c"), "neg_text": ["x", "y"], "neg_image_path": ["images/ok.png", ""]},
        ],
    )
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "neg.jsonl")))
    assert s.pairs_new == 1
    assert quarantine(warehouse) == {"neg.jsonl:0": "missing_media", "neg.jsonl:1": "wrong_type"}
    (negs,) = [r["negatives"] for r in rows(warehouse, "SELECT negatives FROM pairs")]
    texts = {r["side_id"]: (r["text"], len(r["media"])) for r in rows(warehouse, "SELECT * FROM sides")}
    assert [texts[n] for n in negs] == [("x", 1), ("y", 0)]


def _invalid_utf8_strings(values: list[bytes | None]) -> pa.Array:
    """A string column holding bytes that are not UTF-8, as a careless writer can put in parquet."""
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(values), raw.buffers(), null_count=raw.null_count)


def test_invalid_utf8_inside_parquet_string_columns(warehouse, root):
    pq.write_table(
        pa.table(
            {
                "qry": _invalid_utf8_strings([b"fine", b"caf\xe9", b"fine too", b"and this"]),
                "qry_image_path": _invalid_utf8_strings([b"", b"", b"images/\xff.png", b"images/ok.png"]),
                "pos_text": ["a", "b", "c", "d"],
            }
        ),
        root / "u.parquet",
    )
    s = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "u.parquet")))
    assert s.pairs_new == 2
    assert quarantine(warehouse) == {"u.parquet:1": "non_utf8", "u.parquet:2": "non_utf8"}


def test_a_byte_order_mark_is_not_a_bad_row(warehouse, root):
    (root / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(row(img="")).encode() + b"\n")
    (root / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([{"qry_text": "q", "pos_text": "p"}]).encode())
    s1 = ingest_source(warehouse, source(root, "mmeb", DatasetSpec("D", "bom.jsonl"), name="a"))
    s2 = ingest_source(warehouse, source(root, "ume_r1_rl", DatasetSpec("D", "bom.json"), name="b"))
    assert (s1.pairs_new, s2.pairs_new, s1.quarantined + s2.quarantined) == (1, 1, 0)


def test_bad_lines_cost_their_block_no_columnar_speed(warehouse, tmp_path):
    """A few bad lines in a large JSON Lines block: they are quarantined with their line numbers, and the rest of
    the block is still read as one Arrow table (not line by line)."""
    from umedata.sources.readers import read_blocks

    r = tmp_path / "big"
    good = [json.dumps({"qry": f"query {i}", "pos_text": f"target {i % 7}"}) for i in range(3000)]
    planted = {17: '{"qry": "unterminated', 1500: b'{"qry": "caf\xe9"}', 2999: "[1, 2, 3]"}
    lines = [planted.get(i, line) for i, line in enumerate(good)]
    jsonl(r / "big.jsonl", lines)
    blocks = list(read_blocks(r / "big.jsonl", batch_rows=10_000))
    tables = [b for b in blocks if b.table is not None]
    assert len(tables) == 1 and tables[0].table.num_rows == 3000 - len(planted)
    assert set(tables[0].rows.to_pylist()).isdisjoint(planted)
    s = ingest_source(warehouse, source(r, "mmeb", DatasetSpec("D", "big.jsonl")))
    assert quarantine(warehouse) == {"big.jsonl:17": "bad_json", "big.jsonl:1500": "non_utf8",
                                     "big.jsonl:2999": "wrong_type"}
    assert s.pairs_new == 3000 - len(planted) and s.rows_seen == 3000
