"""`umedata annotate`: run the teacher over pending sides, or reparse stored answers, or export/import Batch API
files. The same library calls flows/annotate.py makes.

    umedata annotate --backend offline                         # the deterministic stand-in (demo, tests)
    umedata annotate -c teacher.toml --dataset ShapesI2T       # an OpenAI-compatible server, see config.py
    umedata annotate -c teacher.toml --backend batch --out runs/batch     # write Batch API request files
    umedata annotate -c teacher.toml --import runs/batch/out-0.jsonl      # import their results
    umedata annotate --reparse                                 # re-derive annotations, zero requests
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, emit, progress, writable

Multi = Optional[list[str]]


def annotate(
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="teacher config TOML (see umedata/teacher/config.py)")
    ] = None,
    backend: Annotated[Optional[str], typer.Option(help="openai | batch | offline (overrides the config)")] = None,
    model: Annotated[Optional[str], typer.Option(help="teacher model (overrides the config)")] = None,
    warehouse: WarehouseOpt = None,
    source: Annotated[Multi, typer.Option("--source", help="only sides used by these sources")] = None,
    dataset: Annotated[Multi, typer.Option("--dataset", help="only sides used by these datasets")] = None,
    split: Annotated[Multi, typer.Option("--split", help="only sides used by pairs of these splits")] = None,
    modality: Annotated[Multi, typer.Option("--modality", help="only sides of these modalities")] = None,
    limit: Annotated[Optional[int], typer.Option(help="lease at most this many requests")] = None,
    wait_for_leases: Annotated[bool, typer.Option("--wait-for-leases", help="wait for keys other runs hold")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="also retry keys that failed for good")] = False,
    reparse: Annotated[
        bool, typer.Option("--reparse", help="re-derive annotations from stored answers; sends nothing")
    ] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="batch backend: folder for the request files")] = None,
    import_files: Annotated[
        Optional[list[Path]], typer.Option("--import", help="batch backend: result files to import")
    ] = None,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
    fmt: FormatOpt = Format.table,
) -> None:
    """Annotate sides with a teacher model (reasoning + summary), exactly once per request key."""
    from umedata.teacher.annotate import make_run
    from umedata.teacher.batch import BatchExport
    from umedata.teacher.config import load_config
    from umedata.teacher.results import reparse as do_reparse
    from umedata.teacher.run import Selection

    wh = writable(warehouse)
    if reparse:
        emit(do_reparse(wh, model=model), fmt)
        return
    cfg = load_config(config, backend=backend, model=model)
    if import_files:
        from umedata.teacher.batch import import_batch

        emit(import_batch(wh, cfg, list(import_files)).as_dict(), fmt)
        return
    selection = Selection(
        sources=source or None, datasets=dataset or None, splits=split or None, modalities=modality or None, limit=limit
    )
    with progress("annotate", unit="requests", enabled=show_progress) as update:
        run = make_run(wh, cfg, selection, wait_for_leases=wait_for_leases, retry_failed=retry_failed, out_dir=out,
                       on_progress=lambda p: update(p["answered"], p["pending"] or None))
        summary = run.run().as_dict()
    if isinstance(run, BatchExport):  # and the request files it wrote
        summary["files"] = [f.__dict__ for f in run.files]
    emit(summary, fmt)
