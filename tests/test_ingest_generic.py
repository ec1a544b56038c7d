"""The generic layout: a column mapping over JSON Lines, parquet and HF `save_to_disk` folders."""

from __future__ import annotations

import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_fixtures import image, jsonl, quarantine, rows, sha, sides_by_text, source
from PIL import Image

from umedata.ingest import ingest_source
from umedata.sources.config import DatasetSpec

MAP = {"qry": "question", "qry_image": "picture", "pos": "answer", "dataset": "subset", "task": "kind"}


def test_jsonl_with_a_column_mapping(warehouse, tmp_path):
    root = tmp_path / "data"
    cat = image(root / "img" / "cat.png")
    jsonl(
        root / "qa.jsonl",
        [
            {
                "question": "What animal?",
                "picture": "img/cat.png",
                "answer": "a cat",
                "subset": "PetsQA",
                "kind": "vqa",
                "extra": 1,
            },
            {"question": "Say hi", "picture": None, "answer": "hi", "subset": None, "kind": None},
        ],
    )
    s = ingest_source(
        warehouse, source(root, "generic", DatasetSpec("Fallback", "qa.jsonl", columns=MAP, split="eval"))
    )
    assert (s.pairs_new, s.quarantined) == (2, 0)
    assert sides_by_text(warehouse)["What animal?"]["media"] == [sha(cat)]
    got = rows(warehouse, "SELECT dataset_name, task, split, modality FROM pairs ORDER BY source_row")
    assert got == [
        {"dataset_name": "PetsQA", "task": "vqa", "split": "eval", "modality": "image"},
        {"dataset_name": "Fallback", "task": "unknown", "split": "eval", "modality": "text"},
    ]


def test_parquet_missing_a_mapped_column_is_quarantined_whole(warehouse, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    pq.write_table(pa.table({"question": ["q"], "answer": ["a"]}), root / "ok.parquet")
    pq.write_table(pa.table({"question": ["q"], "reply": ["a"]}), root / "typo.parquet")
    spec = source(root, "generic", DatasetSpec("D", "*.parquet", columns={"qry": "question", "pos": "answer"}))
    s = ingest_source(warehouse, spec)
    assert s.pairs_new == 1
    assert quarantine(warehouse) == {"typo.parquet": "missing_column"}


def _png_bytes(colour):
    buf = io.BytesIO()
    Image.new("RGB", (6, 6), colour).save(buf, format="PNG")
    return buf.getvalue()


def sha_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_hf_dataset_folders_with_embedded_images(warehouse, tmp_path):
    datasets = pytest.importorskip("datasets")
    root = tmp_path / "data"
    features = datasets.Features(
        {"q": datasets.Value("string"), "img": datasets.Image(), "a": datasets.Value("string")}
    )
    red, blue = _png_bytes("red"), _png_bytes("blue")
    train = datasets.Dataset.from_dict(
        {
            "q": ["which colour?", "and this?"],
            "img": [{"bytes": red, "path": None}, {"bytes": blue, "path": None}],
            "a": ["red", "blue"],
        },
        features=features,
    )
    test = datasets.Dataset.from_dict(
        {"q": ["held out"], "img": [{"bytes": red, "path": None}], "a": ["red"]}, features=features
    )
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(root / "colours"))
    train.save_to_disk(str(root / "flat"))

    cols = {"qry": "q", "qry_image": "img", "pos": "a"}
    spec = source(
        root,
        "generic",
        DatasetSpec("ColoursAll", "colours", columns=cols, split="all"),
        DatasetSpec("ColoursTest", "colours", columns=cols, split="test"),
        DatasetSpec("Flat", "flat", columns=cols),
    )
    s = ingest_source(warehouse, spec)
    assert s.quarantined == 0
    got = rows(warehouse, "SELECT dataset_name, split, count(*) AS n FROM pairs GROUP BY ALL ORDER BY ALL")
    assert got == [
        {"dataset_name": "ColoursAll", "split": "test", "n": 1},  # no "all" split: every split, each keeps its name
        {"dataset_name": "ColoursAll", "split": "train", "n": 2},
        {"dataset_name": "ColoursTest", "split": "test", "n": 1},  # the configured split picks its folder
        {"dataset_name": "Flat", "split": "train", "n": 2},
    ]
    media = {r["sha256"]: r for r in rows(warehouse, "SELECT * FROM media")}
    assert set(media) == {sha_bytes(red), sha_bytes(blue)}
    for m in media.values():  # embedded bytes were written to the content-addressed store
        assert m["path"].startswith(str(warehouse.path.parent / "media")) and open(m["path"], "rb").read() in (
            red,
            blue,
        )


def test_date_like_text_stays_text(warehouse, tmp_path):
    """Arrow's JSON reader would read these as timestamps; a caption that looks like a date is still a caption."""
    root = tmp_path / "data"
    jsonl(root / "dates.jsonl", [{"q": "when?", "a": f"2021-0{k}-01", "tags": [f"2020-01-0{k}"]} for k in range(1, 4)])
    s = ingest_source(
        warehouse, source(root, "generic", DatasetSpec("Dates", "dates.jsonl", columns={"qry": "q", "pos": "a"}))
    )
    assert s.pairs_new == 3 and s.quarantined == 0
    assert {"2021-01-01", "2021-02-01", "2021-03-01"} <= set(sides_by_text(warehouse))
