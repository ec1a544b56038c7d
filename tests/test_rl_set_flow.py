"""The RL-set half from the command line and as a Prefect flow: load folders, build, report; run again, same id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_rl_set_build import write_folders
from test_versions_data import world  # noqa: F401  (fixture)
from typer.testing import CliRunner

from umedata.cli import app
from umedata.versions import read_rows

runner = CliRunner()


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # notes go to stderr in json mode


@pytest.fixture
def folders(warehouse, world, tmp_path):  # noqa: F811
    sft, run, scores = write_folders(warehouse, world, tmp_path)
    return warehouse, sft, run, scores


def test_cli_load_build_report(folders, tmp_path):
    wh, sft, run, scores = folders
    db = str(wh.path)
    # score folder first on purpose: the command loads run folders before score folders
    loaded = json.loads(invoke("rollouts", "load", scores, run, "-w", db, "-f", "json"))
    assert [x["kind"] for x in loaded] == ["rollouts", "rollout_scores"] and all(x["new"] > 0 for x in loaded)
    again = json.loads(invoke("rollouts", "load", run, scores, "-w", db, "-f", "json"))
    assert [x["new"] for x in again] == [0, 0]
    listed = json.loads(invoke("rollouts", "list", "-w", db, "-f", "json"))
    assert len(listed["runs"]) == 1 and listed["scorings"][0]["pool_size"] == 4

    built = json.loads(invoke("build-rl-set", "--target", 6, "--allocation", "equal", "-w", db, "-f", "json",
                              "--report", tmp_path / "rep"))
    assert built["kind"] == "rl" and built["n_rows"] == 6 and built["wrote_files"]
    assert Path(built["report"]).is_file()
    same = json.loads(invoke("build-rl-set", "--target", 6, "--allocation", "equal", "-w", db, "-f", "json"))
    assert same["version_id"] == built["version_id"] and not same["wrote_files"]

    rep = json.loads(invoke("report", "rl-set", built["version_id"][:10], "--out", tmp_path / "rep2", "-w", db,
                            "-f", "json"))
    assert rep["summary"]["selected"] == 6 and rep["summary"]["differ_from_version"] == 0
    assert all(Path(p).is_file() for p in rep["files"].values())
    text = invoke("report", "rl-set", built["version_id"], "--out", tmp_path / "rep3", "-w", db)
    assert "ShapesCls" in text and "report:" in text


def test_cli_errors_are_one_line(folders, tmp_path):
    wh, sft, run, scores = folders
    out = runner.invoke(app, ["build-rl-set", "-w", str(wh.path)])
    assert out.exit_code != 0 and "no rollout scores loaded" in str(out.exception)
    out = runner.invoke(app, ["report", "rl-set", sft.version_id, "-w", str(wh.path)])
    assert "not an RL set" in str(out.exception)


def test_flow_builds_the_same_version_twice_and_runs_by_name(prefect_harness, folders, tmp_path):
    from flows.build_rl_set import build_rl_set_flow
    from flows.run import main as run_by_name
    from umedata import rollouts

    wh, sft, run, scores = folders
    rollouts.load(wh, run)
    rollouts.load(wh, scores)
    first = build_rl_set_flow(warehouse=str(wh.path), target=None, report_dir=str(tmp_path / "report"),
                              export_to=str(tmp_path / "ume-rl"))
    assert first["wrote_files"] and first["kind"] == "rl"
    assert (tmp_path / "report" / "variance_hist.png").is_file()
    records = json.loads((tmp_path / "ume-rl" / "train.json").read_text())
    assert len(records) == first["n_rows"] == len(read_rows(first["path"]))
    # by name, as `umedata run build_rl_set` does, with the deployment's parameters and an override
    second = run_by_name(["build_rl_set", "--param", f"warehouse={wh.path}", "--param", "target=null",
                          "--param", f"report_dir={tmp_path / 'report2'}"])
    assert second["version_id"] == first["version_id"] and not second["wrote_files"]
