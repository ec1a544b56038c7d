"""The train-sft flow launches the trainer as its own process, evaluates, and records the run in the warehouse."""

import json

from training_fixtures import build_version

from flows.train_sft import train_sft_flow
from umedata.warehouse import Warehouse


def test_train_flow_records_the_run(prefect_harness, tmp_path):
    version = build_version(tmp_path / "v", n_train=32, n_eval=16, n_video=2, n_text=2)
    wh = Warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "run"
    scores = train_sft_flow(dataset=str(version), out=str(out), steps=3, micro_batch=4, warehouse=str(wh.path),
                            extra_args=["--threads", "1"], eval_args=["--max-completion-length", "8", "--threads", "1"])
    assert set(scores) >= {"disc", "gen", "chance"}
    rows = wh.sql("SELECT * FROM training_runs").to_pylist()
    assert len(rows) == 1
    run = rows[0]
    assert run["status"] == "finished" and run["steps"] == 3 and run["stage"] == "sft"
    assert run["base_model"].endswith("base-tiny")
    assert json.loads(run["eval"])["mean"] == scores
    summary = wh.sql("SELECT disc, gen, chance FROM training_run_summary").to_pylist()[0]
    assert abs(summary["disc"] - scores["disc"]) < 1e-3


def test_a_failing_trainer_fails_the_flow_and_is_recorded_as_failed(prefect_harness, tmp_path):
    import pytest

    from flows.common import TrainerFailed

    version = build_version(tmp_path / "v", n_train=8, n_eval=4, n_video=0, n_text=0)
    wh = Warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "run"
    # 8 pairs cannot fill one global batch of 16: the trainer refuses and exits non-zero
    with pytest.raises(TrainerFailed, match="cannot fill one global batch"):
        train_sft_flow(dataset=str(version), out=str(out), steps=1, micro_batch=16, warehouse=str(wh.path),
                       extra_args=["--threads", "1"])
    run = wh.sql("SELECT status, error, started_at, finished_at FROM training_runs").to_pylist()
    assert len(run) == 1 and run[0]["status"] == "failed" and "cannot fill one global batch" in run[0]["error"]
    assert run[0]["started_at"] <= run[0]["finished_at"]
    assert wh.sql("SELECT status FROM training_run_summary").column(0).to_pylist() == ["failed"]
