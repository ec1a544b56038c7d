"""`umedata report`: the warehouse as one static HTML page; `umedata report rl-set VERSION`: an RL set's curation."""

from __future__ import annotations

from typing import Annotated

import typer

from umedata.cli.common import Format, FormatOpt, WarehouseOpt, emit, readable

app = typer.Typer(invoke_without_command=True, add_completion=False, help=__doc__)


@app.callback()
def html(
    ctx: typer.Context,
    out: Annotated[str, typer.Option("--out", "-o", help="the HTML file to write")] = "report.html",
    warehouse: WarehouseOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Without a subcommand: one HTML page (stages, quality gates, reward variance, training curves, evaluation)
    that opens in a browser without a server."""
    if ctx.invoked_subcommand is not None:
        return
    from umedata import html_report

    path = html_report.write(readable(warehouse), out)
    emit({"report": str(path.resolve()), "bytes": path.stat().st_size}, fmt)
