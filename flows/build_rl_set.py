"""Build an RL dataset version by reward-variance curation: orchestration only, around
`umedata.versions.rl.build_rl_set` (the same function backs `umedata build-rl-set`).

Every parameter has a default, so `umedata run build_rl_set` curates from the latest loaded scoring. The build
writes its report (PNG + markdown, umedata.rl_report) beside the warehouse unless told where; the flow attaches the
markdown and the per-dataset table as artifacts (the PNG files are named by path in the markdown: the Prefect UI
cannot show images from a local disk). An optional UME-R1 RL JSON export runs after the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse
from umedata import rl_report
from umedata.versions.registry import export as export_version
from umedata.versions.rl import REFERENCE_RL_PAIRS, RlSpec, build_rl_set


@task(cache_policy=NO_CACHE)
def build(warehouse: str, spec: RlSpec, store: str | None, parents: list[str] | None,
          report_dir: str | None) -> dict[str, Any]:
    """Build (or find) the version and write its report; returns the summary (the decisions stay out of results)."""
    built = build_rl_set(warehouse, spec, store=store, parents=parents)
    vid = built.result.version_id
    out = report_dir or str(Path(warehouse).resolve().parent / "reports" / f"rl-set-{vid[:12]}")
    rep = rl_report.write(built.decisions, out, title=f"RL set {vid[:12]}",
                          links={"version": vid, "SFT version": built.result.manifest["rl"]["sft_version_id"],
                                 "checkpoint": built.result.manifest["rl"]["checkpoint"]})
    return {**built.summary(), "report": rep.files, "report_markdown": rep.markdown, "datasets": rep.datasets}


@task(cache_policy=NO_CACHE)
def export(warehouse: str, version_id: str, dest: str) -> dict[str, Any]:
    return export_version(warehouse, version_id, dest, "ume-r1-rl")


@task
def publish(version: dict[str, Any]) -> None:
    create_table_artifact(key="rl-set-datasets", table=version["datasets"],
                          description=f"curation of RL version {version['version_id']} per dataset")
    files = "\n".join(f"- {k}: `{v}`" for k, v in version["report"].items())
    create_markdown_artifact(key="rl-set-report", markdown=f"{version['report_markdown']}\n\nFiles:\n{files}\n")


@flow(name="build-rl-set")
def build_rl_set_flow(
    sft_version: str | None = None,
    scoring: str | None = None,
    name: str = "rl",
    target: int | None = REFERENCE_RL_PAIRS,
    min_mean: float | None = None,
    max_mean: float | None = None,
    min_variance: float = 0.0,
    caps: dict[str, int] | None = None,
    modality_weights: dict[str, float] | None = None,
    allocation: str = "proportional",
    max_per_group: int = 1,
    seed: int = 0,
    parents: list[str] | None = None,
    store: str | None = None,
    report_dir: str | None = None,
    export_to: str | None = None,
    warehouse: str | None = None,
) -> dict[str, Any]:
    """Curate from `scoring` (default: the latest loaded) of `sft_version` (default: the one it scored)."""
    spec = RlSpec(name=name, sft_version=sft_version, scoring=scoring, target=target,
                  min_mean=min_mean, max_mean=max_mean, min_variance=min_variance, caps=caps or {},
                  modality_weights=modality_weights or {}, allocation=allocation, max_per_group=max_per_group,
                  seed=seed)
    path = prepare_warehouse(warehouse)
    version = build(path, spec, store, parents, report_dir)
    get_run_logger().info("RL version %s: %s of %s candidates (files written: %s)", version["version_id"],
                          version["selected"], version["candidates"], version["wrote_files"])
    publish(version)
    if export_to:
        version["export"] = export(path, version["version_id"], export_to)
    return {k: v for k, v in version.items() if k not in ("report_markdown", "datasets")}


if __name__ == "__main__":
    build_rl_set_flow()
