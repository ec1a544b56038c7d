"""The train flow launches the trainer as its own process, records the run, and fails with the trainer's error."""

from __future__ import annotations

import pytest
from training_fixtures import build_version

from flows.train import flags, train_flow
from umedata.launch import JobFailed
from umedata.warehouse import Warehouse


def test_flags_pass_only_what_they_are_told():
    assert flags({"lr": 2e-3, "packed": True, "blank_image": False, "steps": None, "dataset_names": ["a", "b"]}) == [
        "--lr", "0.002", "--packed", "--no-blank-image", "--dataset-names", "a", "b"]


def test_train_flow_records_finished_and_failed_runs(prefect_harness, tmp_path):
    version = build_version(tmp_path / "v", n_train=32, n_eval=8, n_video=2, n_text=2)
    wh = Warehouse(tmp_path / "w.duckdb")
    row = train_flow(stage="sft", dataset=str(version), out=str(tmp_path / "run"), warehouse=str(wh.path),
                     args={"steps": 2, "micro_batch": 4, "threads": 1, "batching": "mixed"})
    assert row["status"] == "finished" and row["steps"] == 2
    with pytest.raises(JobFailed, match="cannot fill one global batch"):
        train_flow(stage="sft", dataset=str(version), out=str(tmp_path / "bad"), warehouse=str(wh.path),
                   model=str(tmp_path / "run" / "base-tiny"), args={"steps": 1, "micro_batch": 64, "threads": 1})
    runs = {r["status"]: r for r in wh.sql("SELECT status, error, stage, base_model FROM training_runs").to_pylist()}
    assert set(runs) == {"finished", "failed"} and "cannot fill one global batch" in runs["failed"]["error"]
    assert runs["finished"]["stage"] == "sft" and runs["finished"]["base_model"].endswith("base-tiny")
