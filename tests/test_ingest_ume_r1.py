"""UME-R1 SFT and RL JSON: prompt stripping, blank-image sides, videos as frame lists, imported annotations."""

from __future__ import annotations

import os

import pytest
from ingest_fixtures import WRAPPED_PROMPT, counts, image, json_array, jsonl, rows, sha, sides_by_text, source

from umedata import ids
from umedata.format import parse_assistant
from umedata.ingest import ingest_source
from umedata.media import video_sha256
from umedata.sources.config import DatasetSpec


def human(text: str, tag: str = "") -> dict:
    return {"from": "human", "value": f"{tag}{text}\n<disc_emb>\n{WRAPPED_PROMPT}"}


def gpt(reasoning: str, summary: str) -> dict:
    return {"from": "gpt", "value": f"<think>{reasoning}</think><answer>{summary}<gen_emb>"}


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "MMEB-train"
    image(r / "images" / "voc" / "cat.jpg", (120, 80, 40), (20, 10), fmt="JPEG")
    for k in range(3):
        image(r / "video" / "v1" / f"{k}.png", (k * 80, 40, 40))
    # images/blank.jpg is not needed on disk: the name alone marks a text-only side.
    return r


# The sides both layouts make of the fixture's rows (prompts stripped, tags gone, blank.jpg = text only).
SIDE_TEXTS = {"Represent the given image for classification", "cat", "Represent the given video.", "a moving dot"}


def video_frames(root) -> list[str]:
    """The content ids of the fixture's one video's three frames, in order."""
    return [sha(root / "video" / "v1" / f"{k}.png") for k in range(3)]


def sft_rows():
    return [
        {
            "dataset_name": "VOC2007",
            "qry": {
                "conversations": [
                    human("Represent the given image for classification", "<image>\n"),
                    gpt("A small orange animal with whiskers.", "cat"),
                ],
                "image": "images/voc/cat.jpg",
            },
            "pos": {
                "conversations": [human("cat"), gpt("The word names an animal.", "cat")],
                "image": "images/blank.jpg",
            },
        },
        {
            "dataset_name": "MSR-VTT",
            "qry": {
                "conversations": [
                    human("Represent the given video.", "<video>\n"),
                    gpt("A dot moves right.", "moving dot"),
                ],
                "video": ["video/v1/0.png", "video/v1/1.png", "video/v1/2.png"],
            },
            "pos": {"conversations": [human("a moving dot"), gpt("A caption about motion.", "moving dot")]},
        },
        {
            "dataset_name": "VOC2007",
            "qry": {
                "conversations": [
                    human("Represent the given image for classification", "<image>\n"),
                    {"from": "gpt", "value": "<think>Cat again.</think><answer>cat</answer><gen_emb>"},
                ],
                "image": ["images/voc/cat.jpg"],
            },
            "pos": {"conversations": [human("cat")], "image": "images/blank.jpg"},
        },
    ]


def test_sft_rows_land_with_stripped_text_and_imported_annotations(warehouse, root):
    data = sft_rows()
    json_array(root / "ume" / "UME-sft-train.json", data)
    s = ingest_source(warehouse, source(root, "ume_r1_sft", DatasetSpec(None, "ume/UME-sft-train.json")))
    # Rows 0 and 2 hold the same pair (their gpt texts differ): one pair, both annotations.
    assert (s.pairs_new, s.quarantined, s.annotations_new) == (2, 0, 5)

    cat = sha(root / "images" / "voc" / "cat.jpg")
    frames = video_frames(root)
    video = video_sha256(frames)
    sides = sides_by_text(warehouse)
    assert set(sides) == SIDE_TEXTS
    assert sides["Represent the given image for classification"]["media"] == [cat]
    assert sides["cat"]["media"] == [] and sides["cat"]["modality"] == "text"  # blank.jpg: text-only
    assert (
        sides["Represent the given video."]["media"] == [video]
        and sides["Represent the given video."]["modality"] == "video"
    )

    pairs = {r["source_row"]: r for r in rows(warehouse, "SELECT * FROM pairs")}
    assert set(pairs) == {0, 1}  # the first occurrence is kept
    assert [pairs[k]["dataset_name"] for k in range(2)] == ["VOC2007", "MSR-VTT"]
    assert pairs[0]["task"] == "classification" and pairs[1]["task"] == "unknown"
    assert [pairs[k]["modality"] for k in range(2)] == ["image", "video"]
    assert pairs[0]["pair_id"] == ids.pair_id(
        "src", "VOC2007", "train", pairs[0]["qry_side_id"], pairs[0]["pos_side_id"]
    )

    media = {r["sha256"]: r for r in rows(warehouse, "SELECT * FROM media")}
    assert media[video]["kind"] == "video" and media[video]["frames"] == 3 and media[video]["path"] is None
    assert all(media[f]["kind"] == "frame" for f in frames)
    vf = rows(
        warehouse,
        f"SELECT frame_index, frame_sha256 FROM video_frames WHERE video_sha256 = '{video}' ORDER BY frame_index",
    )
    assert [r["frame_sha256"] for r in vf] == frames

    # Every gpt turn is an annotation of its side, raw byte for byte, so an export can rebuild the row.
    ann = rows(warehouse, "SELECT * FROM annotations")
    side_text = {r["side_id"]: r["text"] for r in rows(warehouse, "SELECT side_id, text FROM sides")}
    gpts = {}
    for row in data:
        for side in ("qry", "pos"):
            conv = row[side]["conversations"]
            if len(conv) == 2:
                gpts.setdefault(conv[0]["value"], set()).add(conv[1]["value"])
    assert len(ann) == 5
    for a in ann:
        parsed = parse_assistant(a["raw"])
        assert (a["model"], a["prompt_version"], a["origin"]) == (
            "imported",
            "imported:ume-r1-sft",
            "ume/UME-sft-train.json",
        )
        assert (a["reasoning"], a["summary"], a["format_status"], a["closed_answer"]) == (
            parsed.reasoning,
            parsed.summary,
            parsed.status,
            parsed.closed_answer,
        )
        assert any(a["raw"] in v for k, v in gpts.items() if side_text[a["side_id"]] in k)
    assert {a["closed_answer"] for a in ann} == {True, False}


def test_sft_round_trip_fields_are_recoverable(warehouse, root):
    """dataset_name, the image path relative to the root and the gpt text come back out of the warehouse."""
    data = sft_rows()[:1]
    json_array(root / "sft.json", data)
    spec = source(root, "ume_r1_sft", DatasetSpec(None, "sft.json"))
    ingest_source(warehouse, spec)
    r = rows(
        warehouse,
        """
        SELECT p.dataset_name, m.path, a.raw FROM pairs p JOIN sides q ON q.side_id = p.qry_side_id
        JOIN media m ON m.sha256 = q.media[1] JOIN annotations a ON a.side_id = q.side_id""",
    )[0]
    assert r["dataset_name"] == data[0]["dataset_name"]
    assert os.path.relpath(r["path"], spec.root) == data[0]["qry"]["image"]
    assert r["raw"] == data[0]["qry"]["conversations"][1]["value"]


def test_sft_bad_shapes_are_quarantined(warehouse, root):
    good = sft_rows()[0]
    json_array(
        root / "sft.json",
        [
            good,
            {**good, "qry": "not an object"},
            {**good, "pos": {"conversations": [{"from": "gpt", "value": "x"}]}},
            {**good, "qry": {**good["qry"], "conversations": "nope"}},
            {**good, "qry": {**good["qry"], "image": 7}},
            [1, 2],
        ],
    )
    s = ingest_source(warehouse, source(root, "ume_r1_sft", DatasetSpec(None, "sft.json")))
    assert s.pairs_new == 1 and s.reasons == {"wrong_type": 5}
    assert {r["what"] for r in rows(warehouse, "SELECT what FROM quarantine")} == {f"sft.json:{k}" for k in range(1, 6)}
    assert counts(warehouse)["annotations"] == 2  # only the good row's


def test_rl_rows(warehouse, root):
    prompt = f"\n<disc_emb>\n{WRAPPED_PROMPT}"
    jsonl(
        root / "rl.jsonl",
        [
            {
                "dataset_name": "VOC2007",
                "qry_text": "<image>\nRepresent the given image for classification" + prompt,
                "qry_image": "images/voc/cat.jpg",
                "qry_video": None,
                "pos_text": "cat" + prompt,
                "pos_image": "images/blank.jpg",
                "pos_video": None,
            },
            {
                "dataset_name": "MSR-VTT",
                "qry_text": "<video>\nRepresent the given video." + prompt,
                "qry_image": "",
                "qry_video": ["video/v1/0.png", "video/v1/1.png", "video/v1/2.png"],
                "pos_text": "a moving dot" + prompt,
                "pos_image": None,
                "pos_video": None,
            },
        ],
    )
    s = ingest_source(warehouse, source(root, "ume_r1_rl", DatasetSpec(None, "rl.jsonl", split="rl")))
    assert (s.pairs_new, s.quarantined, s.annotations_new) == (2, 0, 0)
    sides = sides_by_text(warehouse)
    assert set(sides) == SIDE_TEXTS
    assert sides["cat"]["media"] == []
    assert sides["Represent the given video."]["media"] == [video_sha256(video_frames(root))]
    pairs = rows(warehouse, "SELECT dataset_name, split, modality FROM pairs ORDER BY source_row")
    assert pairs == [
        {"dataset_name": "VOC2007", "split": "rl", "modality": "image"},
        {"dataset_name": "MSR-VTT", "split": "rl", "modality": "video"},
    ]


def test_a_side_with_images_and_a_video_is_refused(warehouse, root):
    jsonl(
        root / "rl.jsonl",
        [
            {"qry_text": "both", "qry_image": "images/voc/cat.jpg", "qry_video": ["video/v1/0.png"], "pos_text": "x"},
        ],
    )
    s = ingest_source(warehouse, source(root, "ume_r1_rl", DatasetSpec("D", "rl.jsonl")))
    assert s.pairs_new == 0 and s.reasons == {"wrong_type": 1}


def test_reingest_takes_a_new_gpt_text_for_a_known_pair(warehouse, root):
    data = sft_rows()[:2]
    path = json_array(root / "sft.json", data)
    spec = source(root, "ume_r1_sft", DatasetSpec(None, "sft.json"))
    ingest_source(warehouse, spec)
    data[0]["qry"]["conversations"][1]["value"] = "<think>Revised.</think><answer>a cat<gen_emb>"
    json_array(path, data)
    again = ingest_source(warehouse, spec)
    assert (again.pairs_new, again.sides_new, again.media_new, again.annotations_new) == (0, 0, 0, 1)
    assert counts(warehouse)["annotations"] == 5
