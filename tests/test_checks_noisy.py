"""A noisy teacher end to end: the local OpenAI-compatible server answers with good answers and every content
fault; annotate -> validate rejects exactly what was injected, for the injected reasons; requeue asks the teacher
again for the rejected sides under new request keys, pays nothing twice, and the new answers pass."""

from __future__ import annotations

from collections import Counter

from checks_fixtures import good_content, query_text, seed_world, student_dir, target_text  # noqa: F401
from openai_server import OpenAIServer, Script
from teacher_helpers import config

from umedata.checks.config import load_config
from umedata.checks.requeue import choose_sides, requeue
from umedata.checks.run import validate
from umedata.ids import side_id
from umedata.teacher.annotate import run_teacher

N = 60
# fault -> the rules that must reject it (a truncated answer never becomes an annotation: the teacher refuses it)
EXPECTED = {
    "repetition": {"repetition"}, "degenerate": {"repetition", "token_run"}, "refusal_text": {"refusal"},
    "copy": {"summary_copy"}, "leak": {"leak"}, "control_tags": {"control_tags"}, "garbage": {"garbage"},
    "wrong_script": {"wrong_script"}, "overlong": {"long_reasoning"}, "short": {"empty_reasoning"},
}
QUERY_FAULTS = [*EXPECTED, "length"] * 2  # copy and leak need a long query side; every fault twice
TARGET_FAULTS = ["refusal_text", "garbage", "short", "length"]


def test_noisy_teacher_annotate_validate_requeue(warehouse, student_dir):  # noqa: F811
    seed_world(warehouse, N)
    faults = {query_text(i): f for i, f in enumerate(QUERY_FAULTS)}
    faults |= {target_text(i): f for i, f in enumerate(TARGET_FAULTS)}
    leaks = {query_text(i): target_text(i) for i in range(N)}
    script = Script(content=good_content, text_faults=faults, leaks=leaks)
    with OpenAIServer(script) as srv:
        run = run_teacher(warehouse, config(srv.url))
        assert run.leased == 2 * N and run.ok == 2 * N - 3  # the three truncated answers are bad answers
        assert run.bad_answers == {"finish_length": 3}

        s = validate(warehouse, load_config(student=str(student_dir)))
        injected = Counter(f for f in faults.values() if f != "length")
        assert s.selected == 2 * N - 3 and s.failed == sum(injected.values())
        want_rules = Counter()
        for fault, n in injected.items():
            for rule in EXPECTED[fault]:
                want_rules[rule] += n
        assert s.failures == dict(want_rules)
        # Each annotation fails exactly the rules of the fault its side was dealt.
        got = warehouse.sql("SELECT s.text, list(f.rule ORDER BY f.rule) AS rules FROM checks_failures f "
                            "JOIN sides s USING (side_id) GROUP BY s.text").to_pylist()
        assert {r["text"]: set(r["rules"]) for r in got} == {
            t: EXPECTED[f] for t, f in faults.items() if f != "length"}
        rejected = s.failed + warehouse.sql("SELECT count(*) FROM quarantine WHERE reason = 'finish_length'"
                                            ).column(0)[0].as_py()
        assert rejected / (2 * N) == len(faults) / (2 * N)  # 26 of 120 injected, 26 rejected
        assert s.suites_ok  # 22 % rejected: within what a healthy batch may lose

        # Requeue the refusals: the next unused seed, so new keys; the old answers stay; nothing is re-sent.
        sides = choose_sides(warehouse, rules=["refusal"])
        refused = [side_id(t, []) for t, f in faults.items() if f == "refusal_text"]
        assert sorted(x["side_id"] for x in sides) == sorted(refused)
        before = srv.stats.snapshot()["requests"]
        annotations_before = warehouse.sql("SELECT count(*) FROM annotations").column(0)[0].as_py()
        again = requeue(warehouse, config(srv.url), [x["side_id"] for x in sides])
        after = srv.stats.snapshot()["requests"]
        new_keys = set(after) - set(before)
        assert again.leased == len(refused) == len(new_keys) and all(after[k] == 1 for k in new_keys)
        assert all(after[k] == before[k] for k in before)  # no old key sent again
        seeds = warehouse.sql("SELECT DISTINCT json_extract_string(params, '$.sampling.seed') AS seed FROM "
                              "teacher_requests WHERE request_key IN (SELECT unnest($k))", {"k": sorted(new_keys)})
        assert seeds.column("seed").to_pylist() == ["1"]
        assert warehouse.sql("SELECT count(*) FROM annotations").column(0)[0].as_py() == annotations_before + 3
        # The same requeue again sends nothing: those keys are answered.
        twice = requeue(warehouse, config(srv.url), [x["side_id"] for x in sides], seed=1)
        assert twice.leased == 0 and srv.stats.snapshot()["requests"] == after

    # The new answers are good: once validated, the sides have a validated annotation and leave the requeue list.
    s2 = validate(warehouse, load_config(student=str(student_dir)), batch=again.run_id)
    assert (s2.selected, s2.failed) == (3, 0)
    assert choose_sides(warehouse, rules=["refusal"]) == []
    valid = set(warehouse.sql("SELECT side_id FROM validated_annotations").column("side_id").to_pylist())
    assert set(refused) <= valid
