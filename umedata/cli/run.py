"""`umedata run NAME [--param KEY=VALUE ...]`: run a flow by name, locally, with its deployment's parameters.

The library never imports Prefect or the flows, so the command hands over to `python -m flows.run` in a process of
its own (same interpreter, same arguments) and exits with its status.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def run(
    name: Annotated[Optional[str], typer.Argument(help="a deployment or flow name from prefect.yaml, e.g. build_rl_set")] = None,
    param: Annotated[list[str], typer.Option("--param", "-p", help="KEY=VALUE (JSON values parse: steps=3)")] = [],
    params: Annotated[Optional[Path], typer.Option(help="a TOML or JSON file of parameters")] = None,
    deployments: Annotated[Optional[Path], typer.Option(help="prefect.yaml to read (default: ./prefect.yaml)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the runnable names")] = False,
) -> None:
    """Run a flow by name, here and now (Prefect starts a temporary server if none is configured)."""
    if name is None and not list_:
        raise typer.BadParameter("name a flow to run (`umedata run --list` shows them)")
    cmd = [sys.executable, "-m", "flows.run", *([name] if name else []), *[x for p in param for x in ("--param", p)]]
    if params is not None:
        cmd += ["--params", str(params)]
    if deployments is not None:
        cmd += ["--deployments", str(deployments)]
    if list_:
        cmd.append("--list")
    raise typer.Exit(subprocess.call(cmd))
