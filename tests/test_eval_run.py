"""Evaluation end to end on the tiny model: the report on an eval-set directory, the candidate cache hit on re-run,
pass@k, `umedata eval` recording eval_runs / eval_scores and the SFT-vs-RL view, and the eval flow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from training_fixtures import REPO, subprocess_env, tiny_dir  # noqa: F401  (pytest fixture)
from typer.testing import CliRunner

from training import evaluate
from umedata.evals.export import export_eval_sets
from umedata.evals.ingest import ingest_eval_set
from umedata.sources.eval_config import load_eval_sets

torch.set_num_threads(1)
SETS = REPO / "examples" / "sample" / "eval_sets.toml"
QUICK = dict(max_queries=2, max_completion_length=4, batch_size=16)  # an untrained model: short on purpose


@pytest.fixture(scope="module")
def sample_eval(tmp_path_factory):
    from umedata.warehouse import Warehouse

    wh = Warehouse(tmp_path_factory.mktemp("evalrun") / "w.duckdb")
    wh.init()
    for spec in load_eval_sets(SETS):
        ingest_eval_set(wh, spec)
    return wh, export_eval_sets(wh, ["ShapesCls", "ShapesI2T", "MovingShapesT2V", "FieldDocs"])


def test_report_and_the_candidate_cache(tiny_dir, sample_eval, tmp_path):
    _, exported = sample_eval
    cache = tmp_path / "cache"
    first = evaluate.evaluate(str(tiny_dir), eval_sets=exported["path"], cache_dir=str(cache), **QUICK)
    assert sorted(first["datasets"]) == ["FieldDocs", "MovingShapesT2V", "ShapesCls", "ShapesI2T"]
    cls = first["datasets"]["ShapesCls"]
    assert (cls["queries"], cls["lists"], cls["candidates"]) == (2, 1, 18) and cls["chance"] == pytest.approx(1 / 18)
    docs = first["datasets"]["FieldDocs"]
    assert docs["metric"] == "ndcg@5" and docs["disc"] == docs["ndcg@5"]["disc"] and docs["list_size"] == 26
    assert set(first["categories"]) == {"image", "video", "visdoc"}
    assert first["categories"]["image"]["disc"] == pytest.approx((cls["disc"] + first["datasets"]["ShapesI2T"]["disc"]) / 2)
    for d in first["datasets"].values():
        assert d["oracle"] >= max(d["disc"], d["gen"]) and 0.0 <= d["gen_emb_share"] <= 1.0
    # every distinct side once: each set's first 2 queries and every candidate of their lists (the 18 labels are one
    # list for both Cls queries; I2T's two lists share captions), counted here straight from the directory's files
    q = pq.read_table(Path(exported["path"]) / "data/queries.parquet").to_pylist()
    lists = pq.read_table(Path(exported["path"]) / "data/lists.parquet").to_pylist()
    firsts = [r for name in first["datasets"] for r in sorted((r for r in q if r["eval_set"] == name),
                                                              key=lambda r: r["query_id"])[:2]]
    used = {r["side_id"] for r in firsts} | {c["side_id"] for c in lists
                                             for r in firsts if (c["eval_set"], c["list_id"]) == (r["eval_set"], r["list_id"])}
    n_sides = len(used)
    assert first["cache"] == {**first["cache"], "hits": 0, "computed": n_sides}
    again = evaluate.evaluate(str(tiny_dir), eval_sets=exported["path"], cache_dir=str(cache), **QUICK)
    assert again["cache"] == {**first["cache"], "hits": n_sides, "computed": 0}
    assert again["datasets"] == first["datasets"]
    # other settings are another cache: nothing is reused across generation caps
    other = evaluate.evaluate(str(tiny_dir), eval_sets=exported["path"], cache_dir=str(cache),
                              **{**QUICK, "max_completion_length": 5})
    assert other["cache"]["hits"] == 0


def test_pass_at_k_from_seeded_samples(tiny_dir, sample_eval, tmp_path):
    _, exported = sample_eval
    kw = dict(eval_sets=exported["path"], sets=["ShapesCls", "ShapesI2T"], pass_k=[1, 2, 4], cache_dir=str(tmp_path))
    r = evaluate.evaluate(str(tiny_dir), **kw, **QUICK)
    p = r["mean"]["pass@k"]
    assert p["1"]["gen"] <= p["2"]["gen"] <= p["4"]["gen"]  # the estimator never falls with k
    assert p["1"]["disc"] == p["4"]["disc"] == pytest.approx(r["mean"]["disc"])  # disc does not sample
    assert all(p[k]["oracle"] >= max(p[k]["gen"], p[k]["disc"]) for k in p)
    assert r["settings"]["samples"] == 4 and r["settings"]["temperature"] == 1.0
    # seeded per (side, sample): the same figures from a fresh cache
    fresh = evaluate.evaluate(str(tiny_dir), **{**kw, "cache_dir": str(tmp_path / "other")}, **QUICK)
    assert fresh["mean"]["pass@k"] == p


@pytest.mark.slow  # three evaluator processes
def test_umedata_eval_records_runs_and_puts_rl_beside_sft(tiny_dir, sample_eval, tmp_path):
    from umedata.cli import app

    wh, _ = sample_eval
    sft = tmp_path / "sft" / "model"
    shutil.copytree(tiny_dir, sft)
    (sft / "umedata_run.json").write_text(json.dumps({"dataset_version_id": "v1", "config": {}}))
    rl = tmp_path / "rl" / "model"
    shutil.copytree(tiny_dir, rl)
    (rl / "umedata_run.json").write_text(json.dumps({"kind": "grpo", "dataset_version_id": "v2",
                                                      "sft_checkpoint": str(sft)}))
    args = ["--eval-set", "ShapesCls", "--max-queries", "2", "--max-completion-length", "4", "--threads", "1",
            "-w", str(wh.path)]
    runner = CliRunner()
    for ckpt in (sft, rl):
        res = runner.invoke(app, ["eval", str(ckpt), *args, "-f", "json"], env=subprocess_env())
        assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert Path(out["report"]).parent == rl.parent and Path(out["report"]).is_file()
    runs = wh.sql("SELECT stage, dataset_version_id, parent_checkpoint FROM eval_runs ORDER BY stage").to_pylist()
    assert runs == [{"stage": "rl", "dataset_version_id": "v2", "parent_checkpoint": str(sft.resolve())},
                    {"stage": "sft", "dataset_version_id": "v1", "parent_checkpoint": None}]
    scores = wh.sql("SELECT mode, metric, count(*) AS n FROM eval_scores GROUP BY ALL ORDER BY ALL").to_pylist()
    assert {(r["mode"], r["metric"]) for r in scores} >= {("disc", "hit@1"), ("gen", "ndcg@5"), ("oracle", "hit@1"),
                                                          ("all", "gen_emb_share"), ("all", "chance")}
    side = wh.query("eval_sft_vs_rl", {"metric": "hit@1"}).to_pylist()
    assert {r["mode"] for r in side} == {"disc", "gen", "oracle"} and all(r["eval_set"] == "ShapesCls" for r in side)
    assert all(r["delta"] == pytest.approx(r["rl"] - r["sft"]) for r in side)
    assert all(r["delta"] == 0 for r in side)  # the same weights score the same
    # the same evaluation again replaces its run instead of adding one
    runner.invoke(app, ["eval", str(sft), *args], env=subprocess_env())
    assert wh.sql("SELECT count(*) FROM eval_runs").column(0)[0].as_py() == 2
    summary = wh.query("eval_runs_summary").to_pylist()
    assert {r["stage"] for r in summary} == {"sft", "rl"} and all(r["chance"] == pytest.approx(1 / 18, abs=1e-4) for r in summary)


def test_an_unknown_eval_set_is_one_line(sample_eval):
    from umedata.cli import app

    wh, _ = sample_eval
    res = CliRunner().invoke(app, ["eval", "some/model", "--eval-set", "Nope", "-w", str(wh.path)])
    assert res.exit_code != 0 and "Nope" in str(res.exception)


@pytest.mark.slow
def test_the_eval_flow(prefect_harness, tiny_dir, tmp_path, monkeypatch):
    from flows.eval import eval_flow

    monkeypatch.setenv("PYTHONPATH", subprocess_env()["PYTHONPATH"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ckpt = tmp_path / "run" / "model"
    shutil.copytree(tiny_dir, ckpt)
    out = eval_flow(str(ckpt), eval_sets=["ShapesCls"], config=str(SETS), warehouse=str(tmp_path / "w.duckdb"),
                    settings={"max_queries": 2, "max_completion_length": 4, "threads": 1})
    assert Path(out["report"]).is_file() and set(out["categories"]) == {"image"}
    from umedata.warehouse import Warehouse

    assert Warehouse(tmp_path / "w.duckdb").sql("SELECT stage FROM eval_runs").column(0).to_pylist() == ["base"]
