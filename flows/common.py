"""Tasks every flow shares. Orchestration only: each calls one library function."""

from __future__ import annotations

import subprocess
from collections import deque

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from umedata.warehouse import Warehouse


@task(cache_policy=NO_CACHE)
def prepare_warehouse(warehouse: str | None) -> str:
    """Migrate the warehouse and commit any sealed batch a crashed run left staged; returns its path."""
    wh = Warehouse(warehouse)
    recovered = wh.prepare()
    if recovered:
        get_run_logger().info("committed %d batch(es) left staged by an earlier run", recovered)
    return str(wh.path)


class TrainerFailed(RuntimeError):
    """A launched process (trainer, evaluation, rollouts) exited non-zero; the message ends with its last lines."""


def launch(cmd: list[str]) -> None:
    """Run a command as its own process, streaming its output into the flow's log (long runs show they are alive)."""
    logger = get_run_logger()
    logger.info("launch: %s", " ".join(cmd))
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            if line.strip():
                logger.info(line.rstrip())
                tail.append(line.rstrip())
    if proc.returncode:
        raise TrainerFailed(f"{' '.join(cmd[:4])} exited with {proc.returncode}:\n" + "\n".join(tail))
