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
                            extra_args=["--threads", "1"], eval_args=["--max-new-tokens", "8", "--threads", "1"])
    assert set(scores) >= {"disc", "gen", "chance"}
    rows = wh.sql("SELECT * FROM training_runs").to_pylist()
    assert len(rows) == 1
    run = rows[0]
    assert run["status"] == "finished" and run["steps"] == 3 and run["stage"] == "sft"
    assert run["base_model"].endswith("base-tiny")
    assert json.loads(run["eval"])["mean"] == scores
    summary = wh.sql("SELECT disc, gen, chance FROM training_run_summary").to_pylist()[0]
    assert abs(summary["disc"] - scores["disc"]) < 1e-3
