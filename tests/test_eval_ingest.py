"""Eval sets ingested from real files in each layout (the bundled sample's, and broken ones), exported to the
directory the trainer reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from umedata.evals.export import NoEvalSets, export_eval_sets
from umedata.evals.ingest import ingest_eval_set, list_id
from umedata.sources.eval_config import EvalConfigError, EvalSetSpec, load_eval_sets

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"


@pytest.fixture(scope="module")
def sample_sets(tmp_path_factory):
    from umedata.warehouse import Warehouse

    wh = Warehouse(tmp_path_factory.mktemp("evalsets") / "w.duckdb")
    wh.init()
    summaries = {s.name: ingest_eval_set(wh, s) for s in load_eval_sets(SAMPLE / "eval_sets.toml")}
    return wh, summaries


def test_each_layout_of_the_sample_reads_whole(sample_sets):
    wh, summaries = sample_sets
    assert all(s.quarantined == 0 and s.changed for s in summaries.values())
    sets = {r["name"]: r for r in wh.query("eval_set_list").to_pylist()}
    assert {n: (r["category"], r["metric"], r["layout"]) for n, r in sets.items()} == {
        "ShapesI2T": ("image", "hit@1", "mmeb_eval"), "ShapesT2I": ("image", "hit@1", "mmeb_eval"),
        "ShapesVQA": ("image", "hit@1", "mmeb_eval"), "ShapesCls": ("image", "hit@1", "mmeb_eval"),
        "MovingShapesV2T": ("video", "hit@1", "video_eval"), "MovingShapesT2V": ("video", "hit@1", "video_eval"),
        "FieldDocs": ("visdoc", "ndcg@5", "beir")}
    # MMEB: one list per query, its first candidate the positive (grade 1)
    i2t = [json.loads(line) for line in (SAMPLE / "eval/mmeb/ShapesI2T.jsonl").read_text().splitlines()]
    first = wh.sql("SELECT s.text FROM eval_qrels r JOIN sides s USING (side_id) "
                   "WHERE r.eval_set = 'ShapesI2T' AND r.query_id = '0'").column(0).to_pylist()
    assert first == [i2t[0]["tgt_text"][0]] and sets["ShapesI2T"]["n_queries"] == len(i2t)
    # classification: every query ranks the same 18 labels, stored as ONE list
    assert (sets["ShapesCls"]["n_lists"], sets["ShapesCls"]["n_candidates"]) == (1, 18)
    # video: frame lists became videos (one medium per side, frames in order)
    v = wh.sql("SELECT s.modality, len(s.media) AS n, m.kind, m.frames FROM eval_queries q JOIN sides s USING (side_id) "
               "JOIN media m ON m.sha256 = s.media[1] WHERE q.eval_set = 'MovingShapesV2T'").to_pylist()
    assert {(r["modality"], r["n"], r["kind"]) for r in v} == {("video", 1, "video")}
    assert {r["frames"] for r in v} <= {4, 5, 6}
    # BEIR: every query ranks the whole corpus (pages and PDF pages), graded qrels kept
    assert sets["FieldDocs"]["n_lists"] == 1 and sets["FieldDocs"]["n_candidates"] == 26
    grades = wh.sql("SELECT grade, count(*) AS n FROM eval_qrels WHERE eval_set = 'FieldDocs' GROUP BY grade "
                    "ORDER BY grade").to_pylist()
    tsv = (SAMPLE / "eval/visdoc/FieldDocs/qrels/test.tsv").read_text().splitlines()[1:]
    assert grades == [{"grade": g, "n": sum(line.endswith(f"\t{g}") for line in tsv)} for g in (1, 2)]
    kinds = wh.sql("SELECT DISTINCT s.modality FROM eval_candidates c JOIN sides s USING (side_id) "
                   "WHERE c.eval_set = 'FieldDocs'").column(0).to_pylist()
    assert kinds == ["visdoc"]


def test_reingest_is_a_no_op_and_changed_content_replaces_the_set(sample_sets, tmp_path):
    wh, summaries = sample_sets
    spec = next(s for s in load_eval_sets(SAMPLE / "eval_sets.toml") if s.name == "ShapesVQA")
    again = ingest_eval_set(wh, spec)
    assert not again.changed and again.content_id == summaries["ShapesVQA"].content_id
    # the same set with its last two queries gone: a new content id, and no stale rows left behind
    rows = (SAMPLE / spec.path).read_text().splitlines()[:-2]
    (tmp_path / "eval/mmeb").mkdir(parents=True)
    (tmp_path / "eval/mmeb/ShapesVQA.jsonl").write_text("\n".join(rows) + "\n")
    shutil.copytree(SAMPLE / "eval/images", tmp_path / "eval/images")  # a link out of the root would be refused
    changed = ingest_eval_set(wh, EvalSetSpec(name="ShapesVQA", layout="mmeb_eval", path="eval/mmeb/ShapesVQA.jsonl",
                                              root=tmp_path))
    assert changed.changed and changed.content_id != summaries["ShapesVQA"].content_id
    n = wh.sql("SELECT count(*) FROM eval_queries WHERE eval_set = 'ShapesVQA'").column(0)[0].as_py()
    assert n == len(rows) == changed.queries
    ingest_eval_set(wh, spec)  # back as it was, for the other tests


def test_bad_rows_are_quarantined_with_their_reason_and_good_rows_land(warehouse, tmp_path):
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "ok.png")
    rows = [
        {"qry_text": "<|image_1|>\nq", "qry_img_path": "ok.png", "tgt_text": ["a", "b"], "tgt_img_path": ["", ""]},
        {"qry_text": "q2", "qry_img_path": "", "tgt_text": ["a", "b"], "tgt_img_path": [""]},        # lists differ
        {"qry_text": "q3", "qry_img_path": "", "tgt_text": ["<|image_1|>", "b"], "tgt_img_path": ["gone.png", ""]},
        {"qry_text": "q4", "qry_img_path": "", "tgt_text": "a", "tgt_img_path": ""},                   # not a list
        {"qry_text": "q5", "qry_img_path": "../outside.png", "tgt_text": ["a"], "tgt_img_path": [""]},
    ]
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    s = ingest_eval_set(warehouse, EvalSetSpec(name="Bad", layout="mmeb_eval", path="set.jsonl", root=tmp_path))
    assert s.queries == 1
    q = warehouse.sql("SELECT what, reason, detail FROM quarantine WHERE source = 'Bad' ORDER BY what").to_pylist()
    assert [(r["what"], r["reason"]) for r in q] == [
        ("set.jsonl:1", "wrong_type"), ("set.jsonl:2", "missing_media"), ("set.jsonl:3", "wrong_type"),
        ("set.jsonl:4", "path_escape"), ("set.jsonl:5", "bad_json")]
    assert "candidate 0" in q[1]["detail"]


def test_beir_qrels_problems_and_unjudged_queries(warehouse, tmp_path):
    root = tmp_path / "docs"
    (root / "qrels").mkdir(parents=True)
    Image.new("L", (10, 10), 255).save(root / "p1.png")
    # media paths are relative to the set's root, as in every layout
    corpus = [{"_id": "d1", "image": "docs/p1.png"}, {"_id": "d2", "title": "A title", "text": "some text"},
              {"_id": "d3", "image": "docs/missing.png"}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}, {"_id": "q3", "text": "unjudged"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td9\t1\n"
                                             "q2\td3\t1\nq2\td2\t0\nqx\td1\t1\n")
    s = ingest_eval_set(warehouse, EvalSetSpec(name="Docs", layout="beir", path="docs", root=tmp_path,
                                               doc_prompt="Read the page."))
    assert s.queries == 1 and s.skipped == {"queries_without_relevant_qrels": 1}
    reasons = warehouse.sql("SELECT what, reason FROM quarantine WHERE source = 'Docs' ORDER BY what").to_pylist()
    assert [(r["what"], r["reason"]) for r in reasons] == [
        ("corpus.jsonl:2", "missing_media"),      # d3: its page is gone, so it leaves the corpus
        ("qrels/test.tsv:3", "unknown_id"),        # d9 is no document
        ("qrels/test.tsv:6", "unknown_id"),        # qx is no query
        ("queries.jsonl:1", "no_relevant")]        # q2's only relevant document was d3
    texts = warehouse.sql("SELECT s.text, s.modality FROM eval_candidates c JOIN sides s USING (side_id) "
                          "ORDER BY s.text").to_pylist()
    assert texts == [{"text": "A title some text", "modality": "text"}, {"text": "Read the page.", "modality": "visdoc"}]
    assert warehouse.sql("SELECT grade FROM eval_qrels ORDER BY grade").column(0).to_pylist() == [1, 2]


def test_export_writes_the_trainer_directory_once(sample_sets, tmp_path):
    wh, summaries = sample_sets
    out = export_eval_sets(wh, ["ShapesCls", "FieldDocs"], store=tmp_path / "store")
    assert out["wrote"] and out["sets"] == ["FieldDocs", "ShapesCls"]
    d = Path(out["path"])
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["kind"] == "eval_sets" and manifest["media_root"] == "../../media"
    queries = pq.read_table(d / "data/queries.parquet").to_pylist()
    lists = pq.read_table(d / "data/lists.parquet").to_pylist()
    sides = {r["side_id"]: r for r in pq.read_table(d / "data/sides.parquet").to_pylist()}
    assert len(queries) == 36 + 26
    cls = [r["side_id"] for r in lists if r["eval_set"] == "ShapesCls"]
    assert len(cls) == 18 and list_id(cls) == {r["list_id"] for r in queries if r["eval_set"] == "ShapesCls"}.pop()
    for r in queries + lists:
        for ref in sides[r["side_id"]]["images"] + sides[r["side_id"]]["video"]:
            assert (tmp_path / "store" / "media" / ref["path"]).is_file()
    again = export_eval_sets(wh, ["FieldDocs", "ShapesCls"], store=tmp_path / "store")
    assert not again["wrote"] and again["eval_dir_id"] == out["eval_dir_id"]
    with pytest.raises(NoEvalSets, match="NotASet"):
        export_eval_sets(wh, ["NotASet"])


def test_config_errors_name_the_entry(tmp_path):
    bad = tmp_path / "e.toml"
    bad.write_text('[[eval_set]]\nname = "X"\nlayout = "mmeb_eval"\npath = "x.jsonl"\ncategroy = "image"\n')
    with pytest.raises(EvalConfigError, match="unknown key.*categroy"):
        load_eval_sets(bad)
    bad.write_text('[[eval_set]]\nname = "X"\nlayout = "beir"\npath = "x"\nmetric = "recall@10"\n')
    with pytest.raises(EvalConfigError, match="metric"):
        load_eval_sets(bad)


def test_the_eval_sets_commands(tmp_path):
    from typer.testing import CliRunner

    from umedata.cli import app

    w = str(tmp_path / "w.duckdb")
    runner = CliRunner()
    res = runner.invoke(app, ["eval-sets", "ingest", "-c", str(SAMPLE / "eval_sets.toml"), "--name", "ShapesCls",
                              "--name", "FieldDocs", "-w", w, "-f", "json"])
    assert res.exit_code == 0, res.output
    assert {r["name"]: r["queries"] for r in json.loads(res.output)} == {"ShapesCls": 36, "FieldDocs": 26}
    listed = json.loads(runner.invoke(app, ["eval-sets", "list", "-w", w, "-f", "json"]).output)
    assert [(r["name"], r["n_lists"]) for r in listed] == [("ShapesCls", 1), ("FieldDocs", 1)]
    out = json.loads(runner.invoke(app, ["eval-sets", "export", "ShapesCls", "-w", w, "-f", "json"]).output)
    assert out["sets"] == ["ShapesCls"] and (Path(out["path"]) / "manifest.json").is_file()
