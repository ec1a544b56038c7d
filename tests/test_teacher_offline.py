"""The offline stand-in end to end, through `umedata annotate --backend offline`: every modality (image, video
frames, document page, text) is annotated, parses as ok, and says what made it; a side whose media is missing is
quarantined, not sent."""

from __future__ import annotations

import json

import teacher_helpers as th
from typer.testing import CliRunner

from umedata.format import parse_assistant
from umedata.ids import pair_id, side_id
from umedata.media import sha256_file, video_sha256


def _add_video_doc_and_broken_sides(wh, tmp):
    frames = [th.make_png(tmp / "v" / f"f{i}.png", 16, 16, (i * 30, 0, 0)) for i in range(5)]
    fh = [sha256_file(f) for f in frames]
    vid = video_sha256(fh)
    page = th.make_png(tmp / "doc" / "p1.png", 40, 60, (250, 250, 250))
    ph = sha256_file(page)
    media = [
        {
            "sha256": h,
            "kind": "frame",
            "path": str(f),
            "width": 16,
            "height": 16,
            "frames": None,
            "bytes": 1,
            "format": "PNG",
        }
        for h, f in zip(fh, frames, strict=True)
    ]
    media += [
        {
            "sha256": vid,
            "kind": "video",
            "path": None,
            "width": 16,
            "height": 16,
            "frames": 5,
            "bytes": None,
            "format": None,
        },
        {
            "sha256": ph,
            "kind": "page",
            "path": str(page),
            "width": 40,
            "height": 60,
            "frames": None,
            "bytes": 1,
            "format": "PNG",
        },
    ]
    sides = {
        "video": ("a person waves", [vid], "video"),
        "doc": ("", [ph], "visdoc"),
        "broken": ("an image that is gone", ["f" * 64], "image"),  # no media row: cannot be sent
        "answer": ("waving", [], "text"),
    }
    ids = {k: side_id(t, m) for k, (t, m, _) in sides.items()}
    b = wh.stage()
    b.add("media", media)
    b.add("video_frames", [{"video_sha256": vid, "frame_index": i, "frame_sha256": h} for i, h in enumerate(fh)])
    b.add("sides", [{"side_id": ids[k], "text": t, "media": m, "modality": mod} for k, (t, m, mod) in sides.items()])
    b.add(
        "pairs",
        [
            {
                "pair_id": pair_id("src", "Mixed", "train", ids[q], ids["answer"]),
                "source": "src",
                "dataset_name": "Mixed",
                "modality": sides[q][2],
                "task": "retrieval",
                "split": "train",
                "qry_side_id": ids[q],
                "pos_side_id": ids["answer"],
                "negatives": [],
                "source_file": "x",
                "source_row": 0,
            }
            for q in ("video", "doc", "broken")
        ],
    )
    wh.commit(b)
    return ids


def test_offline_backend_annotates_every_modality(warehouse, tmp_path):
    from umedata.cli import app

    data = th.seed(warehouse, tmp_path, n_pairs=4, images=True)
    ids = _add_video_doc_and_broken_sides(warehouse, tmp_path)
    res = CliRunner().invoke(app, ["annotate", "--backend", "offline", "-w", str(warehouse.path), "--no-progress",
                                   "-f", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["model"] == "offline-template"
    assert summary["unsendable"] == {"media_missing": 1}
    ann = warehouse.sql("SELECT * FROM annotations").to_pylist()
    assert len(ann) == len(data["sides"]) + 3  # all but the broken side
    for a in ann:
        assert a["model"] == "offline-template" and a["origin"] == "teacher:offline:offline"
        assert parse_assistant(a["raw"]).ok
    by_side = {a["side_id"]: a for a in ann}
    assert "video of 5 frames" in by_side[ids["video"]]["reasoning"]
    assert "document page" in by_side[ids["doc"]]["reasoning"]
    q = warehouse.sql("SELECT reason FROM quarantine WHERE stage = 'teacher'").column(0).to_pylist()
    assert q == ["media_missing"]


def test_the_example_teacher_config_loads():
    from pathlib import Path

    from umedata.teacher.config import load_config

    cfg = load_config(Path(__file__).resolve().parent.parent / "examples" / "teacher.toml")
    assert cfg.backend == "openai" and cfg.endpoints and cfg.endpoints[0].self_hosted
