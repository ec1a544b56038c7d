"""`umedata …`: the local face of every flow. Each command calls the same library function its flow calls.

Every command takes `--warehouse/-w` and `--format/-f table|json|csv`. Expected failures (no warehouse, a bad
config key, a wrong path) print one line and exit with status 2; anything else is a bug and shows its traceback.
Heavy libraries are imported inside the command that needs them, so `umedata --help` starts fast.
"""

from __future__ import annotations

import sys

import typer

from umedata.cli import annotate, checks, ingest, report, rl, run, versions, warehouse
from umedata.cli import eval as eval_cli
from umedata.cli.common import err_console, expected_errors

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0],
                  pretty_exceptions_enable=False)
app.command("init")(warehouse.init)
app.command("status")(warehouse.status)
app.command("sql")(warehouse.run_sql)
app.add_typer(warehouse.quarantine_app, name="quarantine")
app.command("ingest")(ingest.ingest)
app.command("annotate")(annotate.annotate)
app.command("build-sft-set")(versions.build_sft_set)
app.add_typer(versions.app, name="versions")
app.command("run")(run.run)
app.add_typer(rl.rollouts_app, name="rollouts")
app.command("build-rl-set")(rl.build_rl_set)
report.app.command("rl-set")(rl.report_rl_set)
app.add_typer(report.app, name="report")
app.command("validate")(checks.validate)
app.command("requeue")(checks.requeue)
app.add_typer(checks.app, name="checks")
app.command("eval")(eval_cli.eval_cmd)
app.add_typer(eval_cli.app, name="eval-sets")


def main(argv: list[str] | None = None) -> None:
    """The console entry point: runs the app and turns expected failures into one line and exit status 2."""
    try:
        app(args=argv, prog_name="umedata")
    except expected_errors() + (FileNotFoundError,) as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
