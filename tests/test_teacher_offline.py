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


# -- what the stand-in says is measured in the side's own pixels ------------------------------------------------------
def _drawing(path, objects, size=64):
    """A white picture with filled shapes: (colour rgb, shape, cx, cy, r)."""
    from PIL import Image, ImageDraw
    from training_fixtures import draw_shape

    img = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for rgb, shape, cx, cy, r in objects:
        draw_shape(d, shape, cx, cy, r, rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def _request(text, modality, media, n_frames=0):
    from umedata.teacher.keys import MediaRef, PreparedRequest

    refs = [MediaRef(str(i) * 64, str(p), kind) for i, (p, kind) in enumerate(media)]
    return PreparedRequest(key="k", side_id="s", source="src", modality=modality, text=text, external_ok=True,
                           prompt_version="v", messages=[], messages_json="[]", media=refs, n_frames=n_frames)


def test_an_image_is_described_by_the_shapes_colours_and_places_measured(tmp_path):
    from umedata.teacher.offline import compose

    pic = _drawing(tmp_path / "a.png", [((210, 30, 40), "circle", 10, 10, 8), ((30, 70, 210), "square", 53, 32, 8)])
    reasoning, summary = compose(_request("Find a caption describing the given image.", "image", [(pic, "image")]))
    assert summary == "a red circle at the top left and a blue square on the right"
    assert "2 shapes" in reasoning and summary in reasoning and "Offline template" in reasoning
    # a question about the picture is answered from the same measurements
    _, answer = compose(_request("Represent the given image with the following question: How many squares are "
                                 "there?", "image", [(pic, "image")]))
    assert answer == "1"
    _, colour = compose(_request("Question: What colour is the circle?", "image", [(pic, "image")]))
    assert colour == "red"
    _, shape = compose(_request("Question: What shape is on the right?", "image", [(pic, "image")]))
    assert shape == "square"


def test_it_reads_pixels_not_file_names(tmp_path):
    """The sample's paths name what they hold (video/red-circle-top/...): the stand-in must not read them."""
    from umedata.teacher.offline import compose

    a = _drawing(tmp_path / "green-triangle" / "x.png", [((220, 40, 40), "triangle", 32, 32, 9)])
    b = tmp_path / "neutral.png"
    b.write_bytes(a.read_bytes())
    one = compose(_request("", "image", [(a, "image")]))
    assert one == compose(_request("", "image", [(b, "image")]))
    assert one[1] == "a red triangle in the center"


def test_a_video_is_described_by_what_moves_and_where(tmp_path):
    from umedata.teacher.offline import compose

    frames = [_drawing(tmp_path / f"f{k}.png", [((40, 160, 60), "circle", 10 + 11 * k, 53, 6)]) for k in range(5)]
    reasoning, summary = compose(_request("", "video", [(f, "frame") for f in frames], n_frames=5))
    assert summary == "a green circle moving right across the bottom"
    assert "moves right" in reasoning and "5 frames" in reasoning
    _, back = compose(_request("", "video", [(f, "frame") for f in frames[::-1]], n_frames=5))
    assert back == "a green circle moving left across the bottom"


def test_a_page_is_read_and_a_text_keeps_its_content(tmp_path):
    from PIL import Image, ImageDraw, ImageFont

    from umedata.teacher.offline import compose

    page = Image.new("L", (200, 80), 255)
    font = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()
    for k, line in enumerate(["Harbor report", "Main crop: barley", "Warden: Okafor"]):
        ImageDraw.Draw(page).text((10, 8 + 20 * k), line, font=font, fill=0)
    page.save(tmp_path / "p.png")
    reasoning, summary = compose(_request("Understand the content of the provided document page.", "visdoc",
                                          [(tmp_path / "p.png", "page")]))
    assert "Main crop: barley; Warden: Okafor" in reasoning
    assert summary == "Harbor report Main crop: barley Warden: Okafor"
    _, gist = compose(_request("Find me an image that matches the given caption: a red circle", "text", []))
    assert gist == "a red circle"


def test_the_pending_selection_in_parts_is_the_selection_in_one(warehouse, tmp_path):
    """The spill is written in slices of the side ids (bounded memory at any warehouse size); a side's every use
    falls in its slice, so what is pending and where it may go are as one pass over all pairs says."""
    import pyarrow.parquet as pq

    from umedata.teacher.config import TeacherConfig
    from umedata.teacher.producer import Producer
    from umedata.teacher.run import RunRecord

    th.seed(warehouse, tmp_path, n_pairs=6, source="open", external_ok=True)
    th.seed(warehouse, tmp_path, n_pairs=2, source="closed", external_ok=False)  # shares the first two pairs' sides
    _add_video_doc_and_broken_sides(warehouse, tmp_path)

    def spilled(part_pairs: int) -> tuple[int, list[dict]]:
        with Producer(RunRecord(warehouse, TeacherConfig(backend="offline"))) as p:
            p.spill(part_pairs)
            rows = [r for path in p.spill_parts for r in pq.read_table(path).to_pylist()]
            return len(p.spill_parts), sorted(rows, key=lambda r: r["side_id"])

    one_part, whole = spilled(10_000)
    parts, sliced = spilled(2)
    assert one_part == 1 and parts == 6  # 11 pairs, 2 a part
    assert sliced == whole and len(whole) == 6 * 2 + 4
    by_source = {}
    for r in whole:
        by_source.setdefault(r["source"], set()).add(r["external_ok"])
    # the four sides both sources use are filed under "closed" (the first name) and stay in-house, like it says
    assert by_source["open"] == {True} and by_source["closed"] == {False}
    assert sum(r["source"] == "closed" for r in whole) == 4
    video = next(r for r in whole if r["modality"] == "video")
    assert len(video["media_info"][0]["frame_paths"]) == 5
