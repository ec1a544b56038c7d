"""Decontamination: pairs sharing content with a registered eval set never reach a version unless asked for, and
the manifest (and `umedata versions show`) counts them either way."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from umedata.evals.ingest import ingest_eval_set
from umedata.ingest import ingest_source
from umedata.sources.config import DatasetSpec, SourceSpec
from umedata.sources.eval_config import EvalSetSpec
from umedata.teacher.annotate import run_teacher
from umedata.teacher.config import load_config
from umedata.teacher.run import Selection
from umedata.versions import SftSpec, build_sft_set


def _png(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), rgb).save(path)
    return path


@pytest.fixture
def contaminated(warehouse, tmp_path):
    root = tmp_path / "data"
    for name, rgb in {"a": (200, 0, 0), "b": (0, 0, 200), "c": (0, 200, 0), "d": (200, 200, 0), "x": (9, 9, 9)}.items():
        _png(root / "img" / f"{name}.png", rgb)
    # the eval set holds copies under other names: the same bytes are the same medium
    (root / "eval").mkdir()
    (root / "eval" / "a_copy.png").write_bytes((root / "img" / "a.png").read_bytes())
    (root / "eval" / "d_copy.png").write_bytes((root / "img" / "d.png").read_bytes())
    rows = [
        ("<|image_1|>\nFind a caption.", "img/a.png", "a red circle", ""),         # query image is an eval query's
        ("<|image_1|>\nFind a caption.", "img/b.png", "a blue square", ""),        # clean (a caption is no key)
        ("Find an image: A Green  Triangle!", "", "<|image_1|>\nRepresent it.", "img/c.png"),  # query text
        ("Find an image: a yellow star", "", "<|image_1|>\nRepresent it.", "img/d.png"),  # target is a candidate
        ("a text query nobody evaluates", "", "an answer", ""),                   # clean
    ]
    (root / "train.jsonl").write_text("".join(json.dumps(
        {"qry": q, "qry_image_path": qi, "pos_text": p, "pos_image_path": pi}) + "\n" for q, qi, p, pi in rows))
    evals = [
        {"qry_text": "<|image_1|>\nFind a caption.", "qry_img_path": "eval/a_copy.png",
         "tgt_text": ["a red circle", "a blue square"], "tgt_img_path": ["", ""]},
        {"qry_text": "find an image: a green triangle", "qry_img_path": "",
         "tgt_text": ["<|image_1|>\nRepresent it.", "<|image_1|>\nRepresent it."],
         "tgt_img_path": ["img/x.png", "eval/d_copy.png"]},
    ]
    (root / "eval" / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    spec = SourceSpec(name="src", layout="mmeb", root=root, licence="CC0-1.0",
                      datasets=[DatasetSpec(name="Mixed", path="train.jsonl", task="retrieval", split="train")])
    assert ingest_source(warehouse, spec).quarantined == 0
    summary = ingest_eval_set(warehouse, EvalSetSpec(name="Bench", layout="mmeb_eval", path="eval/set.jsonl", root=root))
    assert summary.queries == 2 and summary.quarantined == 0
    run_teacher(warehouse, load_config(None, backend="offline"), Selection())
    return warehouse


def test_contaminated_pairs_are_excluded_and_counted(contaminated, tmp_path):
    wh = contaminated
    # the teacher annotated train sides only: an eval side no pair uses was never sent
    eval_only = wh.sql("SELECT count(*) AS n FROM annotations a JOIN eval_queries q ON q.side_id = a.side_id "
                       "WHERE a.side_id NOT IN (SELECT qry_side_id FROM pairs UNION SELECT pos_side_id FROM pairs)")
    assert eval_only.column("n")[0].as_py() == 0
    version = build_sft_set(wh, SftSpec(name="clean", split_mode="source"))
    from umedata.versions.store import read_rows

    rows = read_rows(version.path, columns=["qry_text", "pos_text"]).to_pylist()
    assert sorted(r["pos_text"] for r in rows) == ["a blue square", "an answer"]
    d = version.manifest["decontamination"]
    assert d["contaminated"] == 3 and d["excluded"] == 3 and d["by_reason"] == {"media": 2, "text": 1}
    assert d["kept_contaminated"] is False and [s["name"] for s in d["eval_sets"]] == ["Bench"]

    from umedata.cli import app

    out = CliRunner().invoke(app, ["versions", "show", version.version_id, "-w", str(wh.path)])
    assert out.exit_code == 0, out.output
    assert "decontamination: 3 pair(s) sharing content with 1 eval set(s) excluded (by media 2, text 1)" in out.output


def test_a_flag_keeps_them_and_the_manifest_says_so(contaminated):
    version = build_sft_set(contaminated, SftSpec(name="kept", split_mode="source", keep_contaminated=True))
    assert version.manifest["n_rows"] == 5
    d = version.manifest["decontamination"]
    assert d["kept_contaminated"] is True and d["contaminated"] == 3 and d["excluded"] == 0
    assert version.manifest["selection"]["filters"]["keep_contaminated"] is True


def test_frames_of_an_eval_video_contaminate_a_train_video(warehouse, tmp_path):
    """A train video sharing a single frame with an eval video (another video, by its own hash) is contaminated."""
    root = tmp_path / "v"
    frames = [_png(root / "f" / f"{k}.png", (k * 40, 10, 10)) for k in range(4)]
    rows = [{"dataset_name": "V", "qry": {"conversations": [{"from": "human", "value": "<video>\nWhat moves?"},
                                                            {"from": "gpt", "value": "<think>x</think><answer>y<gen_emb>"}],
                                          "video": [f"f/{k}.png" for k in range(3)]},
             "pos": {"conversations": [{"from": "human", "value": "a thing"},
                                       {"from": "gpt", "value": "<think>x</think><answer>y<gen_emb>"}],
                     "image": "blank.jpg"}}]
    (root / "train.json").write_text(json.dumps(rows))
    spec = SourceSpec(name="vs", layout="ume_r1_sft", root=root,
                      datasets=[DatasetSpec(name="V", path="train.json", split="train")])
    ingest_source(warehouse, spec)
    (root / "eval.jsonl").write_text(json.dumps({"qry_text": "<|video_1|>\nWhat moves?", "qry_video": ["f/2.png", "f/3.png"],
                                                 "tgt_text": ["a thing", "nothing"], "tgt_video": [[], []]}) + "\n")
    ingest_eval_set(warehouse, EvalSetSpec(name="VB", layout="video_eval", path="eval.jsonl", root=root))
    assert frames
    import pyarrow as pa

    from umedata import sql
    from umedata.versions.decontam import decontaminate

    pair = warehouse.sql("SELECT pair_id FROM pairs").column(0).to_pylist()
    with warehouse.reader() as con:
        kept = pa.table({"pair_id": pair})
        sql.temp_table(con, "kept", kept)
        left, info = decontaminate(con, kept)
    assert left.num_rows == 0 and info["by_reason"] == {"media": 1, "text": 0}
