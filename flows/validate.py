"""Validate flow: the quality gates over annotations, orchestration only, around `umedata.checks.run.validate`.

Checks what the chosen thresholds have not checked yet (or one batch, or some datasets), records every verdict,
chooses the checks version, runs the batch suites and writes the report (report.md + PNG figures) to `report_dir`
(default: <warehouse file>.reports/validate-<UTC time>, beside the file like its .staging folder). The run gets a
markdown artifact (the report), a table artifact (failures per rule) and one image artifact per figure. Prefect
image artifacts take a URL the UI loads: a local path is no URL a browser may open from the UI's page, so each PNG
is attached as a data: URL (~20-50 KB each), unless `image_base_url` says where report_dir is served (an object
store, a web server), in which case the artifact points there. `umedata validate --report DIR` writes the same
files.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from prefect import artifacts, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse
from umedata.checks.config import load_config
from umedata.checks.run import validate
from umedata.clock import utcnow
from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE, persist_result=False)
def check(warehouse: str, config: str | None, student: str | None, batch: str | None, datasets: list[str] | None,
          recheck: bool, choose: bool, suites: bool, report_dir: str) -> dict[str, Any]:
    s = validate(Warehouse(warehouse), load_config(config, student=student), batch=batch, datasets=datasets,
                 recheck=recheck, choose_version=choose, suites=suites, report_dir=report_dir)
    get_run_logger().info("checks %s: %d checked, %d passed, failures %s; suites ok: %s", s.checks_version,
                          s.selected, s.passed, s.failures, s.suites_ok)
    return s.as_dict()


@task
def publish(summary: dict[str, Any], image_base_url: str | None) -> None:
    files = summary["report"]
    artifacts.create_markdown_artifact(Path(files["report.md"]).read_text(encoding="utf-8"), key="validate-report",
                                       description=f"checks version {summary['checks_version']}")
    if summary["failures"]:
        artifacts.create_table_artifact([{"rule": k, "annotations": v} for k, v in summary["failures"].items()],
                                        key="validate-failures", description="annotations failing each rule (this run)")
    for name, path in files.items():
        if not name.endswith(".png"):
            continue
        url = (image_base_url.rstrip("/") + "/" + name if image_base_url else
               "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii"))
        artifacts.create_image_artifact(url, key="validate-" + name.removesuffix(".png").replace("_", "-"),
                                        description=f"{name} ({path})")


@flow(name="validate", log_prints=True)
def validate_flow(warehouse: str | None = None, config: str | None = None, student: str | None = None,
                  batch: str | None = None, datasets: list[str] | None = None, recheck: bool = False,
                  choose: bool = True, suites: bool = True, report_dir: str | None = None,
                  image_base_url: str | None = None) -> dict[str, Any]:
    """config: thresholds TOML over the defaults; student: the student model folder (lengths in its tokens; none =
    length rules off); batch: a teacher run id or import:<origin> (default: every annotation not yet checked)."""
    path = prepare_warehouse(warehouse)
    if report_dir is None:
        report_dir = str(Path(path).with_name(Path(path).name + ".reports") / f"validate-{utcnow():%Y%m%dT%H%M%S}")
    summary = check(path, config, student, batch, datasets, recheck, choose, suites, report_dir)
    publish(summary, image_base_url)
    return summary


if __name__ == "__main__":
    validate_flow()
