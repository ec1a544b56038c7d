"""The validate flow, run for real by Prefect: it checks, reports (markdown + failures table + one image per
figure, attached as data: URLs) and writes the same files as `umedata validate --report`."""

from __future__ import annotations

import base64

from checks_fixtures import put_annotations, query_text, seed_world, student_dir  # noqa: F401

# Imported at collection (see tests/test_teacher_flow.py: Prefect binds its log handler to the stderr of the moment).
from flows.validate import validate_flow
from umedata.ids import side_id

GOOD = ("The request describes a coloured shape on a plain canvas and where it sits. The colour, the shape and its "
        "place are what a retrieval system should match.")


def test_validate_flow_reports_with_images(prefect_harness, warehouse, student_dir, tmp_path):  # noqa: F811
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    seed_world(warehouse, 6)
    put_annotations(warehouse, [{"side_id": side_id(query_text(i), []), "reasoning": GOOD, "summary": f"shape {i}"}
                                for i in range(5)]
                    + [{"side_id": side_id(query_text(5), []), "reasoning": "same words again " * 30, "summary": "x"}])
    report = tmp_path / "report"
    state = validate_flow(warehouse=str(warehouse.path), student=str(student_dir), report_dir=str(report),
                          return_state=True)
    summary = state.result()
    assert (summary["selected"], summary["failed"], summary["failures"]) == (6, 1, {"repetition": 1})
    assert sorted(p.name for p in report.iterdir()) == ["pass_rates.png", "reasoning_tokens.png", "repetition.png",
                                                        "report.md", "summary_tokens.png"]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"validate-report", "validate-failures", "validate-pass-rates", "validate-reasoning-tokens",
                           "validate-summary-tokens", "validate-repetition"}
    assert "## Pass rate per dataset" in by_key["validate-report"].data
    image = by_key["validate-repetition"].data
    assert image.startswith("data:image/png;base64,")
    assert base64.b64decode(image.split(",", 1)[1]) == (report / "repetition.png").read_bytes()
