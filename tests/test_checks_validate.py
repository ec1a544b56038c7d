"""`validate` over a real warehouse: verdicts are rows, validated_annotations follows the chosen checks version,
a threshold change re-evaluates stored values without measuring, failures are listed with their reasons, and the
views answer the usual questions in one query."""

from __future__ import annotations

import json

from checks_fixtures import put_annotations, query_text, seed_world, student_dir, target_text  # noqa: F401
from typer.testing import CliRunner

from umedata.checks.config import load_config
from umedata.checks.rules import RULES
from umedata.checks.run import validate
from umedata.cli import app
from umedata.ids import side_id

runner = CliRunner()
GOOD = ("The request describes a coloured shape on a plain canvas and where it sits. The colour, the shape and its "
        "place are what a retrieval system should match.")


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def world(wh):
    """10 pairs in TextA/TextB; annotations: 8 good ones, a repetition loop, a refusal and a leak (crafted)."""
    seed_world(wh, 10)
    q = [side_id(query_text(i), []) for i in range(10)]
    good = [{"side_id": q[i], "reasoning": GOOD + f" Request {i}.", "summary": f"a shape {i}"} for i in range(8)]
    bad = [
        {"side_id": q[8], "reasoning": "The canvas shows the same shape again and again. " * 20, "summary": "a shape"},
        {"side_id": q[9], "reasoning": "I'm sorry, but I can't help with describing this input.", "summary": "No."},
        {"side_id": q[0], "reasoning": GOOD + f" The target says {target_text(0)}.", "summary": "a shape"},
    ]
    ids = put_annotations(wh, good + bad)
    return {"good": ids[:8], "repetition": ids[8], "refusal": ids[9], "leak": ids[10]}


def test_verdicts_are_rows_and_validated_annotations_follows_them(warehouse, student_dir):  # noqa: F811
    ids = world(warehouse)
    assert warehouse.sql("SELECT count(*) AS n FROM validated_annotations").column("n")[0].as_py() == 11  # format only
    s = validate(warehouse, load_config(student=str(student_dir)))
    assert (s.selected, s.passed, s.failed) == (11, 8, 3)
    assert s.failures == {"repetition": 1, "refusal": 1, "leak": 1}
    assert s.measured == 11 * len(RULES) and s.reused == 0 and s.chosen
    rows = warehouse.sql("SELECT annotation_id, rule, passed, value FROM annotation_checks").to_pylist()
    assert len(rows) == 11 * len(RULES)
    failed = {(r["annotation_id"], r["rule"]) for r in rows if not r["passed"]}
    assert failed == {(ids["repetition"], "repetition"), (ids["refusal"], "refusal"), (ids["leak"], "leak")}
    valid = set(warehouse.sql("SELECT annotation_id FROM validated_annotations").column("annotation_id").to_pylist())
    assert valid == set(ids["good"])
    # Running again checks nothing new (every annotation has its rows under this version).
    again = validate(warehouse, load_config(student=str(student_dir)), suites=False)
    assert again.selected == 0 and again.checks_version == s.checks_version
    # An annotation arriving later is not validated until a validate has checked it.
    late = put_annotations(warehouse, [{"side_id": side_id(target_text(3), []), "reasoning": GOOD, "summary": "x"}])
    assert late[0] not in warehouse.sql("SELECT annotation_id FROM validated_annotations").column(
        "annotation_id").to_pylist()
    validate(warehouse, load_config(student=str(student_dir)), suites=False)
    assert late[0] in warehouse.sql("SELECT annotation_id FROM validated_annotations").column(
        "annotation_id").to_pylist()


def test_a_threshold_change_reevaluates_stored_values_without_measuring(warehouse, student_dir, tmp_path):  # noqa: F811
    ids = world(warehouse)
    first = validate(warehouse, load_config(student=str(student_dir)), suites=False)
    looser = tmp_path / "looser.toml"
    looser.write_text("[rules.repetition]\nmax = 0.99\n[rules.leak]\nmax = 40\n")
    second = validate(warehouse, load_config(looser, student=str(student_dir)), suites=False)
    assert second.checks_version != first.checks_version
    assert second.measured == 0 and second.reused == 11 * len(RULES)
    assert second.failures == {"refusal": 1}
    valid = set(warehouse.sql("SELECT annotation_id FROM validated_annotations").column("annotation_id").to_pylist())
    assert valid == set(ids["good"]) | {ids["repetition"], ids["leak"]}
    # Going back to the first version is a choice, not a re-run.
    invoke("checks", "use", first.checks_version, "-w", warehouse.path)
    valid = set(warehouse.sql("SELECT annotation_id FROM validated_annotations").column("annotation_id").to_pylist())
    assert valid == set(ids["good"])
    versions = json.loads(invoke("checks", "versions", "-w", warehouse.path, "-f", "json"))
    assert {v["checks_version"]: v["chosen"] for v in versions} == {first.checks_version: True,
                                                                     second.checks_version: False}
    # A changed measure setting measures that rule again, and only that rule.
    bigrams = tmp_path / "bigrams.toml"
    bigrams.write_text("[rules.repetition]\nn = 2\n")
    third = validate(warehouse, load_config(bigrams, student=str(student_dir)), suites=False)
    assert third.measured == 11 and third.reused == 11 * (len(RULES) - 1)


def test_without_a_student_tokenizer_length_rules_are_off(warehouse):
    world(warehouse)
    s = validate(warehouse, load_config(), suites=False)
    assert s.tokenizer is None and s.lengths.startswith("off")
    rules = set(warehouse.sql("SELECT DISTINCT rule FROM annotation_checks").column("rule").to_pylist())
    assert rules == set(RULES) - {"empty_reasoning", "long_reasoning", "short_summary", "long_summary"}


def test_failed_records_are_listed_with_their_reasons(warehouse, student_dir):  # noqa: F811
    ids = world(warehouse)
    validate(warehouse, load_config(student=str(student_dir)), suites=False)
    listed = json.loads(invoke("quarantine", "list", "--rule", "repetition", "-w", warehouse.path, "-f", "json"))
    assert [(i["stage"], i["reason"], i["what"]) for i in listed["items"]] == [("checks", "repetition",
                                                                                 ids["repetition"])]
    assert listed["items"][0]["detail"].startswith("value 0.9") and "> max 0.3" in listed["items"][0]["detail"]
    assert {(r["stage"], r["reason"], r["n"]) for r in listed["summary"]} == {
        ("checks", "repetition", 1), ("checks", "refusal", 1), ("checks", "leak", 1)}
    leak = json.loads(invoke("quarantine", "list", "--rule", "leak", "-w", warehouse.path, "-f", "json"))["items"]
    assert leak[0]["what"] == ids["leak"] and "> max 12" in leak[0]["detail"]  # and names the leaking pair
    assert leak[0]["detail"].endswith(warehouse.sql(
        "SELECT pair_id FROM pairs WHERE pos_side_id = $t", {"t": side_id(target_text(0), [])}).column(0)[0].as_py())


def test_views_answer_questions_in_one_query(warehouse, student_dir):  # noqa: F811
    world(warehouse)
    put_annotations(warehouse, [{"side_id": side_id(query_text(i), []), "reasoning": GOOD, "summary": "a shape",
                                 "prompt_version": "v2", "key": f"v2-{i}"} for i in range(4)], origin="second.json")
    validate(warehouse, load_config(student=str(student_dir)), suites=False)
    # Failures by reason, per dataset (pairs i are in TextA for even i, TextB for odd i).
    by_reason = warehouse.sql(
        "SELECT dataset_name, rule, failures FROM checks_failures_by_reason ORDER BY dataset_name, rule").to_pylist()
    assert by_reason == [{"dataset_name": "TextA", "rule": "leak", "failures": 1},
                         {"dataset_name": "TextA", "rule": "repetition", "failures": 1},
                         {"dataset_name": "TextB", "rule": "refusal", "failures": 1}]
    # Pass rate per prompt version.
    rates = warehouse.sql("SELECT prompt_version, sum(annotations) AS n, sum(passed) AS ok "
                          "FROM checks_pass_rates GROUP BY ALL ORDER BY ALL").to_pylist()
    assert rates == [{"prompt_version": "crafted", "n": 11, "ok": 8}, {"prompt_version": "v2", "n": 4, "ok": 4}]
    lengths = warehouse.sql("SELECT dataset_name, annotations, reasoning_tokens_max FROM checks_lengths "
                            "ORDER BY dataset_name").to_pylist()
    assert [r["annotations"] for r in lengths] == [8, 7] and all(r["reasoning_tokens_max"] > 0 for r in lengths)


def test_cli_validate_writes_the_report(warehouse, student_dir, tmp_path):  # noqa: F811
    world(warehouse)
    out = json.loads(invoke("validate", "--student", student_dir, "--report", tmp_path / "report", "--no-progress",
                            "-w", warehouse.path, "-f", "json"))
    assert out["failed"] == 3 and set(out["report"]) == {"report.md", "reasoning_tokens.png", "summary_tokens.png",
                                                          "repetition.png", "pass_rates.png"}
    for path in out["report"].values():
        assert (tmp_path / "report" / path.split("/")[-1]).stat().st_size > 1000
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| TextA | repetition | 1 |" in md and "annotation_rows" in md
    stats = json.loads(invoke("checks", "stats", "--student", student_dir, "--rule", "repetition", "-w",
                              warehouse.path, "-f", "json"))
    all_rows = [r for r in stats if r["dataset_name"] == "(all)"]
    assert all_rows[0]["n"] == 11 and all_rows[0]["max"] > 0.9 and all_rows[0]["fail_share"] == round(1 / 11, 4)


def test_saved_queries_run_in_the_duckdb_shell(warehouse, student_dir, tmp_path):  # noqa: F811
    """warehouse/queries/*.sql: each file runs as it is in the `duckdb` command-line shell (an older DuckDB than
    the library's) over a warehouse with two checks versions, and answers with rows."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    world(warehouse)
    validate(warehouse, load_config(student=str(student_dir)), suites=False)
    loose = tmp_path / "loose.toml"
    loose.write_text("[rules.repetition]\nmax = 0.99\n")
    validate(warehouse, load_config(loose, student=str(student_dir)))
    shell = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    assert shell, "the duckdb shell (duckdb-cli) is part of the data extra"
    queries = sorted((Path(__file__).resolve().parent.parent / "warehouse" / "queries").glob("*.sql"))
    assert len(queries) >= 7
    for q in queries:
        out = subprocess.run([shell, "-readonly", "-csv", str(warehouse.path)], stdin=q.open(), capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and "Error" not in out.stderr, (q.name, out.stderr)
        lines = [x for x in out.stdout.splitlines() if x.strip()]
        if q.name not in ("checks_examples.sql",):  # no repetition failure left under the looser version
            assert len(lines) >= 2, (q.name, out.stdout)  # a header and at least one row
    diff = subprocess.run([shell, "-readonly", "-csv", str(warehouse.path)],
                          stdin=(queries[0].parent / "checks_versions_diff.sql").open(), capture_output=True, text=True)
    assert "false,true,[repetition]" in diff.stdout  # the loop passed once repetition's max went to 0.99


def test_a_partial_run_under_new_thresholds_is_not_chosen(warehouse, student_dir, tmp_path):  # noqa: F811
    """Checking one batch under a new thresholds file must not leave every other annotation unvalidated."""
    ids = world(warehouse)
    put_annotations(warehouse, [{"side_id": side_id(target_text(i), []), "reasoning": GOOD, "summary": "x"}
                                for i in range(3)], origin="later.json")
    first = validate(warehouse, load_config(student=str(student_dir)), suites=False)
    stricter = tmp_path / "strict.toml"
    stricter.write_text("[rules.empty_reasoning]\nmin = 30\n")
    partial = validate(warehouse, load_config(stricter, student=str(student_dir)), batch="import:later.json",
                       suites=False)
    assert partial.selected == 3 and not partial.chosen and "not chosen: 11 annotation(s)" in partial.note
    chosen = warehouse.query("checks_chosen_version").column("checks_version").to_pylist()
    assert chosen == [first.checks_version]
    assert set(ids["good"]) <= set(warehouse.sql("SELECT annotation_id FROM validated_annotations").column(
        "annotation_id").to_pylist())
    full = validate(warehouse, load_config(stricter, student=str(student_dir)), suites=False)
    assert full.chosen and full.selected == 11
