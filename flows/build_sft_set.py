"""Build an SFT dataset version: orchestration only, around `umedata.versions.build_sft_set`.

The same function backs `umedata build-sft-set`. Warehouse- and store-writing tasks carry no result cache: the
version id is a content hash, so building the same selection twice writes no files by itself. Optional exports
(an embedded parquet copy, the UME-R1 JSON) run after the build; an artifact records the counts.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import prepare_warehouse
from umedata.versions import SftSpec, build_sft_set
from umedata.versions.registry import export as export_version


@task(cache_policy=NO_CACHE)
def build(warehouse: str | None, spec: SftSpec, store: str | None, parents: list[str] | None) -> dict[str, Any]:
    return build_sft_set(warehouse, spec, store=store, parents=parents).summary()


@task(cache_policy=NO_CACHE)
def export(warehouse: str, version_id: str, dest: str, layout: str) -> dict[str, Any]:
    return export_version(warehouse, version_id, dest, layout)


@task
def publish(version: dict[str, Any]) -> None:
    create_table_artifact(key="sft-set-counts", table=version["rows"],
                          description=f"pairs per dataset/modality/split of version {version['version_id']}")
    create_markdown_artifact(
        key="sft-set-version",
        markdown=(f"# SFT version `{version['version_id']}`\n\n"
                  f"- path: `{version['path']}`\n- rows: {version['n_rows']} {version['by_split']}\n"
                  f"- parents: {version['parents'] or 'none'}\n"
                  f"- files written: {version['wrote_files']} (False: this content existed already)\n"),
    )


@flow(name="build-sft-set")
def build_sft_set_flow(
    warehouse: str | None = None,
    name: str = "sft",
    datasets: list[str] | None = None,
    modalities: list[str] | None = None,
    tasks: list[str] | None = None,
    sources: list[str] | None = None,
    source_splits: list[str] | None = None,
    preference: list[str] | None = None,
    split_mode: str = "group",
    eval_fraction: float = 0.05,
    text_key: str = "text_only",
    seed: int = 0,
    caps: dict[str, int] | None = None,
    weights: dict[str, float] | None = None,
    total: int | None = None,
    query: str | None = None,
    parents: list[str] | None = None,
    store: str | None = None,
    export_to: str | None = None,
    export_layout: str = "parquet",  # parquet (embedded) | ume-r1-sft | ume-r1-rl
    keep_contaminated: bool = False,  # keep pairs sharing content with a registered eval set (recorded)
) -> dict[str, Any]:
    spec = SftSpec(
        name=name, datasets=tuple(datasets or ()), modalities=tuple(modalities or ()), tasks=tuple(tasks or ()),
        sources=tuple(sources or ()), source_splits=tuple(source_splits or ()),
        preference=tuple(preference or ("*",)), split_mode=split_mode, eval_fraction=eval_fraction,
        text_key=text_key, seed=seed, caps=caps or {}, weights=weights or {}, total=total, query=query,
        keep_contaminated=keep_contaminated,
    )
    warehouse = prepare_warehouse(warehouse)
    version = build(warehouse, spec, store, parents)
    get_run_logger().info("version %s (%s rows, files written: %s)", version["version_id"], version["n_rows"],
                          version["wrote_files"])
    publish(version)
    if export_to:
        version["export"] = export(warehouse, version["version_id"], export_to, export_layout)
    return version


if __name__ == "__main__":
    build_sft_set_flow()
