"""The ingest steps one at a time: what each stages, refuses and skips, seen through the batches it commits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_fixtures import image, jsonl, rows, sha, source

from umedata.ingest import ingest_source
from umedata.ingest.resolve import check_sides, flag, resolve_media, split_refused
from umedata.media import MediaResolver
from umedata.sources.chunk import CHUNK, chunk_from_columns
from umedata.sources.config import DatasetSpec
from umedata.warehouse import Warehouse


class Recording(Warehouse):
    """A real warehouse that also notes how many rows of each table every batch staged."""

    def __init__(self, path):
        super().__init__(path)
        self.staged: list[Counter] = []

    def commit(self, batch):
        if not batch.sealed:
            batch.seal()
        if batch.dir.exists():
            staged = Counter()
            for e in batch.entries:
                staged[e["table"]] += pq.read_metadata(batch.dir / e["file"]).num_rows
            self.staged.append(staged)
        return super().commit(batch)

    def total(self) -> Counter:
        return sum(self.staged, Counter())


@pytest.fixture
def recording(tmp_path):
    wh = Recording(tmp_path / "wh" / "umedata.duckdb")
    wh.init()
    return wh


def mmeb(k: int, img: str = "") -> dict:
    return {"qry": f"question {k}", "qry_image_path": img, "pos_text": f"label {k % 3}", "pos_image_path": ""}


def test_a_reingest_stages_only_the_pairs_the_warehouse_lacks(recording, tmp_path):
    root = tmp_path / "data"
    image(root / "a.png")
    path = jsonl(root / "t.jsonl", [mmeb(k, "a.png" if k % 2 else "") for k in range(40)])
    spec = source(root, "mmeb", DatasetSpec("D", "t.jsonl"))
    ingest_source(recording, spec, batch_rows=15)
    assert (recording.total()["pairs"], recording.total()["media"]) == (40, 1)

    recording.staged.clear()
    again = ingest_source(recording, spec, batch_rows=15)
    assert again.pairs_new == 0
    # Known pairs are recognised before staging: nothing of theirs is written again, only the run's record.
    assert {t for batch in recording.staged for t in batch} == {"ingest_runs"}

    jsonl(path, [mmeb(k, "a.png" if k % 2 else "") for k in range(45)])  # five rows more
    recording.staged.clear()
    grown = ingest_source(recording, spec, batch_rows=15)
    assert grown.pairs_new == recording.total()["pairs"] == 5
    assert (grown.sides_new, grown.media_new) == (5, 0)  # the five questions; labels and image already there


def test_media_shared_across_chunks_are_staged_once(recording, tmp_path):
    root = tmp_path / "data"
    image(root / "a.png")
    jsonl(root / "t.jsonl", [mmeb(k, "a.png") for k in range(30)])
    s = ingest_source(recording, source(root, "mmeb", DatasetSpec("D", "t.jsonl")), batch_rows=10)
    assert len([b for b in recording.staged if b["pairs"]]) == 3
    assert recording.total()["media"] == 1 == s.media_new


def test_an_image_that_is_also_a_side_image_stays_an_image(warehouse, tmp_path):
    root = tmp_path / "data"
    for k in range(2):
        image(root / "v" / f"{k}.png", (k * 100, 0, 0))
    jsonl(
        root / "rl.jsonl",
        [
            {"qry_text": "clip", "qry_video": ["v/0.png", "v/1.png"], "pos_text": "a"},
            {"qry_text": "still", "qry_image": "v/1.png", "pos_text": "b"},
        ],
    )
    ingest_source(warehouse, source(root, "ume_r1_rl", DatasetSpec("D", "rl.jsonl")))
    kinds = {r["sha256"]: r["kind"] for r in rows(warehouse, "SELECT sha256, kind FROM media")}
    assert kinds[sha(root / "v" / "0.png")] == "frame" and kinds[sha(root / "v" / "1.png")] == "image"
    assert sorted(kinds.values()) == ["frame", "image", "video"]


def chunk(**columns) -> pa.Table:
    n = len(next(iter(columns.values())))
    return chunk_from_columns({k: pa.array(v) for k, v in columns.items()}, pa.array(range(n)), lambda a: a)


def test_resolve_media_marks_the_first_problem_of_each_row(tmp_path):
    image(tmp_path / "ok.png")
    rows_ = chunk(
        qry=["fine", "two problems", "bad negative", ""],
        qry_image=["ok.png", "gone.png", "ok.png", ""],
        pos=["p", "p", "p", ""],
        neg=["", "", "n", ""],
        neg_image=["", "also-gone.png", "nope.png", ""],
    )
    assert rows_.schema == CHUNK
    good, found = resolve_media(rows_, MediaResolver(tmp_path, tmp_path / "store"))
    checked = check_sides(good)
    assert checked["error"].to_pylist() == [None, "missing_media", "missing_media", "empty_side"]
    details = checked["error_detail"].to_pylist()
    assert details[1].startswith("qry_image: gone.png") and details[2].startswith("neg_image: nope.png")
    assert details[3] == "qry has neither text nor media"
    assert checked["qry_images"].to_pylist()[0] == [sha(tmp_path / "ok.png")] and set(found.infos) == {
        sha(tmp_path / "ok.png")
    }
    kept, refused = split_refused(checked)
    assert kept["qry_text"].to_pylist() == ["fine"] and refused["row"].to_pylist() == [1, 2, 3]


def test_flag_keeps_the_first_reason_within_and_across_calls():
    t = pa.table({"error": pa.array([None, "earlier", None], pa.string()), "error_detail": [None, "d0", None]})
    t = flag(t, np.array([2, 0, 2, 1]), ["a", "b", "c", "d"], ["da", "db", "dc", "dd"])
    assert t["error"].to_pylist() == ["b", "earlier", "a"]
    assert t["error_detail"].to_pylist() == ["db", "d0", "da"]
