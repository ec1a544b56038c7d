"""The promotion gate: a batch whose suite failed blocks a dataset version until a user overrides it; the override
(who, why, when), the checks version and the suite results are recorded in the version's manifest."""

from __future__ import annotations

import pytest
from checks_fixtures import put_annotations, query_text, seed_world, student_dir, target_text  # noqa: F401

from umedata.checks.config import load_config
from umedata.checks.gate import PromotionBlocked, override
from umedata.checks.run import validate
from umedata.cli import main
from umedata.errors import UserError
from umedata.ids import side_id
from umedata.versions import SftSpec, build_sft_set

GOOD = ("The request describes a coloured shape on a plain canvas and where it sits. The colour, the shape and its "
        "place are what a retrieval system should match.")
REFUSAL = "I'm sorry, but I can't help with describing this input."
N = 20


def two_batches(wh):
    """Targets answered well in one batch; queries in another where 12 of 20 answers are refusals."""
    seed_world(wh, N)
    put_annotations(wh, [{"side_id": side_id(target_text(i), []), "reasoning": GOOD, "summary": f"a shape {i}"}
                         for i in range(N)], origin="targets.json")
    put_annotations(wh, [{"side_id": side_id(query_text(i), []), "reasoning": REFUSAL if i < 12 else GOOD,
                          "summary": "No." if i < 12 else f"request {i}"} for i in range(N)], origin="queries.json")


def test_a_failed_suite_blocks_promotion_until_overridden(warehouse, student_dir, tmp_path, capsys):  # noqa: F811
    two_batches(warehouse)
    s = validate(warehouse, load_config(student=str(student_dir)))
    suites = {(r["batch_id"], r["suite"]): r for r in s.suites}
    assert suites[("import:queries.json", "batch_datasets")]["success"] is False
    assert suites[("import:targets.json", "batch_datasets")]["success"] is True
    failing = [x for x in suites[("import:queries.json", "batch_datasets")]["results"] if x["success"] is False]
    assert [(x["type"], x["column"]) for x in failing] == [("expect_column_values_to_be_between", "pass_rate")]
    assert all(r["success"] for r in s.suites if r["suite"] == "annotation_rows")

    spec = SftSpec(name="gated", split_mode="source")
    with pytest.raises(PromotionBlocked, match="import:queries.json"):
        build_sft_set(warehouse, spec, store=tmp_path / "store")
    assert not (tmp_path / "store" / "versions").exists()  # nothing written
    # On the command line: one line, exit status 2.
    with pytest.raises(SystemExit) as exc:
        main(["build-sft-set", "--name", "gated", "-w", str(warehouse.path), "--store", str(tmp_path / "store")])
    assert exc.value.code == 2 and "failed a suite" in capsys.readouterr().err

    with pytest.raises(UserError, match="passed every suite"):
        override(warehouse, "import:targets.json", why="no need")
    row = override(warehouse, "import:queries.json", who="ana", why="refusals are quarantined; the rest were read")
    result = build_sft_set(warehouse, spec, store=tmp_path / "store")
    checks = result.manifest["checks"]
    assert checks["checks_version"] == s.checks_version and checks["tokenizer"] == s.tokenizer
    assert checks["config"]["rules"]["refusal"]["max"] == 0
    assert checks["overrides"] == [{"batch_id": "import:queries.json", "who": "ana",
                                    "why": "refusals are quarantined; the rest were read",
                                    "at": row["overridden_at"].isoformat() + "Z"}]
    batches = {b["batch_id"]: b for b in checks["batches"]}
    assert batches["import:queries.json"]["suites"]["batch_datasets"]["success"] is False
    assert batches["import:targets.json"]["suites"]["annotation_rows"]["success"] is True
    # Only validated annotations are promoted: the 8 pairs whose query was answered well.
    assert result.manifest["n_rows"] == N - 12


def test_without_a_chosen_checks_version_nothing_is_gated(warehouse, tmp_path):
    two_batches(warehouse)
    result = build_sft_set(warehouse, SftSpec(name="ungated", split_mode="source"), store=tmp_path / "store")
    assert result.manifest["checks"] == {} and result.manifest["n_rows"] == N


def test_cli_suites_requeue_dry_run_and_override(warehouse, student_dir):  # noqa: F811
    import json

    from typer.testing import CliRunner

    from umedata.cli import app

    def invoke(*args):
        r = CliRunner().invoke(app, [str(a) for a in args] + ["-w", str(warehouse.path), "-f", "json"],
                               catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    two_batches(warehouse)
    invoke("validate", "--student", student_dir, "--no-progress")
    suites = invoke("checks", "suites")
    failed = [s for s in suites if not s["success"]]
    assert [(s["batch_id"], s["suite"], s["failing"]) for s in failed] == [
        ("import:queries.json", "batch_datasets", ["expect_column_values_to_be_between(pass_rate)"])]
    sides = invoke("requeue", "--rule", "refusal", "--dry-run")
    assert len(sides) == 12 and all(s["failed_rules"] == ["refusal"] for s in sides)
    assert len(invoke("requeue", "--rule", "refusal", "--dry-run", "--limit", "5")) == 5
    row = invoke("checks", "override", "import:queries.json", "--why", "read them all", "--who", "ana")
    assert (row["who"], row["why"]) == ("ana", "read them all")
    assert invoke("checks", "suites")[0]["override_who"] == "ana"
