"""`umedata ingest`: sources from a config file, or one file / folder given on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, emit, note, parse_pairs, progress, writable


def ingest(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="source config TOML (docs/interfaces.md)")] = None,
    path: Annotated[Optional[Path], typer.Argument(help="a single file or folder to ingest without a config")] = None,
    layout: Annotated[str, typer.Option(help="mmeb | ume_r1_sft | ume_r1_rl | generic")] = "generic",
    name: Annotated[Optional[str], typer.Option(help="source name (default: the file's stem)")] = None,
    root: Annotated[Optional[Path], typer.Option(help="media root (default: the file's folder)")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="dataset name (default: the file's stem)")] = None,
    modality: Annotated[Optional[str], typer.Option(help="text | image | video | visdoc (default: from the media)")] = None,
    task: Annotated[Optional[str], typer.Option(help="retrieval | classification | vqa | grounding (default: the layout's)")] = None,
    split: Annotated[str, typer.Option()] = "train",
    column: Annotated[list[str], typer.Option("--map", help="generic layout: OURS=THEIRS, e.g. --map qry=question")] = [],
    licence: Annotated[Optional[str], typer.Option()] = None,
    provenance: Annotated[Optional[str], typer.Option()] = None,
    allow_external_teacher: Annotated[bool, typer.Option(help="may this content go to an external teacher API")] = False,
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Ingest sources described in a config file, or one file/folder given on the command line."""
    from umedata.ingest import ingest_source
    from umedata.sources.config import DatasetSpec, SourceSpec, load_sources

    if (config is None) == (path is None):
        raise typer.BadParameter("give either --config FILE or one PATH")
    if config is not None:
        specs = load_sources(config)
    else:
        path = path.resolve()
        if not path.exists():
            raise typer.BadParameter(f"{path} does not exist", param_hint="PATH")
        specs = [
            SourceSpec(
                name=name or path.stem, layout=layout, root=(root or path.parent).resolve(), licence=licence,
                provenance=provenance or str(path), allow_external_teacher=allow_external_teacher,
                datasets=[DatasetSpec(name=dataset or path.stem, path=str(path), modality=modality, task=task,
                                      split=split, columns=parse_pairs(column, "--map"))],
            )
        ]
    wh = writable(warehouse)
    summaries = []
    for spec in specs:
        with progress(f"ingest {spec.name}", unit="rows") as update:
            summaries.append(ingest_source(wh, spec, progress=update).as_dict())
    emit(summaries, fmt, title="ingest", columns=["source", "rows_seen", "pairs_new", "sides_new", "media_new",
                                                  "annotations_new", "quarantined", "reasons", "seconds"])
    refused = sum(s["quarantined"] for s in summaries)
    if refused:
        note(f"[yellow]{refused} item(s) quarantined: `umedata quarantine list` says why[/yellow]", fmt)
