"""Starting a teacher run: the consumer the config's backend names, and a way to watch it from another thread.
The CLI (`umedata annotate`) and the flow (flows/annotate.py) both start runs here.

    run = make_run(wh, cfg, Selection(datasets=["ShapesI2T"]), wait_for_leases=True)
    summary = run.run()                          # or run_watched(run, tick) to report progress meanwhile

backend "openai"  -> OnlineRun   (online.py: OpenAI-compatible endpoints)
        "offline" -> OfflineRun  (offline.py: the deterministic stand-in)
        "batch"   -> BatchExport (batch.py: Batch API request files; `import_batch` takes their results back)
Every run has `run_id`, `progress()` and `run() -> RunSummary`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from umedata.teacher.answers import Parser
from umedata.teacher.batch import BatchExport
from umedata.teacher.config import TeacherConfig
from umedata.teacher.credentials import SecretLoader
from umedata.teacher.offline import OfflineRun
from umedata.teacher.online import OnlineRun
from umedata.teacher.run import ProgressFn, RunOptions, RunSummary, Selection
from umedata.warehouse import Warehouse

TeacherRun = OnlineRun | OfflineRun | BatchExport


def make_run(
    wh: Warehouse,
    cfg: TeacherConfig,
    selection: Selection | None = None,
    *,
    run_id: str | None = None,
    parse: Parser | None = None,
    on_progress: ProgressFn | None = None,
    wait_for_leases: bool = False,
    retry_failed: bool = False,
    out_dir: str | Path | None = None,
    secret_loader: SecretLoader | None = None,
) -> TeacherRun:
    """The run for `cfg.backend`. `wait_for_leases` does not apply to a Batch export (it leaves keys other runs
    hold to them), `out_dir` applies to it alone, `secret_loader` to online runs alone."""
    opts = RunOptions(run_id=run_id, parse=parse, on_progress=on_progress, wait_for_leases=wait_for_leases,
                      retry_failed=retry_failed)
    if cfg.backend == "batch":
        return BatchExport(wh, cfg, selection, opts, out_dir=out_dir)
    if cfg.backend == "offline":
        return OfflineRun(wh, cfg, selection, opts)
    return OnlineRun(wh, cfg, selection, opts, secret_loader=secret_loader)


def run_teacher(wh: Warehouse, cfg: TeacherConfig, selection: Selection | None = None, **kwargs: Any) -> RunSummary:
    """One run, synchronously (see make_run for the options)."""
    return make_run(wh, cfg, selection, **kwargs).run()


def run_watched(run: TeacherRun, tick: Callable[[dict[str, Any]], None], every_s: float = 1.0) -> RunSummary:
    """Run in a worker thread and call `tick(run.progress())` from this thread every `every_s` until it ends.

    For callers whose progress reporting must stay on their own thread (a Prefect task's artifacts) and off the
    run's event loop. The run's error, if any, is raised here.
    """
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["summary"] = run.run()
        except BaseException as exc:  # re-raised in the calling thread below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"teacher-{run.run_id}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(every_s)
        tick(run.progress())
    if "error" in outcome:
        raise outcome["error"]
    return outcome["summary"]
