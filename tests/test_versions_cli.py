"""`umedata versions …` / `umedata build-sft-set` and the build-sft-set flow call the same library functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_versions_data import basic_world, world  # noqa: F401  (fixture)
from typer.testing import CliRunner

from umedata.cli import app
from umedata.versions import builds, list_versions, read_manifest


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_cli_build_list_show_diff_export_drop_gc(warehouse, world, tmp_path, cli):
    basic_world(world, n=3)
    world.commit(warehouse)
    w = str(warehouse.path)
    a = json.loads(cli("build-sft-set", "-w", w, "--name", "cli", "--eval-fraction", "0.3", "-f", "json"))
    b = json.loads(cli("build-sft-set", "-w", w, "--name", "cli", "--cap", "ShapesI2T=1", "--prefer", "teacher-a@p1",
                       "-f", "json"))
    assert a["version_id"] != b["version_id"] and b["parents"] == [a["version_id"]]
    assert sum(r["pairs"] for r in b["rows"] if r["dataset_name"] == "ShapesI2T") == 1
    assert builds(warehouse, b["version_id"])[0]["filters"]["preference"] == ["teacher-a@p1"]

    listed = json.loads(cli("versions", "list", "-w", w, "-f", "json"))
    assert [v["version_id"] for v in listed] == [a["version_id"], b["version_id"]]
    assert "cli" in cli("versions", "list", "-w", w)
    shown = json.loads(cli("versions", "show", a["version_id"][:10], "-w", w, "-f", "json"))
    assert shown["version_id"] == a["version_id"] and shown["on_disk"] and len(shown["builds"]) == 1
    assert "teacher-a" in cli("versions", "show", "cli", "-w", w)  # a name means its latest build
    d = json.loads(cli("versions", "diff", a["version_id"], b["version_id"], "-w", w, "-f", "json"))
    assert d["changes"]["removed"] == a["n_rows"] - b["n_rows"]

    dest = tmp_path / "emb"
    cli("versions", "export", b["version_id"], dest, "-w", w)
    assert read_manifest(dest)["media_mode"] == "embedded"
    ume = tmp_path / "ume"
    out = json.loads(cli("versions", "export", b["version_id"], ume, "--layout", "ume-r1-sft", "-w", w, "-f", "json"))
    assert Path(out["files"]["train"]).is_file()
    assert json.loads(cli("versions", "verify", dest, "-w", w, "-f", "json"))["ok"]

    cli("versions", "drop", a["version_id"], "--yes", "-w", w)
    assert [v["version_id"] for v in list_versions(warehouse)] == [b["version_id"]]
    report = json.loads(cli("versions", "gc", "-w", w, "--min-age", "0", "-f", "json"))
    assert report["versions_removed"] == [a["version_id"]]
    assert json.loads(cli("versions", "verify", b["version_id"], "-w", w, "-f", "json"))["ok"]


def test_flow_builds_and_exports(warehouse, world, tmp_path, prefect_harness):
    from flows.build_sft_set import build_sft_set_flow

    basic_world(world, n=3)
    world.commit(warehouse)
    dest = tmp_path / "flow-export"
    out = build_sft_set_flow(warehouse=str(warehouse.path), name="flow", eval_fraction=0.3,
                             export_to=str(dest), export_layout="parquet")
    assert out["wrote_files"] and read_manifest(dest)["version_id"] == out["version_id"]
    again = build_sft_set_flow(warehouse=str(warehouse.path), name="flow", eval_fraction=0.3)
    assert again["version_id"] == out["version_id"] and not again["wrote_files"]
    assert len(builds(warehouse, out["version_id"])) == 2
